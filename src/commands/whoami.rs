//! `cs-cmdb whoami`: the identity in use, where its credentials come from, the region and the
//! Organization. One row, in any `--format`.

use crate::exit::Outcome;
use crate::org::identity;
use crate::printer::Printer;
use crate::settings::Settings;

/// Show the AWS identity in use: account, ARN, where the credentials come from, region, and
/// the Organization (id, management account).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  cs-cmdb whoami\n  cs-cmdb --profile other-org whoami --output line"
)]
pub struct Args {}

pub async fn run(_: Args, settings: &Settings, printer: &Printer) -> anyhow::Result<Outcome> {
    let identity = identity::identify(&settings.aws, printer).await?;
    printer.rows(&identity::to_result_set(&identity))?;
    Ok(Outcome::Success)
}
