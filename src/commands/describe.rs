//! `cs-cmdb describe TABLE`: a table's columns, nested fields included, from the shipped DDL.

use anyhow::bail;

use crate::catalog::ddl::{self, ColumnDef, HiveType};
use crate::exit::Outcome;
use crate::printer::Printer;
use crate::rows::{Column, ColumnType, ResultSet, Value};
use crate::settings::Settings;

/// Show a table's columns and their types, nested fields as dotted paths (`state.name`,
/// `tags[].key`), the partition columns, and the JSON key each column reads.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  cs-cmdb describe clonesquad_discovery\n  cs-cmdb describe clonesquad_instances --output csv | grep state"
)]
pub struct Args {
    /// The table (see `cs-cmdb tables`).
    #[arg(value_name = "TABLE", add = clap_complete::engine::ArgValueCandidates::new(table_names))]
    pub table: String,
}

/// The table names, for shell completion.
pub fn table_names() -> Vec<clap_complete::CompletionCandidate> {
    ddl::all_tables()
        .unwrap_or_default()
        .into_iter()
        .map(|t| clap_complete::CompletionCandidate::new(t.name))
        .collect()
}

pub fn run(args: Args, _: &Settings, printer: &Printer) -> anyhow::Result<Outcome> {
    let tables = ddl::all_tables()?;
    let wanted = args.table.to_lowercase();
    let Some(table) = tables.iter().find(|t| t.name == wanted) else {
        let known: Vec<String> = tables.iter().map(|t| t.name.clone()).collect();
        let hint = crate::text::closest(&wanted, &known)
            .map(|close| format!("did you mean `{close}`? "))
            .unwrap_or_default();
        bail!(
            "no table `{}`; {hint}the tables: {}",
            args.table,
            known.join(", ")
        );
    };
    let mut rows = Vec::new();
    for column in &table.columns {
        flatten(&column.name, column, &mut rows);
    }
    for partition in &table.partitions {
        rows.push(vec![
            Value::Str(partition.clone()),
            Value::Str("string".into()),
            Value::Str("partition".into()),
            Value::Null,
        ]);
    }
    printer.rows(&ResultSet {
        columns: vec![
            Column::new("column", ColumnType::String),
            Column::new("type", ColumnType::String),
            Column::new("kind", ColumnType::String),
            Column::new("json_key", ColumnType::String),
        ],
        rows,
    })?;
    Ok(Outcome::Success)
}

/// A column, then its nested fields as dotted paths (`[]` for the items of an array).
fn flatten(path: &str, column: &ColumnDef, rows: &mut Vec<Vec<Value>>) {
    let kind = match column.ty {
        HiveType::Struct(_) | HiveType::Array(_) | HiveType::Map(..) => "nested",
        _ => "scalar",
    };
    let ty = match &column.ty {
        HiveType::Struct(_) => "struct".to_string(),
        HiveType::Array(item) if matches!(**item, HiveType::Struct(_)) => {
            "array<struct>".to_string()
        }
        other => other.catalog_name(),
    };
    rows.push(vec![
        Value::Str(path.to_string()),
        Value::Str(ty),
        Value::Str(kind.into()),
        Value::Str(column.key.clone()),
    ]);
    let fields = match &column.ty {
        HiveType::Struct(fields) => Some((fields, format!("{path}."))),
        HiveType::Array(item) => match &**item {
            HiveType::Struct(fields) => Some((fields, format!("{path}[]."))),
            _ => None,
        },
        _ => None,
    };
    if let Some((fields, prefix)) = fields {
        for field in fields {
            flatten(&format!("{prefix}{}", field.name), field, rows);
        }
    }
}
