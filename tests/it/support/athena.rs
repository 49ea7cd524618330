//! The Athena and Glue side of the emulator: the tables Athena's DDL leaves in the Glue catalog
//! (moto's Athena records SQL without executing it), the statements it received, the partitions
//! Glue holds, results queued for the next queries, and a bucket with partition folders.

use std::collections::BTreeSet;

use aws_sdk_glue::types::{Column, DatabaseInput, SerDeInfo, StorageDescriptor, TableInput};
use cs_cmdb::catalog::ddl::Base;
use serde_json::json;

use super::tree::Part;
use super::{MAIN_ACCOUNT, Moto, REGION, block_on};

/// Create `bucket` with one discovery object per partition, under `prefix`.
pub fn bucket_with(moto: &Moto, bucket: &str, prefix: &str, parts: &[Part]) {
    let _ = block_on(moto.s3().create_bucket().bucket(bucket).send());
    let files = parts
        .iter()
        .map(|p| (p.discovery(), b"{}".to_vec()))
        .collect();
    super::tree::upload(&moto.s3(), bucket, prefix, &files);
}

/// `n` partitions: ten groups per account, two regions.
pub fn parts(n: usize) -> Vec<Part> {
    (0..n)
        .map(|i| {
            Part::new(
                &format!("{:012}", 100_000_000_000u64 + (i / 10) as u64),
                ["eu-west-1", "us-east-1"][i % 2],
                &format!("group-{i}"),
            )
        })
        .collect()
}

/// What Athena's CREATE statements leave in the Glue catalog, tables located under `path`:
/// today's DDL, or (`old`) the OpenX SerDe with the column types shipped before (ProductCodes
/// as array<string>).
pub fn glue_tables(moto: &Moto, database: &str, path: &str, old: bool) {
    let glue = aws_sdk_glue::Client::new(&moto.sdk_config());
    // An old install predates the Organization tables: it has only the CloneSquad ones.
    let tables: Vec<_> = cs_cmdb::catalog::ddl::all_tables()
        .unwrap()
        .into_iter()
        .filter(|t| !old || t.base == Base::Metadata)
        .collect();
    block_on(async {
        let _ = glue
            .create_database()
            .database_input(DatabaseInput::builder().name(database).build().unwrap())
            .send()
            .await;
        for table in &tables {
            let keys: Vec<Column> = table
                .partitions
                .iter()
                .map(|k| Column::builder().name(k).r#type("string").build().unwrap())
                .collect();
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
                        .set_partition_keys(Some(keys))
                        .storage_descriptor(
                            StorageDescriptor::builder()
                                .location(match table.base {
                                    Base::Metadata => format!("{path}/{}/", table.folder),
                                    Base::Org => format!("{path}/cs-cmdb/org/{}/", table.folder),
                                })
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

/// One statement the emulator's Athena received.
#[derive(Debug, Clone)]
pub struct Execution {
    pub id: String,
    pub query: String,
    pub parameters: Vec<String>,
    pub state: String,
}

/// Every statement the emulator's Athena received, in order.
pub fn executions(moto: &Moto) -> Vec<Execution> {
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
            out.push(Execution {
                id: id.clone(),
                query: e.query().unwrap_or_default().to_string(),
                parameters: e.execution_parameters().to_vec(),
                state: e
                    .status()
                    .and_then(|s| s.state())
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
            });
        }
        out
    })
}

/// The statements alone.
pub fn statements(moto: &Moto) -> Vec<String> {
    executions(moto).into_iter().map(|e| e.query).collect()
}

/// The partitions Glue holds for `database.table`: (values, location).
pub fn glue_partitions(
    moto: &Moto,
    database: &str,
    table: &str,
) -> BTreeSet<(Vec<String>, String)> {
    let glue = aws_sdk_glue::Client::new(&moto.sdk_config());
    block_on(async {
        let mut set = BTreeSet::new();
        let mut pages = glue
            .get_partitions()
            .database_name(database)
            .table_name(table)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for p in page.expect("GetPartitions").partitions() {
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
    })
}

/// Queue the result of the next query: a header row, rows, and column types.
pub fn queue_results(moto: &Moto, header: &[&str], rows: &[Vec<&str>], types: &[&str]) {
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

/// Keep every query RUNNING until told otherwise.
pub fn queries_keep_running(moto: &Moto) {
    moto.post(
        "/moto-api/state-manager/set-transition",
        r#"{"model_name": "athena::execution", "transition": {"progression": "manual", "times": 1000}}"#,
    );
}

/// An Athena workgroup (for tests that name one).
pub fn create_work_group(moto: &Moto, name: &str) {
    block_on(
        aws_sdk_athena::Client::new(&moto.sdk_config())
            .create_work_group()
            .name(name)
            .send(),
    )
    .expect("create work group");
}
