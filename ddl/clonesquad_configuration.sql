-- clonesquad_configuration: one row per configuration key set in a deployment.
-- Written to <MetadataAndBackupS3Path>/metadata/configuration/ as NDJSON. Value is always a string
-- (numbers, durations, percentages, cron expressions). Parameter sets (`[set]key`) appear only in
-- the YAML backups, not here.
-- MetadataRecordLastUpdatedAt: `2026-11-26 08:50:59.943853+00:00` (the fraction dropped when zero).
--
-- Read by Athena (engine v3) with the Hive JSON SerDe and by cs-cmdb's embedded engine with the
-- same rules; ddl/README.md gives the reasons. In short: keys match case-insensitively (the LAST
-- of two keys differing by case wins), undeclared keys are skipped, and a value that does not fit
-- its column's type FAILS the Athena query, so every type below is what CloneSquad really writes.
-- timestamp.formats (Joda-Time: `ZZ` is `+00:00`) covers every form CloneSquad writes; Athena
-- keeps milliseconds (Joda truncates `.123456` to `.123`).
CREATE EXTERNAL TABLE IF NOT EXISTS clonesquad_configuration (
  `Key` string,
  `Value` string,
  `MetadataRecordLastUpdatedAt` timestamp
)
PARTITIONED BY (accountid string, region string, groupname string)
ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'
WITH SERDEPROPERTIES (
  'timestamp.formats' = 'yyyy-MM-dd HH:mm:ss.SSSSSSZZ,yyyy-MM-dd HH:mm:ssZZ,yyyy-MM-dd HH:mm:ss.SSSSSS,yyyy-MM-dd HH:mm:ss'
)
LOCATION '${metadata_path}/metadata/configuration/'
