//! Flags `discover` and `export` share: which targets (account × region) a fan-out visits, and
//! how; and the set-up and the ending both commands share (validate, list the accounts, expand
//! the regions, build the engine; print the summary, decide the exit).

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::{Context, bail};

use crate::aws::describe;
use crate::bucket::layout::valid_group;
use crate::commands::accounts::AccountFilterArgs;
use crate::exit::Outcome;
use crate::org::accounts;
use crate::org::fanout::{Fanout, FanoutOptions, Regions, Report, Target, TargetResult};
use crate::printer::Printer;
use crate::settings::Settings;

/// Which targets (account × region) a fan-out visits, and how.
#[derive(Debug, clap::Args)]
pub struct FanoutArgs {
    #[command(flatten)]
    pub filter: AccountFilterArgs,

    /// Only these accounts (comma-separated ids; they must be active members of the Organization).
    #[arg(long, value_delimiter = ',', value_name = "ID,...")]
    pub accounts: Vec<String>,

    /// Regions to visit in every account, comma-separated, or `all` for each account's enabled
    /// regions (opt-in regions it has not enabled are reported as skipped) [default: --region].
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "REGION,...|all",
        env = "CS_CMDB_REGIONS"
    )]
    pub regions: Vec<String>,

    /// Accept a region this build does not know (one launched since): only its form is checked.
    #[arg(long, env = "CS_CMDB_ALLOW_UNKNOWN_REGION")]
    pub allow_unknown_region: bool,

    /// Role assumed in each member account: arn:aws:iam::<account>:role/<NAME>.
    #[arg(
        long,
        default_value = "OrganizationAccountAccessRole",
        env = "CS_CMDB_ROLE_NAME",
        value_name = "NAME"
    )]
    pub role_name: String,

    /// External id passed to AssumeRole.
    #[arg(long, env = "CS_CMDB_EXTERNAL_ID", value_name = "ID")]
    pub external_id: Option<String>,

    /// Session name of the assumed roles (shows in the members' CloudTrail).
    #[arg(long, default_value = "cs-cmdb", value_name = "NAME")]
    pub session_name: String,

    /// Assume this role first, then the member roles from it (a role chain's first hop).
    #[arg(long, value_name = "ARN")]
    pub via_role: Option<String>,

    /// Targets worked on at once (Lambda and STS quotas allow far more; stay polite).
    #[arg(
        long,
        default_value_t = 16,
        env = "CS_CMDB_CONCURRENCY",
        value_name = "N"
    )]
    pub concurrency: usize,

    /// Cap on AWS calls per second across the run.
    #[arg(long, value_name = "PER_SECOND")]
    pub rate: Option<f64>,

    /// Timeout of one attempt of one AWS call (the SDK retries throttling and timeouts with backoff).
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = crate::time::parse_duration)]
    pub call_timeout: std::time::Duration,

    /// Stop starting new targets once this many have failed (the others are reported as skipped).
    #[arg(long, value_name = "N")]
    pub max_failures: Option<usize>,

    /// Only deployments of this CloneSquad group (repeatable).
    #[arg(long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,
}

/// Validated fan-out set-up: the engine and its targets (plus targets already decided).
pub struct Prepared {
    pub fanout: Fanout,
    pub targets: Vec<Target>,
    pub decided: Vec<TargetResult<std::convert::Infallible>>,
}

pub async fn prepare(
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
        let region = match &settings.aws.region {
            Some(r) => r.clone(),
            None => {
                match std::env::var("AWS_REGION").or_else(|_| std::env::var("AWS_DEFAULT_REGION")) {
                    Ok(r) if !r.is_empty() => r,
                    _ => bail!("no region to visit: pass --regions r1,r2 (or all), or --region"),
                }
            }
        };
        crate::aws::check_region(&region, args.allow_unknown_region)
            .map_err(|e| anyhow::anyhow!("the region to visit: {e}"))?;
        Regions::List(vec![region])
    } else {
        let mut seen = BTreeSet::new();
        for r in &args.regions {
            crate::aws::check_region(r, args.allow_unknown_region).map_err(|e| {
                anyhow::anyhow!("--regions: {e}; `all` visits every enabled region")
            })?;
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

    let filter = args.filter.filter(false);
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

pub fn finish<T>(report: &Report<T>, noun: &str, printer: &Printer) -> anyhow::Result<Outcome> {
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
