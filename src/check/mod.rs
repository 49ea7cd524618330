//! `cs-cmdb check`: a compliance policy → violations → report, and an exit code CI can gate on.
//!
//! - [`policy`]: the TOML policy, validated once (file and line in every error).
//! - [`eval`]: each rule kind, over facts from the query engine, the backups tree and AWS.
//! - [`report`]: exemptions, the violations table, the summary, JUnit and SARIF.
//!
//! Exit codes: 0 no violation at or above `--fail-on`; 1 violations; 2 the check could not run.
//! A rule that cannot be evaluated is an error, or (coverage, archive_lifecycle, backups without
//! a local tree) an explicit skip with a notice — never a pass.

pub mod eval;
pub mod policy;
pub mod report;

use std::path::Path;

use anyhow::{Context, bail};
use aws_sdk_s3::config::ProvideCredentials;

use crate::cli::CheckArgs;
use crate::exit::Outcome;
use crate::printer::Printer;
use crate::query_cmd::{EngineOptions, open_engine};
use crate::settings::Settings;

use eval::Evaluation;
use policy::Kind;

pub async fn run(
    args: CheckArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let started = std::time::Instant::now();
    let policy = policy::load(&args.policy)?;
    let opts = EngineOptions {
        source: args.source.clone(),
        engine: args.engine,
        cache_dir: args.cache_dir.clone(),
        athena: args.athena.clone(),
        reuse_minutes: None,
        offline: false,
        strict: false,
    };
    let (engine, _) = open_engine(&opts, settings, printer).await?;
    let now = crate::time::now()?;
    let deployments = eval::deployments(engine.as_ref()).await?;
    let source = opts.source(settings);
    if deployments.is_empty() {
        bail!(
            "no deployment in clonesquad_discovery{}: nothing to check; point --source at a copy of <MetadataAndBackupS3Path> holding metadata/discovery/",
            source
                .as_deref()
                .map(|s| format!(" under {s}"))
                .unwrap_or_default()
        );
    }
    let backups = source
        .as_deref()
        .filter(|s| !s.starts_with("s3://"))
        .map(|s| crate::bucket::layout::backups_dir(Path::new(s)));
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
    let ctx = eval::Context {
        engine: engine.as_ref(),
        deployments: &deployments,
        now,
        backups,
        metadata_path: settings.metadata_path.as_ref(),
        aws: aws.as_ref(),
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
        let evaluation = eval::evaluate(rule, &ctx)
            .await
            .with_context(|| format!("{whence} could not be evaluated"))?;
        if let Evaluation::Skipped(reason) = &evaluation {
            if args.strict {
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
    let report = report::Report {
        policy: &policy,
        results,
        fail_on: args.fail_on,
        deployments: deployments.len(),
    };
    printer.rows(&report.violations())?;
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
    printer.summary(&format!("{}{timing}", report.summary()));
    Ok(if report.failing() > 0 {
        Outcome::Failures
    } else {
        Outcome::Success
    })
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
        Ok(_) => Ok(config),
        Err(err) => Err(format!(
            "no AWS credentials ({}); use --profile, AWS_PROFILE, or the CI role's environment",
            aws_smithy_types::error::display::DisplayErrorContext(&err)
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
