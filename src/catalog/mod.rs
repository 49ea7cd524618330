//! The CloneSquad tables: their DDL (shared by Athena and the embedded engine).

pub mod ddl;
pub mod install;
pub mod partitions;
