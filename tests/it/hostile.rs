//! A hostile member account (issue 12), one poisoned input per case: a generated tree of healthy
//! deployments plus one bad file, or one bad option. Each case asserts that every healthy
//! deployment's answer is unchanged, that the hostile input is reported, and the exit code.

use std::path::{Path, PathBuf};

use crate::support::snapshot::{Filters, Runs};
use crate::support::tree::{GENERATED_AT, generate};
use crate::support::{cs_cmdb, stderr_of, stdout_of};

/// The healthy fleet's answer every case compares against.
const FLEET_SQL: &str = "SELECT accountid, region, groupname, clonesquadversion FROM clonesquad_discovery ORDER BY 1, 2, 3";

/// A home with a generated tree (`tree/`, 6 healthy deployments) and its own cache.
struct Env {
    home: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let home = tempfile::tempdir().unwrap();
        generate(&home.path().join("tree"), 6, 2, 12);
        Self { home }
    }

    fn home(&self) -> &Path {
        self.home.path()
    }

    fn tree(&self) -> PathBuf {
        self.home().join("tree")
    }

    /// `cs-cmdb <args>` at the tree's export time.
    fn cmd(&self, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = cs_cmdb(self.home());
        cmd.env("CS_CMDB_NOW", GENERATED_AT).args(args);
        cmd
    }

    /// `cs-cmdb query --source tree <args>`.
    fn query(&self, args: &[&str]) -> assert_cmd::Command {
        let tree = self.tree();
        let mut cmd = self.cmd(&["query", "--source", tree.to_str().unwrap()]);
        cmd.args(args);
        cmd
    }

    /// The healthy fleet as JSON rows.
    fn fleet(&self) -> String {
        let out = self
            .query(&["--format", "json", "--sql", FLEET_SQL])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
        stdout_of(&out)
    }

    fn filters(&self) -> Filters {
        Filters::new().path(self.home(), "[HOME]")
    }
}

// ---- item 5: SQL is read-only -------------------------------------------------------------

/// Every statement that is not a query is refused before anything runs, from --sql, a query
/// file and a policy `sql` rule; nothing is written, and the fleet still answers.
#[test]
fn sql_that_writes_or_sets_is_refused_before_it_runs() {
    let env = Env::new();
    let before = env.fleet();
    let target = env.home().join("pwned.csv");
    let copy = format!(
        "COPY (SELECT * FROM clonesquad_discovery) TO '{}'",
        target.display()
    );
    let mut runs = Runs::new(env.filters());
    for (title, sql) in [
        ("COPY ... TO a file", copy.as_str()),
        ("SET", "SET datafusion.execution.batch_size = 1"),
        (
            "CREATE TABLE AS",
            "CREATE TABLE t AS SELECT * FROM clonesquad_discovery",
        ),
        ("INSERT", "INSERT INTO clonesquad_discovery VALUES (1)"),
        ("DROP", "DROP TABLE clonesquad_discovery"),
        ("a query then a COPY", &format!("SELECT 1; {copy}")),
        (
            "EXPLAIN ANALYZE of a write",
            "EXPLAIN ANALYZE INSERT INTO t SELECT 1",
        ),
        ("SELECT INTO", "SELECT * INTO t FROM clonesquad_discovery"),
    ] {
        let out = runs.run(title, &mut env.query(&["--sql", sql]));
        assert_eq!(out.status.code(), Some(2), "{title}: {}", stderr_of(&out));
    }
    let file = env.home().join("copy.sql");
    std::fs::write(&file, format!("-- name: exfil\n{copy}\n")).unwrap();
    runs.run(
        "a query file",
        &mut env.query(&["--file", file.to_str().unwrap()]),
    );
    runs.run(
        "on Athena (refused before any request)",
        &mut env.cmd(&["query", "--engine", "athena", "--sql", &copy]),
    );
    let policy = env.home().join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "[[rule]]\nname = \"exfil\"\nkind = \"sql\"\nseverity = \"low\"\nsql = \"\"\"{copy}\"\"\"\n"
        ),
    )
    .unwrap();
    let tree = env.tree();
    let out = runs.run(
        "a policy sql rule",
        &mut env.cmd(&[
            "check",
            "--policy",
            policy.to_str().unwrap(),
            "--source",
            tree.to_str().unwrap(),
        ]),
    );
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!(runs.text());
    assert!(!target.exists(), "the COPY wrote {}", target.display());
    assert_eq!(env.fleet(), before);
}

/// NaN and infinities are not numbers Athena can bind: refused with the parameter's name.
#[test]
fn non_finite_float_parameters_are_refused() {
    let env = Env::new();
    let file = env.home().join("ratio.sql");
    std::fs::write(
        &file,
        "-- name: ratio\n-- param: ratio float | the ratio\nSELECT count(*) AS n FROM clonesquad_discovery WHERE ? > 0.5\n",
    )
    .unwrap();
    let mut runs = Runs::new(env.filters());
    for value in ["NaN", "inf", "-infinity"] {
        let out = runs.run(
            value,
            &mut env.query(&[
                "--file",
                file.to_str().unwrap(),
                "--param",
                &format!("ratio={value}"),
            ]),
        );
        assert_eq!(out.status.code(), Some(2), "{value}");
    }
    let out = runs.run(
        "a finite value",
        &mut env.query(&["--file", file.to_str().unwrap(), "--param", "ratio=0.75"]),
    );
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!(runs.text());
}

// ---- item 2: the gate cannot be evaded ----------------------------------------------------

/// A policy every healthy generated deployment passes.
const EXPORTING: &str = "[[rule]]\nname = \"exporting\"\nkind = \"max_export_age\"\nseverity = \"critical\"\nmax_age = \"26h\"\n";

impl Env {
    /// The generated discovery files, sorted.
    fn discovery_files(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = crate::support::tree::files(&self.tree())
            .into_keys()
            .filter(|rel| rel.starts_with("metadata/discovery/"))
            .map(|rel| self.tree().join(rel))
            .collect();
        out.sort();
        out
    }

    /// Over a tree with files left out, `check` exits 2, and 0 with --allow-incomplete (both
    /// runs added to `runs`).
    fn check_is_incomplete_unless_allowed(&self, runs: &mut Runs) {
        let out = runs.run("check", &mut self.check(EXPORTING, &[]));
        assert_eq!(out.status.code(), Some(2));
        let out = runs.run(
            "check --allow-incomplete",
            &mut self.check(EXPORTING, &["--allow-incomplete"]),
        );
        assert_eq!(out.status.code(), Some(0));
    }

    /// `cs-cmdb check --policy <policy> --source tree <args>` (JSON rows).
    fn check(&self, policy: &str, args: &[&str]) -> assert_cmd::Command {
        let file = self.home().join("policy.toml");
        std::fs::write(&file, policy).unwrap();
        let tree = self.tree();
        let mut cmd = self.cmd(&[
            "check",
            "--policy",
            file.to_str().unwrap(),
            "--source",
            tree.to_str().unwrap(),
        ]);
        cmd.args(args);
        cmd
    }
}

/// Set a discovery record's field, whatever the case of its key (the generator varies it).
fn set_field(path: &Path, field: &str, value: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut record: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text.trim()).unwrap();
    let key = record
        .keys()
        .find(|k| k.eq_ignore_ascii_case(field))
        .cloned()
        .unwrap_or_else(|| field.to_string());
    record.insert(key, serde_json::Value::String(value.to_string()));
    std::fs::write(path, serde_json::to_string(&record).unwrap() + "\n").unwrap();
}

/// A malformed discovery record no longer removes its deployment from the gate: it is a
/// critical violation naming the file and line, in the table, JUnit and SARIF; the healthy
/// deployments answer as before.
#[test]
fn an_unreadable_discovery_record_is_a_violation_not_a_disappearance() {
    let env = Env::new();
    let before = env.fleet();
    let clean = env.check(EXPORTING, &[]).output().unwrap();
    assert_eq!(clean.status.code(), Some(0), "{}", stderr_of(&clean));
    let poisoned = env.discovery_files().remove(0);
    std::fs::write(
        &poisoned,
        "{\"AccountId\": \"100000000000\", \"GroupName\": \"game-servers\", \"MetadataRecordLastUpdatedAt\": \"2020-01-01 00:00:00\"\n",
    )
    .unwrap();
    let out = cs_snapshot!(
        env.filters(),
        env.check(
            EXPORTING,
            &["--junit", "j.xml", "--sarif", "s.sarif", "--format", "json"]
        )
    );
    assert_eq!(out.status.code(), Some(1));
    let junit = std::fs::read_to_string(env.home().join("j.xml")).unwrap();
    assert!(junit.contains("unreadable metadata"), "{junit}");
    let sarif = std::fs::read_to_string(env.home().join("s.sarif")).unwrap();
    assert!(sarif.contains("metadata-readable"), "{sarif}");
    let healthy: Vec<&str> = before
        .lines()
        .filter(|l| !l.contains("game-servers"))
        .collect();
    let after = env.fleet();
    for line in healthy {
        assert!(after.contains(line), "{line} changed: {after}");
    }
}

/// An export time in 2099 passes neither max_export_age nor coverage: "timestamp in the
/// future" beyond the allowed clock skew (5 minutes by default, --clock-skew).
#[test]
fn a_timestamp_in_the_future_is_a_violation() {
    let env = Env::new();
    let files = env.discovery_files();
    set_field(
        &files[1],
        "MetadataRecordLastUpdatedAt",
        "2099-01-01 00:00:00",
    );
    // Within the skew: a clock 4 minutes ahead is no violation.
    set_field(
        &files[2],
        "MetadataRecordLastUpdatedAt",
        "2026-11-26 09:04:00",
    );
    let out = cs_snapshot!(env.filters(), env.check(EXPORTING, &[]));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(err.contains("1 violation"), "{err}");
    let out = env
        .check(EXPORTING, &["--clock-skew", "1m", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout_of(&out).matches("timestamp in the future").count(),
        2
    );
}

/// A key the mirror refuses (here a control character in its name) is a file the gate never
/// saw: `check` exits 2 unless --allow-incomplete, and says why.
#[test]
fn an_incomplete_mirror_fails_the_gate_unless_allowed() {
    use crate::mirror::{BUCKET, PREFIX, s3_path, seeded_bucket};
    let (moto, _src, _files) = seeded_bucket(4);
    moto.put(
        BUCKET,
        &format!("{PREFIX}/metadata/discovery/ctl\u{1}char.json"),
        b"{}",
    );
    let home = tempfile::tempdir().unwrap();
    let policy = home.path().join("policy.toml");
    std::fs::write(&policy, EXPORTING).unwrap();
    let check = |extra: &[&str]| {
        let mut cmd = cs_cmdb(home.path());
        cmd.env("CS_CMDB_NOW", GENERATED_AT)
            .args(["--endpoint-url", &moto.endpoint, "check", "--policy"])
            .arg(&policy)
            .args(["--source", &s3_path()])
            .args(extra);
        cmd
    };
    let filters = Filters::new()
        .path(home.path(), "[HOME]")
        .replace(r"\d+ bytes|\d+(\.\d+)? [KM]i?B", "[SIZE]");
    let mut runs = Runs::new(filters);
    let out = runs.run("without --allow-incomplete", &mut check(&[]));
    assert_eq!(out.status.code(), Some(2));
    let out = runs.run(
        "with --allow-incomplete",
        &mut check(&["--allow-incomplete"]),
    );
    insta::assert_snapshot!(runs.text());
    assert_ne!(out.status.code(), Some(2), "{}", stderr_of(&out));
}

// ---- item 3: no credential can leave ------------------------------------------------------

/// An Organization of `members` member accounts on moto, behind the proxy (the API Gateway
/// stand-in); and its metadata path.
fn apigw_org(
    members: usize,
) -> (
    crate::support::Moto,
    crate::support::proxy::Proxy,
    crate::support::org::SimOrg,
    String,
) {
    let moto = crate::support::Moto::start();
    let proxy = crate::support::proxy::Proxy::start(&moto);
    let sim = crate::support::org::build(&moto, members);
    (
        moto,
        proxy,
        sim,
        crate::support::org::SimOrg::metadata_path(),
    )
}

/// `cs-cmdb export --via apigw` over every region of the simulated Organization, plus `extra`.
fn export_via_apigw(
    home: &Path,
    proxy: &crate::support::proxy::Proxy,
    path: &str,
    extra: &[&str],
) -> std::process::Output {
    use crate::support::org::{self, run};
    let regions = org::REGIONS.join(",");
    let mut args = vec!["--metadata-path", path, "export", "--via", "apigw"];
    args.extend_from_slice(extra);
    args.extend(["--regions", regions.as_str()]);
    run(home, proxy, &args)
}

/// The failure details of an apigw export, with what the emulator picks at random (account
/// ids) and what varies by deployment (region, group) masked; filtered before sorting.
fn apigw_filters() -> Filters {
    Filters::new()
        .account_ids()
        .replace(r"(eu|us|ap|ca|sa|af|me)-[a-z]+-\d", "[REGION]")
        .replace(r"groupname \S+|deployment \S+ in", "deployment [GROUP] in")
        .replace(r"\[REGION\]/[a-z0-9-]+/v1/", "[REGION]/[GROUP]/v1/")
}

/// A member controls `InteractAPIGWUrl`: plain http (here to a listener on 127.0.0.1 that
/// would answer), the instance metadata address, a non-AWS host, a look-alike host and another
/// region's gateway are refused before any request is signed or sent; the healthy deployments
/// are exported through the emulator (`--endpoint-url`, the only override).
#[test]
fn export_via_apigw_sends_the_signed_request_only_to_api_gateway() {
    use crate::support::org::{self, Dep, key, queue_per_target, rows, status_of};
    use std::sync::atomic::Ordering::SeqCst;

    let (moto, proxy, sim, path) = apigw_org(8);
    let deps: Vec<&Dep> = sim.deployments.iter().collect();
    assert!(deps.len() >= 7, "{}", deps.len());
    let hostile: Vec<(&Dep, String)> = vec![
        (
            deps[0],
            format!(
                "{}/apigw/{}/{}/{}/v1/",
                proxy.endpoint, deps[0].account, deps[0].region, deps[0].group
            ),
        ),
        (
            deps[1],
            "https://169.254.169.254/latest/meta-data/iam/security-credentials/".into(),
        ),
        (deps[2], "https://evil.example.com/v1/".into()),
        (
            deps[3],
            format!(
                "https://abcdefghij.execute-api.{}.amazonaws.com.evil.example/v1/",
                deps[3].region
            ),
        ),
        (
            deps[4],
            "https://abcdefghij.execute-api.xx-north-9.amazonaws.com/v1/".into(),
        ),
    ];
    let url_of = |d: &Dep| -> String {
        hostile
            .iter()
            .find(|(h, _)| *h == d)
            .map(|(_, u)| u.clone())
            .unwrap_or_else(|| proxy.apigw_url(&d.account, &d.region, &d.group))
    };
    queue_per_target(&moto, &sim, |d| {
        vec![org::discovery_record(d, &url_of(d), &path)]
    });
    let home = tempfile::tempdir().unwrap();
    let out = export_via_apigw(home.path(), &proxy, &path, &[]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let rows = rows(&out);
    // Every hostile URL refused, every healthy deployment `healthy`.
    let statuses_are = |rows: &[serde_json::Value], healthy: &str| {
        let status = status_of(rows);
        for d in &sim.deployments {
            let bad = hostile.iter().any(|(h, _)| *h == d);
            let expected = if bad {
                ("failed", "invoke-error")
            } else {
                (healthy, "")
            };
            let got = &status[&key(d)];
            assert_eq!((got.0.as_str(), got.1.as_str()), expected, "{d:?}");
        }
    };
    statuses_are(&rows, "ok");
    // Only the healthy deployments' requests reached the stand-in (the plain-http one did not).
    assert_eq!(
        proxy.counters().apigw_ok.load(SeqCst) + proxy.counters().apigw_bad_signature.load(SeqCst),
        sim.deployments.len() - hostile.len()
    );
    // Filtered before sorting: the emulator numbers the accounts at random.
    let filters = apigw_filters();
    let mut details: Vec<String> = rows
        .iter()
        .filter(|r| r["status"] == "failed")
        .map(|r| {
            let detail = r["detail"].as_str().unwrap().to_string();
            assert!(detail.contains("which is refused"), "{detail}");
            filters.apply(&detail)
        })
        .collect();
    details.sort();
    insta::assert_snapshot!(details.join("\n"));

    // A dry run refuses the same URLs the same way, and sends no request at all.
    let sent =
        proxy.counters().apigw_ok.load(SeqCst) + proxy.counters().apigw_bad_signature.load(SeqCst);
    queue_per_target(&moto, &sim, |d| {
        vec![org::discovery_record(d, &url_of(d), &path)]
    });
    let dry = export_via_apigw(home.path(), &proxy, &path, &["--dry-run"]);
    assert_eq!(dry.status.code(), Some(1), "{}", stderr_of(&dry));
    statuses_are(&crate::support::org::rows(&dry), "dry-run");
    assert_eq!(
        proxy.counters().apigw_ok.load(SeqCst) + proxy.counters().apigw_bad_signature.load(SeqCst),
        sent,
        "a dry run sends nothing"
    );
}

// ---- item 1: no single record blocks anything ---------------------------------------------

/// A 40 KB latest backup of 20,000 nested `- ` (it overflowed the stack: abort, exit 134) is
/// one deployment's restore failure; the healthy deployments' checks answer `ok`.
#[test]
fn a_deeply_nested_yaml_backup_is_a_restore_failure_not_a_crash() {
    use crate::mirror::{BUCKET, PREFIX, s3_path, seeded_bucket};
    use crate::support::tree::Part;
    let (moto, _src, files) = seeded_bucket(4);
    let latest: Vec<&String> = files
        .keys()
        .filter(|k| k.contains("/latest-") && k.contains("configuration"))
        .collect();
    assert!(latest.len() >= 3, "{latest:?}");
    let victim = Part::new("100000000000", "eu-west-1", "web-front");
    moto.put(
        BUCKET,
        &format!("{PREFIX}/{}", victim.latest_backup("configuration")),
        "- ".repeat(20_000).as_bytes(),
    );
    let home = tempfile::tempdir().unwrap();
    let out = cs_cmdb(home.path())
        .env("CS_CMDB_NOW", GENERATED_AT)
        .args([
            "--endpoint-url",
            &moto.endpoint,
            "--metadata-path",
            &s3_path(),
            "backups",
            "--restore-check",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout_of(&out)).unwrap();
    let mut failed = 0;
    for row in &rows {
        let check = row["restore_check"].as_str().unwrap();
        if row["group_name"] == "web-front" && row["account_id"] == "100000000000" {
            assert!(
                check.contains("configuration: invalid YAML: nested deeper than 64 levels"),
                "{check}"
            );
            failed += 1;
        } else if check != "ok" {
            // The generator leaves some deployments without backups; those fail as before.
            assert!(check.contains("missing"), "{row}");
        }
    }
    assert_eq!(failed, 1, "{rows:?}");
}

/// An object above `max-object-bytes` is not downloaded (the mirror streams to disk and stops
/// at the cap): it is reported with its key, the query exits 1 as for any incomplete mirror,
/// and the healthy deployments answer as before.
#[test]
fn an_object_above_the_size_cap_is_reported_not_mirrored() {
    use crate::mirror::{BUCKET, PREFIX, s3_path, seeded_bucket};
    let (moto, _src, _files) = seeded_bucket(4);
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("cs-cmdb.toml"),
        "max-object-bytes = 1000000\n",
    )
    .unwrap();
    let fleet = |home: &Path| {
        cs_cmdb(home)
            .env("CS_CMDB_NOW", GENERATED_AT)
            .args(["--endpoint-url", &moto.endpoint, "--format", "json"])
            .args(["query", "--source", &s3_path(), "--sql", FLEET_SQL])
            .output()
            .unwrap()
    };
    let before = fleet(home.path());
    assert_eq!(before.status.code(), Some(0), "{}", stderr_of(&before));
    let mut big = String::from(
        r#"{"AccountId": "999999999999", "GroupName": "big", "CloneSquadVersion": "v0.27.1", "MetadataRecordLastUpdatedAt": "2026-11-26 08:00:00"}"#,
    );
    big.push_str(&" ".repeat(2_000_000));
    big.push('\n');
    moto.put(
        BUCKET,
        &format!("{PREFIX}/metadata/discovery/accountid=999999999999/region=eu-west-1/groupname=big/999999999999-eu-west-1-discovery-cs-big.json"),
        big.as_bytes(),
    );
    let out = fleet(home.path());
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("groupname=big/999999999999-eu-west-1-discovery-cs-big.json")
            && err.contains("above the cap of 1000000 (`max-object-bytes` in cs-cmdb.toml)"),
        "{err}"
    );
    assert_eq!(stdout_of(&out), stdout_of(&before));
}

// ---- item 6: local integrity -----------------------------------------------------------------

/// In a `--source` tree: a symbolic link to a record outside the tree, a FIFO, a folder where a
/// file is expected, an empty partition value and a name that is not UTF-8 are each reported
/// (and never read); the fleet answers as before; `check` exits 2 on such a partial read unless
/// --allow-incomplete. (A link to a file inside the table folder is read.)
#[cfg(unix)]
#[test]
fn special_files_and_links_in_a_source_tree_are_reported_not_read() {
    use std::os::unix::ffi::OsStrExt;
    let env = Env::new();
    let before = env.fleet();
    let files = env.discovery_files();
    let part = files[0].parent().unwrap().to_path_buf();
    let outside = env.home().join("outside.json");
    std::fs::write(
        &outside,
        r#"{"AccountId": "999999999999", "GroupName": "outside", "CloneSquadVersion": "v0.27.1", "MetadataRecordLastUpdatedAt": "2026-11-26 08:00:00"}"#,
    )
    .unwrap();
    std::os::unix::fs::symlink(&outside, part.join("outside.json")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", part.join("passwd.json")).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(part.join("fifo.json"))
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::create_dir(part.join("folder.json")).unwrap();
    let table = part.parent().unwrap().parent().unwrap().parent().unwrap();
    std::fs::create_dir_all(table.join("accountid=/region=eu-west-1/groupname=x")).unwrap();
    let bad_name = std::ffi::OsStr::from_bytes(b"bad-\xff-name.json");
    std::fs::write(part.join(bad_name), "{}\n").unwrap();

    let mut runs = Runs::new(env.filters());
    let out = runs.run(
        "query",
        &mut env.query(&["--format", "json", "--sql", FLEET_SQL]),
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout_of(&out), before);
    env.check_is_incomplete_unless_allowed(&mut runs);
    insta::assert_snapshot!(runs.text());
}

/// A symbolic link planted in the mirror (here its whole `metadata` folder, pointing at a folder
/// of the user's) is removed, never written through, and the sweep never deletes in its target.
#[cfg(unix)]
#[test]
fn the_mirror_never_writes_or_deletes_through_a_link() {
    use crate::mirror::{BUCKET, PREFIX, mirror_ok, seeded_bucket};
    let (moto, _src, files) = seeded_bucket(3);
    let home = tempfile::tempdir().unwrap();
    let (dir, _) = mirror_ok(&moto, home.path());
    let victim = home.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(victim.join("keep.txt"), "precious").unwrap();
    std::fs::remove_dir_all(dir.join("metadata")).unwrap();
    std::os::unix::fs::symlink(&victim, dir.join("metadata")).unwrap();
    moto.put(
        BUCKET,
        &format!("{PREFIX}/metadata/discovery/accountid=123456789012/region=eu-west-1/groupname=new/123456789012-eu-west-1-discovery-cs-new.json"),
        b"{}\n",
    );
    let (dir, err) = mirror_ok(&moto, home.path());
    assert_eq!(
        std::fs::read_to_string(victim.join("keep.txt")).unwrap(),
        "precious",
        "{err}"
    );
    let in_victim: Vec<String> = crate::support::tree::files(&victim).into_keys().collect();
    assert_eq!(in_victim, ["keep.txt"], "{err}");
    assert!(
        !std::fs::symlink_metadata(dir.join("metadata"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let mirrored = crate::support::tree::files(&dir);
    for rel in files.keys().filter(|k| k.starts_with("metadata/")) {
        assert!(mirrored.contains_key(rel), "{rel} missing: {err}");
    }
}

/// Keys that cannot both exist on disk (`x` and `x/child`) or whose name is too long for the
/// file system: the first is kept, the other refused and reported; the mirror no longer fails
/// (it failed every run), and the fleet answers as before.
#[test]
fn colliding_and_overlong_keys_keep_the_first_and_are_reported() {
    use crate::mirror::{BUCKET, PREFIX, mirror_ok, seeded_bucket};
    let (moto, _src, files) = seeded_bucket(3);
    let first = files
        .keys()
        .find(|k| k.starts_with("metadata/discovery/"))
        .unwrap()
        .clone();
    moto.put(BUCKET, &format!("{PREFIX}/{first}/child.json"), b"{}\n");
    let long = format!(
        "metadata/discovery/accountid=123456789012/region=eu-west-1/groupname=g/{}.json",
        "n".repeat(300)
    );
    moto.put(BUCKET, &format!("{PREFIX}/{long}"), b"{}\n");
    let home = tempfile::tempdir().unwrap();
    for run in 0..2 {
        let (dir, err) = mirror_ok(&moto, home.path());
        assert!(
            err.contains("child.json") && err.contains("it collides with another key"),
            "run {run}: {err}"
        );
        assert!(err.contains(&"n".repeat(300)), "run {run}: {err}");
        let body = std::fs::read(dir.join(&first)).unwrap();
        assert_eq!(&body, &files[&first], "run {run}");
    }
}

/// A cache data file damaged in the middle (its end intact, so it looks current) is found when
/// read, said, and rebuilt from the source: the answer is the same.
#[test]
fn a_cache_file_damaged_in_the_middle_is_rebuilt_and_said() {
    let env = Env::new();
    let before = env.fleet();
    let data: Vec<PathBuf> = crate::support::tree::files(&env.home().join("cache"))
        .into_keys()
        .filter(|rel| rel.contains("clonesquad_discovery") && rel.ends_with(".arrow"))
        .map(|rel| env.home().join("cache").join(rel))
        .collect();
    assert_eq!(data.len(), 1, "{data:?}");
    let mut bytes = std::fs::read(&data[0]).unwrap();
    let len = bytes.len();
    for b in &mut bytes[len / 8..len - 64] {
        *b = 0xff;
    }
    std::fs::write(&data[0], &bytes).unwrap();
    let out = env
        .query(&["--format", "json", "--sql", FLEET_SQL])
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("is rebuilt from the source"), "{err}");
    assert_eq!(stdout_of(&out), before);
    // Said once: the next run reads the rebuilt cache quietly.
    let out = env
        .query(&["--format", "json", "--sql", FLEET_SQL])
        .output()
        .unwrap();
    assert_eq!(stderr_of(&out), "");
    assert_eq!(stdout_of(&out), before);
}

/// Cache files of killed runs (an older generation, a `.tmp` of a process that is gone) are
/// removed when the table is next rebuilt; the answer is unchanged.
#[test]
fn orphaned_cache_files_are_removed() {
    let env = Env::new();
    let before = env.fleet();
    let manifest: PathBuf = crate::support::tree::files(&env.home().join("cache"))
        .into_keys()
        .find(|rel| rel.ends_with("clonesquad_discovery.manifest"))
        .map(|rel| env.home().join("cache").join(rel))
        .unwrap();
    let dir = manifest.parent().unwrap();
    let old = dir.join("clonesquad_discovery.1-1.arrow");
    let tmp = dir.join("clonesquad_discovery.4000000-2.arrow.tmp");
    std::fs::write(&old, "old generation").unwrap();
    std::fs::write(&tmp, "killed mid-write").unwrap();
    // A changed source file: the table is rebuilt.
    let file = &env.discovery_files()[0];
    let text = std::fs::read_to_string(file).unwrap();
    std::fs::write(file, format!("{text}\n")).unwrap();
    assert_eq!(env.fleet(), before);
    assert!(!old.exists() && !tmp.exists());
    let arrows = std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            let name = name.to_string_lossy();
            name.starts_with("clonesquad_discovery.") && name.ends_with(".arrow")
        })
        .count();
    assert_eq!(arrows, 1);
}

// ---- check's outputs: nothing untrusted starts a line ----------------------------------------

/// A version string carrying a newline, a GitHub workflow command and a terminal escape, read
/// by a min_version rule and returned raw by a policy `sql` rule: no line of the table, the
/// summary, the JUnit or the SARIF report starts with `::`, and no raw control character is
/// written anywhere.
#[test]
fn a_forged_workflow_command_never_starts_a_line_of_checks_reports() {
    let env = Env::new();
    let file = &env.discovery_files()[0];
    set_field(
        file,
        "CloneSquadVersion",
        "v0.1.0\n::error title=forged::pwned\u{1b}]0;owned\u{7}",
    );
    let policy = "[[rule]]\nname = \"ver\"\nkind = \"min_version\"\nseverity = \"high\"\nversion = \"v0.27.0\"\n\n[[rule]]\nname = \"sqlv\"\nkind = \"sql\"\nseverity = \"low\"\nsql = \"SELECT accountid, region, clonesquadversion AS groupname, clonesquadversion AS detail FROM clonesquad_discovery WHERE clonesquadversion LIKE '%error%'\"\n";
    for format in ["table", "csv", "json", "markdown"] {
        let out = env
            .check(
                policy,
                &["--format", format, "--junit", "j.xml", "--sarif", "s.sarif"],
            )
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
        let junit = std::fs::read_to_string(env.home().join("j.xml")).unwrap();
        let sarif: serde_json::Value =
            serde_json::from_slice(&std::fs::read(env.home().join("s.sarif")).unwrap()).unwrap();
        let mut texts = vec![
            ("stdout", stdout_of(&out)),
            ("stderr", stderr_of(&out)),
            ("junit", junit.replace("&#10;", "\n").replace("&#xA;", "\n")),
        ];
        for result in sarif["runs"][0]["results"].as_array().unwrap() {
            texts.push((
                "sarif",
                result["message"]["text"].as_str().unwrap().to_string(),
            ));
        }
        assert!(texts.iter().any(|(_, t)| t.contains("forged")));
        for (what, text) in &texts {
            for line in text.lines() {
                assert!(
                    !line
                        .trim_start_matches(['│', '|', ' ', '"', ','])
                        .starts_with("::"),
                    "{format} {what}: {line}"
                );
            }
            assert!(
                !text.contains(['\u{1b}', '\u{7}']),
                "{format} {what}: a raw control character"
            );
        }
    }
}

// ---- the caps: what one account's files may cost ---------------------------------------------

/// The fleet's rows without the deployment whose file is `file`.
fn fleet_without(fleet: &str, file: &Path) -> Vec<serde_json::Value> {
    let value = |key: &str| -> String {
        file.iter()
            .filter_map(|s| s.to_str()?.strip_prefix(&format!("{key}=")))
            .next()
            .unwrap()
            .to_string()
    };
    let part = (value("accountid"), value("region"), value("groupname"));
    let rows: Vec<serde_json::Value> = serde_json::from_str(fleet).unwrap();
    rows.into_iter()
        .filter(|r| {
            (
                r["accountid"].as_str(),
                r["region"].as_str(),
                r["groupname"].as_str(),
            ) != (
                Some(part.0.as_str()),
                Some(part.1.as_str()),
                Some(part.2.as_str()),
            )
        })
        .collect()
}

/// A line longer than `max-line-bytes` is a bad line of its file (file:line, never parsed): the
/// query answers for the others, `check` makes it a `metadata-readable` violation; under another
/// cap the cache is rebuilt (nothing read under one cap is kept under another).
#[test]
fn a_line_above_the_line_cap_is_a_bad_line_and_another_cap_rebuilds_the_cache() {
    let env = Env::new();
    let before = env.fleet();
    let poisoned = env.discovery_files().remove(0);
    set_field(&poisoned, "Padding", &"x".repeat(20_000));
    let config = env.home().join("cs-cmdb.toml");
    std::fs::write(&config, "max-line-bytes = 10000\n").unwrap();
    let mut runs = Runs::new(env.filters());
    let fleet_query = ["--format", "json", "--sql", FLEET_SQL];
    let out = runs.run(
        "query, max-line-bytes = 10000",
        &mut env.query(&fleet_query),
    );
    assert_eq!(out.status.code(), Some(0));
    let err = stderr_of(&out);
    assert!(err.contains("exceeds the cap of 10000 bytes"), "{err}");
    let healthy = fleet_without(&before, &poisoned);
    let answer: Vec<serde_json::Value> = serde_json::from_str(&stdout_of(&out)).unwrap();
    assert_eq!(answer, healthy);
    let out = runs.run(
        "check, max-line-bytes = 10000",
        &mut env.check(EXPORTING, &[]),
    );
    assert_eq!(out.status.code(), Some(1));
    // The default cap (32 MiB), the tree and its stamps unchanged: the line is read.
    std::fs::remove_file(&config).unwrap();
    let out = runs.run("query, the default cap", &mut env.query(&fleet_query));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout_of(&out), before);
    insta::assert_snapshot!(runs.text());
}

/// A file of a `--source` tree larger than `max-object-bytes` is not read: said with its path,
/// size and the cap; the query answers for the others; `check` exits 2 unless
/// --allow-incomplete.
#[test]
fn a_source_file_above_the_size_cap_is_reported_not_read() {
    let env = Env::new();
    let before = env.fleet();
    let poisoned = env.discovery_files().remove(0);
    set_field(&poisoned, "Padding", &"x".repeat(200_000));
    std::fs::write(
        env.home().join("cs-cmdb.toml"),
        "max-object-bytes = 100000\n",
    )
    .unwrap();
    let mut runs = Runs::new(env.filters());
    let out = runs.run(
        "query",
        &mut env.query(&["--format", "json", "--sql", FLEET_SQL]),
    );
    assert_eq!(out.status.code(), Some(0));
    let err = stderr_of(&out);
    assert!(
        err.contains("above the cap of 100000 (`max-object-bytes` in cs-cmdb.toml)"),
        "{err}"
    );
    let answer: Vec<serde_json::Value> = serde_json::from_str(&stdout_of(&out)).unwrap();
    assert_eq!(answer, fleet_without(&before, &poisoned));
    env.check_is_incomplete_unless_allowed(&mut runs);
    insta::assert_snapshot!(runs.text());
}

// ---- the cache -------------------------------------------------------------------------------

/// A rebuild that fails after writing its data file (a fault injected before the manifest names
/// it) leaves no new data file behind; the next run rebuilds and answers as before.
#[test]
fn a_rebuild_that_fails_leaves_no_partial_cache_file() {
    let env = Env::new();
    let before = env.fleet();
    let cache = env.home().join("cache");
    let data_files = || -> Vec<String> {
        crate::support::tree::files(&cache)
            .into_keys()
            .filter(|rel| rel.ends_with(".arrow") || rel.ends_with(".arrow.tmp"))
            .collect()
    };
    let was = data_files();
    assert!(!was.is_empty());
    // A changed source file: the discovery table is rebuilt.
    let file = &env.discovery_files()[0];
    let text = std::fs::read_to_string(file).unwrap();
    std::fs::write(file, format!("{text}\n")).unwrap();
    let out = env
        .query(&["--format", "json", "--sql", FLEET_SQL])
        .env("CS_CMDB_TEST_CACHE_FAULT", "manifest")
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("injected fault"), "{err}");
    assert_eq!(data_files(), was, "{err}");
    assert_eq!(env.fleet(), before);
}

// ---- CI logs diff cleanly ---------------------------------------------------------------------

/// A mirror run's warnings (keys refused while listing, a download refused above the size cap
/// while downloading concurrently) come out sorted by key, whatever order they happened in.
#[test]
fn mirror_warnings_come_out_sorted_by_key() {
    use crate::mirror::{BUCKET, PREFIX, s3_path, seeded_bucket};
    let (moto, _src, _files) = seeded_bucket(3);
    let mut big = String::from(r#"{"AccountId": "999999999999", "GroupName": "big"}"#);
    big.push_str(&" ".repeat(200_000));
    for (key, body) in [
        ("metadata/instances/ctl\u{1}char.json", &b"{}\n"[..]),
        ("metadata/discovery/back\\slash.json", &b"{}\n"[..]),
        (
            "metadata/discovery/accountid=999999999999/region=eu-west-1/groupname=big/999999999999-eu-west-1-discovery-cs-big.json",
            big.as_bytes(),
        ),
    ] {
        moto.put(BUCKET, &format!("{PREFIX}/{key}"), body);
    }
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("cs-cmdb.toml"),
        "max-object-bytes = 100000\n",
    )
    .unwrap();
    let mut cmd = cs_cmdb(home.path());
    cmd.args([
        "--endpoint-url",
        &moto.endpoint,
        "--metadata-path",
        &s3_path(),
    ])
    .args(["mirror", "--cache-dir"])
    .arg(home.path().join("cache"));
    let filters = Filters::new().path(home.path(), "[HOME]");
    let out = cs_snapshot!(filters, cmd);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    let at = |needle: &str| {
        err.find(needle)
            .unwrap_or_else(|| panic!("no {needle} in {err}"))
    };
    assert!(
        at("groupname=big") < at("back\\\\slash") && at("back\\\\slash") < at("ctl"),
        "{err}"
    );
}

// ---- the apigw guard follows no redirect ------------------------------------------------------

/// A stand-in gateway answering 302 or 307 with a `Location` elsewhere on the same loopback
/// server: exactly one request per such deployment, nothing fetched from the `Location`, and the
/// deployment fails `invoke-error` saying the redirect was not followed and what to check.
#[test]
fn export_via_apigw_follows_no_redirect() {
    use crate::support::org::{self, key, queue_per_target, rows, status_of};

    let (moto, proxy, sim, path) = apigw_org(3);
    assert!(sim.deployments.len() >= 3, "{}", sim.deployments.len());
    let redirected = [(&sim.deployments[0], 302), (&sim.deployments[1], 307)];
    proxy.faults(|f| {
        for (d, status) in redirected {
            f.redirect.insert(
                (d.account.clone(), d.region.clone(), d.group.clone()),
                status,
            );
        }
    });
    queue_per_target(&moto, &sim, |d| {
        vec![org::discovery_record(
            d,
            &proxy.apigw_url(&d.account, &d.region, &d.group),
            &path,
        )]
    });
    let home = tempfile::tempdir().unwrap();
    let out = export_via_apigw(home.path(), &proxy, &path, &[]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let rows = rows(&out);
    let status = status_of(&rows);
    let exchanges = proxy.server.exchanges();
    for (d, code) in redirected {
        assert_eq!(
            status[&key(d)],
            ("failed".to_string(), "invoke-error".to_string()),
            "{d:?}"
        );
        let prefix = format!("/apigw/{}/{}/{}/", d.account, d.region, d.group);
        let sent = exchanges
            .iter()
            .filter(|e| e.request.path().starts_with(&prefix))
            .count();
        assert_eq!(sent, 1, "{d:?} ({code})");
    }
    assert!(
        !exchanges
            .iter()
            .any(|e| e.request.path().starts_with("/moved/")),
        "a redirect was followed"
    );
    let filters = apigw_filters().replace(r"\(\S+ in \[ACCOUNT_ID\]", "([GROUP] in [ACCOUNT_ID]");
    let mut details: Vec<String> = rows
        .iter()
        .filter(|r| r["status"] == "failed")
        .map(|r| filters.apply(r["detail"].as_str().unwrap()))
        .collect();
    details.sort();
    assert_eq!(details.len(), 2, "{details:?}");
    insta::assert_snapshot!(details.join("\n"));
}

// ---- check: a duplicated required key is ambiguous --------------------------------------------

/// A UserSuppliedJSONMetadata holding a required key twice (readers disagree on which one
/// counts) is a violation of that deployment, its text escaped; the others' results unchanged.
#[test]
fn a_duplicated_required_metadata_key_is_a_violation() {
    let env = Env::new();
    let policy = "[[rule]]\nname = \"meta\"\nkind = \"required_user_metadata\"\nseverity = \"high\"\nkeys = [\"Owner\", \"CostCenter\"]\n";
    let results = |out: &std::process::Output| -> Vec<serde_json::Value> {
        serde_json::from_str(&stdout_of(out)).unwrap()
    };
    let clean = env.check(policy, &["--format", "json"]).output().unwrap();
    let poisoned = env.discovery_files().remove(0);
    set_field(
        &poisoned,
        "UserSuppliedJSONMetadata",
        r#"{"Owner": "alice", "CostCenter": "42", "Owner": "\u001b]0;mallory\u0007"}"#,
    );
    let out = cs_snapshot!(env.filters(), env.check(policy, &["--format", "json"]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let group = |r: &serde_json::Value| r["group"].as_str().unwrap_or("").to_string();
    let poisoned_group = poisoned
        .iter()
        .filter_map(|s| s.to_str()?.strip_prefix("groupname="))
        .next()
        .unwrap()
        .to_string();
    let (mine, others): (Vec<_>, Vec<_>) = results(&out)
        .into_iter()
        .partition(|r| group(r) == poisoned_group);
    let before: Vec<_> = results(&clean)
        .into_iter()
        .filter(|r| group(r) != poisoned_group)
        .collect();
    assert_eq!(others, before);
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(
        mine[0]["detail"],
        "UserSuppliedJSONMetadata has the key Owner 2 times; the first is read, as Athena's json_extract does: remove the duplicates"
    );
}
