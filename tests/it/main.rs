//! Integration tests: one crate, so the suite links once.

mod accounts;
mod cli;
mod mirror;
mod query;
mod support;
