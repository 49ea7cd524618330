//! Integration tests: one crate, so the suite links once.

mod accounts;
mod cli;
mod fanout;
mod query;
mod support;
