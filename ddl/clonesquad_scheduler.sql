-- clonesquad_scheduler: one row per scheduler entry of a deployment.
-- Written to <MetadataAndBackupS3Path>/metadata/scheduler/ as NDJSON. Value is always a string.
CREATE EXTERNAL TABLE IF NOT EXISTS clonesquad_scheduler (
  `Key` string,
  `Value` string,
  `ExpirationTime` string,
  `MetadataRecordLastUpdatedAt` timestamp
)
PARTITIONED BY (accountid string, region string, groupname string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES (
  'ignore.malformed.json' = 'true',
  'case.insensitive' = 'true',
  'timestamp.formats' = 'yyyy-MM-dd HH:mm:ss.SSSSSSZZ,yyyy-MM-dd HH:mm:ssZZ,yyyy-MM-dd HH:mm:ss.SSSSSS,yyyy-MM-dd HH:mm:ss'
)
LOCATION '${metadata_path}/metadata/scheduler/'
