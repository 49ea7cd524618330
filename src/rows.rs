//! The shape of rows every layer shares: named, typed columns and their values. Engines produce
//! them, commands build them from AWS answers, `render` writes them; none needs the others.

use chrono::NaiveDateTime;

/// The type of a result column, as the renderers need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Boolean,
    Integer,
    Float,
    String,
    Timestamp,
    Date,
    /// Arrays, structs and maps: rendered as JSON.
    Nested,
}

/// A named, typed result column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub ty: ColumnType,
}

impl Column {
    pub fn new(name: impl Into<String>, ty: ColumnType) -> Self {
        Self {
            name: name.into(),
            ty,
        }
    }
}

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// A UTC instant (CloneSquad's timestamps are UTC without a zone).
    Timestamp(NaiveDateTime),
    Date(chrono::NaiveDate),
    /// Arrays, structs and maps.
    Json(serde_json::Value),
}

impl Value {
    /// The text a person reads (tables, CSV, Markdown); `None` for NULL.
    pub fn display(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(format_float(*f)),
            Value::Str(s) => Some(s.clone()),
            Value::Timestamp(t) => Some(format_timestamp(t)),
            Value::Date(d) => Some(d.format("%Y-%m-%d").to_string()),
            Value::Json(v) => Some(v.to_string()),
        }
    }

    /// The typed JSON value (`--format json`).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => (*b).into(),
            Value::Int(i) => (*i).into(),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or_else(|| serde_json::Value::String(format_float(*f))),
            Value::Json(v) => v.clone(),
            other => other
                .display()
                .map(serde_json::Value::String)
                .unwrap_or(serde_json::Value::Null),
        }
    }
}

/// `2026-11-26 09:00:01` or `2026-11-26 09:00:01.123456` (fraction only when not zero).
pub fn format_timestamp(t: &NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.f").to_string()
}

fn format_float(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{f:.1}")
    } else {
        f.to_string()
    }
}

/// Named, typed columns and their rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultSet {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
}
