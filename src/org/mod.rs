//! The Organization: its accounts, and the fan-out over account × region targets.

pub mod accounts;
pub mod commands;
pub mod deployments;
pub mod export;
pub mod fanout;
