//! Trino (Athena) scalar functions for DataFusion, so one SQL text runs on both engines.
//!
//! [`register`] adds `json_extract_scalar`, `json_extract`, `from_iso8601_timestamp`,
//! `date_diff`, `date_add`, `date_parse`, `element_at` (replacing DataFusion's map-only
//! alias) and a fixed clock behind `now()` / `current_timestamp`. Calendar arithmetic is
//! done in UTC and timezone-naive timestamps are read as UTC. Parsed fractions of a second
//! are truncated to milliseconds, as in Trino's `timestamp(3)` results.

use std::iter::repeat_n;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveDateTime, TimeDelta, Timelike, Utc};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Int64Array, StringArray, TimestampMicrosecondArray,
    UInt64Array, new_null_array,
};
use datafusion::arrow::compute::kernels::cmp::eq;
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{DataType, Date32Type, Field, Int64Type, TimeUnit};
use datafusion::common::{ScalarValue, exec_datafusion_err, exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

const UTC: &str = "UTC";
const DAY_MS: i64 = 86_400_000;
const MONTHS: &str = "January February March April May June July August September October \
                      November December";
const WEEKDAYS: &str = "Sunday Monday Tuesday Wednesday Thursday Friday Saturday";
/// `date_parse` specifiers supported after `%`.
const SPECIFIERS: &str = "YymcbMdejHkhIlisSfpaWTr%";

/// Registers the Trino functions on `ctx`; `now()` and `current_timestamp` return `now`.
pub fn register(ctx: &SessionContext, now: DateTime<Utc>) -> Result<()> {
    for func in [
        Func::JsonExtractScalar,
        Func::JsonExtract,
        Func::FromIso8601Timestamp,
        Func::DateDiff,
        Func::DateAdd,
        Func::DateParse,
        Func::ElementAt,
        Func::Now(now.timestamp_micros()),
    ] {
        ctx.register_udf(ScalarUDF::from(Trino::new(func)));
    }
    ctx.register_udf(ScalarUDF::from(RegexpLike::default()));
    Ok(())
}

/// `regexp_like(text, pattern)` with each pattern compiled once per statement. DataFusion's
/// own compiles the pattern again for every batch, which costs more than the matching on
/// small batches (`deployments` checks a version against a pattern on each row). Same regex
/// engine, same answers.
#[derive(Debug)]
struct RegexpLike {
    signature: Signature,
    /// Patterns compiled so far (a few: they come from the statement).
    compiled: std::sync::Mutex<std::collections::HashMap<String, regex::Regex>>,
}

impl Default for RegexpLike {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
            compiled: Default::default(),
        }
    }
}

impl PartialEq for RegexpLike {
    fn eq(&self, other: &Self) -> bool {
        self.signature == other.signature
    }
}

impl Eq for RegexpLike {}

impl std::hash::Hash for RegexpLike {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.signature.hash(state);
    }
}

/// More patterns than this in one statement (a column of patterns): start the cache afresh.
const REGEX_CACHE: usize = 64;

impl RegexpLike {
    fn regex(&self, pattern: &str) -> Result<regex::Regex> {
        let mut compiled = self.compiled.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(regex) = compiled.get(pattern) {
            return Ok(regex.clone());
        }
        let regex = regex::Regex::new(pattern).map_err(|e| {
            exec_datafusion_err!(
                "regexp_like: the pattern {pattern:?} is not a valid regular expression: {e}"
            )
        })?;
        if compiled.len() >= REGEX_CACHE {
            compiled.clear();
        }
        compiled.insert(pattern.to_string(), regex.clone());
        Ok(regex)
    }
}

impl ScalarUDFImpl for RegexpLike {
    fn name(&self) -> &str {
        "regexp_like"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, types: &[DataType]) -> Result<Vec<DataType>> {
        match types {
            [text, pattern] => Ok(vec![
                string(self.name(), text)?,
                string(self.name(), pattern)?,
            ]),
            _ => plan_err!("regexp_like takes two arguments (text, pattern), not {types:?}"),
        }
    }

    fn return_type(&self, _types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        columnar(&args.args, |a| {
            let [text, pattern] = a else {
                return exec_err!("regexp_like takes two arguments");
            };
            let (text, pattern) = (text.as_string::<i32>(), pattern.as_string::<i32>());
            let mut last: Option<(&str, regex::Regex)> = None;
            let mut out = datafusion::arrow::array::BooleanBuilder::with_capacity(text.len());
            for row in 0..text.len() {
                if text.is_null(row) || pattern.is_null(row) {
                    out.append_null();
                    continue;
                }
                let p = pattern.value(row);
                let regex = match &last {
                    Some((q, regex)) if *q == p => regex,
                    _ => &last.insert((p, self.regex(p)?)).1,
                };
                out.append_value(regex.is_match(text.value(row)));
            }
            Ok(Arc::new(out.finish()))
        })
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
enum Func {
    JsonExtractScalar,
    JsonExtract,
    FromIso8601Timestamp,
    DateDiff,
    DateAdd,
    DateParse,
    ElementAt,
    /// The fixed clock, in microseconds since the epoch.
    Now(i64),
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Trino {
    func: Func,
    signature: Signature,
    aliases: Vec<String>,
}

impl Trino {
    fn new(func: Func) -> Self {
        let volatility = Volatility::Immutable;
        let signature = match func {
            Func::JsonExtractScalar | Func::JsonExtract | Func::DateParse => {
                Signature::string(2, volatility)
            }
            Func::FromIso8601Timestamp => Signature::string(1, volatility),
            Func::DateDiff | Func::DateAdd | Func::ElementAt => Signature::user_defined(volatility),
            Func::Now(_) => Signature::nullary(volatility),
        };
        let aliases = match func {
            Func::Now(_) => vec!["current_timestamp".to_string()],
            _ => vec![],
        };
        Self {
            func,
            signature,
            aliases,
        }
    }
}

impl ScalarUDFImpl for Trino {
    fn name(&self) -> &str {
        match self.func {
            Func::JsonExtractScalar => "json_extract_scalar",
            Func::JsonExtract => "json_extract",
            Func::FromIso8601Timestamp => "from_iso8601_timestamp",
            Func::DateDiff => "date_diff",
            Func::DateAdd => "date_add",
            Func::DateParse => "date_parse",
            Func::ElementAt => "element_at",
            Func::Now(_) => "now",
        }
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name();
        match (&self.func, types) {
            (Func::DateDiff, [unit, from, to]) => Ok(vec![
                string(name, unit)?,
                temporal(name, from)?,
                temporal(name, to)?,
            ]),
            (Func::DateAdd, [unit, value, ts]) if value.is_integer() || value.is_null() => {
                Ok(vec![
                    string(name, unit)?,
                    DataType::Int64,
                    temporal(name, ts)?,
                ])
            }
            (
                Func::ElementAt,
                [
                    DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _),
                    i,
                ],
            ) if i.is_integer() || i.is_null() => {
                Ok(vec![DataType::List(Arc::clone(f)), DataType::Int64])
            }
            (Func::ElementAt, [map @ DataType::Map(entries, _), _]) => {
                Ok(vec![map.clone(), map_entry(entries, 0)?])
            }
            (Func::ElementAt, [DataType::Null, key]) => Ok(vec![DataType::Null, key.clone()]),
            _ => plan_err!("{name} does not accept arguments {types:?}"),
        }
    }

    fn return_type(&self, types: &[DataType]) -> Result<DataType> {
        Ok(match (&self.func, types) {
            (Func::JsonExtractScalar | Func::JsonExtract, _) => DataType::Utf8,
            (Func::FromIso8601Timestamp | Func::Now(_), _) => {
                DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into()))
            }
            (Func::DateDiff, _) => DataType::Int64,
            (Func::DateAdd, [.., ts]) => ts.clone(),
            (Func::DateParse, _) => DataType::Timestamp(TimeUnit::Microsecond, None),
            (Func::ElementAt, [DataType::List(f), _]) => f.data_type().clone(),
            (Func::ElementAt, [DataType::Map(entries, _), _]) => map_entry(entries, 1)?,
            (Func::ElementAt, [DataType::Null, _]) => DataType::Null,
            _ => return plan_err!("{} does not accept arguments {types:?}", self.name()),
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let out_type = args.return_type().clone();
        columnar(&args.args, |a| match self.func {
            Func::JsonExtractScalar => json(a, true),
            Func::JsonExtract => json(a, false),
            Func::FromIso8601Timestamp => from_iso8601_timestamp(a),
            Func::DateDiff => date_diff(a),
            Func::DateAdd => date_add(a, &out_type),
            Func::DateParse => date_parse(a),
            Func::ElementAt => element_at(a),
            Func::Now(micros) => Ok(Arc::new(
                TimestampMicrosecondArray::from(vec![micros]).with_timezone(UTC),
            )),
        })
    }
}

/// Runs `f` on the arguments as arrays; all-scalar arguments give a scalar result.
fn columnar(
    args: &[ColumnarValue],
    f: impl FnOnce(&[ArrayRef]) -> Result<ArrayRef>,
) -> Result<ColumnarValue> {
    let scalar = args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let out = f(&ColumnarValue::values_to_arrays(args)?)?;
    Ok(if scalar {
        ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?)
    } else {
        ColumnarValue::Array(out)
    })
}

fn string(name: &str, t: &DataType) -> Result<DataType> {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => {
            Ok(DataType::Utf8)
        }
        _ => plan_err!("{name} expects a varchar unit, got {t}"),
    }
}

fn temporal(name: &str, t: &DataType) -> Result<DataType> {
    match t {
        DataType::Timestamp(..) | DataType::Date32 => Ok(t.clone()),
        DataType::Date64 => Ok(DataType::Timestamp(TimeUnit::Millisecond, None)),
        DataType::Null => Ok(DataType::Timestamp(TimeUnit::Microsecond, None)),
        _ => plan_err!("{name} expects a timestamp or date, got {t}"),
    }
}

/// Key (`i = 0`) or value (`i = 1`) type of a map's entries.
fn map_entry(entries: &Field, i: usize) -> Result<DataType> {
    match entries.data_type() {
        DataType::Struct(fields) if fields.len() == 2 => Ok(fields[i].data_type().clone()),
        t => plan_err!("invalid map entries type {t}"),
    }
}

fn strings(a: &ArrayRef) -> Result<StringArray> {
    Ok(cast(a, &DataType::Utf8)?.as_string::<i32>().clone())
}

// ---- JSON ------------------------------------------------------------------------------

fn json(args: &[ArrayRef], scalar: bool) -> Result<ArrayRef> {
    let (docs, paths) = (strings(&args[0])?, strings(&args[1])?);
    let out = docs
        .iter()
        .zip(paths.iter())
        .map(|(doc, path)| match (doc, path) {
            (Some(doc), Some(path)) => Ok(json_value(doc, &json_path(path)?, scalar)),
            _ => Ok(None),
        })
        .collect::<Result<StringArray>>()?;
    Ok(Arc::new(out))
}

/// Parses Trino's JSONPath subset (`$`, `.key`, `["key"]`, `[0]`) into member names;
/// like Trino, a name applies to objects as a key and to arrays as an index.
fn json_path(path: &str) -> Result<Vec<String>> {
    let invalid = || exec_datafusion_err!("Invalid JSON path: '{path}'");
    let mut rest = path.trim().strip_prefix('$').ok_or_else(invalid)?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        let (step, tail) = if let Some(r) = rest.strip_prefix('.') {
            let end = r
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(r.len());
            (r[..end].to_string(), &r[end..])
        } else if let Some(r) = rest.strip_prefix("[\"") {
            let mut key = String::new();
            let mut chars = r.char_indices();
            let tail = loop {
                match chars.next().ok_or_else(invalid)? {
                    (i, '"') => break r[i + 1..].strip_prefix(']').ok_or_else(invalid)?,
                    (_, '\\') => key.push(chars.next().ok_or_else(invalid)?.1),
                    (_, c) => key.push(c),
                }
            };
            (key, tail)
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or_else(invalid)?;
            let index = r[..end].trim();
            if !index.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            (index.to_string(), &r[end + 1..])
        } else {
            return Err(invalid());
        };
        if step.is_empty() {
            return Err(invalid());
        }
        steps.push(step);
        rest = tail;
    }
    Ok(steps)
}

/// The value at `path` in `doc`: for `scalar`, a string/number/boolean as text (numbers as
/// written), else the value's compact JSON. `None` if absent or `doc` is not valid JSON.
fn json_value(doc: &str, path: &[String], scalar: bool) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(doc).ok()?;
    let mut value = doc.trim_start();
    for step in path {
        value = json_member(value, step)?;
    }
    let raw = &value[..json_len(value)];
    match raw.as_bytes().first()? {
        _ if !scalar => serde_json::from_str::<serde_json::Value>(raw)
            .ok()
            .map(|v| v.to_string()),
        b'"' => serde_json::from_str(raw).ok(),
        b'{' | b'[' | b'n' => None,
        _ => Some(raw.to_string()),
    }
}

/// Text from the member `step` of the object or array starting `value` (valid JSON), or
/// `None` when there is no such member. The first of duplicate keys wins, as in Trino.
fn json_member<'a>(value: &'a str, step: &str) -> Option<&'a str> {
    let object = match value.as_bytes().first()? {
        b'{' => true,
        b'[' => false,
        _ => return None,
    };
    let index = if object {
        None
    } else {
        Some(step.parse::<usize>().ok()?)
    };
    let mut rest = value[1..].trim_start();
    if rest.starts_with(['}', ']']) {
        return None;
    }
    let mut n = 0;
    loop {
        let found = if object {
            let key_len = json_len(rest);
            let key: String = serde_json::from_str(&rest[..key_len]).ok()?;
            rest = rest[key_len..].trim_start().strip_prefix(':')?.trim_start();
            key == step
        } else {
            index == Some(n)
        };
        if found {
            return Some(rest);
        }
        rest = rest[json_len(rest)..]
            .trim_start()
            .strip_prefix(',')?
            .trim_start();
        n += 1;
    }
}

/// Byte length of the JSON value that `s` starts with (`s` comes from a valid document).
fn json_len(s: &str) -> usize {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, b) in s.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if in_string => escaped = true,
            b'"' if in_string => {
                in_string = false;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ if in_string => {}
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' | b',' | b' ' | b'\t' | b'\n' | b'\r' if depth == 0 => return i,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    s.len()
}

// ---- Timestamps ------------------------------------------------------------------------

/// A `date_diff` / `date_add` unit: a fixed length, or a number of calendar months.
#[derive(Clone, Copy)]
enum Span {
    Millis(i64),
    Months(u32),
}

fn span(unit: &str, date_only: bool) -> Result<Span> {
    let span = match unit.to_ascii_lowercase().as_str() {
        "millisecond" => Span::Millis(1),
        "second" => Span::Millis(1_000),
        "minute" => Span::Millis(60_000),
        "hour" => Span::Millis(3_600_000),
        "day" => Span::Millis(DAY_MS),
        "week" => Span::Millis(7 * DAY_MS),
        "month" => Span::Months(1),
        "quarter" => Span::Months(3),
        "year" => Span::Months(12),
        _ => return exec_err!("'{unit}' is not a valid time unit"),
    };
    match span {
        Span::Millis(ms) if date_only && ms < DAY_MS => {
            exec_err!("'{unit}' is not a valid DATE field")
        }
        _ => Ok(span),
    }
}

/// Timestamps (any unit; the UTC instant for tz-aware ones) or dates as UTC date-times.
fn datetimes(a: &ArrayRef) -> Result<Vec<Option<NaiveDateTime>>> {
    let a = match a.data_type() {
        DataType::Date32 => cast(a, &DataType::Timestamp(TimeUnit::Millisecond, None))?,
        _ => Arc::clone(a),
    };
    let DataType::Timestamp(unit, _) = *a.data_type() else {
        return exec_err!("expected a timestamp or date, got {}", a.data_type());
    };
    let raw = cast(&a, &DataType::Int64)?;
    raw.as_primitive::<Int64Type>()
        .iter()
        .map(|v| v.map(|v| from_epoch(v, unit)).transpose())
        .collect()
}

fn from_epoch(v: i64, unit: TimeUnit) -> Result<NaiveDateTime> {
    match unit {
        TimeUnit::Second => DateTime::from_timestamp(v, 0),
        TimeUnit::Millisecond => DateTime::from_timestamp_millis(v),
        TimeUnit::Microsecond => DateTime::from_timestamp_micros(v),
        TimeUnit::Nanosecond => Some(DateTime::from_timestamp_nanos(v)),
    }
    .map(|t| t.naive_utc())
    .ok_or_else(|| exec_datafusion_err!("timestamp {v} ({unit:?}) is out of range"))
}

fn to_epoch(t: NaiveDateTime, unit: TimeUnit) -> Result<i64> {
    let t = t.and_utc();
    match unit {
        TimeUnit::Second => Some(t.timestamp()),
        TimeUnit::Millisecond => Some(t.timestamp_millis()),
        TimeUnit::Microsecond => Some(t.timestamp_micros()),
        TimeUnit::Nanosecond => t.timestamp_nanos_opt(),
    }
    .ok_or_else(|| exec_datafusion_err!("timestamp {t} is out of range for {unit:?}"))
}

/// Whole units from `a[1]` to `a[2]`, truncated toward zero, like Trino: both values are
/// first floored to milliseconds, and months follow Joda (a month-end date counts as
/// reaching any later day-of-month, so Jan 31 -> Feb 28 is one month).
fn date_diff(a: &[ArrayRef]) -> Result<ArrayRef> {
    let units = strings(&a[0])?;
    let date_only = a[1..].iter().all(|a| a.data_type() == &DataType::Date32);
    let floor_ms = |t: NaiveDateTime| t.with_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000);
    let out = units
        .iter()
        .zip(datetimes(&a[1])?)
        .zip(datetimes(&a[2])?)
        .map(|((unit, from), to)| {
            let (Some(unit), Some(from), Some(to)) = (unit, from, to) else {
                return Ok(None);
            };
            let (from, to) = (floor_ms(from).unwrap_or(from), floor_ms(to).unwrap_or(to));
            Ok(Some(match span(unit, date_only)? {
                Span::Millis(ms) => (to - from).num_milliseconds() / ms,
                Span::Months(m) => month_diff(from, to) / i64::from(m),
            }))
        })
        .collect::<Result<Int64Array>>()?;
    Ok(Arc::new(out))
}

fn month_diff(from: NaiveDateTime, to: NaiveDateTime) -> i64 {
    if to < from {
        return -month_diff(to, from);
    }
    let months =
        i64::from(to.year() - from.year()) * 12 + i64::from(to.month()) - i64::from(from.month());
    let to_month_end = to.date().succ_opt().is_none_or(|d| d.day() == 1);
    let from_day = if to_month_end {
        from.day().min(to.day())
    } else {
        from.day()
    };
    months - i64::from((to.day(), to.time()) < (from_day, from.time()))
}

/// `a[2]` plus `a[1]` units, as `out_type` (the type of `a[2]`); months clamp to month end.
fn date_add(a: &[ArrayRef], out_type: &DataType) -> Result<ArrayRef> {
    let units = strings(&a[0])?;
    let values = cast(&a[1], &DataType::Int64)?;
    let date_only = out_type == &DataType::Date32;
    let sums = units
        .iter()
        .zip(values.as_primitive::<Int64Type>().iter())
        .zip(datetimes(&a[2])?)
        .map(|((unit, value), t)| {
            let (Some(unit), Some(value), Some(t)) = (unit, value, t) else {
                return Ok(None);
            };
            match span(unit, date_only)? {
                Span::Millis(ms) => value
                    .checked_mul(ms)
                    .and_then(TimeDelta::try_milliseconds)
                    .and_then(|d| t.checked_add_signed(d)),
                Span::Months(m) => value.checked_mul(i64::from(m)).and_then(|n| {
                    let months = Months::new(u32::try_from(n.unsigned_abs()).ok()?);
                    if n < 0 {
                        t.checked_sub_months(months)
                    } else {
                        t.checked_add_months(months)
                    }
                }),
            }
            .map(Some)
            .ok_or_else(|| exec_datafusion_err!("date_add: {t} + {value} {unit} is out of range"))
        })
        .collect::<Result<Vec<_>>>()?;
    match out_type {
        DataType::Date32 => Ok(Arc::new(
            sums.iter()
                .map(|t| t.map(|t| Date32Type::from_naive_date(t.date())))
                .collect::<Date32Array>(),
        )),
        DataType::Timestamp(unit, _) => {
            let raw = sums
                .into_iter()
                .map(|t| t.map(|t| to_epoch(t, *unit)).transpose())
                .collect::<Result<Int64Array>>()?;
            Ok(cast(&raw, out_type)?)
        }
        t => exec_err!("date_add cannot return {t}"),
    }
}

fn from_iso8601_timestamp(a: &[ArrayRef]) -> Result<ArrayRef> {
    let out = strings(&a[0])?
        .iter()
        .map(|s| {
            s.map(|s| {
                parse_iso8601(s)
                    .map(|t| t.and_utc().timestamp_micros())
                    .ok_or_else(|| exec_datafusion_err!("Invalid ISO 8601 timestamp: '{s}'"))
            })
            .transpose()
        })
        .collect::<Result<TimestampMicrosecondArray>>()?;
    Ok(Arc::new(out.with_timezone(UTC)))
}

/// `YYYY[-MM[-DD]][THH[:MM[:SS[.fraction]]][Z|±HH[[:]MM]]]` as a UTC date-time; without
/// an offset the time is UTC.
fn parse_iso8601(text: &str) -> Option<NaiveDateTime> {
    let mut s = Scanner(text);
    let year = i32::try_from(s.num(4, 4)?).ok()?;
    let (mut month, mut day) = (1, 1);
    if s.eat('-') {
        month = s.num(2, 2)?;
        if s.eat('-') {
            day = s.num(2, 2)?;
        }
    }
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    if !s.eat('T') {
        return s.0.is_empty().then(|| date.into());
    }
    let hour = s.num(2, 2)?;
    let (mut minute, mut second, mut nano) = (0, 0, 0);
    if s.eat(':') {
        minute = s.num(2, 2)?;
        if s.eat(':') {
            second = s.num(2, 2)?;
            if s.eat('.') || s.eat(',') {
                nano = s.fraction()?;
            }
        }
    }
    let local = date.and_hms_nano_opt(hour, minute, second, nano)?;
    let sign = if s.eat('Z') || s.0.is_empty() {
        0
    } else if s.eat('+') {
        1
    } else if s.eat('-') {
        -1
    } else {
        return None;
    };
    let offset = if sign == 0 {
        0
    } else {
        let hours = s.num(2, 2)?;
        let minutes = if s.eat(':') {
            s.num(2, 2)?
        } else {
            s.num(2, 2).unwrap_or(0)
        };
        sign * i64::from(hours * 60 + minutes)
    };
    s.0.is_empty().then_some(())?;
    local.checked_sub_signed(TimeDelta::try_minutes(offset)?)
}

fn date_parse(a: &[ArrayRef]) -> Result<ArrayRef> {
    let (values, formats) = (strings(&a[0])?, strings(&a[1])?);
    let out = values
        .iter()
        .zip(formats.iter())
        .map(|(value, format)| match (value, format) {
            (Some(value), Some(format)) => Ok(Some(
                parse_mysql(value, format)?.and_utc().timestamp_micros(),
            )),
            _ => Ok(None),
        })
        .collect::<Result<TimestampMicrosecondArray>>()?;
    Ok(Arc::new(out))
}

/// Parses `value` with a MySQL-style `format`; unset fields default to 1970-01-01 00:00.
fn parse_mysql(value: &str, format: &str) -> Result<NaiveDateTime> {
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c == '%' && !chars.next().is_some_and(|spec| SPECIFIERS.contains(spec)) {
            return exec_err!("date_parse: unsupported format '{format}'");
        }
    }
    let mut fields = Fields::default();
    let mut s = Scanner(value);
    fields
        .parse(format, &mut s)
        .filter(|()| s.0.is_empty())
        .and_then(|()| fields.datetime())
        .ok_or_else(|| exec_datafusion_err!("date_parse: '{value}' does not match '{format}'"))
}

#[derive(Default)]
struct Fields {
    year: Option<i32>,
    month: Option<u32>,
    day: Option<u32>,
    day_of_year: Option<u32>,
    hour: u32,
    hour12: Option<u32>,
    pm: bool,
    minute: u32,
    second: u32,
    nano: u32,
}

impl Fields {
    fn parse(&mut self, format: &str, s: &mut Scanner) -> Option<()> {
        let mut chars = format.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                s.eat(c).then_some(())?;
                continue;
            }
            match chars.next()? {
                'Y' => self.year = Some(i32::try_from(s.num(1, 4)?).ok()?),
                'y' => {
                    let y = i32::try_from(s.num(2, 2)?).ok()?;
                    self.year = Some(if y < 70 { 2000 + y } else { 1900 + y });
                }
                'm' | 'c' => self.month = Some(s.num(1, 2)?),
                'b' => self.month = Some(s.name(MONTHS, true)?),
                'M' => self.month = Some(s.name(MONTHS, false)?),
                'd' | 'e' => self.day = Some(s.num(1, 2)?),
                'j' => self.day_of_year = Some(s.num(1, 3)?),
                'H' | 'k' => self.hour = s.num(1, 2)?,
                'h' | 'I' | 'l' => self.hour12 = Some(s.num(1, 2)?),
                'i' => self.minute = s.num(1, 2)?,
                's' | 'S' => self.second = s.num(1, 2)?,
                'f' => self.nano = s.fraction()?,
                'p' => self.pm = s.name("AM PM", false)? == 2,
                'a' => {
                    s.name(WEEKDAYS, true)?;
                }
                'W' => {
                    s.name(WEEKDAYS, false)?;
                }
                'T' => self.parse("%H:%i:%s", s)?,
                'r' => self.parse("%h:%i:%s %p", s)?,
                _ => s.eat('%').then_some(())?,
            }
        }
        Some(())
    }

    fn datetime(&self) -> Option<NaiveDateTime> {
        let year = self.year.unwrap_or(1970);
        let date = match self.day_of_year {
            Some(doy) => NaiveDate::from_yo_opt(year, doy)?,
            None => NaiveDate::from_ymd_opt(year, self.month.unwrap_or(1), self.day.unwrap_or(1))?,
        };
        let hour = match self.hour12 {
            Some(h @ 1..=12) => h % 12 + if self.pm { 12 } else { 0 },
            Some(_) => return None,
            None => self.hour,
        };
        date.and_hms_nano_opt(hour, self.minute, self.second, self.nano)
    }
}

/// Cursor over text being parsed; methods consume input only when they match.
struct Scanner<'a>(&'a str);

impl<'a> Scanner<'a> {
    fn eat(&mut self, c: char) -> bool {
        self.0.strip_prefix(c).map(|rest| self.0 = rest).is_some()
    }

    fn digits(&mut self, min: usize, max: usize) -> Option<&'a str> {
        let n = self
            .0
            .bytes()
            .take(max)
            .take_while(u8::is_ascii_digit)
            .count();
        (n >= min).then(|| {
            let (digits, rest) = self.0.split_at(n);
            self.0 = rest;
            digits
        })
    }

    fn num(&mut self, min: usize, max: usize) -> Option<u32> {
        self.digits(min, max)?.parse().ok()
    }

    /// 1 to 9 fraction-of-second digits as nanoseconds, truncated to milliseconds like
    /// Trino's `timestamp(3)` results.
    fn fraction(&mut self) -> Option<u32> {
        let digits = self.digits(1, 9)?;
        let nanos = digits.parse::<u32>().ok()? * 10u32.pow(9 - digits.len() as u32);
        Some(nanos / 1_000_000 * 1_000_000)
    }

    /// 1-based position in space-separated `names` of the name (or its 3-letter
    /// abbreviation) that follows, matched case-insensitively.
    fn name(&mut self, names: &str, abbreviated: bool) -> Option<u32> {
        names.split_whitespace().zip(1..).find_map(|(name, i)| {
            let name = if abbreviated { &name[..3] } else { name };
            let head = self.0.get(..name.len())?;
            head.eq_ignore_ascii_case(name).then(|| {
                self.0 = &self.0[name.len()..];
                i
            })
        })
    }
}

// ---- Collections -----------------------------------------------------------------------

/// Trino `element_at`: 1-based array index (negative counts from the end, out of range
/// is NULL, 0 is an error) or map lookup (NULL when absent).
fn element_at(a: &[ArrayRef]) -> Result<ArrayRef> {
    let (values, positions): (&ArrayRef, UInt64Array) = match a[0].data_type() {
        DataType::List(_) => {
            let list = a[0].as_list::<i32>();
            let index = cast(&a[1], &DataType::Int64)?;
            let index = index.as_primitive::<Int64Type>();
            let offsets = list.offsets();
            let positions = (0..list.len())
                .map(|i| {
                    if list.is_null(i) || index.is_null(i) {
                        return Ok(None);
                    }
                    let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                    let k = index.value(i);
                    let n = usize::try_from(k.unsigned_abs())
                        .ok()
                        .filter(|&n| n <= end - start);
                    Ok(match k {
                        0 => return exec_err!("SQL array indices start at 1"),
                        1.. => n.map(|n| (start + n - 1) as u64),
                        _ => n.map(|n| (end - n) as u64),
                    })
                })
                .collect::<Result<_>>()?;
            (list.values(), positions)
        }
        DataType::Map(..) => {
            let map = a[0].as_map();
            let offsets = map.offsets();
            let (first, last) = (offsets[0] as usize, offsets[map.len()] as usize);
            let entry_rows = (0..map.len())
                .flat_map(|i| repeat_n(i as u64, (offsets[i + 1] - offsets[i]) as usize))
                .collect::<UInt64Array>();
            let keys = take(&a[1], &entry_rows, None)?;
            let hits = eq(&map.keys().slice(first, last - first), &keys)?;
            let positions = (0..map.len())
                .map(|i| {
                    (map.is_valid(i) && a[1].is_valid(i))
                        .then(|| offsets[i] as usize..offsets[i + 1] as usize)?
                        .find(|&j| hits.value(j - first))
                        .map(|j| j as u64)
                })
                .collect();
            (map.values(), positions)
        }
        DataType::Null => return Ok(new_null_array(&DataType::Null, a[0].len())),
        t => return exec_err!("element_at does not accept {t}"),
    };
    Ok(take(values, &positions, None)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ListArray, RecordBatch};
    use datafusion::arrow::util::display::array_value_to_string;

    /// The fixed clock; the microseconds show it is not the wall clock.
    const NOW: &str = "2026-11-26T12:00:00.123456Z";

    fn ctx() -> SessionContext {
        let ctx = SessionContext::new();
        register(&ctx, NOW.parse().unwrap()).unwrap();
        ctx
    }

    /// Rows of `sql`, columns joined by `|`, NULL as `NULL`.
    async fn rows(ctx: &SessionContext, sql: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for batch in ctx.sql(sql).await?.collect().await? {
            for row in 0..batch.num_rows() {
                let cells = batch.columns().iter().map(|c| {
                    match c.logical_nulls().is_some_and(|n| n.is_null(row)) {
                        true => Ok("NULL".to_string()),
                        false => array_value_to_string(c, row),
                    }
                });
                out.push(cells.collect::<std::result::Result<Vec<_>, _>>()?.join("|"));
            }
        }
        Ok(out)
    }

    /// The single value of `SELECT {expr}`.
    async fn one(expr: &str) -> String {
        let rows = rows(&ctx(), &format!("SELECT {expr}")).await.unwrap();
        assert_eq!(rows.len(), 1, "{expr}");
        rows.concat()
    }

    /// The error message of `SELECT {expr}`.
    async fn error(expr: &str) -> String {
        match rows(&ctx(), &format!("SELECT {expr}")).await {
            Ok(rows) => panic!("{expr}: expected an error, got {rows:?}"),
            Err(e) => e.to_string(),
        }
    }

    /// Checks `template` (with `{}` replaced by each input) against the expected values.
    async fn check(template: &str, cases: &[(&str, &str)]) {
        for (input, expected) in cases {
            let expr = template.replace("{}", input);
            assert_eq!(one(&expr).await, *expected, "{expr}");
        }
    }

    fn quote(s: &str) -> String {
        format!("'{}'", s.replace('\'', "''"))
    }

    /// `2026-11-26` as a DATE literal, `2026-11-26 10:00:00` as a TIMESTAMP, else as is.
    fn temporal_sql(s: &str) -> String {
        match s.len() {
            10 if s.starts_with('2') => format!("DATE '{s}'"),
            _ if s.starts_with('2') => format!("TIMESTAMP '{s}'"),
            _ => s.to_string(),
        }
    }

    fn naive_us(values: &[Option<&str>]) -> ArrayRef {
        let micros = values.iter().map(|v| {
            let t = (*v)?.parse::<NaiveDateTime>().unwrap();
            Some(t.and_utc().timestamp_micros())
        });
        Arc::new(TimestampMicrosecondArray::from_iter(micros))
    }

    fn table(ctx: &SessionContext, columns: Vec<(&str, ArrayRef)>) {
        ctx.register_batch("t", RecordBatch::try_from_iter(columns).unwrap())
            .unwrap();
    }

    #[tokio::test]
    async fn json_extract_scalar_matches_trino() {
        let mixed = r#"{"a": 1.50, "b": -2e3, "c": true, "d": false, "e": null}"#;
        let cases = [
            (r#"{"a":{"b":[1,2]}}"#, "$.a.b[1]", "2"),
            ("[1, 2, 3]", "$[2]", "3"),
            (
                r#"{"x":{"book":[{"author":"Nigel"}]}}"#,
                "$.x.book[0].author",
                "Nigel",
            ),
            (r#"{"a":"it's \"q\" \u00e9"}"#, "$.a", r#"it's "q" é"#),
            (mixed, "$.a", "1.50"),
            (mixed, "$.b", "-2e3"),
            (mixed, "$.c", "true"),
            (mixed, "$.d", "false"),
            (mixed, "$.e", "NULL"),
            (r#"{"key with space": "v"}"#, r#"$["key with space"]"#, "v"),
            (r#"{"q\"k": "v"}"#, r#"$["q\"k"]"#, "v"),
            (r#"[{"x":1},{"x":"two"}]"#, "$[1].x", "two"),
            (r#"{"0":"zero"}"#, "$[0]", "zero"),
            (r#"{"s":"}{][,\"","t":"ok"}"#, "$.t", "ok"),
            (r#"{"a":1,"a":2}"#, "$.a", "1"),
            (r#""txt""#, "$", "txt"),
            (r#" { "a" : [ 7 , 8 ] } "#, "$.a[1]", "8"),
            (r#"{"a":1}"#, "$.b", "NULL"),
            (r#"{"a":[1]}"#, "$.a[1]", "NULL"),
            (r#"{"a":[]}"#, "$.a[0]", "NULL"),
            (r#"{"a":{}}"#, "$.a.b", "NULL"),
            (r#"{"a":[1]}"#, "$.a.b", "NULL"),
            (r#"{"a":{"b":1}}"#, "$.a", "NULL"),
            (r#"{"a":[1]}"#, "$.a", "NULL"),
            (r#"{"a":1"#, "$.a", "NULL"),
            ("not json", "$", "NULL"),
            (r#"{"a":1} x"#, "$.a", "NULL"),
        ];
        for (json, path, expected) in cases {
            let expr = format!("json_extract_scalar({}, {})", quote(json), quote(path));
            assert_eq!(one(&expr).await, expected, "{expr}");
        }
        check(
            "json_extract_scalar({})",
            &[
                ("NULL, '$.a'", "NULL"),
                (r#"'{"a":1}', NULL"#, "NULL"),
                (r#"CAST('{"a":1}' AS VARCHAR), '$.a'"#, "1"),
            ],
        )
        .await;
    }

    #[tokio::test]
    async fn json_paths_outside_the_subset_are_errors() {
        for path in [
            "a", "$.", "$..a", "$.a-b", "$[*]", "$.a[x]", "$[\"open", "$[1",
        ] {
            let expr = format!(r#"json_extract_scalar('{{"a":1}}', {})"#, quote(path));
            let message = format!("Invalid JSON path: {}", quote(path));
            assert!(error(&expr).await.contains(&message), "{path}");
        }
    }

    #[tokio::test]
    async fn json_extract_returns_json_text() {
        check(
            "json_extract({})",
            &[
                (r#"'{"a":{"b":[1, 2]}}', '$.a'"#, r#"{"b":[1,2]}"#),
                (r#"'{"a":{"z":1, "b":2}}', '$.a'"#, r#"{"z":1,"b":2}"#),
                (r#"'{"a":"x"}', '$.a'"#, r#""x""#),
                (r#"'{"a":7}', '$.a'"#, "7"),
                (r#"'{"a":null}', '$.a'"#, "null"),
                ("'[1, [2, 3]]', '$'", "[1,[2,3]]"),
                (r#"'{"a":1}', '$.b'"#, "NULL"),
                (r#"'{"a":', '$.a'"#, "NULL"),
                ("NULL, '$'", "NULL"),
            ],
        )
        .await;
    }

    #[tokio::test]
    async fn json_functions_take_columns() {
        let sql = r#"SELECT json_extract_scalar(column1, column2), json_extract(column1, '$.a')
            FROM (VALUES ('{"a":1,"b":"x"}', '$.b'), ('{"a":[2]}', '$.a[0]'),
                         (NULL, '$.a'), ('{"a":3}', NULL), ('oops', '$.a'))"#;
        assert_eq!(
            rows(&ctx(), sql).await.unwrap(),
            ["x|1", "2|[2]", "NULL|NULL", "NULL|3", "NULL|NULL"]
        );
    }

    #[tokio::test]
    async fn from_iso8601_timestamp_converts_to_utc() {
        check(
            "from_iso8601_timestamp({})",
            &[
                ("'2026-11-26T09:00:01Z'", "2026-11-26T09:00:01Z"),
                (
                    "'2026-11-26T09:00:01.123+02:00'",
                    "2026-11-26T07:00:01.123Z",
                ),
                ("'2026-11-26T09:00:01-0530'", "2026-11-26T14:30:01Z"),
                ("'2026-11-26T09:00:01+01'", "2026-11-26T08:00:01Z"),
                ("'2026-01-01T00:30:00+01:00'", "2025-12-31T23:30:00Z"),
                (
                    "'2026-11-26T09:00:01,123456789Z'",
                    "2026-11-26T09:00:01.123Z",
                ),
                ("'2026-11-26T09:00'", "2026-11-26T09:00:00Z"),
                ("'2026-11-26T09'", "2026-11-26T09:00:00Z"),
                ("'2026-11-26'", "2026-11-26T00:00:00Z"),
                ("'2026-11'", "2026-11-01T00:00:00Z"),
                (
                    "arrow_cast('2026-11-26', 'LargeUtf8')",
                    "2026-11-26T00:00:00Z",
                ),
                ("NULL", "NULL"),
            ],
        )
        .await;
        check(
            "{}",
            &[
                (
                    "arrow_typeof(from_iso8601_timestamp('2026-11-26'))",
                    r#"Timestamp(µs, "UTC")"#,
                ),
                (
                    "from_iso8601_timestamp('2026-11-26T13:00:00+01:00') < current_timestamp",
                    "true",
                ),
            ],
        )
        .await;
        for bad in [
            "yesterday",
            "2026-13-01",
            "2026-02-30",
            "2026-11-26 09:00:01",
            "2026-11-26T25:00",
            "2026-11-26T09:00:01+2",
            "2026-11-26T09:00:01Zjunk",
            "",
        ] {
            let message = error(&format!("from_iso8601_timestamp('{bad}')")).await;
            assert!(message.contains(&format!("'{bad}'")), "{message}");
        }
    }

    #[tokio::test]
    async fn date_diff_counts_whole_units() {
        for (unit, from, to, expected) in [
            ("hour", "2026-11-26 10:59:00", "2026-11-26 11:01:00", "0"),
            ("minute", "2026-11-26 10:59:00", "2026-11-26 11:01:00", "2"),
            ("hour", "2026-11-26 11:01:00", "2026-11-26 09:59:00", "-1"),
            ("HOUR", "2026-11-26 09:00:00", "2026-11-26 12:00:00", "3"),
            (
                "second",
                "2026-11-26 00:00:00",
                "2026-11-26 00:01:01.9",
                "61",
            ),
            // Like Trino, both values are floored to milliseconds first.
            (
                "millisecond",
                "2026-11-26 00:00:00.0009",
                "2026-11-26 00:00:00.002",
                "2",
            ),
            ("day", "2026-11-01 00:00:00", "2026-11-26 12:00:00", "25"),
            ("week", "2026-11-01 00:00:00", "2026-11-26 12:00:00", "3"),
            ("month", "2026-01-15", "2026-02-15", "1"),
            ("month", "2026-01-15", "2026-02-14", "0"),
            ("month", "2026-01-15 10:00:00", "2026-02-15 09:59:59", "0"),
            ("month", "2026-01-31", "2026-02-27", "0"),
            // Trino (Joda) lets a month-end date reach any later day-of-month.
            ("month", "2026-01-31", "2026-02-28", "1"),
            ("month", "2026-03-31", "2026-02-28", "-1"),
            ("month", "2026-03-15", "2026-01-16", "-1"),
            ("quarter", "2026-01-01", "2026-12-31", "3"),
            ("year", "2024-02-29", "2025-02-28", "1"),
            ("year", "2026-11-27", "2025-11-26", "-1"),
            ("year", "2025-11-27", "2026-11-26", "0"),
            ("day", "2026-11-01", "2026-11-26", "25"),
            ("hour", "2026-11-26", "current_timestamp", "12"),
            ("day", "NULL", "current_timestamp", "NULL"),
            ("day", "current_timestamp", "NULL", "NULL"),
        ] {
            let expr = format!(
                "date_diff('{unit}', {}, {})",
                temporal_sql(from),
                temporal_sql(to)
            );
            assert_eq!(one(&expr).await, expected, "{expr}");
        }
        check(
            "{}",
            &[
                ("date_diff(NULL, current_timestamp, now())", "NULL"),
                ("arrow_typeof(date_diff('day', now(), now()))", "Int64"),
            ],
        )
        .await;
    }

    #[tokio::test]
    async fn date_diff_mixes_time_units_and_zones() {
        let utc_0901 = "from_iso8601_timestamp('2026-11-26T10:01:00+01:00')";
        check(
            "date_diff({})",
            &[
                (
                    &format!("'hour', TIMESTAMP '2026-11-26 07:00:00', {utc_0901}"),
                    "2",
                ),
                (
                    &format!(
                        "'second', arrow_cast(TIMESTAMP '2026-11-26 09:00:00', \
                         'Timestamp(Second, None)'), arrow_cast({utc_0901}, \
                         'Timestamp(Nanosecond, Some(\"+01:00\"))')"
                    ),
                    "60",
                ),
                // Arrow casts a naive timestamp to a zone as local time there: 09:00 in
                // New York is 14:00 UTC, 1:59:59.877 after the fixed clock.
                (
                    "'minute', arrow_cast(TIMESTAMP '2026-11-26 09:00:00', \
                     'Timestamp(Millisecond, Some(\"America/New_York\"))'), current_timestamp",
                    "-119",
                ),
            ],
        )
        .await;
    }

    #[tokio::test]
    async fn date_diff_against_current_timestamp_on_a_naive_column() {
        let ctx = ctx();
        let ts = naive_us(&[
            Some("2026-11-26T10:59:00"),
            Some("2026-11-25T12:00:00.200"), // 23:59:59.923 before now
            None,
            Some("2026-12-01T00:00:00"),
        ]);
        table(&ctx, vec![("ts", ts)]);
        let sql = "SELECT date_diff('hour', ts, current_timestamp), \
                   date_diff('day', ts, now()), date_diff('month', ts, DATE '2027-01-01') FROM t";
        assert_eq!(
            rows(&ctx, sql).await.unwrap(),
            ["1|0|1", "23|0|1", "NULL|NULL|NULL", "-107|-4|1"]
        );
    }

    #[tokio::test]
    async fn date_diff_rejects_bad_units_and_types() {
        for (expr, message) in [
            (
                "date_diff('fortnight', now(), now())",
                "'fortnight' is not a valid time unit",
            ),
            (
                "date_diff('hour', DATE '2026-01-01', DATE '2026-01-02')",
                "'hour' is not a valid DATE field",
            ),
            (
                "date_diff('day', '2026-01-01', now())",
                "date_diff expects a timestamp or date",
            ),
            ("date_diff('day', now())", "date_diff does not accept"),
        ] {
            assert!(error(expr).await.contains(message), "{expr}");
        }
    }

    #[tokio::test]
    async fn date_add_follows_trino() {
        for (unit, value, ts, expected) in [
            ("month", "1", "2026-01-31", "2026-02-28"),
            ("month", "1", "2028-01-31 10:00:00", "2028-02-29T10:00:00"),
            ("month", "-1", "2026-03-31", "2026-02-28"),
            ("quarter", "1", "2026-11-30", "2027-02-28"),
            ("year", "1", "2024-02-29", "2025-02-28"),
            ("week", "2", "2026-11-26", "2026-12-10"),
            ("hour", "25", "2026-11-26 00:00:00", "2026-11-27T01:00:00"),
            (
                "Minute",
                "-90",
                "2026-11-26 00:00:00",
                "2026-11-25T22:30:00",
            ),
            (
                "millisecond",
                "1500",
                "2026-11-26 00:00:00.000000001",
                "2026-11-26T00:00:01.500000001",
            ),
            (
                "day",
                "-1",
                "current_timestamp",
                "2026-11-25T12:00:00.123456Z",
            ),
            ("day", "NULL", "2026-01-01", "NULL"),
            ("day", "1", "NULL", "NULL"),
        ] {
            let expr = format!("date_add('{unit}', {value}, {})", temporal_sql(ts));
            assert_eq!(one(&expr).await, expected, "{expr}");
        }
        check(
            "{}",
            &[
                ("date_add(NULL, 1, DATE '2026-01-01')", "NULL"),
                (
                    "arrow_typeof(date_add('day', 1, DATE '2026-01-01'))",
                    "Date32",
                ),
                (
                    "arrow_typeof(date_add('day', 1, TIMESTAMP '2026-01-01'))",
                    "Timestamp(ns)",
                ),
                (
                    "arrow_typeof(date_add('day', 1, now()))",
                    r#"Timestamp(µs, "UTC")"#,
                ),
                (
                    "arrow_typeof(date_add('day', CAST(1 AS INT), arrow_cast(now(), \
                     'Timestamp(Second, Some(\"+02:00\"))')))",
                    r#"Timestamp(s, "+02:00")"#,
                ),
            ],
        )
        .await;
        for (expr, message) in [
            (
                "date_add('hour', 1, DATE '2026-01-01')",
                "'hour' is not a valid DATE field",
            ),
            (
                "date_add('year', 9223372036854775807, DATE '2026-01-01')",
                "out of range",
            ),
            (
                "date_add('year', 300, TIMESTAMP '2026-01-01 00:00:00')",
                "out of range",
            ),
            (
                "date_add('day', 1.5, DATE '2026-01-01')",
                "date_add does not accept",
            ),
        ] {
            assert!(error(expr).await.contains(message), "{expr}");
        }
    }

    #[tokio::test]
    async fn date_add_keeps_a_naive_column_naive() {
        let ctx = ctx();
        table(
            &ctx,
            vec![("ts", naive_us(&[Some("2026-01-31T08:00:00"), None]))],
        );
        let sql = "SELECT date_add('month', 1, ts), arrow_typeof(date_add('month', 1, ts)) FROM t";
        assert_eq!(
            rows(&ctx, sql).await.unwrap(),
            ["2026-02-28T08:00:00|Timestamp(µs)", "NULL|Timestamp(µs)"]
        );
    }

    #[tokio::test]
    async fn date_parse_supports_mysql_specifiers() {
        check(
            "date_parse({})",
            &[
                (
                    "'2026-11-26 09:00:01.123456', '%Y-%m-%d %H:%i:%s.%f'",
                    "2026-11-26T09:00:01.123",
                ),
                ("'26/11/2026', '%d/%m/%Y'", "2026-11-26T00:00:00"),
                (
                    "'Nov 5 2026 9:05:07 pm', '%b %e %Y %l:%i:%s %p'",
                    "2026-11-05T21:05:07",
                ),
                (
                    "'Thursday, 26 November 26', '%W, %d %M %y'",
                    "2026-11-26T00:00:00",
                ),
                (
                    "'Thu 3/1/70 12:00:00 AM', '%a %c/%e/%y %r'",
                    "1970-03-01T00:00:00",
                ),
                ("'69', '%y'", "2069-01-01T00:00:00"),
                ("'2026-330', '%Y-%j'", "2026-11-26T00:00:00"),
                ("'09:00:01', '%T'", "1970-01-01T09:00:01"),
                ("'7:5:3.5', '%k:%i:%S.%f'", "1970-01-01T07:05:03.500"),
                ("'12 PM', '%h %p'", "1970-01-01T12:00:00"),
                ("'2026% 11', '%Y%% %c'", "2026-11-01T00:00:00"),
                ("NULL, '%Y'", "NULL"),
                ("'2026', NULL", "NULL"),
            ],
        )
        .await;
        assert_eq!(
            one("arrow_typeof(date_parse('2026', '%Y'))").await,
            "Timestamp(µs)"
        );
        for (value, format, message) in [
            ("2026", "%Y %Q", "unsupported format"),
            ("2026", "%Y%", "unsupported format"),
            ("2026-11-26", "%d/%m/%Y", "does not match"),
            ("2026-11-26x", "%Y-%m-%d", "does not match"),
            ("2026-02-30", "%Y-%m-%d", "does not match"),
            ("13 AM", "%h %p", "does not match"),
            ("2026-11-26", "", "does not match"),
        ] {
            let expr = format!("date_parse('{value}', '{format}')");
            assert!(error(&expr).await.contains(message), "{expr}");
        }
    }

    #[tokio::test]
    async fn element_at_indexes_arrays_like_trino() {
        check(
            "element_at({})",
            &[
                ("ARRAY[10, 20, 30], 1", "10"),
                ("ARRAY[10, 20, 30], 3", "30"),
                ("ARRAY[10, 20, 30], -1", "30"),
                ("ARRAY[10, 20, 30], -3", "10"),
                ("ARRAY[10, 20, 30], 4", "NULL"),
                ("ARRAY[10, 20, 30], -4", "NULL"),
                ("ARRAY[10, 20, 30], 9223372036854775807", "NULL"),
                ("ARRAY['a', NULL], 2", "NULL"),
                ("ARRAY[ARRAY[1], ARRAY[2, 3]], 2", "[2, 3]"),
                ("arrow_cast(ARRAY[1, 2], 'LargeList(Int64)'), -1", "2"),
                ("arrow_cast(ARRAY[1, 2], 'FixedSizeList(2, Int64)'), 2", "2"),
                ("ARRAY[10], NULL", "NULL"),
                ("NULL, 1", "NULL"),
            ],
        )
        .await;
        let message = error("element_at(ARRAY[10, 20, 30], 0)").await;
        assert!(message.contains("SQL array indices start at 1"));
    }

    #[tokio::test]
    async fn element_at_looks_up_map_keys() {
        check(
            "element_at({})",
            &[
                ("MAP(ARRAY['a', 'b'], ARRAY[1, 2]), 'b'", "2"),
                ("MAP(ARRAY['a', 'b'], ARRAY[1, 2]), 'z'", "NULL"),
                ("MAP(ARRAY[1, 2], ARRAY['x', 'y']), 1", "x"),
                ("MAP(ARRAY['a'], ARRAY[1]), NULL", "NULL"),
            ],
        )
        .await;
        let expr = "arrow_typeof(element_at(MAP(ARRAY['a'], ARRAY[1]), 'a'))";
        assert_eq!(one(expr).await, "Int64");
    }

    #[tokio::test]
    async fn element_at_replaces_the_datafusion_alias() {
        let sql = "SELECT element_at(MAP(ARRAY['a'], ARRAY[1]), 'a')";
        // DataFusion's own element_at (map_extract) returns a one-element list.
        let builtin = SessionContext::new();
        assert_eq!(rows(&builtin, sql).await.unwrap(), ["[1]"]);
        assert!(
            rows(&builtin, "SELECT element_at(ARRAY[1], 1)")
                .await
                .is_err()
        );
        assert_eq!(rows(&ctx(), sql).await.unwrap(), ["1"]);
    }

    #[tokio::test]
    async fn element_at_takes_columns() {
        let ctx = ctx();
        let lists = ListArray::from_iter_primitive::<Int64Type, _, _>([
            Some(vec![Some(1), Some(2), Some(3)]),
            Some(vec![]),
            None,
            Some(vec![Some(4)]),
        ]);
        let index = Int64Array::from(vec![Some(2), Some(1), Some(1), None]);
        table(&ctx, vec![("l", Arc::new(lists)), ("i", Arc::new(index))]);
        assert_eq!(
            rows(&ctx, "SELECT element_at(l, i), element_at(l, -1) FROM t")
                .await
                .unwrap(),
            ["2|3", "NULL|NULL", "NULL|NULL", "NULL|4"]
        );
        let sql = "SELECT element_at(column1, column2) FROM (VALUES \
                   (MAP(ARRAY['a', 'b'], ARRAY[1, 2]), 'b'), (MAP(ARRAY['a'], ARRAY[3]), 'a'), \
                   (MAP(ARRAY['c'], ARRAY[4]), 'a'))";
        assert_eq!(rows(&ctx, sql).await.unwrap(), ["2", "3", "NULL"]);
    }

    #[tokio::test]
    async fn current_timestamp_and_now_use_the_fixed_clock() {
        check(
            "{}",
            &[
                ("current_timestamp", "2026-11-26T12:00:00.123456Z"),
                ("current_timestamp()", "2026-11-26T12:00:00.123456Z"),
                ("now()", "2026-11-26T12:00:00.123456Z"),
                ("now() = current_timestamp", "true"),
                ("arrow_typeof(current_timestamp)", r#"Timestamp(µs, "UTC")"#),
            ],
        )
        .await;
        let ctx = ctx();
        table(&ctx, vec![("ts", naive_us(&[Some("2026-11-26T12:00:00")]))]);
        let sql = "SELECT count(*) FROM t \
                   WHERE ts < current_timestamp AND ts > now() - INTERVAL '1' DAY";
        assert_eq!(rows(&ctx, sql).await.unwrap(), ["1"]);
    }

    #[tokio::test]
    async fn overrides_survive_set_statements() {
        // `SET` re-registers config-dependent UDFs (such as DataFusion's own `now`).
        let ctx = ctx();
        let set = "SET datafusion.execution.time_zone = '+02:00'";
        rows(&ctx, set).await.unwrap();
        let sql = "SELECT current_timestamp, now(), element_at(ARRAY[7], -1)";
        assert_eq!(
            rows(&ctx, sql).await.unwrap(),
            ["2026-11-26T12:00:00.123456Z|2026-11-26T12:00:00.123456Z|7"]
        );
    }

    #[tokio::test]
    async fn datafusion_cardinality_and_regexp_like_match_trino() {
        check(
            "{}",
            &[
                ("cardinality(ARRAY[1, 2, 3])", "3"),
                ("cardinality(ARRAY['a'])", "1"),
                ("cardinality(MAP(ARRAY['a', 'b'], ARRAY[1, 2]))", "2"),
                ("cardinality(CAST(NULL AS INT[]))", "NULL"),
                ("regexp_like('1a 2b 14m', '\\d+b')", "true"),
                ("regexp_like('abc', '^b')", "false"),
                ("regexp_like('abc', 'B')", "false"),
                ("regexp_like('abc', '(?i)B')", "true"),
                ("regexp_like(NULL, 'a')", "NULL"),
                ("regexp_like('a', NULL)", "NULL"),
                (
                    "regexp_like('v1.2.3-rc1', '^[vV]?[0-9]+\\.[0-9]+(\\.[0-9]+)?([-+].*)?$')",
                    "true",
                ),
                ("regexp_like('é', '^.$')", "true"),
            ],
        )
        .await;
        // Patterns that change from row to row, each compiled once.
        let rows = rows(
            &ctx(),
            "SELECT regexp_like(t, p) FROM (VALUES ('v1.2', '^v'), ('x', '^v'), ('abc', 'b$'), \
             ('abc', 'c$'), (NULL, 'a'), ('a', CAST(NULL AS VARCHAR)), ('v9', '^v')) AS x(t, p)",
        )
        .await
        .unwrap();
        assert_eq!(
            rows,
            ["true", "false", "false", "true", "NULL", "NULL", "true"]
        );
        let bad = error("regexp_like('a', '(')").await;
        assert!(
            bad.contains("regexp_like") && bad.contains("not a valid regular expression"),
            "{bad}"
        );
    }
}
