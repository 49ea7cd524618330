//! `cs-cmdb`: governance CMDB for CloneSquad deployments across an AWS Organization.
//!
//! The binary parses the command line ([`cli`]) and calls [`run`], which resolves the settings
//! once, builds the one [`printer::Printer`], and hands both to the subcommand's file in
//! [`commands`]. Below `commands/`, every module is a library taking plain options; the README's
//! "Architecture" section gives each one's job.

// The sample generator's realistic EC2 records are deep `json!` literals.
#![recursion_limit = "256"]

pub mod aws;
pub mod backups;
pub mod bucket;
pub mod catalog;
pub mod check;
pub mod cli;
pub mod codec;
pub mod commands;
pub mod engine;
pub mod errors;
pub mod exit;
pub mod hash;
pub mod logging;
pub mod mirror;
pub mod org;
pub mod printer;
pub mod queries;
pub mod render;
pub mod report;
pub mod reporter;
pub mod rows;
pub mod sample;
pub mod settings;
pub mod text;
pub mod time;

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::{Cli, Command};
use crate::exit::Outcome;
use crate::printer::Printer;
use crate::settings::Settings;

/// Run one command line to its end.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    // Completions and man pages need no settings: a broken config file must not stop them.
    let flags = cli.global.flags();
    let settings = match cli.command {
        Command::Completions(_) | Command::Man(_) => Settings::without_config(&flags),
        _ => Settings::load(&flags)?,
    };
    let printer = Printer::new(&settings);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let (settings, printer) = (&settings, &printer);
    let outcome = runtime.block_on(async move {
        match cli.command {
            Command::Accounts(args) => commands::accounts::run(args, settings, printer).await,
            Command::Whoami(args) => commands::whoami::run(args, settings, printer).await,
            Command::Query(args) => commands::query::run(args, settings, printer).await,
            Command::Tables(args) => commands::tables::run(args, settings, printer),
            Command::Describe(args) => commands::describe::run(args, settings, printer),
            Command::Install(args) => commands::install::run(args, settings, printer).await,
            Command::Partitions(args) => commands::partitions::run(args, settings, printer).await,
            Command::Discover(args) => commands::discover::run(args, settings, printer).await,
            Command::Export(args) => commands::export::run(args, settings, printer).await,
            Command::Mirror(args) => commands::mirror::run(args, settings, printer).await,
            Command::Backups(args) => commands::backups::run(args, settings, printer).await,
            Command::Sample(args) => commands::sample::run(args, settings, printer),
            Command::Check(args) => commands::check::run(args, settings, printer).await,
            Command::Org(args) => commands::org::run(args, settings, printer).await,
            Command::Report(args) => commands::report::run(args, settings, printer).await,
            Command::Completions(args) => commands::completions::run(args, Cli::command(), printer),
            Command::Man(args) => commands::man::run(args, Cli::command(), printer),
        }
    });
    // The command is done and its tasks awaited: the process exits without waiting for the
    // pool's idle threads to wind down (about 4 ms of a 40 ms query). A blocking task still
    // running is one a command that failed early left behind (a cache refresh, a lock waiter):
    // stopping it is safe, as the cache and the mirror write under fresh names and rename.
    runtime.shutdown_background();
    outcome
}
