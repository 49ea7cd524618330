//! `cs-cmdb` binary: parse arguments, set up logging, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cs_cmdb::cli::Cli::parse();
    cs_cmdb::logging::init(cli.global.verbose, cli.global.quiet, cli.global.no_color);
    cs_cmdb::exit::code(cs_cmdb::run(cli))
}
