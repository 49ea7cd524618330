//! `cs-cmdb install`: the Athena database and the six CloneSquad tables, then their partitions.

use crate::catalog::install;
use crate::commands::partitions::print_reports;
use crate::commands::source_args::AthenaArgs;
use crate::engine::athena::AthenaEngine;
use crate::exit::Outcome;
use crate::printer::Printer;
use crate::settings::Settings;

/// Create the Athena database and the six CloneSquad tables, then register their partitions.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub athena: AthenaArgs,

    /// Drop and recreate tables that already exist.
    #[arg(long)]
    pub replace: bool,

    /// Write the DDL to stdout instead of running it (needs no AWS access).
    #[arg(long)]
    pub print: bool,

    /// Do not register partitions after creating the tables.
    #[arg(long)]
    pub no_partitions: bool,
}

pub async fn run(args: Args, settings: &Settings, printer: &Printer) -> anyhow::Result<Outcome> {
    let path = settings.require_metadata_path()?;
    let options = args.athena.options(settings, None);
    if args.print {
        let script = install::script(&options.database, path)?;
        printer.bytes(script.as_bytes())?;
        return Ok(Outcome::Success);
    }
    let config = crate::aws::sdk_config(&settings.aws, printer).await?;
    let athena = AthenaEngine::new(&config, options);
    let report = install::install(&config, &athena, path, args.replace).await?;
    printer.summary(&format!(
        "database {}: {}; tables created: {}, replaced: {}, unchanged: {}, outdated: {}",
        athena.options().database,
        if report.database_created {
            "created"
        } else {
            "exists"
        },
        report.created.len(),
        report.replaced.len(),
        report.unchanged.len(),
        report.outdated.len()
    ));
    for (table, why) in &report.outdated {
        printer.warn(&format!(
            "{table} differs from the shipped DDL ({why}): run `cs-cmdb install --replace` to migrate it (its partitions are registered again)"
        ));
    }
    if !args.no_partitions {
        let database = &athena.options().database;
        print_reports(
            printer,
            &install::sync_partitions(&config, database, path, &[], false).await?,
        );
    }
    // Tables that still need `--replace` are a finding, not a success.
    Ok(if report.outdated.is_empty() {
        Outcome::Success
    } else {
        Outcome::Failures
    })
}
