//! Integration tests: one crate, so the suite links once.

mod accounts;
mod cli;
mod query;
mod support;
