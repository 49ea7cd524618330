//! Our JSON loader: CloneSquad's NDJSON lines, read straight into Arrow builders against the
//! schema of `ddl/*.sql`, with no intermediate JSON tree, by the rules Athena's Hive JSON reader
//! applies (see [`crate::engine::local::hive`]): keys match case-insensitively (the last of two keys
//! that differ only by case wins), values are coerced as Athena coerces them, keys no column
//! declares are skipped unread.
//!
//! Reading never fails on content: a line that is not a JSON object is skipped, and a value that
//! Athena would fail on (or read differently) is still read as best we can; both are counted per
//! file with a few samples ([`FileIssues`]) so the user learns before running Athena.
//!
//! Each line is first parsed in one pass onto a tape of nodes ([`crate::engine::local::tape`],
//! which validates the whole line, so a malformed line appends nothing); then only the declared
//! values are decoded from the tape into the builders, as deep as the schema goes and no deeper.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float32Builder, Float64Builder, Int32Builder,
    Int64Builder, ListArray, MapArray, StringBuilder, StructArray, TimestampMicrosecondBuilder,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::arrow::error::ArrowError;

use crate::catalog::ddl::{ColumnDef, HiveType};
use crate::engine::local::hive::{FileIssues, Issue, IssueKind, TimestampFormats, sample_value};
use crate::engine::local::tape::{self, Kind, Parsed, Tape};

/// The default longest line read: Athena's documented limit on the size of one row, 32 MB
/// ("Row or column size limitation", in "Considerations and limitations for SQL queries in
/// Amazon Athena"); Athena fails a query on a longer one.
pub const DEFAULT_MAX_LINE_BYTES: u64 = 32 * 1024 * 1024;

/// Rows of a table being loaded: one builder per column.
pub struct RowsBuilder {
    root: StructState,
    rows: usize,
    formats: TimestampFormats,
    /// A longer line is a bad line, never parsed.
    max_line_bytes: u64,
    /// The nodes of the line being read, reused from line to line.
    tape: Tape,
}

impl RowsBuilder {
    /// Builders for `columns`; timestamps are read with `formats` (the table's
    /// `timestamp.formats`).
    pub fn new(columns: &[ColumnDef], formats: TimestampFormats) -> Self {
        Self {
            root: StructState::new(columns),
            rows: 0,
            formats,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            // The row object is at depth 1, its columns' values at 2, and so on down.
            tape: Tape::with_depth(2 + columns.iter().map(|c| nesting(&c.ty)).max().unwrap_or(0)),
        }
    }

    /// Skip (as a bad line, unparsed) every line longer than `max` bytes.
    pub fn max_line_bytes(mut self, max: u64) -> Self {
        self.max_line_bytes = max;
        self
    }

    /// Rows appended so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Append every JSON-object line of `bytes`. Blank lines are skipped; a line that is not a
    /// JSON object, or longer than the cap, appends nothing. Never fails: what Athena would
    /// refuse is returned as issues.
    pub fn append_ndjson(&mut self, bytes: &[u8]) -> FileIssues {
        let mut issues = FileIssues::default();
        // The tape keeps offsets in 32 bits: no line of 4 GiB or more is parsed, whatever the cap.
        let cap = self.max_line_bytes.min(u64::from(u32::MAX));
        for (index, line) in lines(bytes).enumerate() {
            let line_no = u32::try_from(index + 1).unwrap_or(u32::MAX);
            if line.len() as u64 > cap {
                // Only its start is looked at, for the sample (more bytes than it shows).
                let start = &line[..line.len().min(1024)];
                issues.push(Issue {
                    line: line_no,
                    kind: IssueKind::Malformed,
                    column: String::new(),
                    value: sample_value(&String::from_utf8_lossy(start)),
                    why: format!(
                        "line of {} bytes exceeds the cap of {} bytes (`max-line-bytes` in cs-cmdb.toml); skipped",
                        line.len(),
                        cap
                    ),
                });
                continue;
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let malformed = |why: String| Issue {
                line: line_no,
                kind: IssueKind::Malformed,
                column: String::new(),
                value: sample_value(&String::from_utf8_lossy(line)),
                why,
            };
            let (parsed, end) = match self.tape.parse(line) {
                Ok(read) => read,
                Err(err) => {
                    issues.push(malformed(err.to_string()));
                    continue;
                }
            };
            if parsed.kind(0) != Kind::Object {
                issues.push(malformed(format!(
                    "not a JSON object (a {})",
                    parsed.kind(0).name()
                )));
                continue;
            }
            let mut ctx = Ctx {
                line: line_no,
                issues: &mut issues,
                formats: &self.formats,
                parsed,
            };
            self.root.append_object(0, &mut ctx, &Path::ROW);
            self.rows += 1;
            // Athena's reader stops at the end of the object and never reads what follows.
            if !tape::blank(&line[end..]) {
                issues.push(Issue {
                    line: line_no,
                    kind: IssueKind::AthenaReadsOtherwise,
                    column: String::new(),
                    value: sample_value(&String::from_utf8_lossy(line)),
                    why: "text after the JSON object is ignored".into(),
                });
            }
        }
        issues
    }

    /// The column arrays, in the order of the columns given to [`RowsBuilder::new`].
    pub fn finish(&mut self) -> Result<Vec<ArrayRef>, ArrowError> {
        self.rows = 0;
        self.root.len = 0;
        self.root.valid.clear();
        self.root.children.iter_mut().map(Builder::finish).collect()
    }
}

/// How many levels of JSON containers a value of type `ty` is read through (0 for a scalar).
fn nesting(ty: &HiveType) -> usize {
    match ty {
        HiveType::Array(item) => 1 + nesting(item),
        HiveType::Map(_, value) => 1 + nesting(value),
        HiveType::Struct(fields) => 1 + fields.iter().map(|f| nesting(&f.ty)).max().unwrap_or(0),
        _ => 0,
    }
}

/// The lines of `bytes` (split at `\n`, the last one possibly empty), found with a vectorised
/// search rather than byte by byte.
fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    let mut ends = memchr::memchr_iter(b'\n', bytes);
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let end = ends.next().unwrap_or_else(|| {
            done = true;
            bytes.len()
        });
        let line = &bytes[start..end];
        start = end + 1;
        Some(line)
    })
}

/// The column being read, nested path included (`state.name`, `tags[].key`): a chain of names on
/// the stack, joined only when an issue is reported.
#[derive(Clone, Copy)]
struct Path<'p> {
    name: &'p str,
    parent: Option<&'p Path<'p>>,
}

impl<'p> Path<'p> {
    /// The row itself.
    const ROW: Path<'static> = Path {
        name: "",
        parent: None,
    };

    fn child(&'p self, name: &'p str) -> Path<'p> {
        Path {
            name,
            parent: Some(self),
        }
    }

    /// The path as shown: fields joined by `.`, list items as `[]`.
    fn render(&self) -> String {
        let mut names = Vec::new();
        let mut at = Some(self);
        while let Some(path) = at {
            names.push(path.name);
            at = path.parent;
        }
        let mut out = String::new();
        for name in names.into_iter().rev().filter(|n| !n.is_empty()) {
            if !out.is_empty() && !name.starts_with('[') {
                out.push('.');
            }
            out.push_str(name);
        }
        out
    }
}

/// Where in a line the loader is, and what it found there.
struct Ctx<'a> {
    line: u32,
    issues: &'a mut FileIssues,
    formats: &'a TimestampFormats,
    /// The line, parsed.
    parsed: Parsed<'a>,
}

impl<'a> Ctx<'a> {
    fn report(&mut self, kind: IssueKind, node: usize, path: &Path, why: impl Into<String>) {
        self.issues.push(Issue {
            line: self.line,
            kind,
            column: path.render(),
            value: sample_value(self.parsed.json(node)),
            why: why.into(),
        });
    }

    fn fails(&mut self, node: usize, path: &Path, why: impl Into<String>) {
        self.report(IssueKind::AthenaFails, node, path, why);
    }

    fn reads_otherwise(&mut self, node: usize, path: &Path, why: impl Into<String>) {
        self.report(IssueKind::AthenaReadsOtherwise, node, path, why);
    }

    /// The value of `node`, by kind (a string unescaped).
    fn value(&self, node: usize) -> Json<'a> {
        let parsed = self.parsed;
        match parsed.kind(node) {
            Kind::Null => Json::Null,
            Kind::True => Json::Bool(true),
            Kind::False => Json::Bool(false),
            Kind::Number => Json::Number(parsed.raw(node)),
            Kind::Str => Json::Str(parsed.str(node)),
            Kind::Array => Json::Array,
            Kind::Object => Json::Object,
        }
    }
}

/// A JSON value by kind; nested values stay on the tape until a builder wants them.
enum Json<'a> {
    Null,
    Bool(bool),
    /// A number, as written.
    Number(&'a str),
    Str(Cow<'a, str>),
    Array,
    Object,
}

impl<'a> Json<'a> {
    /// The text Athena's reader takes from a scalar (`getText`).
    fn scalar_text(&self) -> Option<Cow<'a, str>> {
        match self {
            Json::Bool(true) => Some(Cow::Borrowed("true")),
            Json::Bool(false) => Some(Cow::Borrowed("false")),
            Json::Number(n) => Some(Cow::Borrowed(n)),
            Json::Str(s) => Some(s.clone()),
            Json::Null | Json::Array | Json::Object => None,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "boolean",
            Json::Number(_) => "number",
            Json::Str(_) => "string",
            Json::Array => "array",
            Json::Object => "object",
        }
    }
}

/// A JSON number read the way Jackson's `getLongValue`/`getIntValue` read it: an integer as is, a
/// float truncated toward zero (flagged), anything beyond `[min, max]` an error.
fn integer(text: &str, min: i64, max: i64, type_name: &str) -> Result<(i64, bool), String> {
    let beyond = || format!("{text} is beyond the {type_name} range");
    if !text.contains(['.', 'e', 'E']) {
        return text
            .parse::<i64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .map(|n| (n, false))
            .ok_or_else(beyond);
    }
    let value: f64 = text.parse().map_err(|_| beyond())?;
    if !(value >= min as f64 && value <= max as f64) {
        return Err(beyond());
    }
    // In range: the saturating cast is exact up to the last representable value.
    Ok((value.trunc() as i64, value.fract() != 0.0))
}

/// FNV-1a ([`crate::hash`]) for the short keys of the field index.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(crate::hash::FNV1A_START)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = crate::hash::fnv1a_update(self.0, bytes);
    }
}

/// The fields of a struct (or the columns of a row) and their builders.
struct StructState {
    /// Lowercase key -> field index.
    index: HashMap<String, usize, BuildHasherDefault<Fnv>>,
    fields: Fields,
    children: Vec<Builder>,
    valid: Vec<bool>,
    len: usize,
    /// Per field, for the object being appended: the node of the key read.
    slots: Vec<Option<usize>>,
    lower: String,
    /// The keys of the last object appended, by position, and the field each named: the
    /// objects of a file mostly repeat their keys in one order, so a key equal (byte for byte) to
    /// the one at its position last time takes that field without being lowered and hashed.
    hints: Vec<(Box<str>, Option<usize>)>,
}

/// Whether two keys are equal, compared inline a word at a time (a call to `memcmp` per key of a
/// JSON record cost more than the comparison).
fn same(a: &[u8], b: &[u8]) -> bool {
    let word = |s: &[u8], at: usize| {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(&s[at..at + 8]);
        u64::from_le_bytes(bytes)
    };
    match a.len() {
        n if n != b.len() => false,
        0..8 => a.iter().zip(b).all(|(x, y)| x == y),
        // Whole words, then the last word (overlapping the one before it).
        n => {
            (0..n - 8).step_by(8).all(|at| word(a, at) == word(b, at))
                && word(a, n - 8) == word(b, n - 8)
        }
    }
}

/// Key positions remembered per struct (a hostile object with more keys is looked up beyond).
const HINTS: usize = 256;

impl StructState {
    fn new(columns: &[ColumnDef]) -> Self {
        Self {
            index: columns
                .iter()
                .enumerate()
                .map(|(i, c)| (c.key.to_ascii_lowercase(), i))
                .collect(),
            fields: Fields::from(
                columns
                    .iter()
                    .map(ColumnDef::arrow_field)
                    .collect::<Vec<_>>(),
            ),
            children: columns.iter().map(|c| Builder::new(&c.ty)).collect(),
            valid: Vec::new(),
            len: 0,
            slots: vec![None; columns.len()],
            lower: String::new(),
            hints: Vec::new(),
        }
    }

    /// The field `key` names (case-insensitively), if any; `at` is its position in the object.
    fn field_of(&mut self, at: usize, key: &str) -> Option<usize> {
        if let Some((known, field)) = self.hints.get(at)
            && same(known.as_bytes(), key.as_bytes())
        {
            return *field;
        }
        self.lower.clear();
        self.lower.push_str(key);
        self.lower.make_ascii_lowercase();
        let field = self.index.get(self.lower.as_str()).copied();
        if at < self.hints.len() {
            self.hints[at] = (key.into(), field);
        } else if at == self.hints.len() && at < HINTS {
            self.hints.push((key.into(), field));
        }
        field
    }

    /// Append the object at `node`. Keys match case-insensitively; of two keys that match the
    /// same field, the last is read (as Athena reads it) and the other is reported.
    fn append_object(&mut self, node: usize, ctx: &mut Ctx, path: &Path) {
        let parsed = ctx.parsed;
        self.slots.iter_mut().for_each(|s| *s = None);
        for (at, (key, _)) in parsed.pairs(node).enumerate() {
            let Some(field) = self.field_of(at, &parsed.str(key)) else {
                continue;
            };
            if let Some(earlier) = self.slots[field].replace(key) {
                let why = format!(
                    "duplicate key: `{}` and `{}` both name this column; Athena reads the last one",
                    crate::text::escape(&parsed.str(earlier)),
                    crate::text::escape(&parsed.str(key))
                );
                ctx.reads_otherwise(earlier + 1, &path.child(self.fields[field].name()), why);
            }
        }
        for (i, child) in self.children.iter_mut().enumerate() {
            match self.slots[i] {
                // A key is a leaf: its value is the next node.
                Some(key) => child.append(key + 1, ctx, &path.child(self.fields[i].name())),
                None => child.append_null(),
            }
        }
        self.valid.push(true);
        self.len += 1;
    }

    fn append_null(&mut self) {
        self.children.iter_mut().for_each(Builder::append_null);
        self.valid.push(false);
        self.len += 1;
    }

    fn finish(&mut self) -> Result<ArrayRef, ArrowError> {
        let nulls = NullBuffer::from(std::mem::take(&mut self.valid));
        let len = std::mem::take(&mut self.len);
        if self.children.is_empty() {
            return Ok(Arc::new(StructArray::new_empty_fields(len, Some(nulls))));
        }
        let children = self
            .children
            .iter_mut()
            .map(Builder::finish)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Arc::new(StructArray::try_new(
            self.fields.clone(),
            children,
            Some(nulls),
        )?))
    }
}

/// Offsets and validity of a list-like column.
#[derive(Default)]
struct ListState {
    offsets: Vec<i32>,
    valid: Vec<bool>,
}

impl ListState {
    /// The next entry's end offset, or `None` when the column would pass 2^31 items.
    fn end(&self, items: usize) -> Option<i32> {
        let last = self.offsets.last().copied().unwrap_or(0);
        i32::try_from(items).ok().and_then(|n| last.checked_add(n))
    }

    fn push(&mut self, end: i32, valid: bool) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        self.offsets.push(end);
        self.valid.push(valid);
    }

    fn push_null(&mut self) {
        let last = self.offsets.last().copied().unwrap_or(0);
        self.push(last, false);
    }

    fn finish(&mut self) -> (OffsetBuffer<i32>, Option<NullBuffer>) {
        let mut offsets = std::mem::take(&mut self.offsets);
        if offsets.is_empty() {
            offsets.push(0);
        }
        let valid = std::mem::take(&mut self.valid);
        let nulls = valid.iter().any(|v| !v).then(|| NullBuffer::from(valid));
        (OffsetBuffer::new(offsets.into()), nulls)
    }
}

/// The builder of one column (or nested field), by Hive type.
enum Builder {
    Str(StringBuilder),
    BigInt(Int64Builder),
    Int(Int32Builder),
    Double(Float64Builder),
    Float(Float32Builder),
    Bool(BooleanBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    Date(Date32Builder),
    List {
        item: FieldRef,
        list: ListState,
        child: Box<Builder>,
    },
    Struct(Box<StructState>),
    Map {
        entries: FieldRef,
        entry_fields: Fields,
        list: ListState,
        keys: Box<Builder>,
        values: Box<Builder>,
    },
}

impl Builder {
    fn new(ty: &HiveType) -> Self {
        match ty {
            HiveType::String => Self::Str(StringBuilder::new()),
            HiveType::BigInt => Self::BigInt(Int64Builder::new()),
            HiveType::Int => Self::Int(Int32Builder::new()),
            HiveType::Double => Self::Double(Float64Builder::new()),
            HiveType::Float => Self::Float(Float32Builder::new()),
            HiveType::Boolean => Self::Bool(BooleanBuilder::new()),
            HiveType::Timestamp => Self::Timestamp(TimestampMicrosecondBuilder::new()),
            HiveType::Date => Self::Date(Date32Builder::new()),
            HiveType::Array(item) => Self::List {
                item: Arc::new(Field::new("item", item.arrow_type(), true)),
                list: ListState::default(),
                child: Box::new(Self::new(item)),
            },
            HiveType::Struct(fields) => Self::Struct(Box::new(StructState::new(fields))),
            HiveType::Map(key, value) => {
                let (entries, entry_fields) = match ty.arrow_type() {
                    DataType::Map(entries, _) => {
                        let fields = match entries.data_type() {
                            DataType::Struct(f) => f.clone(),
                            _ => Fields::empty(),
                        };
                        (entries, fields)
                    }
                    _ => (
                        Arc::new(Field::new("entries", DataType::Null, false)),
                        Fields::empty(),
                    ),
                };
                Self::Map {
                    entries,
                    entry_fields,
                    list: ListState::default(),
                    keys: Box::new(Self::new(key)),
                    values: Box::new(Self::new(value)),
                }
            }
        }
    }

    /// The Hive type name, for messages.
    fn type_name(&self) -> &'static str {
        match self {
            Self::Str(_) => "string",
            Self::BigInt(_) => "bigint",
            Self::Int(_) => "int",
            Self::Double(_) => "double",
            Self::Float(_) => "float",
            Self::Bool(_) => "boolean",
            Self::Timestamp(_) => "timestamp",
            Self::Date(_) => "date",
            Self::List { .. } => "array",
            Self::Struct(_) => "struct",
            Self::Map { .. } => "map",
        }
    }

    fn append_null(&mut self) {
        match self {
            Self::Str(b) => b.append_null(),
            Self::BigInt(b) => b.append_null(),
            Self::Int(b) => b.append_null(),
            Self::Double(b) => b.append_null(),
            Self::Float(b) => b.append_null(),
            Self::Bool(b) => b.append_null(),
            Self::Timestamp(b) => b.append_null(),
            Self::Date(b) => b.append_null(),
            Self::List { list, .. } | Self::Map { list, .. } => list.push_null(),
            Self::Struct(s) => s.append_null(),
        }
    }

    /// Append exactly one entry for the value at `node`, as Athena reads it; report what Athena
    /// would refuse.
    fn append(&mut self, node: usize, ctx: &mut Ctx, path: &Path) {
        let value = ctx.value(node);
        if matches!(value, Json::Null) {
            self.append_null();
            return;
        }
        let type_name = self.type_name();
        let mismatch = |ctx: &mut Ctx, value: &Json| {
            ctx.fails(
                node,
                path,
                format!("a JSON {} where the column is {type_name}", value.name()),
            );
        };
        match self {
            Self::Str(b) => match &value {
                Json::Array | Json::Object => {
                    // Kept as its JSON text here; Athena's Hive reader refuses it.
                    b.append_value(ctx.parsed.raw(node));
                    mismatch(ctx, &value);
                }
                Json::Str(text) => b.append_value(text),
                scalar => b.append_option(scalar.scalar_text()),
            },
            Self::BigInt(b) => b.append_option(Self::whole(
                &value,
                node,
                ctx,
                path,
                i64::MIN,
                i64::MAX,
                type_name,
            )),
            Self::Int(b) => b.append_option(
                Self::whole(
                    &value,
                    node,
                    ctx,
                    path,
                    i32::MIN.into(),
                    i32::MAX.into(),
                    type_name,
                )
                .and_then(|n| i32::try_from(n).ok()),
            ),
            Self::Double(b) => {
                b.append_option(Self::real(&value, node, ctx, path, f64::MAX, type_name))
            }
            Self::Float(b) => b.append_option(
                Self::real(&value, node, ctx, path, f64::from(f32::MAX), type_name)
                    .map(|f| f as f32),
            ),
            Self::Bool(b) => match value.scalar_text() {
                Some(text) => {
                    let truth = text.eq_ignore_ascii_case("true");
                    if !truth && !text.eq_ignore_ascii_case("false") {
                        ctx.reads_otherwise(node, path, "not a boolean: Athena reads false");
                    }
                    b.append_value(truth);
                }
                None => {
                    b.append_null();
                    mismatch(ctx, &value);
                }
            },
            Self::Timestamp(b) => {
                let micros = value.scalar_text().and_then(|t| ctx.formats.parse(&t));
                match micros {
                    Some(m) => b.append_value(m),
                    None => {
                        b.append_null();
                        if value.scalar_text().is_some() {
                            ctx.fails(node, path, "no timestamp format of the table matches");
                        } else {
                            mismatch(ctx, &value);
                        }
                    }
                }
            }
            Self::Date(b) => match value.scalar_text() {
                Some(text) => match hive_date(&text) {
                    Some(days) => b.append_value(days),
                    None => {
                        b.append_null();
                        ctx.fails(node, path, "not a yyyy-MM-dd date");
                    }
                },
                None => {
                    b.append_null();
                    mismatch(ctx, &value);
                }
            },
            Self::List { list, child, .. } => {
                if !matches!(value, Json::Array) {
                    list.push_null();
                    mismatch(ctx, &value);
                    return;
                }
                let parsed = ctx.parsed;
                let Some(end) = list.end(parsed.children(node).count()) else {
                    list.push_null();
                    ctx.fails(node, path, "the column would pass 2^31 array items");
                    return;
                };
                let items = path.child("[]");
                for item in parsed.children(node) {
                    child.append(item, ctx, &items);
                }
                list.push(end, true);
            }
            Self::Struct(state) => match &value {
                Json::Object => state.append_object(node, ctx, path),
                _ => {
                    state.append_null();
                    mismatch(ctx, &value);
                }
            },
            Self::Map {
                list, keys, values, ..
            } => {
                if !matches!(value, Json::Object) {
                    list.push_null();
                    mismatch(ctx, &value);
                    return;
                }
                let parsed = ctx.parsed;
                let pairs: Vec<(Cow<str>, usize)> = parsed
                    .pairs(node)
                    .map(|(key, value)| (parsed.str(key), value))
                    .collect();
                // Duplicate keys: the last one stays, in its place (Trino's DistinctMapKeys).
                let mut seen = std::collections::HashSet::with_capacity(pairs.len());
                let mut kept: Vec<usize> = (0..pairs.len())
                    .rev()
                    .filter(|&i| seen.insert(&pairs[i].0))
                    .collect();
                kept.reverse();
                if kept.len() < pairs.len() {
                    ctx.reads_otherwise(
                        node,
                        path,
                        "duplicate map keys: Athena keeps the last of each",
                    );
                }
                let Some(end) = list.end(kept.len()) else {
                    list.push_null();
                    ctx.fails(node, path, "the column would pass 2^31 map entries");
                    return;
                };
                let entries = path.child("[]");
                for i in kept {
                    let (key, value) = &pairs[i];
                    keys.append_key(key);
                    values.append(*value, ctx, &entries);
                }
                list.push(end, true);
            }
        }
    }

    /// A map key (its text), read into the key builder.
    fn append_key(&mut self, key: &str) {
        match self {
            Self::Str(b) => b.append_value(key),
            Self::BigInt(b) => b.append_option(key.parse().ok()),
            Self::Int(b) => b.append_option(key.parse().ok()),
            Self::Double(b) => b.append_option(key.parse().ok()),
            Self::Float(b) => b.append_option(key.parse().ok()),
            Self::Bool(b) => b.append_value(key.eq_ignore_ascii_case("true")),
            other => other.append_null(),
        }
    }

    /// An integer column's value, or None (reported).
    fn whole(
        value: &Json,
        node: usize,
        ctx: &mut Ctx,
        path: &Path,
        min: i64,
        max: i64,
        type_name: &str,
    ) -> Option<i64> {
        match value {
            Json::Number(text) => match integer(text, min, max, type_name) {
                Ok((n, truncated)) => {
                    if truncated {
                        ctx.reads_otherwise(
                            node,
                            path,
                            format!("Athena reads {n} (the fraction dropped)"),
                        );
                    }
                    Some(n)
                }
                Err(why) => {
                    ctx.fails(node, path, why);
                    None
                }
            },
            Json::Str(text) => {
                ctx.fails(
                    node,
                    path,
                    format!("a JSON string where the column is {type_name}"),
                );
                integer(text.trim(), min, max, type_name)
                    .ok()
                    .map(|(n, _)| n)
            }
            other => {
                ctx.fails(
                    node,
                    path,
                    format!("a JSON {} where the column is {type_name}", other.name()),
                );
                None
            }
        }
    }

    /// A floating-point column's value, or None (reported). Beyond `max`, Athena reads infinity.
    fn real(
        value: &Json,
        node: usize,
        ctx: &mut Ctx,
        path: &Path,
        max: f64,
        type_name: &str,
    ) -> Option<f64> {
        match value {
            Json::Number(text) => {
                let f: f64 = text.parse().ok()?;
                if f.abs() > max {
                    ctx.reads_otherwise(
                        node,
                        path,
                        format!("beyond the {type_name} range: Athena reads infinity"),
                    );
                }
                Some(f)
            }
            Json::Str(text) => {
                ctx.fails(
                    node,
                    path,
                    format!("a JSON string where the column is {type_name}"),
                );
                text.trim().parse().ok()
            }
            other => {
                ctx.fails(
                    node,
                    path,
                    format!("a JSON {} where the column is {type_name}", other.name()),
                );
                None
            }
        }
    }

    fn finish(&mut self) -> Result<ArrayRef, ArrowError> {
        Ok(match self {
            Self::Str(b) => Arc::new(b.finish()),
            Self::BigInt(b) => Arc::new(b.finish()),
            Self::Int(b) => Arc::new(b.finish()),
            Self::Double(b) => Arc::new(b.finish()),
            Self::Float(b) => Arc::new(b.finish()),
            Self::Bool(b) => Arc::new(b.finish()),
            Self::Timestamp(b) => Arc::new(b.finish()),
            Self::Date(b) => Arc::new(b.finish()),
            Self::List { item, list, child } => {
                let (offsets, nulls) = list.finish();
                Arc::new(ListArray::try_new(
                    item.clone(),
                    offsets,
                    child.finish()?,
                    nulls,
                )?)
            }
            Self::Struct(s) => s.finish()?,
            Self::Map {
                entries,
                entry_fields,
                list,
                keys,
                values,
            } => {
                let (offsets, nulls) = list.finish();
                let entry_array = StructArray::try_new(
                    entry_fields.clone(),
                    vec![keys.finish()?, values.finish()?],
                    None,
                )?;
                Arc::new(MapArray::try_new(
                    entries.clone(),
                    offsets,
                    entry_array,
                    nulls,
                    false,
                )?)
            }
        })
    }
}

/// Hive's date reading: the text before the first space, `y-M-d`; days since the epoch.
fn hive_date(text: &str) -> Option<i32> {
    let text = text.trim();
    let date = text.split(' ').next().unwrap_or(text);
    let mut parts = date.splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    let date = NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)?;
    i32::try_from(date.signed_duration_since(NaiveDate::default()).num_days()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ddl;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{Float64Type, Int64Type, TimestampMicrosecondType};

    fn col(key: &str, ty: HiveType) -> ColumnDef {
        ColumnDef {
            key: key.into(),
            name: key.to_ascii_lowercase(),
            ty,
        }
    }

    fn formats() -> TimestampFormats {
        let tables = ddl::tables().unwrap();
        TimestampFormats::compile(&tables[0].timestamp_formats()).unwrap()
    }

    /// A line longer than the cap is a bad line (never parsed, only its start sampled); the
    /// lines around it are read.
    #[test]
    fn a_line_longer_than_the_cap_is_a_bad_line() {
        let columns = vec![col("a", HiveType::BigInt)];
        let mut rows = RowsBuilder::new(&columns, formats()).max_line_bytes(16);
        let long = format!("{{\"a\":2,\"pad\":\"{}\"}}", "x".repeat(5000));
        let issues = rows.append_ndjson(format!("{{\"a\":1}}\n{long}\n{{\"a\":3}}\n").as_bytes());
        assert_eq!(rows.rows(), 2);
        assert_eq!(issues.malformed, 1);
        let sample = &issues.samples[0];
        assert_eq!(sample.line, 2);
        assert_eq!(
            sample.why,
            format!(
                "line of {} bytes exceeds the cap of 16 bytes (`max-line-bytes` in cs-cmdb.toml); skipped",
                long.len()
            )
        );
        assert!(sample.value.len() < 1024, "{}", sample.value);
        let arrays = rows.finish().unwrap();
        let a = arrays[0].as_primitive::<Int64Type>();
        assert_eq!(a.values().to_vec(), [1, 3]);
    }

    #[test]
    fn bad_lines_are_reported_with_their_number_and_append_nothing() {
        let columns = vec![col("a", HiveType::BigInt)];
        let mut rows = RowsBuilder::new(&columns, formats());
        let issues =
            rows.append_ndjson(b"{\"a\":1}\n\n{broken\n[1]\n{\"a\":3} trailing\n{\"a\":2}\r\n");
        assert_eq!(rows.rows(), 3);
        assert_eq!(issues.malformed, 2);
        assert_eq!(issues.athena_reads_otherwise, 1);
        let lines: Vec<u32> = issues.samples.iter().map(|b| b.line).collect();
        assert_eq!(lines, [3, 4, 5]);
        assert!(
            issues.samples[1]
                .why
                .contains("not a JSON object (a array)"),
            "{issues:?}"
        );
        assert!(issues.samples[2].why.contains("text after the JSON object"));
        let a = rows.finish().unwrap();
        assert_eq!(a[0].as_primitive::<Int64Type>().values(), &[1, 3, 2]);
    }

    #[test]
    fn values_that_do_not_block_the_table() {
        // Beyond every range, nested deeper than any parser's default limit, a huge list: each is
        // one reported value, never an error for the file.
        let columns = vec![
            col("n", HiveType::BigInt),
            col("f", HiveType::Double),
            col("s", HiveType::String),
        ];
        let mut rows = RowsBuilder::new(&columns, formats());
        let deep = format!("{}1{}", "[".repeat(300), "]".repeat(300));
        let text = format!(
            "{{\"n\":1e400,\"f\":1e400,\"s\":\"ok\"}}\n{{\"n\":99999999999999999999,\"f\":2.5,\"s\":{deep}}}\n{{\"n\":7,\"f\":\"x\",\"s\":\"fine\"}}"
        );
        let issues = rows.append_ndjson(text.as_bytes());
        assert_eq!(rows.rows(), 3, "{issues:?}");
        assert_eq!(issues.malformed, 0, "{issues:?}");
        assert_eq!(issues.athena_fails, 4, "{issues:?}");
        let arrays = rows.finish().unwrap();
        let n = arrays[0].as_primitive::<Int64Type>();
        assert!(n.is_null(0) && n.is_null(1));
        assert_eq!(n.value(2), 7);
        let f = arrays[1].as_primitive::<Float64Type>();
        assert!(f.value(0).is_infinite());
        assert!(f.is_null(2));
    }

    fn instances_table() -> crate::catalog::ddl::TableDef {
        ddl::tables()
            .unwrap()
            .into_iter()
            .find(|t| t.name == "clonesquad_instances")
            .unwrap()
    }

    /// The array of the column `name` among `arrays` (built for `columns`).
    fn column(columns: &[ColumnDef], arrays: &[ArrayRef], name: &str) -> ArrayRef {
        let at = columns.iter().position(|c| c.name == name).unwrap();
        arrays[at].clone()
    }

    #[test]
    fn keys_compare_like_slices() {
        let keys = [
            "",
            "a",
            "A",
            "abcdefg",
            "abcdefgh",
            "abcdefgi",
            "Xbcdefgh",
            "abcdefghijklmnop",
        ];
        let mut all: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        // Each byte of a 9- to 40-byte key changed in turn.
        for n in 9..=40 {
            let key: String = ('a'..='z').cycle().take(n).collect();
            for at in 0..n {
                let mut other = key.clone().into_bytes();
                other[at] = b'_';
                all.push(String::from_utf8(other).unwrap());
            }
            all.push(key);
        }
        for a in &all {
            for b in &all {
                assert_eq!(same(a.as_bytes(), b.as_bytes()), a == b, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn lines_split_exactly_like_a_byte_split() {
        for text in [
            &b""[..],
            b"\n",
            b"a",
            b"a\n",
            b"a\nb",
            b"\n\na\n\n",
            b"{}\r\n{}",
        ] {
            let ours: Vec<&[u8]> = lines(text).collect();
            let split: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
            assert_eq!(ours, split, "{:?}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn keys_in_a_new_order_or_case_still_name_their_fields() {
        let instances = instances_table();
        let mut rows = RowsBuilder::new(&instances.columns, formats());
        let issues = rows.append_ndjson(
            br#"{"InstanceId":"a","Unknown":1,"ImageId":"x"}
{"Unknown":"b","InstanceId":"c","ImageId":"y"}
{"IMAGEID":"z","instanceId":"d"}
{"ImageId":"w","InstanceId":"e","Extra":[1]}"#,
        );
        assert_eq!(issues.total(), 0, "{issues:?}");
        let arrays = rows.finish().unwrap();
        let col = |name: &str| {
            let array = column(&instances.columns, &arrays, name);
            let array = array.as_string::<i32>();
            (0..array.len())
                .map(|i| array.value(i).to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(col("instanceid"), ["a", "c", "d", "e"]);
        assert_eq!(col("imageid"), ["x", "y", "z", "w"]);
    }

    #[test]
    fn nested_values_case_insensitive_keys_and_coercions() {
        let instances = instances_table();
        let mut rows = RowsBuilder::new(&instances.columns, formats());
        let issues = rows.append_ndjson(
            br#"{"InstanceId":"i-1","State":{"Code":16,"Name":"running"},"Tags":[{"Key":"Name","Value":"web-1"}],"LaunchTime":"2026-11-26 09:00:01","AmiLaunchIndex":"3"}
{"instanceid":"i-2","state":{"code":80,"name":"stopped"},"Tags":[],"LaunchTime":"2026-11-26 09:00:01.5"}
{"InstanceId":"i-3","State":null,"Tags":null,"ProductCodes":[{"ProductCodeId":"abc","ProductCodeType":"marketplace"}]}"#,
        );
        assert_eq!(issues.athena_fails, 1, "{issues:?}");
        assert_eq!(issues.samples[0].column, "amilaunchindex");
        assert!(
            issues.samples[0]
                .why
                .contains("a JSON string where the column is bigint")
        );
        let arrays = rows.finish().unwrap();
        let col = |name: &str| column(&instances.columns, &arrays, name);
        let ids = col("instanceid");
        assert_eq!(ids.as_string::<i32>().value(1), "i-2");
        let state = col("state");
        let state = state.as_struct();
        assert_eq!(state.column(1).as_string::<i32>().value(1), "stopped");
        assert!(state.is_null(2));
        let tags = col("tags");
        let tags = tags.as_list::<i32>();
        assert_eq!(tags.value_length(0), 1);
        assert_eq!(tags.value_length(1), 0);
        assert!(tags.is_null(2));
        let launch = col("launchtime");
        assert_eq!(
            launch.as_primitive::<TimestampMicrosecondType>().value(1) % 1_000_000,
            500_000
        );
        let index = col("amilaunchindex");
        assert_eq!(index.as_primitive::<Int64Type>().value(0), 3);
        assert!(index.is_null(1));
        let codes = col("productcodes");
        assert_eq!(codes.as_list::<i32>().value_length(2), 1);
    }

    /// An issue names the nested column it is in, list items as `[]` (three issues: a file
    /// keeps three samples).
    #[test]
    fn issues_name_the_nested_column() {
        let instances = instances_table();
        let mut rows = RowsBuilder::new(&instances.columns, formats());
        let issues = rows.append_ndjson(
            br#"{"BlockDeviceMappings":[{"Ebs":{"AttachTime":"nope"}}],"Tags":[{"Key":"a"},{"Key":{}}],"Monitoring":{"State":"a","state":"b"}}"#,
        );
        let mut columns: Vec<&str> = issues.samples.iter().map(|i| i.column.as_str()).collect();
        columns.sort_unstable();
        assert_eq!(
            columns,
            [
                "blockdevicemappings[].ebs.attachtime",
                "monitoring.state",
                "tags[].key"
            ],
            "{issues:?}"
        );
    }

    #[test]
    fn athena_coercions_last_key_wins_texts_and_maps() {
        let columns = vec![
            col("Name", HiveType::String),
            col("Doc", HiveType::String),
            col(
                "Tags",
                HiveType::Map(Box::new(HiveType::String), Box::new(HiveType::BigInt)),
            ),
            col("Flag", HiveType::Boolean),
            col("Size", HiveType::Double),
            col("Count", HiveType::BigInt),
            col("At", HiveType::Timestamp),
        ];
        let mut rows = RowsBuilder::new(&columns, formats());
        let issues = rows.append_ndjson(
                br#"{"Name":"first","NAME":"last","Doc":{"b":[1,2.5,true,null],"a":"x"},"Tags":{"k":7,"j":2,"k":8},"Flag":"TRUE","Size":1,"Count":2.7,"At":"2026-11-26 09:00:01.123456+00:00"}
{"Name":"escaped\u0041","Doc":1e3,"Flag":1,"Size":true,"At":[1]}
{"Doc":false,"Tags":[1],"Flag":null,"At":1700000000}"#,
            );
        let whys: Vec<(u32, &str, &str)> = issues
            .samples
            .iter()
            .map(|i| (i.line, i.column.as_str(), i.why.as_str()))
            .collect();
        assert_eq!(issues.athena_reads_otherwise, 4, "{whys:?}");
        assert_eq!(issues.athena_fails, 5, "{whys:?}");
        assert_eq!(whys[0].1, "name");
        assert!(whys[0].2.contains("duplicate key"), "{whys:?}");
        assert_eq!(whys[1].1, "doc");
        assert!(
            whys[1]
                .2
                .contains("a JSON object where the column is string")
        );
        let arrays = rows.finish().unwrap();
        let name = arrays[0].as_string::<i32>();
        assert_eq!(name.value(0), "last");
        assert_eq!(name.value(1), "escapedA");
        assert!(name.is_null(2));
        let doc = arrays[1].as_string::<i32>();
        assert_eq!(doc.value(0), r#"{"b":[1,2.5,true,null],"a":"x"}"#);
        assert_eq!(doc.value(1), "1e3", "numbers keep their text");
        assert_eq!(doc.value(2), "false");
        let tags = arrays[2].as_map();
        assert_eq!(tags.value_length(0), 2);
        assert_eq!(tags.keys().as_string::<i32>().value(0), "j");
        assert_eq!(tags.values().as_primitive::<Int64Type>().values(), &[2, 8]);
        assert!(tags.is_null(1));
        assert!(tags.is_null(2), "an array is not a map");
        let flag = arrays[3].as_boolean();
        assert!(flag.value(0));
        assert!(!flag.value(1) && flag.is_valid(1), "1 reads false");
        assert!(flag.is_null(2));
        let size = arrays[4].as_primitive::<Float64Type>();
        assert_eq!(size.value(0), 1.0);
        assert!(size.is_null(1));
        let count = arrays[5].as_primitive::<Int64Type>();
        assert_eq!(count.value(0), 2, "truncated toward zero");
        let at = arrays[6].as_primitive::<TimestampMicrosecondType>();
        assert_eq!(at.value(0) % 1_000_000, 123_000, "milliseconds, truncated");
        assert!(at.is_null(1) && at.is_null(2));
    }
}
