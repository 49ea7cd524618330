//! Turning a result set into text: one place decides formats, column selection, limits, widths,
//! colours and escaping. The [`crate::printer::Printer`] sends it to stdout.
//!
//! Untrusted text (anything from the shared bucket or an AWS answer) cannot move the cursor or
//! start a line of its own: table, line and Markdown cells go through [`crate::text::escape`]
//! (a newline becomes `\n`), the compact table guards its first column against CI workflow
//! commands (`::error`), and CSV is quoted as RFC 4180 says, with formula neutralisation on request
//! (`--csv-safe`).

use std::io::{self, Write};

use unicode_width::UnicodeWidthStr;

use crate::rows::{Column, ColumnType, Page, ResultSet, Value, ValueRef};
use crate::text::escape;

/// How data on stdout is formatted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A table for people to read, fitted to the terminal's width.
    Table,
    /// One record per block, one `column | value` line per column (Steampipe's `line`).
    Line,
    /// A JSON array of objects keyed by column name, typed values.
    Json,
    /// One JSON object per line (JSON Lines).
    Jsonl,
    /// CSV with a header row (RFC 4180).
    Csv,
    /// A GitHub-flavoured Markdown table.
    Markdown,
}

/// Everything that shapes the rows on stdout, resolved once from the flags.
#[derive(Debug, Clone)]
pub struct Options {
    pub format: Format,
    /// Colours (tables and lines only).
    pub color: bool,
    /// The width a table must fit; `None`: tables stay whole (output piped, no `COLUMNS`).
    pub width: Option<usize>,
    /// `--wide`: never truncate or leave out columns, whatever the width.
    pub wide: bool,
    /// `--columns`: these columns, in this order.
    pub columns: Option<Vec<String>>,
    /// `--limit`: at most this many rows.
    pub limit: Option<usize>,
    /// `--null-marker`: the CSV text of a NULL (default: an empty cell, as `""` is).
    pub null_marker: String,
    /// `--csv-safe`: CSV cells that a spreadsheet would run as a formula start with `'`.
    pub csv_safe: bool,
}

impl Options {
    pub fn new(format: Format) -> Self {
        Self {
            format,
            color: false,
            width: None,
            wide: false,
            columns: None,
            limit: None,
            null_marker: String::new(),
            csv_safe: false,
        }
    }
}

/// What the table layout did that the user should be told (on stderr).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    /// Columns left out so that the table fits (a query's narrow column set was used).
    pub hidden: Vec<String>,
    /// The table could not fit: rows were written one record per block instead.
    pub as_lines: bool,
    /// The width that was fitted.
    pub width: Option<usize>,
}

/// The narrowest a text column may become before the table gives up on it.
const MIN_TEXT: usize = 12;
/// Between two columns of a compact table.
const GAP: &str = "  ";

/// Write `rs` to `out`. `narrow` names the columns to keep when the whole table cannot fit (a
/// canned query's `-- narrow:` line); without it, such a table is written as lines.
pub fn write(
    out: &mut dyn Write,
    rs: &ResultSet,
    options: &Options,
    narrow: &[String],
) -> io::Result<Layout> {
    let selection = select(&rs.columns, options.columns.as_deref())?;
    let columns: Vec<Column> = selection.iter().map(|&i| rs.columns[i].clone()).collect();
    let limit = options.limit.unwrap_or(usize::MAX);
    let rows = &rs.rows[..rs.rows.len().min(limit)];
    match options.format {
        Format::Table => {
            // An explicit --columns is what the user wants to see: it is never narrowed further.
            let narrow = if options.columns.is_some() {
                &[][..]
            } else {
                narrow
            };
            write_table(out, &columns, rows, &selection, options, narrow)
        }
        _ => {
            let mut stream = Stream::start(out, options.clone(), columns, selection)?;
            stream.write_rows(rows, rows.len())?;
            stream.finish()?;
            Ok(Layout::default())
        }
    }
}

/// The indices of the `--columns` (all columns without it); an unknown name is an error listing
/// the columns, with the closest one.
fn select(columns: &[Column], wanted: Option<&[String]>) -> io::Result<Vec<usize>> {
    let Some(wanted) = wanted else {
        return Ok((0..columns.len()).collect());
    };
    let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    wanted
        .iter()
        .map(|name| {
            names
                .iter()
                .position(|n| n == name)
                .or_else(|| names.iter().position(|n| n.eq_ignore_ascii_case(name)))
                .ok_or_else(|| {
                    let mut message = format!(
                        "--columns: no column `{}` in this result; its columns are: {}",
                        escape(name),
                        names.join(", ")
                    );
                    if let Some(close) = crate::text::closest(name, &names) {
                        message.push_str(&format!("; did you mean `{close}`?"));
                    }
                    io::Error::new(io::ErrorKind::InvalidInput, message)
                })
        })
        .collect()
}

/// What a row too short for a chosen column holds there.
static NULL: Value = Value::Null;

/// The cells of `row` in the chosen columns, in order (rows are never copied to be shaped).
fn chosen<'r>(row: &'r [Value], selection: &'r [usize]) -> impl Iterator<Item = &'r Value> {
    selection.iter().map(|&i| row.get(i).unwrap_or(&NULL))
}

fn numeric(ty: ColumnType) -> bool {
    matches!(ty, ColumnType::Integer | ColumnType::Float)
}

/// The display columns of `text`: one per character of printable ASCII (most cells, counted
/// without looking their characters up), Unicode's widths otherwise.
fn width_of(text: &str) -> usize {
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        text.len()
    } else {
        UnicodeWidthStr::width(text)
    }
}

/// `text` cut to `width` display columns, with an ellipsis when something was cut.
fn truncate(text: &str, width: usize) -> String {
    if width_of(text) <= width {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// A table's text, escaped, before layout.
struct Grid<'a> {
    columns: &'a [Column],
    header: Vec<String>,
    /// Each cell's text and its display width, measured once; `None`: NULL.
    cells: Vec<Vec<Option<(String, usize)>>>,
    /// Each column's widest text: its header or a cell (NULL counts 4).
    widest: Vec<usize>,
}

impl<'a> Grid<'a> {
    /// The grid of the `selection` columns of `rows` (`columns` are those columns).
    fn new(columns: &'a [Column], rows: &[Vec<Value>], selection: &[usize]) -> Self {
        let header: Vec<String> = columns
            .iter()
            .map(|c| escape(&c.name).into_owned())
            .collect();
        let mut widest: Vec<usize> = header.iter().map(|h| width_of(h)).collect();
        let mut text = String::new();
        let mut cells = Vec::with_capacity(rows.len());
        for row in rows {
            let mut line = Vec::with_capacity(selection.len());
            for (value, widest) in chosen(row, selection).zip(widest.iter_mut()) {
                text.clear();
                let cell = value.write_display(&mut text).then(|| {
                    let shown = escape(&text).into_owned();
                    let width = width_of(&shown);
                    (shown, width)
                });
                *widest = (*widest).max(cell.as_ref().map_or(4, |(_, w)| *w));
                line.push(cell);
            }
            cells.push(line);
        }
        Self {
            columns,
            header,
            cells,
            widest,
        }
    }

    fn natural(&self, keep: &[usize]) -> Vec<usize> {
        keep.iter().map(|&i| self.widest[i]).collect()
    }

    /// Widths that fit `width` in the compact style, cutting the widest text columns first; a
    /// number and the first column (what names the row) are never cut, another text column never
    /// below [`MIN_TEXT`]. `None` when it cannot fit.
    fn fit(&self, keep: &[usize], width: usize) -> Option<Vec<usize>> {
        let mut widths = self.natural(keep);
        let mins: Vec<usize> = keep
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(at, (&i, &w))| {
                if at == 0 || numeric(self.columns[i].ty) {
                    w
                } else {
                    w.min(MIN_TEXT)
                }
            })
            .collect();
        let gaps = GAP.len() * keep.len().saturating_sub(1);
        let budget = width.checked_sub(gaps)?;
        if mins.iter().sum::<usize>() > budget {
            return None;
        }
        while widths.iter().sum::<usize>() > budget {
            let (at, _) = widths
                .iter()
                .enumerate()
                .filter(|(j, w)| **w > mins[*j])
                .max_by_key(|(j, w)| (**w, usize::MAX - j))?;
            widths[at] -= 1;
        }
        Some(widths)
    }
}

/// The table of the `selection` columns of `rows` (`columns` are those columns).
fn write_table(
    out: &mut dyn Write,
    columns: &[Column],
    rows: &[Vec<Value>],
    selection: &[usize],
    options: &Options,
    narrow: &[String],
) -> io::Result<Layout> {
    if columns.is_empty() {
        writeln!(out, "(the result has no columns)")?;
        return Ok(Layout::default());
    }
    let grid = Grid::new(columns, rows, selection);
    let all: Vec<usize> = (0..columns.len()).collect();
    let natural = grid.natural(&all);
    let Some(width) = options.width.filter(|_| !options.wide) else {
        bordered(out, &grid, &natural, options.color)?;
        return Ok(Layout::default());
    };
    let layout = |hidden: Vec<String>, as_lines: bool| Layout {
        hidden,
        as_lines,
        width: Some(width),
    };
    // The bordered table when it fits, else the compact one with the long text cut.
    // Borders: `│ ` before each column, ` │` after the last, ` ┆ ` between.
    if natural.iter().sum::<usize>() + 3 * natural.len() < width {
        bordered(out, &grid, &natural, options.color)?;
        return Ok(layout(Vec::new(), false));
    }
    if let Some(widths) = grid.fit(&all, width) {
        compact(out, &grid, &all, &widths, options.color)?;
        return Ok(layout(Vec::new(), false));
    }
    let keep: Vec<usize> = all
        .iter()
        .copied()
        .filter(|&i| narrow.iter().any(|n| n == &columns[i].name))
        .collect();
    if !keep.is_empty()
        && keep.len() < columns.len()
        && let Some(widths) = grid.fit(&keep, width)
    {
        compact(out, &grid, &keep, &widths, options.color)?;
        let hidden = all
            .iter()
            .filter(|i| !keep.contains(i))
            .map(|&i| columns[i].name.clone())
            .collect();
        return Ok(layout(hidden, false));
    }
    let mut stream = Stream::start(
        out,
        Options {
            format: Format::Line,
            ..options.clone()
        },
        columns.to_vec(),
        selection.to_vec(),
    )?;
    stream.write_rows(rows, rows.len())?;
    stream.finish()?;
    Ok(layout(Vec::new(), true))
}

fn paint(text: &str, code: &str, color: bool) -> String {
    if color {
        format!("\u{1b}[{code}m{text}\u{1b}[0m")
    } else {
        text.to_string()
    }
}

/// One cell padded to `width` (numbers to the right), NULL in grey.
fn pad(text: Option<&str>, width: usize, right: bool, color: bool) -> String {
    let mut cell = String::new();
    pad_into(
        &mut cell,
        text.map(|t| (t, width_of(t))),
        width,
        right,
        color,
    );
    cell
}

/// Append [`pad`]'s cell to `line`, given the text with its display width (a table's rows are
/// written a line buffer at a time, each cell measured once).
fn pad_into(
    line: &mut String,
    text: Option<(&str, usize)>,
    width: usize,
    right: bool,
    color: bool,
) {
    let (raw, raw_width) = text.unwrap_or(("NULL", 4));
    let cut;
    let (shown, shown_width) = if raw_width <= width {
        (raw, raw_width)
    } else {
        cut = truncate(raw, width);
        (cut.as_str(), width_of(&cut))
    };
    let fill = width.saturating_sub(shown_width);
    let grey = text.is_none() && color;
    if right {
        line.extend(std::iter::repeat_n(' ', fill));
    }
    if grey {
        line.push_str(&paint(shown, "90", color));
    } else {
        line.push_str(shown);
    }
    if !right {
        line.extend(std::iter::repeat_n(' ', fill));
    }
}

/// The boxed table (every line starts with a border, so no cell can start a line).
fn bordered(out: &mut dyn Write, grid: &Grid, widths: &[usize], color: bool) -> io::Result<()> {
    let rule = |left: &str, fill: &str, mid: &str, right: &str| {
        let parts: Vec<String> = widths.iter().map(|w| fill.repeat(w + 2)).collect();
        format!("{left}{}{right}", parts.join(mid))
    };
    writeln!(out, "{}", rule("┌", "─", "┬", "┐"))?;
    let header: Vec<String> = grid
        .header
        .iter()
        .zip(widths)
        .map(|(h, &w)| paint(&pad(Some(h), w, false, false), "1", color))
        .collect();
    writeln!(out, "│ {} │", header.join(" ┆ "))?;
    writeln!(out, "{}", rule("╞", "═", "╪", "╡"))?;
    let mut line = String::new();
    for row in &grid.cells {
        line.clear();
        line.push_str("│ ");
        for (at, ((cell, &w), c)) in row.iter().zip(widths).zip(grid.columns).enumerate() {
            if at > 0 {
                line.push_str(" ┆ ");
            }
            let cell = cell.as_ref().map(|(text, width)| (text.as_str(), *width));
            pad_into(&mut line, cell, w, numeric(c.ty), color);
        }
        line.push_str(" │");
        writeln!(out, "{line}")?;
    }
    writeln!(out, "{}", rule("└", "─", "┴", "┘"))
}

/// The borderless table for narrow terminals: a header, a rule, one line per row.
fn compact(
    out: &mut dyn Write,
    grid: &Grid,
    keep: &[usize],
    widths: &[usize],
    color: bool,
) -> io::Result<()> {
    let line = |cells: Vec<String>| cells.join(GAP).trim_end().to_string();
    let header: Vec<String> = keep
        .iter()
        .zip(widths)
        .map(|(&i, &w)| {
            let right = numeric(grid.columns[i].ty);
            paint(&pad(Some(&grid.header[i]), w, right, false), "1", color)
        })
        .collect();
    writeln!(out, "{}", line(header))?;
    writeln!(
        out,
        "{}",
        line(widths.iter().map(|w| "─".repeat(*w)).collect())
    )?;
    let mut cells = String::new();
    for row in &grid.cells {
        cells.clear();
        for (at, (&i, &w)) in keep.iter().zip(widths).enumerate() {
            if at > 0 {
                cells.push_str(GAP);
            }
            // The first cell starts the line: guarded against reading as a CI command.
            let cell = row[i].as_ref().map(|(text, width)| {
                if at == 0
                    && let std::borrow::Cow::Owned(guarded) = crate::text::guard_line_start(text)
                {
                    let width = width_of(&guarded);
                    (std::borrow::Cow::Owned(guarded), width)
                } else {
                    (std::borrow::Cow::Borrowed(text.as_str()), *width)
                }
            });
            let cell = cell.as_ref().map(|(text, width)| (text.as_ref(), *width));
            pad_into(&mut cells, cell, w, numeric(grid.columns[i].ty), color);
        }
        writeln!(out, "{}", cells.trim_end())?;
    }
    Ok(())
}

/// Incremental output for the formats that need no look-ahead (line, JSON, JSON Lines, CSV,
/// Markdown): pages of rows are written as they arrive, so memory stays flat on large results.
/// Tables need every row for their widths and are rendered whole by [`write`].
pub struct Stream<W: Write> {
    out: W,
    options: Options,
    columns: Vec<Column>,
    /// The source columns written, in order (`--columns`).
    selection: Vec<usize>,
    /// The members of a JSON row (see [`json_members`]); empty in the other formats.
    members: Vec<(String, usize)>,
    rows: usize,
}

impl<W: Write> Stream<W> {
    /// Start a stream for rows of `columns` (`Format::Table` is not streamable: use [`write`]).
    /// `--columns` is applied here; an unknown column is an error before anything is written.
    pub fn new(out: W, options: Options, columns: &[Column]) -> io::Result<Self> {
        let selection = select(columns, options.columns.as_deref())?;
        let chosen = selection.iter().map(|&i| columns[i].clone()).collect();
        Self::start(out, options, chosen, selection)
    }

    fn start(
        out: W,
        options: Options,
        columns: Vec<Column>,
        selection: Vec<usize>,
    ) -> io::Result<Self> {
        let members = match options.format {
            Format::Json | Format::Jsonl => json_members(&columns, &selection)?,
            _ => Vec::new(),
        };
        let mut stream = Self {
            out,
            options,
            columns,
            selection,
            members,
            rows: 0,
        };
        stream.begin()?;
        Ok(stream)
    }

    fn begin(&mut self) -> io::Result<()> {
        match self.options.format {
            Format::Json => write!(self.out, "[")?,
            Format::Csv => {
                let safe = self.options.csv_safe;
                let mut writer = csv::Writer::from_writer(&mut self.out);
                writer.write_record(self.columns.iter().map(|c| csv_text(&c.name, safe)))?;
                writer.flush()?;
            }
            Format::Markdown => {
                let names: Vec<String> = self.columns.iter().map(|c| markdown(&c.name)).collect();
                writeln!(self.out, "| {} |", names.join(" | "))?;
                let rule: Vec<&str> = self
                    .columns
                    .iter()
                    .map(|c| if numeric(c.ty) { "---:" } else { "---" })
                    .collect();
                writeln!(self.out, "| {} |", rule.join(" | "))?;
            }
            Format::Line | Format::Jsonl => {}
            Format::Table => {
                return Err(io::Error::other("tables are rendered whole, not streamed"));
            }
        }
        Ok(())
    }

    /// Write some rows (rows beyond `--limit` are dropped).
    pub fn rows<P: Page + ?Sized>(&mut self, rows: &P) -> io::Result<()> {
        let room = self
            .options
            .limit
            .unwrap_or(usize::MAX)
            .saturating_sub(self.rows);
        self.write_rows(rows, rows.len().min(room))
    }

    /// Write the chosen columns of the first `count` rows of `page` (the limit applied).
    fn write_rows<P: Page + ?Sized>(&mut self, page: &P, count: usize) -> io::Result<()> {
        // One buffer for the text of every cell, rather than a string each.
        let mut text = String::new();
        match self.options.format {
            Format::Json | Format::Jsonl => {
                let pretty = self.options.format == Format::Json;
                let mut object = Vec::new();
                for row in 0..count {
                    json_object(page, row, &self.members, pretty, &mut object)?;
                    if pretty {
                        let sep = if self.rows == 0 { "" } else { "," };
                        write!(self.out, "{sep}\n  ")?;
                        self.out.write_all(&object)?;
                    } else {
                        object.push(b'\n');
                        self.out.write_all(&object)?;
                    }
                    self.rows += 1;
                }
            }
            Format::Csv => {
                let safe = self.options.csv_safe;
                let mut writer = csv::Writer::from_writer(&mut self.out);
                for row in 0..count {
                    for &i in &self.selection {
                        let value = page.value(row, i)?;
                        // Text is written as it lies, unless a leading `'` defuses it.
                        if let ValueRef::Str(s) = &value
                            && !(safe && formula_start(s))
                        {
                            writer.write_field(s.as_bytes())?;
                            continue;
                        }
                        text.clear();
                        if !value.write_display(&mut text) {
                            writer.write_field(&self.options.null_marker)?;
                            continue;
                        }
                        if safe && value.is_text() && formula_start(&text) {
                            text.insert(0, '\'');
                        }
                        writer.write_field(&text)?;
                    }
                    // Ends the record, as `write_record` does after its fields.
                    writer.write_record(None::<&[u8]>)?;
                }
                writer.flush()?;
                self.rows += count;
            }
            Format::Markdown => {
                for row in 0..count {
                    let mut cells = Vec::with_capacity(self.selection.len());
                    for &i in &self.selection {
                        text.clear();
                        page.value(row, i)?.write_display(&mut text);
                        cells.push(markdown(&text));
                    }
                    writeln!(self.out, "| {} |", cells.join(" | "))?;
                }
                self.rows += count;
            }
            Format::Line => {
                let name_width = self
                    .columns
                    .iter()
                    .map(|c| width_of(&escape(&c.name)))
                    .max()
                    .unwrap_or(0);
                for row in 0..count {
                    if self.rows > 0 {
                        writeln!(self.out)?;
                    }
                    for (column, &i) in self.columns.iter().zip(&self.selection) {
                        let name = escape(&column.name);
                        let fill = " ".repeat(name_width.saturating_sub(width_of(&name)));
                        text.clear();
                        if page.value(row, i)?.write_display(&mut text) {
                            writeln!(self.out, "{name}{fill} | {}", escape(&text))?;
                        } else {
                            let null = paint("NULL", "90", self.options.color);
                            writeln!(self.out, "{name}{fill} | {null}")?;
                        }
                    }
                    self.rows += 1;
                }
            }
            Format::Table => {}
        }
        Ok(())
    }

    /// Close the output (the JSON array's bracket); the number of rows written.
    pub fn finish(mut self) -> io::Result<usize> {
        if self.options.format == Format::Json {
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

/// The members of a JSON row of `columns` (the source columns `selection`): each name once,
/// where it first comes, with the value of its last column of that name (as an object built
/// member by member keeps them), each name already written as JSON.
fn json_members(columns: &[Column], selection: &[usize]) -> io::Result<Vec<(String, usize)>> {
    let mut members: Vec<(String, usize)> = Vec::with_capacity(columns.len());
    for (column, &i) in columns.iter().zip(selection) {
        let key = serde_json::to_string(&column.name)?;
        match members.iter_mut().find(|(k, _)| *k == key) {
            Some(member) => member.1 = i,
            None => members.push((key, i)),
        }
    }
    Ok(members)
}

/// Write `row` of `page` into `out` as one JSON object of `members` (see [`json_members`]): compact, or pretty as an element of the top-level array (members
/// indented by four spaces, the closing brace by two), the text serde_json gives that object.
fn json_object<P: Page + ?Sized>(
    page: &P,
    row: usize,
    members: &[(String, usize)],
    pretty: bool,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    out.clear();
    if members.is_empty() {
        out.extend_from_slice(b"{}");
        return Ok(());
    }
    out.push(b'{');
    for (n, (key, i)) in members.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        if pretty {
            out.extend_from_slice(b"\n    ");
        }
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(if pretty { b": " } else { b":" });
        match page.value(row, *i)? {
            ValueRef::Str(text) => serde_json::to_writer(&mut *out, text.as_ref())?,
            ValueRef::Json(nested) if pretty => {
                let text = serde_json::to_string_pretty(&*nested)?;
                out.extend_from_slice(text.replace('\n', "\n    ").as_bytes());
            }
            ValueRef::Json(nested) => serde_json::to_writer(&mut *out, &*nested)?,
            other => serde_json::to_writer(&mut *out, &other.to_json())?,
        }
    }
    if pretty {
        out.extend_from_slice(b"\n  ");
    }
    out.push(b'}');
    Ok(())
}

/// A CSV cell's text: with `safe`, a cell a spreadsheet would read as a formula (`=`, `+`, `-`,
/// `@`, a tab or a carriage return first) gets a leading `'`, as OWASP recommends. Quoting is
/// the CSV writer's (RFC 4180).
fn csv_text(text: &str, safe: bool) -> String {
    if safe && formula_start(text) {
        format!("'{text}")
    } else {
        text.to_string()
    }
}

/// Whether a spreadsheet would read a cell starting so as a formula.
fn formula_start(text: &str) -> bool {
    text.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// A Markdown cell: backslashes and pipes escaped, control characters in visible notation.
fn markdown(text: &str) -> String {
    escape(&text.replace('\\', "\\\\").replace('|', "\\|")).into_owned()
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

    fn render_with(rs: &ResultSet, options: &Options) -> String {
        let mut buf = Vec::new();
        write(&mut buf, rs, options, &[]).unwrap();
        String::from_utf8(buf).unwrap()
    }

    fn render(format: Format) -> String {
        render_with(&sample(), &Options::new(format))
    }

    /// Printable ASCII is counted by length, anything else by Unicode's widths: the same
    /// columns either way.
    #[test]
    fn widths_of_ascii_are_counted_as_unicode_counts_them() {
        let printable: String = (0x20u8..0x7f).map(char::from).collect();
        for text in [
            "",
            "account_id",
            printable.as_str(),
            "tab\there",
            "\u{7f}del",
            "\u{1b}[31m",
            "é 中 😀",
            "e\u{301}",
            "full\u{ff21}width",
        ] {
            assert_eq!(width_of(text), UnicodeWidthStr::width(text), "{text:?}");
        }
    }

    /// JSON rows are written member by member: the same text serde_json gives the object built
    /// from the row (pretty inside the array, or compact per line), for every kind of value,
    /// NULLs, nested values empty or not, and a name that comes twice (its first place, its
    /// last value).
    #[test]
    fn json_rows_are_the_text_serde_json_gives_their_object() {
        use serde_json::json;
        let t = chrono::NaiveDate::from_ymd_opt(2026, 11, 26)
            .unwrap()
            .and_hms_micro_opt(9, 0, 1, 250)
            .unwrap();
        let columns: Vec<Column> = ["s", "n", "x", "b", "t", "d", "nested", "s", "none"]
            .iter()
            .map(|name| Column::new(*name, ColumnType::String))
            .collect();
        let texts = [
            "",
            "a\"b\\c",
            "line\nnext\ttab\u{1b}[31m",
            "é 中 😀",
            "\u{7f}\u{0}",
        ];
        let floats = [0.0, 1.0, -2.5, 1e300, f64::NAN, f64::INFINITY, 0.1 + 0.2];
        let nested = [
            json!([]),
            json!({}),
            json!([1, "x", null, [[]], {"k": {"deep": [true, 1.5]}}]),
            json!({"b": 2, "a": [{"z": {}}], "s": "q\"\n"}),
        ];
        let rows: Vec<Vec<Value>> = (0..20)
            .map(|i| {
                vec![
                    Value::Str(texts[i % texts.len()].to_string()),
                    if i % 7 == 3 {
                        Value::Null
                    } else {
                        Value::Int(i as i64 * 1_000_000_007 - 9)
                    },
                    Value::Float(floats[i % floats.len()]),
                    Value::Bool(i % 2 == 0),
                    Value::Timestamp(t + chrono::Duration::seconds(i as i64)),
                    Value::Date(t.date()),
                    Value::Json(nested[i % nested.len()].clone()),
                    Value::Str(format!("second s {i}")),
                    Value::Null,
                ]
            })
            .collect();
        for format in [Format::Json, Format::Jsonl] {
            let mut expected = String::new();
            for (i, row) in rows.iter().enumerate() {
                let object: serde_json::Map<String, serde_json::Value> = columns
                    .iter()
                    .zip(row)
                    .map(|(c, v)| (c.name.clone(), v.to_json()))
                    .collect();
                let object = serde_json::Value::Object(object);
                if format == Format::Jsonl {
                    expected.push_str(&serde_json::to_string(&object).unwrap());
                    expected.push('\n');
                } else {
                    let text = serde_json::to_string_pretty(&object).unwrap();
                    let sep = if i == 0 { "[" } else { "," };
                    expected.push_str(&format!("{sep}\n  {}", text.replace('\n', "\n  ")));
                }
            }
            if format == Format::Json {
                expected.push_str("\n]\n");
            }
            let rs = ResultSet {
                columns: columns.clone(),
                rows: rows.clone(),
            };
            assert_eq!(
                render_with(&rs, &Options::new(format)),
                expected,
                "{format:?}"
            );
        }
    }

    /// A streamed page writes only the rows picked from it, in order, and the limit counts
    /// the rows written, not the rows of the page.
    #[test]
    fn a_stream_writes_the_picked_rows_of_a_page() {
        let rows: Vec<Vec<Value>> = (0..6)
            .map(|i| vec![Value::Int(i), Value::Str(format!("=r{i}"))])
            .collect();
        let columns = [
            Column::new("n", ColumnType::Integer),
            Column::new("s", ColumnType::String),
        ];
        let mut options = Options::new(Format::Csv);
        options.csv_safe = true;
        options.limit = Some(2);
        let mut out = Vec::new();
        let mut stream = Stream::new(&mut out, options, &columns).unwrap();
        let odd = crate::rows::Picked::new(rows.as_slice(), |row| Ok(row % 2 == 1)).unwrap();
        assert_eq!(odd.len(), 3);
        stream.rows(&odd).unwrap();
        assert_eq!(stream.finish().unwrap(), 2);
        assert_eq!(String::from_utf8(out).unwrap(), "n,s\n1,'=r1\n3,'=r3\n");
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
    fn jsonl_is_one_object_per_line() {
        assert_eq!(
            render(Format::Jsonl),
            "{\"name\":\"a|b, \\\"c\\\"\",\"n\":3,\"tags\":[\"x\"]}\n{\"name\":null,\"n\":null,\"tags\":null}\n"
        );
    }

    #[test]
    fn csv_quotes_and_leaves_nulls_empty_unless_a_marker_is_given() {
        assert_eq!(
            render(Format::Csv),
            "name,n,tags\n\"a|b, \"\"c\"\"\",3,\"[\"\"x\"\"]\"\n,,\n"
        );
        let mut options = Options::new(Format::Csv);
        options.null_marker = "NULL".into();
        assert!(render_with(&sample(), &options).ends_with("\nNULL,NULL,NULL\n"));
    }

    #[test]
    fn csv_safe_neutralises_formulas_but_not_numbers() {
        let rs = ResultSet {
            columns: vec![
                Column::new("a", ColumnType::String),
                Column::new("n", ColumnType::Integer),
            ],
            rows: vec![vec![Value::Str("=HYPERLINK(\"x\")".into()), Value::Int(-5)]],
        };
        let mut options = Options::new(Format::Csv);
        assert!(render_with(&rs, &options).contains("\"=HYPERLINK(\"\"x\"\")\",-5"));
        options.csv_safe = true;
        assert!(render_with(&rs, &options).contains("\"'=HYPERLINK(\"\"x\"\")\",-5"));
    }

    #[test]
    fn markdown_escapes_pipes_and_controls() {
        let md = render(Format::Markdown);
        assert!(md.starts_with("| name | n | tags |\n| --- | ---: | --- |\n"));
        assert!(md.contains("a\\|b"));
        let rs = ResultSet {
            columns: vec![Column::new("a", ColumnType::String)],
            rows: vec![vec![Value::Str("x\n| forged | row |".into())]],
        };
        let md = render_with(&rs, &Options::new(Format::Markdown));
        assert_eq!(md.lines().count(), 3, "{md}");
    }

    #[test]
    fn columns_and_limit_shape_every_format() {
        let mut options = Options::new(Format::Csv);
        options.columns = Some(vec!["n".into(), "name".into()]);
        options.limit = Some(1);
        assert_eq!(
            render_with(&sample(), &options),
            "n,name\n3,\"a|b, \"\"c\"\"\"\n"
        );
        options.columns = Some(vec!["nme".into()]);
        let err = write(&mut Vec::new(), &sample(), &options, &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--columns: no column `nme` in this result; its columns are: name, n, tags; did you mean `name`?"
        );
    }

    #[test]
    fn line_format_is_one_block_per_record() {
        assert_eq!(
            render(Format::Line),
            "name | a|b, \"c\"\nn    | 3\ntags | [\"x\"]\n\nname | NULL\nn    | NULL\ntags | NULL\n"
        );
    }

    fn wide_rows() -> ResultSet {
        ResultSet {
            columns: vec![
                Column::new("id", ColumnType::String),
                Column::new("text", ColumnType::String),
                Column::new("count", ColumnType::Integer),
            ],
            rows: vec![vec![
                Value::Str("::error title=x::forged".into()),
                Value::Str("a long text that cannot fit\n::error line".into()),
                Value::Int(123_456),
            ]],
        }
    }

    #[test]
    fn narrow_tables_cut_text_with_an_ellipsis_and_never_let_a_cell_start_a_line() {
        let mut options = Options::new(Format::Table);
        options.width = Some(50);
        let text = render_with(&wide_rows(), &options);
        for line in text.lines() {
            assert!(width_of(line) <= 50, "{text}");
            assert!(!line.starts_with("::"), "{text}");
        }
        assert!(text.contains('…'), "{text}");
        assert!(text.contains("123456"), "{text}");
        options.wide = true;
        assert!(render_with(&wide_rows(), &options).contains("cannot fit\\n::error line"));
    }

    #[test]
    fn a_table_that_cannot_fit_becomes_lines() {
        let mut options = Options::new(Format::Table);
        options.width = Some(20);
        let mut buf = Vec::new();
        let layout = write(&mut buf, &wide_rows(), &options, &[]).unwrap();
        assert!(layout.as_lines);
        assert!(
            String::from_utf8(buf)
                .unwrap()
                .starts_with("id    | ::error title=x::forged\n")
        );
    }

    #[test]
    fn no_columns_is_said_plainly() {
        let text = render_with(&ResultSet::default(), &Options::new(Format::Table));
        assert_eq!(text, "(the result has no columns)\n");
    }
}
