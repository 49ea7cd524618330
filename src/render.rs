//! Turning a result set into text on stdout: one place decides formats, colours and widths.

use std::io::{self, IsTerminal, Write};

use comfy_table::{Attribute, Cell, CellAlignment, Color, ContentArrangement, Table, presets};

use crate::cli::Format;
use crate::engine::{ColumnType, ResultSet, Value};

/// Whether stdout may carry colours: a terminal, and `NO_COLOR` unset.
pub fn stdout_color() -> bool {
    no_color_unset() && io::stdout().is_terminal()
}

/// Whether stderr may carry colours.
pub fn stderr_color() -> bool {
    no_color_unset() && io::stderr().is_terminal()
}

fn no_color_unset() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Write `rs` to `out` in `format`. `color` only affects tables.
pub fn write(out: &mut dyn Write, rs: &ResultSet, format: Format, color: bool) -> io::Result<()> {
    match format {
        Format::Table => write_table(out, rs, color),
        Format::Json => write_json(out, rs),
        Format::Csv => write_csv(out, rs),
        Format::Markdown => write_markdown(out, rs),
    }
}

/// Render to stdout (buffered, flushed at the end).
pub fn to_stdout(rs: &ResultSet, format: Format, color: bool) -> io::Result<()> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    write(&mut out, rs, format, color)?;
    out.flush()
}

fn numeric(ty: ColumnType) -> bool {
    matches!(ty, ColumnType::Integer | ColumnType::Float)
}

fn write_table(out: &mut dyn Write, rs: &ResultSet, color: bool) -> io::Result<()> {
    let mut table = Table::new();
    table.load_preset(presets::UTF8_FULL_CONDENSED);
    if io::stdout().is_terminal() {
        table.set_content_arrangement(ContentArrangement::Dynamic);
    } else {
        table.force_no_tty();
    }
    if color {
        table.enforce_styling();
    }
    let header = rs.columns.iter().map(|c| {
        let cell = Cell::new(&c.name);
        if color {
            cell.add_attribute(Attribute::Bold)
        } else {
            cell
        }
    });
    table.set_header(header);
    for row in &rs.rows {
        table.add_row(row.iter().zip(&rs.columns).map(|(value, column)| {
            let cell = match value.display() {
                Some(text) => Cell::new(text),
                None if color => Cell::new("NULL").fg(Color::DarkGrey),
                None => Cell::new("NULL"),
            };
            if numeric(column.ty) {
                cell.set_alignment(CellAlignment::Right)
            } else {
                cell
            }
        }));
    }
    writeln!(out, "{table}")
}

fn write_json(out: &mut dyn Write, rs: &ResultSet) -> io::Result<()> {
    let rows: Vec<serde_json::Value> = rs
        .rows
        .iter()
        .map(|row| {
            let object: serde_json::Map<String, serde_json::Value> = rs
                .columns
                .iter()
                .zip(row)
                .map(|(c, v)| (c.name.clone(), v.to_json()))
                .collect();
            serde_json::Value::Object(object)
        })
        .collect();
    serde_json::to_writer_pretty(&mut *out, &rows)?;
    writeln!(out)
}

fn write_csv(out: &mut dyn Write, rs: &ResultSet) -> io::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(rs.columns.iter().map(|c| c.name.as_str()))?;
    for row in &rs.rows {
        writer.write_record(row.iter().map(|v| v.display().unwrap_or_default()))?;
    }
    writer.flush()
}

fn markdown_cell(value: &Value) -> String {
    value
        .display()
        .unwrap_or_default()
        .replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

fn write_markdown(out: &mut dyn Write, rs: &ResultSet) -> io::Result<()> {
    let names: Vec<String> = rs
        .columns
        .iter()
        .map(|c| c.name.replace('|', "\\|"))
        .collect();
    writeln!(out, "| {} |", names.join(" | "))?;
    let rule: Vec<&str> = rs
        .columns
        .iter()
        .map(|c| if numeric(c.ty) { "---:" } else { "---" })
        .collect();
    writeln!(out, "| {} |", rule.join(" | "))?;
    for row in &rs.rows {
        let cells: Vec<String> = row.iter().map(markdown_cell).collect();
        writeln!(out, "| {} |", cells.join(" | "))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Column;

    fn sample() -> ResultSet {
        ResultSet {
            columns: vec![
                Column::new("name", ColumnType::String),
                Column::new("n", ColumnType::Integer),
                Column::new("tags", ColumnType::Nested),
            ],
            rows: vec![
                vec![
                    Value::Str("a|b, \"c\"".into()),
                    Value::Int(3),
                    Value::Json(serde_json::json!(["x"])),
                ],
                vec![Value::Null, Value::Null, Value::Null],
            ],
        }
    }

    fn render(format: Format) -> String {
        let mut buf = Vec::new();
        write(&mut buf, &sample(), format, false).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn json_is_typed_with_nulls() {
        let v: serde_json::Value = serde_json::from_str(&render(Format::Json)).unwrap();
        assert_eq!(
            v,
            serde_json::json!([
                {"name": "a|b, \"c\"", "n": 3, "tags": ["x"]},
                {"name": null, "n": null, "tags": null}
            ])
        );
    }

    #[test]
    fn csv_quotes_and_leaves_nulls_empty() {
        assert_eq!(
            render(Format::Csv),
            "name,n,tags\n\"a|b, \"\"c\"\"\",3,\"[\"\"x\"\"]\"\n,,\n"
        );
    }

    #[test]
    fn markdown_escapes_pipes() {
        let md = render(Format::Markdown);
        assert!(md.starts_with("| name | n | tags |\n| --- | ---: | --- |\n"));
        assert!(md.contains("a\\|b"));
    }
}
