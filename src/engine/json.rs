//! Our JSON loader: CloneSquad's NDJSON lines, read straight into Arrow builders against the
//! schema of `ddl/*.sql`, with no intermediate JSON tree. Keys match case-insensitively (an exact
//! match wins), values are coerced the way Athena's JSON SerDe reads them, keys no column
//! declares are skipped unread, and a line that is not a JSON object is reported, never fatal.
//!
//! Each object is first split into its keys and raw values (which validates the whole line, so
//! a malformed line appends nothing); then the declared values are decoded into the builders.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float32Builder, Float64Builder, Int32Builder,
    Int64Builder, ListArray, MapArray, StringBuilder, StructArray, TimestampMicrosecondBuilder,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::arrow::error::ArrowError;
use serde::Deserialize;
use serde::de::{
    self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
    value::{MapAccessDeserializer, SeqAccessDeserializer},
};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::catalog::ddl::{ColumnDef, HiveType};

/// A line that could not be read as a JSON object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BadLine {
    /// 1-based line number.
    pub line: u32,
    pub error: String,
}

/// Rows of a table being loaded: one builder per column.
pub struct RowsBuilder {
    root: StructState,
    rows: usize,
}

impl RowsBuilder {
    pub fn new(columns: &[ColumnDef]) -> Self {
        Self {
            root: StructState::new(columns),
            rows: 0,
        }
    }

    /// Rows appended so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Append every JSON-object line of `bytes`. Blank lines are skipped; other unreadable lines
    /// are returned as [`BadLine`]s and append nothing.
    pub fn append_ndjson(&mut self, bytes: &[u8]) -> Result<Vec<BadLine>, ArrowError> {
        let mut bad = Vec::new();
        for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
            let Some(first) = line.iter().find(|b| !b.is_ascii_whitespace()) else {
                continue;
            };
            let line_no = u32::try_from(index + 1).unwrap_or(u32::MAX);
            if *first != b'{' {
                let error = match serde_json::from_slice::<IgnoredAny>(line) {
                    Ok(_) => format!("not a JSON object (a {})", kind(*first)),
                    Err(err) => err.to_string(),
                };
                bad.push(BadLine {
                    line: line_no,
                    error,
                });
                continue;
            }
            match serde_json::from_slice::<Pairs>(line) {
                Ok(pairs) => {
                    self.root
                        .append_pairs(&pairs.0)
                        .map_err(|e| ArrowError::JsonError(format!("line {line_no}: {e}")))?;
                    self.rows += 1;
                }
                Err(err) => bad.push(BadLine {
                    line: line_no,
                    error: err.to_string(),
                }),
            }
        }
        Ok(bad)
    }

    /// The column arrays, in the order of the columns given to [`RowsBuilder::new`].
    pub fn finish(&mut self) -> Result<Vec<ArrayRef>, ArrowError> {
        self.rows = 0;
        self.root.len = 0;
        self.root.valid.clear();
        self.root.children.iter_mut().map(Builder::finish).collect()
    }
}

/// What the first byte of a valid JSON value says it is.
fn kind(first: u8) -> &'static str {
    match first {
        b'[' => "array",
        b'"' => "string",
        b't' | b'f' => "boolean",
        b'n' => "null",
        _ => "number",
    }
}

/// An object key, borrowed from the line when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// A JSON object as its keys and raw (validated, undecoded) values, in order.
struct Pairs<'de>(Vec<(Key<'de>, &'de RawValue)>);

impl<'de> Deserialize<'de> for Pairs<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairsVisitor;
        impl<'de> Visitor<'de> for PairsVisitor {
            type Value = Pairs<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Pairs<'de>, A::Error> {
                Pairs::collect(map)
            }
        }
        deserializer.deserialize_map(PairsVisitor)
    }
}

impl<'de> Pairs<'de> {
    /// Every key of an object with its raw value.
    fn collect<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(16));
        while let Some(key) = map.next_key::<Key>()? {
            let value: &RawValue = map.next_value()?;
            pairs.push((key, value));
        }
        Ok(Pairs(pairs))
    }
}

/// FNV-1a for the short keys of the field index.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let start = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        self.0 = bytes.iter().fold(start, |hash, &b| {
            (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    }
}

/// The fields of a struct (or the columns of a row) and their builders.
struct StructState {
    /// The declared keys, as written in the DDL.
    keys: Vec<String>,
    /// Lowercase key -> field index.
    index: HashMap<String, usize, BuildHasherDefault<Fnv>>,
    fields: Fields,
    children: Vec<Builder>,
    valid: Vec<bool>,
    len: usize,
    /// Per field, for the object being appended: (pair index, exact key match).
    slots: Vec<Option<(usize, bool)>>,
    lower: String,
}

impl StructState {
    fn new(columns: &[ColumnDef]) -> Self {
        Self {
            keys: columns.iter().map(|c| c.key.clone()).collect(),
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
        }
    }

    /// Append one object: an exact key match wins, else the first case-insensitive one. A
    /// JSON null reads as a missing value.
    fn append_pairs(&mut self, pairs: &[(Key, &RawValue)]) -> Result<(), serde_json::Error> {
        self.slots.iter_mut().for_each(|s| *s = None);
        for (at, (key, _)) in pairs.iter().enumerate() {
            self.lower.clear();
            self.lower.push_str(&key.0);
            self.lower.make_ascii_lowercase();
            let Some(&field) = self.index.get(self.lower.as_str()) else {
                continue;
            };
            let exact = key.0 == self.keys[field];
            match self.slots[field] {
                Some((_, true)) if !exact => {}
                Some((_, false)) if !exact => {}
                _ => self.slots[field] = Some((at, exact)),
            }
        }
        for (child, slot) in self.children.iter_mut().zip(&self.slots) {
            match slot {
                Some((at, _)) => {
                    let raw = pairs[*at].1;
                    let mut de = serde_json::Deserializer::from_str(raw.get());
                    Seed(child).deserialize(&mut de)?;
                }
                None => child.append_null(),
            }
        }
        self.valid.push(true);
        self.len += 1;
        Ok(())
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
    fn push(&mut self, items: usize, valid: bool) -> Result<(), ArrowError> {
        let last = self.offsets.last().copied().unwrap_or(0);
        let next = i32::try_from(items)
            .ok()
            .and_then(|n| last.checked_add(n))
            .ok_or_else(|| ArrowError::JsonError("list column over 2^31 items".into()))?;
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        self.offsets.push(next);
        self.valid.push(valid);
        Ok(())
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
            Self::List { list, .. } | Self::Map { list, .. } => {
                // An empty null entry cannot overflow the offsets.
                let _ = list.push(0, false);
            }
            Self::Struct(s) => s.append_null(),
        }
    }

    /// A JSON string.
    fn append_str(&mut self, s: &str) {
        match self {
            Self::Str(b) => b.append_value(s),
            Self::BigInt(b) => b.append_option(s.trim().parse().ok()),
            Self::Int(b) => b.append_option(
                s.trim()
                    .parse::<i64>()
                    .ok()
                    .and_then(|i| i32::try_from(i).ok()),
            ),
            Self::Double(b) => b.append_option(s.trim().parse().ok()),
            Self::Float(b) => b.append_option(s.trim().parse::<f64>().ok().map(|f| f as f32)),
            Self::Bool(b) => b.append_option(if s.eq_ignore_ascii_case("true") {
                Some(true)
            } else if s.eq_ignore_ascii_case("false") {
                Some(false)
            } else {
                None
            }),
            Self::Timestamp(b) => {
                b.append_option(parse_timestamp(s).map(|t| t.and_utc().timestamp_micros()))
            }
            Self::Date(b) => b.append_option(
                s.get(..10)
                    .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                    .map(|d| {
                        let days = d.signed_duration_since(NaiveDate::default()).num_days();
                        i32::try_from(days).unwrap_or(i32::MAX)
                    }),
            ),
            _ => self.append_null(),
        }
    }

    /// A JSON number.
    fn append_number(&mut self, n: &serde_json::Number) {
        let as_i64 = || {
            n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                    .map(|f| f as i64)
            })
        };
        match self {
            Self::Str(b) => b.append_value(n.to_string()),
            Self::BigInt(b) => b.append_option(as_i64()),
            Self::Int(b) => b.append_option(as_i64().and_then(|i| i32::try_from(i).ok())),
            Self::Double(b) => b.append_option(n.as_f64()),
            Self::Float(b) => b.append_option(n.as_f64().map(|f| f as f32)),
            _ => self.append_null(),
        }
    }

    /// A JSON boolean.
    fn append_bool(&mut self, v: bool) {
        match self {
            Self::Str(b) => b.append_value(if v { "true" } else { "false" }),
            Self::BigInt(b) => b.append_value(i64::from(v)),
            Self::Int(b) => b.append_value(i32::from(v)),
            Self::Bool(b) => b.append_value(v),
            _ => self.append_null(),
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

/// Decodes one JSON value into a builder, appending exactly one entry.
struct Seed<'b>(&'b mut Builder);

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.0.append_null();
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.0.append_null();
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.0.append_bool(v);
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.0.append_number(&v.into());
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.0.append_number(&v.into());
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        match serde_json::Number::from_f64(v) {
            Some(n) => self.0.append_number(&n),
            None => self.0.append_null(),
        }
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.0.append_str(v);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        match self.0 {
            Builder::List { list, child, .. } => {
                let mut items = 0;
                while seq.next_element_seed(Seed(child))?.is_some() {
                    items += 1;
                }
                list.push(items, true).map_err(de::Error::custom)?;
            }
            // A string column holding an array reads as its JSON text.
            Builder::Str(b) => {
                let value = Value::deserialize(SeqAccessDeserializer::new(seq))?;
                b.append_value(value.to_string());
            }
            other => {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                other.append_null();
            }
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        match self.0 {
            Builder::Struct(state) => {
                let pairs = Pairs::collect(map)?;
                state.append_pairs(&pairs.0).map_err(de::Error::custom)?;
            }
            Builder::Map {
                list, keys, values, ..
            } => {
                let mut items = 0;
                while let Some(key) = map.next_key::<Key>()? {
                    keys.append_str(&key.0);
                    map.next_value_seed(Seed(values))?;
                    items += 1;
                }
                list.push(items, true).map_err(de::Error::custom)?;
            }
            // A string column holding an object reads as its JSON text.
            Builder::Str(b) => {
                let value = Value::deserialize(MapAccessDeserializer::new(map))?;
                b.append_value(value.to_string());
            }
            other => {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                other.append_null();
            }
        }
        Ok(())
    }
}

/// Every timestamp form CloneSquad writes, read as UTC: `2026-11-26 09:00:01[.123456]`, the same
/// with a `+00:00` (or any) offset or `Z`, a `T` separator, or a bare date.
pub fn parse_timestamp(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    if let Ok(t) = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f") {
        return Some(t);
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Some(t.naive_utc());
        }
    }
    let naive = text.strip_suffix('Z').unwrap_or(text);
    if let Ok(t) = NaiveDateTime::parse_from_str(naive, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t);
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ddl;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{Int64Type, TimestampMicrosecondType};

    #[test]
    fn timestamps_in_every_written_form() {
        let t = |s: &str| parse_timestamp(s).map(|t| t.to_string());
        assert_eq!(
            t("2026-11-26 09:00:01.123456").as_deref(),
            Some("2026-11-26 09:00:01.123456")
        );
        assert_eq!(
            t("2026-11-26 09:00:01").as_deref(),
            Some("2026-11-26 09:00:01")
        );
        assert_eq!(
            t("2026-11-26 09:00:01.123456+00:00").as_deref(),
            Some("2026-11-26 09:00:01.123456")
        );
        assert_eq!(
            t("2026-11-26 11:00:01+02:00").as_deref(),
            Some("2026-11-26 09:00:01")
        );
        assert_eq!(
            t("2026-11-26T09:00:01Z").as_deref(),
            Some("2026-11-26 09:00:01")
        );
        assert_eq!(t("2026-11-26").as_deref(), Some("2026-11-26 00:00:00"));
        assert_eq!(t("yesterday"), None);
    }

    #[test]
    fn bad_lines_are_reported_with_their_number_and_append_nothing() {
        let columns = vec![ColumnDef {
            key: "a".into(),
            name: "a".into(),
            ty: HiveType::BigInt,
        }];
        let mut rows = RowsBuilder::new(&columns);
        let bad = rows
            .append_ndjson(b"{\"a\":1}\n\n{broken\n[1]\n{\"a\":3} trailing\n{\"a\":2}\r\n")
            .unwrap();
        assert_eq!(rows.rows(), 2);
        let lines: Vec<u32> = bad.iter().map(|b| b.line).collect();
        assert_eq!(lines, [3, 4, 5]);
        assert!(
            bad[1].error.contains("not a JSON object (a array)"),
            "{bad:?}"
        );
        let a = rows.finish().unwrap();
        assert_eq!(a[0].as_primitive::<Int64Type>().values(), &[1, 2]);
    }

    #[test]
    fn nested_values_case_insensitive_keys_and_coercions() {
        let tables = ddl::tables().unwrap();
        let instances = tables
            .iter()
            .find(|t| t.name == "clonesquad_instances")
            .unwrap();
        let mut rows = RowsBuilder::new(&instances.columns);
        let bad = rows.append_ndjson(
            br#"{"InstanceId":"i-1","State":{"Code":16,"Name":"running"},"Tags":[{"Key":"Name","Value":"web-1"}],"LaunchTime":"2026-11-26 09:00:01","AmiLaunchIndex":"3"}
{"instanceid":"i-2","state":{"code":80,"name":"stopped"},"Tags":[],"LaunchTime":"2026-11-26 09:00:01.5"}
{"InstanceId":"i-3","State":null,"Tags":null}"#,
        ).unwrap();
        assert!(bad.is_empty());
        let arrays = rows.finish().unwrap();
        let col = |name: &str| {
            let at = instances
                .columns
                .iter()
                .position(|c| c.name == name)
                .unwrap();
            arrays[at].clone()
        };
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
    }

    #[test]
    fn exact_keys_win_texts_maps_and_undeclared_keys() {
        let col = |key: &str, ty: HiveType| ColumnDef {
            key: key.into(),
            name: key.to_ascii_lowercase(),
            ty,
        };
        let columns = vec![
            col("Name", HiveType::String),
            col("Doc", HiveType::String),
            col(
                "Tags",
                HiveType::Map(Box::new(HiveType::String), Box::new(HiveType::BigInt)),
            ),
            col("Flag", HiveType::Boolean),
            col("Size", HiveType::Double),
        ];
        let mut rows = RowsBuilder::new(&columns);
        let bad = rows
            .append_ndjson(
                br#"{"NAME":"upper","Name":"exact","Doc":{"b":[1,2.5,true,null],"a":"x"},"Tags":{"k":"7","j":2},"Flag":"TRUE","Size":"1.5","Other":{"deep":[1,2]}}
{"name":"only-ci","Name":"escaped","Doc":12.0,"Flag":1,"Size":true}
{"Doc":false,"Tags":[1],"Flag":null}"#,
            )
            .unwrap();
        assert!(bad.is_empty(), "{bad:?}");
        let arrays = rows.finish().unwrap();
        let name = arrays[0].as_string::<i32>();
        assert_eq!(name.value(0), "exact");
        assert_eq!(name.value(1), "escaped");
        assert!(name.is_null(2));
        let doc = arrays[1].as_string::<i32>();
        assert_eq!(doc.value(0), r#"{"b":[1,2.5,true,null],"a":"x"}"#);
        assert_eq!(doc.value(1), "12.0");
        assert_eq!(doc.value(2), "false");
        let tags = arrays[2].as_map();
        assert_eq!(tags.value_length(0), 2);
        assert_eq!(tags.keys().as_string::<i32>().value(1), "j");
        assert_eq!(tags.values().as_primitive::<Int64Type>().values(), &[7, 2]);
        assert!(tags.is_null(1));
        assert!(tags.is_null(2), "an array is not a map");
        let flag = arrays[3].as_boolean();
        assert!(flag.value(0));
        assert!(flag.is_null(1) && flag.is_null(2));
        let size = arrays[4].as_primitive::<datafusion::arrow::datatypes::Float64Type>();
        assert_eq!(size.value(0), 1.5);
        assert!(size.is_null(1));
    }
}
