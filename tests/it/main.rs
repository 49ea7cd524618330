//! Integration tests: one crate, so the suite links once.

#[macro_use]
mod support;

mod accounts;
mod bench;
mod check;
mod cli;
mod ddl_conformance;
mod fanout;
mod iam;
mod install;
mod mirror;
mod partitions;
mod profiles;
mod query;
mod query_athena;
mod sample;
mod sql_files;
mod whoami;
