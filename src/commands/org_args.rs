//! The Organization snapshot, as the commands that read it (`query`, `check`, `report`) and the
//! ones that write it (`org snapshot`, `install`) find it: where it lives, when it is refreshed.
//!
//! The snapshot lives in the cache (`<cache>/org/`) with the time it was taken. A run whose SQL
//! reads `org_accounts` or `org_units` refreshes it first when `--refresh-org` asks, or when it is
//! older than `--org-max-age` (default a day) or missing and AWS credentials are at hand; without
//! credentials the last snapshot is used and its age is shown. On Athena the `org_*` tables read
//! the copy `org snapshot` uploaded: a query does not touch the local snapshot unless `--ou` or
//! `--refresh-org` asks, and `--refresh-org` uploads the new snapshot before the query runs.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::bucket::{S3Path, layout};
use crate::engine::{EngineKind, OpenOptions};
use crate::org::snapshot::{self, SnapshotInfo};
use crate::printer::Printer;
use crate::rows::{Page, Picked, ValueRef};
use crate::settings::Settings;

/// How long checking for credentials may take before a run goes on with the last snapshot.
const CREDENTIALS_PROBE: Duration = Duration::from_secs(3);

/// Where the Organization tables live for Athena.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OrgPathArg {
    /// Where the Organization snapshot's tables live for Athena (s3://bucket/prefix)
    /// [default: <metadata path>/cs-cmdb/org].
    #[arg(
        long,
        visible_alias = "org-prefix",
        env = "CS_CMDB_ORG_PATH",
        value_name = "S3_PATH"
    )]
    pub org_path: Option<String>,
}

impl OrgPathArg {
    /// The flag, else `<metadata path>/cs-cmdb/org`; `None` without either.
    pub fn resolve(&self, metadata_path: Option<&S3Path>) -> anyhow::Result<Option<S3Path>> {
        match &self.org_path {
            Some(text) => text
                .parse()
                .map(Some)
                .with_context(|| format!("invalid --org-path `{text}`")),
            None => Ok(metadata_path.map(layout::org_path)),
        }
    }
}

/// When the snapshot is refreshed by the commands that read it.
#[derive(Debug, Clone, clap::Args)]
pub struct OrgArgs {
    /// Take a new Organization snapshot before running (needs Organizations access).
    #[arg(long)]
    pub refresh_org: bool,

    /// A snapshot older than this is refreshed when AWS credentials are at hand (e.g. 6h, 2d).
    #[arg(long, default_value = "24h", value_name = "DURATION", value_parser = crate::time::parse_duration)]
    pub org_max_age: Duration,

    /// Only accounts under this organizational unit (an id like ou-ab12-cdef3456 or r-ab12, or a
    /// path like Root/Workloads), nested units included, per the Organization snapshot;
    /// repeatable.
    #[arg(long = "ou", value_name = "OU")]
    pub ous: Vec<String>,
}

/// The accounts a run is scoped to (`--ou`), and the rows that belong to them.
#[derive(Debug, Clone)]
pub struct Scope {
    pub accounts: std::collections::BTreeSet<String>,
    /// As given, for messages.
    pub ous: Vec<String>,
}

impl Scope {
    /// The index of the account column of a result (`account_id` or `accountid`).
    pub fn account_column(&self, columns: &[crate::rows::Column]) -> anyhow::Result<usize> {
        columns
            .iter()
            .position(|c| {
                c.name.eq_ignore_ascii_case("account_id") || c.name.eq_ignore_ascii_case("accountid")
            })
            .with_context(|| {
                format!(
                    "--ou {} scopes rows by account, but the result has no account_id or accountid column (its columns: {})",
                    self.ous.join(", "),
                    columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
                )
            })
    }

    /// Keep the rows of accounts in scope (`at`: the account column).
    pub fn retain(&self, at: usize, rows: &mut Vec<Vec<crate::rows::Value>>) {
        let mut id = String::new();
        rows.retain(|row| {
            row.get(at)
                .is_some_and(|v| self.keeps(&v.as_ref(), &mut id))
        });
    }

    /// The rows of `page` whose account (in column `at`) is in scope, as they are streamed.
    pub fn pick<'p, P: Page + ?Sized>(
        &self,
        page: &'p P,
        at: usize,
    ) -> std::io::Result<Picked<'p, P>> {
        let mut id = String::new();
        Picked::new(page, |row| Ok(self.keeps(&page.value(row, at)?, &mut id)))
    }

    /// Whether an account id is in scope (`id`: a buffer for its text).
    fn keeps(&self, account: &ValueRef, id: &mut String) -> bool {
        id.clear();
        account.write_display(id) && self.accounts.contains(id.as_str())
    }
}

impl OrgArgs {
    /// Whether the run needs the local Organization snapshot: `--ou` scopes it, `--refresh-org`
    /// asks for it, or the embedded engine runs SQL that reads it (Athena reads the uploaded
    /// copy under the org path instead).
    pub fn needed(&self, sql: &str, engine: EngineKind) -> bool {
        !self.ous.is_empty() || self.refresh_org || (engine == EngineKind::Local && reads_org(sql))
    }

    /// Where a refreshed snapshot is uploaded: for Athena, the Organization tables' location
    /// (`<metadata path>/cs-cmdb/org`, as `install` created them); nowhere for the embedded engine.
    fn upload_to(settings: &Settings, engine: EngineKind) -> Option<S3Path> {
        settings
            .metadata_path
            .as_ref()
            .filter(|_| engine == EngineKind::Athena)
            .map(layout::org_path)
    }

    /// The `--ou` scope, from the snapshot (`None` without `--ou`). A run scoped by OU needs a
    /// snapshot: without one it is an error saying how to take one.
    pub fn scope(&self, org: Option<&OrgContext>) -> anyhow::Result<Option<Scope>> {
        if self.ous.is_empty() {
            return Ok(None);
        }
        let org = org.context(
            "--ou needs an Organization snapshot: run `cs-cmdb org snapshot` (or pass --refresh-org) with credentials of the management account or a delegated administrator",
        )?;
        let snapshot = snapshot::load(&org.dir)?;
        Ok(Some(Scope {
            accounts: snapshot.accounts_under(&self.ous)?,
            ous: self.ous.clone(),
        }))
    }
}

/// The snapshot a run reads: its folder and what it says of itself.
#[derive(Debug, Clone)]
pub struct OrgContext {
    pub dir: PathBuf,
    pub info: SnapshotInfo,
}

/// Whether `sql` reads the Organization tables.
pub fn reads_org(sql: &str) -> bool {
    let lower = sql.to_ascii_lowercase();
    ["org_accounts", "org_units"].iter().any(|t| {
        lower.match_indices(t).any(|(at, _)| {
            let before = lower[..at].chars().next_back();
            let after = lower[at + t.len()..].chars().next();
            let ident = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            !ident(before) && !ident(after)
        })
    })
}

impl OrgArgs {
    /// The snapshot to read, refreshed first when asked or when stale and credentials are at
    /// hand. `None`: there is no snapshot (the `org_*` tables are empty; the printer says so).
    pub async fn context(
        &self,
        settings: &Settings,
        printer: &Printer,
        options: &OpenOptions,
    ) -> anyhow::Result<Option<OrgContext>> {
        let dir = snapshot::local_dir(&options.cache_root);
        let upload_to = Self::upload_to(settings, options.kind);
        let upload_to = upload_to.as_ref();
        let now = crate::time::now()?;
        let info = snapshot::read_info(&dir);
        let stale = info
            .as_ref()
            .is_none_or(|i| snapshot::age(i, now).to_std().unwrap_or_default() > self.org_max_age);
        if self.refresh_org || stale {
            match refresh(settings, printer, &dir, upload_to, self.refresh_org).await {
                Ok(fresh) => return Ok(Some(OrgContext { dir, info: fresh })),
                Err(err) if self.refresh_org => return Err(err),
                Err(err) => {
                    let why = crate::errors::report(&err);
                    match &info {
                        Some(i) => printer.notice(&format!(
                            "using the Organization snapshot of {} UTC ({} old): {why}",
                            i.taken_at.format("%Y-%m-%d %H:%M"),
                            crate::time::human_duration(snapshot::age(i, now))
                        )),
                        None => printer.notice(&format!(
                            "no Organization snapshot, so org_accounts and org_units are empty ({why}); take one with `cs-cmdb org snapshot`"
                        )),
                    }
                }
            }
        }
        Ok(info.map(|info| OrgContext { dir, info }))
    }
}

/// Take a snapshot, write it into `dir` and upload it to `upload_to`. Unless `required`, give up quickly when no
/// credentials are at hand.
async fn refresh(
    settings: &Settings,
    printer: &Printer,
    dir: &std::path::Path,
    upload_to: Option<&S3Path>,
    required: bool,
) -> anyhow::Result<SnapshotInfo> {
    let config = crate::aws::sdk_config(&settings.aws, printer).await?;
    if !required {
        let provider = config
            .credentials_provider()
            .context("no AWS credentials provider")?;
        use aws_credential_types::provider::ProvideCredentials;
        // Only whether there are credentials matters here: the provider chain's own story (every
        // provider it tried) goes to -v, not into the notice.
        match tokio::time::timeout(CREDENTIALS_PROBE, provider.provide_credentials()).await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => {
                tracing::debug!(error = ?err, "no AWS credentials for the Organization snapshot");
                anyhow::bail!("no AWS credentials at hand");
            }
            Err(_) => anyhow::bail!(
                "no AWS credentials at hand (none found within {} s)",
                CREDENTIALS_PROBE.as_secs()
            ),
        }
    }
    let taken = snapshot::take(&config, crate::time::now()?.naive_utc())
        .await
        .context("cannot take an Organization snapshot")?;
    taken.write(dir)?;
    if let Some(path) = upload_to {
        taken.upload(&config, path).await?;
    }
    printer.notice(&format!(
        "Organization snapshot taken: {} accounts in {} organizational units",
        taken.info.accounts, taken.info.units
    ));
    Ok(taken.info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sql_naming_the_org_tables_reads_them() {
        assert!(reads_org("SELECT * FROM org_accounts"));
        assert!(reads_org(
            "select o.ou_path from clonesquad_discovery d join ORG_UNITS u"
        ));
        assert!(!reads_org(
            "SELECT my_org_accounts_x FROM clonesquad_discovery"
        ));
        assert!(!reads_org("SELECT 1"));
    }
}
