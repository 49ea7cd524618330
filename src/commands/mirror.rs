//! `cs-cmdb mirror`: the bucket's metadata and latest backups copied into the local cache,
//! incrementally; prints the mirror's directory (a `--source` for `query` and `check`).

use std::path::PathBuf;

use crate::exit::Outcome;
use crate::mirror;
use crate::printer::Printer;
use crate::rows::{Column, ColumnType, ResultSet, Value};
use crate::settings::Settings;

/// Copy the shared bucket's metadata and latest backups into a local cache, incrementally.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Required: Needs --metadata-path (or CS_CMDB_METADATA_PATH, or metadata-path in cs-cmdb.toml).\n\nExamples:\n  cs-cmdb query deployments --source \"$(cs-cmdb --metadata-path s3://my-cmdb-bucket/clonesquad mirror)\"\n  cs-cmdb --metadata-path s3://my-cmdb-bucket/clonesquad mirror --output json"
)]
pub struct Args {
    /// Cache root; the mirror goes to <root>/mirror/<bucket>/<prefix hash> [default: <cache dir>/cs-cmdb].
    #[arg(long, env = "CS_CMDB_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Parallel S3 calls (listings and downloads).
    #[arg(long, default_value_t = crate::bucket::list::DEFAULT_CONCURRENCY as u16, value_parser = clap::value_parser!(u16).range(1..=512))]
    pub concurrency: u16,
}

pub async fn run(args: Args, settings: &Settings, printer: &Printer) -> anyhow::Result<Outcome> {
    let path = settings.require_metadata_path()?;
    let dir = mirror::mirror_dir(&settings.cache_root(args.cache_dir), path);
    let config = crate::aws::sdk_config(&settings.aws, printer).await?;
    let report = mirror::sync(
        &config,
        path,
        &dir,
        mirror::Limits {
            concurrency: usize::from(args.concurrency),
            max_object_bytes: settings.max_object_bytes,
        },
        printer,
    )
    .await?;
    printer.summary(&mirror::summary(path, &report));
    if printer.format() == crate::render::Format::Table {
        // The bare directory, for `--source "$(cs-cmdb mirror)"`.
        printer.line(&report.dir.display().to_string())?;
    } else {
        printer.rows(&to_result_set(&report))?;
    }
    Ok(if report.stats.failed > 0 {
        Outcome::Failures
    } else {
        Outcome::Success
    })
}

/// The run as one row (for every format but the table, which prints the bare directory).
fn to_result_set(report: &mirror::MirrorReport) -> ResultSet {
    let s = &report.stats;
    let int = |n: u64| Value::Int(i64::try_from(n).unwrap_or(i64::MAX));
    let counts = [
        ("listed", s.listed as u64),
        ("fetched", s.fetched as u64),
        ("unchanged", s.unchanged as u64),
        ("deleted", s.deleted as u64),
        ("skipped", s.skipped as u64),
        ("failed", s.failed as u64),
        ("bytes", s.bytes),
    ];
    let mut columns = vec![Column::new("dir", ColumnType::String)];
    let mut row = vec![Value::Str(report.dir.display().to_string())];
    for (name, n) in counts {
        columns.push(Column::new(name, ColumnType::Integer));
        row.push(int(n));
    }
    ResultSet {
        columns,
        rows: vec![row],
    }
}
