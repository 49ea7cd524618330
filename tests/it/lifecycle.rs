//! `backups` and `check`'s `archive_lifecycle` judge the same S3 lifecycle rules the same way:
//! both commands run against one emulated bucket, rule set after rule set, and must give the
//! expected verdict (the archives are bounded, or they grow forever).

use std::path::Path;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleAndOperator, LifecycleRuleFilter, NoncurrentVersionExpiration, Tag,
};
use cs_cmdb::bucket::layout::{BackupKind, Partition, Table};

use crate::support::{Moto, block_on, cs_cmdb, stderr_of};

const BUCKET: &str = "cs-lifecycle";
const PREFIX: &str = "clonesquad";

fn deployments() -> [Partition; 2] {
    [
        Partition::new("111111111111", "eu-west-1", "web-front"),
        Partition::new("222222222222", "us-east-1", "api"),
    ]
}

/// The bucket: each deployment's latest backups and two archives; the local copy `check` reads:
/// the discovery records.
fn fixture(moto: &Moto, home: &Path) {
    let s3 = moto.s3();
    block_on(async {
        s3.create_bucket().bucket(BUCKET).send().await.unwrap();
        for p in deployments() {
            let mut keys = vec![p.latest_backup(BackupKind::Configuration)];
            for ts in [
                "2026-11-26 08:00:01.123456+00:00",
                "2026-11-26 09:00:01.654321+00:00",
            ] {
                keys.push(p.archive_backup(BackupKind::Configuration, ts));
            }
            for key in keys {
                s3.put_object()
                    .bucket(BUCKET)
                    .key(format!("{PREFIX}/{key}"))
                    .body(ByteStream::from_static(b"{}\n"))
                    .send()
                    .await
                    .unwrap();
            }
        }
    });
    for p in deployments() {
        let file = home.join("tree").join(p.metadata_file(Table::Discovery));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(
            file,
            r#"{"CloneSquadVersion": "v0.27.1", "MetadataRecordLastUpdatedAt": "2026-11-26 09:00:01"}"#,
        )
        .unwrap();
    }
    std::fs::write(
        home.join("policy.toml"),
        "[[rule]]\nname = \"archives\"\nkind = \"archive_lifecycle\"\nseverity = \"high\"\n",
    )
    .unwrap();
}

fn put_rules(moto: &Moto, rules: Vec<LifecycleRule>) {
    let s3 = moto.s3();
    block_on(async {
        if rules.is_empty() {
            s3.delete_bucket_lifecycle()
                .bucket(BUCKET)
                .send()
                .await
                .unwrap();
        } else {
            s3.put_bucket_lifecycle_configuration()
                .bucket(BUCKET)
                .lifecycle_configuration(
                    BucketLifecycleConfiguration::builder()
                        .set_rules(Some(rules))
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .expect("put lifecycle");
        }
    });
}

fn rule(id: &str, prefix: &str) -> aws_sdk_s3::types::builders::LifecycleRuleBuilder {
    LifecycleRule::builder()
        .id(id)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
}

fn expire(id: &str, prefix: &str) -> LifecycleRule {
    rule(id, prefix)
        .expiration(LifecycleExpiration::builder().days(90).build())
        .build()
        .unwrap()
}

/// `Some(true)`: the command says a rule bounds the archives; `Some(false)`: it says they grow
/// forever; `None`: it said neither.
fn verdicts(moto: &Moto, home: &Path) -> (Option<bool>, Option<bool>, String) {
    let base = [
        "--endpoint-url",
        moto.endpoint.as_str(),
        "--metadata-path",
        "s3://cs-lifecycle/clonesquad",
    ];
    let backups = cs_cmdb(home)
        .args(base)
        .args(["backups", "--format", "json"])
        .output()
        .unwrap();
    let backups_err = stderr_of(&backups);
    let backups_says = if backups_err.contains("lifecycle: NO rule of bucket") {
        Some(false)
    } else if backups_err.contains("lifecycle: rule `") {
        Some(true)
    } else {
        None
    };
    let check = cs_cmdb(home)
        .args(base)
        .args([
            "check",
            "--policy",
            "policy.toml",
            "--source",
            "tree",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let check_says = match check.status.code() {
        Some(0) => Some(true),
        Some(1) => Some(false),
        _ => None,
    };
    let log = format!(
        "backups: {backups_err}\ncheck ({:?}): {}{}",
        check.status.code(),
        String::from_utf8_lossy(&check.stdout),
        stderr_of(&check)
    );
    (backups_says, check_says, log)
}

#[test]
fn backups_and_check_agree_on_lifecycle_coverage() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    fixture(&moto, home.path());
    let backups = format!("{PREFIX}/backups/");
    let account = |a: &str| format!("{PREFIX}/backups/accountid={a}/");

    let cases: Vec<(&str, Vec<LifecycleRule>, bool)> = vec![
        ("no lifecycle configuration", vec![], false),
        (
            "the recommended rule",
            vec![expire("archives", &backups)],
            true,
        ),
        ("a rule on the whole bucket", vec![expire("all", "")], true),
        (
            "a disabled rule",
            vec![
                rule("off", &backups)
                    .status(ExpirationStatus::Disabled)
                    .expiration(LifecycleExpiration::builder().days(90).build())
                    .build()
                    .unwrap(),
            ],
            false,
        ),
        (
            "noncurrent versions only: the archives stay current",
            vec![
                rule("noncurrent", &backups)
                    .noncurrent_version_expiration(
                        NoncurrentVersionExpiration::builder()
                            .noncurrent_days(30)
                            .build(),
                    )
                    .build()
                    .unwrap(),
            ],
            false,
        ),
        (
            "one rule per account, sharing every archive",
            vec![
                expire("first", &account("111111111111")),
                expire("second", &account("222222222222")),
            ],
            true,
        ),
        (
            "one account's rule only",
            vec![expire("first", &account("111111111111"))],
            false,
        ),
        (
            "a tag filter: archives carry no tags",
            vec![
                LifecycleRule::builder()
                    .id("tagged")
                    .status(ExpirationStatus::Enabled)
                    .filter(
                        LifecycleRuleFilter::builder()
                            .and(
                                LifecycleRuleAndOperator::builder()
                                    .prefix(&backups)
                                    .tags(Tag::builder().key("k").value("v").build().unwrap())
                                    .build(),
                            )
                            .build(),
                    )
                    .expiration(LifecycleExpiration::builder().days(90).build())
                    .build()
                    .unwrap(),
            ],
            false,
        ),
        ("another prefix", vec![expire("logs", "logs/")], false),
    ];
    for (case, rules, bounded) in cases {
        put_rules(&moto, rules);
        let (backups_says, check_says, log) = verdicts(&moto, home.path());
        assert_eq!(backups_says, Some(bounded), "{case}: backups\n{log}");
        assert_eq!(check_says, Some(bounded), "{case}: check\n{log}");
    }
}
