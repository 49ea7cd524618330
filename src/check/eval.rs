//! Evaluating rules: per-deployment facts come from the query engine (SQL over
//! `clonesquad_discovery`), backup ages from the local tree, the rest from AWS.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use aws_config::SdkConfig;
use chrono::{DateTime, NaiveDateTime, Utc};

use crate::bucket::S3Path;
use crate::bucket::layout::{self, BackupKind, Partition};
use crate::bucket::lifecycle::{self, Verdict};
use crate::check::policy::{Age, Rule, Spec, UnknownVersion, Version};
use crate::engine::{Param, QueryEngine, Statement};
use crate::org::accounts::{self, AccountFilter, AccountsError};
use crate::rows::{ResultSet, Value};

/// One deployment, as the discovery table describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub account: String,
    pub region: String,
    pub group: String,
    pub version: Option<String>,
    pub last_export: Option<NaiveDateTime>,
    /// Seconds since the last export, by the engine's clock.
    pub export_age: Option<i64>,
}

/// What one testcase is about: a deployment, an account, a bucket, or a query's unlocated row.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subject {
    pub account: Option<String>,
    pub region: Option<String>,
    pub group: Option<String>,
    /// Set for subjects that are not (part of) a deployment: a bucket path, `query`.
    pub label: Option<String>,
}

impl Deployment {
    /// Where the deployment's files are in the bucket.
    pub fn partition(&self) -> Partition {
        Partition::new(&self.account, &self.region, &self.group)
    }
}

impl Subject {
    pub fn deployment(d: &Deployment) -> Self {
        Self {
            account: Some(d.account.clone()),
            region: Some(d.region.clone()),
            group: Some(d.group.clone()),
            label: None,
        }
    }

    pub fn account(id: &str) -> Self {
        Self {
            account: Some(id.to_string()),
            region: None,
            group: None,
            label: None,
        }
    }

    pub fn label(text: impl Into<String>) -> Self {
        Self {
            account: None,
            region: None,
            group: None,
            label: Some(text.into()),
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<&str> = [&self.account, &self.region, &self.group]
            .into_iter()
            .filter_map(|p| p.as_deref())
            .collect();
        match (&self.label, parts.is_empty()) {
            (Some(label), true) => f.write_str(label),
            (Some(label), false) => write!(f, "{} {label}", parts.join("/")),
            (None, _) => f.write_str(&parts.join("/")),
        }
    }
}

/// Something a rule found wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub subject: Subject,
    pub detail: String,
}

/// What evaluating one rule gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Evaluation {
    /// The subjects checked (for passes) and what was found wrong.
    Checked {
        subjects: Vec<Subject>,
        findings: Vec<Finding>,
        /// Subjects the rule chose not to judge, with the reason (e.g. `unknown = "skip"`).
        not_checked: Vec<Finding>,
    },
    /// The rule could not be evaluated; the reason says why and what to do.
    Skipped(String),
}

/// AWS access for the rules that need it: a configuration with credentials, or why there is none.
pub type Aws = Result<SdkConfig, String>;

/// What rules are evaluated against.
pub struct Context<'a> {
    pub engine: &'a dyn QueryEngine,
    pub deployments: &'a [Deployment],
    pub now: DateTime<Utc>,
    /// `<source>/backups`, when the source is a local tree.
    pub backups: Option<PathBuf>,
    pub metadata_path: Option<&'a S3Path>,
    pub aws: Option<&'a Aws>,
    /// How far ahead of now a timestamp may be (clocks differ) before it is "in the future".
    pub skew: chrono::Duration,
}

/// The facts query: one row per deployment.
pub const FACTS_SQL: &str = "\
SELECT accountid AS account_id,
       region,
       groupname AS group_name,
       clonesquadversion AS version,
       metadatarecordlastupdatedat AS last_export_at,
       date_diff('second', metadatarecordlastupdatedat, current_timestamp) AS export_age_seconds
FROM clonesquad_discovery
ORDER BY account_id, region, group_name";

/// Index of the first column named like one of `names` (case-insensitive).
fn column(rs: &ResultSet, names: &[&str]) -> Option<usize> {
    rs.columns
        .iter()
        .position(|c| names.iter().any(|n| c.name.eq_ignore_ascii_case(n)))
}

fn text(row: &[Value], index: Option<usize>) -> Option<String> {
    index
        .and_then(|i| row.get(i))
        .and_then(Value::display)
        .filter(|s| !s.is_empty())
}

/// The statements evaluating `rules` runs on the engine (the deployments' facts first), with
/// their parameters: said ahead ([`QueryEngine::expect`]), each table is loaded once.
pub fn statements(rules: &[Rule]) -> Vec<Statement> {
    let mut statements = vec![(FACTS_SQL.to_string(), Vec::new())];
    for rule in rules {
        match &rule.spec {
            Spec::RequiredUserMetadata(keys) => statements.push(user_metadata_statement(keys)),
            Spec::Sql(sql) => statements.push((sql.clone(), Vec::new())),
            _ => {}
        }
    }
    statements
}

/// Every deployment in the discovery table.
pub async fn deployments(engine: &dyn QueryEngine) -> anyhow::Result<Vec<Deployment>> {
    let rs = engine.run(FACTS_SQL, &[]).await.with_context(|| {
        format!(
            "reading the deployments from clonesquad_discovery on the {} engine failed",
            engine.name()
        )
    })?;
    let (a, r, g) = (
        column(&rs, &["account_id"]),
        column(&rs, &["region"]),
        column(&rs, &["group_name"]),
    );
    let (v, t, age) = (
        column(&rs, &["version"]),
        column(&rs, &["last_export_at"]),
        column(&rs, &["export_age_seconds"]),
    );
    let mut out = Vec::with_capacity(rs.rows.len());
    for row in &rs.rows {
        let (Some(account), Some(region), Some(group)) = (text(row, a), text(row, r), text(row, g))
        else {
            continue;
        };
        out.push(Deployment {
            account,
            region,
            group,
            // "" (CloneSquad's release template) is a version of its own, not a missing one.
            version: v.and_then(|i| row.get(i)).and_then(Value::display),
            last_export: match t.and_then(|i| row.get(i)) {
                Some(Value::Timestamp(ts)) => Some(*ts),
                _ => None,
            },
            export_age: match age.and_then(|i| row.get(i)) {
                Some(Value::Int(n)) => Some(*n),
                Some(Value::Float(f)) => Some(*f as i64),
                _ => None,
            },
        });
    }
    Ok(out)
}

fn all(ctx: &Context<'_>) -> Vec<Subject> {
    ctx.deployments.iter().map(Subject::deployment).collect()
}

fn checked(ctx: &Context<'_>, findings: Vec<Finding>) -> Evaluation {
    Evaluation::Checked {
        subjects: all(ctx),
        findings,
        not_checked: Vec::new(),
    }
}

/// Evaluate one rule. An `Err` means the check could not run (exit 2).
pub async fn evaluate(rule: &Rule, ctx: &Context<'_>) -> anyhow::Result<Evaluation> {
    Ok(match &rule.spec {
        Spec::MinVersion { min, unknown } => {
            let (findings, not_checked) = min_version(ctx.deployments, min, *unknown);
            Evaluation::Checked {
                subjects: all(ctx),
                findings,
                not_checked,
            }
        }
        Spec::MaxExportAge(limit) => checked(
            ctx,
            max_export_age(ctx.deployments, *limit, ctx.skew.num_seconds()),
        ),
        Spec::AllowedRegions(regions) => checked(
            ctx,
            ctx.deployments
                .iter()
                .filter(|d| !regions.contains(&d.region))
                .map(|d| Finding {
                    subject: Subject::deployment(d),
                    detail: format!(
                        "region {} is not allowed (allowed: {})",
                        d.region,
                        regions.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                })
                .collect(),
        ),
        Spec::RequiredUserMetadata(keys) => checked(ctx, user_metadata(ctx.engine, keys).await?),
        Spec::MaxBackupAge(limit) => match &ctx.backups {
            Some(root) => checked(ctx, backup_age(root, ctx.deployments, *limit, ctx.now)?),
            None => Evaluation::Skipped(
                "max_backup_age reads the backups/ folder of a local copy of <MetadataAndBackupS3Path>: pass --source DIR or --source s3://bucket/prefix (mirrored), not the Athena engine".into(),
            ),
        },
        Spec::Sql(sql) => sql_rule(ctx, sql).await?,
        Spec::ArchiveLifecycle => archive_lifecycle(ctx).await?,
        Spec::Coverage {
            max_age,
            ous,
            exclude_accounts,
        } => coverage(ctx, *max_age, ous, exclude_accounts).await?,
        Spec::MetadataReadable => metadata_readable(ctx),
    })
}

/// A deployment with a file holding an unreadable line or value: a violation naming the file
/// and the first line, whether or not the deployment still shows in the discovery table (its
/// only discovery record may be the unreadable one). A file outside any partition is a
/// violation of its own.
fn metadata_readable(ctx: &Context<'_>) -> Evaluation {
    let mut subjects: Vec<Subject> = all(ctx);
    let mut findings = Vec::new();
    for file in ctx.engine.unreadable() {
        let subject = match &file.partition {
            Some((account, region, group)) => Subject {
                account: Some(account.clone()),
                region: Some(region.clone()),
                group: Some(group.clone()),
                label: None,
            },
            None => Subject::label(file.table.clone()),
        };
        if !subjects.contains(&subject) {
            subjects.push(subject.clone());
        }
        let at = match &file.first {
            Some(first) => format!("{}:{first}", file.path),
            None => file.path.clone(),
        };
        let more = file.count.saturating_sub(1);
        let more = if more > 0 {
            format!(" (and {more} more in this file)")
        } else {
            String::new()
        };
        findings.push(Finding {
            subject,
            detail: format!("unreadable metadata in {}: {at}{more}", file.table),
        });
    }
    Evaluation::Checked {
        subjects,
        findings,
        not_checked: Vec::new(),
    }
}

/// Deployments below `min` are violations. A version that is not `vX.Y.Z` (CloneSquad's release
/// template ships `""`, development builds `--Development--`) is unknown: a violation, or with
/// `unknown = "skip"` a deployment not checked (listed as such, never silently dropped).
fn min_version(
    deployments: &[Deployment],
    min: &Version,
    unknown: UnknownVersion,
) -> (Vec<Finding>, Vec<Finding>) {
    let mut findings = Vec::new();
    let mut not_checked = Vec::new();
    for d in deployments {
        let unknown_why = match d.version.as_deref() {
            None => "no CloneSquadVersion in the discovery record".to_string(),
            Some(text) => match Version::parse(text) {
                Some(v) if v < *min => {
                    findings.push(Finding {
                        subject: Subject::deployment(d),
                        detail: format!("runs {text}, below the minimum {min}"),
                    });
                    continue;
                }
                Some(_) => continue,
                None if text.trim().is_empty() => {
                    "CloneSquadVersion is empty (as CloneSquad's release template ships it)"
                        .to_string()
                }
                None => format!("`{}` is not a vX.Y.Z release", crate::text::escape(text)),
            },
        };
        let finding = Finding {
            subject: Subject::deployment(d),
            detail: format!("version unknown: {unknown_why} (minimum {min})"),
        };
        match unknown {
            UnknownVersion::Violation => findings.push(finding),
            UnknownVersion::Skip => not_checked.push(finding),
        }
    }
    (findings, not_checked)
}

/// The words for an export time more than `skew` seconds ahead of now, if it is.
fn in_the_future(d: &Deployment, skew: i64) -> Option<String> {
    match (d.last_export, d.export_age) {
        (Some(at), Some(age)) if age < -skew => Some(format!(
            "timestamp in the future: last export {} UTC is {} ahead of now (allowed clock skew {})",
            crate::rows::format_timestamp(&at),
            crate::time::human_duration(chrono::Duration::seconds(-age)),
            crate::time::human_duration(chrono::Duration::seconds(skew))
        )),
        _ => None,
    }
}

fn max_export_age(deployments: &[Deployment], limit: Age, skew: i64) -> Vec<Finding> {
    let limit_secs = limit.0.num_seconds();
    deployments
        .iter()
        .filter_map(|d| {
            if let Some(detail) = in_the_future(d, skew) {
                return Some(Finding {
                    subject: Subject::deployment(d),
                    detail,
                });
            }
            let detail = match (d.last_export, d.export_age) {
                (Some(at), Some(age)) if age > limit_secs => format!(
                    "last export {} UTC, {} ago (limit {limit})",
                    crate::rows::format_timestamp(&at),
                    crate::time::human_duration(chrono::Duration::seconds(age))
                ),
                (Some(_), Some(_)) => return None,
                _ => "no MetadataRecordLastUpdatedAt in the discovery record: last export unknown"
                    .to_string(),
            };
            Some(Finding {
                subject: Subject::deployment(d),
                detail,
            })
        })
        .collect()
}

/// The user-metadata SQL for `n` keys: one bound `?` per key, never spliced.
pub fn user_metadata_sql(n: usize) -> String {
    let mut sql = String::from(
        "SELECT accountid AS account_id, region, groupname AS group_name,\n       \
         CASE WHEN usersuppliedjsonmetadata IS NULL OR trim(usersuppliedjsonmetadata) = '' THEN 'empty'\n            \
         WHEN json_extract(usersuppliedjsonmetadata, '$') IS NULL THEN 'invalid'\n            \
         ELSE 'ok' END AS metadata_state,\n       \
         usersuppliedjsonmetadata AS metadata_text",
    );
    for i in 0..n {
        sql.push_str(&format!(
            ",\n       json_extract(usersuppliedjsonmetadata, concat('$[\"', ?, '\"]')) AS key_{i}"
        ));
    }
    sql.push_str("\nFROM clonesquad_discovery\nORDER BY account_id, region, group_name");
    sql
}

/// The statement reading the user metadata keys `keys`, and its parameters.
fn user_metadata_statement(keys: &[String]) -> Statement {
    (
        user_metadata_sql(keys.len()),
        keys.iter().map(|k| Param::Str(k.clone())).collect(),
    )
}

async fn user_metadata(engine: &dyn QueryEngine, keys: &[String]) -> anyhow::Result<Vec<Finding>> {
    let (sql, params) = user_metadata_statement(keys);
    let rs = engine
        .run(&sql, &params)
        .await
        .context("reading UserSuppliedJSONMetadata from clonesquad_discovery failed")?;
    let (a, r, g, s) = (
        column(&rs, &["account_id"]),
        column(&rs, &["region"]),
        column(&rs, &["group_name"]),
        column(&rs, &["metadata_state"]),
    );
    let mut findings = Vec::new();
    for row in &rs.rows {
        let subject = Subject {
            account: text(row, a),
            region: text(row, r),
            group: text(row, g),
            label: None,
        };
        let state = text(row, s).unwrap_or_default();
        let detail = match state.as_str() {
            "empty" => Some(format!(
                "UserSuppliedJSONMetadata is empty; required keys: {}",
                keys.join(", ")
            )),
            "invalid" => Some(format!(
                "UserSuppliedJSONMetadata is not valid JSON; required keys: {}",
                keys.join(", ")
            )),
            _ => {
                let mut missing = Vec::new();
                let mut blank = Vec::new();
                for (i, key) in keys.iter().enumerate() {
                    match text(row, column(&rs, &[&format!("key_{i}")])).as_deref() {
                        None => missing.push(key.as_str()),
                        Some("null") | Some("\"\"") => blank.push(key.as_str()),
                        Some(_) => {}
                    }
                }
                let raw = text(row, column(&rs, &["metadata_text"])).unwrap_or_default();
                let counts = top_level_key_counts(&raw);
                let mut parts = Vec::new();
                for key in keys {
                    if let Some(n) = counts.get(key.as_str()).filter(|n| **n > 1) {
                        parts.push(format!(
                            "has the key {key} {n} times; the first is read, as Athena's json_extract does: remove the duplicates"
                        ));
                    }
                }
                if !missing.is_empty() {
                    parts.push(format!("missing key(s): {}", missing.join(", ")));
                }
                if !blank.is_empty() {
                    parts.push(format!("empty key(s): {}", blank.join(", ")));
                }
                (!parts.is_empty())
                    .then(|| format!("UserSuppliedJSONMetadata {}", parts.join("; ")))
            }
        };
        if let Some(detail) = detail {
            findings.push(Finding { subject, detail });
        }
    }
    Ok(findings)
}

/// How many times each top-level key occurs in a JSON object's text (keys decoded, compared
/// exactly as `json_extract` compares them); empty when the text is not an object. Never fails.
fn top_level_key_counts(text: &str) -> BTreeMap<String, usize> {
    use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
    struct Keys;
    impl<'de> Visitor<'de> for Keys {
        type Value = BTreeMap<String, usize>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut counts = BTreeMap::new();
            while let Some(key) = map.next_key::<String>()? {
                map.next_value::<IgnoredAny>()?;
                *counts.entry(key).or_insert(0) += 1;
            }
            Ok(counts)
        }
    }
    serde_json::Deserializer::from_str(text)
        .deserialize_map(Keys)
        .unwrap_or_default()
}

fn backup_age(
    root: &Path,
    deployments: &[Deployment],
    limit: Age,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<Finding>> {
    if !root.is_dir() {
        bail!(
            "no backups folder at {}: max_backup_age needs the whole <MetadataAndBackupS3Path> copied (backups/ next to metadata/)",
            root.display()
        );
    }
    let mut findings = Vec::new();
    for d in deployments {
        let mut problems = Vec::new();
        for kind in BackupKind::ALL {
            let path = layout::latest_backup_path(root, &d.partition(), kind);
            let kind = kind.as_str();
            match std::fs::metadata(&path) {
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    problems.push(format!(
                        "no latest {kind} backup ({})",
                        path.strip_prefix(root).unwrap_or(&path).display()
                    ));
                }
                Err(err) => {
                    return Err(err).with_context(|| format!("cannot read {}", path.display()));
                }
                Ok(meta) => {
                    let modified: DateTime<Utc> = meta
                        .modified()
                        .with_context(|| format!("no modification time for {}", path.display()))?
                        .into();
                    let age = now.signed_duration_since(modified);
                    if age > limit.0 {
                        problems.push(format!(
                            "latest {kind} backup is {} old, written {} UTC (limit {limit})",
                            crate::time::human_duration(age),
                            modified.format("%Y-%m-%d %H:%M:%S")
                        ));
                    }
                }
            }
        }
        if !problems.is_empty() {
            findings.push(Finding {
                subject: Subject::deployment(d),
                detail: problems.join("; "),
            });
        }
    }
    Ok(findings)
}

async fn sql_rule(ctx: &Context<'_>, sql: &str) -> anyhow::Result<Evaluation> {
    let rs = ctx.engine.run(sql, &[]).await.with_context(|| {
        format!(
            "the rule's query failed on the {} engine",
            ctx.engine.name()
        )
    })?;
    let a = column(&rs, &["account_id", "accountid", "account"]);
    let r = column(&rs, &["region"]);
    let g = column(&rs, &["group_name", "groupname", "group"]);
    let det = column(&rs, &["detail"]);
    let located = [a, r, g];
    let findings: Vec<Finding> = rs
        .rows
        .iter()
        .map(|row| {
            // The rule's rows hold what member accounts wrote: escaped here, so no report
            // (table, JUnit, SARIF, summary) carries a raw newline or control character.
            let text = |row: &[Value], at: Option<usize>| {
                text(row, at).map(|t| crate::text::escape(&t).into_owned())
            };
            let subject = Subject {
                account: text(row, a),
                region: text(row, r),
                group: text(row, g),
                label: None,
            };
            let detail = text(row, det).unwrap_or_else(|| {
                let rest: Vec<String> = rs
                    .columns
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !located.contains(&Some(*i)))
                    .map(|(i, c)| {
                        format!(
                            "{}={}",
                            crate::text::escape(&c.name),
                            crate::text::escape(
                                &row.get(i)
                                    .and_then(Value::display)
                                    .unwrap_or_else(|| "NULL".into())
                            )
                        )
                    })
                    .collect();
                if rest.is_empty() {
                    "returned by the rule's query".to_string()
                } else {
                    rest.join(", ")
                }
            });
            let subject =
                if subject.account.is_none() && subject.region.is_none() && subject.group.is_none()
                {
                    Subject::label("query")
                } else {
                    subject
                };
            Finding { subject, detail }
        })
        .collect();
    // Rows located on deployments: every deployment is a testcase, so passes show.
    let subjects = if a.is_some() && r.is_some() && g.is_some() {
        all(ctx)
    } else if findings.is_empty() {
        vec![Subject::label("query")]
    } else {
        Vec::new()
    };
    Ok(Evaluation::Checked {
        subjects,
        findings,
        not_checked: Vec::new(),
    })
}

async fn archive_lifecycle(ctx: &Context<'_>) -> anyhow::Result<Evaluation> {
    let Some(path) = ctx.metadata_path else {
        return Ok(Evaluation::Skipped(
            "archive_lifecycle needs the bucket: pass --metadata-path s3://bucket/prefix (or set metadata-path in cs-cmdb.toml)".into(),
        ));
    };
    let config = match ctx.aws {
        Some(Ok(config)) => config,
        Some(Err(reason)) => {
            return Ok(Evaluation::Skipped(format!(
                "archive_lifecycle needs AWS access: {reason}"
            )));
        }
        None => {
            return Ok(Evaluation::Skipped(
                "archive_lifecycle needs AWS access".into(),
            ));
        }
    };
    let target = layout::backups_prefix(path);
    let subject = Subject::label(format!("s3://{}/{target}", path.bucket));
    let client = crate::aws::s3_client(config);
    let (_, verdict) = lifecycle::archives(
        &client,
        path,
        None,
        crate::bucket::list::DEFAULT_CONCURRENCY,
    )
    .await?;
    let findings = match verdict {
        Verdict::Bounded(_) => Vec::new(),
        Verdict::Unbounded(reasons) => {
            let seen = if reasons.is_empty() {
                "the bucket has no lifecycle configuration".to_string()
            } else {
                format!("rules seen: {}", reasons.join("; "))
            };
            vec![Finding {
                subject: subject.clone(),
                detail: format!(
                    "no enabled lifecycle rule expires objects under s3://{}/{target}, so backup archives grow forever ({seen}); add one with prefix `{target}` and an expiration",
                    path.bucket
                ),
            }]
        }
    };
    Ok(Evaluation::Checked {
        subjects: vec![subject],
        findings,
        not_checked: Vec::new(),
    })
}

async fn coverage(
    ctx: &Context<'_>,
    max_age: Age,
    ous: &[String],
    exclude: &BTreeSet<String>,
) -> anyhow::Result<Evaluation> {
    let config = match ctx.aws {
        Some(Ok(config)) => config,
        Some(Err(reason)) => {
            return Ok(Evaluation::Skipped(format!(
                "coverage needs Organizations access: {reason}"
            )));
        }
        None => {
            return Ok(Evaluation::Skipped(
                "coverage needs Organizations access".into(),
            ));
        }
    };
    let filter = AccountFilter {
        ous: ous.to_vec(),
        exclude: exclude.clone(),
        include_suspended: false,
    };
    let accounts = match accounts::list(config, &filter).await {
        Ok(accounts) => accounts,
        Err(err @ (AccountsError::NoOrganization { .. } | AccountsError::NotManagement { .. })) => {
            return Ok(Evaluation::Skipped(format!(
                "coverage needs Organizations access: {err}"
            )));
        }
        Err(err) => return Err(err).context("listing the Organization's accounts failed"),
    };
    let mut by_account: BTreeMap<&str, Vec<&Deployment>> = BTreeMap::new();
    for d in ctx.deployments {
        by_account.entry(d.account.as_str()).or_default().push(d);
    }
    let limit = max_age.0.num_seconds();
    let mut subjects = Vec::new();
    let mut findings = Vec::new();
    for account in &accounts {
        let subject = Subject::account(&account.id);
        subjects.push(subject.clone());
        let found = by_account
            .get(account.id.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let skew = ctx.skew.num_seconds();
        if found
            .iter()
            .any(|d| d.export_age.is_some_and(|a| a <= limit && a >= -skew))
        {
            continue;
        }
        let future = found.iter().find_map(|d| in_the_future(d, skew));
        let detail = if let Some(future) = future {
            format!(
                "account `{}` has {} deployment(s), none exported within {max_age}; {future}",
                account.name,
                found.len()
            )
        } else if found.is_empty() {
            format!(
                "account `{}` has no CloneSquad deployment exporting metadata",
                account.name
            )
        } else {
            let newest = found
                .iter()
                .filter_map(|d| d.last_export)
                .max()
                .map_or("unknown".to_string(), |t| {
                    format!("{} UTC", crate::rows::format_timestamp(&t))
                });
            format!(
                "account `{}` has {} deployment(s), none exported within {max_age} (newest export {newest})",
                account.name,
                found.len()
            )
        };
        findings.push(Finding { subject, detail });
    }
    Ok(Evaluation::Checked {
        subjects,
        findings,
        not_checked: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(version: Option<&str>, age: Option<i64>) -> Deployment {
        Deployment {
            account: "111111111111".into(),
            region: "eu-west-1".into(),
            group: "g1".into(),
            version: version.map(String::from),
            last_export: age
                .and_then(|_| chrono::NaiveDate::from_ymd_opt(2026, 11, 26)?.and_hms_opt(9, 0, 0)),
            export_age: age,
        }
    }

    #[test]
    fn unknown_versions_and_export_times_are_violations_not_passes() {
        let min = Version::parse("v0.27.0").unwrap();
        let fleet = [
            dep(Some("v0.27.0"), None),
            dep(Some("latest"), None),
            dep(None, None),
            dep(Some("v0.28.0-rc1"), None),
            dep(Some(""), None),
            dep(Some("--Development--"), None),
            dep(Some("v0.26.9"), None),
        ];
        let (found, not_checked) = min_version(&fleet, &min, UnknownVersion::Violation);
        let details: Vec<_> = found.iter().map(|f| f.detail.as_str()).collect();
        assert_eq!(
            details,
            [
                "version unknown: `latest` is not a vX.Y.Z release (minimum v0.27.0)",
                "version unknown: no CloneSquadVersion in the discovery record (minimum v0.27.0)",
                "version unknown: CloneSquadVersion is empty (as CloneSquad's release template ships it) (minimum v0.27.0)",
                "version unknown: `--Development--` is not a vX.Y.Z release (minimum v0.27.0)",
                "runs v0.26.9, below the minimum v0.27.0",
            ]
        );
        assert!(not_checked.is_empty());
        let (found, not_checked) = min_version(&fleet, &min, UnknownVersion::Skip);
        assert_eq!(found.len(), 1, "only the old release is a violation");
        assert_eq!(
            not_checked.len(),
            4,
            "the unknown ones are listed, not dropped"
        );
        let limit = Age::parse("26h").unwrap();
        let found = max_export_age(&[dep(None, Some(3600)), dep(None, None)], limit, 300);
        assert_eq!(found.len(), 1);
        assert!(found[0].detail.contains("last export unknown"));
        let found = max_export_age(&[dep(None, Some(26 * 3600 + 1))], limit, 300);
        assert!(
            found[0].detail.contains("1d 2h ago (limit 26h)"),
            "{}",
            found[0].detail
        );
    }

    /// Top-level keys counted as `json_extract` compares them (escapes decoded, case kept,
    /// nested keys not counted); anything that is not an object counts nothing, and nothing
    /// panics.
    #[test]
    fn top_level_keys_are_counted_without_failing_on_any_text() {
        let counts = top_level_key_counts(
            r#"{"Owner": "a", "owner": "b", "Own\u0065r": "c", "x": {"Owner": 1}}"#,
        );
        assert_eq!(counts.get("Owner"), Some(&2));
        assert_eq!(counts.get("owner"), Some(&1));
        assert_eq!(counts.get("x"), Some(&1));
        let deep = format!(
            "{{\"Owner\": {}1{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        for text in [
            "",
            "[1]",
            "\"Owner\"",
            "{\"Owner\"",
            "{\"a\":1} {",
            deep.as_str(),
        ] {
            let _ = top_level_key_counts(text);
        }
        assert!(top_level_key_counts("[1]").is_empty());
    }

    #[test]
    fn user_metadata_sql_binds_one_placeholder_per_key() {
        let sql = user_metadata_sql(3);
        assert_eq!(sql.matches('?').count(), 3);
        assert!(sql.contains("key_2"));
    }
}
