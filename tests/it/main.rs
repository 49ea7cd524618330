//! Integration tests: one crate, so the suite links once.

mod accounts;
mod athena;
mod check;
mod cli;
mod query;
mod sql_files;
mod support;
