//! Integration tests: one crate, so the suite links once.

// What a test prints is the harness's business; the print lints guard the tool's own output.
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[macro_use]
mod support;

mod accounts;
mod backups;
mod bench;
mod check;
mod cli;
mod ddl_conformance;
mod discover;
mod export;
mod hostile;
mod iam;
mod install;
mod lifecycle;
mod mirror;
mod org;
mod output;
mod partitions;
mod profiles;
mod query;
mod query_athena;
mod quiet;
mod report;
mod sample;
mod settings;
mod shaping;
mod sql_files;
mod whoami;
