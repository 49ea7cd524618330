//! Query engines behind one trait: SQL text and bound parameters in, rows ([`ResultSet`]) out.

pub mod athena;
pub mod local;

use std::fmt;

use futures::future::BoxFuture;

use crate::rows::ResultSet;

/// Which query engine runs the SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// The embedded engine (DataFusion) over a local metadata tree: no AWS account needed.
    Local,
    /// Amazon Athena over the shared bucket.
    Athena,
}

/// A bound query parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl fmt::Display for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Param::Str(s) => write!(f, "{s}"),
            Param::Int(i) => write!(f, "{i}"),
            Param::Float(x) => write!(f, "{x}"),
            Param::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// A query engine: SQL text with positional `?` parameters in, a result set out.
pub trait QueryEngine: Send + Sync {
    /// A short name for messages (`local`, `athena`).
    fn name(&self) -> &'static str;

    /// Run one statement; `params` bind the `?` placeholders in order.
    fn run<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [Param],
    ) -> BoxFuture<'a, anyhow::Result<ResultSet>>;
}
