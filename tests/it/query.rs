//! `cs-cmdb query` on the embedded engine, over fixture trees with known answers.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::org::example_snapshot;
use crate::support::snapshot::Filters;
use crate::support::tree::Tree;
use crate::support::{cs_cmdb, stderr_of, stdout_of};

const NOW: &str = "2026-11-26T10:00:00Z";

/// Two deployments with CloneSquad's quirks:
/// - A (111111111111 / eu-west-1 / web-front): fresh, 3 instances (2 running, one in subfleet
///   web-front-blue), configuration with `+00:00` timestamps and one malformed line.
/// - B (222222222222 / us-east-1 / api-2): stale, keys in lowercase, zero-byte instances file,
///   empty user metadata.
///
/// No volumes and no maintenance-windows folder at all.
fn fixture(root: &Path) {
    let tree = Tree::new(root);
    let instance = |id: &str, host: &str, state: &str, subfleet: Option<&str>| {
        let mut v = json!({
            "InstanceId": id, "InstanceType": "t3.micro", "State": {"Code": 16, "Name": state},
            "LaunchTime": "2026-11-01 00:00:00", "_Hostname": host,
            "Placement": {"AvailabilityZone": "eu-west-1a"},
            "Tags": [{"Key": "Name", "Value": host}, {"Key": "env", "Value": "prod"}]
        });
        if let Some(s) = subfleet {
            v["_SubfleetName"] = json!(s);
        }
        v
    };
    tree.deployment("111111111111", "eu-west-1", "web-front")
        .discovery(json!({
            "AccountId": "111111111111", "GroupName": "web-front", "AccountName": "prod",
            "CloneSquadVersion": "v0.27.1", "InstallTime": "2026-01-01 10:00:00.500000",
            "MetadataRecordLastUpdatedAt": "2026-11-26 08:00:00", "Subfleets": ["web-front-blue"],
            "InteractAPIGWUrl": "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/",
            "UserSuppliedJSONMetadata": "{\"Owner\": \"it's-me\", \"CostCenter\": \"42\"}",
            "X-Owner": "it's-me", "X-CostCenter": "42"
        }))
        .configuration_text(concat!(
            r#"{"Key": "app.run_period", "Value": "2 minutes", "MetadataRecordLastUpdatedAt": "2026-11-26 08:00:00.123456+00:00"}"#,
            "\n",
            r#"{"Key": "subfleet.web-front-blue.state", "Value": "running", "MetadataRecordLastUpdatedAt": "2026-11-26 08:00:00+00:00"}"#,
            "\n",
            r#"{"Key": "broken", "Value": "#,
        ))
        .instances(&[
            instance("i-0000000000000000a", "web-1", "running", None),
            instance("i-0000000000000000b", "web-2", "stopped", None),
            instance(
                "i-0000000000000000c",
                "web-blue-1",
                "running",
                Some("web-front-blue"),
            ),
        ]);
    tree.deployment("222222222222", "us-east-1", "api-2")
        .discovery_text(
            r#"{"accountid": "222222222222", "groupname": "api-2", "clonesquadversion": "v0.9.2", "installtime": "2025-05-05 05:05:05", "metadatarecordlastupdatedat": "2026-11-20 09:00:00.123456", "subfleets": [], "usersuppliedjsonmetadata": ""}"#,
        )
        .configuration(&[json!(
            {"Key": "app.run_period", "Value": "seconds=30", "MetadataRecordLastUpdatedAt": "2026-11-20 09:00:00+00:00"}
        )])
        .instances(&[]);
}

struct Env {
    home: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let home = tempfile::tempdir().unwrap();
        fixture(&home.path().join("tree"));
        Self { home }
    }

    /// `query --source tree ARGS`, at NOW.
    fn cmd(&self, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = cs_cmdb(self.home.path());
        cmd.env("CS_CMDB_NOW", NOW)
            .args(["query", "--source", "tree"])
            .args(args);
        cmd
    }

    fn query(&self, args: &[&str]) -> std::process::Output {
        self.cmd(args).output().unwrap()
    }

    fn json(&self, args: &[&str]) -> Vec<Value> {
        let out = self.query(&[args, &["--format", "json"]].concat());
        assert!(out.status.success(), "{args:?}: {}", stderr_of(&out));
        serde_json::from_str(&stdout_of(&out)).unwrap()
    }
}

#[test]
fn deployments_known_answers() {
    let env = Env::new();
    let rows = env.json(&["deployments"]);
    assert_eq!(
        rows,
        vec![
            json!({"account_id": "111111111111", "account_name": "prod", "region": "eu-west-1",
                "group_name": "web-front", "version": "v0.27.1", "installed_at": "2026-01-01 10:00:00.500",
                "last_export_at": "2026-11-26 08:00:00", "age_hours": 2, "subfleets": 1,
                "instances": 3, "running": 2}),
            json!({"account_id": "222222222222", "account_name": null, "region": "us-east-1",
                "group_name": "api-2", "version": "v0.9.2", "installed_at": "2025-05-05 05:05:05",
                "last_export_at": "2026-11-20 09:00:00.123", "age_hours": 144, "subfleets": 0,
                "instances": 0, "running": 0}),
        ]
    );
}

#[test]
fn malformed_lines_are_reported_with_file_and_line_and_skipped() {
    let env = Env::new();
    let out = cs_snapshot!(
        Filters::new(),
        env.cmd(&["config", "--param", "key=app.run_period", "--format", "csv"])
    );
    assert_eq!(out.status.code(), Some(0));
    // Reported again on a warm run: a skipped line is never silent.
    let again = env.query(&["config", "--param", "key=app.run_period"]);
    assert!(stderr_of(&again).contains("1 malformed line(s)"));
}

#[test]
fn parameters_are_bound_typed_and_checked() {
    let env = Env::new();
    let stale = env.json(&["stale"]);
    assert_eq!(stale.len(), 1);
    assert_eq!(stale[0]["group_name"], "api-2");
    assert_eq!(env.json(&["stale", "--param", "hours=1"]).len(), 2);

    // A value with a quote is bound, not spliced.
    let owners = env.json(&["owners"]);
    assert_eq!(owners[0]["value"], "it's-me");
    assert_eq!(owners[1]["value"], Value::Null);
    let cost = env.json(&["owners", "-p", "key=CostCenter"]);
    assert_eq!(cost[0]["value"], "42");
    let quoted = env.json(&["config", "-p", "key=it's'; DROP TABLE x; --"]);
    assert_eq!(quoted.len(), 2);
    assert!(quoted.iter().all(|r| r["value"].is_null()));

    cs_snapshot!(
        "a_parameter_of_the_wrong_type",
        Filters::new(),
        env.cmd(&["stale", "--param", "hours=abc"])
    );
    cs_snapshot!("a_missing_parameter", Filters::new(), env.cmd(&["config"]));
    cs_snapshot!(
        "an_unknown_parameter",
        Filters::new(),
        env.cmd(&["stale", "--param", "days=3"])
    );
}

#[test]
fn missing_tables_are_empty_not_errors() {
    let env = Env::new();
    assert!(env.json(&["maintenance"]).is_empty());
    assert!(env.json(&["volumes"]).is_empty());
    assert!(env.json(&["schedules"]).is_empty());
}

#[test]
fn instances_hostnames_subfleets_and_drift() {
    let env = Env::new();
    let instances = env.json(&["instances"]);
    let fleets: Vec<_> = instances
        .iter()
        .map(|r| r["fleet"].as_str().unwrap())
        .collect();
    assert_eq!(fleets, ["__main__", "__main__", "web-front-blue"]);
    assert_eq!(instances[1]["state"], "stopped");
    assert_eq!(instances[0]["availability_zone"], "eu-west-1a");

    let hosts = env.json(&["hostnames"]);
    let names: Vec<_> = hosts
        .iter()
        .map(|r| r["hostname"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web-1", "web-2", "web-blue-1"]);
    assert_eq!(
        hosts[0]["api_url"],
        "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/"
    );
    assert_eq!(hosts[2]["subfleet"], "web-front-blue");

    let subfleets = env.json(&["subfleets"]);
    assert_eq!(
        subfleets,
        vec![
            json!({"account_id": "111111111111", "region": "eu-west-1", "group_name": "web-front",
            "subfleet": "web-front-blue", "configured_state": "running", "instances": 1, "running": 1})
        ]
    );
    let drift = env.json(&["drift"]);
    assert_eq!(drift.len(), 1);
    assert_eq!(drift[0]["key"], "app.run_period");
    assert_eq!(drift[0]["distinct_values"], 2);

    let versions = env.json(&["versions"]);
    let order: Vec<_> = versions
        .iter()
        .map(|r| r["version"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["v0.27.1", "v0.9.2"], "semantic order, newest first");
}

#[test]
fn ad_hoc_sql_case_insensitive_names_nested_fields_and_unnest() {
    let env = Env::new();
    let rows = env.json(&[
        "--sql",
        "SELECT CloneSquadVersion, clonesquadversion AS v2, GroupName FROM clonesquad_discovery ORDER BY 1",
    ]);
    assert_eq!(
        rows[0],
        json!({"clonesquadversion": "v0.27.1", "v2": "v0.27.1", "groupname": "web-front"})
    );

    let nested = env.json(&["--sql", "SELECT i.state.name AS s, count(*) AS n FROM clonesquad_instances i GROUP BY i.state.name ORDER BY s"]);
    assert_eq!(
        nested,
        vec![
            json!({"s": "running", "n": 2}),
            json!({"s": "stopped", "n": 1})
        ]
    );

    let tags = env.json(&[
        "--sql",
        "SELECT i.instanceid, t.key, t.value FROM clonesquad_instances i CROSS JOIN UNNEST(i.tags) AS t(key, value) WHERE t.key = 'Name' ORDER BY t.value",
    ]);
    let values: Vec<_> = tags.iter().map(|r| r["value"].as_str().unwrap()).collect();
    assert_eq!(values, ["web-1", "web-2", "web-blue-1"]);

    let json_fn = env.json(&[
        "--sql",
        "SELECT json_extract_scalar(usersuppliedjsonmetadata, '$.CostCenter') AS cc, date_diff('hour', metadatarecordlastupdatedat, current_timestamp) AS h FROM clonesquad_discovery ORDER BY accountid",
    ]);
    assert_eq!(json_fn[0], json!({"cc": "42", "h": 2}));
}

#[test]
fn sql_errors_show_the_engine_message_and_exit_2() {
    let env = Env::new();
    cs_snapshot!(
        "an_unknown_column",
        Filters::new(),
        env.cmd(&["--sql", "SELECT nosuchcolumn FROM clonesquad_discovery"])
    );
    cs_snapshot!(
        "a_syntax_error",
        Filters::new(),
        env.cmd(&["--sql", "SELEC 1"])
    );
    cs_snapshot!(
        "a_placeholder_without_a_parameter",
        Filters::new(),
        env.cmd(&["--sql", "SELECT ? FROM clonesquad_discovery"])
    );
}

#[test]
fn every_output_format_of_deployments() {
    let env = Env::new();
    for format in ["table", "json", "csv", "markdown"] {
        let out = env.query(&["deployments", "--format", format]);
        assert!(out.status.success(), "{}", stderr_of(&out));
        insta::assert_snapshot!(format!("deployments_{format}"), stdout_of(&out));
    }
}

#[test]
fn the_cache_reparses_only_what_changed() {
    let env = Env::new();
    let parsed = |out: &std::process::Output| -> Vec<String> {
        let mut tables = stderr_of(out)
            .lines()
            .filter(|l| l.contains("table ready"))
            .map(|l| {
                let table = l
                    .split("table=")
                    .nth(1)
                    .unwrap()
                    .split_whitespace()
                    .next()
                    .unwrap();
                let parsed = l
                    .split("parsed=")
                    .nth(1)
                    .unwrap()
                    .split_whitespace()
                    .next()
                    .unwrap();
                format!("{table}:{parsed}")
            })
            .collect::<Vec<_>>();
        // Tables load side by side: their lines come in any order.
        tables.sort();
        tables
    };
    let listed = |out: &std::process::Output| -> Vec<bool> {
        stderr_of(out)
            .lines()
            .filter(|l| l.contains("table ready"))
            .map(|l| l.contains("listed=true"))
            .collect()
    };
    let cold = env.query(&["deployments", "-v"]);
    assert!(cold.status.success(), "{}", stderr_of(&cold));
    assert_eq!(
        parsed(&cold),
        ["clonesquad_discovery:2", "clonesquad_instances:2"]
    );
    let warm = env.query(&["deployments", "-v"]);
    assert_eq!(
        parsed(&warm),
        ["clonesquad_discovery:0", "clonesquad_instances:0"]
    );

    // One deployment changes: only its file is parsed again, and the answer follows.
    let file = env.home.path().join(
        "tree/metadata/instances/accountid=222222222222/region=us-east-1/groupname=api-2/222222222222-us-east-1-managed-instances-cs-api-2.json",
    );
    std::fs::write(
        &file,
        "{\"InstanceId\": \"i-new\", \"State\": {\"Name\": \"running\"}}\n",
    )
    .unwrap();
    let changed = env.query(&["deployments", "-v", "--format", "json"]);
    assert_eq!(
        parsed(&changed),
        ["clonesquad_discovery:0", "clonesquad_instances:1"]
    );
    let rows: Vec<Value> = serde_json::from_str(&stdout_of(&changed)).unwrap();
    assert_eq!(rows[1]["instances"], 1);
    assert_eq!(rows[0]["instances"], 3, "unchanged rows are kept");

    // Folders modified just before they were listed are not trusted: the tree is listed again
    // until their stamps settle. Age the tree so they have.
    let tree = env.home.path().join("tree");
    age(&tree);
    let settled = env.query(&["deployments", "-v"]);
    assert_eq!(listed(&settled), [true, true]);
    let quick = env.query(&["deployments", "-v"]);
    assert_eq!(
        listed(&quick),
        [false, false],
        "stamps prove the cache current"
    );
    assert_eq!(
        parsed(&quick),
        ["clonesquad_discovery:0", "clonesquad_instances:0"]
    );

    // A file appended in place leaves its folder's mtime alone: its own stamp catches it.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    std::io::Write::write_all(
        &mut f,
        b"{\"InstanceId\": \"i-more\", \"State\": {\"Name\": \"stopped\"}}\n",
    )
    .unwrap();
    drop(f);
    let appended = env.query(&["deployments", "-v", "--format", "json"]);
    assert_eq!(
        parsed(&appended),
        ["clonesquad_discovery:0", "clonesquad_instances:1"]
    );
    let rows: Vec<Value> = serde_json::from_str(&stdout_of(&appended)).unwrap();
    assert_eq!(rows[1]["instances"], 2);

    // A file added beside it changes the folder's mtime.
    age(&tree);
    env.query(&["deployments"]);
    std::fs::write(
        file.with_file_name("extra.json"),
        "{\"InstanceId\": \"i-extra\", \"State\": {\"Name\": \"running\"}}\n",
    )
    .unwrap();
    let added = env.query(&["deployments", "-v", "--format", "json"]);
    assert_eq!(
        parsed(&added),
        ["clonesquad_discovery:0", "clonesquad_instances:1"]
    );
    let rows: Vec<Value> = serde_json::from_str(&stdout_of(&added)).unwrap();
    assert_eq!(rows[1]["instances"], 3);

    // A removed deployment disappears.
    std::fs::remove_file(&file).unwrap();
    std::fs::remove_file(file.with_file_name("extra.json")).unwrap();
    let rows = env.json(&["deployments"]);
    assert_eq!(rows[1]["instances"], 0);
}

#[test]
fn a_damaged_cache_file_is_rebuilt_from_the_tree() {
    let env = Env::new();
    let first = env.json(&["deployments"]);
    let mut damaged = 0;
    let mut stack = vec![env.home.path().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "arrow") {
                let len = std::fs::metadata(&path).unwrap().len();
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .unwrap()
                    .set_len(len / 2)
                    .unwrap();
                damaged += 1;
            }
        }
    }
    assert_eq!(damaged, 2, "one cache file per table read");
    let again = env.query(&["deployments", "-v", "--format", "json"]);
    assert!(again.status.success(), "{}", stderr_of(&again));
    assert!(
        stderr_of(&again).contains("parsed=2"),
        "{}",
        stderr_of(&again)
    );
    let rows: Vec<Value> = serde_json::from_str(&stdout_of(&again)).unwrap();
    assert_eq!(rows, first);
}

/// Set the mtime of every folder and file below `root` to an hour ago.
fn age(root: &std::path::Path) {
    let when = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
        std::fs::File::open(&path)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }
}

#[test]
fn list_overrides_and_engine_choice() {
    let env = Env::new();
    let list = env.json(&["--list"]);
    let names: Vec<_> = list.iter().map(|r| r["name"].as_str().unwrap()).collect();
    for name in [
        "config",
        "deployments",
        "drift",
        "hostnames",
        "instances",
        "maintenance",
        "owners",
        "schedules",
        "stale",
        "subfleets",
        "versions",
        "volumes",
    ] {
        assert!(names.contains(&name), "{name} listed");
    }
    let dir = env.home.path().join("mine");
    Tree::new(&dir).write(
        "stale.sql",
        "-- description: my own stale\nSELECT 42 AS answer\n",
    );
    let own = env.json(&["stale", "--queries-dir", dir.to_str().unwrap()]);
    assert_eq!(own, vec![json!({"answer": 42})]);

    // The Athena engine is chosen by --engine (loopback only: a port nobody listens on).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let athena = env.query(&[
        "deployments",
        "--engine",
        "athena",
        "--endpoint-url",
        &format!("http://127.0.0.1:{port}"),
    ]);
    assert_eq!(athena.status.code(), Some(2));
    assert!(
        stderr_of(&athena).contains("StartQueryExecution"),
        "{}",
        stderr_of(&athena)
    );

    cs_snapshot!(
        "no_source",
        Filters::new(),
        cs_cmdb(env.home.path()).args(["query", "deployments"])
    );
    std::fs::create_dir_all(env.home.path().join("empty")).unwrap();
    cs_snapshot!(
        "an_empty_source",
        Filters::new(),
        cs_cmdb(env.home.path()).args(["query", "deployments", "--source", "empty"])
    );
}

/// Every canned query answers on the bundled example (a tree of 9 deployments generated with a
/// fixed seed and clock, with a snapshot of its Organization): at least one row each, and the answers as a snapshot, so a change to
/// a query, the loader or the example shows as a diff.
#[test]
fn every_canned_query_runs_on_the_bundled_example() {
    let home = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    // The Organization queries read the snapshot of the example's accounts from the cache.
    example_snapshot(&home.path().join("cache"));
    let run = |args: &[&str], format: &str| {
        let out = cs_cmdb(home.path())
            .env("CS_CMDB_NOW", "2026-11-26T09:00:00Z")
            .arg("query")
            .args(args)
            .args(["--format", format, "--cache-dir", "cache", "--source"])
            .arg(&example)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr_of(&out));
        assert_eq!(stderr_of(&out), "", "{args:?}");
        stdout_of(&out)
    };
    let listed: Vec<Value> = serde_json::from_str(&run(&["--list"], "json")).unwrap();
    let names: Vec<&str> = listed.iter().map(|q| q["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 19, "{names:?}");
    let mut answers = String::new();
    for name in names {
        let args: &[&str] = if name == "config" {
            &["config", "-p", "key=app.run_period"]
        } else {
            &[name]
        };
        let rows: Vec<Value> = serde_json::from_str(&run(args, "json")).unwrap();
        assert!(!rows.is_empty(), "`{name}` has no row on the example");
        answers.push_str(&format!("== {}\n{}", args.join(" "), run(args, "csv")));
    }
    insta::assert_snapshot!("canned_queries_on_the_example", answers);
}

#[test]
fn versions_that_are_not_semantic_are_unknown_and_sorted_last() {
    let home = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let run = |name: &str| -> Vec<Value> {
        let out = cs_cmdb(home.path())
            .env("CS_CMDB_NOW", "2026-11-26T09:00:00Z")
            .args(["query", name, "--format", "json", "--source"])
            .arg(&example)
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {}", stderr_of(&out));
        serde_json::from_str(&stdout_of(&out)).unwrap()
    };
    let versions: Vec<(String, i64)> = run("versions")
        .iter()
        .map(|r| {
            (
                r["version"].as_str().unwrap().to_string(),
                r["deployments"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [
            ("v0.27.1".to_string(), 2),
            ("v0.27.0".to_string(), 1),
            ("v0.25.0".to_string(), 1),
            ("v0.9.2".to_string(), 2),
            ("unknown (\"\")".to_string(), 2),
            ("unknown (\"--Development--\")".to_string(), 1),
        ]
    );
    let deployments = run("deployments");
    let unknown: Vec<&str> = deployments
        .iter()
        .filter_map(|r| r["version"].as_str())
        .filter(|v| v.starts_with("unknown"))
        .collect();
    assert_eq!(unknown.len(), 3, "{deployments:?}");
}

#[test]
fn a_query_from_a_file_takes_its_header_parameters() {
    let env = Env::new();
    let file = Tree::new(env.home.path()).write(
        "mine/older-than.sql",
        "-- name: older-than\n\
         -- description: Deployments exported more than N hours ago, by version.\n\
         -- param: hours int = 100 | Age threshold, in hours.\n\
         SELECT groupname, clonesquadversion AS version FROM clonesquad_discovery\n\
         WHERE date_diff('hour', metadatarecordlastupdatedat, current_timestamp) >= ?\n\
         ORDER BY groupname\n",
    );
    let file = file.to_str().unwrap();
    // The header's default applies, a --param overrides it, and is typed by the header.
    assert_eq!(
        env.json(&["--file", file]),
        vec![json!({"groupname": "api-2", "version": "v0.9.2"})]
    );
    assert_eq!(env.json(&["--file", file, "-p", "hours=1"]).len(), 2);
    cs_snapshot!(
        "a_file_parameter_of_the_wrong_type",
        Filters::new().path(env.home.path(), "[HOME]"),
        env.cmd(&["--file", file, "-p", "hours=soon"])
    );
    cs_snapshot!(
        "a_file_that_does_not_exist",
        Filters::new().path(env.home.path(), "[HOME]"),
        env.cmd(&["--file", "mine/nope.sql"])
    );
}

/// Every `.arrow` and manifest file below `dir`, by path relative to it.
fn cache_files(dir: &Path) -> Vec<String> {
    crate::support::tree::files(dir)
        .into_keys()
        .filter(|k| k.ends_with(".arrow") || k.ends_with(".manifest"))
        .collect()
}

#[test]
fn the_cache_goes_where_cache_dir_says() {
    let env = Env::new();
    let home = env.home.path();
    let default = home.join("cache"); // XDG_CACHE_HOME of the test environment
    assert_eq!(env.json(&["deployments", "--cache-dir", "mine"]).len(), 2);
    let mine = cache_files(&home.join("mine"));
    assert_eq!(
        mine.len(),
        4,
        "two tables, a data file and a manifest each: {mine:?}"
    );
    assert!(
        cache_files(&default).is_empty(),
        "written to the default cache too"
    );

    // CS_CMDB_CACHE_DIR is its environment twin; without either, the user cache folder.
    let out = env
        .cmd(&["deployments"])
        .env("CS_CMDB_CACHE_DIR", home.join("from-env"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(cache_files(&home.join("from-env")).len(), 4);
    assert!(cache_files(&default).is_empty());
    assert_eq!(env.json(&["deployments"]).len(), 2);
    assert_eq!(cache_files(&default.join("cs-cmdb")).len(), 4);
}

#[test]
fn query_from_s3_mirrors_then_offline_reuses() {
    use crate::mirror::{s3_path, seeded_bucket};
    let (moto, src, _) = seeded_bucket(12);
    let home = tempfile::tempdir().unwrap();
    let query = |args: &[&str]| {
        cs_cmdb(home.path())
            .env("CS_CMDB_NOW", NOW)
            .args(["query", "deployments", "--format", "csv"])
            .args(args)
            .output()
            .unwrap()
    };

    let local = query(&["--source", src.path().to_str().unwrap()]);
    assert!(local.status.success(), "{}", stderr_of(&local));
    assert_eq!(stdout_of(&local).lines().count(), 13);

    let remote = query(&["--endpoint-url", &moto.endpoint, "--source", &s3_path()]);
    let err = stderr_of(&remote);
    assert!(remote.status.success(), "{err}");
    assert!(
        err.starts_with(&format!("mirror {} -> ", s3_path())),
        "no mirror summary: {err}"
    );
    assert_eq!(stdout_of(&remote), stdout_of(&local));

    // Offline: no S3 call at all (the endpoint is a closed port), same answer.
    let offline = query(&["--offline", "--source", &s3_path()]);
    assert!(offline.status.success(), "{}", stderr_of(&offline));
    assert_eq!(stdout_of(&offline), stdout_of(&local));

    // --offline without a mirror says how to make one.
    cs_snapshot!(
        "offline_without_a_mirror",
        Filters::new().path(home.path(), "[HOME]"),
        cs_cmdb(home.path()).args([
            "query",
            "deployments",
            "--offline",
            "--source",
            "s3://another-bucket/clonesquad"
        ])
    );
}

/// A misspelt query name gets the closest one; a parameter below its declared minimum is refused.
#[test]
fn query_names_and_parameter_ranges() {
    let env = Env::new();
    let mut runs = crate::support::snapshot::Runs::new(Filters::new());
    let out = runs.run("query stael", &mut env.cmd(&["stael"]));
    assert_eq!(out.status.code(), Some(2));
    let out = runs.run(
        "query stale -p hours=-5",
        &mut env.cmd(&["stale", "-p", "hours=-5"]),
    );
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!("query_names_and_parameter_ranges", runs.text());
    assert_eq!(env.json(&["stale", "-p", "hours=0"]).len(), 2);
}

/// Schema introspection without loading data: SHOW TABLES, DESCRIBE and
/// information_schema.columns in --sql; `tables` and `describe`; the user's table names in
/// errors, with a "did you mean".
#[test]
fn the_schema_can_be_introspected() {
    let env = Env::new();
    let shown: Vec<String> = env
        .json(&["--sql", "SHOW TABLES"])
        .iter()
        .filter(|r| r["table_schema"] == "public")
        .map(|r| r["table_name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(shown.len(), 8, "{shown:?}");
    assert!(shown.contains(&"clonesquad_instances".to_string()));
    let described = env.json(&["--sql", "DESCRIBE clonesquad_discovery"]);
    assert!(
        described
            .iter()
            .any(|r| r["column_name"] == "clonesquadversion"),
        "{described:?}"
    );
    let columns = env.json(&[
        "--sql",
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'clonesquad_volumes' AND column_name = 'volumeid'",
    ]);
    assert_eq!(columns.len(), 1);
    let mut runs = crate::support::snapshot::Runs::new(Filters::new());
    runs.run(
        "a misspelt table",
        &mut env.cmd(&["--sql", "SELECT * FROM clonesquad_instancs"]),
    );
    runs.run(
        "tables",
        cs_cmdb(env.home.path()).args(["tables", "-f", "csv"]),
    );
    runs.run(
        "describe",
        cs_cmdb(env.home.path()).args(["describe", "clonesquad_scheduler", "-f", "csv"]),
    );
    runs.run(
        "describe a misspelt table",
        cs_cmdb(env.home.path()).args(["describe", "clonesquad_schedule"]),
    );
    let text = runs.text().to_string();
    assert!(!text.contains("datafusion."), "{text}");
    insta::assert_snapshot!("schema_introspection", text);
}
