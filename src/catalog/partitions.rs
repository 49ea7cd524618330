//! Exact partitions: read from the bucket listing (ListObjectsV2 with delimiters, all pages),
//! compared with what the Glue Data Catalog (Athena's catalog) holds, and only the difference
//! registered (Glue BatchCreatePartition, 100 per call) or pruned (BatchDeletePartition, 25 per
//! call). No MSCK REPAIR TABLE scan unless asked.

use std::collections::BTreeSet;

use anyhow::Context;
use aws_config::SdkConfig;
use aws_sdk_glue::types::{PartitionInput, PartitionValueList, StorageDescriptor};
use futures::{StreamExt, TryStreamExt};

use crate::aws::{describe, error_code};
use crate::bucket::S3Path;
use crate::bucket::{layout, list};
use crate::catalog::ddl::TableDef;

/// Glue's limits per call.
pub const CREATE_BATCH: usize = 100;
pub const DELETE_BATCH: usize = 25;
/// Concurrent S3 listings while walking the partition folders.
const LIST_CONCURRENCY: usize = 16;

/// Partition values, in the table's partition-column order.
pub type Values = Vec<String>;

/// What a sync did for one table.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub in_bucket: usize,
    pub in_catalog: usize,
    pub added: usize,
    pub pruned: usize,
    pub glue_calls: usize,
    /// Partitions Glue refused to drop (BatchDeletePartition's per-partition errors), described.
    pub prune_errors: Vec<String>,
}

/// The partitions present in the bucket for `table`.
pub async fn in_bucket(
    s3: &aws_sdk_s3::Client,
    path: &S3Path,
    table: &TableDef,
) -> anyhow::Result<BTreeSet<Values>> {
    let root = layout::table_prefix(path, &table.folder);
    let mut level: Vec<(String, Values)> = vec![(root, Vec::new())];
    for key in &table.partitions {
        level = futures::stream::iter(level)
            .map(|(prefix, values)| async move {
                let (_, children) = list::list_level(s3, &path.bucket, &prefix, true).await?;
                Ok::<_, anyhow::Error>(
                    children
                        .into_iter()
                        .filter_map(|child| {
                            let name = child.strip_prefix(&prefix)?.trim_end_matches('/');
                            let (k, v) = name.split_once('=')?;
                            (k.eq_ignore_ascii_case(key) && !v.is_empty()).then(|| {
                                let mut values = values.clone();
                                values.push(v.to_string());
                                (child.clone(), values)
                            })
                        })
                        .collect::<Vec<_>>(),
                )
            })
            .buffer_unordered(LIST_CONCURRENCY)
            .try_concat()
            .await?;
    }
    Ok(level.into_iter().map(|(_, values)| values).collect())
}

/// The partitions the catalog holds for `database.table`.
pub async fn in_catalog(
    glue: &aws_sdk_glue::Client,
    database: &str,
    table: &str,
) -> anyhow::Result<BTreeSet<Values>> {
    let mut out = BTreeSet::new();
    let mut pages = glue
        .get_partitions()
        .database_name(database)
        .table_name(table)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            anyhow::anyhow!(
                "cannot read the partitions of {database}.{table} from Glue: {}",
                describe(&e)
            )
        })?;
        out.extend(page.partitions().iter().map(|p| p.values().to_vec()));
    }
    Ok(out)
}

/// The S3 location of one partition.
pub fn location(path: &S3Path, table: &TableDef, values: &[String]) -> String {
    let mut location = layout::table_url(path, &table.folder);
    for (key, value) in table.partitions.iter().zip(values) {
        location.push_str(&format!("{key}={value}/"));
    }
    location
}

/// Register the missing partitions of `table` and, with `prune`, drop those whose folder is gone.
pub async fn sync(
    config: &SdkConfig,
    path: &S3Path,
    database: &str,
    table: &TableDef,
    prune: bool,
) -> anyhow::Result<SyncReport> {
    let s3 = crate::aws::s3_client(config);
    let glue = aws_sdk_glue::Client::new(config);
    let template = glue
        .get_table()
        .database_name(database)
        .name(&table.name)
        .send()
        .await
        .map_err(|e| match error_code(&e) {
            Some("EntityNotFoundException") => anyhow::anyhow!(
                "table {database}.{} does not exist: run `cs-cmdb install` first",
                table.name
            ),
            _ => anyhow::anyhow!(
                "cannot read table {database}.{} from Glue: {}",
                table.name,
                describe(&e)
            ),
        })?
        .table()
        .and_then(|t| t.storage_descriptor())
        .cloned()
        .with_context(|| format!("table {database}.{} has no storage descriptor", table.name))?;
    let present = in_bucket(&s3, path, table).await?;
    let known = in_catalog(&glue, database, &table.name).await?;
    let mut report = SyncReport {
        in_bucket: present.len(),
        in_catalog: known.len(),
        ..SyncReport::default()
    };
    let missing: Vec<&Values> = present.difference(&known).collect();
    for chunk in missing.chunks(CREATE_BATCH) {
        let inputs = chunk
            .iter()
            .map(|values| {
                PartitionInput::builder()
                    .set_values(Some((*values).clone()))
                    .storage_descriptor(partition_descriptor(&template, path, table, values))
                    .build()
            })
            .collect();
        let out = glue
            .batch_create_partition()
            .database_name(database)
            .table_name(&table.name)
            .set_partition_input_list(Some(inputs))
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot add partitions to {database}.{}: {}",
                    table.name,
                    describe(&e)
                )
            })?;
        report.glue_calls += 1;
        let failed: Vec<String> = out
            .errors()
            .iter()
            .filter(|e| {
                e.error_detail().and_then(|d| d.error_code()) != Some("AlreadyExistsException")
            })
            .map(|e| {
                format!(
                    "{:?}: {}",
                    e.partition_values(),
                    e.error_detail()
                        .and_then(|d| d.error_message())
                        .unwrap_or("unknown error")
                )
            })
            .collect();
        if !failed.is_empty() {
            anyhow::bail!(
                "Glue refused {} partition(s) of {database}.{}: {}",
                failed.len(),
                table.name,
                failed.join("; ")
            );
        }
        report.added += chunk.len();
    }
    if prune {
        let gone: Vec<&Values> = known.difference(&present).collect();
        for chunk in gone.chunks(DELETE_BATCH) {
            let lists = chunk
                .iter()
                .map(|values| {
                    PartitionValueList::builder()
                        .set_values(Some((*values).clone()))
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = glue
                .batch_delete_partition()
                .database_name(database)
                .table_name(&table.name)
                .set_partitions_to_delete(Some(lists))
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "cannot drop partitions of {database}.{}: {}",
                        table.name,
                        describe(&e)
                    )
                })?;
            report.glue_calls += 1;
            // Glue answers per partition: only what it did not refuse is gone.
            report.pruned += chunk.len().saturating_sub(out.errors().len());
            report.prune_errors.extend(out.errors().iter().map(|e| {
                let detail = e.error_detail();
                format!(
                    "Glue did not drop partition {} of {database}.{}: {}: {}",
                    table
                        .partitions
                        .iter()
                        .zip(e.partition_values())
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join("/"),
                    table.name,
                    detail.and_then(|d| d.error_code()).unwrap_or("error"),
                    detail
                        .and_then(|d| d.error_message())
                        .unwrap_or("no message")
                )
            }));
        }
    }
    Ok(report)
}

fn partition_descriptor(
    template: &StorageDescriptor,
    path: &S3Path,
    table: &TableDef,
    values: &[String],
) -> StorageDescriptor {
    let mut descriptor = template.clone();
    descriptor.location = Some(location(path, table, values));
    descriptor
}
