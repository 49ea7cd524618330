//! The shared bucket CloneSquad deployments write to: its layout, and nothing of it spelled
//! anywhere else.

pub mod layout;
pub mod lifecycle;
pub mod list;
pub mod manifest;
