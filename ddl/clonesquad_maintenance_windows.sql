-- clonesquad_maintenance_windows: one row per fleet ('__main__' or a subfleet) with its SSM
-- maintenance windows. Only written by deployments with SSM support enabled: often absent.
-- The folder is maintenance-windows; the table name uses an underscore (a hyphen is not valid).
-- MaintenanceWindows lists every window of the deployment on every fleet's line (SSM
-- DescribeMaintenanceWindows records plus their Tags): Duration and Cutoff are bigint hours,
-- NextExecutionTime naive UTC ending in `:00`. NextMaintenanceWindowDetails is an object:
-- MatchingWindow, StartTime and EndTime are present only while a window is active, otherwise
-- NextWindowMessage only (free text holding dates: a string, not a timestamp).
--
-- Read by Athena (engine v3) with the Hive JSON SerDe and by cs-cmdb's embedded engine with the
-- same rules; ddl/README.md gives the reasons. In short: keys match case-insensitively (the LAST
-- of two keys differing by case wins), undeclared keys are skipped, and a value that does not fit
-- its column's type FAILS the Athena query, so every type below is what CloneSquad really writes.
-- timestamp.formats (Joda-Time: `ZZ` is `+00:00`) covers every form CloneSquad writes; Athena
-- keeps milliseconds (Joda truncates `.123456` to `.123`).
CREATE EXTERNAL TABLE IF NOT EXISTS clonesquad_maintenance_windows (
  `Fleet` string,
  `IsMaintenanceTime` boolean,
  `MaintenanceWindows` array<struct<
    `Cutoff`: bigint,
    `Description`: string,
    `Duration`: bigint,
    `Enabled`: boolean,
    `Name`: string,
    `NextExecutionTime`: timestamp,
    `Schedule`: string,
    `ScheduleOffset`: bigint,
    `ScheduleTimezone`: string,
    `Tags`: array<struct<`Key`: string, `Value`: string>>,
    `WindowId`: string>>,
  `MetadataRecordLastUpdatedAt` timestamp,
  `NextMaintenanceWindowDetails` struct<
    `EndTime`: timestamp,
    `MatchingWindow`: struct<
      `Cutoff`: bigint,
      `Description`: string,
      `Duration`: bigint,
      `Enabled`: boolean,
      `Name`: string,
      `NextExecutionTime`: timestamp,
      `Schedule`: string,
      `ScheduleOffset`: bigint,
      `ScheduleTimezone`: string,
      `Tags`: array<struct<`Key`: string, `Value`: string>>,
      `WindowId`: string,
      `_FutureNextExecutionTime`: timestamp>,
    `MatchingWindowMessage`: string,
    `NextWindowMessage`: string,
    `StartTime`: timestamp>
)
PARTITIONED BY (accountid string, region string, groupname string)
ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'
WITH SERDEPROPERTIES (
  'timestamp.formats' = 'yyyy-MM-dd HH:mm:ss.SSSSSSZZ,yyyy-MM-dd HH:mm:ssZZ,yyyy-MM-dd HH:mm:ss.SSSSSS,yyyy-MM-dd HH:mm:ss'
)
LOCATION '${metadata_path}/metadata/maintenance-windows/'
