//! Flags several commands share: where the metadata is and which engine reads it (`query`,
//! `check`), and where Athena runs (`install`, `partitions` too).

use std::path::PathBuf;

use crate::engine::athena::AthenaOptions;
use crate::engine::{EngineKind, OpenOptions};
use crate::settings::Settings;

/// Where Athena runs (install, partitions, query --engine athena).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AthenaArgs {
    /// Athena database holding the CloneSquad tables [default: cs_cmdb].
    #[arg(long, env = "CS_CMDB_DATABASE", value_name = "NAME")]
    pub database: Option<String>,

    /// Athena workgroup [default: the workgroup's account default, primary].
    #[arg(long, env = "CS_CMDB_WORKGROUP", value_name = "NAME")]
    pub workgroup: Option<String>,

    /// Where Athena writes results (s3://...), unless the workgroup enforces one.
    #[arg(long, env = "CS_CMDB_OUTPUT_LOCATION", value_name = "S3_PATH", value_parser = s3_location)]
    pub output_location: Option<String>,
}

/// `--output-location` must be an S3 location: `--output-location json` (the AWS CLI's
/// `--output json` typed in full) is an error, not a setting silently ignored.
fn s3_location(text: &str) -> Result<String, String> {
    if text.starts_with("s3://") && text.len() > "s3://".len() {
        Ok(text.to_string())
    } else {
        Err(format!(
            "`{text}` is not an S3 location (s3://bucket/prefix/); for the format of the output, use --output {text}"
        ))
    }
}

impl AthenaArgs {
    /// Athena options: flags/env over the config file over defaults.
    pub fn options(&self, settings: &Settings, reuse_minutes: Option<i32>) -> AthenaOptions {
        let defaults = AthenaOptions::default();
        AthenaOptions {
            database: self
                .database
                .clone()
                .or_else(|| settings.database.clone())
                .unwrap_or(defaults.database),
            workgroup: self
                .workgroup
                .clone()
                .or_else(|| settings.workgroup.clone()),
            output_location: self
                .output_location
                .clone()
                .or_else(|| settings.output_location.clone()),
            reuse_minutes,
            ..defaults
        }
    }
}

/// Where the metadata is and which engine reads it: the flags `query` and `check` share.
#[derive(Debug, Clone, clap::Args)]
pub struct SourceArgs {
    /// Where the metadata is: a local copy of <MetadataAndBackupS3Path> (holding metadata/, and
    /// backups/ for `check`), or s3://bucket/prefix, mirrored into the cache first (see
    /// `cs-cmdb mirror`).
    #[arg(long, env = "CS_CMDB_SOURCE", value_name = "DIR")]
    pub source: Option<String>,

    /// Which engine runs the SQL [default: local].
    #[arg(long, env = "CS_CMDB_ENGINE", value_enum)]
    pub engine: Option<EngineKind>,

    /// Where the embedded engine keeps its columnar cache [default: <cache dir>/cs-cmdb].
    #[arg(long, env = "CS_CMDB_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    #[command(flatten)]
    pub athena: AthenaArgs,

    /// With --source s3://...: query the existing mirror as is, without contacting S3.
    #[arg(long)]
    pub offline: bool,
}

impl SourceArgs {
    /// `--source`, else `source` from the settings.
    pub fn source(&self, settings: &Settings) -> Option<String> {
        self.source.clone().or_else(|| settings.source.clone())
    }

    /// The engine to open: flags over the config file over defaults (the embedded engine).
    pub fn options(
        &self,
        settings: &Settings,
        reuse_minutes: Option<i32>,
        strict: bool,
    ) -> OpenOptions {
        OpenOptions {
            kind: self.engine.or(settings.engine).unwrap_or(EngineKind::Local),
            source: self.source(settings),
            cache_root: settings.cache_root(self.cache_dir.clone()),
            athena: self.athena.options(settings, reuse_minutes),
            offline: self.offline,
            strict,
            org_dir: None,
            max_object_bytes: settings.max_object_bytes,
            max_line_bytes: settings.max_line_bytes,
        }
    }
}

impl clap::ValueEnum for EngineKind {
    fn value_variants<'a>() -> &'a [Self] {
        &[EngineKind::Local, EngineKind::Athena]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(match self {
            EngineKind::Local => clap::builder::PossibleValue::new("local").help(
                "The embedded engine (DataFusion) over a local metadata tree: no AWS account needed",
            ),
            EngineKind::Athena => {
                clap::builder::PossibleValue::new("athena").help("Amazon Athena over the shared bucket")
            }
        })
    }
}
