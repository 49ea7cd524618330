-- clonesquad_maintenance_windows: one row per fleet ('__main__' or a subfleet) with its SSM
-- maintenance windows. Only written by deployments with SSM support enabled: often absent.
-- The folder is maintenance-windows; the table name uses an underscore (a hyphen is not valid).
CREATE EXTERNAL TABLE IF NOT EXISTS clonesquad_maintenance_windows (
  `Fleet` string,
  `IsMaintenanceTime` boolean,
  `MaintenanceWindows` array<struct<
    `Cutoff`: bigint,
    `Duration`: bigint,
    `Enabled`: boolean,
    `Name`: string,
    `NextExecutionTime`: timestamp,
    `Schedule`: string,
    `ScheduleTimezone`: string,
    `Tags`: array<struct<`Key`: string, `Value`: string>>,
    `WindowId`: string>>,
  `MetadataRecordLastUpdatedAt` timestamp,
  `NextMaintenanceWindowDetails` struct<
    `EndTime`: timestamp,
    `MatchingWindow`: struct<
      `Cutoff`: bigint,
      `Duration`: bigint,
      `Enabled`: boolean,
      `Name`: string,
      `NextExecutionTime`: timestamp,
      `Schedule`: string,
      `ScheduleTimezone`: string,
      `Tags`: array<struct<`Key`: string, `Value`: string>>,
      `WindowId`: string,
      `_FutureNextExecutionTime`: timestamp>,
    `MatchingWindowMessage`: string,
    `NextWindowMessage`: string,
    `StartTime`: timestamp>
)
PARTITIONED BY (accountid string, region string, groupname string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES (
  'ignore.malformed.json' = 'true',
  'case.insensitive' = 'true',
  'timestamp.formats' = 'yyyy-MM-dd HH:mm:ss.SSSSSSZZ,yyyy-MM-dd HH:mm:ssZZ,yyyy-MM-dd HH:mm:ss.SSSSSS,yyyy-MM-dd HH:mm:ss'
)
LOCATION '${metadata_path}/metadata/maintenance-windows/'
