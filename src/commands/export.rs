//! `cs-cmdb export`: trigger every deployment's `backup` export, optionally verifying it landed.

use std::time::Duration;

use anyhow::bail;

use crate::commands::fanout_args::{FanoutArgs, finish, prepare};
use crate::exit::Outcome;
use crate::org::export::{self, ExportOptions, Via};
use crate::printer::Printer;
use crate::settings::Settings;

/// Trigger the `backup` export of every CloneSquad deployment, optionally verifying it landed.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  cs-cmdb export --dry-run --regions eu-west-1\n  cs-cmdb export --regions all --verify"
)]
pub struct Args {
    #[command(flatten)]
    pub fanout: FanoutArgs,

    /// How to call the `backup` operation.
    #[arg(long, value_enum, default_value = "lambda")]
    pub via: Via,

    /// List what would be triggered, trigger nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// After triggering, wait until each deployment's discovery object under --metadata-path is
    /// rewritten (needs --metadata-path).
    #[arg(long)]
    pub verify: bool,

    /// How long --verify waits per deployment.
    #[arg(long, default_value = "120s", value_name = "DURATION", value_parser = crate::time::parse_duration)]
    pub verify_timeout: std::time::Duration,
}

impl clap::ValueEnum for Via {
    fn value_variants<'a>() -> &'a [Self] {
        &[Via::Lambda, Via::Apigw, Via::Sqs]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()).help(match self {
            Via::Lambda => {
                "Synchronous invoke of `CloneSquad-Interact-<group>` with an API-Gateway-shaped event (works with PRIVATE gateways)"
            }
            Via::Apigw => "SigV4-signed `GET <InteractAPIGWUrl>backup` (REGIONAL gateways only)",
            Via::Sqs => {
                "`{\"OpType\":\"backup\"}` to the `CloneSquad-Interact-<group>` queue (asynchronous)"
            }
        }))
    }
}

pub async fn run(args: Args, settings: &Settings, printer: &Printer) -> anyhow::Result<Outcome> {
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
    let report = report.with_decided(prepared.decided);
    let rows = report.items();
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
