-- clonesquad_volumes: one row per EBS volume attached to a managed instance (EC2 DescribeVolumes).
CREATE EXTERNAL TABLE IF NOT EXISTS clonesquad_volumes (
  `Attachments` array<struct<
    `AttachTime`: timestamp,
    `DeleteOnTermination`: boolean,
    `Device`: string,
    `InstanceId`: string,
    `State`: string,
    `VolumeId`: string>>,
  `AvailabilityZone` string,
  `CreateTime` timestamp,
  `Encrypted` boolean,
  `Iops` bigint,
  `KmsKeyId` string,
  `MultiAttachEnabled` boolean,
  `Size` bigint,
  `SnapshotId` string,
  `State` string,
  `Tags` array<struct<`Key`: string, `Value`: string>>,
  `Throughput` bigint,
  `VolumeId` string,
  `VolumeType` string
)
PARTITIONED BY (accountid string, region string, groupname string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES (
  'ignore.malformed.json' = 'true',
  'case.insensitive' = 'true',
  'timestamp.formats' = 'yyyy-MM-dd HH:mm:ss.SSSSSSZZ,yyyy-MM-dd HH:mm:ssZZ,yyyy-MM-dd HH:mm:ss.SSSSSS,yyyy-MM-dd HH:mm:ss'
)
LOCATION '${metadata_path}/metadata/volumes/'
