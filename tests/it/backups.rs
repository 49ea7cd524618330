//! `cs-cmdb backups` against a bucket on the emulator written by hand: latest backups and their
//! age, `--stale-hours`, archives, the lifecycle rule that bounds them, `--restore-check`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::mirror::{BUCKET, PREFIX, mirror_ok, s3_path};
use crate::support::snapshot::Filters;
use crate::support::tree::{self, Part};
use crate::support::{Moto, block_on, cs_cmdb, stderr_of, stdout_of};

/// A by-hand bucket: A fresh and complete with archives; B stale (uploaded earlier, `now` set
/// so that only B is 24 h old); C with a missing scheduler backup and a corrupt configuration;
/// D with a discovery record but no backup at all. Returns `now`.
fn fixture(moto: &Moto) -> chrono::DateTime<chrono::Utc> {
    let put = |rel: String, body: &[u8]| moto.put(BUCKET, &format!("{PREFIX}/{rel}"), body);
    let a = Part::new("111111111111", "eu-west-1", "web-front");
    let b = Part::new("222222222222", "eu-west-1", "stale-one");
    let c = Part::new("333333333333", "eu-west-1", "broken");
    let d = Part::new("444444444444", "eu-west-1", "no-backup");
    let yaml = b"ec2.schedule.min_instance_count: 2\napp.run_period: 2 minutes\n";
    put(b.latest_backup("configuration"), yaml);
    put(b.latest_backup("scheduler"), b"{}\n");
    std::thread::sleep(Duration::from_millis(2100));
    put(a.latest_backup("configuration"), yaml);
    put(
        a.latest_backup("scheduler"),
        b"scale-up: cron(0 8 * * ? *)\n",
    );
    for stamp in [
        "2026-11-26 08:00:01.123456+00:00",
        "2026-11-26 09:00:01+00:00",
    ] {
        for kind in ["configuration", "scheduler"] {
            put(a.archive(stamp, kind), b"x: 1\n");
        }
    }
    put(c.latest_backup("configuration"), b"key: [unclosed\n  - {\n");
    put(d.discovery(), b"{}");
    let head = block_on(
        moto.s3()
            .head_object()
            .bucket(BUCKET)
            .key(format!("{PREFIX}/{}", a.latest_backup("configuration")))
            .send(),
    )
    .unwrap();
    let lm = head.last_modified().unwrap();
    let a_at = chrono::DateTime::from_timestamp(lm.secs(), 0).unwrap();
    // A is 23:59:59 old, B (written 2 s earlier) over 24 h.
    a_at + chrono::Duration::hours(24) - chrono::Duration::seconds(1)
}

fn backups(moto: &Moto, home: &Path, now: &str, extra: &[&str]) -> assert_cmd::Command {
    let mut cmd = cs_cmdb(home);
    cmd.env("CS_CMDB_NOW", now)
        .args([
            "--endpoint-url",
            &moto.endpoint,
            "--metadata-path",
            &s3_path(),
        ])
        .arg("backups")
        .args(extra);
    cmd
}

/// (exit code, rows by group, stderr).
fn backups_json(
    moto: &Moto,
    home: &Path,
    now: &str,
    extra: &[&str],
) -> (Option<i32>, BTreeMap<String, Value>, String) {
    let out = backups(moto, home, now, extra)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let err = stderr_of(&out);
    let rows: Vec<Value> =
        serde_json::from_str(&stdout_of(&out)).unwrap_or_else(|e| panic!("{e}: {err}"));
    let by_group = rows
        .into_iter()
        .map(|r| (r["group_name"].as_str().unwrap().to_string(), r))
        .collect();
    (out.status.code(), by_group, err)
}

#[test]
fn backups_inventory_lifecycle_and_restore_check() {
    let moto = Moto::start();
    moto.create_bucket(BUCKET);
    let now = fixture(&moto).to_rfc3339();
    let home = tempfile::tempdir().unwrap();

    let (code, by_group, err) = backups_json(&moto, home.path(), &now, &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        by_group.keys().collect::<Vec<_>>(),
        vec!["broken", "no-backup", "stale-one", "web-front"]
    );
    let a = &by_group["web-front"];
    assert_eq!(a["account_id"], "111111111111");
    assert_eq!(a["region"], "eu-west-1");
    assert_eq!(a["age_hours"], 23);
    assert_eq!(a["stale"], false);
    assert_eq!(a["archive_objects"], 4);
    assert_eq!(a["archive_bytes"], 20);
    assert_eq!(a["missing_configuration"], false);
    assert_eq!(a["missing_scheduler"], false);
    assert!(a["latest_configuration_at"].is_string());
    let b = &by_group["stale-one"];
    assert_eq!(b["age_hours"], 24);
    assert_eq!(b["stale"], true);
    assert_eq!(b["archive_objects"], 0);
    let c = &by_group["broken"];
    assert_eq!(c["missing_configuration"], false);
    assert_eq!(c["missing_scheduler"], true);
    assert!(c["latest_scheduler_at"].is_null());
    let d = &by_group["no-backup"];
    assert_eq!(d["missing_configuration"], true);
    assert_eq!(d["missing_scheduler"], true);
    assert!(d["age_hours"].is_null());
    assert_eq!(d["stale"], true);
    assert!(err.contains("NO rule") && err.contains(BUCKET), "{err}");

    // A disabled rule, or one on another prefix, does not count.
    moto.put_lifecycle(
        BUCKET,
        &[
            ("off", "clonesquad/backups/", false),
            ("elsewhere", "logs/", true),
        ],
    );
    let (_, _, err) = backups_json(&moto, home.path(), &now, &[]);
    assert!(err.contains("NO rule"), "{err}");
    // A rule on a narrower prefix that covers every archive key counts.
    moto.put_lifecycle(
        BUCKET,
        &[(
            "one-deployment",
            "clonesquad/backups/accountid=111111111111/",
            true,
        )],
    );
    let (_, _, err) = backups_json(&moto, home.path(), &now, &[]);
    assert!(err.contains("rule `one-deployment`"), "{err}");
    // The recommended rule.
    moto.put_lifecycle(BUCKET, &[("expire-archives", "clonesquad/backups/", true)]);
    // The times are the objects' LastModified, set by the emulator as the fixture was written.
    cs_snapshot!(
        "the_recommended_rule",
        Filters::new().times(),
        backups(&moto, home.path(), &now, &["--format", "csv"])
    );
    let config = moto.sdk_config();
    let path: cs_cmdb::settings::S3Path = s3_path().parse().unwrap();
    let id = block_on(cs_cmdb::backups::archive_lifecycle(&config, &path)).unwrap();
    assert_eq!(id.as_deref(), Some("expire-archives"));

    // --restore-check: the corrupt YAML and the missing files fail, exit 1.
    let (code, by_group, err) = backups_json(&moto, home.path(), &now, &["--restore-check"]);
    assert_eq!(code, Some(1), "{err}");
    let checks: BTreeMap<&str, &str> = by_group
        .iter()
        .map(|(g, r)| (g.as_str(), r["restore_check"].as_str().unwrap()))
        .collect();
    assert_eq!(checks["web-front"], "ok");
    assert_eq!(checks["stale-one"], "ok");
    assert_eq!(
        checks["no-backup"],
        "configuration: missing; scheduler: missing"
    );
    assert!(
        checks["broken"].starts_with("configuration: invalid YAML")
            && checks["broken"].ends_with("; scheduler: missing"),
        "{checks:?}"
    );
    assert!(
        err.contains("restore check: 2 deployment(s) cannot be restored"),
        "{err}"
    );

    // The inventory as a library call.
    let inv = block_on(cs_cmdb::backups::inventory(&config, &path)).unwrap();
    assert_eq!(inv.deployments.len(), 4);
    assert_eq!(inv.archive_keys.len(), 4);

    // The mirror takes the latest backups but no archive.
    let (dir, _) = mirror_ok(&moto, home.path());
    let mirrored = tree::files(&dir);
    assert!(mirrored.contains_key(
        &Part::new("111111111111", "eu-west-1", "web-front").latest_backup("configuration")
    ));
    assert!(mirrored.keys().all(|k| !k.contains("archive")));
}

#[test]
fn stale_hours_sets_the_age_that_is_stale() {
    let moto = Moto::start();
    moto.create_bucket(BUCKET);
    let now = fixture(&moto).to_rfc3339();
    let home = tempfile::tempdir().unwrap();
    let stale = |hours: &str| -> BTreeMap<String, bool> {
        let (code, by_group, err) =
            backups_json(&moto, home.path(), &now, &["--stale-hours", hours]);
        assert_eq!(code, Some(0), "{err}");
        by_group
            .into_iter()
            .map(|(g, r)| (g, r["stale"].as_bool().unwrap()))
            .collect()
    };
    // A is 23 h old, B 24 h; C's one latest backup is as old as A's; D has none.
    let expect = |a: bool, b: bool| {
        BTreeMap::from([
            ("broken".to_string(), a),
            ("no-backup".to_string(), true),
            ("stale-one".to_string(), b),
            ("web-front".to_string(), a),
        ])
    };
    assert_eq!(stale("24"), expect(false, true), "the default");
    assert_eq!(stale("25"), expect(false, false));
    assert_eq!(stale("23"), expect(true, true));
}

/// A negative --stale-hours is a value out of range, not an unknown argument.
#[test]
fn a_negative_stale_hours_is_out_of_range() {
    let home = tempfile::tempdir().unwrap();
    let out = cs_snapshot!(
        "a_negative_stale_hours",
        Filters::new(),
        cs_cmdb(home.path()).args([
            "backups",
            "--metadata-path",
            "s3://bucket/prefix",
            "--stale-hours",
            "-1"
        ])
    );
    assert_eq!(out.status.code(), Some(2));
}
