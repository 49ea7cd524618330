//! `cs-cmdb tables`: the tables both engines know, from the shipped DDL (no data read, no AWS).

use crate::catalog::ddl::{self, Base};
use crate::exit::Outcome;
use crate::printer::Printer;
use crate::rows::{Column, ColumnType, ResultSet, Value};
use crate::settings::Settings;

/// List the tables both engines know (the six CloneSquad tables and the two Organization
/// tables): columns, partitions, folder, and the DDL file that defines them.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  cs-cmdb tables\n  cs-cmdb describe clonesquad_instances\n  cs-cmdb query --sql 'SHOW TABLES' --source examples"
)]
pub struct Args {}

pub fn run(_: Args, _: &Settings, printer: &Printer) -> anyhow::Result<Outcome> {
    let tables = ddl::all_tables()?;
    let rows = tables
        .iter()
        .map(|t| {
            vec![
                Value::Str(t.name.clone()),
                Value::Int(i64::try_from(t.columns.len()).unwrap_or(i64::MAX)),
                if t.partitions.is_empty() {
                    Value::Null
                } else {
                    Value::Str(t.partitions.join(", "))
                },
                Value::Str(match t.base {
                    Base::Metadata => format!("<metadata-path>/{}", t.folder),
                    Base::Org => format!("<org snapshot>/{}", t.folder),
                }),
                Value::Str(format!("ddl/{}.sql", t.name)),
            ]
        })
        .collect();
    let narrow = ["table", "columns", "ddl_file"].map(String::from);
    printer.rows_narrowed(
        &ResultSet {
            columns: vec![
                Column::new("table", ColumnType::String),
                Column::new("columns", ColumnType::Integer),
                Column::new("partitions", ColumnType::String),
                Column::new("location", ColumnType::String),
                Column::new("ddl_file", ColumnType::String),
            ],
            rows,
        },
        &narrow,
    )?;
    Ok(Outcome::Success)
}
