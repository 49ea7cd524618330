//! The policy file: `[[rule]]` tables read with unknown keys refused, then validated once, so a
//! typo or a field that does not fit the rule's kind is an error naming the file and line.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::NaiveDate;
use serde::Deserialize;
use toml::Spanned;

use crate::bucket::layout;

/// How serious a policy violation is, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// The rule kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    MinVersion,
    MaxExportAge,
    RequiredUserMetadata,
    AllowedRegions,
    MaxBackupAge,
    ArchiveLifecycle,
    Coverage,
    Sql,
    /// Built in, added to every policy (never written in a policy file): every deployment's
    /// metadata is readable.
    #[serde(skip)]
    MetadataReadable,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::MinVersion => "min_version",
            Kind::MaxExportAge => "max_export_age",
            Kind::RequiredUserMetadata => "required_user_metadata",
            Kind::AllowedRegions => "allowed_regions",
            Kind::MaxBackupAge => "max_backup_age",
            Kind::ArchiveLifecycle => "archive_lifecycle",
            Kind::Coverage => "coverage",
            Kind::Sql => "sql",
            Kind::MetadataReadable => "metadata_readable",
        }
    }

    /// The kind-specific fields it takes (which are required is checked when building the spec).
    fn fields(self) -> &'static [&'static str] {
        match self {
            Kind::MinVersion => &["version", "unknown"],
            Kind::MaxExportAge | Kind::MaxBackupAge => &["max_age"],
            Kind::RequiredUserMetadata => &["keys"],
            Kind::AllowedRegions => &["regions"],
            Kind::ArchiveLifecycle => &[],
            Kind::Coverage => &["max_age", "ous", "exclude_accounts"],
            Kind::Sql => &["sql"],
            Kind::MetadataReadable => &[],
        }
    }
}

/// A `vX.Y.Z` version, optionally with a pre-release suffix (`v0.28.0-rc1` < `v0.28.0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: Option<String>,
}

impl Version {
    /// `v0.27.1`, `0.27.1`, `v0.27` (patch 0), `v0.28.0-rc1`; None for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let text = text.strip_prefix(['v', 'V']).unwrap_or(text);
        let (core, pre) = match text.split_once(['-', '+']) {
            Some((core, rest)) => (core, Some(rest.to_string())),
            None => (text, None),
        };
        let mut parts = core.split('.');
        let mut number = |required: bool| -> Option<u64> {
            match parts.next() {
                Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok(),
                None if !required => Some(0),
                _ => None,
            }
        };
        let version = Self {
            major: number(true)?,
            minor: number(true)?,
            patch: number(false)?,
            pre: pre.filter(|p| !p.is_empty()),
        };
        if parts.next().is_some() {
            return None;
        }
        Some(version)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (&self.pre, &other.pre) {
                (None, None) => std::cmp::Ordering::Equal,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(_), None) => std::cmp::Ordering::Less,
                (Some(a), Some(b)) => a.cmp(b),
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)?;
        if let Some(pre) = &self.pre {
            write!(f, "-{pre}")?;
        }
        Ok(())
    }
}

impl TryFrom<String> for Version {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Version::parse(&text).ok_or_else(|| {
            format!("`{text}` is not a version: write it as vX.Y.Z (e.g. \"v0.27.0\")")
        })
    }
}

/// An age limit, written in [`crate::time::parse_duration`]'s grammar: `90m`, `26h`, `7d`,
/// `1d12h`, `2w`, `45s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Age(pub chrono::Duration);

impl Age {
    pub fn parse(text: &str) -> Option<Self> {
        Self::try_from(text.to_string()).ok()
    }
}

impl fmt::Display for Age {
    /// In the largest unit that divides it: `26h`, `7d`, `90m`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.num_seconds();
        match secs {
            s if s % 86_400 == 0 => write!(f, "{}d", s / 86_400),
            s if s % 3600 == 0 => write!(f, "{}h", s / 3600),
            s if s % 60 == 0 => write!(f, "{}m", s / 60),
            s => write!(f, "{s}s"),
        }
    }
}

impl TryFrom<String> for Age {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        let duration = crate::time::parse_duration(&text)?;
        chrono::Duration::from_std(duration)
            .map(Self)
            .map_err(|_| format!("`{text}` is too long a duration"))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    kind: Kind,
    severity: Severity,
    description: Option<String>,
    #[serde(default, deserialize_with = "de_try_from")]
    version: Option<Version>,
    unknown: Option<UnknownVersion>,
    #[serde(default, deserialize_with = "de_try_from")]
    max_age: Option<Age>,
    keys: Option<Vec<String>>,
    regions: Option<Vec<String>>,
    sql: Option<String>,
    ous: Option<Vec<String>>,
    exclude_accounts: Option<Vec<String>>,
    #[serde(default)]
    exempt: Vec<Spanned<RawExemption>>,
    scope: Option<RawScope>,
}

/// `[rule.scope]`: the accounts a rule applies to, per the Organization snapshot.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScope {
    ous: Option<Vec<String>>,
    account_tags: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExemption {
    account: String,
    region: Option<String>,
    group: Option<String>,
    reason: String,
    expires: Option<toml::value::Datetime>,
}

/// `Option<T>` from a string through `T: TryFrom<String>`, the error kept with its position.
fn de_try_from<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<String, Error = String>,
{
    let text = String::deserialize(deserializer)?;
    T::try_from(text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// A validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub path: PathBuf,
    pub rules: Vec<Rule>,
}

/// A validated rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub kind: Kind,
    pub severity: Severity,
    pub description: Option<String>,
    /// 1-based line of the `[[rule]]` table in the policy file.
    pub line: usize,
    pub spec: Spec,
    pub exemptions: Vec<Exemption>,
    /// `[rule.scope]`: only the deployments of these accounts (needs an Organization snapshot).
    pub scope: Option<RuleScope>,
}

/// The accounts a rule applies to: under any of `ous` (ids or paths, nested units included)
/// when given, and carrying every tag of `account_tags`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleScope {
    pub ous: Vec<String>,
    pub account_tags: std::collections::BTreeMap<String, String>,
}

impl Rule {
    /// The built-in rule every check ends with: a deployment with a line or value that cannot be
    /// read (a hostile or broken record would otherwise drop it from every other rule) is a
    /// critical violation, "unreadable metadata", naming the file and line.
    pub fn metadata_readable() -> Self {
        Self {
            name: "metadata-readable".to_string(),
            kind: Kind::MetadataReadable,
            severity: Severity::Critical,
            description: Some(
                "Built in: every deployment's metadata files can be read, line by line".to_string(),
            ),
            line: 0,
            spec: Spec::MetadataReadable,
            exemptions: Vec::new(),
            scope: None,
        }
    }
}

impl RuleScope {
    /// The account ids in scope, per `snapshot`.
    pub fn accounts(
        &self,
        snapshot: &crate::org::snapshot::Snapshot,
    ) -> anyhow::Result<BTreeSet<String>> {
        let under = if self.ous.is_empty() {
            None
        } else {
            Some(snapshot.accounts_under(&self.ous)?)
        };
        Ok(snapshot
            .accounts
            .iter()
            .filter(|a| under.as_ref().is_none_or(|u| u.contains(&a.account.id)))
            .filter(|a| {
                self.account_tags
                    .iter()
                    .all(|(k, v)| a.tags.get(k) == Some(v))
            })
            .map(|a| a.account.id.clone())
            .collect())
    }
}

/// What `min_version` does with a version that is not `vX.Y.Z` (`""`, `--Development--`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownVersion {
    /// A violation: "version unknown" (the default).
    #[default]
    Violation,
    /// Not judged: the deployment is listed as not checked.
    Skip,
}

/// The kind-specific part of a rule.
#[derive(Debug, Clone)]
pub enum Spec {
    MinVersion {
        min: Version,
        unknown: UnknownVersion,
    },
    MaxExportAge(Age),
    RequiredUserMetadata(Vec<String>),
    AllowedRegions(BTreeSet<String>),
    MaxBackupAge(Age),
    ArchiveLifecycle,
    Coverage {
        max_age: Age,
        ous: Vec<String>,
        exclude_accounts: BTreeSet<String>,
    },
    /// See [`Rule::metadata_readable`].
    MetadataReadable,
    Sql(String),
}

/// Who a rule does not apply to, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exemption {
    pub account: String,
    pub region: Option<String>,
    pub group: Option<String>,
    pub reason: String,
    /// The last day (UTC) the exemption applies.
    pub expires: Option<NaiveDate>,
    pub line: usize,
}

impl Exemption {
    /// `111111111111`, `111111111111/eu-west-1`, `111111111111/eu-west-1/web-front`.
    pub fn scope(&self) -> String {
        let mut s = self.account.clone();
        if let Some(r) = &self.region {
            s = format!("{s}/{r}");
        }
        if let Some(g) = &self.group {
            s = format!("{s}/{}{g}", if self.region.is_none() { "*/" } else { "" });
        }
        s
    }

    pub fn matches(
        &self,
        account: Option<&str>,
        region: Option<&str>,
        group: Option<&str>,
    ) -> bool {
        account == Some(self.account.as_str())
            && self.region.as_deref().is_none_or(|r| region == Some(r))
            && self.group.as_deref().is_none_or(|g| group == Some(g))
    }

    pub fn expired(&self, today: NaiveDate) -> bool {
        self.expires.is_some_and(|last| today > last)
    }
}

/// Default freshness for `coverage`: hourly exports plus a day of slack.
pub const DEFAULT_COVERAGE_AGE: &str = "26h";

/// Read and validate a policy file. Errors read `FILE:LINE: ...` and say what to change.
pub fn load(path: &Path) -> anyhow::Result<Policy> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read policy file {}", path.display()))?;
    parse(path, &text)
}

/// Parse and validate policy text; `path` only names the file in messages.
pub fn parse(path: &Path, text: &str) -> anyhow::Result<Policy> {
    let at = |offset: usize| format!("{}:{}", path.display(), line_of(text, offset));
    let raw: RawPolicy = toml::from_str(text).map_err(|err| {
        let whence = match err.span() {
            Some(span) => {
                let line = line_of(text, span.start);
                let column = span.start - text[..span.start].rfind('\n').map_or(0, |i| i + 1) + 1;
                format!("{}:{line}:{column}", path.display())
            }
            None => path.display().to_string(),
        };
        anyhow::anyhow!(
            "invalid policy {whence}: {}; fix the policy file (see examples/policy.toml for every field)",
            err.message().trim_end()
        )
    })?;
    if raw.rule.is_empty() {
        anyhow::bail!(
            "policy {} has no [[rule]] table: an empty policy would pass everything; add rules (see examples/policy.toml)",
            path.display()
        );
    }
    let mut names = BTreeSet::new();
    let mut rules = Vec::new();
    for spanned in raw.rule {
        let line = line_of(text, spanned.span().start);
        let whence = at(spanned.span().start);
        let raw = spanned.into_inner();
        let err =
            |msg: String| anyhow::anyhow!("invalid policy {whence}: rule `{}`: {msg}", raw.name);
        if !valid_name(&raw.name) {
            return Err(err(
                "a rule name is 1-64 letters, digits, `-`, `_` or `.`, starting with a letter or digit"
                    .into(),
            ));
        }
        if !names.insert(raw.name.clone()) {
            return Err(err(
                "another rule has this name; rule names must be unique".into()
            ));
        }
        let present = [
            ("version", raw.version.is_some()),
            ("unknown", raw.unknown.is_some()),
            ("max_age", raw.max_age.is_some()),
            ("keys", raw.keys.is_some()),
            ("regions", raw.regions.is_some()),
            ("sql", raw.sql.is_some()),
            ("ous", raw.ous.is_some()),
            ("exclude_accounts", raw.exclude_accounts.is_some()),
        ];
        let wanted = raw.kind.fields();
        if let Some((field, _)) = present
            .iter()
            .find(|(field, is_present)| *is_present && !wanted.contains(field))
        {
            return Err(err(format!(
                "field `{field}` does not apply to kind `{}`{}",
                raw.kind.as_str(),
                fields_hint(wanted)
            )));
        }
        let needs = |field: &str| {
            err(format!(
                "kind `{}` needs field `{field}`{}",
                raw.kind.as_str(),
                field_example(field)
            ))
        };
        let spec = match raw.kind {
            Kind::MinVersion => Spec::MinVersion {
                min: raw.version.clone().ok_or_else(|| needs("version"))?,
                unknown: raw.unknown.unwrap_or_default(),
            },
            Kind::MaxExportAge => Spec::MaxExportAge(raw.max_age.ok_or_else(|| needs("max_age"))?),
            Kind::MaxBackupAge => Spec::MaxBackupAge(raw.max_age.ok_or_else(|| needs("max_age"))?),
            Kind::RequiredUserMetadata => {
                let keys = raw.keys.clone().ok_or_else(|| needs("keys"))?;
                if keys.is_empty() {
                    return Err(err("`keys` is empty: list the keys every deployment's UserSuppliedJSONMetadata must hold, e.g. keys = [\"Owner\"]".into()));
                }
                if let Some(bad) = keys.iter().find(|k| {
                    k.is_empty() || k.contains(['"', '\\']) || k.chars().any(char::is_control)
                }) {
                    return Err(err(format!(
                        "key `{bad}` is not usable: keys are non-empty and hold no quote, backslash or control character"
                    )));
                }
                Spec::RequiredUserMetadata(keys)
            }
            Kind::AllowedRegions => {
                let regions = raw.regions.clone().ok_or_else(|| needs("regions"))?;
                if regions.is_empty() {
                    return Err(err("`regions` is empty: list the allowed regions, e.g. regions = [\"eu-west-1\"]".into()));
                }
                if let Some(bad) = regions.iter().find(|r| !crate::aws::valid_region(r)) {
                    return Err(err(format!(
                        "`{bad}` is not an AWS region name (like eu-west-1)"
                    )));
                }
                Spec::AllowedRegions(regions.into_iter().collect())
            }
            Kind::ArchiveLifecycle => Spec::ArchiveLifecycle,
            Kind::Coverage => {
                let exclude = raw.exclude_accounts.clone().unwrap_or_default();
                if let Some(bad) = exclude.iter().find(|a| !crate::aws::valid_account_id(a)) {
                    return Err(err(format!(
                        "exclude_accounts: `{bad}` is not an AWS account id (12 digits)"
                    )));
                }
                Spec::Coverage {
                    max_age: raw.max_age.unwrap_or_else(|| {
                        Age::parse(DEFAULT_COVERAGE_AGE).unwrap_or(Age(chrono::Duration::hours(26)))
                    }),
                    ous: raw.ous.clone().unwrap_or_default(),
                    exclude_accounts: exclude.into_iter().collect(),
                }
            }
            Kind::Sql => {
                let sql = raw.sql.clone().ok_or_else(|| needs("sql"))?;
                if sql.trim().is_empty() {
                    return Err(err(
                        "`sql` is empty: give a query returning the violating rows".into(),
                    ));
                }
                if let Err(e) = crate::engine::readonly::ensure_read_only(&sql) {
                    return Err(err(format!("`sql` is refused: {e}")));
                }
                Spec::Sql(sql)
            }
            Kind::MetadataReadable => Spec::MetadataReadable,
        };
        let mut exemptions = Vec::new();
        for ex in &raw.exempt {
            let ex_whence = at(ex.span().start);
            let ex_line = line_of(text, ex.span().start);
            let e = ex.get_ref();
            let ex_err = |msg: String| {
                anyhow::anyhow!(
                    "invalid policy {ex_whence}: rule `{}`: exemption: {msg}",
                    raw.name
                )
            };
            if !crate::aws::valid_account_id(&e.account) {
                return Err(ex_err(format!(
                    "account `{}` is not an AWS account id (12 digits)",
                    e.account
                )));
            }
            if let Some(r) = e.region.as_deref().filter(|r| !crate::aws::valid_region(r)) {
                return Err(ex_err(format!(
                    "`{r}` is not an AWS region name (like eu-west-1)"
                )));
            }
            if let Some(g) = e.group.as_deref().filter(|g| !layout::valid_group(g)) {
                return Err(ex_err(format!(
                    "`{g}` is not a CloneSquad group name (2-40 letters, digits and hyphens)"
                )));
            }
            if e.reason.trim().is_empty() {
                return Err(ex_err(
                    "`reason` is empty: say why the exemption exists".into(),
                ));
            }
            if matches!(raw.kind, Kind::Coverage) && (e.region.is_some() || e.group.is_some()) {
                return Err(ex_err(
                    "coverage is checked per account: exempt the account only (no region or group)"
                        .into(),
                ));
            }
            if matches!(raw.kind, Kind::ArchiveLifecycle) {
                return Err(ex_err(
                    "archive_lifecycle checks the bucket, not deployments: there is nothing to exempt; remove the rule instead".into(),
                ));
            }
            let expires = match &e.expires {
                None => None,
                Some(dt) => match (dt.date, dt.time, dt.offset) {
                    (Some(d), None, None) => Some(
                        NaiveDate::from_ymd_opt(
                            i32::from(d.year),
                            u32::from(d.month),
                            u32::from(d.day),
                        )
                        .ok_or_else(|| ex_err(format!("`expires = {dt}` is not a valid date")))?,
                    ),
                    _ => {
                        return Err(ex_err(format!(
                            "`expires = {dt}`: give a date without time, e.g. expires = 2026-12-31 (the last day it applies)"
                        )));
                    }
                },
            };
            exemptions.push(Exemption {
                account: e.account.clone(),
                region: e.region.clone(),
                group: e.group.clone(),
                reason: e.reason.trim().to_string(),
                expires,
                line: ex_line,
            });
        }
        let scope = match raw.scope {
            None => None,
            Some(s) => {
                let ous = s.ous.unwrap_or_default();
                let account_tags = s.account_tags.unwrap_or_default();
                if ous.is_empty() && account_tags.is_empty() {
                    return Err(err(
                        "[rule.scope] is empty: give ous = [\"Root/Workloads/Prod\"] and/or account_tags = { Env = \"prod\" }, or remove it".into(),
                    ));
                }
                if let Some(bad) = ous.iter().find(|o| o.trim().is_empty()) {
                    return Err(err(format!(
                        "[rule.scope] ous: `{bad}` is neither an OU id nor an OU path"
                    )));
                }
                Some(RuleScope { ous, account_tags })
            }
        };
        rules.push(Rule {
            name: raw.name,
            kind: raw.kind,
            severity: raw.severity,
            description: raw.description,
            line,
            spec,
            exemptions,
            scope,
        });
    }
    Ok(Policy {
        path: path.to_path_buf(),
        rules,
    })
}

fn fields_hint(wanted: &[&str]) -> String {
    if wanted.is_empty() {
        " (it takes no kind-specific field)".to_string()
    } else {
        format!(" (it takes: {})", wanted.join(", "))
    }
}

fn field_example(field: &str) -> &'static str {
    match field {
        "version" => ", e.g. version = \"v0.27.0\"",
        "max_age" => ", e.g. max_age = \"26h\"",
        "keys" => ", e.g. keys = [\"Owner\", \"CostCenter\"]",
        "regions" => ", e.g. regions = [\"eu-west-1\", \"us-east-1\"]",
        "sql" => {
            ", e.g. sql = \"SELECT accountid, region, groupname FROM clonesquad_discovery WHERE ...\""
        }
        _ => "",
    }
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .map_or(1, |head| head.bytes().filter(|&b| b == b'\n').count() + 1)
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> anyhow::Result<Policy> {
        parse(Path::new("p.toml"), text)
    }

    #[test]
    fn versions_compare_semantically() {
        let v = |s| Version::parse(s).unwrap();
        assert!(v("v0.9.2") < v("v0.27.0"));
        assert!(v("v0.27.1") > v("v0.27.0"));
        assert!(v("v0.100.0") > v("v0.27.0"));
        assert!(v("v0.28.0-rc1") < v("v0.28.0"));
        assert_eq!(v("0.27"), v("v0.27.0"));
        assert!(Version::parse("latest").is_none());
        assert!(Version::parse("v1.2.3.4").is_none());
        assert!(Version::parse("").is_none());
    }

    #[test]
    fn ages_parse() {
        assert_eq!(Age::parse("26h").unwrap().0.num_hours(), 26);
        assert_eq!(Age::parse("90m").unwrap().0.num_minutes(), 90);
        assert_eq!(Age::parse("7d").unwrap().0.num_days(), 7);
        assert_eq!(Age::parse("1d12h").unwrap().0.num_hours(), 36);
        assert_eq!(Age::parse("26h").unwrap().to_string(), "26h");
        assert_eq!(Age::parse("1d").unwrap().to_string(), "1d");
        assert_eq!(Age::parse("90m").unwrap().to_string(), "90m");
        // The one duration grammar: a bare number is seconds, decimals are allowed.
        assert_eq!(Age::parse("1.5h").unwrap().to_string(), "90m");
        assert_eq!(Age::parse("26").unwrap().to_string(), "26s");
        for bad in ["", "h", "0h", "26x", "-1h", "26 hours"] {
            assert!(Age::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_documented_shape_parses() {
        let p = parse_str(
            r#"
[[rule]]
name = "supported-version"
kind = "min_version"
severity = "high"
version = "v0.27.0"

[[rule.exempt]]
account = "111111111111"
region = "eu-west-1"
group = "web-front"
reason = "migration planned"
expires = 2026-12-31
"#,
        )
        .unwrap();
        assert_eq!(p.rules.len(), 1);
        assert_eq!(p.rules[0].line, 2);
        assert_eq!(p.rules[0].exemptions[0].line, 8);
        assert_eq!(
            p.rules[0].exemptions[0].expires,
            NaiveDate::from_ymd_opt(2026, 12, 31)
        );
    }

    #[test]
    fn errors_name_file_line_and_what_to_do() {
        let typo = parse_str("[[rule]]\nname = \"a\"\nkind = \"min_version\"\nseverity = \"high\"\nverison = \"v1.0.0\"\n")
            .unwrap_err()
            .to_string();
        assert!(typo.contains("p.toml:5:1"), "{typo}");
        assert!(typo.contains("unknown field `verison`"), "{typo}");

        let wrong = parse_str("[[rule]]\nname = \"a\"\nkind = \"min_version\"\nseverity = \"high\"\nversion = \"v1.0.0\"\nkeys = []\n")
            .unwrap_err()
            .to_string();
        assert!(
            wrong.contains("p.toml:1: rule `a`: field `keys` does not apply"),
            "{wrong}"
        );

        let missing =
            parse_str("[[rule]]\nname = \"a\"\nkind = \"max_export_age\"\nseverity = \"low\"\n")
                .unwrap_err()
                .to_string();
        assert!(missing.contains("needs field `max_age`"), "{missing}");

        let bad_age = parse_str("[[rule]]\nname = \"a\"\nkind = \"max_export_age\"\nseverity = \"low\"\nmax_age = \"26 hours\"\n")
            .unwrap_err()
            .to_string();
        assert!(bad_age.contains("p.toml:5:"), "{bad_age}");
        assert!(bad_age.contains("not a duration"), "{bad_age}");

        let dup = parse_str("[[rule]]\nname = \"a\"\nkind = \"archive_lifecycle\"\nseverity = \"low\"\n[[rule]]\nname = \"a\"\nkind = \"archive_lifecycle\"\nseverity = \"low\"\n")
            .unwrap_err()
            .to_string();
        assert!(dup.contains("p.toml:5: rule `a`: another rule"), "{dup}");

        assert!(
            parse_str("")
                .unwrap_err()
                .to_string()
                .contains("no [[rule]]")
        );
        let sev = parse_str(
            "[[rule]]\nname = \"a\"\nkind = \"archive_lifecycle\"\nseverity = \"urgent\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(sev.contains("p.toml:4:"), "{sev}");
    }

    #[test]
    fn exemptions_match_their_scope_and_expire() {
        let e = Exemption {
            account: "111111111111".into(),
            region: Some("eu-west-1".into()),
            group: None,
            reason: "r".into(),
            expires: NaiveDate::from_ymd_opt(2026, 1, 31),
            line: 1,
        };
        assert!(e.matches(Some("111111111111"), Some("eu-west-1"), Some("g1")));
        assert!(!e.matches(Some("111111111111"), Some("us-east-1"), Some("g1")));
        assert!(!e.matches(None, None, None));
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
        assert!(!e.expired(d(1, 31)));
        assert!(e.expired(d(2, 1)));
    }
}
