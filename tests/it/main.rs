//! Integration tests: one crate, so the suite links once.

// What a test prints is the harness's business; the print lints guard the tool's own output.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod accounts;
mod athena;
mod bench;
mod check;
mod cli;
mod ddl_conformance;
mod fanout;
mod iam;
mod lifecycle;
mod mirror;
mod profiles;
mod query;
mod quiet;
mod sample;
mod sql_files;
mod support;
mod whoami;
