//! `cs-cmdb mirror`: the bucket's metadata and latest backups copied into the local cache,
//! incrementally; prints the mirror's directory (a `--source` for `query` and `check`).

use std::path::PathBuf;

use crate::exit::Outcome;
use crate::mirror;
use crate::printer::Printer;
use crate::settings::Settings;

/// Copy the shared bucket's metadata and latest backups into a local cache, incrementally.
#[derive(Debug, clap::Args)]
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
    printer.line(&report.dir.display().to_string())?;
    Ok(if report.stats.failed > 0 {
        Outcome::Failures
    } else {
        Outcome::Success
    })
}
