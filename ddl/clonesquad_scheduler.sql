-- clonesquad_scheduler: one row per scheduler entry of a deployment.
-- Written to <MetadataAndBackupS3Path>/metadata/scheduler/ as NDJSON (a 0-byte file when the
-- scheduler table is empty). Value is always a string. ExpirationTime (an attribute the
-- scheduler's DynamoDB table may hold) is declared string: a string column reads any scalar, so
-- an epoch number or a date text both read without failing the query.
-- MetadataRecordLastUpdatedAt: `2026-11-26 08:50:59.943853+00:00` (the fraction dropped when zero).
--
-- Read by Athena (engine v3) with the Hive JSON SerDe and by cs-cmdb's embedded engine with the
-- same rules; ddl/README.md gives the reasons. In short: keys match case-insensitively (the LAST
-- of two keys differing by case wins), undeclared keys are skipped, and a value that does not fit
-- its column's type FAILS the Athena query, so every type below is what CloneSquad really writes.
-- timestamp.formats (Joda-Time: `ZZ` is `+00:00`) covers every form CloneSquad writes; Athena
-- keeps milliseconds (Joda truncates `.123456` to `.123`).
CREATE EXTERNAL TABLE IF NOT EXISTS clonesquad_scheduler (
  `Key` string,
  `Value` string,
  `ExpirationTime` string,
  `MetadataRecordLastUpdatedAt` timestamp
)
PARTITIONED BY (accountid string, region string, groupname string)
ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'
WITH SERDEPROPERTIES (
  'timestamp.formats' = 'yyyy-MM-dd HH:mm:ss.SSSSSSZZ,yyyy-MM-dd HH:mm:ssZZ,yyyy-MM-dd HH:mm:ss.SSSSSS,yyyy-MM-dd HH:mm:ss'
)
LOCATION '${metadata_path}/metadata/scheduler/'
