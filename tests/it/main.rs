//! Integration tests: one crate, so the suite links once.

mod accounts;
mod bench;
mod cli;
mod fanout;
mod iam;
mod query;
mod support;
