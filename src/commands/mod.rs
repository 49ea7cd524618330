//! One file per subcommand: its clap `Args` and its `run(args, &Settings, &Printer)`, which
//! reads the settings, calls the libraries below with plain options, and tells the user through
//! the printer. Only this folder and `cli.rs` know the command line.
//!
//! Two files hold flag groups several commands flatten: `source_args.rs` (where the metadata is,
//! which engine reads it, where Athena runs) and `fanout_args.rs` (which account × region
//! targets a fan-out visits, and how).

pub mod accounts;
pub mod backups;
pub mod check;
pub mod completions;
pub mod describe;
pub mod discover;
pub mod export;
pub mod fanout_args;
pub mod history_args;
pub mod install;
pub mod man;
pub mod mirror;
pub mod org;
pub mod org_args;
pub mod partitions;
pub mod query;
pub mod report;
pub mod sample;
pub mod source_args;
pub mod tables;
pub mod whoami;
