//! The fleet's history: each `report` and `check` run appends one summary line (JSON Lines) to
//! a history file, and the report charts the last 90 days of it: the trend a governance team is
//! asked about.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

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
    let since = now - Duration::days(WINDOW_DAYS);
    let mut bad = 0;
    let mut entries: Vec<Entry> = text
        .lines()
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
