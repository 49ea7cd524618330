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
use crate::settings::{FanoutDefaults, Settings};

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

    /// Role assumed in each member account: arn:aws:iam::<account>:role/<NAME>
    /// [default: OrganizationAccountAccessRole].
    #[arg(long, env = "CS_CMDB_ROLE_NAME", value_name = "NAME")]
    pub role_name: Option<String>,

    /// External id passed to AssumeRole.
    #[arg(long, env = "CS_CMDB_EXTERNAL_ID", value_name = "ID")]
    pub external_id: Option<String>,

    /// Session name of the assumed roles (shows in the members' CloudTrail) [default: cs-cmdb].
    #[arg(long, value_name = "NAME")]
    pub session_name: Option<String>,

    /// Assume this role first, then the member roles from it (a role chain's first hop).
    #[arg(long, value_name = "ARN")]
    pub via_role: Option<String>,

    /// Targets worked on at once (Lambda and STS quotas allow far more; stay polite) [default: 16].
    #[arg(long, env = "CS_CMDB_CONCURRENCY", value_name = "N")]
    pub concurrency: Option<usize>,

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

/// The fan-out settings once layered.
#[derive(Debug, PartialEq)]
struct Settled {
    role_name: String,
    external_id: Option<String>,
    session_name: String,
    via_role: Option<String>,
    concurrency: usize,
    allow_unknown_region: bool,
    regions: Vec<String>,
}

/// Each fan-out setting: the flag (or its `CS_CMDB_*` twin), else the config file's connection,
/// else its top level (both already in `defaults`), else the built-in default.
fn settle(args: &FanoutArgs, defaults: &FanoutDefaults) -> Settled {
    Settled {
        role_name: args
            .role_name
            .clone()
            .or_else(|| defaults.role_name.clone())
            .unwrap_or_else(|| "OrganizationAccountAccessRole".to_string()),
        external_id: args
            .external_id
            .clone()
            .or_else(|| defaults.external_id.clone()),
        session_name: args
            .session_name
            .clone()
            .or_else(|| defaults.session_name.clone())
            .unwrap_or_else(|| "cs-cmdb".to_string()),
        via_role: args.via_role.clone().or_else(|| defaults.via_role.clone()),
        concurrency: args.concurrency.or(defaults.concurrency).unwrap_or(16),
        allow_unknown_region: args.allow_unknown_region || defaults.allow_unknown_region,
        regions: if args.regions.is_empty() {
            defaults.regions.clone()
        } else {
            args.regions.clone()
        },
    }
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
    let Settled {
        role_name,
        external_id,
        session_name,
        via_role,
        concurrency,
        allow_unknown_region,
        regions: wanted_regions,
    } = settle(args, &settings.fanout);
    let wanted_regions = &wanted_regions;
    if concurrency == 0 {
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
    let regions = if wanted_regions.iter().any(|r| r == "all") {
        if wanted_regions.len() > 1 {
            bail!("--regions all cannot be combined with named regions");
        }
        Regions::All
    } else if wanted_regions.is_empty() {
        let region = match &settings.aws.region {
            Some(r) => r.clone(),
            None => {
                match std::env::var("AWS_REGION").or_else(|_| std::env::var("AWS_DEFAULT_REGION")) {
                    Ok(r) if !r.is_empty() => r,
                    _ => bail!("no region to visit: pass --regions r1,r2 (or all), or --region"),
                }
            }
        };
        crate::aws::check_region(&region, allow_unknown_region)
            .map_err(|e| anyhow::anyhow!("the region to visit: {e}"))?;
        Regions::List(vec![region])
    } else {
        let mut seen = BTreeSet::new();
        for r in wanted_regions {
            crate::aws::check_region(r, allow_unknown_region).map_err(|e| {
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

    let filter = args.filter.filter(settings, false);
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
        role_name,
        external_id,
        session_name,
        via_role,
        concurrency,
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        fanout: FanoutArgs,
    }

    fn settled(argv: &[&str], defaults: &FanoutDefaults) -> Settled {
        let cli = Cli::try_parse_from([&["x"], argv].concat()).unwrap();
        settle(&cli.fanout, defaults)
    }

    /// Key by key: the flag wins over the file (connection or top level, merged by `settings`),
    /// which wins over the default.
    #[test]
    fn flags_beat_the_file_which_beats_the_defaults() {
        let none = FanoutDefaults::default();
        let file = FanoutDefaults {
            role_name: Some("FileRole".into()),
            external_id: Some("file-ext".into()),
            via_role: Some("arn:aws:iam::111111111111:role/file".into()),
            session_name: Some("file-session".into()),
            regions: vec!["eu-west-1".into()],
            ous: vec![],
            exclude_accounts: vec![],
            concurrency: Some(4),
            allow_unknown_region: true,
        };
        let defaults = settled(&[], &none);
        assert_eq!(
            defaults,
            Settled {
                role_name: "OrganizationAccountAccessRole".into(),
                external_id: None,
                session_name: "cs-cmdb".into(),
                via_role: None,
                concurrency: 16,
                allow_unknown_region: false,
                regions: vec![],
            }
        );
        let from_file = settled(&[], &file);
        assert_eq!(
            from_file,
            Settled {
                role_name: "FileRole".into(),
                external_id: Some("file-ext".into()),
                session_name: "file-session".into(),
                via_role: Some("arn:aws:iam::111111111111:role/file".into()),
                concurrency: 4,
                allow_unknown_region: true,
                regions: vec!["eu-west-1".into()],
            }
        );
        let flags = settled(
            &[
                "--role-name",
                "FlagRole",
                "--external-id",
                "flag-ext",
                "--via-role",
                "arn:aws:iam::222222222222:role/flag",
                "--session-name",
                "flag-session",
                "--concurrency",
                "2",
                "--regions",
                "us-east-1,us-west-2",
            ],
            &file,
        );
        assert_eq!(
            flags,
            Settled {
                role_name: "FlagRole".into(),
                external_id: Some("flag-ext".into()),
                session_name: "flag-session".into(),
                via_role: Some("arn:aws:iam::222222222222:role/flag".into()),
                concurrency: 2,
                allow_unknown_region: true,
                regions: vec!["us-east-1".into(), "us-west-2".into()],
            }
        );
    }
}
