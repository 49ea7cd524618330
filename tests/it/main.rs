//! Integration tests: one crate, so the suite links once.

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
mod sample;
mod sql_files;
mod support;
mod whoami;
