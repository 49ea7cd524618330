//! `cs-cmdb accounts`: the Organization's accounts.

use crate::exit::Outcome;
use crate::org::accounts::{self, AccountFilter};
use crate::printer::Printer;
use crate::settings::Settings;

/// List the Organization's accounts (needs the management or a delegated-admin account).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only accounts under this organizational unit, nested OUs included (repeatable; a root id works too).
    #[arg(long = "ou", value_name = "OU_ID")]
    pub ous: Vec<String>,

    /// Leave this account out (repeatable).
    #[arg(long = "exclude-account", value_name = "ACCOUNT_ID")]
    pub exclude: Vec<String>,

    /// Also list suspended and closed accounts (default: active ones only).
    #[arg(long)]
    pub include_suspended: bool,
}

pub async fn run(args: Args, settings: &Settings, printer: &Printer) -> anyhow::Result<Outcome> {
    let config = crate::aws::sdk_config(&settings.aws, printer).await?;
    let filter = AccountFilter {
        ous: args.ous,
        exclude: args.exclude.into_iter().collect(),
        include_suspended: args.include_suspended,
    };
    let accounts = accounts::list(&config, &filter).await?;
    printer.rows(&accounts::to_result_set(&accounts))?;
    tracing::info!("{} accounts", accounts.len());
    Ok(Outcome::Success)
}
