//! Integration tests: one crate, so the suite links once.

mod accounts;
mod check;
mod cli;
mod query;
mod support;
