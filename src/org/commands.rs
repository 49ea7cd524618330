//! The `discover` and `export` commands: set up the fan-out, run it, render, summarise.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::aws::describe;
use crate::bucket::layout::valid_group;
use crate::cli::{DiscoverArgs, ExportArgs, FanoutArgs};
use crate::exit::Outcome;
use crate::org::accounts::{self, AccountFilter};
use crate::org::deployments;
use crate::org::export::{self, ExportOptions};
use crate::org::fanout::{
    Failure, Fanout, FanoutOptions, Regions, Report, SKIP_NO_DEPLOYMENT, Target, TargetOutcome,
    TargetResult,
};
use crate::printer::Printer;
use crate::settings::Settings;

/// Validated fan-out set-up: the engine and its targets (plus targets already decided).
struct Prepared {
    fanout: Fanout,
    targets: Vec<Target>,
    decided: Vec<TargetResult<std::convert::Infallible>>,
}

fn valid_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

async fn prepare(
    args: &FanoutArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<Prepared> {
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    if let Some(rate) = args.rate
        && !(rate.is_finite() && rate > 0.0)
    {
        bail!("--rate must be a positive number of calls per second");
    }
    for g in &args.groups {
        if !valid_group(g) {
            bail!(
                "`{g}` is not a CloneSquad group name ([A-Za-z0-9][-A-Za-z0-9]+, 2 to 40 characters)"
            );
        }
    }
    let regions = if args.regions.iter().any(|r| r == "all") {
        if args.regions.len() > 1 {
            bail!("--regions all cannot be combined with named regions");
        }
        Regions::All
    } else if args.regions.is_empty() {
        match &settings.aws.region {
            Some(r) => Regions::List(vec![r.clone()]),
            None => {
                match std::env::var("AWS_REGION").or_else(|_| std::env::var("AWS_DEFAULT_REGION")) {
                    Ok(r) if !r.is_empty() => Regions::List(vec![r]),
                    _ => bail!("no region to visit: pass --regions r1,r2 (or all), or --region"),
                }
            }
        }
    } else {
        let mut seen = BTreeSet::new();
        for r in &args.regions {
            if !valid_region(r) {
                bail!("`{r}` is not an AWS region name (like eu-west-1), nor `all`");
            }
            seen.insert(r.clone());
        }
        Regions::List(seen.into_iter().collect())
    };
    for id in &args.accounts {
        accounts::validate_account_id(id)?;
    }

    let central = crate::aws::sdk_config(&settings.aws, printer).await?;
    let identity = aws_sdk_sts::Client::new(&central)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "sts:GetCallerIdentity failed ({}): are credentials configured for the central account?",
                describe(&e)
            )
        })?;
    let central_account = identity.account().unwrap_or_default().to_string();

    let filter = AccountFilter {
        ous: args.ous.clone(),
        exclude: args.exclude.iter().cloned().collect(),
        include_suspended: false,
    };
    let mut members = accounts::list(&central, &filter)
        .await
        .context("listing the Organization's accounts")?;
    if !args.accounts.is_empty() {
        let known: BTreeSet<&str> = members.iter().map(|a| a.id.as_str()).collect();
        let missing: Vec<&String> = args
            .accounts
            .iter()
            .filter(|id| !known.contains(id.as_str()) && !filter.exclude.contains(*id))
            .collect();
        if !missing.is_empty() {
            bail!(
                "--accounts names {} not active in the Organization (or outside --ou): {}",
                if missing.len() == 1 {
                    "an account"
                } else {
                    "accounts"
                },
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        members.retain(|a| args.accounts.contains(&a.id));
    }

    let opts = FanoutOptions {
        regions,
        role_name: args.role_name.clone(),
        external_id: args.external_id.clone(),
        session_name: args.session_name.clone(),
        via_role: args.via_role.clone(),
        concurrency: args.concurrency,
        rate: args.rate,
        call_timeout: args.call_timeout,
        max_failures: args.max_failures,
    };
    let fanout = Fanout::new(central, central_account, opts, Arc::new(printer.clone()));
    fanout.stop_on_ctrl_c();
    let (targets, decided) = fanout.targets(&members).await;
    tracing::info!(
        "{} accounts, {} targets ({} decided while listing regions)",
        members.len(),
        targets.len(),
        decided.len()
    );
    Ok(Prepared {
        fanout,
        targets,
        decided,
    })
}

/// Merge the targets decided while listing regions into the report, then order by target.
fn merge<T>(
    mut report: Report<T>,
    decided: Vec<TargetResult<std::convert::Infallible>>,
) -> Report<T> {
    report
        .results
        .extend(decided.into_iter().map(|r| TargetResult {
            target: r.target,
            outcome: r.outcome,
            items: Vec::new(),
            elapsed: r.elapsed,
        }));
    report.results.sort_by(|a, b| a.target.cmp(&b.target));
    report
}

fn finish<T>(report: &Report<T>, noun: &str, printer: &Printer) -> anyhow::Result<Outcome> {
    for line in report.summary(noun) {
        printer.summary(&line);
    }
    if report.nothing_ran() {
        bail!(
            "nothing could run: every account refused sts:AssumeRole into its {} role; check the role name (--role-name), its trust policy and the central role's permissions",
            "member"
        );
    }
    Ok(report.exit())
}

/// `cs-cmdb discover`.
pub async fn discover(
    args: DiscoverArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let prepared = prepare(&args.fanout, settings, printer).await?;
    let describe_them = args.describe;
    let groups = &args.fanout.groups;
    let report = prepared
        .fanout
        .run(prepared.targets, |ctx| async move {
            match deployments::discover(&ctx, describe_them, groups).await {
                Err(f) => (TargetOutcome::Failed(f), Vec::new()),
                Ok((found, failures)) if found.is_empty() => {
                    debug_assert!(failures.is_empty());
                    (TargetOutcome::Skipped(SKIP_NO_DEPLOYMENT.into()), found)
                }
                Ok((found, failures)) => match failures.first() {
                    None => (TargetOutcome::Ok, found),
                    Some(first) => {
                        let messages: Vec<&str> =
                            failures.iter().map(|f| f.message.as_str()).collect();
                        (
                            TargetOutcome::Failed(Failure::new(first.class, messages.join("; "))),
                            found,
                        )
                    }
                },
            }
        })
        .await;
    let report = merge(report, prepared.decided);
    let rows: Vec<deployments::Deployment> = report
        .results
        .iter()
        .flat_map(|r| r.items.iter().cloned())
        .collect();
    printer.rows(&deployments::to_result_set(&rows))?;
    printer.summary(&format!("{} deployments found", rows.len()));
    finish(&report, "discover", printer)
}

/// `cs-cmdb export`.
pub async fn export(
    args: ExportArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    if args.verify && settings.metadata_path.is_none() {
        bail!(
            "--verify needs --metadata-path (or CS_CMDB_METADATA_PATH, or metadata-path in cs-cmdb.toml): the s3://bucket/prefix every deployment writes to"
        );
    }
    let opts = ExportOptions {
        via: args.via,
        dry_run: args.dry_run,
        metadata_path: settings.metadata_path.clone(),
        verify: args.verify,
        verify_timeout: args.verify_timeout,
        first_poll: Duration::from_millis(250),
        groups: args.fanout.groups.clone(),
    };
    let prepared = prepare(&args.fanout, settings, printer).await?;
    let opts = &opts;
    let report = prepared
        .fanout
        .run(prepared.targets, |ctx| export::export_target(ctx, opts))
        .await;
    let report = merge(report, prepared.decided);
    let rows: Vec<export::ExportRow> = report
        .results
        .iter()
        .flat_map(|r| r.items.iter().cloned())
        .collect();
    printer.rows(&export::to_result_set(&rows))?;
    {
        let failed = rows.iter().filter(|r| r.status == "failed").count();
        let mut by_class: std::collections::BTreeMap<&str, usize> = Default::default();
        for r in &rows {
            if let Some(c) = r.class {
                *by_class.entry(c.as_str()).or_default() += 1;
            }
        }
        let classes: Vec<String> = by_class.iter().map(|(k, v)| format!("{k} {v}")).collect();
        printer.summary(&format!(
            "{} deployments: {} {}, {} failed{}",
            rows.len(),
            rows.len() - failed,
            if args.dry_run {
                "would be triggered"
            } else {
                "ok"
            },
            failed,
            if classes.is_empty() {
                String::new()
            } else {
                format!(" ({})", classes.join(", "))
            }
        ));
    }
    finish(&report, "export", printer)
}
