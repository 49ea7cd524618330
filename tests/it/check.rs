//! `cs-cmdb check`: every rule kind on fixture trees with known answers, exemptions, the severity
//! threshold and exit codes, JUnit and SARIF read back, and the AWS-backed rules on the emulator.

use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::support::snapshot::{Filters, Runs};
use crate::support::tree::Tree;
use crate::support::{MAIN_ACCOUNT, Moto, block_on, cs_cmdb, stderr_of, stdout_of};

const NOW: &str = "2026-11-26T10:00:00Z";
/// NOW as seconds since the epoch.
const NOW_EPOCH: u64 = 1_795_687_200;

/// One deployment's discovery record, in CloneSquad's layout.
fn deployment(
    root: &Path,
    account: &str,
    region: &str,
    group: &str,
    version: &str,
    export: &str,
    meta: &str,
) {
    Tree::new(root)
        .deployment(account, region, group)
        .discovery(json!({
            "AccountId": account, "GroupName": group, "CloneSquadVersion": version,
            "InstallTime": "2026-01-01 10:00:00", "MetadataRecordLastUpdatedAt": export,
            "Subfleets": [], "UserSuppliedJSONMetadata": meta,
        }));
}

/// A latest backup YAML whose modification time is `hours_old` before NOW (as `mirror` sets it).
fn backup(root: &Path, account: &str, region: &str, group: &str, kind: &str, hours_old: u64) {
    Tree::new(root)
        .deployment(account, region, group)
        .latest_backup(
            kind,
            &format!("# {kind} backup of {group}\n"),
            SystemTime::UNIX_EPOCH + Duration::from_secs(NOW_EPOCH - hours_old * 3600),
        );
}

const A: (&str, &str, &str) = ("111111111111", "eu-west-1", "web-front");
const B: (&str, &str, &str) = ("222222222222", "us-east-1", "api-2");
const C: (&str, &str, &str) = ("333333333333", "ap-southeast-2", "batch");
const D: (&str, &str, &str) = ("111111111111", "eu-central-1", "web-front");

/// Four deployments:
/// - A: v0.27.1, exported 2 h ago, Owner and CostCenter, fresh backups.
/// - B: v0.9.2 (below v0.27.0 semantically, above it as a string), exported 6 days ago, empty
///   user metadata, a 6-day-old configuration backup and no scheduler backup.
/// - C: v0.100.0 (above v0.27.0 semantically, below it as a string), in ap-southeast-2, Owner
///   empty and CostCenter missing, fresh backups.
/// - D: v0.27.0 in eu-central-1, complete metadata, backups 25 h old (within 26h).
fn fixture(root: &Path) {
    let owner_cc = r#"{"Owner": "team-a", "CostCenter": "42"}"#;
    deployment(
        root,
        A.0,
        A.1,
        A.2,
        "v0.27.1",
        "2026-11-26 08:00:00",
        owner_cc,
    );
    deployment(root, B.0, B.1, B.2, "v0.9.2", "2026-11-20 09:59:59.5", "");
    deployment(
        root,
        C.0,
        C.1,
        C.2,
        "v0.100.0",
        "2026-11-26 09:30:00",
        r#"{"Owner": ""}"#,
    );
    deployment(
        root,
        D.0,
        D.1,
        D.2,
        "v0.27.0",
        "2026-11-26 09:00:00",
        owner_cc,
    );
    for (dep, hours) in [(A, 1), (C, 2), (D, 25)] {
        backup(root, dep.0, dep.1, dep.2, "configuration", hours);
        backup(root, dep.0, dep.1, dep.2, "scheduler", hours);
    }
    backup(root, B.0, B.1, B.2, "configuration", 144);
}

const ALL_KINDS: &str = r#"
[[rule]]
name = "supported-version"
kind = "min_version"
severity = "high"
version = "v0.27.0"

[[rule]]
name = "exporting"
kind = "max_export_age"
severity = "critical"
max_age = "26h"

[[rule]]
name = "ownership"
kind = "required_user_metadata"
severity = "medium"
keys = ["Owner", "CostCenter"]

[[rule]]
name = "regions"
kind = "allowed_regions"
severity = "low"
regions = ["eu-west-1", "us-east-1"]

[[rule]]
name = "backups"
kind = "max_backup_age"
severity = "high"
max_age = "26h"

[[rule]]
name = "pinned"
kind = "sql"
severity = "low"
sql = """
SELECT accountid, region, groupname, 'pinned <v0.27.0> & "old"' AS detail
FROM clonesquad_discovery WHERE clonesquadversion = 'v0.27.0'
"""
"#;

struct Env {
    home: tempfile::TempDir,
}

impl Env {
    fn new(policy: &str) -> Self {
        let home = tempfile::tempdir().unwrap();
        fixture(&home.path().join("tree"));
        std::fs::write(home.path().join("policy.toml"), policy).unwrap();
        Self { home }
    }

    fn path(&self, rel: &str) -> std::path::PathBuf {
        self.home.path().join(rel)
    }

    /// `check --policy policy.toml --source tree ARGS`, at NOW.
    fn cmd(&self, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = cs_cmdb(self.home.path());
        cmd.env("CS_CMDB_NOW", NOW)
            .args(["check", "--policy", "policy.toml", "--source", "tree"])
            .args(args);
        cmd
    }

    fn check(&self, args: &[&str]) -> std::process::Output {
        self.cmd(args).output().unwrap()
    }

    fn json(&self, args: &[&str]) -> (Option<i32>, Vec<Value>, String) {
        let out = self.check(&[args, &["--format", "json"]].concat());
        let rows = serde_json::from_str(&stdout_of(&out))
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout_of(&out), stderr_of(&out)));
        (out.status.code(), rows, stderr_of(&out))
    }
}

fn keys(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|r| {
            format!(
                "{} {} {}/{}/{}",
                r["rule"].as_str().unwrap(),
                r["severity"].as_str().unwrap(),
                r["account"].as_str().unwrap_or("-"),
                r["region"].as_str().unwrap_or("-"),
                r["group"].as_str().unwrap_or("-")
            )
        })
        .collect()
}

fn detail<'a>(rows: &'a [Value], rule: &str, account: &str, region: &str) -> &'a str {
    rows.iter()
        .find(|r| r["rule"] == rule && r["account"] == account && r["region"] == region)
        .and_then(|r| r["detail"].as_str())
        .unwrap_or_else(|| panic!("no {rule} violation for {account}/{region}"))
}

#[test]
fn every_deployment_rule_kind_has_known_answers() {
    let env = Env::new(ALL_KINDS);
    let (code, rows, err) = env.json(&[]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        keys(&rows),
        [
            "exporting critical 222222222222/us-east-1/api-2",
            "supported-version high 222222222222/us-east-1/api-2",
            "backups high 222222222222/us-east-1/api-2",
            "ownership medium 222222222222/us-east-1/api-2",
            "ownership medium 333333333333/ap-southeast-2/batch",
            "regions low 111111111111/eu-central-1/web-front",
            "regions low 333333333333/ap-southeast-2/batch",
            "pinned low 111111111111/eu-central-1/web-front",
        ],
        "most severe first, then policy order; v0.100.0 passes and v0.9.2 fails (semantic order)"
    );
    assert_eq!(
        detail(&rows, "supported-version", B.0, B.1),
        "runs v0.9.2, below the minimum v0.27.0"
    );
    assert_eq!(
        detail(&rows, "exporting", B.0, B.1),
        "last export 2026-11-20 09:59:59.500 UTC, 6d ago (limit 26h)"
    );
    assert!(detail(&rows, "ownership", B.0, B.1).contains("UserSuppliedJSONMetadata is empty"));
    assert_eq!(
        detail(&rows, "ownership", C.0, C.1),
        "UserSuppliedJSONMetadata missing key(s): CostCenter; empty key(s): Owner"
    );
    let backups = detail(&rows, "backups", B.0, B.1);
    assert!(
        backups.contains(
            "latest configuration backup is 6d old, written 2026-11-20 10:00:00 UTC (limit 26h)"
        ),
        "{backups}"
    );
    assert!(
        backups.contains("no latest scheduler backup (accountid=222222222222/region=us-east-1/groupname=api-2/latest-222222222222-us-east-1-scheduler-cs-api-2.yaml)"),
        "{backups}"
    );
    assert_eq!(
        detail(&rows, "pinned", D.0, D.1),
        "pinned <v0.27.0> & \"old\""
    );
    assert!(
        err.contains("check: 6 rules over 4 deployments: 8 violations (1 critical, 2 high, 2 medium, 3 low); FAILED at --fail-on low"),
        "{err}"
    );

    // The same table in the other formats.
    let csv = env.check(&["--format", "csv"]);
    assert!(stdout_of(&csv).starts_with("rule,severity,account,region,group,detail\nexporting,critical,222222222222,us-east-1,api-2,"));
    let md = env.check(&["--format", "markdown"]);
    assert!(stdout_of(&md).starts_with("| rule | severity | account | region | group | detail |"));
}

/// The policy's statements are said to the engine ahead: the discovery table, read by the
/// deployments' facts, the ownership rule (UserSuppliedJSONMetadata) and the SQL rule, each
/// reading other columns, is parsed once, with the columns they all read.
#[test]
fn the_rules_statements_load_each_table_once() {
    let env = Env::new(ALL_KINDS);
    let out = env
        .cmd(&[])
        .env("CS_CMDB_LOG", "cs_cmdb=debug")
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let builds = err
        .lines()
        .filter(|l| l.contains("cache rebuilt") && l.contains("table=clonesquad_discovery"))
        .count();
    assert_eq!(builds, 1, "{err}");
}

#[test]
fn exemptions_apply_until_they_expire_and_expired_ones_are_reported() {
    let env = Env::new(
        r#"
[[rule]]
name = "next-version"
kind = "min_version"
severity = "high"
version = "v0.28.0"

[[rule.exempt]]
account = "111111111111"
reason = "upgrade scheduled with the Q1 release train"
expires = 2026-12-31

[[rule.exempt]]
account = "222222222222"
region = "us-east-1"
group = "api-2"
reason = "legacy API, being retired"
expires = 2026-01-31

[[rule.exempt]]
account = "333333333333"
reason = "already compliant: this exemption is reported as unused"
"#,
    );
    let (code, rows, err) = env.json(&["--junit", "out/junit.xml", "--sarif", "out/check.sarif"]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        keys(&rows),
        ["next-version high 222222222222/us-east-1/api-2"]
    );
    assert_eq!(
        detail(&rows, "next-version", B.0, B.1),
        "runs v0.9.2, below the minimum v0.28.0 (exemption expired 2026-01-31)"
    );
    assert!(
        err.contains("policy.toml:13: rule `next-version`: the exemption of 222222222222/us-east-1/api-2 expired on 2026-01-31 and no longer applies"),
        "{err}"
    );
    assert!(
        err.contains("1 violation (1 high), 2 exempted, 1 expired exemption"),
        "{err}"
    );
    assert!(
        err.contains("policy.toml:20: rule `next-version`: the exemption of 333333333333 matches no violation"),
        "{err}"
    );

    let xml = std::fs::read_to_string(env.path("out/junit.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let skipped: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("skipped"))
        .map(|n| n.attribute("message").unwrap().to_string())
        .collect();
    assert_eq!(skipped.len(), 2, "{xml}");
    assert!(
        skipped[0].starts_with("exempted until 2026-12-31: upgrade scheduled"),
        "{skipped:?}"
    );

    let sarif: Value =
        serde_json::from_str(&std::fs::read_to_string(env.path("out/check.sarif")).unwrap())
            .unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    let suppressed: Vec<_> = results
        .iter()
        .filter(|r| r.get("suppressions").is_some())
        .collect();
    assert_eq!(suppressed.len(), 2);
    assert_eq!(suppressed[0]["suppressions"][0]["kind"], "external");

    // Once the account-level exemption expires too, its deployments fail again.
    let later = cs_cmdb(env.home.path())
        .env("CS_CMDB_NOW", "2027-01-01T00:00:00Z")
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
    let rows: Vec<Value> = serde_json::from_str(&stdout_of(&later)).unwrap();
    assert_eq!(rows.len(), 3, "{}", stderr_of(&later));
}

#[test]
fn the_severity_threshold_decides_the_exit_code() {
    let env = Env::new(
        r#"
[[rule]]
name = "regions"
kind = "allowed_regions"
severity = "medium"
regions = ["eu-west-1", "us-east-1"]

[[rule]]
name = "not-ancient"
kind = "min_version"
severity = "critical"
version = "v0.9.0"
"#,
    );
    let (code, rows, err) = env.json(&[]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(rows.len(), 2);
    let (code, rows, err) = env.json(&["--fail-on", "medium"]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(rows.len(), 2);
    let (code, rows, err) = env.json(&["--fail-on", "high", "--junit", "j.xml"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        rows.len(),
        2,
        "violations below the threshold are still shown"
    );
    assert!(
        err.contains("2 violations (2 medium); passed at --fail-on high"),
        "{err}"
    );
    let xml = std::fs::read_to_string(env.path("j.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    assert_eq!(doc.root_element().attribute("failures"), Some("0"));
    assert!(xml.contains("medium violation below --fail-on high"));

    // -q: no summary; data still on stdout.
    let quiet = env.check(&["-q", "--fail-on", "critical"]);
    assert_eq!(quiet.status.code(), Some(0));
    assert_eq!(stderr_of(&quiet), "");
    assert!(stdout_of(&quiet).contains("eu-central-1"));

    // A clean fleet passes.
    std::fs::write(
        env.path("policy.toml"),
        "[[rule]]\nname = \"v\"\nkind = \"min_version\"\nseverity = \"critical\"\nversion = \"v0.1.0\"\n",
    )
    .unwrap();
    let (code, rows, err) = env.json(&[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(rows.is_empty());
    assert!(
        err.contains("0 violations; passed at --fail-on low"),
        "{err}"
    );
}

#[test]
fn a_check_that_cannot_run_exits_2_and_says_why() {
    let env = Env::new(
        "[[rule]]\nname = \"broken\"\nkind = \"sql\"\nseverity = \"low\"\nsql = \"SELECT nosuchcolumn FROM clonesquad_discovery\"\n",
    );
    let check = |args: &[&str]| {
        let mut cmd = cs_cmdb(env.home.path());
        cmd.env("CS_CMDB_NOW", NOW).arg("check").args(args);
        cmd
    };
    let mut runs = Runs::new(Filters::new());
    runs.run(
        "a SQL rule that fails",
        &mut check(&["--policy", "policy.toml", "--source", "tree"]),
    );
    // Data missing: no source, an empty source, no backups folder.
    runs.run("no source", &mut check(&["--policy", "policy.toml"]));
    std::fs::create_dir_all(env.path("empty")).unwrap();
    runs.run(
        "an empty source",
        &mut check(&["--policy", "policy.toml", "--source", "empty"]),
    );
    std::fs::write(
        env.path("policy.toml"),
        "[[rule]]\nname = \"b\"\nkind = \"max_backup_age\"\nseverity = \"low\"\nmax_age = \"1d\"\n",
    )
    .unwrap();
    std::fs::rename(env.path("tree/backups"), env.path("backups-elsewhere")).unwrap();
    runs.run(
        "no backups folder",
        &mut check(&["--policy", "policy.toml", "--source", "tree"]),
    );
    runs.run(
        "a missing policy file",
        &mut check(&["--policy", "nope.toml", "--source", "tree"]),
    );
    insta::assert_snapshot!("checks_that_cannot_run", runs.text());
}

#[test]
fn an_invalid_policy_never_passes() {
    let env = Env::new("");
    let mut runs = Runs::new(Filters::new());
    for policy in [
        "[[rule]]\nname = \"supported-version\"\nkind = \"min_version\"\nseverity = \"high\"\nverison = \"v0.27.0\"\n",
        "",
        "[[rules]]\nname = \"x\"\n",
        "[[rule]]\nname = \"x\"\nkind = \"min_versions\"\nseverity = \"high\"\n",
        "[[rule]]\nname = \"x\"\nkind = \"allowed_regions\"\nseverity = \"high\"\nregions = [\"eu-west-1\"]\n\n[[rule.exempt]]\naccount = \"111111111111\"\nreason = \"x\"\nexpires = \"soon\"\n",
        "[[rule]]\nname = \"x\"\nkind = \"coverage\"\nseverity = \"high\"\nversion = \"v1.0.0\"\n",
    ] {
        std::fs::write(env.path("policy.toml"), policy).unwrap();
        let out = runs.run(&format!("{policy:?}"), &mut env.cmd(&[]));
        assert_eq!(out.status.code(), Some(2), "{policy}");
        assert_eq!(stdout_of(&out), "", "{policy}");
    }
    insta::assert_snapshot!("invalid_policies", runs.text());
}

#[test]
fn junit_is_well_formed_with_a_testcase_per_rule_and_deployment() {
    let env = Env::new(&format!(
        "{ALL_KINDS}\n[[rule]]\nname = \"lifecycle\"\nkind = \"archive_lifecycle\"\nseverity = \"high\"\n"
    ));
    let out = env.check(&["--junit", "reports/junit.xml"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains("policy.toml:41: rule `lifecycle` (archive_lifecycle) skipped: archive_lifecycle needs the bucket: pass --metadata-path"),
        "{err}"
    );
    assert!(err.contains("7 rules (1 skipped)"), "{err}");
    let xml = std::fs::read_to_string(env.path("reports/junit.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(
        root.attribute("tests"),
        Some("25"),
        "6 rules × 4 deployments + 1 skipped rule"
    );
    assert_eq!(root.attribute("failures"), Some("8"));
    assert_eq!(root.attribute("skipped"), Some("1"));
    let suites: Vec<_> = root.children().filter(|n| n.is_element()).collect();
    assert_eq!(suites.len(), 7);
    for suite in &suites {
        let cases = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .count();
        assert_eq!(
            suite.attribute("tests").unwrap().parse::<usize>().unwrap(),
            cases
        );
    }
    let pinned = suites
        .iter()
        .find(|s| s.attribute("name") == Some("pinned"))
        .unwrap();
    let failure = pinned
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    assert_eq!(
        failure.attribute("message"),
        Some("pinned <v0.27.0> & \"old\"")
    );
    assert_eq!(failure.attribute("type"), Some("low"));
    assert_eq!(failure.text(), Some("pinned <v0.27.0> & \"old\""));
    let names: Vec<_> = pinned
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .map(|n| n.attribute("name").unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "111111111111/eu-central-1/web-front",
            "111111111111/eu-west-1/web-front",
            "222222222222/us-east-1/api-2",
            "333333333333/ap-southeast-2/batch"
        ],
        "passes are testcases too"
    );
}

#[test]
fn sarif_is_valid_json_with_the_expected_shape() {
    let env = Env::new(ALL_KINDS);
    let out = env.check(&["--sarif", "check.sarif", "--format", "csv"]);
    assert_eq!(out.status.code(), Some(1));
    let sarif: Value =
        serde_json::from_str(&std::fs::read_to_string(env.path("check.sarif")).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert!(sarif["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "cs-cmdb");
    let rules: Vec<_> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        [
            "supported-version",
            "exporting",
            "ownership",
            "regions",
            "backups",
            "pinned"
        ]
    );
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 8);
    for r in results {
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(r["ruleId"].as_str().unwrap(), rules[index]);
        assert!(["error", "warning", "note"].contains(&r["level"].as_str().unwrap()));
        assert!(r["message"]["text"].as_str().unwrap().contains(": "));
        let loc = &r["locations"][0];
        assert_eq!(
            loc["physicalLocation"]["artifactLocation"]["uri"],
            "policy.toml"
        );
        assert!(
            loc["physicalLocation"]["region"]["startLine"]
                .as_u64()
                .unwrap()
                >= 1
        );
        assert!(loc["logicalLocations"][0]["fullyQualifiedName"].is_string());
    }
    assert_eq!(results[0]["level"], "error");
    assert_eq!(
        results[0]["message"]["text"],
        json!("222222222222/us-east-1/api-2: runs v0.9.2, below the minimum v0.27.0")
    );
    assert_eq!(run["invocations"][0]["executionSuccessful"], true);
}

// ---- the AWS-backed rules, on the emulator ----

#[test]
fn archive_lifecycle_against_the_emulator() {
    let moto = Moto::start();
    moto.create_bucket("cs-shared");
    let env = Env::new(
        "[[rule]]\nname = \"archives-expire\"\nkind = \"archive_lifecycle\"\nseverity = \"medium\"\n",
    );
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--endpoint-url",
            moto.endpoint.as_str(),
            "--metadata-path",
            "s3://cs-shared/clonesquad",
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        let out = env.check(&args);
        let rows: Vec<Value> = serde_json::from_str(&stdout_of(&out)).unwrap_or_else(|e| {
            panic!(
                "stdout is not a JSON array ({e}): {:?}\nstderr: {}",
                stdout_of(&out),
                stderr_of(&out)
            )
        });
        (out.status.code(), rows, stderr_of(&out))
    };

    let (code, rows, err) = run(&[]);
    assert_eq!(code, Some(1), "{err}");
    let d = rows[0]["detail"].as_str().unwrap();
    assert!(
        d.contains(
            "no enabled lifecycle rule expires objects under s3://cs-shared/clonesquad/backups/"
        ),
        "{d}"
    );
    assert!(
        d.contains("the bucket has no lifecycle configuration"),
        "{d}"
    );
    assert_eq!(rows[0]["account"], Value::Null);

    moto.put_lifecycle(
        "cs-shared",
        &[
            ("off", "clonesquad/backups/", false),
            ("logs", "logs/", true),
        ],
    );
    let (code, rows, err) = run(&[]);
    assert_eq!(code, Some(1), "{err}");
    let d = rows[0]["detail"].as_str().unwrap();
    assert!(
        d.contains("`off` is disabled; `logs` applies to prefix `logs/` only"),
        "{d}"
    );

    moto.put_lifecycle(
        "cs-shared",
        &[
            ("logs", "logs/", true),
            ("archives", "clonesquad/backups/", true),
        ],
    );
    let (code, rows, err) = run(&["--junit", "j.xml"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(rows.is_empty());
    let xml = std::fs::read_to_string(env.path("j.xml")).unwrap();
    assert!(
        xml.contains("name=\"s3://cs-shared/clonesquad/backups/\"/>"),
        "{xml}"
    );

    // Without --metadata-path: an explicit skip with a notice, an error under --strict; a
    // bucket that does not exist: the check could not run.
    let mut runs = Runs::new(Filters::new());
    runs.run(
        "no --metadata-path",
        &mut env.cmd(&["--endpoint-url", &moto.endpoint]),
    );
    runs.run(
        "no --metadata-path, --strict",
        &mut env.cmd(&["--endpoint-url", &moto.endpoint, "--strict"]),
    );
    runs.run(
        "a bucket that does not exist",
        &mut env.cmd(&[
            "--endpoint-url",
            &moto.endpoint,
            "--metadata-path",
            "s3://no-such-bucket/x",
        ]),
    );
    insta::assert_snapshot!("archive_lifecycle_skipped_or_failed", runs.text());
}

#[test]
fn coverage_against_an_emulated_organization() {
    use aws_sdk_organizations::types::OrganizationFeatureSet;
    let moto = Moto::start();
    let org = aws_sdk_organizations::Client::new(&moto.sdk_config());
    let ids: Vec<String> = block_on(async {
        org.create_organization()
            .feature_set(OrganizationFeatureSet::All)
            .send()
            .await
            .expect("org");
        let mut ids = Vec::new();
        for name in ["fresh", "stale", "empty"] {
            let created = org
                .create_account()
                .account_name(name)
                .email(format!("{name}@example.com"))
                .send()
                .await
                .expect("account");
            ids.push(
                created
                    .create_account_status()
                    .unwrap()
                    .account_id()
                    .unwrap()
                    .to_string(),
            );
        }
        ids
    });
    let home = tempfile::tempdir().unwrap();
    let tree = home.path().join("tree");
    deployment(
        &tree,
        &ids[0],
        "eu-west-1",
        "web",
        "v0.27.1",
        "2026-11-26 09:00:00",
        "",
    );
    deployment(
        &tree,
        &ids[0],
        "us-east-1",
        "old",
        "v0.27.1",
        "2026-11-01 09:00:00",
        "",
    );
    deployment(
        &tree,
        &ids[1],
        "eu-west-1",
        "web",
        "v0.27.1",
        "2026-11-21 09:00:00",
        "",
    );
    std::fs::write(
        home.path().join("policy.toml"),
        format!(
            "[[rule]]\nname = \"coverage\"\nkind = \"coverage\"\nseverity = \"high\"\nmax_age = \"2d\"\n\n[[rule.exempt]]\naccount = \"{MAIN_ACCOUNT}\"\nreason = \"the management account runs no workload\"\n"
        ),
    )
    .unwrap();
    let check = |env_clear_credentials: bool| {
        let mut cmd = cs_cmdb(home.path());
        cmd.env("CS_CMDB_NOW", NOW).args([
            "--endpoint-url",
            &moto.endpoint,
            "check",
            "--policy",
            "policy.toml",
            "--source",
            "tree",
            "--format",
            "json",
            "--junit",
            "j.xml",
        ]);
        if env_clear_credentials {
            cmd.env_remove("AWS_ACCESS_KEY_ID")
                .env_remove("AWS_SECRET_ACCESS_KEY");
        }
        cmd.output().unwrap()
    };
    let out = check(false);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let rows: Vec<Value> = serde_json::from_str(&stdout_of(&out)).unwrap();
    let found: std::collections::BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["account"].as_str().unwrap().to_string(),
                r["detail"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: std::collections::BTreeSet<(String, String)> = [
        (ids[1].clone(), "account `stale` has 1 deployment(s), none exported within 2d (newest export 2026-11-21 09:00:00 UTC)".to_string()),
        (ids[2].clone(), "account `empty` has no CloneSquad deployment exporting metadata".to_string()),
    ]
    .into_iter()
    .collect();
    assert_eq!(found, expected);
    assert!(
        stderr_of(&out).contains("2 violations (2 high), 1 exempted"),
        "{}",
        stderr_of(&out)
    );
    let xml = std::fs::read_to_string(home.path().join("j.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    assert_eq!(
        doc.root_element().attribute("tests"),
        Some("4"),
        "one testcase per active account"
    );

    // Without credentials: skipped with a notice, never a pass in disguise.
    let out = check(true);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(err.contains("rule `coverage` (coverage) skipped: coverage needs Organizations access: no AWS credentials"), "{err}");
    assert!(err.contains("1 rule (1 skipped)"), "{err}");
    let xml = std::fs::read_to_string(home.path().join("j.xml")).unwrap();
    assert!(
        xml.contains("<skipped message=\"not evaluated: coverage needs Organizations access"),
        "{xml}"
    );
}

#[test]
fn the_documented_example_policy_runs_on_the_bundled_tree() {
    let home = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = cs_cmdb(home.path())
        .env("CS_CMDB_NOW", NOW)
        // Offline: without credentials, coverage is skipped (see below for credentials and an
        // unreachable endpoint).
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(["check", "--policy"])
        .arg(root.join("examples/policy.toml"))
        .arg("--source")
        .arg(root.join("examples"))
        .args(["--format", "json", "--sarif", "s.sarif", "--junit", "j.xml"])
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("8 rules (2 skipped) over 9 deployments"),
        "{err}"
    );
    assert!(err.contains("1 exempted"), "{err}");
    let rows: Vec<Value> = serde_json::from_str(&stdout_of(&out)).unwrap();
    assert!(rows.iter().any(|r| r["rule"] == "supported-version"));
    roxmltree::Document::parse(&std::fs::read_to_string(home.path().join("j.xml")).unwrap())
        .unwrap();
}

/// Credentials but no AWS in reach (the test environment's endpoint is a closed loopback port):
/// the AWS-backed rules are skipped with one line each saying why, as the README documents, and
/// --strict makes that exit 2. The per-control summary counts them as skipped.
#[test]
fn unreachable_aws_skips_the_aws_rules_unless_strict() {
    let home = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = |strict: bool| {
        let mut cmd = cs_cmdb(home.path());
        cmd.env("CS_CMDB_NOW", NOW)
            .args(["check", "--policy"])
            .arg(root.join("examples/policy.toml"))
            .arg("--source")
            .arg(root.join("examples"))
            .args(["--format", "csv"]);
        if strict {
            cmd.arg("--strict");
        }
        cmd.output().unwrap()
    };
    let out = run(false);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("rule `coverage` (coverage) skipped: coverage needs Organizations access: AWS is unreachable: could not reach the AWS endpoint"),
        "{err}"
    );
    assert!(
        err.lines()
            .any(|l| l.starts_with("coverage ") && l.contains(" all ")),
        "{err}"
    );
    let strict = run(true);
    assert_eq!(strict.status.code(), Some(2), "{}", stderr_of(&strict));
}

#[test]
fn rendered_table_and_junit_snapshots() {
    let env = Env::new(ALL_KINDS);
    let out = cs_snapshot!(
        "check_table",
        Filters::new(),
        env.cmd(&["--format", "table", "--junit", "j.xml"])
    );
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!(
        "check_junit",
        std::fs::read_to_string(env.path("j.xml")).unwrap()
    );
}

/// `--source s3://...`: the backup rules read the mirror's backups/ (the latest backups are
/// mirrored with the objects' LastModified as modification times), instead of being skipped.
#[test]
fn backup_rules_read_the_mirror_of_an_s3_source() {
    let moto = Moto::start();
    moto.create_bucket("cs-shared");
    let env = Env::new(
        "[[rule]]\nname = \"fresh-backups\"\nkind = \"max_backup_age\"\nseverity = \"high\"\nmax_age = \"1d\"\n",
    );
    let files = crate::support::tree::files(&env.path("tree"));
    crate::support::tree::upload(&moto.s3(), "cs-shared", "clonesquad", &files);
    // The objects were written now; two days later, every latest backup is too old.
    let later = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let out = cs_cmdb(env.home.path())
        .env("CS_CMDB_NOW", &later)
        .args(["--endpoint-url", &moto.endpoint, "--format", "json"])
        .args([
            "check",
            "--policy",
            "policy.toml",
            "--source",
            "s3://cs-shared/clonesquad",
        ])
        .output()
        .unwrap();
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("(max_backup_age) skipped"), "{stderr}");
    let rows: Vec<Value> = serde_json::from_str(&stdout_of(&out)).unwrap();
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert!(
        rows.iter().all(|r| r["rule"] == "fresh-backups"),
        "{rows:?}"
    );
}
