//! The compliance gate's library: a policy → violations → reports, for `cs-cmdb check`.
//!
//! - [`policy`]: the TOML policy, validated once (file and line in every error).
//! - [`eval`]: each rule kind, over facts from the query engine, the backups tree and AWS.
//! - [`report`]: exemptions, the violations table, the summary, JUnit and SARIF.
//!
//! A rule that cannot be evaluated is an error, or (coverage, archive_lifecycle, backups without
//! a local tree) an explicit skip with a notice — never a pass.

pub mod eval;
pub mod policy;
pub mod report;
