//! `cs-cmdb install`: the Athena database and the six CloneSquad tables, against the emulator
//! behind a recording proxy (what was sent to Athena is read from the proxy and the emulator,
//! never from the tool's own summary).

use aws_sdk_glue::types::{Column, TableInput};

use crate::support::athena::{bucket_with, create_work_group, glue_tables, parts, statements};
use crate::support::server::Server;
use crate::support::snapshot::Filters;
use crate::support::{Moto, block_on, cs_cmdb, stderr_of, stdout_of};

const BUCKET: &str = "cmdb-bucket";
const PATH: &str = "s3://cmdb-bucket/clonesquad";

fn cmd(endpoint: &str, home: &std::path::Path) -> assert_cmd::Command {
    let mut c = cs_cmdb(home);
    c.args(["--endpoint-url", endpoint, "--metadata-path", PATH]);
    c
}

#[test]
fn install_print_needs_no_aws_and_fills_every_location() {
    let home = tempfile::tempdir().unwrap();
    // The test environment's endpoint is a closed port: any AWS call would fail the run.
    let out = cs_cmdb(home.path())
        .args([
            "--metadata-path",
            PATH,
            "install",
            "--print",
            "--database",
            "gov",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let ddl = stdout_of(&out);
    assert!(ddl.starts_with("CREATE DATABASE IF NOT EXISTS gov;"));
    assert_eq!(
        ddl.matches("CREATE EXTERNAL TABLE IF NOT EXISTS").count(),
        8
    );
    for folder in [
        "discovery",
        "configuration",
        "scheduler",
        "instances",
        "volumes",
        "maintenance-windows",
    ] {
        assert!(
            ddl.contains(&format!("LOCATION '{PATH}/metadata/{folder}/'")),
            "{folder}: {ddl}"
        );
    }
    for folder in ["accounts", "units"] {
        assert!(
            ddl.contains(&format!("LOCATION '{PATH}/cs-cmdb/org/{folder}/'")),
            "the Organization's {folder}: {ddl}"
        );
    }
    assert!(!ddl.contains("${"), "a placeholder left: {ddl}");

    cs_snapshot!(
        "print_refuses_a_bad_database_name",
        Filters::new(),
        cs_cmdb(home.path()).args([
            "--metadata-path",
            PATH,
            "install",
            "--print",
            "--database",
            "Bad-Name",
        ])
    );
    cs_snapshot!(
        "print_needs_the_metadata_path",
        Filters::new(),
        cs_cmdb(home.path()).args(["install", "--print"])
    );
}

#[test]
fn install_is_idempotent_and_replace_recreates() {
    let moto = Moto::start();
    bucket_with(&moto, BUCKET, "clonesquad", &parts(3));
    create_work_group(&moto, "governance");
    let proxy = Server::recording(&moto.endpoint);
    let home = tempfile::tempdir().unwrap();
    let out = cmd(&proxy.endpoint, home.path())
        .args([
            "install",
            "--no-partitions",
            "--workgroup",
            "governance",
            "--output-location",
            "s3://cmdb-bucket/athena/",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let sent = statements(&moto);
    assert_eq!(
        sent.len(),
        9,
        "the database, six CloneSquad and two Organization tables"
    );
    assert_eq!(sent[0], "CREATE DATABASE IF NOT EXISTS cs_cmdb");
    let expected_discovery =
        include_str!("../../ddl/clonesquad_discovery.sql").replace("${metadata_path}", PATH);
    assert_eq!(
        sent[1], expected_discovery,
        "the DDL file is sent as is, location filled"
    );
    assert!(sent.iter().all(|q| !q.contains("${")));
    // Every statement ran in the workgroup, writing its results where it was told.
    let starts = proxy.calls("StartQueryExecution");
    assert_eq!(starts.len(), 9);
    for start in &starts {
        let body = start.json();
        assert_eq!(body["WorkGroup"], "governance", "{body}");
        assert_eq!(
            body["ResultConfiguration"]["OutputLocation"], "s3://cmdb-bucket/athena/",
            "{body}"
        );
    }
    assert_eq!(
        starts[0].json()["QueryExecutionContext"].get("Database"),
        None
    );
    assert_eq!(
        starts[1].json()["QueryExecutionContext"]["Database"],
        "cs_cmdb"
    );

    // Athena's DDL creates Glue entries; with those present, a second run changes nothing.
    glue_tables(&moto, "cs_cmdb", PATH, false);
    cs_snapshot!(
        "a_second_install_changes_nothing",
        Filters::new(),
        cmd(&proxy.endpoint, home.path()).arg("install")
    );
    assert_eq!(statements(&moto).len(), 9, "no statement sent on a re-run");

    let replace = cmd(&proxy.endpoint, home.path())
        .args(["install", "--replace", "--no-partitions", "-vv"])
        .output()
        .unwrap();
    assert!(replace.status.success(), "{}", stderr_of(&replace));
    // -vv shows every statement with the query id Athena gave it.
    let log = stderr_of(&replace);
    assert_eq!(log.matches("Athena query started").count(), 16, "{log}");
    assert!(log.contains("query_id="), "{log}");
    assert!(log.contains("CREATE EXTERNAL TABLE"), "{log}");
    // Without --partitions, the rows are the tables and what install did to them.
    let table = stdout_of(&replace);
    assert!(
        table
            .lines()
            .any(|l| l.contains("clonesquad_discovery ") && l.contains(" replaced ")),
        "{table}"
    );
    let sent = statements(&moto);
    assert_eq!(sent.len(), 9 + 16, "each table dropped and created again");
    assert_eq!(sent[9], "DROP TABLE IF EXISTS clonesquad_discovery");
    assert_eq!(sent[10], expected_discovery);
}

#[test]
fn an_install_of_the_old_ddl_is_reported_and_replace_migrates_it() {
    let moto = Moto::start();
    bucket_with(&moto, BUCKET, "clonesquad", &parts(3));
    glue_tables(&moto, "cs_cmdb", PATH, true);
    let home = tempfile::tempdir().unwrap();
    cs_snapshot!(
        "every_table_of_the_old_ddl_is_outdated",
        Filters::new(),
        cmd(&moto.endpoint, home.path()).args(["install", "--no-partitions"])
    );
    let sent = statements(&moto);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(
        sent.iter()
            .all(|q| q.contains("CREATE EXTERNAL TABLE IF NOT EXISTS org_")),
        "without --replace only the missing Organization tables are created: {sent:?}"
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
    glue_tables(&moto, "cs_cmdb", PATH, false);
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
    cs_snapshot!(
        "a_retyped_column_is_outdated",
        Filters::new(),
        cmd(&moto.endpoint, home.path()).args(["install", "--no-partitions"])
    );

    let migrate = cmd(&moto.endpoint, home.path())
        .args(["install", "--replace", "--no-partitions"])
        .output()
        .unwrap();
    assert!(migrate.status.success(), "{}", stderr_of(&migrate));
    let sent = statements(&moto);
    // The two Organization tables created by the first run, then every table dropped and created.
    assert_eq!(sent.len(), 2 + 16, "{sent:?}");
    assert_eq!(sent[8], "DROP TABLE IF EXISTS clonesquad_instances");
    assert!(sent[9].contains("ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'"));
    assert!(sent[9].contains(
        "`ProductCodes` array<struct<`ProductCodeId`: string, `ProductCodeType`: string>>"
    ));
}
