//! `cs-cmdb org snapshot` against the emulator (a nested-OU Organization with tagged accounts),
//! the `org_*` tables and the org-aware canned queries on the embedded engine, `--ou` scoping
//! of `query` and `check`, and policy rules scoped by OU and account tag.

use std::collections::BTreeMap;
use std::path::Path;

use aws_sdk_organizations::types::Tag;
use serde_json::{Value, json};

use crate::support::org::example_snapshot;
use crate::support::{Moto, block_on, create_account, cs_cmdb, query_json, stderr_of, stdout_of};

// The clock of the bundled example and of generated trees.
use crate::support::tree::GENERATED_AT as NOW;

/// Root ── Workloads ── Prod (web-prod: Owner=team-web, Env=prod)
///      │            └─ Dev  (data-dev: Owner=team-data)
///      └─ (management account, sandbox)
/// Returns the account ids by name.
fn nested_org(moto: &Moto) -> BTreeMap<&'static str, String> {
    let org = aws_sdk_organizations::Client::new(&moto.sdk_config());
    block_on(async {
        org.create_organization().send().await.unwrap();
        let root = org.list_roots().send().await.unwrap().roots()[0]
            .id()
            .unwrap()
            .to_string();
        let ou = |parent: String, name: &'static str| {
            let org = org.clone();
            async move {
                org.create_organizational_unit()
                    .parent_id(parent)
                    .name(name)
                    .send()
                    .await
                    .unwrap()
                    .organizational_unit()
                    .unwrap()
                    .id()
                    .unwrap()
                    .to_string()
            }
        };
        let workloads = ou(root.clone(), "Workloads").await;
        let prod = ou(workloads.clone(), "Prod").await;
        let dev = ou(workloads, "Dev").await;
        let mut ids = BTreeMap::new();
        for (name, parent, tags) in [
            (
                "web-prod",
                prod,
                vec![("Owner", "team-web"), ("Env", "prod")],
            ),
            ("data-dev", dev, vec![("Owner", "team-data")]),
            ("sandbox", root.clone(), vec![]),
        ] {
            let id = create_account(&org, name).await;
            org.move_account()
                .account_id(&id)
                .source_parent_id(&root)
                .destination_parent_id(parent)
                .send()
                .await
                .unwrap();
            for (k, v) in tags {
                org.tag_resource()
                    .resource_id(&id)
                    .tags(Tag::builder().key(k).value(v).build().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
            ids.insert(name, id);
        }
        ids
    })
}

fn sql(home: &Path, source: &Path, query: &str) -> Vec<Value> {
    query_json(home, source, &["--sql", query])
}

#[test]
fn a_snapshot_reads_nested_units_and_tags_and_uploads_for_athena() {
    let moto = Moto::start();
    let ids = nested_org(&moto);
    moto.create_bucket("cmdb-bucket");
    let home = tempfile::tempdir().unwrap();
    let out = cs_cmdb(home.path())
        .args([
            "--endpoint-url",
            &moto.endpoint,
            "--metadata-path",
            "s3://cmdb-bucket/clonesquad",
            "org",
            "snapshot",
            "--cache-dir",
            "cache",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let row: Vec<Value> = serde_json::from_str(&stdout_of(&out)).unwrap();
    assert_eq!(
        row[0]["accounts"], 4,
        "three members and the management account"
    );
    assert_eq!(row[0]["units"], 4, "the root and three units");
    assert_eq!(
        row[0]["uploaded_to"],
        "s3://cmdb-bucket/clonesquad/cs-cmdb/org"
    );

    // The same files, where Athena's org_* tables read them.
    let keys: Vec<String> = block_on(async {
        moto.s3()
            .list_objects_v2()
            .bucket("cmdb-bucket")
            .prefix("clonesquad/cs-cmdb/org/")
            .send()
            .await
            .unwrap()
            .contents()
            .iter()
            .filter_map(|o| o.key().map(String::from))
            .collect()
    });
    assert_eq!(
        keys,
        [
            "clonesquad/cs-cmdb/org/accounts/org_accounts.json",
            "clonesquad/cs-cmdb/org/snapshot.json",
            "clonesquad/cs-cmdb/org/units/org_units.json",
        ]
    );

    // Offline from here: the tables read the snapshot in the cache.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let accounts = sql(
        home.path(),
        &example,
        "SELECT name, ou_path, tags FROM org_accounts WHERE name <> 'master' ORDER BY name",
    );
    assert_eq!(
        accounts,
        [
            json!({"name": "data-dev", "ou_path": "Root/Workloads/Dev", "tags": {"Owner": "team-data"}}),
            json!({"name": "sandbox", "ou_path": "Root", "tags": {}}),
            json!({"name": "web-prod", "ou_path": "Root/Workloads/Prod", "tags": {"Env": "prod", "Owner": "team-web"}}),
        ]
    );
    let units = sql(
        home.path(),
        &example,
        "SELECT path, depth, accounts FROM org_units ORDER BY path",
    );
    assert_eq!(
        units,
        [
            json!({"path": "Root", "depth": 0, "accounts": 2}),
            json!({"path": "Root/Workloads", "depth": 1, "accounts": 0}),
            json!({"path": "Root/Workloads/Dev", "depth": 2, "accounts": 1}),
            json!({"path": "Root/Workloads/Prod", "depth": 2, "accounts": 1}),
        ]
    );
    let tagged = sql(
        home.path(),
        &example,
        "SELECT account_id FROM org_accounts WHERE element_at(tags, 'Env') = 'prod'",
    );
    assert_eq!(tagged, [json!({"account_id": ids["web-prod"]})]);
}

fn canned(home: &Path, args: &[&str]) -> Vec<Value> {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    query_json(home, &example, args)
}

#[test]
fn org_canned_queries_answer_exactly_on_the_bundled_example() {
    let home = tempfile::tempdir().unwrap();
    example_snapshot(&home.path().join("cache"));
    assert_eq!(
        canned(home.path(), &["coverage"]),
        [
            json!({"ou_path": "Root", "accounts": 1, "with_deployment": 1, "with_fresh_export": 1, "without_deployment": 0, "deployments": 3}),
            json!({"ou_path": "Root/Workloads/Dev", "accounts": 2, "with_deployment": 1, "with_fresh_export": 1, "without_deployment": 1, "deployments": 3}),
            json!({"ou_path": "Root/Workloads/Prod", "accounts": 1, "with_deployment": 1, "with_fresh_export": 1, "without_deployment": 0, "deployments": 3}),
        ]
    );
    assert_eq!(
        canned(home.path(), &["fleet-by-ou"]),
        [
            json!({"ou_path": "Root", "accounts": 1, "deployments": 3, "instances": 25, "running": 18}),
            json!({"ou_path": "Root/Workloads/Dev", "accounts": 1, "deployments": 3, "instances": 12, "running": 8}),
            json!({"ou_path": "Root/Workloads/Prod", "accounts": 1, "deployments": 3, "instances": 42, "running": 35}),
        ]
    );
    let versions = canned(home.path(), &["versions-by-ou"]);
    assert!(versions.contains(&json!({"ou_path": "Root/Workloads/Dev", "version": "unknown (\"\")", "deployments": 2, "accounts": 1})), "{versions:?}");
    let owners = canned(home.path(), &["owners-by-tag"]);
    let games: Vec<&Value> = owners
        .iter()
        .filter(|r| r["account_id"] == "100000007919")
        .collect();
    assert!(
        games.iter().all(
            |r| r["account_tag_owner"] == "team-games" && r["ou_path"] == "Root/Workloads/Prod"
        ),
        "{owners:?}"
    );
    let map = canned(home.path(), &["coverage-map"]);
    assert_eq!(map.len(), 9, "three OUs x three regions: {map:?}");
    // --ou scopes any query by its account column, nested units included.
    let scoped = canned(home.path(), &["deployments", "--ou", "Root/Workloads"]);
    let accounts: std::collections::BTreeSet<&str> = scoped
        .iter()
        .map(|r| r["account_id"].as_str().unwrap())
        .collect();
    assert_eq!(accounts, ["100000007919", "100000015838"].into());
    let by_id = canned(home.path(), &["deployments", "--ou", "ou-ex12-22222222"]);
    assert_eq!(by_id.len(), 3);
}

#[test]
fn ou_scoping_needs_a_known_unit_and_a_result_with_accounts() {
    let home = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let run = |args: &[&str]| {
        cs_cmdb(home.path())
            .env("CS_CMDB_NOW", NOW)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .args(["query", "--cache-dir", "cache", "--source"])
            .arg(&example)
            .args(args)
            .output()
            .unwrap()
    };
    let none = run(&["deployments", "--ou", "Root/Prod"]);
    assert_eq!(none.status.code(), Some(2));
    assert!(
        stderr_of(&none).contains("--ou needs an Organization snapshot"),
        "{}",
        stderr_of(&none)
    );
    example_snapshot(&home.path().join("cache"));
    let unknown = run(&["deployments", "--ou", "Root/Nowhere"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr_of(&unknown).contains("`Root/Nowhere` is not in the Organization snapshot"),
        "{}",
        stderr_of(&unknown)
    );
    let no_account = run(&["versions", "--ou", "Root"]);
    assert_eq!(no_account.status.code(), Some(2));
    assert!(
        stderr_of(&no_account).contains("the result has no account_id or accountid column"),
        "{}",
        stderr_of(&no_account)
    );
}

#[test]
fn check_scopes_by_ou_carries_ou_paths_and_scopes_rules_by_tag() {
    let home = tempfile::tempdir().unwrap();
    example_snapshot(&home.path().join("cache"));
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    std::fs::write(
        home.path().join("policy.toml"),
        r#"
[[rule]]
name = "prod-supported"
kind = "min_version"
severity = "high"
version = "v0.27.1"

[rule.scope]
account_tags = { Env = "prod" }

[[rule]]
name = "regions"
kind = "allowed_regions"
severity = "low"
regions = ["eu-west-1"]
"#,
    )
    .unwrap();
    let check = |extra: &[&str]| {
        cs_cmdb(home.path())
            .env("CS_CMDB_NOW", NOW)
            .args([
                "check",
                "--policy",
                "policy.toml",
                "--cache-dir",
                "cache",
                "--format",
                "json",
                "--source",
            ])
            .arg(&example)
            .args(extra)
            .output()
            .unwrap()
    };
    let all = check(&[]);
    assert_eq!(all.status.code(), Some(1), "{}", stderr_of(&all));
    let rows: Vec<Value> = serde_json::from_str(&stdout_of(&all)).unwrap();
    let prod: Vec<&Value> = rows
        .iter()
        .filter(|r| r["rule"] == "prod-supported")
        .collect();
    // Only the prod-tagged account's deployments are judged: v0.9.2 in eu-west-1.
    assert_eq!(prod.len(), 1, "{rows:?}");
    assert_eq!(prod[0]["account"], "100000007919");
    assert_eq!(prod[0]["ou_path"], "Root/Workloads/Prod");
    let regions: Vec<&Value> = rows.iter().filter(|r| r["rule"] == "regions").collect();
    assert_eq!(
        regions.len(),
        6,
        "every deployment outside eu-west-1: {rows:?}"
    );

    let scoped = check(&["--ou", "Root/Workloads/Dev"]);
    let rows: Vec<Value> = serde_json::from_str(&stdout_of(&scoped)).unwrap();
    assert!(
        rows.iter().all(|r| r["account"] == "100000015838"),
        "{rows:?}"
    );
    assert!(
        stderr_of(&scoped).contains("over 3 deployments"),
        "{}",
        stderr_of(&scoped)
    );

    let by_ou = check(&["--by-ou"]);
    let rows: Vec<Value> = serde_json::from_str(&stdout_of(&by_ou)).unwrap();
    assert_eq!(
        rows,
        [
            json!({"ou_path": "Root/Workloads/Prod", "critical": 0, "high": 1, "medium": 0, "low": 2, "violations": 3}),
            json!({"ou_path": "Root", "critical": 0, "high": 0, "medium": 0, "low": 2, "violations": 2}),
            json!({"ou_path": "Root/Workloads/Dev", "critical": 0, "high": 0, "medium": 0, "low": 2, "violations": 2}),
        ]
    );
}

#[test]
fn an_old_snapshot_is_used_with_its_age_when_no_credentials_are_at_hand() {
    let home = tempfile::tempdir().unwrap();
    example_snapshot(&home.path().join("cache"));
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let out = cs_cmdb(home.path())
        // A day and an hour after the snapshot: older than the default --org-max-age.
        .env("CS_CMDB_NOW", "2026-11-27T09:00:00Z")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args([
            "query",
            "coverage",
            "--cache-dir",
            "cache",
            "--format",
            "csv",
            "--source",
        ])
        .arg(&example)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("using the Organization snapshot of 2026-11-26 08:00 UTC (1d 1h old)"),
        "{err}"
    );
    assert!(err.contains("no AWS credentials"), "{err}");
    // Asked to refresh, it must: no snapshot without Organizations access is an error.
    let refresh = cs_cmdb(home.path())
        .env("CS_CMDB_NOW", "2026-11-27T09:00:00Z")
        .args([
            "query",
            "coverage",
            "--refresh-org",
            "--cache-dir",
            "cache",
            "--source",
        ])
        .arg(&example)
        .output()
        .unwrap();
    assert_eq!(refresh.status.code(), Some(2), "{}", stderr_of(&refresh));
    assert!(
        stderr_of(&refresh).contains("cannot take an Organization snapshot"),
        "{}",
        stderr_of(&refresh)
    );
}

/// Every file below `dir`, by path relative to it.
fn files_below(dir: &Path, rel: &str, out: &mut Vec<(String, std::path::PathBuf)>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let rel = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        if entry.path().is_dir() {
            files_below(&entry.path(), &rel, out);
        } else {
            out.push((rel, entry.path()));
        }
    }
}

#[test]
fn a_mirror_source_joins_the_snapshot_too() {
    // The mirror's own manifest proves the CloneSquad tables current; the snapshot's tables are
    // proved by their stamps, and must not read as empty under a mirror.
    let moto = Moto::start();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/metadata");
    let mut files = Vec::new();
    files_below(&example, "", &mut files);
    block_on(async {
        let s3 = moto.s3();
        s3.create_bucket()
            .bucket("cmdb-bucket")
            .send()
            .await
            .unwrap();
        for (rel, path) in files {
            s3.put_object()
                .bucket("cmdb-bucket")
                .key(format!("clonesquad/metadata/{rel}"))
                .body(std::fs::read(path).unwrap().into())
                .send()
                .await
                .unwrap();
        }
    });
    let home = tempfile::tempdir().unwrap();
    example_snapshot(&home.path().join("cache"));
    for _ in 0..2 {
        let out = cs_cmdb(home.path())
            .env("CS_CMDB_NOW", NOW)
            .args([
                "--endpoint-url",
                &moto.endpoint,
                "query",
                "fleet-by-ou",
                "--cache-dir",
                "cache",
                "--format",
                "json",
                "--source",
                "s3://cmdb-bucket/clonesquad",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
        let rows: Vec<Value> = serde_json::from_str(&stdout_of(&out)).unwrap();
        let paths: Vec<&str> = rows
            .iter()
            .map(|r| r["ou_path"].as_str().unwrap())
            .collect();
        assert_eq!(paths, ["Root", "Root/Workloads/Dev", "Root/Workloads/Prod"]);
    }
}

/// On Athena, `--refresh-org` takes the snapshot and uploads it where the `org_*` tables read
/// it, before the query runs.
#[test]
fn refresh_org_on_athena_uploads_the_snapshot_first() {
    let moto = Moto::start();
    nested_org(&moto);
    moto.create_bucket("cmdb-bucket");
    crate::support::athena::queue_results(
        &moto,
        &["ou_path", "accounts"],
        &[vec!["Root/Workloads/Prod", "1"]],
        &["varchar", "bigint"],
    );
    let home = tempfile::tempdir().unwrap();
    let out = cs_cmdb(home.path())
        .args([
            "--endpoint-url",
            &moto.endpoint,
            "--metadata-path",
            "s3://cmdb-bucket/clonesquad",
            "query",
            "coverage",
            "--engine",
            "athena",
            "--refresh-org",
            "--cache-dir",
            "cache",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out)
            .contains("Organization snapshot taken: 4 accounts in 4 organizational units"),
        "{}",
        stderr_of(&out)
    );
    let uploaded = block_on(async {
        moto.s3()
            .list_objects_v2()
            .bucket("cmdb-bucket")
            .prefix("clonesquad/cs-cmdb/org/accounts/")
            .send()
            .await
            .unwrap()
            .key_count()
    });
    assert!(
        uploaded.unwrap_or_default() > 0,
        "nothing uploaded for Athena"
    );
}
