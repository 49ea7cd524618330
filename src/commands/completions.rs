//! `cs-cmdb completions`: a shell completion script on stdout.

use clap::CommandFactory;

use crate::cli::Cli;
use crate::exit::Outcome;
use crate::printer::Printer;
use crate::settings::Settings;

/// Print a shell completion script to stdout.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to generate for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub fn run(args: Args, _: &Settings, printer: &Printer) -> anyhow::Result<Outcome> {
    // clap_complete panics on a failed write: render into memory, then write.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "cs-cmdb", &mut script);
    printer.bytes(&script)?;
    Ok(Outcome::Success)
}
