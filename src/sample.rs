//! A generator of metadata trees in CloneSquad's exact layout, quirks included: hyphenated group
//! names, several groups per account and region, timestamps with and without a fraction (and
//! `+00:00` in configuration/scheduler), `X-<key>` copies of the user metadata, zero-byte
//! instance files, maintenance windows only where SSM support is on, and backup archive keys with
//! spaces, colons and plus signs. Deterministic for a seed; used by tests, benchmarks and
//! `cs-cmdb sample`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{Duration, NaiveDateTime};
use serde_json::{Value, json};

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
const VERSIONS: [&str; 5] = ["v0.27.1", "v0.27.0", "v0.26.3", "v0.25.0", "v0.9.2"];
const TYPES: [(&str, i64, i64); 4] = [
    ("t3.micro", 2, 1024),
    ("t3.medium", 2, 4096),
    ("m5.large", 2, 8192),
    ("c5.xlarge", 4, 8192),
];
const OWNERS: [&str; 4] = ["team-web", "team-data", "platform", "it's-ops"];

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

fn whole_second(t: NaiveDateTime) -> NaiveDateTime {
    use chrono::Timelike;
    t.with_nanosecond(0).unwrap_or(t)
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
        let part = format!("accountid={account}/region={region}/groupname={group}");
        let version = *rng.pick(&VERSIONS);
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
        let installed = whole_second(exported - Duration::days(30 + rng.below(400) as i64));
        let subfleets: Vec<String> = (0..rng.below(3))
            .map(|i| format!("{group}-sub{i}"))
            .collect();
        let owner = *rng.pick(&OWNERS);
        let user_meta = if rng.chance(25) {
            String::new()
        } else {
            json!({"Owner": owner, "CostCenter": format!("CC-{}", 100 + rng.below(5))}).to_string()
        };
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
        if let (Ok(Value::Object(meta)), Value::Object(record)) =
            (serde_json::from_str::<Value>(&user_meta), &mut discovery)
        {
            for (key, value) in meta {
                record.insert(format!("X-{key}"), value);
            }
        }
        if let (true, Value::Object(record)) = (rng.chance(70), &mut discovery) {
            record.insert(
                "AccountName".into(),
                json!(format!("acct-{}", &account[8..])),
            );
            record.insert(
                "AccountEmail".into(),
                json!(format!("aws+{account}@example.com")),
            );
            record.insert(
                "AccountArn".into(),
                json!(format!(
                    "arn:aws:organizations::100000000000:account/o-example/{account}"
                )),
            );
            record.insert("AccountStatus".into(), json!("ACTIVE"));
            record.insert("AccountJoinedMethod".into(), json!("CREATED"));
            record.insert(
                "AccountJoinedTimestamp".into(),
                json!(ts(installed - Duration::days(90))),
            );
        }
        let meta = |table: &str| out.join("metadata").join(table).join(&part);
        write(
            meta("discovery").join(format!("{account}-{region}-discovery-cs-{group}.json")),
            format!("{discovery}\n").as_bytes(),
        )?;

        let updated = format!("{}+00:00", ts(exported));
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
        let lines: String = config
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}\n",
                    json!({"Key": k, "Value": v, "MetadataRecordLastUpdatedAt": updated})
                )
            })
            .collect();
        write(
            meta("configuration").join(format!(
                "configuration{account}-{region}-{group}-cs-{group}.json"
            )),
            lines.as_bytes(),
        )?;
        let schedule: String = (0..rng.below(3))
            .map(|i| format!("{}\n", json!({"Key": format!("scale-up-{i}"), "Value": format!("cron(0 {} * * ? *),ec2.schedule.min_instance_count={}", 7 + i, 2 + i), "MetadataRecordLastUpdatedAt": updated})))
            .collect();
        write(
            meta("scheduler").join(format!(
                "scheduler{account}-{region}-{group}-cs-{group}.json"
            )),
            schedule.as_bytes(),
        )?;

        let count = if rng.chance(10) {
            0
        } else {
            rng.below(spec.instances * 2 + 1)
        };
        let mut instances = String::new();
        let mut volumes = String::new();
        for i in 0..count {
            let id = format!("i-{:017x}", rng.next() & 0xfff_ffff_ffff_ffff);
            let (itype, vcpus, mem) = *rng.pick(&TYPES);
            let running = rng.chance(75);
            let subfleet = if !subfleets.is_empty() && rng.chance(30) {
                Some(rng.pick(&subfleets).clone())
            } else {
                None
            };
            let host = format!("{group}-{i:03}");
            let launched = exported - Duration::hours(rng.below(2000) as i64);
            let vol = format!("vol-{:017x}", rng.next() & 0xfff_ffff_ffff_ffff);
            let az = format!("{region}{}", ["a", "b", "c"][i % 3]);
            let mut record = json!({
                "AmiLaunchIndex": 0, "ImageId": "ami-0abcdef1234567890", "InstanceId": id,
                "InstanceType": itype, "KeyName": "ops", "LaunchTime": ts(launched),
                "Monitoring": {"State": "disabled"},
                "Placement": {"AvailabilityZone": az, "GroupName": "", "Tenancy": "default"},
                "PrivateDnsName": format!("ip-10-0-{}-{}.ec2.internal", i / 250, i % 250 + 1),
                "PrivateIpAddress": format!("10.0.{}.{}", i / 250, i % 250 + 1),
                "ProductCodes": [], "PublicDnsName": "",
                "State": if running { json!({"Code": 16, "Name": "running"}) } else { json!({"Code": 80, "Name": "stopped"}) },
                "StateTransitionReason": "", "SubnetId": "subnet-0123456789abcdef0", "VpcId": "vpc-0123456789abcdef0",
                "Architecture": "x86_64",
                "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"AttachTime": ts(launched), "DeleteOnTermination": true, "Status": "attached", "VolumeId": vol}}],
                "ClientToken": "", "EbsOptimized": false, "EnaSupport": true, "Hypervisor": "xen",
                "RootDeviceName": "/dev/xvda", "RootDeviceType": "ebs",
                "SecurityGroups": [{"GroupName": "default", "GroupId": "sg-0123456789abcdef0"}],
                "SourceDestCheck": true,
                "Tags": [{"Key": "Name", "Value": host}, {"Key": "clonesquad:group-name", "Value": group}],
                "VirtualizationType": "hvm", "CpuOptions": {"CoreCount": vcpus / 2, "ThreadsPerCore": 2},
                "CapacityReservationSpecification": {"CapacityReservationPreference": "open"},
                "HibernationOptions": {"Configured": false},
                "MetadataOptions": {"State": "applied", "HttpTokens": "required", "HttpPutResponseHopLimit": 2, "HttpEndpoint": "enabled"},
                "EnclaveOptions": {"Enabled": false}, "PlatformDetails": "Linux/UNIX", "UsageOperation": "RunInstances",
                "_Hostname": host, "_LastStartAttemptTime": ts(launched),
                "_InstanceType": {"InstanceType": itype, "CurrentGeneration": true, "FreeTierEligible": itype == "t3.micro",
                    "SupportedUsageClasses": ["on-demand", "spot"], "BurstablePerformanceSupported": itype.starts_with('t'),
                    "VCpuInfo": {"DefaultVCpus": vcpus, "DefaultCores": vcpus / 2, "DefaultThreadsPerCore": 2},
                    "MemoryInfo": {"SizeInMiB": mem}, "Hypervisor": "nitro"}
            });
            if let (Some(s), Value::Object(r)) = (&subfleet, &mut record) {
                r.insert("_SubfleetName".into(), json!(s));
                if let Some(Value::Array(tags)) = r.get_mut("Tags") {
                    tags.push(json!({"Key": "clonesquad:subfleet-name", "Value": s}));
                }
            }
            instances.push_str(&format!("{record}\n"));
            volumes.push_str(&format!("{}\n", json!({
                "Attachments": [{"AttachTime": ts(launched), "Device": "/dev/xvda", "InstanceId": id, "State": "attached", "VolumeId": vol, "DeleteOnTermination": true}],
                "AvailabilityZone": az, "CreateTime": ts(launched), "Encrypted": rng.chance(60), "Size": 8 * (1 + rng.below(4)),
                "SnapshotId": "", "State": "in-use", "VolumeId": vol, "Iops": 3000, "VolumeType": "gp3", "MultiAttachEnabled": false, "Throughput": 125
            })));
            stats.instances += 1;
        }
        // CloneSquad writes a zero-byte file when the group manages no instance.
        write(
            meta("instances").join(format!(
                "{account}-{region}-managed-instances-cs-{group}.json"
            )),
            instances.as_bytes(),
        )?;
        write(
            meta("volumes").join(format!(
                "{account}-{region}-managed-volumes-cs-{group}.json"
            )),
            volumes.as_bytes(),
        )?;

        if rng.chance(30) {
            let fleets: Vec<String> = std::iter::once("__main__".to_string())
                .chain(subfleets.iter().cloned())
                .collect();
            let start = spec.now + Duration::hours(1 + rng.below(48) as i64);
            let lines: String = fleets.iter().map(|fleet| {
                let window = json!({"WindowId": format!("mw-{:017x}", rng.next() & 0xfff_ffff_ffff_ffff), "Name": format!("CS-{group}"),
                    "Enabled": true, "Duration": 2, "Cutoff": 0, "Schedule": "cron(0 2 ? * SUN *)", "NextExecutionTime": ts(start),
                    "Tags": [{"Key": "clonesquad:group-name", "Value": group}]});
                format!("{}\n", json!({"Fleet": fleet, "IsMaintenanceTime": false, "MaintenanceWindows": [window.clone()],
                    "NextMaintenanceWindowDetails": {"StartTime": ts(start), "EndTime": ts(start + Duration::hours(2)), "MatchingWindow": window,
                        "MatchingWindowMessage": "", "NextWindowMessage": ""},
                    "MetadataRecordLastUpdatedAt": ts(exported)}))
            }).collect();
            write(
                meta("maintenance-windows").join(format!(
                    "{account}-{region}-maintenance-windows-cs-{group}.json"
                )),
                lines.as_bytes(),
            )?;
        }

        let backups = out.join("backups").join(&part);
        for kind in ["configuration", "scheduler"] {
            let yaml = format!("# CloneSquad {kind} backup of {group}\n");
            write(
                backups.join(format!("latest-{account}-{region}-{kind}-cs-{group}.yaml")),
                yaml.as_bytes(),
            )?;
            let stamp = format!("{}+00:00", ts(exported));
            write(
                backups
                    .join("archive")
                    .join(format!("{stamp}-{account}-{region}-{kind}-cs-{group}.yaml")),
                yaml.as_bytes(),
            )?;
        }
        stats.deployments += 1;
    }
    stats.files = written;
    Ok(stats)
}
