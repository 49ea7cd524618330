//! The Organization as tables: a snapshot of its OU tree and accounts (with their tags), written
//! as NDJSON the same Hive JSON rules read (`ddl/org_*.sql`), so the embedded engine and Athena
//! join it with the CloneSquad tables with the same SQL.
//!
//! Organizations is walked from its root: `ListRoots`, then per parent
//! `ListOrganizationalUnitsForParent` and `ListAccountsForParent` (every page), then
//! `ListTagsForResource` per account, a few at a time. Throttling (`TooManyRequestsException`)
//! is retried by the SDK with adaptive backoff.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_sdk_organizations::Client;
use chrono::{DateTime, NaiveDateTime, Timelike};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::aws::{describe, error_code};
use crate::org::accounts::{Account, AccountsError, convert};

/// Every AWS action a snapshot calls, its upload for Athena included (checked against
/// `iam/*.json` by a test).
pub const ACTIONS: &[&str] = &[
    "organizations:DescribeOrganization",
    "organizations:ListRoots",
    "organizations:ListOrganizationalUnitsForParent",
    "organizations:ListAccountsForParent",
    "organizations:ListTagsForResource",
    "s3:PutObject",
];

/// Tag requests in flight at once (Organizations allows a few per second per account).
const TAG_CONCURRENCY: usize = 4;
/// Attempts per call: a large Organization meets throttling; the SDK backs off adaptively.
const ATTEMPTS: u32 = 10;

/// An organizational unit (or the root), with its path from the root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    pub id: String,
    pub name: String,
    /// `Root/Workloads/Prod`.
    pub path: String,
    pub parent_id: Option<String>,
    /// 0 for the root.
    pub depth: u32,
}

/// An account with where it sits and its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgAccount {
    pub account: Account,
    pub ou_id: String,
    pub ou_path: String,
    pub tags: BTreeMap<String, String>,
}

/// What a snapshot records about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    pub organization_id: String,
    pub management_account: String,
    /// When it was taken, UTC.
    pub taken_at: NaiveDateTime,
    pub accounts: usize,
    pub units: usize,
}

/// The Organization at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub info: SnapshotInfo,
    pub units: Vec<Unit>,
    pub accounts: Vec<OrgAccount>,
}

/// The file names of a snapshot folder, as `ddl/org_*.sql` locate them: one folder per table.
pub const ACCOUNTS_FILE: &str = "accounts/org_accounts.json";
pub const UNITS_FILE: &str = "units/org_units.json";
pub const INFO_FILE: &str = "snapshot.json";

fn call_error(action: &'static str, detail: String) -> AccountsError {
    AccountsError::Call { action, detail }
}

/// Walk the Organization (see the module documentation). `now` stamps the snapshot.
pub async fn take(config: &SdkConfig, now: NaiveDateTime) -> Result<Snapshot, AccountsError> {
    // The tables keep whole seconds.
    let now = now.with_nanosecond(0).unwrap_or(now);
    // The first call with the usual retries: an unreachable endpoint or missing access shows
    // at once; the walk that follows may meet throttling and backs off longer.
    let organization = match Client::new(config).describe_organization().send().await {
        Ok(out) => out.organization,
        Err(err) if error_code(&err) == Some("AWSOrganizationsNotInUseException") => {
            return Err(AccountsError::NoOrganization {
                caller: "the caller".into(),
                detail: describe(&err),
            });
        }
        Err(err) => {
            return Err(call_error(
                "organizations:DescribeOrganization",
                describe(&err),
            ));
        }
    };
    let organization_id = organization
        .as_ref()
        .and_then(|o| o.id())
        .unwrap_or_default()
        .to_string();
    let management_account = organization
        .as_ref()
        .and_then(|o| o.master_account_id())
        .unwrap_or_default()
        .to_string();

    let org = Client::from_conf(
        aws_sdk_organizations::config::Builder::from(config)
            .retry_config(RetryConfig::adaptive().with_max_attempts(ATTEMPTS))
            .build(),
    );
    let mut units = Vec::new();
    let mut pages = org.list_roots().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| call_error("organizations:ListRoots", describe(&e)))?;
        for root in page.roots() {
            let id = root.id().unwrap_or_default().to_string();
            let name = root.name().unwrap_or("Root").to_string();
            units.push(Unit {
                path: name.clone(),
                id,
                name,
                parent_id: None,
                depth: 0,
            });
        }
    }
    // Breadth first: each unit's children are listed once its own path is known.
    let mut accounts = Vec::new();
    let mut next = 0;
    while next < units.len() {
        let parent = units[next].clone();
        next += 1;
        let mut pages = org
            .list_organizational_units_for_parent()
            .parent_id(&parent.id)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                call_error(
                    "organizations:ListOrganizationalUnitsForParent",
                    format!("{}: {}", parent.id, describe(&e)),
                )
            })?;
            for ou in page.organizational_units() {
                let name = ou.name().unwrap_or_default().to_string();
                units.push(Unit {
                    id: ou.id().unwrap_or_default().to_string(),
                    path: format!("{}/{name}", parent.path),
                    name,
                    parent_id: Some(parent.id.clone()),
                    depth: parent.depth + 1,
                });
            }
        }
        let mut pages = org
            .list_accounts_for_parent()
            .parent_id(&parent.id)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                call_error(
                    "organizations:ListAccountsForParent",
                    format!("{}: {}", parent.id, describe(&e)),
                )
            })?;
            for account in page.accounts() {
                accounts.push(OrgAccount {
                    account: convert(account),
                    ou_id: parent.id.clone(),
                    ou_path: parent.path.clone(),
                    tags: BTreeMap::new(),
                });
            }
        }
    }

    let tagged: Vec<Result<BTreeMap<String, String>, AccountsError>> =
        futures::stream::iter(accounts.iter().map(|a| tags(&org, a.account.id.clone())))
            .buffered(TAG_CONCURRENCY)
            .collect()
            .await;
    for (account, tags) in accounts.iter_mut().zip(tagged) {
        account.tags = tags?;
    }
    accounts.sort_by(|a, b| a.account.id.cmp(&b.account.id));
    units.sort_by(|a, b| a.path.cmp(&b.path).then_with(|| a.id.cmp(&b.id)));
    Ok(Snapshot {
        info: SnapshotInfo {
            organization_id,
            management_account,
            taken_at: now,
            accounts: accounts.len(),
            units: units.len(),
        },
        units,
        accounts,
    })
}

async fn tags(org: &Client, id: String) -> Result<BTreeMap<String, String>, AccountsError> {
    let mut out = BTreeMap::new();
    let mut pages = org
        .list_tags_for_resource()
        .resource_id(&id)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            call_error(
                "organizations:ListTagsForResource",
                format!("{id}: {}", describe(&e)),
            )
        })?;
        for tag in page.tags() {
            out.insert(tag.key().to_string(), tag.value().to_string());
        }
    }
    Ok(out)
}

/// `2026-11-26 09:00:01`: the naive UTC form the tables' timestamp formats read.
fn timestamp(t: &NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

impl Snapshot {
    /// The `org_accounts` lines: NDJSON in the Hive JSON reader's shapes.
    pub fn accounts_ndjson(&self) -> String {
        self.accounts
            .iter()
            .map(|a| {
                json!({
                    "account_id": a.account.id,
                    "name": a.account.name,
                    "email": a.account.email,
                    "status": a.account.status,
                    "joined_method": a.account.joined_method,
                    "joined_at": a.account.joined_at.as_ref().map(timestamp),
                    "ou_id": a.ou_id,
                    "ou_path": a.ou_path,
                    "tags": a.tags,
                    "snapshot_at": timestamp(&self.info.taken_at),
                })
                .to_string()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The `org_units` lines.
    pub fn units_ndjson(&self) -> String {
        let mut per_unit: BTreeMap<&str, usize> = BTreeMap::new();
        for a in &self.accounts {
            *per_unit.entry(a.ou_id.as_str()).or_default() += 1;
        }
        self.units
            .iter()
            .map(|u| {
                json!({
                    "ou_id": u.id,
                    "name": u.name,
                    "path": u.path,
                    "parent_id": u.parent_id,
                    "depth": u.depth,
                    "accounts": per_unit.get(u.id.as_str()).copied().unwrap_or(0),
                    "snapshot_at": timestamp(&self.info.taken_at),
                })
                .to_string()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The files of the snapshot, by their path in a snapshot folder (local or in the bucket).
    pub fn files(&self) -> anyhow::Result<Vec<(&'static str, Vec<u8>)>> {
        Ok(vec![
            (ACCOUNTS_FILE, self.accounts_ndjson().into_bytes()),
            (UNITS_FILE, self.units_ndjson().into_bytes()),
            (INFO_FILE, serde_json::to_vec_pretty(&self.info)?),
        ])
    }

    /// Write the snapshot into `dir` (replacing the previous one file by file, each renamed into
    /// place, the info file last).
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        for (name, bytes) in self.files()? {
            let path = dir.join(name);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            let tmp = path.with_extension("json.tmp");
            fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
            fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    }

    /// Upload the snapshot under `org_path` (`s3://bucket/prefix`), where the `org_*` tables of
    /// Athena read it; the info file last, so a reader never sees a new info with old tables.
    pub async fn upload(
        &self,
        config: &SdkConfig,
        org_path: &crate::settings::S3Path,
    ) -> anyhow::Result<()> {
        let s3 = crate::aws::s3_client(config);
        for (name, bytes) in self.files()? {
            let key = if org_path.prefix.is_empty() {
                name.to_string()
            } else {
                format!("{}/{name}", org_path.prefix)
            };
            s3.put_object()
                .bucket(&org_path.bucket)
                .key(&key)
                .content_type("application/json")
                .body(bytes.into())
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "cannot upload the Organization snapshot to s3://{}/{key}: {}",
                        org_path.bucket,
                        describe(&e)
                    )
                })?;
        }
        Ok(())
    }
}

/// An `org_accounts` line as written by [`Snapshot::accounts_ndjson`].
#[derive(Deserialize)]
struct AccountLine {
    account_id: String,
    name: String,
    email: String,
    status: String,
    joined_method: Option<String>,
    joined_at: Option<String>,
    ou_id: String,
    ou_path: String,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

/// An `org_units` line as written by [`Snapshot::units_ndjson`].
#[derive(Deserialize)]
struct UnitLine {
    ou_id: String,
    name: String,
    path: String,
    parent_id: Option<String>,
    depth: u32,
}

/// Read back the snapshot in `dir` (written by [`Snapshot::write`]).
pub fn load(dir: &Path) -> anyhow::Result<Snapshot> {
    let info =
        read_info(dir).with_context(|| format!("no Organization snapshot in {}", dir.display()))?;
    let lines = |name: &str| -> anyhow::Result<String> {
        let path = dir.join(name);
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))
    };
    let accounts = lines(ACCOUNTS_FILE)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let a: AccountLine = serde_json::from_str(l).with_context(|| {
                format!("{}: unreadable line", dir.join(ACCOUNTS_FILE).display())
            })?;
            Ok(OrgAccount {
                account: Account {
                    id: a.account_id,
                    name: a.name,
                    email: a.email,
                    status: a.status,
                    joined_method: a.joined_method,
                    joined_at: a
                        .joined_at
                        .and_then(|t| NaiveDateTime::parse_from_str(&t, "%Y-%m-%d %H:%M:%S").ok()),
                },
                ou_id: a.ou_id,
                ou_path: a.ou_path,
                tags: a.tags,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let units = lines(UNITS_FILE)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let u: UnitLine = serde_json::from_str(l)
                .with_context(|| format!("{}: unreadable line", dir.join(UNITS_FILE).display()))?;
            Ok(Unit {
                id: u.ou_id,
                name: u.name,
                path: u.path,
                parent_id: u.parent_id,
                depth: u.depth,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Snapshot {
        info,
        units,
        accounts,
    })
}

impl Snapshot {
    /// The accounts under any of `ous` (OU or root ids like `ou-ab12-cdef3456`, or OU paths like
    /// `Root/Workloads`), nested units included. An OU the snapshot does not know is an error
    /// naming it and the known paths.
    pub fn accounts_under(
        &self,
        ous: &[String],
    ) -> anyhow::Result<std::collections::BTreeSet<String>> {
        let mut paths = Vec::new();
        for ou in ous {
            let unit = self
                .units
                .iter()
                .find(|u| &u.id == ou || u.path.eq_ignore_ascii_case(ou.trim_end_matches('/')));
            match unit {
                Some(u) => paths.push(u.path.clone()),
                None => anyhow::bail!(
                    "organizational unit `{ou}` is not in the Organization snapshot of {} UTC; known units: {} (refresh with --refresh-org)",
                    self.info.taken_at.format("%Y-%m-%d %H:%M"),
                    self.units
                        .iter()
                        .map(|u| format!("{} ({})", u.path, u.id))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
        Ok(self
            .accounts
            .iter()
            .filter(|a| {
                paths
                    .iter()
                    .any(|p| a.ou_path == *p || a.ou_path.starts_with(&format!("{p}/")))
            })
            .map(|a| a.account.id.clone())
            .collect())
    }

    /// Account id -> its OU path.
    pub fn ou_paths(&self) -> BTreeMap<String, String> {
        self.accounts
            .iter()
            .map(|a| (a.account.id.clone(), a.ou_path.clone()))
            .collect()
    }
}

/// The snapshot folder below a cache root.
pub fn local_dir(cache_root: &Path) -> PathBuf {
    cache_root.join("org")
}

/// What the last snapshot in `dir` says of itself, if there is one.
pub fn read_info(dir: &Path) -> Option<SnapshotInfo> {
    let bytes = fs::read(dir.join(INFO_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// `3h`, `2d 4h`: how old a snapshot is, for messages.
pub fn age(info: &SnapshotInfo, now: DateTime<chrono::Utc>) -> chrono::Duration {
    now.naive_utc() - info.taken_at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        let at = chrono::NaiveDate::from_ymd_opt(2026, 11, 26)
            .and_then(|d| d.and_hms_opt(9, 0, 0))
            .unwrap();
        let account = |id: &str, ou: &str, path: &str| OrgAccount {
            account: Account {
                id: id.into(),
                name: format!("acct-{id}"),
                email: format!("{id}@example.com"),
                status: "ACTIVE".into(),
                joined_method: Some("CREATED".into()),
                joined_at: Some(at),
            },
            ou_id: ou.into(),
            ou_path: path.into(),
            tags: BTreeMap::from([("Owner".to_string(), "team-a".to_string())]),
        };
        Snapshot {
            info: SnapshotInfo {
                organization_id: "o-example".into(),
                management_account: "111111111111".into(),
                taken_at: at,
                accounts: 2,
                units: 2,
            },
            units: vec![
                Unit {
                    id: "r-ab12".into(),
                    name: "Root".into(),
                    path: "Root".into(),
                    parent_id: None,
                    depth: 0,
                },
                Unit {
                    id: "ou-ab12-11111111".into(),
                    name: "Prod".into(),
                    path: "Root/Prod".into(),
                    parent_id: Some("r-ab12".into()),
                    depth: 1,
                },
            ],
            accounts: vec![
                account("111111111111", "r-ab12", "Root"),
                account("222222222222", "ou-ab12-11111111", "Root/Prod"),
            ],
        }
    }

    #[test]
    fn ndjson_lines_carry_paths_tags_and_counts() {
        let s = snapshot();
        let accounts: Vec<serde_json::Value> = s
            .accounts_ndjson()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(accounts[1]["ou_path"], "Root/Prod");
        assert_eq!(accounts[1]["tags"]["Owner"], "team-a");
        assert_eq!(accounts[0]["joined_at"], "2026-11-26 09:00:00");
        let units: Vec<serde_json::Value> = s
            .units_ndjson()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(units[1]["accounts"], 1);
        assert_eq!(units[0]["parent_id"], serde_json::Value::Null);

        let dir = tempfile::tempdir().unwrap();
        s.write(dir.path()).unwrap();
        assert_eq!(read_info(dir.path()), Some(s.info.clone()));
        assert!(dir.path().join(ACCOUNTS_FILE).is_file());
        assert_eq!(load(dir.path()).unwrap(), s, "what is written reads back");

        let under =
            |ous: &[&str]| s.accounts_under(&ous.iter().map(|o| o.to_string()).collect::<Vec<_>>());
        assert_eq!(under(&["Root/Prod"]).unwrap().len(), 1);
        assert_eq!(under(&["ou-ab12-11111111"]).unwrap().len(), 1);
        assert_eq!(under(&["r-ab12"]).unwrap().len(), 2, "nested units count");
        assert_eq!(under(&["root/prod/"]).unwrap().len(), 1);
        let err = under(&["Root/Dev"]).unwrap_err().to_string();
        assert!(
            err.contains("`Root/Dev` is not in the Organization snapshot"),
            "{err}"
        );
        assert!(err.contains("Root/Prod (ou-ab12-11111111)"), "{err}");
    }
}
