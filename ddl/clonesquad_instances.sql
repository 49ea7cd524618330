-- clonesquad_instances: one row per managed EC2 instance (an EC2 DescribeInstances Instance) plus
-- CloneSquad's own keys: _Hostname (the Name tag), _SubfleetName (absent for the main fleet),
-- _LastStartAttemptTime and _InstanceType (the DescribeInstanceTypes record).
-- A deployment managing no instance writes a zero-byte file.
-- Column types follow the EC2 API shapes (boto3 records, datetimes written as naive UTC strings):
-- EC2 times (LaunchTime, UsageOperationUpdateTime, the AttachTime of block devices and network
-- interfaces) have whole seconds, _LastStartAttemptTime may have a fraction. Lists of objects are
-- arrays of structs: ProductCodes (ProductCodeId, ProductCodeType) and NetworkInterfaces[].
-- Ipv6Addresses (Ipv6Address, IsPrimaryIpv6) were declared array<string> before, which fails the
-- Athena query on the first instance that has one. Counts are bigint, gigabit bandwidths and clock
-- speeds double, flags boolean; EnaSupport of an instance is a boolean but of an instance TYPE
-- (_InstanceType.NetworkInfo.EnaSupport) the string "required"/"supported"/"unsupported".
--
-- Read by Athena (engine v3) with the Hive JSON SerDe and by cs-cmdb's embedded engine with the
-- same rules; ddl/README.md gives the reasons. In short: keys match case-insensitively (the LAST
-- of two keys differing by case wins), undeclared keys are skipped, and a value that does not fit
-- its column's type FAILS the Athena query, so every type below is what CloneSquad really writes.
-- timestamp.formats (Joda-Time: `ZZ` is `+00:00`) covers every form CloneSquad writes; Athena
-- keeps milliseconds (Joda truncates `.123456` to `.123`).
CREATE EXTERNAL TABLE IF NOT EXISTS clonesquad_instances (
  `AmiLaunchIndex` bigint,
  `Architecture` string,
  `BlockDeviceMappings` array<struct<
    `DeviceName`: string,
    `Ebs`: struct<
      `AttachTime`: timestamp,
      `DeleteOnTermination`: boolean,
      `Status`: string,
      `VolumeId`: string>>>,
  `BootMode` string,
  `CapacityReservationSpecification` struct<`CapacityReservationPreference`: string>,
  `ClientToken` string,
  `CpuOptions` struct<`CoreCount`: bigint, `ThreadsPerCore`: bigint>,
  `CurrentInstanceBootMode` string,
  `EbsOptimized` boolean,
  `EnaSupport` boolean,
  `EnclaveOptions` struct<`Enabled`: boolean>,
  `HibernationOptions` struct<`Configured`: boolean>,
  `Hypervisor` string,
  `IamInstanceProfile` struct<`Arn`: string, `Id`: string>,
  `ImageId` string,
  `InstanceId` string,
  `InstanceLifecycle` string,
  `InstanceType` string,
  `KeyName` string,
  `LaunchTime` timestamp,
  `MaintenanceOptions` struct<`AutoRecovery`: string>,
  `MetadataOptions` struct<
    `HttpEndpoint`: string,
    `HttpProtocolIpv6`: string,
    `HttpPutResponseHopLimit`: bigint,
    `HttpTokens`: string,
    `InstanceMetadataTags`: string,
    `State`: string>,
  `Monitoring` struct<`State`: string>,
  `NetworkInterfaces` array<struct<
    `Association`: struct<`IpOwnerId`: string, `PublicDnsName`: string, `PublicIp`: string>,
    `Attachment`: struct<
      `AttachTime`: timestamp,
      `AttachmentId`: string,
      `DeleteOnTermination`: boolean,
      `DeviceIndex`: bigint,
      `NetworkCardIndex`: bigint,
      `Status`: string>,
    `Description`: string,
    `Groups`: array<struct<`GroupId`: string, `GroupName`: string>>,
    `InterfaceType`: string,
    `Ipv6Addresses`: array<struct<`Ipv6Address`: string, `IsPrimaryIpv6`: boolean>>,
    `MacAddress`: string,
    `NetworkInterfaceId`: string,
    `OwnerId`: string,
    `PrivateDnsName`: string,
    `PrivateIpAddress`: string,
    `PrivateIpAddresses`: array<struct<
      `Association`: struct<`IpOwnerId`: string, `PublicDnsName`: string, `PublicIp`: string>,
      `Primary`: boolean,
      `PrivateDnsName`: string,
      `PrivateIpAddress`: string>>,
    `SourceDestCheck`: boolean,
    `Status`: string,
    `SubnetId`: string,
    `VpcId`: string>>,
  `Placement` struct<`AvailabilityZone`: string, `GroupName`: string, `Tenancy`: string>,
  `Platform` string,
  `PlatformDetails` string,
  `PrivateDnsName` string,
  `PrivateDnsNameOptions` struct<
    `EnableResourceNameDnsAAAARecord`: boolean,
    `EnableResourceNameDnsARecord`: boolean,
    `HostnameType`: string>,
  `PrivateIpAddress` string,
  `ProductCodes` array<struct<`ProductCodeId`: string, `ProductCodeType`: string>>,
  `PublicDnsName` string,
  `PublicIpAddress` string,
  `RootDeviceName` string,
  `RootDeviceType` string,
  `SecurityGroups` array<struct<`GroupId`: string, `GroupName`: string>>,
  `SourceDestCheck` boolean,
  `SpotInstanceRequestId` string,
  `State` struct<`Code`: bigint, `Name`: string>,
  `StateReason` struct<`Code`: string, `Message`: string>,
  `StateTransitionReason` string,
  `SubnetId` string,
  `Tags` array<struct<`Key`: string, `Value`: string>>,
  `UsageOperation` string,
  `UsageOperationUpdateTime` timestamp,
  `VirtualizationType` string,
  `VpcId` string,
  `_Hostname` string,
  `_InstanceType` struct<
    `AutoRecoverySupported`: boolean,
    `BareMetal`: boolean,
    `BurstablePerformanceSupported`: boolean,
    `CurrentGeneration`: boolean,
    `DedicatedHostsSupported`: boolean,
    `EbsInfo`: struct<
      `EbsOptimizedInfo`: struct<
        `BaselineBandwidthInMbps`: bigint,
        `BaselineIops`: bigint,
        `BaselineThroughputInMBps`: double,
        `MaximumBandwidthInMbps`: bigint,
        `MaximumIops`: bigint,
        `MaximumThroughputInMBps`: double>,
      `EbsOptimizedSupport`: string,
      `EncryptionSupport`: string,
      `NvmeSupport`: string>,
    `FreeTierEligible`: boolean,
    `GpuInfo`: struct<
      `Gpus`: array<struct<
        `Count`: bigint,
        `Manufacturer`: string,
        `MemoryInfo`: struct<`SizeInMiB`: bigint>,
        `Name`: string>>,
      `TotalGpuMemoryInMiB`: bigint>,
    `HibernationSupported`: boolean,
    `Hypervisor`: string,
    `InstanceStorageInfo`: struct<
      `Disks`: array<struct<`Count`: bigint, `SizeInGB`: bigint, `Type`: string>>,
      `EncryptionSupport`: string,
      `NvmeSupport`: string,
      `TotalSizeInGB`: bigint>,
    `InstanceStorageSupported`: boolean,
    `InstanceType`: string,
    `MemoryInfo`: struct<`SizeInMiB`: bigint>,
    `NetworkInfo`: struct<
      `DefaultNetworkCardIndex`: bigint,
      `EfaSupported`: boolean,
      `EnaSupport`: string,
      `EncryptionInTransitSupported`: boolean,
      `Ipv4AddressesPerInterface`: bigint,
      `Ipv6AddressesPerInterface`: bigint,
      `Ipv6Supported`: boolean,
      `MaximumNetworkCards`: bigint,
      `MaximumNetworkInterfaces`: bigint,
      `NetworkCards`: array<struct<
        `BaselineBandwidthInGbps`: double,
        `MaximumNetworkInterfaces`: bigint,
        `NetworkCardIndex`: bigint,
        `NetworkPerformance`: string,
        `PeakBandwidthInGbps`: double>>,
      `NetworkPerformance`: string>,
    `NitroEnclavesSupport`: string,
    `NitroTpmSupport`: string,
    `PlacementGroupInfo`: struct<`SupportedStrategies`: array<string>>,
    `ProcessorInfo`: struct<
      `Manufacturer`: string,
      `SupportedArchitectures`: array<string>,
      `SustainedClockSpeedInGhz`: double>,
    `SupportedBootModes`: array<string>,
    `SupportedRootDeviceTypes`: array<string>,
    `SupportedUsageClasses`: array<string>,
    `SupportedVirtualizationTypes`: array<string>,
    `VCpuInfo`: struct<
      `DefaultCores`: bigint,
      `DefaultThreadsPerCore`: bigint,
      `DefaultVCpus`: bigint,
      `ValidCores`: array<bigint>,
      `ValidThreadsPerCore`: array<bigint>>>,
  `_LastStartAttemptTime` timestamp,
  `_SubfleetName` string
)
PARTITIONED BY (accountid string, region string, groupname string)
ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'
WITH SERDEPROPERTIES (
  'timestamp.formats' = 'yyyy-MM-dd HH:mm:ss.SSSSSSZZ,yyyy-MM-dd HH:mm:ssZZ,yyyy-MM-dd HH:mm:ss.SSSSSS,yyyy-MM-dd HH:mm:ss'
)
LOCATION '${metadata_path}/metadata/instances/'
