//! `cs-cmdb accounts`: the Organization's accounts.

use crate::exit::Outcome;
use crate::org::accounts::{self, AccountFilter};
use crate::printer::Printer;
use crate::settings::Settings;

/// List the Organization's accounts (needs the management or a delegated-admin account).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  cs-cmdb accounts\n  cs-cmdb accounts --ou ou-abcd-12345678 --output csv\n  cs-cmdb --profile governance accounts --columns id,name,status"
)]
pub struct Args {
    #[command(flatten)]
    pub filter: AccountFilterArgs,

    /// Also list suspended and closed accounts (default: active ones only).
    #[arg(long)]
    pub include_suspended: bool,
}

/// Which of the Organization's accounts: `accounts`, and the fan-outs (`discover`, `export`).
#[derive(Debug, Clone, clap::Args)]
pub struct AccountFilterArgs {
    /// Only accounts under this organizational unit, nested OUs included (repeatable; a root id works too).
    #[arg(long = "ou", value_name = "OU_ID")]
    pub ous: Vec<String>,

    /// Leave this account out (repeatable).
    #[arg(long = "exclude-account", value_name = "ACCOUNT_ID")]
    pub exclude: Vec<String>,
}

impl AccountFilterArgs {
    /// The filter: the flags, else `ous` and `exclude-accounts` of the config file.
    pub fn filter(&self, settings: &Settings, include_suspended: bool) -> AccountFilter {
        let pick = |flag: &Vec<String>, file: &Vec<String>| {
            if flag.is_empty() {
                file.clone()
            } else {
                flag.clone()
            }
        };
        AccountFilter {
            ous: pick(&self.ous, &settings.fanout.ous),
            exclude: pick(&self.exclude, &settings.fanout.exclude_accounts)
                .into_iter()
                .collect(),
            include_suspended,
        }
    }
}

pub async fn run(args: Args, settings: &Settings, printer: &Printer) -> anyhow::Result<Outcome> {
    let config = crate::aws::sdk_config(&settings.aws, printer).await?;
    let filter = args.filter.filter(settings, args.include_suspended);
    let accounts = accounts::list(&config, &filter).await?;
    printer.rows(&accounts::to_result_set(&accounts))?;
    tracing::info!("{} accounts", accounts.len());
    Ok(Outcome::Success)
}
