//! Where `report` and `check` keep the fleet's history (one summary line per run, charted by
//! the report).

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::bucket::S3Path;
use crate::printer::Printer;
use crate::report::history::{self, Store};
use crate::settings::Settings;

/// The history file's flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct HistoryArgs {
    /// Where this run appends its summary line (the report charts the last 90 days): a file, or
    /// s3://bucket/prefix shared by every runner (one object per run, below a folder per
    /// source) [default: one file per source in <cache dir>/cs-cmdb/history/].
    #[arg(long, env = "CS_CMDB_HISTORY", value_name = "FILE|S3_PATH")]
    pub history: Option<String>,

    /// Neither read nor append the history.
    #[arg(long, conflicts_with = "history")]
    pub no_history: bool,
}

impl HistoryArgs {
    /// The history of the fleet `source` names (`None`: Athena), unless `--no-history`.
    pub async fn store(
        &self,
        settings: &Settings,
        printer: &Printer,
        cache_root: &Path,
        source: Option<&str>,
    ) -> anyhow::Result<Option<Store>> {
        if self.no_history {
            return Ok(None);
        }
        let fleet = source.unwrap_or("athena");
        Ok(Some(match &self.history {
            Some(text) if text.starts_with("s3://") => {
                let prefix: S3Path = text
                    .parse()
                    .with_context(|| format!("invalid --history `{text}`"))?;
                let config = crate::aws::sdk_config(&settings.aws, printer).await?;
                Store::bucket(crate::aws::s3_client(&config), &prefix, fleet)
            }
            Some(file) => Store::File(PathBuf::from(file)),
            None => Store::File(history::path(cache_root, fleet)),
        }))
    }
}
