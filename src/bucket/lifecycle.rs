//! The bucket's S3 lifecycle rules, reduced to the one question `backups` and `check` both ask:
//! does a rule bound CloneSquad's backup archives, or do they grow forever?
//!
//! Every export writes a new archive object with a unique (timestamped) key below
//! `P/backups/<partition>/archive/`. A rule bounds them when:
//! - it is enabled;
//! - it expires CURRENT versions (`Expiration` with `Days` > 0 or a `Date`). An archive is never
//!   overwritten, so it stays the current version of its key: a `NoncurrentVersionExpiration`
//!   alone never touches it. With versioning off there are no noncurrent versions at all; with
//!   versioning on, the current-version expiration is what starts the clock (it adds a delete
//!   marker), and a noncurrent-version expiration on top is what frees the space. So a rule with
//!   a noncurrent-version expiration only does not count, and the reason says so;
//! - its filter covers every archive key: a prefix that is a prefix of `P/backups/` covers them
//!   all, today's and tomorrow's; rules on narrower prefixes (one per account, say) count when,
//!   between them, every archive key listed today falls under one. Tag and size filters do not
//!   count: CloneSquad's archives carry no tags, and a size bound leaves some archives forever.

use aws_sdk_s3::types::{ExpirationStatus, LifecycleRule};

use crate::bucket::S3Path;
use crate::bucket::layout::{self, BackupFile, Partition};
use crate::bucket::list::{self, ListError};

/// A lifecycle rule reduced to what bounding the archives depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The rule's id, or `(unnamed rule)`.
    pub id: String,
    pub enabled: bool,
    /// Expires current versions: `Expiration` with `Days` > 0 or a `Date`.
    pub expires_current: bool,
    /// Expires noncurrent versions (`NoncurrentVersionExpiration`).
    pub expires_noncurrent: bool,
    /// The key prefix its filter (or, in rules written before filters existed, its top-level
    /// `Prefix`) selects; `""` selects every key.
    pub prefix: String,
    /// Tag or object-size conditions in the filter.
    pub narrowed: bool,
}

impl Rule {
    pub fn from_sdk(rule: &LifecycleRule) -> Self {
        let filter = rule.filter();
        let and = filter.and_then(|f| f.and());
        #[allow(deprecated)]
        let prefix = filter
            .and_then(|f| f.prefix())
            .or_else(|| and.and_then(|a| a.prefix()))
            .or(rule.prefix())
            .unwrap_or_default()
            .to_string();
        let narrowed = filter.is_some_and(|f| {
            f.tag().is_some()
                || f.object_size_greater_than().is_some()
                || f.object_size_less_than().is_some()
        }) || and.is_some_and(|a| {
            !a.tags().is_empty()
                || a.object_size_greater_than().is_some()
                || a.object_size_less_than().is_some()
        });
        Self {
            id: rule
                .id()
                .filter(|id| !id.is_empty())
                .unwrap_or("(unnamed rule)")
                .to_string(),
            enabled: *rule.status() == ExpirationStatus::Enabled,
            expires_current: rule
                .expiration()
                .is_some_and(|e| e.days().is_some_and(|d| d > 0) || e.date().is_some()),
            expires_noncurrent: rule
                .noncurrent_version_expiration()
                .is_some_and(|e| e.noncurrent_days().is_some_and(|d| d > 0)),
            prefix,
            narrowed,
        }
    }

    /// Whether the rule expires the archives it selects; else why not.
    fn expires_archives(&self) -> Result<(), String> {
        let id = &self.id;
        if !self.enabled {
            return Err(format!("`{id}` is disabled"));
        }
        if !self.expires_current {
            return Err(if self.expires_noncurrent {
                format!(
                    "`{id}` only expires noncurrent versions (an archive is never overwritten: it stays current)"
                )
            } else {
                format!("`{id}` has no expiration")
            });
        }
        if self.narrowed {
            return Err(format!(
                "`{id}` only applies to objects with given tags or sizes"
            ));
        }
        Ok(())
    }

    /// Whether the rule expires every object under `target` (`P/backups/`); else why not.
    pub fn covers(&self, target: &str) -> Result<(), String> {
        self.expires_archives()?;
        if !target.starts_with(&self.prefix) {
            return Err(format!(
                "`{}` applies to prefix `{}` only",
                self.id, self.prefix
            ));
        }
        Ok(())
    }

    /// Whether the rule expires `key`.
    fn expires(&self, key: &str) -> bool {
        self.expires_archives().is_ok() && key.starts_with(&self.prefix)
    }
}

/// Whether the archives are bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The ids of the rules that expire every archive: one covering `P/backups/`, or narrower
    /// ones sharing the archive keys between them.
    Bounded(Vec<String>),
    /// No rule does: one reason per rule of the bucket (none: the bucket has no rule).
    Unbounded(Vec<String>),
}

impl Verdict {
    /// The covering rules' ids, comma-separated.
    pub fn rule_ids(&self) -> Option<String> {
        match self {
            Verdict::Bounded(ids) => Some(ids.join(", ")),
            Verdict::Unbounded(_) => None,
        }
    }
}

/// Whether only narrower rules could bound the archives, so the keys must be listed to know.
pub fn needs_archive_keys(rules: &[Rule], backups_prefix: &str) -> bool {
    !rules.iter().any(|r| r.covers(backups_prefix).is_ok())
        && rules
            .iter()
            .any(|r| r.expires_archives().is_ok() && r.prefix.starts_with(backups_prefix))
}

/// The verdict for the archives below `backups_prefix`; `archive_keys` (every key under an
/// `archive/` folder) only matters when [`needs_archive_keys`].
pub fn verdict(rules: &[Rule], backups_prefix: &str, archive_keys: &[String]) -> Verdict {
    if let Some(rule) = rules.iter().find(|r| r.covers(backups_prefix).is_ok()) {
        return Verdict::Bounded(vec![rule.id.clone()]);
    }
    let unbounded = || {
        Verdict::Unbounded(
            rules
                .iter()
                .filter_map(|r| r.covers(backups_prefix).err())
                .collect(),
        )
    };
    if archive_keys.is_empty() {
        return unbounded();
    }
    let mut ids: Vec<String> = Vec::new();
    for key in archive_keys {
        let Some(rule) = rules.iter().find(|r| r.expires(key)) else {
            return unbounded();
        };
        if !ids.contains(&rule.id) {
            ids.push(rule.id.clone());
        }
    }
    Verdict::Bounded(ids)
}

/// What can go wrong reading the rules.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error(
        "s3:GetLifecycleConfiguration on bucket `{bucket}` failed: the bucket does not exist (NoSuchBucket); check --metadata-path and --region"
    )]
    NoSuchBucket { bucket: String },
    #[error(
        "s3:GetLifecycleConfiguration on bucket `{bucket}` failed: access denied ({code}); the caller needs s3:GetLifecycleConfiguration on arn:aws:s3:::{bucket}"
    )]
    Denied { bucket: String, code: String },
    #[error("s3:GetLifecycleConfiguration on bucket `{bucket}` failed: {message}")]
    Other { bucket: String, message: String },
    #[error("cannot list the backup archives to match them with the lifecycle rules: {0}")]
    List(#[from] ListError),
}

/// The bucket's lifecycle rules (none when it has no lifecycle configuration).
pub async fn rules(client: &aws_sdk_s3::Client, bucket: &str) -> Result<Vec<Rule>, LifecycleError> {
    match client
        .get_bucket_lifecycle_configuration()
        .bucket(bucket)
        .send()
        .await
    {
        Ok(out) => Ok(out.rules().iter().map(Rule::from_sdk).collect()),
        Err(err) => Err(match crate::aws::error_code(&err) {
            Some("NoSuchLifecycleConfiguration") => return Ok(Vec::new()),
            Some("NoSuchBucket") => LifecycleError::NoSuchBucket {
                bucket: bucket.to_string(),
            },
            Some(code @ ("AccessDenied" | "AllAccessDisabled")) => LifecycleError::Denied {
                bucket: bucket.to_string(),
                code: code.to_string(),
            },
            _ => LifecycleError::Other {
                bucket: bucket.to_string(),
                message: crate::aws::describe(&err),
            },
        }),
    }
}

/// Every key below `P/backups/` that is an archive.
pub fn archive_keys<'a>(
    path: &S3Path,
    objects: impl IntoIterator<Item = &'a list::S3Object>,
) -> Vec<String> {
    let backups = layout::backups_prefix(path);
    objects
        .into_iter()
        .filter(|o| {
            o.key
                .strip_prefix(&backups)
                .and_then(Partition::parse)
                .is_some_and(|(p, rest)| layout::backup_file(&p, rest) == BackupFile::Archive)
        })
        .map(|o| o.key.clone())
        .collect()
}

/// Whether a lifecycle rule of the bucket bounds the backup archives under `path`, and the rules
/// seen. `archive_keys`: the archives when the caller has listed them already; otherwise they are
/// listed here, and only when narrower rules make them matter.
pub async fn archives(
    client: &aws_sdk_s3::Client,
    path: &S3Path,
    archive_keys: Option<&[String]>,
    concurrency: usize,
) -> Result<(Vec<Rule>, Verdict), LifecycleError> {
    let rules = rules(client, &path.bucket).await?;
    let backups = layout::backups_prefix(path);
    let listed;
    let keys = match archive_keys {
        Some(keys) => keys,
        None if needs_archive_keys(&rules, &backups) => {
            let objects =
                list::list_tree(client, &path.bucket, backups.clone(), 0, concurrency).await?;
            listed = self::archive_keys(path, &objects);
            &listed
        }
        None => &[],
    };
    let verdict = verdict(&rules, &backups, keys);
    Ok((rules, verdict))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str, prefix: &str) -> Rule {
        Rule {
            id: id.into(),
            enabled: true,
            expires_current: true,
            expires_noncurrent: false,
            prefix: prefix.into(),
            narrowed: false,
        }
    }

    const BACKUPS: &str = "p/backups/";

    fn keys() -> Vec<String> {
        ["1", "2"]
            .map(|a| {
                format!(
                    "p/backups/accountid={a}/region=r/groupname=g/archive/2026-11-26 09:00:01+00:00-{a}-r-configuration-cs-g.yaml"
                )
            })
            .to_vec()
    }

    fn bounded(ids: &[&str]) -> Verdict {
        Verdict::Bounded(ids.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn a_rule_on_the_backups_prefix_or_above_bounds_every_archive() {
        for (id, prefix) in [
            ("all", ""),
            ("p", "p/"),
            ("b", "p/backups/"),
            ("short", "p/back"),
        ] {
            assert_eq!(
                verdict(&[rule(id, prefix)], BACKUPS, &[]),
                bounded(&[id]),
                "{prefix}"
            );
        }
        assert!(!needs_archive_keys(&[rule("b", "p/backups/")], BACKUPS));
    }

    #[test]
    fn narrower_rules_count_when_they_share_every_archive_key() {
        let one = rule("one", "p/backups/accountid=1/");
        let two = rule("two", "p/backups/accountid=2/");
        assert!(needs_archive_keys(std::slice::from_ref(&one), BACKUPS));
        assert_eq!(
            verdict(std::slice::from_ref(&one), BACKUPS, &keys()),
            Verdict::Unbounded(vec![
                "`one` applies to prefix `p/backups/accountid=1/` only".into()
            ])
        );
        assert_eq!(
            verdict(&[one.clone(), two], BACKUPS, &keys()),
            bounded(&["one", "two"])
        );
        // No archive yet: nothing to share, nothing bounded.
        assert!(matches!(
            verdict(&[one], BACKUPS, &[]),
            Verdict::Unbounded(_)
        ));
    }

    #[test]
    fn rules_that_do_not_expire_current_archives_never_count() {
        let mut off = rule("off", "p/backups/");
        off.enabled = false;
        let mut noncurrent = rule("nc", "p/backups/");
        noncurrent.expires_current = false;
        noncurrent.expires_noncurrent = true;
        let mut none = rule("none", "");
        none.expires_current = false;
        let mut tagged = rule("tagged", "");
        tagged.narrowed = true;
        let elsewhere = rule("logs", "logs/");
        let narrow_off = Rule {
            enabled: false,
            ..rule("one", "p/backups/accountid=1/")
        };
        let rules = [off, noncurrent, none, tagged, elsewhere, narrow_off];
        assert!(!needs_archive_keys(&rules, BACKUPS));
        assert_eq!(
            verdict(&rules, BACKUPS, &keys()),
            Verdict::Unbounded(vec![
                "`off` is disabled".into(),
                "`nc` only expires noncurrent versions (an archive is never overwritten: it stays current)".into(),
                "`none` has no expiration".into(),
                "`tagged` only applies to objects with given tags or sizes".into(),
                "`logs` applies to prefix `logs/` only".into(),
                "`one` is disabled".into(),
            ])
        );
        assert_eq!(verdict(&[], BACKUPS, &keys()), Verdict::Unbounded(vec![]));
    }

    #[test]
    fn archive_keys_are_the_objects_under_archive_folders() {
        let path: S3Path = "s3://bkt/p".parse().unwrap();
        let object = |key: &str| list::S3Object {
            key: key.into(),
            size: 1,
            etag: String::new(),
            last_modified: None,
        };
        let mut objects: Vec<list::S3Object> = keys().iter().map(|k| object(k)).collect();
        objects.push(object(
            "p/backups/accountid=1/region=r/groupname=g/latest-1-r-configuration-cs-g.yaml",
        ));
        objects.push(object("p/backups/stray/archive/x"));
        assert_eq!(archive_keys(&path, &objects), keys());
    }
}
