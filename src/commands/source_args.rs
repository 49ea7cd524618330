//! Flags several commands share: where Athena runs (`install`, `partitions`, `query`, `check`).

use crate::engine::athena::AthenaOptions;
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
    #[arg(long, env = "CS_CMDB_OUTPUT_LOCATION", value_name = "S3_PATH")]
    pub output_location: Option<String>,
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
