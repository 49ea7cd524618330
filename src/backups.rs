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

use crate::bucket::layout::{self, BackupFile, BackupKind, Partition, Table};
use crate::bucket::list::{self, S3Object};
use crate::cli::BackupsArgs;
use crate::exit::Outcome;
use crate::mirror;
use crate::rows::{Column, ColumnType, ResultSet, Value};
use crate::settings::{S3Path, Settings};

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
    inventory_with(&client, path, mirror::DEFAULT_CONCURRENCY).await
}

async fn inventory_with(
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

/// An enabled lifecycle rule that expires objects, with the prefix it applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiringRule {
    pub id: String,
    pub prefix: String,
}

/// The bucket's enabled rules that expire current or noncurrent objects under a plain prefix.
/// Rules narrowed by tags or object sizes are left out: CloneSquad's archives carry no tags, and
/// a size bound leaves some archives forever.
fn expiring_rules(rules: &[aws_sdk_s3::types::LifecycleRule]) -> Vec<ExpiringRule> {
    use aws_sdk_s3::types::ExpirationStatus;
    rules
        .iter()
        .filter(|rule| *rule.status() == ExpirationStatus::Enabled)
        .filter(|rule| {
            let expires = rule
                .expiration()
                .is_some_and(|e| e.days().is_some() || e.date().is_some());
            let noncurrent = rule
                .noncurrent_version_expiration()
                .is_some_and(|e| e.noncurrent_days().is_some());
            expires || noncurrent
        })
        .filter_map(|rule| {
            let prefix = match rule.filter() {
                // Rules written before filters existed carry a top-level prefix.
                #[allow(deprecated)]
                None => rule.prefix().unwrap_or_default().to_string(),
                Some(f) => {
                    if f.tag().is_some()
                        || f.object_size_greater_than().is_some()
                        || f.object_size_less_than().is_some()
                    {
                        return None;
                    }
                    match f.and() {
                        Some(and) => {
                            if !and.tags().is_empty()
                                || and.object_size_greater_than().is_some()
                                || and.object_size_less_than().is_some()
                            {
                                return None;
                            }
                            and.prefix().unwrap_or_default().to_string()
                        }
                        None => f.prefix().unwrap_or_default().to_string(),
                    }
                }
            };
            Some(ExpiringRule {
                id: rule.id().unwrap_or("(unnamed rule)").to_string(),
                prefix,
            })
        })
        .collect()
}

/// The rule(s) covering the archives: one whose prefix is a prefix of `<P>/backups/` covers
/// them all; otherwise narrower rules cover them when every archive key falls under one of them.
pub fn covering_rule(
    rules: &[ExpiringRule],
    backups_prefix: &str,
    archive_keys: &[String],
) -> Option<String> {
    if let Some(rule) = rules.iter().find(|r| backups_prefix.starts_with(&r.prefix)) {
        return Some(rule.id.clone());
    }
    if archive_keys.is_empty() {
        return None;
    }
    let mut ids: Vec<&str> = Vec::new();
    for key in archive_keys {
        let rule = rules.iter().find(|r| key.starts_with(&r.prefix))?;
        if !ids.contains(&rule.id.as_str()) {
            ids.push(&rule.id);
        }
    }
    Some(ids.join(", "))
}

async fn lifecycle_rules(
    client: &aws_sdk_s3::Client,
    bucket: &str,
) -> anyhow::Result<Vec<ExpiringRule>> {
    match client
        .get_bucket_lifecycle_configuration()
        .bucket(bucket)
        .send()
        .await
    {
        Ok(out) => Ok(expiring_rules(out.rules())),
        Err(e) => match crate::aws::error_code(&e) {
            Some("NoSuchLifecycleConfiguration") => Ok(Vec::new()),
            Some("NoSuchBucket") => anyhow::bail!(
                "bucket `{bucket}` does not exist (NoSuchBucket): check --metadata-path and --region"
            ),
            Some(code @ "AccessDenied") => anyhow::bail!(
                "access denied reading the lifecycle configuration of bucket `{bucket}` ({code}): the caller needs s3:GetLifecycleConfiguration on arn:aws:s3:::{bucket}"
            ),
            _ => anyhow::bail!(
                "cannot read the lifecycle configuration of bucket `{bucket}`: {}",
                crate::aws::describe(&e)
            ),
        },
    }
}

/// Whether a lifecycle rule of the bucket expires the backup archives under `path`:
/// `Some(rule id)` when one does (several ids, comma-separated, when narrower rules share the
/// archives between them), `None` when the archives grow forever.
pub async fn archive_lifecycle(
    config: &SdkConfig,
    path: &S3Path,
) -> anyhow::Result<Option<String>> {
    let client = crate::aws::s3_client(config);
    archive_lifecycle_with(&client, path, None).await
}

/// [`archive_lifecycle`] with the archive keys when the caller has already listed them.
async fn archive_lifecycle_with(
    client: &aws_sdk_s3::Client,
    path: &S3Path,
    archive_keys: Option<&[String]>,
) -> anyhow::Result<Option<String>> {
    let rules = lifecycle_rules(client, &path.bucket).await?;
    let backups = layout::backups_prefix(path);
    if let Some(id) = covering_rule(&rules, &backups, &[]) {
        return Ok(Some(id));
    }
    // Only rules narrower than backups/ are left: they cover the archives if every key is under one.
    if !rules.iter().any(|r| r.prefix.starts_with(&backups)) {
        return Ok(None);
    }
    let listed;
    let keys = match archive_keys {
        Some(keys) => keys,
        None => {
            listed = inventory_with(client, path, mirror::DEFAULT_CONCURRENCY)
                .await?
                .archive_keys;
            &listed
        }
    };
    Ok(covering_rule(&rules, &backups, keys))
}

/// Download a latest backup and confirm it parses as YAML.
async fn restore_check_one(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    object: &S3Object,
) -> Result<(), String> {
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
    yaml_rust2::YamlLoader::load_from_str(text)
        .map(|_| ())
        .map_err(|e| format!("invalid YAML: {e}"))
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

/// `cs-cmdb backups`.
pub async fn run(args: BackupsArgs, settings: &Settings) -> anyhow::Result<Outcome> {
    let path = mirror::required_metadata_path(settings)?;
    let config = crate::aws::sdk_config(&settings.aws).await?;
    let client = crate::aws::s3_client(&config);
    let now = crate::time::now()?;
    let concurrency = usize::from(args.concurrency.max(1));
    let inventory = inventory_with(&client, path, concurrency).await?;

    let restore: Option<Vec<String>> = if args.restore_check {
        Some(
            stream::iter(&inventory.deployments)
                .map(|d| restore_check(&client, &path.bucket, d))
                .buffered(concurrency)
                .collect()
                .await,
        )
    } else {
        None
    };
    let rs = to_result_set(&inventory, now, args.stale_hours, restore.as_deref());
    crate::render::to_stdout(&rs, settings.format, settings.color)?;

    let archives = layout::backups_prefix(path);
    let quiet = !tracing::enabled!(tracing::Level::WARN);
    match archive_lifecycle_with(&client, path, Some(&inventory.archive_keys)).await {
        Ok(Some(id)) if !quiet => eprintln!(
            "lifecycle: rule `{id}` of bucket `{}` expires the backup archives under {archives}",
            path.bucket
        ),
        Ok(None) if !quiet => eprintln!(
            "lifecycle: NO rule of bucket `{}` expires the backup archives under {archives}: they grow forever; add an enabled rule with an Expiration on that prefix (as CloneSquad recommends)",
            path.bucket
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!("lifecycle: {}", crate::errors::report(&e)),
    }
    if !quiet {
        let missing = inventory
            .deployments
            .iter()
            .filter(|d| d.latest_configuration.is_none() || d.latest_scheduler.is_none())
            .count();
        let archived: u64 = inventory.deployments.iter().map(|d| d.archive_bytes).sum();
        eprintln!(
            "{} deployments, {missing} with a missing latest backup, {} archive objects ({})",
            inventory.deployments.len(),
            inventory.archive_keys.len(),
            mirror::human_bytes(archived)
        );
    }
    let failed = restore
        .as_ref()
        .map_or(0, |r| r.iter().filter(|s| *s != "ok").count());
    if failed > 0 {
        eprintln!(
            "restore check: {failed} deployment(s) cannot be restored from their latest backups"
        );
        return Ok(Outcome::Failures);
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str, prefix: &str) -> ExpiringRule {
        ExpiringRule {
            id: id.into(),
            prefix: prefix.into(),
        }
    }

    #[test]
    fn lifecycle_coverage() {
        let backups = "p/backups/";
        let keys = vec![
            "p/backups/accountid=1/region=r/groupname=g/archive/2026-11-26 09:00:01+00:00-1-r-configuration-cs-g.yaml".to_string(),
            "p/backups/accountid=2/region=r/groupname=g/archive/2026-11-26 09:00:01+00:00-2-r-configuration-cs-g.yaml".to_string(),
        ];
        assert_eq!(
            covering_rule(&[rule("all", "")], backups, &[]),
            Some("all".into())
        );
        assert_eq!(
            covering_rule(&[rule("p", "p/")], backups, &[]),
            Some("p".into())
        );
        assert_eq!(
            covering_rule(&[rule("b", "p/backups/")], backups, &[]),
            Some("b".into())
        );
        assert_eq!(covering_rule(&[rule("other", "q/")], backups, &keys), None);
        assert_eq!(
            covering_rule(&[rule("meta", "p/metadata/")], backups, &keys),
            None
        );
        // Narrower rules: every archive key must fall under one.
        let one = rule("one", "p/backups/accountid=1/");
        assert_eq!(
            covering_rule(std::slice::from_ref(&one), backups, &keys),
            None
        );
        let two = rule("two", "p/backups/accountid=2/");
        assert_eq!(
            covering_rule(&[one, two], backups, &keys),
            Some("one, two".into())
        );
        assert_eq!(
            covering_rule(&[rule("acc", "p/backups/accountid=")], backups, &[]),
            None
        );
    }
}
