-- clonesquad_volumes: one row per EBS volume attached to a managed instance (an EC2
-- DescribeVolumes Volume). CreateTime is naive UTC with milliseconds (`2026-11-26 08:50:59.943000`),
-- Attachments[].AttachTime has whole seconds. Size, Iops and Throughput are bigint (GiB, IOPS,
-- MiB/s); FastRestored, Encrypted and MultiAttachEnabled boolean.
--
-- Read by Athena (engine v3) with the Hive JSON SerDe and by cs-cmdb's embedded engine with the
-- same rules; ddl/README.md gives the reasons. In short: keys match case-insensitively (the LAST
-- of two keys differing by case wins), undeclared keys are skipped, and a value that does not fit
-- its column's type FAILS the Athena query, so every type below is what CloneSquad really writes.
-- timestamp.formats (Joda-Time: `ZZ` is `+00:00`) covers every form CloneSquad writes; Athena
-- keeps milliseconds (Joda truncates `.123456` to `.123`).
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
  `FastRestored` boolean,
  `Iops` bigint,
  `KmsKeyId` string,
  `MultiAttachEnabled` boolean,
  `Size` bigint,
  `SnapshotId` string,
  `SseType` string,
  `State` string,
  `Tags` array<struct<`Key`: string, `Value`: string>>,
  `Throughput` bigint,
  `VolumeId` string,
  `VolumeType` string
)
PARTITIONED BY (accountid string, region string, groupname string)
ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'
WITH SERDEPROPERTIES (
  'timestamp.formats' = 'yyyy-MM-dd HH:mm:ss.SSSSSSZZ,yyyy-MM-dd HH:mm:ssZZ,yyyy-MM-dd HH:mm:ss.SSSSSS,yyyy-MM-dd HH:mm:ss'
)
LOCATION '${metadata_path}/metadata/volumes/'
