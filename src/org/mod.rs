//! The Organization: its accounts, and (later) the fan-out over account × region targets.

pub mod accounts;
