//! `cs-cmdb sample`: a synthetic metadata tree in CloneSquad's exact layout.

use std::path::PathBuf;

use crate::exit::Outcome;
use crate::printer::Printer;
use crate::sample::{self, SampleSpec};
use crate::settings::Settings;

/// Write a synthetic metadata tree in CloneSquad's exact layout (for trials and benchmarks).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  cs-cmdb sample --out /tmp/fleet --deployments 100\n  cs-cmdb query deployments --source /tmp/fleet"
)]
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

    /// Write into --out even when it is not empty (files of the same name are replaced, others
    /// stay: the trees mix).
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: Args, _: &Settings, printer: &Printer) -> anyhow::Result<Outcome> {
    let occupied = std::fs::read_dir(&args.out)
        .map(|mut entries| entries.next().is_some())
        .unwrap_or(false);
    if occupied && !args.force {
        anyhow::bail!(
            "{} is not empty: a sample written there would mix with what it holds; pick an empty or new directory, or pass --force",
            args.out.display()
        );
    }
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
