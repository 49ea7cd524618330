//! `cs-cmdb partitions`: register exactly the partitions present in the bucket.

use crate::catalog::install;
use crate::catalog::partitions::SyncReport;
use crate::commands::source_args::AthenaArgs;
use crate::engine::athena::AthenaEngine;
use crate::exit::Outcome;
use crate::printer::Printer;
use crate::rows::{Column, ColumnType, ResultSet, Value};
use crate::settings::Settings;

/// Register the partitions present in the bucket and missing from the catalog (exact, batched).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Required: Needs --metadata-path (or CS_CMDB_METADATA_PATH, or metadata-path in cs-cmdb.toml).\n\nExamples:\n  cs-cmdb --metadata-path s3://my-cmdb-bucket/clonesquad partitions\n  cs-cmdb partitions --table clonesquad_discovery --prune --output json"
)]
pub struct Args {
    #[command(flatten)]
    pub athena: AthenaArgs,

    /// Only this table (repeatable; `instances` or `clonesquad_instances`).
    #[arg(long = "table", value_name = "NAME")]
    pub tables: Vec<String>,

    /// Also drop catalog partitions whose folder is gone from the bucket.
    #[arg(long)]
    pub prune: bool,

    /// Run MSCK REPAIR TABLE instead (a full scan of the prefix: slow and costly at scale).
    #[arg(long, conflicts_with = "prune")]
    pub repair: bool,
}

pub async fn run(args: Args, settings: &Settings, printer: &Printer) -> anyhow::Result<Outcome> {
    let path = settings.require_metadata_path()?;
    let options = args.athena.options(settings, None);
    install::validate_database(&options.database)?;
    let config = crate::aws::sdk_config(&settings.aws, printer).await?;
    if args.repair {
        let athena = AthenaEngine::new(&config, options);
        let n = install::repair(&athena, &args.tables).await?;
        printer.summary(&format!("MSCK REPAIR TABLE run on {n} table(s)"));
    } else {
        let reports =
            install::sync_partitions(&config, &options.database, path, &args.tables, args.prune)
                .await?;
        print_reports(printer, &reports)?;
        // The run worked, but Glue kept partitions it was asked to drop: say which, exit 1.
        if reports.iter().any(|(_, r)| !r.prune_errors.is_empty()) {
            return Ok(Outcome::Failures);
        }
    }
    Ok(Outcome::Success)
}

/// One line per table: what the bucket and the catalog hold, what changed, at what cost.
/// One row per table: its partitions in the bucket and the catalog, what the run changed; the
/// partitions Glue refused to drop as errors on stderr.
pub(super) fn print_reports(
    printer: &Printer,
    reports: &[(String, SyncReport)],
) -> std::io::Result<()> {
    let int = |n: usize| Value::Int(i64::try_from(n).unwrap_or(i64::MAX));
    let rs = ResultSet {
        columns: [
            "table",
            "in_bucket",
            "in_catalog",
            "added",
            "pruned",
            "glue_calls",
        ]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let ty = if i == 0 {
                ColumnType::String
            } else {
                ColumnType::Integer
            };
            Column::new(*name, ty)
        })
        .collect(),
        rows: reports
            .iter()
            .map(|(table, r)| {
                vec![
                    Value::Str(table.clone()),
                    int(r.in_bucket),
                    int(r.in_catalog),
                    int(r.added),
                    int(r.pruned),
                    int(r.glue_calls),
                ]
            })
            .collect(),
    };
    printer.rows(&rs)?;
    for (_, r) in reports {
        for refusal in &r.prune_errors {
            crate::printer::error(refusal);
        }
    }
    Ok(())
}
