//! `cs-cmdb sample`: a synthetic metadata tree in CloneSquad's exact layout.

use std::path::PathBuf;

use crate::exit::Outcome;
use crate::printer::Printer;
use crate::sample::{self, SampleSpec};
use crate::settings::Settings;

/// Write a synthetic metadata tree in CloneSquad's exact layout (for trials and benchmarks).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to write into; it receives metadata/ and backups/ like <MetadataAndBackupS3Path>.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Number of deployments (account × region × group).
    #[arg(long, default_value_t = 12)]
    pub deployments: usize,

    /// Average number of managed instances per deployment.
    #[arg(long, default_value_t = 8)]
    pub instances: usize,

    /// Seed of the generator (same seed, same tree).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

pub fn run(args: Args, _: &Settings, printer: &Printer) -> anyhow::Result<Outcome> {
    let spec = SampleSpec {
        deployments: args.deployments,
        instances: args.instances,
        seed: args.seed,
        now: crate::time::now()?.naive_utc(),
    };
    let stats = sample::generate(&args.out, &spec)?;
    printer.summary(&format!(
        "wrote {} deployments, {} instances, {} files under {}",
        stats.deployments,
        stats.instances,
        stats.files,
        args.out.display()
    ));
    Ok(Outcome::Success)
}
