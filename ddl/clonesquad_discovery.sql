-- clonesquad_discovery: one row per deployment (its CloudFormation parameters and context).
-- Written by CloneSquad to <MetadataAndBackupS3Path>/metadata/discovery/ as one JSON object a file.
-- The record's own AccountId and GroupName keys are the partition columns accountid and groupname.
-- X-<key> copies of the user's JSON metadata are not columns: use
-- json_extract_scalar(usersuppliedjsonmetadata, '$.Key').
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
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES (
  'ignore.malformed.json' = 'true',
  'case.insensitive' = 'true',
  'timestamp.formats' = 'yyyy-MM-dd HH:mm:ss.SSSSSSZZ,yyyy-MM-dd HH:mm:ssZZ,yyyy-MM-dd HH:mm:ss.SSSSSS,yyyy-MM-dd HH:mm:ss'
)
LOCATION '${metadata_path}/metadata/discovery/'
