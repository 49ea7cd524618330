//! A generator of metadata trees in CloneSquad's exact layout, quirks included: hyphenated
//! group names, several groups per account and region; naive UTC timestamps in discovery,
//! instances, volumes and maintenance windows (whole seconds on EC2 times, milliseconds on EBS
//! CreateTime, fractions sometimes absent), `+00:00` in configuration and scheduler; JSON files
//! without a final newline; `CloneSquadVersion` `""` and `--Development--` on some deployments;
//! Account* keys only on the management account; `X-<key>` copies of the user metadata with
//! native JSON types (none when that metadata is not JSON); real EC2 shapes (network interfaces,
//! IPv6 addresses and product codes as objects); zero-byte instance and scheduler files;
//! maintenance windows only where SSM support is on; YAML backups as `yaml.dump` writes them
//! (`{}` when empty), and archive keys with spaces, colons and plus signs. Deterministic for a
//! seed; used by tests, benchmarks and `cs-cmdb sample`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{Duration, NaiveDateTime};
use serde_json::{Value, json};

use crate::bucket::layout::{BackupKind, Partition, Table};

/// What to generate.
#[derive(Debug, Clone)]
pub struct SampleSpec {
    pub deployments: usize,
    /// Average managed instances per deployment.
    pub instances: usize,
    pub seed: u64,
    /// The instant the tree is "exported" at; ages are relative to it.
    pub now: NaiveDateTime,
}

/// What was written.
#[derive(Debug, Default, Clone, Copy)]
pub struct SampleStats {
    pub deployments: usize,
    pub instances: usize,
    pub files: usize,
}

/// splitmix64: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const REGIONS: [&str; 4] = ["eu-west-1", "us-east-1", "eu-central-1", "ap-southeast-2"];
const GROUPS: [&str; 6] = [
    "web-front",
    "batch-workers",
    "api",
    "ci-runners",
    "game-servers",
    "etl",
];
/// Tagged releases, the official v0.27.1 template's empty version, and a development build.
const VERSIONS: [&str; 7] = [
    "v0.27.1",
    "v0.27.0",
    "v0.26.3",
    "v0.25.0",
    "v0.9.2",
    "",
    "--Development--",
];
/// (type, vCPUs, MiB, network performance, baseline Gbps)
const TYPES: [(&str, i64, i64, &str, f64); 4] = [
    ("t3.micro", 2, 1024, "Up to 5 Gigabit", 0.064),
    ("t3.medium", 2, 4096, "Up to 5 Gigabit", 0.256),
    ("m5.large", 2, 8192, "Up to 10 Gigabit", 0.75),
    ("c5.xlarge", 4, 8192, "Up to 10 Gigabit", 1.25),
];
const OWNERS: [&str; 4] = ["team-web", "team-data", "platform", "it's-ops"];
/// The Organization's management account: the only one whose deployments may call
/// Organizations, so the only one whose discovery records carry the Account* keys.
pub const MANAGEMENT_ACCOUNT: &str = "100000000000";

/// `2026-11-26 09:00:01.123456`: Python's `str()` of a datetime, the fraction omitted when zero.
fn ts(t: NaiveDateTime) -> String {
    let micros = t.and_utc().timestamp_subsec_micros();
    let whole = t.format("%Y-%m-%d %H:%M:%S");
    if micros == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{micros:06}")
    }
}

/// `2026-11-26 09:00:01.123456+00:00`: `str()` of an aware UTC datetime.
fn ts_utc(t: NaiveDateTime) -> String {
    format!("{}+00:00", ts(t))
}

fn whole_second(t: NaiveDateTime) -> NaiveDateTime {
    use chrono::Timelike;
    t.with_nanosecond(0).unwrap_or(t)
}

fn whole_minute(t: NaiveDateTime) -> NaiveDateTime {
    use chrono::Timelike;
    whole_second(t).with_second(0).unwrap_or(t)
}

/// Milliseconds only, as EBS reports CreateTime (`.943000`).
fn whole_milli(t: NaiveDateTime) -> NaiveDateTime {
    use chrono::Timelike;
    let nanos = t.nanosecond() / 1_000_000 * 1_000_000;
    t.with_nanosecond(nanos).unwrap_or(t)
}

/// NDJSON as CloneSquad writes it: one record a line, no newline after the last.
fn ndjson(records: &[Value]) -> String {
    records
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// A YAML scalar as `yaml.dump` writes it: plain when safe, else single-quoted (numbers-looking
/// strings included, so they stay strings).
fn yaml_scalar(text: &str) -> String {
    let numeric = text.parse::<f64>().is_ok();
    let plain = !text.is_empty()
        && !numeric
        && !text.starts_with(|c: char| "[]{}!&*#?|>'\"%@`-,:~ ".contains(c))
        && !text.ends_with(' ')
        && !text.contains(": ")
        && !text.contains(" #")
        && !matches!(
            text.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "~"
        );
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "''"))
    }
}

/// A YAML backup of `(key, value)` entries (sorted by key, as `yaml.dump` sorts them), with
/// parameter sets as nested maps; `{}` when empty.
fn yaml_backup(entries: &[(String, String)], sets: &[(String, Vec<(String, String)>)]) -> String {
    let mut lines: Vec<(String, String)> = entries
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                format!("{}: {}\n", yaml_scalar(k), yaml_scalar(v)),
            )
        })
        .collect();
    for (name, values) in sets {
        let key = format!("[set]{name}");
        let mut body = format!("{}:\n", yaml_scalar(&key));
        for (k, v) in values {
            body.push_str(&format!("  {}: {}\n", yaml_scalar(k), yaml_scalar(v)));
        }
        lines.push((key, body));
    }
    if lines.is_empty() {
        return "{}\n".to_string();
    }
    lines.sort();
    lines.into_iter().map(|(_, line)| line).collect()
}

/// The user's JSON metadata: `(UserSuppliedJSONMetadata text, its top-level keys)`. Values keep
/// their JSON types (numbers, booleans); a few deployments hold text that is not JSON, for which
/// CloneSquad writes no `X-` key.
fn user_metadata(rng: &mut Rng) -> (String, Option<serde_json::Map<String, Value>>) {
    match rng.below(100) {
        0..=19 => (String::new(), None),
        20..=22 => ("Owner=team-web".to_string(), None),
        n => {
            let mut meta = serde_json::Map::new();
            meta.insert("Owner".into(), json!(*rng.pick(&OWNERS)));
            if n % 2 == 0 {
                meta.insert("CostCenter".into(), json!(4200 + rng.below(5) as i64));
            } else {
                meta.insert(
                    "CostCenter".into(),
                    json!(format!("CC-{}", 100 + rng.below(5))),
                );
            }
            if rng.chance(30) {
                meta.insert("Critical".into(), json!(rng.chance(50)));
            }
            (Value::Object(meta.clone()).to_string(), Some(meta))
        }
    }
}

/// The DescribeInstanceTypes record CloneSquad keeps as `_InstanceType`.
fn instance_type_record(itype: &str, vcpus: i64, mem: i64, perf: &str, gbps: f64) -> Value {
    let burstable = itype.starts_with('t');
    json!({
        "InstanceType": itype, "CurrentGeneration": true, "FreeTierEligible": itype == "t3.micro",
        "SupportedUsageClasses": ["on-demand", "spot"], "SupportedRootDeviceTypes": ["ebs"],
        "SupportedVirtualizationTypes": ["hvm"], "BareMetal": false, "Hypervisor": "nitro",
        "ProcessorInfo": {"SupportedArchitectures": ["x86_64"], "SustainedClockSpeedInGhz": 3.1, "Manufacturer": "Intel"},
        "VCpuInfo": {"DefaultVCpus": vcpus, "DefaultCores": vcpus / 2, "DefaultThreadsPerCore": 2,
            "ValidCores": [1, vcpus / 2], "ValidThreadsPerCore": [1, 2]},
        "MemoryInfo": {"SizeInMiB": mem}, "InstanceStorageSupported": false,
        "EbsInfo": {"EbsOptimizedSupport": "default", "EncryptionSupport": "supported",
            "EbsOptimizedInfo": {"BaselineBandwidthInMbps": 650, "BaselineThroughputInMBps": 81.25,
                "BaselineIops": 3600, "MaximumBandwidthInMbps": 4750, "MaximumThroughputInMBps": 593.75,
                "MaximumIops": 18750},
            "NvmeSupport": "required"},
        "NetworkInfo": {"NetworkPerformance": perf, "MaximumNetworkInterfaces": 3, "MaximumNetworkCards": 1,
            "DefaultNetworkCardIndex": 0,
            "NetworkCards": [{"NetworkCardIndex": 0, "NetworkPerformance": perf, "MaximumNetworkInterfaces": 3,
                "BaselineBandwidthInGbps": gbps, "PeakBandwidthInGbps": 5.0}],
            "Ipv4AddressesPerInterface": 6, "Ipv6AddressesPerInterface": 6, "Ipv6Supported": true,
            "EnaSupport": "required", "EfaSupported": false, "EncryptionInTransitSupported": false,
            "EnaSrdSupported": false},
        "PlacementGroupInfo": {"SupportedStrategies": ["partition", "spread"]},
        "HibernationSupported": true, "BurstablePerformanceSupported": burstable,
        "DedicatedHostsSupported": !burstable, "AutoRecoverySupported": true,
        "SupportedBootModes": ["legacy-bios", "uefi"], "NitroEnclavesSupport": "unsupported",
        "NitroTpmSupport": "supported", "NitroTpmInfo": {"SupportedVersions": ["2.0"]},
        "PhcSupport": "unsupported"
    })
}

/// One managed instance (a DescribeInstances `Instance` plus CloneSquad's keys) and its volume.
struct Instance<'a> {
    index: usize,
    account: &'a str,
    region: &'a str,
    group: &'a str,
    subfleet: Option<&'a str>,
    exported: NaiveDateTime,
}

impl Instance<'_> {
    fn records(&self, rng: &mut Rng) -> (Value, Value) {
        let (i, account, region, group) = (self.index, self.account, self.region, self.group);
        let id = format!("i-{:017x}", rng.next() & 0xfff_ffff_ffff_ffff);
        let (itype, vcpus, mem, perf, gbps) = *rng.pick(&TYPES);
        let running = rng.chance(75);
        let host = format!("{group}-{i:03}");
        // EC2 reports whole seconds; CloneSquad's own start attempts keep a fraction.
        let launched = whole_second(self.exported - Duration::hours(rng.below(2000) as i64));
        let attempted = if rng.chance(50) {
            launched - Duration::microseconds(1 + rng.below(999_999) as i64)
        } else {
            launched
        };
        let vol = format!("vol-{:017x}", rng.next() & 0xfff_ffff_ffff_ffff);
        let eni = format!("eni-{:017x}", rng.next() & 0xfff_ffff_ffff_ffff);
        let attachment = format!("eni-attach-{:017x}", rng.next() & 0xfff_ffff_ffff_ffff);
        let az = format!("{region}{}", ["a", "b", "c"][i % 3]);
        let private_ip = format!("10.0.{}.{}", i / 250, i % 250 + 1);
        let private_dns = format!("ip-10-0-{}-{}.ec2.internal", i / 250, i % 250 + 1);
        let public = running && rng.chance(30);
        let association = json!({"IpOwnerId": "amazon",
            "PublicDnsName": format!("ec2-3-80-{}-{}.compute-1.amazonaws.com", i / 250, i % 250 + 1),
            "PublicIp": format!("3.80.{}.{}", i / 250, i % 250 + 1)});
        let ipv6: Vec<Value> = if rng.chance(20) {
            vec![json!({"Ipv6Address": format!("2001:db8::{:x}", i + 1), "IsPrimaryIpv6": false})]
        } else {
            Vec::new()
        };
        let mut eni_record = json!({
            "Attachment": {"AttachTime": ts(launched), "AttachmentId": attachment,
                "DeleteOnTermination": true, "DeviceIndex": 0, "Status": "attached", "NetworkCardIndex": 0},
            "Description": "", "Groups": [{"GroupName": "default", "GroupId": "sg-0123456789abcdef0"}],
            "Ipv6Addresses": ipv6, "MacAddress": format!("0a:{:02x}:{:02x}:00:00:01", i / 250 % 256, i % 250),
            "NetworkInterfaceId": eni, "OwnerId": account, "PrivateDnsName": private_dns,
            "PrivateIpAddress": private_ip,
            "PrivateIpAddresses": [{"Primary": true, "PrivateDnsName": private_dns, "PrivateIpAddress": private_ip}],
            "SourceDestCheck": true, "Status": "in-use", "SubnetId": "subnet-0123456789abcdef0",
            "VpcId": "vpc-0123456789abcdef0", "InterfaceType": "interface"
        });
        if public {
            eni_record["Association"] = association.clone();
            eni_record["PrivateIpAddresses"][0]["Association"] = association.clone();
        }
        let product_codes: Vec<Value> = if rng.chance(10) {
            vec![
                json!({"ProductCodeId": "aw0evgkw8e5c1q413zgy5pjce", "ProductCodeType": "marketplace"}),
            ]
        } else {
            Vec::new()
        };
        let mut record = json!({
            "AmiLaunchIndex": 0, "ImageId": "ami-0abcdef1234567890", "InstanceId": id,
            "InstanceType": itype, "KeyName": "ops", "LaunchTime": ts(launched),
            "Monitoring": {"State": "disabled"},
            "Placement": {"AvailabilityZone": az, "GroupName": "", "Tenancy": "default"},
            "PrivateDnsName": private_dns, "PrivateIpAddress": private_ip,
            "ProductCodes": product_codes,
            "PublicDnsName": if public { association["PublicDnsName"].clone() } else { json!("") },
            "State": if running { json!({"Code": 16, "Name": "running"}) } else { json!({"Code": 80, "Name": "stopped"}) },
            "StateTransitionReason": if running { String::new() } else { format!("User initiated ({} GMT)", ts(launched)) },
            "SubnetId": "subnet-0123456789abcdef0", "VpcId": "vpc-0123456789abcdef0",
            "Architecture": "x86_64",
            "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"AttachTime": ts(launched),
                "DeleteOnTermination": true, "Status": "attached", "VolumeId": vol}}],
            "ClientToken": "", "EbsOptimized": false, "EnaSupport": true, "Hypervisor": "xen",
            "NetworkInterfaces": [eni_record],
            "RootDeviceName": "/dev/xvda", "RootDeviceType": "ebs",
            "SecurityGroups": [{"GroupName": "default", "GroupId": "sg-0123456789abcdef0"}],
            "SourceDestCheck": true,
            "Tags": [{"Key": "Name", "Value": host}, {"Key": "clonesquad:group-name", "Value": group}],
            "VirtualizationType": "hvm", "CpuOptions": {"CoreCount": vcpus / 2, "ThreadsPerCore": 2},
            "CapacityReservationSpecification": {"CapacityReservationPreference": "open"},
            "HibernationOptions": {"Configured": false},
            "MetadataOptions": {"State": "applied", "HttpTokens": "required", "HttpPutResponseHopLimit": 2,
                "HttpEndpoint": "enabled", "HttpProtocolIpv6": "disabled", "InstanceMetadataTags": "disabled"},
            "EnclaveOptions": {"Enabled": false}, "BootMode": "uefi-preferred",
            "CurrentInstanceBootMode": "legacy-bios", "PlatformDetails": "Linux/UNIX",
            "UsageOperation": "RunInstances", "UsageOperationUpdateTime": ts(launched),
            "PrivateDnsNameOptions": {"HostnameType": "ip-name", "EnableResourceNameDnsARecord": false,
                "EnableResourceNameDnsAAAARecord": false},
            "MaintenanceOptions": {"AutoRecovery": "default"},
            "_Hostname": host, "_LastStartAttemptTime": ts(attempted),
            "_InstanceType": instance_type_record(itype, vcpus, mem, perf, gbps)
        });
        if let Value::Object(r) = &mut record {
            if public {
                r.insert("PublicIpAddress".into(), association["PublicIp"].clone());
            }
            if let Some(s) = self.subfleet {
                r.insert("_SubfleetName".into(), json!(s));
                if let Some(Value::Array(tags)) = r.get_mut("Tags") {
                    tags.push(json!({"Key": "clonesquad:subfleet-name", "Value": s}));
                }
            }
        }
        let created = whole_milli(launched - Duration::microseconds(rng.below(999_999) as i64));
        let volume = json!({
            "Attachments": [{"AttachTime": ts(launched), "Device": "/dev/xvda", "InstanceId": id,
                "State": "attached", "VolumeId": vol, "DeleteOnTermination": true}],
            "AvailabilityZone": az, "CreateTime": ts(created), "Encrypted": rng.chance(60),
            "Size": 8 * (1 + rng.below(4)), "SnapshotId": "snap-0123456789abcdef0", "State": "in-use",
            "VolumeId": vol, "Iops": 3000, "VolumeType": "gp3", "MultiAttachEnabled": false,
            "Throughput": 125, "Tags": [{"Key": "clonesquad:group-name", "Value": group}]
        });
        (record, volume)
    }
}

/// The maintenance-windows lines of a deployment with SSM support: one per fleet, each listing
/// every window of the deployment (aliasing upstream); MatchingWindow, StartTime and EndTime
/// only while a window is active.
fn maintenance_lines(
    rng: &mut Rng,
    group: &str,
    fleets: &[String],
    now: NaiveDateTime,
    exported: NaiveDateTime,
) -> Vec<Value> {
    let active = rng.chance(20);
    let next = whole_minute(now + Duration::hours(1 + rng.below(48) as i64));
    let windows: Vec<Value> = fleets
        .iter()
        .map(|fleet| {
            let name = if fleet == "__main__" {
                format!("CS-{group}")
            } else {
                format!("CS-{group}-{fleet}")
            };
            json!({"WindowId": format!("mw-{:017x}", rng.next() & 0xfff_ffff_ffff_ffff), "Name": name,
                "Enabled": true, "Duration": 2, "Cutoff": 0, "Schedule": "cron(0 2 ? * SUN *)",
                "NextExecutionTime": ts(next),
                "Tags": [{"Key": "clonesquad:group-name", "Value": group}]})
        })
        .collect();
    fleets
        .iter()
        .zip(&windows)
        .map(|(fleet, window)| {
            let name = window["Name"].as_str().unwrap_or_default();
            let details = if active {
                let started = whole_minute(now - Duration::minutes(30));
                let mut matching = window.clone();
                matching["_FutureNextExecutionTime"] = json!(ts(next));
                json!({"StartTime": ts(started), "EndTime": ts(started + Duration::hours(2)),
                    "MatchingWindow": matching, "MatchingWindowMessage": format!("Window {name} is active")})
            } else {
                json!({"NextWindowMessage": format!("Next SSM Maintenance Window for {fleet} is {name} in {}", ts(next))})
            };
            json!({"Fleet": fleet, "IsMaintenanceTime": active, "MaintenanceWindows": windows,
                "NextMaintenanceWindowDetails": details, "MetadataRecordLastUpdatedAt": ts(exported)})
        })
        .collect()
}

/// Write the tree under `out` (`out/metadata/...`, `out/backups/...`).
pub fn generate(out: &Path, spec: &SampleSpec) -> anyhow::Result<SampleStats> {
    let mut rng = Rng(spec.seed ^ 0x5eed);
    let mut stats = SampleStats::default();
    let metadata_path = "s3://cs-cmdb-example/clonesquad";
    let mut written = 0usize;
    let mut write = |path: PathBuf, body: &[u8]| -> anyhow::Result<()> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        fs::write(&path, body).with_context(|| format!("cannot write {}", path.display()))?;
        written += 1;
        Ok(())
    };
    let accounts = spec.deployments.div_ceil(3).max(1);
    for d in 0..spec.deployments {
        let account = format!("{:012}", 100_000_000_000u64 + (d % accounts) as u64 * 7_919);
        let region = REGIONS[(d / accounts) % REGIONS.len()];
        let group = match d / (accounts * REGIONS.len()) {
            0 => GROUPS[d % GROUPS.len()].to_string(),
            n => format!("{}-{n}", GROUPS[d % GROUPS.len()]),
        };
        let part = Partition::new(&account, region, &group);
        // Mostly tagged releases; some official-template ("") and development builds.
        let version = match rng.below(100) {
            0..=7 => VERSIONS[5],
            8..=11 => VERSIONS[6],
            _ => *rng.pick(&VERSIONS[..5]),
        };
        // Most deployments exported within the hour; some are stale by days.
        let age_minutes = if rng.chance(15) {
            60 * (25 + rng.below(24 * 10))
        } else {
            rng.below(55)
        } as i64;
        let exported = spec.now
            - Duration::minutes(age_minutes)
            - Duration::microseconds(rng.below(1_000_000) as i64);
        let exported = if rng.chance(20) {
            whole_second(exported)
        } else {
            exported
        };
        let installed = exported
            - Duration::days(30 + rng.below(400) as i64)
            - Duration::microseconds(rng.below(1_000_000) as i64);
        let subfleets: Vec<String> = (0..rng.below(3))
            .map(|i| format!("{group}-sub{i}"))
            .collect();
        let (user_meta, user_keys) = user_metadata(&mut rng);
        let api_id = format!("{:010x}", rng.next() & 0xff_ffff_ffff);
        let mut discovery = json!({
            "AccountId": account, "GroupName": group, "CloneSquadVersion": version,
            "InstallTime": ts(installed), "MetadataRecordLastUpdatedAt": ts(exported),
            "Subfleets": subfleets,
            "InteractAPIGWUrl": format!("https://{api_id}.execute-api.{region}.amazonaws.com/v1/"),
            "InteractApi": api_id,
            "InteractQueue": format!("https://sqs.{region}.amazonaws.com/{account}/CloneSquad-Interact-{group}"),
            "ApiGwVpcEndpointDNSEntry": "", "ApiGWConfiguration": "",
            "ConfigurationTable": format!("CloneSquad-{group}-Configuration"),
            "SchedulerTable": format!("CloneSquad-{group}-Scheduler"),
            "StateTable": format!("CloneSquad-{group}-State"),
            "EventTable": format!("CloneSquad-{group}-EventLog"),
            "LongTermEventTable": format!("CloneSquad-{group}-EventLog-LongTerm"),
            "AlarmStateEC2Table": format!("CloneSquad-{group}-AlarmState-EC2"),
            "ConfigurationURLs": "", "LoggingS3Path": "",
            "MetadataAndBackupS3Path": metadata_path,
            "TimeZone": "UTC", "LogLevels": "*=INFO", "LambdaMemorySize": "768",
            "LogRetentionDuration": "365", "DynamoDBConfiguration": "PAY_PER_REQUEST",
            "PermissionsBoundary": "", "XRayDiagnosis": "Disabled", "CustomizationZipParameters": "",
            "MainLambdaIamRoleArn": format!("arn:aws:iam::{account}:role/CloneSquad-{group}-Main"),
            "InteractLambdaIamRoleArn": format!("arn:aws:iam::{account}:role/CloneSquad-{group}-Interact"),
            "DiscoveryLambdaIamRoleArn": format!("arn:aws:iam::{account}:role/CloneSquad-{group}-Discovery"),
            "InternalERRORMainAlarmArn": format!("arn:aws:cloudwatch:{region}:{account}:alarm:CloneSquad-{group}-InternalError-Main"),
            "InternalWARNINGMainAlarmArn": format!("arn:aws:cloudwatch:{region}:{account}:alarm:CloneSquad-{group}-InternalWarning-Main"),
            "InternalERRORInteractAlarmArn": format!("arn:aws:cloudwatch:{region}:{account}:alarm:CloneSquad-{group}-InternalError-Interact"),
            "InternalWARNINGInteractAlarmArn": format!("arn:aws:cloudwatch:{region}:{account}:alarm:CloneSquad-{group}-InternalWarning-Interact"),
            "LackOfCPUCreditAlarmArn": format!("arn:aws:cloudwatch:{region}:{account}:alarm:CloneSquad-{group}-LackOfCPUCredit"),
            "UserSuppliedJSONMetadata": user_meta,
        });
        if let Value::Object(record) = &mut discovery {
            // Each top-level key of valid user metadata is copied as X-<key>, JSON type kept.
            for (key, value) in user_keys.into_iter().flatten() {
                record.insert(format!("X-{key}"), value);
            }
            if account == MANAGEMENT_ACCOUNT {
                let joined = whole_second(installed - Duration::days(400));
                record.insert("AccountName".into(), json!("management"));
                record.insert(
                    "AccountEmail".into(),
                    json!(format!("aws+{account}@example.com")),
                );
                record.insert(
                    "AccountArn".into(),
                    json!(format!(
                        "arn:aws:organizations::{account}:account/o-example/{account}"
                    )),
                );
                record.insert("AccountStatus".into(), json!("ACTIVE"));
                record.insert("AccountJoinedMethod".into(), json!("CREATED"));
                record.insert("AccountJoinedTimestamp".into(), json!(ts(joined)));
            }
        }
        let meta = |table: Table| out.join(part.metadata_file(table));
        // One JSON object, no newline after it.
        write(meta(Table::Discovery), discovery.to_string().as_bytes())?;

        let updated = ts_utc(exported);
        let mut config: Vec<(String, String)> = vec![
            (
                "ec2.schedule.min_instance_count".into(),
                rng.below(4).to_string(),
            ),
            (
                "ec2.schedule.desired_instance_count".into(),
                if rng.chance(50) {
                    "-1".into()
                } else {
                    format!("{}%", 25 * (1 + rng.below(4)))
                },
            ),
            (
                "app.run_period".into(),
                if rng.chance(80) {
                    "2 minutes".into()
                } else {
                    "seconds=30".into()
                },
            ),
            (
                "cron.backup".into(),
                if rng.chance(90) {
                    "cron(0 * * * ? *)".into()
                } else {
                    "disabled".into()
                },
            ),
        ];
        for s in &subfleets {
            config.push((
                format!("subfleet.{s}.state"),
                (*rng.pick(&["running", "stopped", "undefined"])).to_string(),
            ));
        }
        let key_values = |entries: &[(String, String)]| -> Vec<Value> {
            entries
                .iter()
                .map(|(k, v)| json!({"Key": k, "Value": v, "MetadataRecordLastUpdatedAt": updated}))
                .collect()
        };
        write(
            meta(Table::Configuration),
            ndjson(&key_values(&config)).as_bytes(),
        )?;
        // An empty scheduler table writes a zero-byte file (and a `{}` backup).
        let schedule: Vec<(String, String)> = (0..rng.below(3))
            .map(|i| {
                (
                    format!("scale-up-{i}"),
                    format!(
                        "cron(0 {} * * ? *),ec2.schedule.min_instance_count={}",
                        7 + i,
                        2 + i
                    ),
                )
            })
            .collect();
        write(
            meta(Table::Scheduler),
            ndjson(&key_values(&schedule)).as_bytes(),
        )?;

        let count = if rng.chance(10) {
            0
        } else {
            rng.below(spec.instances * 2 + 1)
        };
        let mut instances = Vec::with_capacity(count);
        let mut volumes = Vec::with_capacity(count);
        for index in 0..count {
            let subfleet = if !subfleets.is_empty() && rng.chance(30) {
                Some(rng.pick(&subfleets).as_str())
            } else {
                None
            };
            let instance = Instance {
                index,
                account: &account,
                region,
                group: &group,
                subfleet,
                exported,
            };
            let (record, volume) = instance.records(&mut rng);
            instances.push(record);
            volumes.push(volume);
            stats.instances += 1;
        }
        // CloneSquad writes a zero-byte file when the group manages no instance.
        write(meta(Table::Instances), ndjson(&instances).as_bytes())?;
        write(meta(Table::Volumes), ndjson(&volumes).as_bytes())?;

        if rng.chance(30) {
            let fleets: Vec<String> = std::iter::once("__main__".to_string())
                .chain(subfleets.iter().cloned())
                .collect();
            let lines = maintenance_lines(&mut rng, &group, &fleets, spec.now, exported);
            write(meta(Table::MaintenanceWindows), ndjson(&lines).as_bytes())?;
        }

        let sets = if rng.chance(20) {
            vec![(
                "nightly".to_string(),
                vec![(
                    "ec2.schedule.min_instance_count".to_string(),
                    "0".to_string(),
                )],
            )]
        } else {
            Vec::new()
        };
        for (kind, yaml) in [
            (BackupKind::Configuration, yaml_backup(&config, &sets)),
            (BackupKind::Scheduler, yaml_backup(&schedule, &[])),
        ] {
            write(out.join(part.latest_backup(kind)), yaml.as_bytes())?;
            write(
                out.join(part.archive_backup(kind, &ts_utc(exported))),
                yaml.as_bytes(),
            )?;
        }
        stats.deployments += 1;
    }
    stats.files = written;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_scalars_quote_what_yaml_would_misread() {
        assert_eq!(yaml_scalar("2 minutes"), "2 minutes");
        assert_eq!(yaml_scalar("2"), "'2'");
        assert_eq!(yaml_scalar("-1"), "'-1'");
        assert_eq!(yaml_scalar("[set]nightly"), "'[set]nightly'");
        assert_eq!(yaml_scalar("it's"), "it's");
        assert_eq!(yaml_scalar("'x"), "'''x'");
        assert_eq!(yaml_scalar("true"), "'true'");
        assert_eq!(yaml_backup(&[], &[]), "{}\n");
    }
}
