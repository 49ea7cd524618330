//! Settings, layered: built-in defaults < the config file (`--config`, `CS_CMDB_CONFIG`,
//! `./cs-cmdb.toml`, else `<user config dir>/cs-cmdb/config.toml`) < `CS_CMDB_*` environment <
//! flags. Each setting is observed where it acts: the output format on stdout, the endpoint and
//! region on the requests a recording server receives, the Athena options in the
//! StartQueryExecution it records, paths in what the binary reads and writes.
//! (Fan-out twins such as `CS_CMDB_ROLE_NAME` are in discover.rs, `CS_CMDB_CACHE_DIR` in
//! query.rs, `CS_CMDB_PROFILE` in profiles.rs, `CS_CMDB_LOG` in output.rs.)

use std::path::Path;

use crate::support::server::{Exchange, Reply, Server};
use crate::support::snapshot::{Filters, Runs};
use crate::support::standin::StandIn;
use crate::support::tree::Tree;
use crate::support::{cs_cmdb, stderr_of, stdout_of};

/// The first line of `query --list` (no AWS, no source needed) under `env` and `args`.
fn list_header(home: &Path, env: &[(&str, &str)], args: &[&str]) -> String {
    let mut cmd = cs_cmdb(home);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.args(args).args(["query", "--list"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    stdout_of(&out)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

const CSV: &str = "name,description,parameters";
const JSON: &str = "[";
const MARKDOWN: &str = "| name | description | parameters |";

#[test]
fn config_file_env_and_flag_layer_in_that_order() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    // Defaults: a table.
    assert!(list_header(home, &[], &[]).starts_with('┌'));
    // The user config dir's file, when there is no ./cs-cmdb.toml.
    let user = Tree::new(home.join("config"));
    user.write("cs-cmdb/config.toml", "format = \"csv\"\n");
    assert_eq!(list_header(home, &[], &[]), CSV);
    // ./cs-cmdb.toml wins over it.
    std::fs::write(home.join("cs-cmdb.toml"), "format = \"markdown\"\n").unwrap();
    assert_eq!(list_header(home, &[], &[]), MARKDOWN);
    // The environment over the file, the flag over the environment.
    assert_eq!(list_header(home, &[("CS_CMDB_FORMAT", "json")], &[]), JSON);
    assert_eq!(
        list_header(home, &[("CS_CMDB_FORMAT", "json")], &["--format", "csv"]),
        CSV
    );
    // --config (or CS_CMDB_CONFIG) names another file, which wins over ./cs-cmdb.toml.
    std::fs::write(home.join("other.toml"), "format = \"json\"\n").unwrap();
    assert_eq!(list_header(home, &[], &["--config", "other.toml"]), JSON);
    assert_eq!(
        list_header(home, &[("CS_CMDB_CONFIG", "other.toml")], &[]),
        JSON
    );
}

#[test]
fn a_malformed_config_file_names_file_line_and_key() {
    let home = tempfile::tempdir().unwrap();
    let mut runs = Runs::new(Filters::new());
    for (name, config) in [
        (
            "an unknown key",
            "region = \"eu-west-1\"\nmetdata-path = \"s3://b/p\"\n",
        ),
        ("an unknown format", "format = \"yaml\"\n"),
        ("a bad endpoint", "endpoint-url = \"localhost:4566\"\n"),
        ("a bad metadata path", "metadata-path = \"my-bucket/p\"\n"),
    ] {
        std::fs::write(home.path().join("cs-cmdb.toml"), config).unwrap();
        let out = runs.run(name, cs_cmdb(home.path()).arg("accounts"));
        assert_eq!(out.status.code(), Some(2), "{name}");
    }
    let out = runs.run(
        "a --config file that does not exist",
        cs_cmdb(home.path()).args(["--config", "missing.toml", "accounts"]),
    );
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!("malformed_config", runs.text());
}

/// `whoami --format json` under `env` and `args`.
fn whoami(home: &Path, env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let mut cmd = cs_cmdb(home);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(args)
        .args(["whoami", "--format", "json"])
        .output()
        .unwrap()
}

/// The regions the recorded calls were signed for.
fn signed_regions(calls: &[Exchange]) -> Vec<String> {
    calls
        .iter()
        .filter_map(|e| e.scope())
        .map(|s| s.region)
        .collect()
}

#[test]
fn the_endpoint_and_region_come_from_a_flag_the_environment_or_the_config_file() {
    let standin = StandIn::start(0, std::time::Duration::ZERO);
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    // (exit code, regions the calls were signed for, region shown) of one run.
    let run = |env: &[(&str, &str)], args: &[&str]| {
        let before = standin.server.exchanges().len();
        let out = whoami(home, env, args);
        let signed = signed_regions(&standin.server.exchanges()[before..]);
        let shown = serde_json::from_str::<serde_json::Value>(&stdout_of(&out))
            .map(|rows| rows[0]["region"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default();
        (out.status.code(), signed, shown)
    };
    let both = |region: &str| (Some(0), vec![region.to_string(); 2], region.to_string());
    let endpoint = standin.endpoint.as_str();

    // The endpoint: flag, environment, config file (each run reached the stand-in).
    assert_eq!(run(&[], &["--endpoint-url", endpoint]), both("us-east-1"));
    assert_eq!(
        run(&[("CS_CMDB_ENDPOINT_URL", endpoint)], &[]),
        both("us-east-1")
    );
    std::fs::write(
        home.join("cs-cmdb.toml"),
        format!("endpoint-url = \"{endpoint}\"\n"),
    )
    .unwrap();
    assert_eq!(run(&[], &[]), both("us-east-1"));

    // The region: AWS_REGION (the test environment's) < the config file < CS_CMDB_REGION < flag.
    std::fs::write(
        home.join("cs-cmdb.toml"),
        format!("endpoint-url = \"{endpoint}\"\nregion = \"eu-west-3\"\n"),
    )
    .unwrap();
    assert_eq!(run(&[], &[]), both("eu-west-3"));
    assert_eq!(
        run(&[("CS_CMDB_REGION", "ap-south-1")], &[]),
        both("ap-south-1")
    );
    assert_eq!(
        run(
            &[("CS_CMDB_REGION", "ap-south-1")],
            &["--region", "sa-east-1"]
        ),
        both("sa-east-1")
    );
}

#[test]
fn no_region_anywhere_is_an_error_before_any_call() {
    let server = Server::start(|_| async { Reply::new(500, "text/plain", "unexpected call") });
    let home = tempfile::tempdir().unwrap();
    let out = cs_snapshot!(
        Filters::new(),
        cs_cmdb(home.path()).env_remove("AWS_REGION").args([
            "--endpoint-url",
            &server.endpoint,
            "whoami"
        ])
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(server.exchanges().is_empty(), "an AWS call was made");
}

#[test]
fn metadata_path_and_database_come_from_the_environment_or_the_config_file() {
    let home = tempfile::tempdir().unwrap();
    let print = |env: &[(&str, &str)]| {
        let mut cmd = cs_cmdb(home.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.args(["install", "--print"]).output().unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
        let ddl = stdout_of(&out);
        let database = ddl
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("CREATE DATABASE IF NOT EXISTS "))
            .unwrap()
            .trim_end_matches(';')
            .to_string();
        let location = ddl
            .lines()
            .find_map(|l| l.strip_prefix("LOCATION '"))
            .unwrap()
            .to_string();
        (database, location)
    };
    assert_eq!(
        print(&[
            ("CS_CMDB_METADATA_PATH", "s3://from-env/p"),
            ("CS_CMDB_DATABASE", "env_db")
        ]),
        (
            "env_db".to_string(),
            "s3://from-env/p/metadata/discovery/';".to_string()
        )
    );
    std::fs::write(
        home.path().join("cs-cmdb.toml"),
        "metadata-path = \"s3://from-file/q\"\ndatabase = \"file_db\"\n",
    )
    .unwrap();
    assert_eq!(
        print(&[]),
        (
            "file_db".to_string(),
            "s3://from-file/q/metadata/discovery/';".to_string()
        )
    );
    assert_eq!(
        print(&[("CS_CMDB_DATABASE", "env_db")]).0,
        "env_db",
        "the environment over the file"
    );
}

#[test]
fn query_settings_come_from_the_environment_or_the_config_file() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let tree = Tree::new(home.join("tree"));
    tree.deployment("111111111111", "eu-west-1", "web-front")
        .discovery(serde_json::json!({"CloneSquadVersion": "v0.27.1"}));
    Tree::new(home.join("mine")).write("answer.sql", "-- description: mine\nSELECT 42 AS answer\n");
    let query = |env: &[(&str, &str)], args: &[&str]| {
        let mut cmd = cs_cmdb(home);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.args(["query", "--format", "csv"])
            .args(args)
            .output()
            .unwrap()
    };
    // CS_CMDB_SOURCE and CS_CMDB_QUERIES_DIR.
    let out = query(
        &[("CS_CMDB_SOURCE", "tree"), ("CS_CMDB_QUERIES_DIR", "mine")],
        &["answer"],
    );
    assert_eq!(stdout_of(&out), "answer\n42\n", "{}", stderr_of(&out));
    let out = query(&[("CS_CMDB_SOURCE", "tree")], &["versions"]);
    assert!(
        stdout_of(&out).contains("\nv0.27.1,1,"),
        "{}",
        stderr_of(&out)
    );

    // CS_CMDB_ENGINE=athena, with the workgroup, result location and database from the
    // environment: seen in the StartQueryExecution a recording server receives (and refuses).
    let server = Server::start(|_| async {
        Reply::aws_error(400, "InvalidRequestException", "recorded, not run")
    });
    let athena = |env: &[(&str, &str)]| {
        let before = server.exchanges().len();
        let out = query(
            &[&[("CS_CMDB_ENDPOINT_URL", server.endpoint.as_str())], env].concat(),
            &["--sql", "SELECT 1"],
        );
        assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
        let sent = server.exchanges()[before..].to_vec();
        assert_eq!(
            sent.len(),
            1,
            "one StartQueryExecution: {}",
            stderr_of(&out)
        );
        assert_eq!(sent[0].action(), "StartQueryExecution");
        sent[0].json()
    };
    let body = athena(&[
        ("CS_CMDB_ENGINE", "athena"),
        ("CS_CMDB_WORKGROUP", "env-wg"),
        ("CS_CMDB_OUTPUT_LOCATION", "s3://env-results/"),
        ("CS_CMDB_DATABASE", "env_db"),
    ]);
    assert_eq!(body["WorkGroup"], "env-wg");
    assert_eq!(
        body["ResultConfiguration"]["OutputLocation"],
        "s3://env-results/"
    );
    assert_eq!(body["QueryExecutionContext"]["Database"], "env_db");

    // The same from the config file.
    std::fs::write(
        home.join("cs-cmdb.toml"),
        "source = \"tree\"\nqueries-dir = \"mine\"\nengine = \"athena\"\nworkgroup = \"file-wg\"\noutput-location = \"s3://file-results/\"\ndatabase = \"file_db\"\ncache-dir = \"file-cache\"\n",
    )
    .unwrap();
    let body = athena(&[]);
    assert_eq!(body["WorkGroup"], "file-wg");
    assert_eq!(
        body["ResultConfiguration"]["OutputLocation"],
        "s3://file-results/"
    );
    assert_eq!(body["QueryExecutionContext"]["Database"], "file_db");
    // ... and the embedded engine's settings: source, queries dir, cache dir.
    let out = query(&[], &["answer", "--engine", "local"]);
    assert_eq!(stdout_of(&out), "answer\n42\n", "{}", stderr_of(&out));
    let out = query(&[], &["versions", "--engine", "local"]);
    assert!(
        stdout_of(&out).contains("\nv0.27.1,1,"),
        "{}",
        stderr_of(&out)
    );
    assert!(
        crate::support::tree::files(&home.join("file-cache"))
            .keys()
            .any(|k| k.ends_with(".arrow")),
        "no cache under the config file's cache-dir"
    );
}

#[test]
fn the_policy_comes_from_the_environment() {
    let home = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = cs_cmdb(home.path())
        .env("CS_CMDB_POLICY", root.join("examples/policy.toml"))
        .env("CS_CMDB_NOW", "2026-11-26T10:00:00Z")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(["check", "--format", "csv", "--source"])
        .arg(root.join("examples"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("check: 8 rules (2 skipped) over 9 deployments"),
        "{}",
        stderr_of(&out)
    );
}

/// Named connections (`[connection.NAME]`, picked with --connection or CS_CMDB_CONNECTION): under
/// the flags and the environment, over the file's top level; observed on the AssumeRole calls a
/// stand-in receives (role name, region) and on stdout (format).
#[test]
fn a_connection_sits_between_the_environment_and_the_top_level() {
    let standin = StandIn::start(2, std::time::Duration::ZERO);
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("cs-cmdb.toml"),
        "role-name = \"TopRole\"\nformat = \"csv\"\nregions = [\"eu-west-1\"]\n\n\
         [connection.second-org]\nrole-name = \"ConnRole\"\nformat = \"jsonl\"\nregions = [\"us-west-2\"]\n",
    )
    .unwrap();
    let discover = |env: &[(&str, &str)], args: &[&str]| {
        let before = standin.server.exchanges().len();
        let mut cmd = cs_cmdb(home.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd
            .args(["--endpoint-url", &standin.endpoint, "discover"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr_of(&out));
        let sent = standin.server.exchanges()[before..].to_vec();
        let roles: std::collections::BTreeSet<String> = sent
            .iter()
            .filter(|e| e.action() == "AssumeRole")
            .map(|e| e.form()["RoleArn"].rsplit('/').next().unwrap().to_string())
            .collect();
        let first = stdout_of(&out).chars().next().unwrap_or(' ');
        (roles.into_iter().collect::<Vec<_>>().join(","), first)
    };
    // The top level: TopRole, CSV (a header first).
    assert_eq!(discover(&[], &[]), ("TopRole".into(), 'a'));
    // The connection, by flag or by environment: ConnRole, JSON Lines.
    assert_eq!(
        discover(&[], &["--connection", "second-org"]),
        ("ConnRole".into(), '{')
    );
    let by_env = [("CS_CMDB_CONNECTION", "second-org")];
    assert_eq!(discover(&by_env, &[]), ("ConnRole".into(), '{'));
    // The environment over the connection, the flag over the environment.
    let env_role = [
        ("CS_CMDB_CONNECTION", "second-org"),
        ("CS_CMDB_ROLE_NAME", "EnvRole"),
        ("CS_CMDB_FORMAT", "json"),
    ];
    assert_eq!(discover(&env_role, &[]), ("EnvRole".into(), '['));
    assert_eq!(
        discover(&env_role, &["--role-name", "FlagRole", "-f", "csv"]),
        ("FlagRole".into(), 'a')
    );
    // An unknown connection names the known ones.
    cs_snapshot!(
        "an_unknown_connection",
        Filters::new(),
        cs_cmdb(home.path()).args(["--connection", "second-rog", "discover"])
    );
}

/// A misspelt `--region` is named at once with the closest region, before the calls fail as an
/// unreachable endpoint; a region this build does not know is still used (it may be newer).
#[test]
fn a_misspelt_region_is_named_with_a_did_you_mean() {
    let home = tempfile::tempdir().unwrap();
    let out = cs_cmdb(home.path())
        .args(["--region", "eu-wst-1", "whoami"])
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert!(
        err.starts_with(" WARN the AWS region: `eu-wst-1` is not a known AWS region; did you mean `eu-west-1`? (used anyway, in case it is newer than this build)\n"),
        "{err}"
    );
    let known = cs_cmdb(home.path())
        .args(["--region", "eu-west-1", "whoami"])
        .output()
        .unwrap();
    assert!(!stderr_of(&known).contains("not a known AWS region"));
}
