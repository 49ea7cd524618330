//! Integration tests: one crate, so the suite links once.

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
mod iam;
mod install;
mod mirror;
mod output;
mod partitions;
mod profiles;
mod query;
mod query_athena;
mod sample;
mod settings;
mod sql_files;
mod whoami;
