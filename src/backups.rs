//! `cs-cmdb backups`: when each deployment last wrote its configuration and scheduler backups,
//! how big its archive has grown, and whether a lifecycle rule bounds that archive.
//!
//! CloneSquad writes, below `<MetadataAndBackupS3Path>/backups/accountid=A/region=R/groupname=G/`,
//! `latest-A-R-{configuration,scheduler}-cs-G.yaml` and, on every export, a copy under
//! `archive/<timestamp>-A-R-...yaml` (keys with spaces, colons and a plus sign) that grows
//! forever unless a lifecycle rule expires it.

use std::collections::BTreeMap;

use anyhow::Context;
use aws_config::SdkConfig;
use chrono::{DateTime, Utc};
use futures::{StreamExt, stream};

use crate::bucket::S3Path;
use crate::bucket::layout::{self, BackupFile, BackupKind, Partition, Table};
use crate::bucket::lifecycle;
use crate::bucket::list::{self, S3Object};
use crate::rows::{Column, ColumnType, ResultSet, Value};

/// The backups of one deployment (account × region × group).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeploymentBackups {
    pub account_id: String,
    pub region: String,
    pub group_name: String,
    /// `latest-...-configuration-...yaml`, when present.
    pub latest_configuration: Option<S3Object>,
    /// `latest-...-scheduler-...yaml`, when present.
    pub latest_scheduler: Option<S3Object>,
    pub archive_objects: u64,
    pub archive_bytes: u64,
    /// Whether the deployment has a discovery record (so it exists even without backups).
    pub has_discovery: bool,
}

impl DeploymentBackups {
    pub fn latest_configuration_at(&self) -> Option<DateTime<Utc>> {
        self.latest_configuration
            .as_ref()
            .and_then(|o| o.last_modified)
    }

    pub fn latest_scheduler_at(&self) -> Option<DateTime<Utc>> {
        self.latest_scheduler.as_ref().and_then(|o| o.last_modified)
    }

    /// Whole hours since the OLDER of the two latest backups (both are written by one export);
    /// `None` when neither exists.
    pub fn age_hours(&self, now: DateTime<Utc>) -> Option<i64> {
        let oldest = match (self.latest_configuration_at(), self.latest_scheduler_at()) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return None,
        };
        Some((now - oldest).num_hours())
    }
}

/// Every deployment found under `backups/` or `metadata/discovery/`, sorted, and the archive keys.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub deployments: Vec<DeploymentBackups>,
    /// Every key under an `archive/` folder (for the lifecycle check).
    pub archive_keys: Vec<String>,
}

/// Group listings of `<P>/backups/` and `<P>/metadata/discovery/` per deployment.
pub fn build_inventory(path: &S3Path, backups: Vec<S3Object>, discovery: &[S3Object]) -> Inventory {
    let backups_prefix = layout::backups_prefix(path);
    let discovery_prefix = layout::table_prefix(path, &Table::Discovery.location());
    type Parts = BTreeMap<Partition, DeploymentBackups>;
    fn entry(by_part: &mut Parts, p: Partition) -> &mut DeploymentBackups {
        by_part.entry(p).or_insert_with_key(|p| DeploymentBackups {
            account_id: p.account.clone(),
            region: p.region.clone(),
            group_name: p.group.clone(),
            ..Default::default()
        })
    }
    let mut by_part = Parts::new();
    for object in discovery {
        if let Some((p, _)) = object
            .key
            .strip_prefix(&discovery_prefix)
            .and_then(Partition::parse)
        {
            entry(&mut by_part, p).has_discovery = true;
        }
    }
    let mut archive_keys = Vec::new();
    for object in backups {
        let Some((p, rest)) = object
            .key
            .strip_prefix(&backups_prefix)
            .and_then(Partition::parse)
        else {
            tracing::debug!(key = %list::printable(&object.key), "not below a deployment's partition, ignored");
            continue;
        };
        let file = layout::backup_file(&p, rest);
        let d = entry(&mut by_part, p);
        match file {
            BackupFile::Archive => {
                d.archive_objects += 1;
                d.archive_bytes += object.size;
                archive_keys.push(object.key.clone());
            }
            BackupFile::Latest(BackupKind::Configuration) => d.latest_configuration = Some(object),
            BackupFile::Latest(BackupKind::Scheduler) => d.latest_scheduler = Some(object),
            BackupFile::Other => {
                tracing::debug!(key = %list::printable(&object.key), "not a CloneSquad backup, ignored")
            }
        }
    }
    Inventory {
        deployments: by_part.into_values().collect(),
        archive_keys,
    }
}

/// List the backups and discovery records of every deployment under `path`.
pub async fn inventory(config: &SdkConfig, path: &S3Path) -> anyhow::Result<Inventory> {
    let client = crate::aws::s3_client(config);
    inventory_with(&client, path, list::DEFAULT_CONCURRENCY).await
}

pub async fn inventory_with(
    client: &aws_sdk_s3::Client,
    path: &S3Path,
    concurrency: usize,
) -> anyhow::Result<Inventory> {
    let (backups, discovery) = futures::try_join!(
        list::list_tree(
            client,
            &path.bucket,
            layout::backups_prefix(path),
            0,
            concurrency
        ),
        list::list_tree(
            client,
            &path.bucket,
            layout::table_prefix(path, &Table::Discovery.location()),
            0,
            concurrency
        ),
    )
    .with_context(|| format!("cannot list the backups under {path}"))?;
    Ok(build_inventory(path, backups, &discovery))
}

/// Whether a lifecycle rule of the bucket expires the backup archives under `path`:
/// `Some(rule id)` when one does (several ids, comma-separated, when narrower rules share the
/// archives between them), `None` when the archives grow forever.
pub async fn archive_lifecycle(
    config: &SdkConfig,
    path: &S3Path,
) -> anyhow::Result<Option<String>> {
    let client = crate::aws::s3_client(config);
    let (_, verdict) = lifecycle::archives(&client, path, None, list::DEFAULT_CONCURRENCY).await?;
    Ok(verdict.rule_ids())
}

/// Download a latest backup and confirm it parses as YAML.
async fn restore_check_one(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    object: &S3Object,
) -> Result<(), String> {
    let cap = crate::mirror::DEFAULT_MAX_OBJECT_BYTES;
    if object.size > cap {
        return Err(format!(
            "{} bytes, above the {cap}-byte cap: not downloaded",
            object.size
        ));
    }
    let response = client
        .get_object()
        .bucket(bucket)
        .key(&object.key)
        .send()
        .await
        .map_err(|e| format!("cannot download: {}", crate::aws::describe(&e)))?;
    let bytes = response
        .body
        .collect()
        .await
        .map_err(|e| format!("the download broke off: {e}"))?
        .into_bytes();
    let text = std::str::from_utf8(&bytes).map_err(|e| format!("not UTF-8 text: {e}"))?;
    check_yaml(text)
}

/// How deep a backup's YAML may nest (CloneSquad's backups are two or three levels deep).
pub const MAX_YAML_DEPTH: usize = 64;

/// Whether `text` is one well-formed YAML stream, read as events (no tree is built, so neither
/// deep nesting nor alias expansion can exhaust the stack or memory): nesting deeper than
/// [`MAX_YAML_DEPTH`] is refused, naming the line.
pub fn check_yaml(text: &str) -> Result<(), String> {
    use yaml_rust2::parser::{Event, Parser};
    let mut parser = Parser::new_from_str(text);
    let mut depth = 0usize;
    loop {
        let (event, mark) = parser
            .next_token()
            .map_err(|e| format!("invalid YAML: {e}"))?;
        match event {
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                depth += 1;
                if depth > MAX_YAML_DEPTH {
                    return Err(format!(
                        "invalid YAML: nested deeper than {MAX_YAML_DEPTH} levels at line {}",
                        mark.line()
                    ));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
            Event::StreamEnd => return Ok(()),
            _ => {}
        }
    }
}

/// For every deployment of `inventory`, in order: `ok`, or what keeps its latest backups from
/// being restored (each is downloaded and parsed as YAML).
pub async fn restore_checks(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    inventory: &Inventory,
    concurrency: usize,
) -> Vec<String> {
    stream::iter(&inventory.deployments)
        .map(|d| restore_check(client, bucket, d))
        .buffered(concurrency.max(1))
        .collect()
        .await
}

/// `ok`, or what keeps each latest backup of `d` from being restored.
async fn restore_check(client: &aws_sdk_s3::Client, bucket: &str, d: &DeploymentBackups) -> String {
    let mut problems = Vec::new();
    for (kind, object) in [
        ("configuration", &d.latest_configuration),
        ("scheduler", &d.latest_scheduler),
    ] {
        match object {
            None => problems.push(format!("{kind}: missing")),
            Some(object) => {
                if let Err(e) = restore_check_one(client, bucket, object).await {
                    problems.push(format!("{kind}: {e}"));
                }
            }
        }
    }
    if problems.is_empty() {
        "ok".to_string()
    } else {
        problems.join("; ")
    }
}

fn timestamp(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| Value::Timestamp(t.naive_utc()))
}

/// The rows of `cs-cmdb backups`.
pub fn to_result_set(
    inventory: &Inventory,
    now: DateTime<Utc>,
    stale_hours: i64,
    restore: Option<&[String]>,
) -> ResultSet {
    let mut columns = vec![
        Column::new("account_id", ColumnType::String),
        Column::new("region", ColumnType::String),
        Column::new("group_name", ColumnType::String),
        Column::new("latest_configuration_at", ColumnType::Timestamp),
        Column::new("latest_scheduler_at", ColumnType::Timestamp),
        Column::new("age_hours", ColumnType::Integer),
        Column::new("archive_objects", ColumnType::Integer),
        Column::new("archive_bytes", ColumnType::Integer),
        Column::new("missing_configuration", ColumnType::Boolean),
        Column::new("missing_scheduler", ColumnType::Boolean),
        Column::new("stale", ColumnType::Boolean),
    ];
    if restore.is_some() {
        columns.push(Column::new("restore_check", ColumnType::String));
    }
    let rows = inventory
        .deployments
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let age = d.age_hours(now);
            let mut row = vec![
                Value::Str(d.account_id.clone()),
                Value::Str(d.region.clone()),
                Value::Str(d.group_name.clone()),
                timestamp(d.latest_configuration_at()),
                timestamp(d.latest_scheduler_at()),
                age.map_or(Value::Null, Value::Int),
                Value::Int(i64::try_from(d.archive_objects).unwrap_or(i64::MAX)),
                Value::Int(i64::try_from(d.archive_bytes).unwrap_or(i64::MAX)),
                Value::Bool(d.latest_configuration.is_none()),
                Value::Bool(d.latest_scheduler.is_none()),
                Value::Bool(age.is_none_or(|a| a >= stale_hours)),
            ];
            if let Some(restore) = restore {
                row.push(restore.get(i).cloned().map_or(Value::Null, Value::Str));
            }
            row
        })
        .collect();
    ResultSet { columns, rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_is_checked_as_events_with_a_depth_limit() {
        check_yaml("a: 1\nb:\n  - x\n  - {c: d}\n").unwrap();
        assert!(
            check_yaml("a: [1, 2\n")
                .unwrap_err()
                .contains("invalid YAML")
        );
        let deep = "- ".repeat(20_000);
        let err = check_yaml(&deep).unwrap_err();
        assert!(err.contains("nested deeper than 64 levels"), "{err}");
        let laughs = "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: [*c, *c]\n";
        check_yaml(laughs).unwrap();
        assert!(check_yaml("a: *nowhere\n").is_err());
    }
}
