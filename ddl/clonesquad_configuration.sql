-- clonesquad_configuration: one row per configuration key set in a deployment.
-- Written to <MetadataAndBackupS3Path>/metadata/configuration/ as NDJSON. Value is always a string.
CREATE EXTERNAL TABLE IF NOT EXISTS clonesquad_configuration (
  `Key` string,
  `Value` string,
  `MetadataRecordLastUpdatedAt` timestamp
)
PARTITIONED BY (accountid string, region string, groupname string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES (
  'ignore.malformed.json' = 'true',
  'case.insensitive' = 'true',
  'timestamp.formats' = 'yyyy-MM-dd HH:mm:ss.SSSSSSZZ,yyyy-MM-dd HH:mm:ssZZ,yyyy-MM-dd HH:mm:ss.SSSSSS,yyyy-MM-dd HH:mm:ss'
)
LOCATION '${metadata_path}/metadata/configuration/'
