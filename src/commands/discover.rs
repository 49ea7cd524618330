//! `cs-cmdb discover`: the CloneSquad deployments in every account × region.

use crate::commands::fanout_args::{FanoutArgs, finish, prepare};
use crate::exit::Outcome;
use crate::org::deployments;
use crate::printer::Printer;
use crate::settings::Settings;

/// Find the CloneSquad deployments in every account × region of the Organization.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  cs-cmdb discover --regions eu-west-1,us-east-1\n  cs-cmdb discover --regions all --describe --output csv\n  cs-cmdb --connection lab-org discover --ou ou-abcd-12345678"
)]
pub struct Args {
    #[command(flatten)]
    pub fanout: FanoutArgs,

    /// Also invoke CloneSquad-Discovery-<group> for the version, metadata path and API URL.
    #[arg(long)]
    pub describe: bool,
}

pub async fn run(args: Args, settings: &Settings, printer: &Printer) -> anyhow::Result<Outcome> {
    let prepared = prepare(&args.fanout, settings, printer).await?;
    let describe_them = args.describe;
    let groups = &args.fanout.groups;
    let report = prepared
        .fanout
        .run(prepared.targets, |ctx| async move {
            deployments::discover_target(&ctx, describe_them, groups).await
        })
        .await;
    let report = report.with_decided(prepared.decided);
    let rows = report.items();
    printer.rows(&deployments::to_result_set(&rows))?;
    printer.summary(&format!("{} deployments found", rows.len()));
    finish(&report, "discover", printer)
}
