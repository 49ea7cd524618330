//! The fleet's history: each `report` and `check` run appends one summary line (JSON Lines) to
//! a history file, and the report charts the last 90 days of it: the trend a governance team is
//! asked about.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::bucket::{S3Path, list};

/// How far back the report's trend chart looks.
pub const WINDOW_DAYS: i64 = 90;

/// One run's summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub at: DateTime<Utc>,
    /// `report` or `check`.
    pub command: String,
    pub deployments: u64,
    /// The figures only a report computes (a `check` line has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounts: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<u64>,
    /// Deployments whose last export is older than a day (or unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale: Option<u64>,
    /// Deployments per version as the `versions` query shows them.
    #[serde(default)]
    pub versions: BTreeMap<String, u64>,
    /// Violations per severity (a `check`, or a report with a policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub violations: Option<BTreeMap<String, u64>>,
}

/// The history file of a fleet below a cache root: one file per source, so two fleets never mix.
pub fn path(cache_root: &Path, source: &str) -> PathBuf {
    let key = crate::hash::fnv1a(source.as_bytes());
    cache_root.join("history").join(format!("{key:016x}.jsonl"))
}

/// Append `entry` as one line (created with its folder when missing).
pub fn append(file: &Path, entry: &Entry) -> anyhow::Result<()> {
    if let Some(dir) = file.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut line = serde_json::to_string(entry)?;
    line.push('\n');
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .and_then(|mut f| f.write_all(line.as_bytes()))
        .with_context(|| format!("cannot append to the history file {}", file.display()))
}

/// The entries of the last [`WINDOW_DAYS`] days before `now`, oldest first, and how many lines
/// could not be read (reported, never fatal: the history is a convenience).
pub fn recent(file: &Path, now: DateTime<Utc>) -> (Vec<Entry>, usize) {
    let Ok(text) = fs::read_to_string(file) else {
        return (Vec::new(), 0);
    };
    recent_of(text.lines(), now)
}

/// [`recent`] over lines however they were read.
fn recent_of<'a>(lines: impl Iterator<Item = &'a str>, now: DateTime<Utc>) -> (Vec<Entry>, usize) {
    let since = now - Duration::days(WINDOW_DAYS);
    let mut bad = 0;
    let mut entries: Vec<Entry> = lines
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| match serde_json::from_str::<Entry>(l) {
            Ok(e) => Some(e),
            Err(_) => {
                bad += 1;
                None
            }
        })
        .filter(|e| e.at >= since && e.at <= now)
        .collect();
    entries.sort_by_key(|e| e.at);
    (entries, bad)
}

/// The days of `entries` and, per day, the last value `pick` finds that day (a gap where no run
/// of the day had it: a `check` line carries no stale count, a report without policy no
/// violations).
pub fn daily(
    entries: &[Entry],
    pick: impl Fn(&Entry) -> Option<u64>,
) -> BTreeMap<chrono::NaiveDate, Option<u64>> {
    let mut by_day: BTreeMap<chrono::NaiveDate, Option<u64>> = BTreeMap::new();
    for e in entries {
        let day = by_day.entry(e.at.date_naive()).or_default();
        if let Some(v) = pick(e) {
            *day = Some(v);
        }
    }
    by_day
}

/// Where a fleet's history lives: a local file, or a bucket prefix every runner shares (CI
/// runners start empty), one object per run so concurrent runs never overwrite each other.
pub enum Store {
    File(PathBuf),
    Bucket {
        client: aws_sdk_s3::Client,
        /// `<prefix>/<fleet key>/`: the fleet's own folder below the given prefix.
        path: S3Path,
    },
}

/// How many history objects are read at once.
const READS: usize = 16;

impl Store {
    /// The fleet's folder below `prefix` (one per source, as the local files are).
    pub fn bucket(client: aws_sdk_s3::Client, prefix: &S3Path, source: &str) -> Self {
        let key = crate::hash::fnv1a(source.as_bytes());
        let path = S3Path {
            bucket: prefix.bucket.clone(),
            prefix: prefix
                .child_prefix(&format!("{key:016x}"))
                .trim_end_matches('/')
                .to_string(),
        };
        Store::Bucket { client, path }
    }

    /// Append one run's line.
    pub async fn append(&self, entry: &Entry) -> anyhow::Result<()> {
        match self {
            Store::File(file) => append(file, entry),
            Store::Bucket { client, path } => {
                let key = format!(
                    "{}/{}-{}.json",
                    path.prefix,
                    entry.at.format("%Y%m%dT%H%M%S%.3fZ"),
                    entry.command
                );
                let body = serde_json::to_vec(entry)?;
                client
                    .put_object()
                    .bucket(&path.bucket)
                    .key(&key)
                    .content_type("application/json")
                    .body(body.into())
                    .send()
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "cannot write the history entry s3://{}/{key}: {}; the caller needs s3:PutObject there (or pass --no-history)",
                            path.bucket,
                            crate::aws::describe(&e)
                        )
                    })?;
                Ok(())
            }
        }
    }

    /// The entries of the last [`WINDOW_DAYS`] days, oldest first, and how many could not be
    /// read. In a bucket, objects are picked by the time in their name before any is read.
    pub async fn recent(&self, now: DateTime<Utc>) -> anyhow::Result<(Vec<Entry>, usize)> {
        let (client, path) = match self {
            Store::File(file) => return Ok(recent(file, now)),
            Store::Bucket { client, path } => (client, path),
        };
        let since = now - Duration::days(WINDOW_DAYS);
        let folder = format!("{}/", path.prefix);
        let (objects, _) = list::list_level(client, &path.bucket, &folder, false).await?;
        let keys: Vec<String> = objects
            .into_iter()
            .map(|o| o.key)
            .filter(|key| {
                let name = key.rsplit('/').next().unwrap_or_default();
                name.get(..19)
                    .and_then(|t| {
                        chrono::NaiveDateTime::parse_from_str(t, "%Y%m%dT%H%M%S%.3f").ok()
                    })
                    .is_none_or(|t| t.and_utc() >= since)
            })
            .collect();
        let bodies: Vec<Option<String>> = futures::stream::iter(keys)
            .map(|key| async move {
                let object = client
                    .get_object()
                    .bucket(&path.bucket)
                    .key(&key)
                    .send()
                    .await
                    .ok()?;
                let bytes = object.body.collect().await.ok()?.into_bytes();
                String::from_utf8(bytes.to_vec()).ok()
            })
            .buffer_unordered(READS)
            .collect()
            .await;
        let unreadable = bodies.iter().filter(|b| b.is_none()).count();
        let (entries, bad) = recent_of(bodies.iter().flatten().map(String::as_str), now);
        Ok((entries, bad + unreadable))
    }
}

impl std::fmt::Display for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Store::File(file) => write!(f, "{}", file.display()),
            Store::Bucket { path, .. } => write!(f, "{path}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at: &str, deployments: u64) -> Entry {
        Entry {
            at: at.parse().unwrap(),
            command: "report".into(),
            deployments,
            accounts: Some(1),
            instances: Some(2),
            running: Some(1),
            stale: if deployments == 3 { None } else { Some(0) },
            versions: BTreeMap::new(),
            violations: None,
        }
    }

    #[test]
    fn appends_and_reads_back_the_window_one_point_a_day() {
        let dir = tempfile::tempdir().unwrap();
        let file = path(dir.path(), "/data/clonesquad");
        assert_ne!(file, path(dir.path(), "s3://other/prefix"));
        for (at, n) in [
            ("2026-06-01T09:00:00Z", 1),
            ("2026-11-25T09:00:00Z", 2),
            ("2026-11-26T08:00:00Z", 3),
            ("2026-11-26T09:00:00Z", 4),
        ] {
            append(&file, &entry(at, n)).unwrap();
        }
        std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .unwrap()
            .write_all(b"not json\n")
            .unwrap();
        let now: DateTime<Utc> = "2026-11-26T10:00:00Z".parse().unwrap();
        let (entries, bad) = recent(&file, now);
        assert_eq!(bad, 1);
        assert_eq!(entries.len(), 3, "the June run is out of the window");
        let days: Vec<Option<u64>> = daily(&entries, |e| Some(e.deployments))
            .into_values()
            .collect();
        assert_eq!(
            days,
            [Some(2), Some(4)],
            "the day's last run stands for the day"
        );
        let stale: Vec<Option<u64>> = daily(&entries, |e| e.stale).into_values().collect();
        assert_eq!(
            stale,
            [Some(0), Some(0)],
            "a run without the figure leaves the day's value"
        );
    }
}
