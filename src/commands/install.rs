//! `cs-cmdb install`: the Athena database, the six CloneSquad tables and the two Organization
//! tables, then the CloneSquad tables' partitions.

use crate::catalog::install;
use crate::commands::org_args::OrgPathArg;
use crate::commands::partitions::print_reports;
use crate::commands::source_args::AthenaArgs;
use crate::engine::athena::AthenaEngine;
use crate::exit::Outcome;
use crate::printer::Printer;
use crate::rows::{Column, ColumnType, ResultSet, Value};
use crate::settings::Settings;

/// Create the Athena database, the six CloneSquad tables and the two Organization tables
/// (`cs-cmdb org snapshot` fills them), then register the partitions.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Required: Needs --metadata-path (or CS_CMDB_METADATA_PATH, or metadata-path in cs-cmdb.toml) and Athena (--workgroup, --output-location unless the workgroup sets one).\n\nExamples:\n  cs-cmdb --metadata-path s3://cmdb/clonesquad install --output-location s3://results/\n  cs-cmdb --metadata-path s3://my-cmdb-bucket/clonesquad install --print > install.sql\n  cs-cmdb --connection prod-org install -vv   # shows every statement and its query id"
)]
pub struct Args {
    #[command(flatten)]
    pub athena: AthenaArgs,

    #[command(flatten)]
    pub org_path: OrgPathArg,

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
    let org_path = args
        .org_path
        .resolve(Some(path))?
        .unwrap_or_else(|| crate::bucket::layout::org_path(path));
    if args.print {
        let script = install::script(&options.database, path, &org_path)?;
        printer.bytes(script.as_bytes())?;
        return Ok(Outcome::Success);
    }
    let config = crate::aws::sdk_config(&settings.aws, printer).await?;
    let athena = AthenaEngine::new(&config, options);
    let report = install::install(&config, &athena, path, &org_path, args.replace).await?;
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
    if args.no_partitions {
        printer.rows(&tables(&report))?;
    } else {
        let database = &athena.options().database;
        print_reports(
            printer,
            &install::sync_partitions(&config, database, path, &[], false).await?,
        )?;
    }
    // Tables that still need `--replace` are a finding, not a success.
    Ok(if report.outdated.is_empty() {
        Outcome::Success
    } else {
        Outcome::Failures
    })
}

/// One row per table and what `install` did to it (with --no-partitions; otherwise the rows are
/// the partitions').
fn tables(report: &install::InstallReport) -> ResultSet {
    let mut rows: Vec<Vec<Value>> = Vec::new();
    for (names, status) in [
        (&report.created, "created"),
        (&report.replaced, "replaced"),
        (&report.unchanged, "unchanged"),
    ] {
        for name in names {
            rows.push(vec![Value::Str(name.clone()), Value::Str(status.into())]);
        }
    }
    for (name, _) in &report.outdated {
        rows.push(vec![
            Value::Str(name.clone()),
            Value::Str("outdated".into()),
        ]);
    }
    rows.sort_by(|a, b| a[0].display().cmp(&b[0].display()));
    ResultSet {
        columns: vec![
            Column::new("table", ColumnType::String),
            Column::new("status", ColumnType::String),
        ],
        rows,
    }
}
