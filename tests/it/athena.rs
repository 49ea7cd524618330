//! Athena: install, exact partitions, and queries on the Athena engine, against the emulator
//! (and a loopback proxy for what the emulator lacks: FAILED queries, paged results).

use std::collections::BTreeSet;

use aws_sdk_glue::types::{Column, DatabaseInput, SerDeInfo, StorageDescriptor, TableInput};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::support::rewrite::{Action, Proxy};
use crate::support::{MAIN_ACCOUNT, Moto, REGION, block_on, cs_cmdb, stderr_of, stdout_of};

const BUCKET: &str = "cmdb-bucket";
const PATH: &str = "s3://cmdb-bucket/clonesquad";

/// A bucket with one discovery object per (account, region, group) in `partitions`.
fn bucket_with(moto: &Moto, partitions: &[(String, &str, String)]) {
    let s3 = moto.s3();
    block_on(async {
        let _ = s3.create_bucket().bucket(BUCKET).send().await;
        futures::stream::iter(partitions.iter().cloned())
            .map(|(account, region, group)| {
                let s3 = s3.clone();
                async move {
                    s3.put_object()
                        .bucket(BUCKET)
                        .key(format!(
                            "clonesquad/metadata/discovery/accountid={account}/region={region}/groupname={group}/{account}-{region}-discovery-cs-{group}.json"
                        ))
                        .body(b"{}\n".to_vec().into())
                        .send()
                        .await
                        .expect("put");
                }
            })
            .buffer_unordered(16)
            .collect::<Vec<_>>()
            .await;
    });
}

fn partitions(n: usize) -> Vec<(String, &'static str, String)> {
    (0..n)
        .map(|i| {
            (
                format!("{:012}", 100_000_000_000u64 + (i / 10) as u64),
                ["eu-west-1", "us-east-1"][i % 2],
                format!("group-{i}"),
            )
        })
        .collect()
}

/// What Athena's CREATE statements leave in the Glue catalog (the emulator's Athena records SQL
/// without executing it): today's DDL, or (`old`) the OpenX SerDe with the column types shipped
/// before (ProductCodes as array<string>).
fn glue_tables(moto: &Moto, database: &str, old: bool) {
    let glue = aws_sdk_glue::Client::new(&moto.sdk_config());
    let tables = cs_cmdb::catalog::ddl::tables().unwrap();
    block_on(async {
        let _ = glue
            .create_database()
            .database_input(DatabaseInput::builder().name(database).build().unwrap())
            .send()
            .await;
        for table in &tables {
            let keys = ["accountid", "region", "groupname"]
                .map(|k| Column::builder().name(k).r#type("string").build().unwrap());
            let columns = table.columns.iter().map(|c| {
                let ty = c.ty.catalog_name();
                let ty = if old && c.name == "productcodes" {
                    "array<string>".to_string()
                } else {
                    ty
                };
                Column::builder().name(&c.name).r#type(ty).build().unwrap()
            });
            let mut serde = SerDeInfo::builder().serialization_library(if old {
                "org.openx.data.jsonserde.JsonSerDe"
            } else {
                table.serde.as_str()
            });
            for (key, value) in &table.serde_properties {
                serde = serde.parameters(key, value);
            }
            glue.create_table()
                .database_name(database)
                .table_input(
                    TableInput::builder()
                        .name(&table.name)
                        .table_type("EXTERNAL_TABLE")
                        .set_partition_keys(Some(keys.to_vec()))
                        .storage_descriptor(
                            StorageDescriptor::builder()
                                .location(format!("{PATH}/{}/", table.folder))
                                .set_columns(Some(columns.collect()))
                                .serde_info(serde.build())
                                .build(),
                        )
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .expect("create table");
        }
    });
}

fn glue_tables_as_athena_creates_them(moto: &Moto, database: &str) {
    glue_tables(moto, database, false);
}

/// Every statement the emulator's Athena received, with its execution parameters, in order.
fn executions(moto: &Moto) -> Vec<(String, Vec<String>)> {
    let athena = aws_sdk_athena::Client::new(&moto.sdk_config());
    block_on(async {
        let ids = athena.list_query_executions().send().await.expect("list");
        let mut out = Vec::new();
        for id in ids.query_execution_ids() {
            let e = athena
                .get_query_execution()
                .query_execution_id(id)
                .send()
                .await
                .expect("get");
            let e = e.query_execution().unwrap();
            out.push((
                e.query().unwrap_or_default().to_string(),
                e.execution_parameters().to_vec(),
            ));
        }
        out
    })
}

fn cmd(moto_endpoint: &str, home: &std::path::Path) -> assert_cmd::Command {
    let mut c = cs_cmdb(home);
    c.args(["--endpoint-url", moto_endpoint, "--metadata-path", PATH]);
    c
}

#[test]
fn install_print_needs_no_aws_and_fills_every_location() {
    let home = tempfile::tempdir().unwrap();
    let out = cs_cmdb(home.path())
        .args([
            "--metadata-path",
            PATH,
            "install",
            "--print",
            "--database",
            "gov",
        ])
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let ddl = stdout_of(&out);
    assert!(ddl.starts_with("CREATE DATABASE IF NOT EXISTS gov;"));
    assert_eq!(
        ddl.matches("CREATE EXTERNAL TABLE IF NOT EXISTS").count(),
        6
    );
    assert!(ddl.contains("LOCATION 's3://cmdb-bucket/clonesquad/metadata/maintenance-windows/'"));
    assert!(!ddl.contains("${metadata_path}"));

    let bad = cs_cmdb(home.path())
        .args([
            "--metadata-path",
            PATH,
            "install",
            "--print",
            "--database",
            "Bad-Name",
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let missing = cs_cmdb(home.path())
        .args(["install", "--print"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr_of(&missing).contains("--metadata-path"));
}

#[test]
fn install_is_idempotent_and_replace_recreates() {
    let moto = Moto::start();
    bucket_with(&moto, &partitions(3));
    let home = tempfile::tempdir().unwrap();
    let out = cmd(&moto.endpoint, home.path())
        .args([
            "install",
            "--no-partitions",
            "--output-location",
            "s3://cmdb-bucket/athena/",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let sent = executions(&moto);
    assert_eq!(sent.len(), 7);
    assert_eq!(sent[0].0, "CREATE DATABASE IF NOT EXISTS cs_cmdb");
    let expected_discovery =
        include_str!("../../ddl/clonesquad_discovery.sql").replace("${metadata_path}", PATH);
    assert_eq!(
        sent[1].0, expected_discovery,
        "the DDL file is sent as is, location filled"
    );
    assert!(sent.iter().all(|(q, _)| !q.contains("${")));

    // Athena's DDL creates Glue entries; with those present, a second run changes nothing.
    glue_tables_as_athena_creates_them(&moto, "cs_cmdb");
    let again = cmd(&moto.endpoint, home.path())
        .arg("install")
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", stderr_of(&again));
    assert_eq!(executions(&moto).len(), 7, "no statement sent on a re-run");
    assert!(
        stderr_of(&again).contains("unchanged: 6"),
        "{}",
        stderr_of(&again)
    );
    assert!(
        stderr_of(&again).contains(
            "clonesquad_discovery: 3 partition(s) in the bucket, 0 in the catalog; added 3"
        )
    );

    let replace = cmd(&moto.endpoint, home.path())
        .args(["install", "--replace", "--no-partitions"])
        .output()
        .unwrap();
    assert!(replace.status.success(), "{}", stderr_of(&replace));
    let sent = executions(&moto);
    assert_eq!(sent.len(), 7 + 12);
    assert_eq!(sent[7].0, "DROP TABLE IF EXISTS clonesquad_discovery");
}

#[test]
fn an_install_of_the_old_ddl_is_reported_and_replace_migrates_it() {
    let moto = Moto::start();
    bucket_with(&moto, &partitions(3));
    glue_tables(&moto, "cs_cmdb", true);
    let home = tempfile::tempdir().unwrap();
    let out = cmd(&moto.endpoint, home.path())
        .args(["install", "--no-partitions"])
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "outdated tables are a finding: {err}"
    );
    assert!(err.contains("unchanged: 0, outdated: 6"), "{err}");
    assert!(
        err.contains("clonesquad_instances differs from the shipped DDL (SerDe org.openx.data.jsonserde.JsonSerDe instead of org.apache.hive.hcatalog.data.JsonSerDe): run `cs-cmdb install --replace`"),
        "{err}"
    );
    assert!(
        executions(&moto).is_empty(),
        "nothing changed without --replace"
    );

    // Only the column type differs: still outdated, and named.
    let glue = aws_sdk_glue::Client::new(&moto.sdk_config());
    block_on(async {
        for t in cs_cmdb::catalog::ddl::tables().unwrap() {
            glue.delete_table()
                .database_name("cs_cmdb")
                .name(&t.name)
                .send()
                .await
                .unwrap();
        }
    });
    glue_tables(&moto, "cs_cmdb", false);
    block_on(async {
        let table = glue
            .get_table()
            .database_name("cs_cmdb")
            .name("clonesquad_instances")
            .send()
            .await
            .unwrap()
            .table
            .unwrap();
        let mut descriptor = table.storage_descriptor().unwrap().clone();
        let columns = descriptor
            .columns()
            .iter()
            .map(|c| {
                let ty = if c.name() == "productcodes" {
                    "array<string>"
                } else {
                    c.r#type().unwrap()
                };
                Column::builder().name(c.name()).r#type(ty).build().unwrap()
            })
            .collect();
        descriptor.columns = Some(columns);
        glue.update_table()
            .database_name("cs_cmdb")
            .table_input(
                TableInput::builder()
                    .name("clonesquad_instances")
                    .table_type("EXTERNAL_TABLE")
                    .set_partition_keys(Some(table.partition_keys().to_vec()))
                    .storage_descriptor(descriptor)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    });
    let out = cmd(&moto.endpoint, home.path())
        .args(["install", "--no-partitions"])
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("unchanged: 5, outdated: 1"), "{err}");
    assert!(
        err.contains("clonesquad_instances differs from the shipped DDL (columns added, removed or retyped: productcodes)"),
        "{err}"
    );

    let migrate = cmd(&moto.endpoint, home.path())
        .args(["install", "--replace", "--no-partitions"])
        .output()
        .unwrap();
    assert!(migrate.status.success(), "{}", stderr_of(&migrate));
    let sent: Vec<String> = executions(&moto).into_iter().map(|(q, _)| q).collect();
    assert_eq!(sent.len(), 12, "{sent:?}");
    assert_eq!(sent[6], "DROP TABLE IF EXISTS clonesquad_instances");
    assert!(sent[7].contains("ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'"));
    assert!(sent[7].contains(
        "`ProductCodes` array<struct<`ProductCodeId`: string, `ProductCodeType`: string>>"
    ));
}

#[test]
fn two_thousand_partitions_in_twenty_calls_then_prune() {
    let moto = Moto::start();
    let all = partitions(2000);
    bucket_with(&moto, &all);
    glue_tables_as_athena_creates_them(&moto, "cs_cmdb");
    let home = tempfile::tempdir().unwrap();
    let out = cmd(&moto.endpoint, home.path())
        .args(["partitions", "--table", "discovery"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("clonesquad_discovery: 2000 partition(s) in the bucket, 0 in the catalog; added 2000, pruned 0 (20 Glue call(s))"),
        "{}",
        stderr_of(&out)
    );
    let glue = aws_sdk_glue::Client::new(&moto.sdk_config());
    let registered = block_on(async {
        let mut set = BTreeSet::new();
        let mut pages = glue
            .get_partitions()
            .database_name("cs_cmdb")
            .table_name("clonesquad_discovery")
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for p in page.unwrap().partitions() {
                set.insert((
                    p.values().to_vec(),
                    p.storage_descriptor()
                        .and_then(|s| s.location())
                        .unwrap_or_default()
                        .to_string(),
                ));
            }
        }
        set
    });
    assert_eq!(registered.len(), 2000);
    let (values, location) = registered.iter().next().unwrap();
    assert_eq!(
        location,
        &format!(
            "{PATH}/metadata/discovery/accountid={}/region={}/groupname={}/",
            values[0], values[1], values[2]
        )
    );

    // Nothing new: nothing sent.
    let again = cmd(&moto.endpoint, home.path())
        .args(["partitions", "--table", "discovery"])
        .output()
        .unwrap();
    assert!(
        stderr_of(&again).contains("added 0, pruned 0 (0 Glue call(s))"),
        "{}",
        stderr_of(&again)
    );

    // 30 deployments gone from the bucket: pruned in 2 calls of at most 25.
    let s3 = moto.s3();
    block_on(async {
        for (account, region, group) in &all[..30] {
            s3.delete_object()
                .bucket(BUCKET)
                .key(format!("clonesquad/metadata/discovery/accountid={account}/region={region}/groupname={group}/{account}-{region}-discovery-cs-{group}.json"))
                .send()
                .await
                .unwrap();
        }
    });
    let pruned = cmd(&moto.endpoint, home.path())
        .args(["partitions", "--table", "discovery", "--prune"])
        .output()
        .unwrap();
    assert!(
        stderr_of(&pruned).contains("added 0, pruned 30 (2 Glue call(s))"),
        "{}",
        stderr_of(&pruned)
    );
}

fn queue_results(moto: &Moto, header: &[&str], rows: &[Vec<&str>], types: &[&str]) {
    let row = |cells: &[&str]| json!({"Data": cells.iter().map(|c| json!({"VarCharValue": c})).collect::<Vec<_>>()});
    let mut all = vec![row(header)];
    all.extend(rows.iter().map(|r| row(r)));
    let body = json!({
        "account_id": MAIN_ACCOUNT,
        "region": REGION,
        "results": [{
            "rows": all,
            "column_info": header.iter().zip(types).map(|(name, ty)| json!({
                "CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": name, "Label": name,
                "Type": ty, "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": false
            })).collect::<Vec<_>>(),
        }]
    });
    moto.post("/moto-api/static/athena/query-results", &body.to_string());
}

#[test]
fn canned_queries_run_on_athena_with_bound_parameters() {
    let moto = Moto::start();
    queue_results(
        &moto,
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
    let home = tempfile::tempdir().unwrap();
    let out = cmd(&moto.endpoint, home.path())
        .args([
            "query",
            "stale",
            "--engine",
            "athena",
            "-p",
            "hours=5",
            "--format",
            "json",
            "--workgroup",
            "primary",
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
        sent[0].0,
        include_str!("../../queries/stale.sql"),
        "the very same SQL file"
    );
    assert_eq!(sent[0].1, ["5"]);

    // A value with a quote is bound as a literal, not spliced.
    let out = cmd(&moto.endpoint, home.path())
        .args([
            "query", "config", "--engine", "athena", "-p", "key=it's", "--format", "csv",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let sent = executions(&moto);
    assert_eq!(sent[1].1, ["'it''s'"]);
    assert!(!sent[1].0.contains("it's"));
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
    queue_results(
        &moto,
        &["hostname", "n"],
        &rows_ref,
        &["varchar", "integer"],
    );
    // The emulator answers in one page: the proxy cuts it into pages of 3 rows (the header is
    // row 0 of page 1 only), and makes the query whose text contains FAILME fail.
    let proxy = Proxy::start(&moto.endpoint, |request| {
        match request.header("x-amz-target").unwrap_or_default() {
            "AmazonAthena.GetQueryResults" => {
                let start: usize = request.json()["NextToken"]
                    .as_str()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0);
                Action::Transform(Box::new(move |mut body| {
                    let all = body["ResultSet"]["Rows"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    let end = (start + 3).min(all.len());
                    body["ResultSet"]["Rows"] = Value::Array(all[start..end].to_vec());
                    if end < all.len() {
                        body["NextToken"] = json!(end.to_string());
                    }
                    body
                }))
            }
            "AmazonAthena.GetQueryExecution" => Action::Transform(Box::new(|mut body| {
                let failing = body["QueryExecution"]["Query"]
                    .as_str()
                    .is_some_and(|q| q.contains("FAILME"));
                if failing {
                    body["QueryExecution"]["Status"]["State"] = json!("FAILED");
                    body["QueryExecution"]["Status"]["StateChangeReason"] =
                        json!("COLUMN_NOT_FOUND: line 1:8: Column 'failme' cannot be resolved");
                }
                body
            })),
            _ => Action::Forward,
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
        let text = stdout_of(&out);
        assert_eq!(text.matches("hostname").count(), 1, "one header: {text}");
        for i in 0..7 {
            assert!(text.contains(&format!("host-{i}")), "row {i} in {text}");
        }
    }
    let out = cmd(&proxy.endpoint, home.path())
        .args(["query", "--sql", "SELECT FAILME", "--engine", "athena"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(err.contains("FAILED: COLUMN_NOT_FOUND: line 1:8"), "{err}");
    assert!(err.contains("Athena query "), "names the query id: {err}");
}

#[test]
fn ctrl_c_stops_the_athena_query() {
    let moto = Moto::start();
    // Queries stay RUNNING for a long time.
    moto.post(
        "/moto-api/state-manager/set-transition",
        r#"{"model_name": "athena::execution", "transition": {"progression": "manual", "times": 1000}}"#,
    );
    let home = tempfile::tempdir().unwrap();
    let child = crate::support::cs_cmdb_spawnable(home.path())
        .args([
            "--endpoint-url",
            &moto.endpoint,
            "query",
            "--sql",
            "SELECT 1",
            "--engine",
            "athena",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the query has been started, then interrupt.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while executions(&moto).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let pid = child.id().to_string();
    std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("sent StopQueryExecution"),
        "{}",
        stderr_of(&out)
    );
    let athena = aws_sdk_athena::Client::new(&moto.sdk_config());
    let state = block_on(async {
        let ids = athena.list_query_executions().send().await.unwrap();
        let id = ids.query_execution_ids()[0].clone();
        let e = athena
            .get_query_execution()
            .query_execution_id(id)
            .send()
            .await
            .unwrap();
        e.query_execution()
            .unwrap()
            .status()
            .unwrap()
            .state()
            .unwrap()
            .as_str()
            .to_string()
    });
    assert_eq!(state, "CANCELLED");
}

#[test]
fn repair_falls_back_to_msck() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let out = cmd(&moto.endpoint, home.path())
        .args([
            "partitions",
            "--repair",
            "--table",
            "instances",
            "--table",
            "maintenance_windows",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let sent: Vec<String> = executions(&moto).into_iter().map(|(q, _)| q).collect();
    assert_eq!(
        sent,
        [
            "MSCK REPAIR TABLE clonesquad_instances",
            "MSCK REPAIR TABLE clonesquad_maintenance_windows"
        ]
    );
    let bad = cmd(&moto.endpoint, home.path())
        .args(["partitions", "--repair", "--table", "nosuch"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr_of(&bad).contains("no table `nosuch`"),
        "{}",
        stderr_of(&bad)
    );
}
