-- clonesquad_discovery: one row per deployment (its CloudFormation parameters and context).
-- Written by CloneSquad to <MetadataAndBackupS3Path>/metadata/discovery/ as one JSON object a file.
-- The record's own AccountId and GroupName keys are the partition columns accountid and groupname.
-- Column types: every CloudFormation parameter is a JSON string in the record (LambdaMemorySize
-- "768" included), so all are string; Subfleets is an array of names; InstallTime,
-- MetadataRecordLastUpdatedAt and AccountJoinedTimestamp are naive UTC (`2026-11-26 08:50:59.943853`,
-- AccountJoinedTimestamp often without a fraction). Account* keys exist only in deployments that
-- may call Organizations (the management account): NULL elsewhere. CloneSquadVersion may be ""
-- (the official release template) or "--Development--". X-<key> copies of the user's JSON
-- metadata keep the user's JSON types and are not columns: use
-- json_extract_scalar(usersuppliedjsonmetadata, '$.Key').
--
-- Read by Athena (engine v3) with the Hive JSON SerDe and by cs-cmdb's embedded engine with the
-- same rules; ddl/README.md gives the reasons. In short: keys match case-insensitively (the LAST
-- of two keys differing by case wins), undeclared keys are skipped, and a value that does not fit
-- its column's type FAILS the Athena query, so every type below is what CloneSquad really writes.
-- timestamp.formats (Joda-Time: `ZZ` is `+00:00`) covers every form CloneSquad writes; Athena
-- keeps milliseconds (Joda truncates `.123456` to `.123`).
CREATE EXTERNAL TABLE IF NOT EXISTS clonesquad_discovery (
  `AccountArn` string,
  `AccountEmail` string,
  `AccountJoinedMethod` string,
  `AccountJoinedTimestamp` timestamp,
  `AccountName` string,
  `AccountStatus` string,
  `AlarmStateEC2Table` string,
  `ApiGWConfiguration` string,
  `ApiGwVpcEndpointDNSEntry` string,
  `CloneSquadVersion` string,
  `ConfigurationTable` string,
  `ConfigurationURLs` string,
  `CustomizationZipParameters` string,
  `DiscoveryLambdaIamRoleArn` string,
  `DynamoDBConfiguration` string,
  `EventTable` string,
  `InstallTime` timestamp,
  `InteractAPIGWUrl` string,
  `InteractApi` string,
  `InteractLambdaIamRoleArn` string,
  `InteractQueue` string,
  `InternalERRORInteractAlarmArn` string,
  `InternalERRORMainAlarmArn` string,
  `InternalWARNINGInteractAlarmArn` string,
  `InternalWARNINGMainAlarmArn` string,
  `LackOfCPUCreditAlarmArn` string,
  `LambdaMemorySize` string,
  `LogLevels` string,
  `LogRetentionDuration` string,
  `LoggingS3Path` string,
  `LongTermEventTable` string,
  `MainLambdaIamRoleArn` string,
  `MetadataAndBackupS3Path` string,
  `MetadataRecordLastUpdatedAt` timestamp,
  `PermissionsBoundary` string,
  `SchedulerTable` string,
  `StateTable` string,
  `Subfleets` array<string>,
  `TimeZone` string,
  `UserSuppliedJSONMetadata` string,
  `XRayDiagnosis` string
)
PARTITIONED BY (accountid string, region string, groupname string)
ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'
WITH SERDEPROPERTIES (
  'timestamp.formats' = 'yyyy-MM-dd HH:mm:ss.SSSSSSZZ,yyyy-MM-dd HH:mm:ssZZ,yyyy-MM-dd HH:mm:ss.SSSSSS,yyyy-MM-dd HH:mm:ss'
)
LOCATION '${metadata_path}/metadata/discovery/'
