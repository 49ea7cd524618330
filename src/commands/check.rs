//! `cs-cmdb check`: a compliance policy → violations → report, and an exit code CI can gate on.
//!
//! Exit codes: 0 no violation at or above `--fail-on`; 1 violations; 2 the check could not run.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use aws_sdk_s3::config::ProvideCredentials;

use crate::check::eval::{self, Evaluation};
use crate::check::policy::{self, Kind, Severity, Spec};
use crate::check::report;
use crate::commands::history_args::HistoryArgs;
use crate::commands::org_args::{OrgArgs, Scope, reads_org};
use crate::commands::source_args::SourceArgs;
use crate::engine::QueryEngine as _;
use crate::exit::Outcome;
use crate::org::snapshot::Snapshot;
use crate::printer::Printer;
use crate::settings::Settings;

/// Check the fleet against a compliance policy (a CI gate: exit 1 on violations).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  cs-cmdb check --policy examples/policy.toml --source examples\n  cs-cmdb check --policy policy.toml --source s3://my-cmdb-bucket/clonesquad --junit report.xml\n  cs-cmdb check --policy policy.toml --source examples --output csv > violations.csv   # --csv-safe is on"
)]
pub struct Args {
    /// The policy file (TOML): `[[rule]]` tables with name, kind, severity and kind-specific fields.
    #[arg(long, env = "CS_CMDB_POLICY", value_name = "FILE")]
    pub policy: PathBuf,

    /// Exit 1 only for violations at or above this severity.
    #[arg(long, value_enum, value_name = "SEVERITY", default_value_t = Severity::Low)]
    pub fail_on: Severity,

    /// Also write a JUnit XML report here (one testcase per rule and deployment checked).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Also write a SARIF 2.1.0 report here.
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,

    /// A rule that cannot be evaluated (no credentials, no --metadata-path) is an error, not a skip.
    #[arg(long)]
    pub strict: bool,

    /// Pass (exit 0/1 by the violations) even when the metadata read is incomplete: objects the
    /// mirror could not download. Without it an incomplete read exits 2: a gate that cannot see
    /// every deployment does not pass.
    #[arg(long)]
    pub allow_incomplete: bool,

    /// How far ahead of now an export time may be (clocks differ) before it is a violation,
    /// "timestamp in the future", that passes neither max_export_age nor coverage.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_age)]
    pub clock_skew: policy::Age,

    /// Print the violations counted per organizational unit (from the Organization snapshot)
    /// instead of one row per violation; reports and the exit code are unchanged.
    #[arg(long)]
    pub by_ou: bool,

    #[command(flatten)]
    pub source: SourceArgs,

    #[command(flatten)]
    pub org: OrgArgs,

    #[command(flatten)]
    pub history: HistoryArgs,
}

impl clap::ValueEnum for Severity {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

pub async fn run(args: Args, settings: &Settings, printer: &Printer) -> anyhow::Result<Outcome> {
    let started = std::time::Instant::now();
    let policy = policy::load(&args.policy)?;
    let mut options = args.source.options(settings, None, false);
    // The Organization snapshot: for --ou, and for rules scoped by OU or account tag.
    let reads_org = policy
        .rules
        .iter()
        .any(|r| r.scope.is_some() || matches!(&r.spec, Spec::Sql(sql) if reads_org(sql)));
    let org = if args.org.needed("", options.kind) || reads_org {
        args.org.context(settings, printer, &options).await?
    } else {
        None
    };
    let scope = args.org.scope(org.as_ref())?;
    let snapshot = org
        .as_ref()
        .map(|o| crate::org::snapshot::load(&o.dir))
        .transpose()?;
    options.org_dir = org.map(|o| o.dir);
    let opened = crate::engine::open(&options, &settings.aws, Arc::new(printer.clone())).await?;
    let evaluated = evaluate(
        &policy,
        &opened.engine,
        &Inputs {
            settings,
            source: options.source.as_deref(),
            tree: opened.tree.as_deref(),
            scope: scope.as_ref(),
            snapshot: snapshot.as_ref(),
            strict: args.strict,
            skew: args.clock_skew.0,
        },
        printer,
    )
    .await?;
    let report = report::Report {
        policy: &policy,
        results: evaluated.results,
        fail_on: args.fail_on,
        deployments: evaluated.deployments,
        ou_paths: snapshot.as_ref().map(|s| s.ou_paths()).unwrap_or_default(),
    };
    // The violations carry text from the bucket: a CSV of them is opened in spreadsheets.
    printer.csv_safe_by_default().rows(&if args.by_ou {
        report.by_ou()
    } else {
        report.violations()
    })?;
    if let Some(path) = &args.junit {
        write_file(path, report.junit().as_bytes(), "JUnit report")?;
    }
    if let Some(path) = &args.sarif {
        let mut text = serde_json::to_string_pretty(&report.sarif())?;
        text.push('\n');
        write_file(path, text.as_bytes(), "SARIF report")?;
    }
    let timing = if printer.interactive() {
        format!(" ({} ms)", started.elapsed().as_millis())
    } else {
        String::new()
    };
    for line in controls(&report) {
        printer.summary(&line);
    }
    printer.summary(&format!("{}{timing}", report.summary()));
    if let Some(store) = args
        .history
        .store(
            settings,
            printer,
            &options.cache_root,
            options.source.as_deref(),
        )
        .await?
    {
        store
            .append(&report.history_entry(crate::time::now()?))
            .await?;
    }
    // What the check did not see: it does not pass on a partial read.
    let source = options.source.as_deref().unwrap_or("the source");
    let mut gaps = Vec::new();
    let skipped = opened.engine.skipped().len();
    if skipped > 0 {
        gaps.push(format!("{skipped} source file(s) were left out"));
    }
    if opened.mirror_incomplete {
        gaps.push(format!("some objects of {source} could not be mirrored"));
    }
    if opened.mirror_skipped > 0 {
        gaps.push(format!(
            "{} key(s) of {source} were refused as unsafe paths",
            opened.mirror_skipped
        ));
    }
    if !gaps.is_empty() {
        let what = format!("{} (listed above)", gaps.join("; "));
        if !args.allow_incomplete {
            bail!(
                "{what}: the check did not see every deployment's current metadata, so it does not pass; fix them and run again, or pass --allow-incomplete to judge what was read"
            );
        }
        printer.warn(&format!("{what}: --allow-incomplete judged what was read"));
    }
    Ok(if report.failing() > 0 {
        Outcome::Failures
    } else {
        Outcome::Success
    })
}

fn parse_age(text: &str) -> Result<policy::Age, String> {
    policy::Age::try_from(text.to_string())
}

/// The built-in rule [`policy::Rule::metadata_readable`].
static METADATA_READABLE: std::sync::LazyLock<policy::Rule> =
    std::sync::LazyLock::new(policy::Rule::metadata_readable);

/// One line per rule, as Steampipe summarises its controls: how many subjects are ok, in alarm
/// (violations), skipped (not checked, or the whole rule when it could not be evaluated),
/// exempted, and the rule's description.
fn controls(report: &report::Report) -> Vec<String> {
    let width = report
        .results
        .iter()
        .map(|r| r.rule.name.chars().count())
        .max()
        .unwrap_or(0);
    let mut lines = vec![format!(
        "{:<width$}  {:>5}  {:>5}  {:>5}  {:>8}  description",
        "rule", "ok", "alarm", "skip", "exempted"
    )];
    for r in &report.results {
        let alarm = r.violations.len();
        let exempted = r.exempted.len();
        let skip = if r.skipped.is_some() {
            "all".to_string()
        } else {
            r.not_checked.len().to_string()
        };
        let ok = r
            .subjects
            .len()
            .saturating_sub(alarm + exempted + r.not_checked.len());
        let description = r
            .rule
            .description
            .clone()
            .unwrap_or_else(|| r.rule.kind.as_str().to_string());
        lines.push(format!(
            "{:<width$}  {ok:>5}  {alarm:>5}  {skip:>5}  {exempted:>8}  {description}",
            r.rule.name
        ));
    }
    lines
}

/// What a policy is evaluated against, besides the engine.
pub struct Inputs<'a> {
    pub settings: &'a Settings,
    /// `--source`, for messages.
    pub source: Option<&'a str>,
    /// The local tree the engine reads (the source directory, or the mirror of an `s3://`
    /// source): its backups/ is what the backup rules read.
    pub tree: Option<&'a Path>,
    /// `--ou`: only the deployments of these accounts.
    pub scope: Option<&'a Scope>,
    /// The Organization snapshot, for rules scoped by OU or account tag.
    pub snapshot: Option<&'a Snapshot>,
    /// A rule that cannot be evaluated is an error, not a skip.
    pub strict: bool,
    /// How far ahead of now an export time may be before it is "in the future".
    pub skew: chrono::Duration,
}

/// Every rule's outcome, exemptions applied, and how many deployments were checked.
pub struct Evaluated<'p> {
    pub results: Vec<report::RuleResult<'p>>,
    pub deployments: usize,
}

/// Evaluate `policy` on `engine`: skipped rules and exemptions that expired or match nothing are
/// warnings (a skip is an error with `strict`). `check` and `report --policy` share it.
pub async fn evaluate<'p>(
    policy: &'p policy::Policy,
    engine: &dyn crate::engine::QueryEngine,
    inputs: &Inputs<'_>,
    printer: &Printer,
) -> anyhow::Result<Evaluated<'p>> {
    let settings = inputs.settings;
    let now = crate::time::now()?;
    engine.expect(&eval::statements(&policy.rules)).await;
    let mut deployments = eval::deployments(engine).await?;
    if let Some(scope) = inputs.scope {
        deployments.retain(|d| scope.accounts.contains(&d.account));
    }
    if deployments.is_empty() {
        bail!(
            "no deployment in clonesquad_discovery{}{}: nothing to check; point --source at a copy of <MetadataAndBackupS3Path> holding metadata/discovery/",
            inputs
                .source
                .map(|s| format!(" under {s}"))
                .unwrap_or_default(),
            inputs
                .scope
                .map(|s| format!(" in --ou {}", s.ous.join(", ")))
                .unwrap_or_default()
        );
    }
    let backups = inputs.tree.map(crate::bucket::layout::backups_dir);
    let needs_aws = policy.rules.iter().any(|r| match r.kind {
        Kind::Coverage => true,
        Kind::ArchiveLifecycle => settings.metadata_path.is_some(),
        _ => false,
    });
    let aws = if needs_aws {
        Some(aws_access(settings, printer).await?)
    } else {
        None
    };
    let today = now.date_naive();
    let mut results = Vec::new();
    for rule in &policy.rules {
        let whence = format!(
            "{}:{}: rule `{}` ({})",
            policy.path.display(),
            rule.line,
            rule.name,
            rule.kind.as_str()
        );
        // A rule scoped by OU or account tag sees only the deployments of those accounts.
        let in_scope: Vec<eval::Deployment> = match (&rule.scope, inputs.snapshot) {
            (None, _) => deployments.clone(),
            (Some(rule_scope), Some(snapshot)) => {
                let accounts = rule_scope
                    .accounts(snapshot)
                    .with_context(|| format!("{whence}: its scope"))?;
                deployments
                    .iter()
                    .filter(|d| accounts.contains(&d.account))
                    .cloned()
                    .collect()
            }
            (Some(_), None) => bail!(
                "{whence} is scoped by OU or account tag, which needs an Organization snapshot: run `cs-cmdb org snapshot` (or pass --refresh-org)"
            ),
        };
        let ctx = eval::Context {
            engine,
            deployments: &in_scope,
            now,
            backups: backups.clone(),
            metadata_path: settings.metadata_path.as_ref(),
            aws: aws.as_ref(),
            skew: inputs.skew,
        };
        let evaluation = eval::evaluate(rule, &ctx)
            .await
            .with_context(|| format!("{whence} could not be evaluated"))?;
        // Rows of SQL rules and coverage's accounts outside --ou are not this run's business.
        let evaluation = match inputs.scope {
            Some(scope) => scope_evaluation(scope, evaluation),
            None => evaluation,
        };
        if let Evaluation::Skipped(reason) = &evaluation {
            if inputs.strict {
                bail!("{whence} could not be evaluated (--strict): {reason}");
            }
            printer.warn(&format!("{whence} skipped: {reason}"));
        }
        let result = report::apply(rule, evaluation, today);
        for e in &result.expired {
            printer.warn(&format!(
                "{}:{}: rule `{}`: the exemption of {} expired on {} and no longer applies (reason was: {}); renew or remove it",
                policy.path.display(),
                e.line,
                rule.name,
                e.scope(),
                e.expires.map(|d| d.to_string()).unwrap_or_default(),
                e.reason
            ));
        }
        for e in &result.unused {
            printer.warn(&format!(
                "{}:{}: rule `{}`: the exemption of {} matches no violation; remove it if it is no longer needed (or fix its account/region/group)",
                policy.path.display(),
                e.line,
                rule.name,
                e.scope()
            ));
        }
        results.push(result);
    }
    // The built-in rule, when the tables read hold unreadable lines: the deployments they
    // describe are violations, not disappearances.
    if !engine.unreadable().is_empty() {
        let rule: &'static policy::Rule = &METADATA_READABLE;
        let ctx = eval::Context {
            engine,
            deployments: &deployments,
            now,
            backups: None,
            metadata_path: None,
            aws: None,
            skew: inputs.skew,
        };
        let evaluation = eval::evaluate(rule, &ctx).await?;
        let evaluation = match inputs.scope {
            Some(scope) => scope_evaluation(scope, evaluation),
            None => evaluation,
        };
        results.push(report::apply(rule, evaluation, today));
    }
    Ok(Evaluated {
        results,
        deployments: deployments.len(),
    })
}

/// Only the subjects and findings of `scope`'s accounts (those of no account stay).
fn scope_evaluation(scope: &Scope, evaluation: Evaluation) -> Evaluation {
    match evaluation {
        Evaluation::Checked {
            mut subjects,
            mut findings,
            not_checked,
        } => {
            let keep = |s: &eval::Subject| {
                s.account
                    .as_ref()
                    .is_none_or(|a| scope.accounts.contains(a))
            };
            subjects.retain(keep);
            findings.retain(|f| keep(&f.subject));
            Evaluation::Checked {
                subjects,
                findings,
                not_checked,
            }
        }
        skipped => skipped,
    }
}

/// An SDK configuration with credentials, or why there is none (the rules needing it skip).
/// A named profile that does not exist is a mistake in the set-up, not missing access: an error.
async fn aws_access(settings: &Settings, printer: &Printer) -> anyhow::Result<eval::Aws> {
    crate::aws::credential_source(&settings.aws, printer).await?;
    let config = match crate::aws::sdk_config(&settings.aws, printer).await {
        Ok(config) => config,
        Err(err) => return Ok(Err(crate::errors::report(&err))),
    };
    let Some(provider) = config.credentials_provider() else {
        return Ok(Err("no AWS credentials provider is configured".into()));
    };
    Ok(match provider.provide_credentials().await {
        // Credentials, but is AWS reachable? One STS call tells; unreachable (offline, a
        // proxy) skips the AWS-backed rules as missing credentials do.
        Ok(_) => match aws_sdk_sts::Client::new(&config)
            .get_caller_identity()
            .send()
            .await
        {
            Err(
                err @ (aws_sdk_sts::error::SdkError::DispatchFailure(_)
                | aws_sdk_sts::error::SdkError::TimeoutError(_)),
            ) => Err(format!(
                "AWS is unreachable: {}",
                crate::aws::describe(&err)
            )),
            _ => Ok(config),
        },
        Err(err) => Err(format!(
            "no AWS credentials ({}); use --profile, AWS_PROFILE, or the CI role's environment",
            crate::errors::chain(&err)
        )),
    })
}

fn write_file(path: &Path, bytes: &[u8], what: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create {} for the {what}", dir.display()))?;
    }
    std::fs::write(path, bytes)
        .with_context(|| format!("cannot write the {what} to {}", path.display()))
}
