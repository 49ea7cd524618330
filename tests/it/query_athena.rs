//! `cs-cmdb query --engine athena`: the same SQL files on Athena, against the emulator behind the
//! loopback server, which records what the binary sends (the SQL, its bound parameters, the
//! workgroup, the result location, result reuse) and stands in for what the emulator lacks
//! (FAILED queries, paged results).

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::athena::{create_work_group, executions, queries_keep_running, queue_results};
use crate::support::server::{Server, Upstream};
use crate::support::snapshot::Filters;
use crate::support::{Moto, cs_cmdb, stderr_of, stdout_of};

fn cmd(endpoint: &str, home: &std::path::Path) -> assert_cmd::Command {
    let mut c = cs_cmdb(home);
    c.args(["--endpoint-url", endpoint]);
    c
}

fn stale_result(moto: &Moto) {
    queue_results(
        moto,
        &[
            "account_id",
            "region",
            "group_name",
            "version",
            "last_export_at",
            "age_hours",
        ],
        &[vec![
            "222222222222",
            "us-east-1",
            "api-2",
            "v0.9.2",
            "2026-11-20 09:00:00.123",
            "144",
        ]],
        &[
            "varchar",
            "varchar",
            "varchar",
            "varchar",
            "timestamp",
            "bigint",
        ],
    );
}

#[test]
fn canned_queries_run_on_athena_with_bound_parameters() {
    let moto = Moto::start();
    stale_result(&moto);
    create_work_group(&moto, "governance");
    let proxy = Server::recording(&moto.endpoint);
    let home = tempfile::tempdir().unwrap();
    let out = cmd(&proxy.endpoint, home.path())
        .args([
            "query",
            "stale",
            "--engine",
            "athena",
            "-p",
            "hours=5",
            "--format",
            "json",
            "--database",
            "gov",
            "--workgroup",
            "governance",
            "--output-location",
            "s3://results/cs-cmdb/",
            "--reuse-minutes",
            "15",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let rows: Vec<Value> = serde_json::from_str(&stdout_of(&out)).unwrap();
    assert_eq!(
        rows,
        vec![
            json!({"account_id": "222222222222", "region": "us-east-1", "group_name": "api-2",
            "version": "v0.9.2", "last_export_at": "2026-11-20 09:00:00.123", "age_hours": 144})
        ]
    );
    let sent = executions(&moto);
    assert_eq!(
        sent[0].query,
        include_str!("../../queries/stale.sql"),
        "the very same SQL file"
    );
    assert_eq!(sent[0].parameters, ["5"]);
    // Where and how it ran, as sent.
    let start = proxy.calls("StartQueryExecution");
    assert_eq!(start.len(), 1);
    let body = start[0].json();
    assert_eq!(body["WorkGroup"], "governance", "{body}");
    assert_eq!(
        body["QueryExecutionContext"],
        json!({"Catalog": "AwsDataCatalog", "Database": "gov"}),
        "{body}"
    );
    assert_eq!(
        body["ResultConfiguration"],
        json!({"OutputLocation": "s3://results/cs-cmdb/"}),
        "{body}"
    );
    assert_eq!(
        body["ResultReuseConfiguration"],
        json!({"ResultReuseByAgeConfiguration": {"Enabled": true, "MaxAgeInMinutes": 15}}),
        "{body}"
    );
    assert_eq!(body["ExecutionParameters"], json!(["5"]), "{body}");

    // Without those flags: the workgroup's defaults, no result reuse.
    let out = cmd(&proxy.endpoint, home.path())
        .args(["query", "stale", "--engine", "athena", "--format", "csv"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let body = proxy.calls("StartQueryExecution")[1].json();
    for absent in [
        "WorkGroup",
        "ResultConfiguration",
        "ResultReuseConfiguration",
    ] {
        assert_eq!(body.get(absent), None, "{absent} sent: {body}");
    }
    assert_eq!(body["QueryExecutionContext"]["Database"], "cs_cmdb");

    // A value with a quote is bound as a literal, not spliced.
    let out = cmd(&proxy.endpoint, home.path())
        .args([
            "query", "config", "--engine", "athena", "-p", "key=it's", "--format", "csv",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let sent = executions(&moto);
    assert_eq!(sent[2].parameters, ["'it''s'"]);
    assert!(!sent[2].query.contains("it's"));

    // --reuse-minutes is bounded as Athena bounds it.
    cs_snapshot!(
        "reuse_minutes_out_of_range",
        Filters::new(),
        cmd(&proxy.endpoint, home.path()).args([
            "query",
            "stale",
            "--engine",
            "athena",
            "--reuse-minutes",
            "0",
        ])
    );
}

#[test]
fn results_are_paged_with_one_header_and_failures_are_explained() {
    let moto = Moto::start();
    let rows: Vec<Vec<String>> = (0..7)
        .map(|i| vec![format!("host-{i}"), i.to_string()])
        .collect();
    let rows_ref: Vec<Vec<&str>> = rows
        .iter()
        .map(|r| r.iter().map(String::as_str).collect())
        .collect();
    // The emulator answers in one page: the server cuts it into pages of 3 rows (the header is
    // row 0 of page 1 only), and makes the query whose text contains FAILME fail.
    let upstream = Upstream::new(&moto.endpoint);
    let proxy = Server::start(move |req| {
        let upstream = upstream.clone();
        async move {
            let reply = upstream.send(&req).await;
            match req.action().as_str() {
                "GetQueryResults" => {
                    let start: usize = req.json()["NextToken"]
                        .as_str()
                        .and_then(|t| t.parse().ok())
                        .unwrap_or(0);
                    reply.map_json(|body| {
                        let all = body["ResultSet"]["Rows"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default();
                        let end = (start + 3).min(all.len());
                        body["ResultSet"]["Rows"] = Value::Array(all[start..end].to_vec());
                        if end < all.len() {
                            body["NextToken"] = json!(end.to_string());
                        }
                    })
                }
                "GetQueryExecution" => reply.map_json(|body| {
                    let failing = body["QueryExecution"]["Query"]
                        .as_str()
                        .is_some_and(|q| q.contains("FAILME"));
                    if failing {
                        body["QueryExecution"]["Status"]["State"] = json!("FAILED");
                        body["QueryExecution"]["Status"]["StateChangeReason"] =
                            json!("COLUMN_NOT_FOUND: line 1:8: Column 'failme' cannot be resolved");
                    }
                }),
                _ => reply,
            }
        }
    });
    let home = tempfile::tempdir().unwrap();
    for format in ["csv", "table"] {
        moto.reset();
        queue_results(
            &moto,
            &["hostname", "n"],
            &rows_ref,
            &["varchar", "integer"],
        );
        let pages_before = proxy.calls("GetQueryResults").len();
        let out = cmd(&proxy.endpoint, home.path())
            .args([
                "query",
                "--sql",
                "SELECT hostname, n FROM t",
                "--engine",
                "athena",
                "--format",
                format,
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
        assert_eq!(
            proxy.calls("GetQueryResults").len() - pages_before,
            3,
            "8 rows in pages of 3"
        );
        let text = stdout_of(&out);
        assert_eq!(text.matches("hostname").count(), 1, "one header: {text}");
        for i in 0..7 {
            assert_eq!(
                text.matches(&format!("host-{i}")).count(),
                1,
                "row {i} once in {text}"
            );
        }
    }
    let out = cs_snapshot!(
        "a_failed_query_names_its_id_and_reason",
        Filters::new(),
        cmd(&proxy.endpoint, home.path()).args([
            "query",
            "--sql",
            "SELECT FAILME",
            "--engine",
            "athena"
        ])
    );
    let id = executions(&moto).last().unwrap().id.clone();
    assert!(stderr_of(&out).contains(id.as_str()), "names the query id");
}

#[test]
fn ctrl_c_stops_the_athena_query() {
    let moto = Moto::start();
    queries_keep_running(&moto);
    let proxy = Server::recording(&moto.endpoint);
    let home = tempfile::tempdir().unwrap();
    let mut child = crate::support::spawn(
        home.path(),
        &[
            "--endpoint-url",
            &proxy.endpoint,
            "query",
            "--sql",
            "SELECT 1",
            "--engine",
            "athena",
        ],
    );
    // The binary listens for Ctrl-C from its first wait on the query: once it polls the
    // execution a second time, it is waiting on a query still in progress.
    let polling = proxy.wait_for(Duration::from_secs(60), |log| {
        log.iter()
            .filter(|e| e.action() == "GetQueryExecution" && e.reply.is_some())
            .count()
            >= 2
    });
    if !polling {
        let _ = child.kill();
        panic!(
            "the query was not polled twice: {:?}",
            child.wait_with_output()
        );
    }
    let state = executions(&moto)[0].state.clone();
    assert!(["QUEUED", "RUNNING"].contains(&state.as_str()), "{state}");
    crate::support::interrupt(&child);
    let out = child.wait_with_output().unwrap();
    insta::assert_snapshot!(
        "ctrl_c_cancels_the_query",
        crate::support::snapshot::format(&out, &Filters::new())
    );
    let id = executions(&moto)[0].id.clone();
    let stops = proxy.calls("StopQueryExecution");
    assert_eq!(stops.len(), 1);
    assert_eq!(stops[0].json()["QueryExecutionId"], id.as_str());
    assert_eq!(executions(&moto)[0].state, "CANCELLED");
}

/// The Organization queries run on Athena as they are shipped: the same file, its parameter
/// bound, over the `org_*` tables `install` created; the local snapshot is neither read nor
/// refreshed (Athena reads the uploaded one).
#[test]
fn organization_queries_run_on_athena_as_shipped() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, &[&str]); 6] = [
        (
            "coverage",
            include_str!("../../queries/coverage.sql"),
            &["26"],
        ),
        (
            "coverage-map",
            include_str!("../../queries/coverage-map.sql"),
            &["26"],
        ),
        (
            "deployments-by-ou",
            include_str!("../../queries/deployments-by-ou.sql"),
            &[],
        ),
        (
            "fleet-by-ou",
            include_str!("../../queries/fleet-by-ou.sql"),
            &[],
        ),
        (
            "versions-by-ou",
            include_str!("../../queries/versions-by-ou.sql"),
            &[],
        ),
        (
            "owners-by-tag",
            include_str!("../../queries/owners-by-tag.sql"),
            &["'Owner'", "'Owner'"],
        ),
    ];
    for (at, (name, sql, parameters)) in cases.iter().enumerate() {
        queue_results(
            &moto,
            &["ou_path", "deployments"],
            &[vec!["Root/Workloads/Prod", "3"]],
            &["varchar", "bigint"],
        );
        let out = cmd(&moto.endpoint, home.path())
            .args(["query", name, "--engine", "athena", "--format", "json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {}", stderr_of(&out));
        assert_eq!(stderr_of(&out), "", "{name}: no snapshot taken or read");
        let rows: Vec<Value> = serde_json::from_str(&stdout_of(&out)).unwrap();
        assert_eq!(
            rows,
            [json!({"ou_path": "Root/Workloads/Prod", "deployments": 3})],
            "{name}"
        );
        let sent = &executions(&moto)[at];
        assert_eq!(sent.query, *sql, "{name}: the very same SQL file");
        assert!(sent.query.contains("org_accounts"), "{name}");
        assert_eq!(sent.parameters, *parameters, "{name}");
    }
    assert!(
        !home.path().join("cache").exists() || !home.path().join("cache/org").exists(),
        "no local snapshot was written"
    );
}
