//! `cs-cmdb partitions`: exact partitions from the bucket listing into Glue, in batches, and
//! `--prune` / `--repair`. The Glue calls are counted by a recording proxy and the catalog is
//! read back from the emulator: the tool's printed counters are checked against both.

use std::collections::BTreeSet;

use bytes::Bytes;
use serde_json::{Value, json};

use crate::support::athena::{bucket_with, glue_partitions, glue_tables, parts, statements};
use crate::support::server::{Server, Upstream};
use crate::support::snapshot::Filters;
use crate::support::tree::Part;
use crate::support::{Moto, block_on, cs_cmdb, stderr_of};

const BUCKET: &str = "cmdb-bucket";
const PATH: &str = "s3://cmdb-bucket/clonesquad";

fn cmd(endpoint: &str, home: &std::path::Path) -> assert_cmd::Command {
    let mut c = cs_cmdb(home);
    c.args(["--endpoint-url", endpoint, "--metadata-path", PATH]);
    c
}

fn values(p: &Part) -> Vec<String> {
    vec![p.account.clone(), p.region.clone(), p.group.clone()]
}

/// The partition values of each recorded Glue batch call of `action` (`PartitionInputList` or
/// `PartitionsToDelete`), one list per call.
fn batches(proxy: &Server, action: &str, field: &str) -> Vec<Vec<Vec<String>>> {
    proxy
        .calls(action)
        .iter()
        .map(|call| {
            call.json()[field]
                .as_array()
                .unwrap_or_else(|| panic!("{action} without {field}: {}", call.text()))
                .iter()
                .map(|p| {
                    p["Values"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_str().unwrap().to_string())
                        .collect()
                })
                .collect()
        })
        .collect()
}

fn delete_from_bucket(moto: &Moto, parts: &[Part]) {
    let s3 = moto.s3();
    block_on(async {
        for p in parts {
            s3.delete_object()
                .bucket(BUCKET)
                .key(format!("clonesquad/{}", p.discovery()))
                .send()
                .await
                .unwrap();
        }
    });
}

#[test]
fn two_thousand_partitions_in_twenty_calls_then_prune() {
    let moto = Moto::start();
    let all = parts(2000);
    bucket_with(&moto, BUCKET, "clonesquad", &all);
    glue_tables(&moto, "cs_cmdb", PATH, false);
    let proxy = Server::recording(&moto.endpoint);
    let home = tempfile::tempdir().unwrap();
    cs_snapshot!(
        "two_thousand_added",
        Filters::new(),
        cmd(&proxy.endpoint, home.path()).args(["partitions", "--table", "discovery"])
    );
    // What Glue received: 20 calls of at most 100, every partition of the bucket once.
    let created = batches(&proxy, "BatchCreatePartition", "PartitionInputList");
    assert_eq!(created.len(), 20);
    assert!(created.iter().all(|b| b.len() <= 100));
    let sent: BTreeSet<Vec<String>> = created.iter().flatten().cloned().collect();
    assert_eq!(sent.len(), 2000, "each partition sent once");
    assert_eq!(sent, all.iter().map(values).collect());
    // What Glue holds, each at its folder.
    let registered = glue_partitions(&moto, "cs_cmdb", "clonesquad_discovery");
    assert_eq!(registered.len(), 2000);
    for (values, location) in &registered {
        assert_eq!(
            location,
            &format!(
                "{PATH}/metadata/discovery/accountid={}/region={}/groupname={}/",
                values[0], values[1], values[2]
            )
        );
    }

    // Nothing new: nothing sent.
    let again = cmd(&proxy.endpoint, home.path())
        .args(["partitions", "--table", "discovery"])
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", stderr_of(&again));
    assert_eq!(proxy.calls("BatchCreatePartition").len(), 20);

    // 30 deployments gone from the bucket: pruned in 2 calls of at most 25, gone from Glue.
    delete_from_bucket(&moto, &all[..30]);
    cs_snapshot!(
        "thirty_pruned",
        Filters::new(),
        cmd(&proxy.endpoint, home.path()).args(["partitions", "--table", "discovery", "--prune"])
    );
    let deleted = batches(&proxy, "BatchDeletePartition", "PartitionsToDelete");
    assert_eq!(deleted.len(), 2);
    assert!(deleted.iter().all(|b| b.len() <= 25));
    let gone: BTreeSet<Vec<String>> = all[..30].iter().map(values).collect();
    assert_eq!(
        deleted.iter().flatten().cloned().collect::<BTreeSet<_>>(),
        gone
    );
    let left: BTreeSet<Vec<String>> = glue_partitions(&moto, "cs_cmdb", "clonesquad_discovery")
        .into_iter()
        .map(|(values, _)| values)
        .collect();
    assert_eq!(left, all[30..].iter().map(values).collect());
}

/// Glue answers BatchDeletePartition with per-partition errors (HTTP 200): what it refused is
/// neither counted as pruned nor silent, and the run exits 1.
#[test]
fn what_glue_refuses_to_drop_is_reported_not_counted() {
    let moto = Moto::start();
    let all = parts(6);
    bucket_with(&moto, BUCKET, "clonesquad", &all);
    glue_tables(&moto, "cs_cmdb", PATH, false);
    let home = tempfile::tempdir().unwrap();
    let out = cmd(&moto.endpoint, home.path())
        .args(["partitions", "--table", "discovery"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    delete_from_bucket(&moto, &all[..3]);

    // A proxy that keeps the first partition of each BatchDeletePartition from Glue and answers
    // for it with an error entry, as Glue does for a partition it cannot drop.
    let upstream = Upstream::new(&moto.endpoint);
    let proxy = Server::start(move |req| {
        let upstream = upstream.clone();
        async move {
            if req.action() != "BatchDeletePartition" {
                return upstream.send(&req).await;
            }
            let mut body = req.json();
            let kept = body["PartitionsToDelete"].as_array_mut().unwrap().remove(0);
            let reply = upstream
                .send_body(&req, Bytes::from(body.to_string()))
                .await;
            reply.map_json(|answer| {
                let errors = answer
                    .as_object_mut()
                    .unwrap()
                    .entry("Errors")
                    .or_insert(json!([]));
                errors.as_array_mut().unwrap().push(json!({
                    "PartitionValues": kept["Values"],
                    "ErrorDetail": {
                        "ErrorCode": "AccessDeniedException",
                        "ErrorMessage": "User is not authorized to perform: glue:BatchDeletePartition"
                    }
                }));
            })
        }
    });
    let out = cs_snapshot!(
        Filters::new(),
        cmd(&proxy.endpoint, home.path()).args(["partitions", "--table", "discovery", "--prune"])
    );
    assert_eq!(out.status.code(), Some(1));
    // Glue still holds the refused partition, and only it of the three.
    let kept: Vec<Value> = proxy.calls("BatchDeletePartition")[0].json()["PartitionsToDelete"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(kept.len(), 3);
    let refused: Vec<String> = serde_json::from_value(kept[0]["Values"].clone()).unwrap();
    let left: BTreeSet<Vec<String>> = glue_partitions(&moto, "cs_cmdb", "clonesquad_discovery")
        .into_iter()
        .map(|(values, _)| values)
        .collect();
    let mut expected: BTreeSet<Vec<String>> = all[3..].iter().map(values).collect();
    expected.insert(refused);
    assert_eq!(left, expected);
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
    assert_eq!(
        statements(&moto),
        [
            "MSCK REPAIR TABLE clonesquad_instances",
            "MSCK REPAIR TABLE clonesquad_maintenance_windows"
        ]
    );
    cs_snapshot!(
        "repair_of_an_unknown_table",
        Filters::new(),
        cmd(&moto.endpoint, home.path()).args(["partitions", "--repair", "--table", "nosuch"])
    );
}
