//! Turning a result set into text: one place decides formats, colours and widths. The
//! [`crate::printer::Printer`] sends it to stdout.

use std::io::{self, IsTerminal, Write};

use comfy_table::{Attribute, Cell, CellAlignment, Color, ContentArrangement, Table, presets};

use crate::rows::{Column, ColumnType, ResultSet, Value};

/// How data on stdout is formatted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A table for people to read.
    Table,
    /// A JSON array of objects keyed by column name, typed values.
    Json,
    /// CSV with a header row.
    Csv,
    /// A GitHub-flavoured Markdown table.
    Markdown,
}

/// Write `rs` to `out` in `format`. `color` only affects tables.
pub fn write(out: &mut dyn Write, rs: &ResultSet, format: Format, color: bool) -> io::Result<()> {
    match format {
        Format::Table => write_table(out, rs, color),
        Format::Json | Format::Csv | Format::Markdown => write_streamed(out, rs, format),
    }
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
            // Tables are for people on terminals: text from the bucket or AWS is shown escaped.
            let cell = match value.display() {
                Some(text) => Cell::new(crate::text::escape(&text)),
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

/// Incremental output for formats that need no look-ahead (JSON, CSV, Markdown): pages of rows
/// are written as they arrive, so memory stays flat on large results. Tables need every row for
/// their widths and are rendered whole.
pub struct Stream<W: Write> {
    out: W,
    format: Format,
    columns: Vec<Column>,
    rows: usize,
}

impl<W: Write> Stream<W> {
    /// Start a stream (`Format::Table` is not streamable: use [`write`]).
    pub fn new(out: W, format: Format, columns: &[Column]) -> io::Result<Self> {
        let stream = Self {
            out,
            format,
            columns: columns.to_vec(),
            rows: 0,
        };
        stream.begin()
    }

    fn begin(mut self) -> io::Result<Self> {
        match self.format {
            Format::Json => write!(self.out, "[")?,
            Format::Csv => {
                let mut writer = csv::Writer::from_writer(&mut self.out);
                writer.write_record(self.columns.iter().map(|c| c.name.as_str()))?;
                writer.flush()?;
            }
            Format::Markdown => {
                let names: Vec<String> = self
                    .columns
                    .iter()
                    .map(|c| c.name.replace('|', "\\|"))
                    .collect();
                writeln!(self.out, "| {} |", names.join(" | "))?;
                let rule: Vec<&str> = self
                    .columns
                    .iter()
                    .map(|c| if numeric(c.ty) { "---:" } else { "---" })
                    .collect();
                writeln!(self.out, "| {} |", rule.join(" | "))?;
            }
            Format::Table => {
                return Err(io::Error::other("tables are rendered whole, not streamed"));
            }
        }
        Ok(self)
    }

    /// Write some rows.
    pub fn rows(&mut self, rows: &[Vec<Value>]) -> io::Result<()> {
        match self.format {
            Format::Json => {
                for row in rows {
                    let object: serde_json::Map<String, serde_json::Value> = self
                        .columns
                        .iter()
                        .zip(row)
                        .map(|(c, v)| (c.name.clone(), v.to_json()))
                        .collect();
                    let text = serde_json::to_string_pretty(&serde_json::Value::Object(object))?;
                    let sep = if self.rows == 0 { "" } else { "," };
                    write!(self.out, "{sep}\n  {}", text.replace('\n', "\n  "))?;
                    self.rows += 1;
                }
            }
            Format::Csv => {
                let mut writer = csv::Writer::from_writer(&mut self.out);
                for row in rows {
                    writer.write_record(row.iter().map(|v| v.display().unwrap_or_default()))?;
                }
                writer.flush()?;
                self.rows += rows.len();
            }
            Format::Markdown => {
                for row in rows {
                    let cells: Vec<String> = row.iter().map(markdown_cell).collect();
                    writeln!(self.out, "| {} |", cells.join(" | "))?;
                }
                self.rows += rows.len();
            }
            Format::Table => {}
        }
        Ok(())
    }

    /// Close the output (the JSON array's bracket).
    pub fn finish(mut self) -> io::Result<usize> {
        if self.format == Format::Json {
            if self.rows == 0 {
                writeln!(self.out, "]")?;
            } else {
                writeln!(self.out, "\n]")?;
            }
        }
        self.out.flush()?;
        Ok(self.rows)
    }
}

fn write_streamed(out: &mut dyn Write, rs: &ResultSet, format: Format) -> io::Result<()> {
    let mut stream = Stream::new(out, format, &rs.columns)?;
    stream.rows(&rs.rows)?;
    stream.finish().map(|_| ())
}

fn markdown_cell(value: &Value) -> String {
    value
        .display()
        .unwrap_or_default()
        .replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

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
