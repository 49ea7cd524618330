//! `cs-cmdb` binary: parse arguments, set up logging, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // `COMPLETE=bash cs-cmdb` prints the shell's dynamic completion script; with COMPLETE set by
    // that script, this answers the completion (query and table names included) and exits.
    clap_complete::CompleteEnv::with_factory(<cs_cmdb::cli::Cli as clap::CommandFactory>::command)
        .complete();
    let cli = cs_cmdb::cli::Cli::parse();
    cs_cmdb::logging::init(cli.global.verbose, cli.global.quiet, cli.global.no_color);
    cs_cmdb::exit::code(cs_cmdb::run(cli))
}
