//! `cs-cmdb completions`: a shell completion script on stdout.

use crate::exit::Outcome;
use crate::printer::Printer;

/// Print a shell completion script to stdout.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  cs-cmdb completions bash > /etc/bash_completion.d/cs-cmdb\n  source <(COMPLETE=bash cs-cmdb)   # dynamic: completes query and table names too"
)]
pub struct Args {
    /// The shell to generate for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `cli`: the whole command tree (from `cli.rs`, which names this file's `Args`).
pub fn run(args: Args, mut cli: clap::Command, printer: &Printer) -> anyhow::Result<Outcome> {
    // clap_complete panics on a failed write: render into memory, then write.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cli, "cs-cmdb", &mut script);
    printer.bytes(&script)?;
    Ok(Outcome::Success)
}
