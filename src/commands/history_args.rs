//! Where `report` and `check` keep the fleet's history (one summary line per run, charted by
//! the report).

use std::path::{Path, PathBuf};

use crate::report::history;

/// The history file's flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct HistoryArgs {
    /// The history file this run appends one summary line to (the report charts its last 90
    /// days) [default: one per source in <cache dir>/cs-cmdb/history/].
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,

    /// Neither read nor append the history.
    #[arg(long, conflicts_with = "history")]
    pub no_history: bool,
}

impl HistoryArgs {
    /// The file, unless `--no-history`; `source` names the fleet (`None`: Athena).
    pub fn file(&self, cache_root: &Path, source: Option<&str>) -> Option<PathBuf> {
        if self.no_history {
            return None;
        }
        Some(
            self.history
                .clone()
                .unwrap_or_else(|| history::path(cache_root, source.unwrap_or("athena"))),
        )
    }
}
