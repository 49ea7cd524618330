//! The shape of rows every layer shares: named, typed columns and their values. Engines produce
//! them, commands build them from AWS answers, `render` writes them; none needs the others.
//! A [`Page`] is rows to write read cell by cell where they lie ([`ValueRef`]): rows of values,
//! or an engine's columns, so that a streamed answer is written without making its rows.

use std::borrow::Cow;
use std::fmt::Write as _;

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};

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
    /// The value read in place, its text borrowed.
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Bool(b) => ValueRef::Bool(*b),
            Value::Int(i) => ValueRef::Int(*i),
            Value::Float(f) => ValueRef::Float(*f),
            Value::Str(s) => ValueRef::Str(Cow::Borrowed(s)),
            Value::Timestamp(t) => ValueRef::Timestamp(*t),
            Value::Date(d) => ValueRef::Date(*d),
            Value::Json(v) => ValueRef::Json(Nested::Borrowed(v)),
        }
    }

    /// The text a person reads (tables, CSV, Markdown); `None` for NULL.
    pub fn display(&self) -> Option<String> {
        self.as_ref().display()
    }

    /// Append the text of [`Value::display`] to `out`; false (nothing written) for NULL.
    pub fn write_display(&self, out: &mut String) -> bool {
        self.as_ref().write_display(out)
    }

    /// The typed JSON value (`--format json`).
    pub fn to_json(&self) -> serde_json::Value {
        self.as_ref().to_json()
    }
}

/// One cell read where it lies (an engine's column, a row of values): a [`Value`] whose text
/// is borrowed, so that writing a result copies no cell.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    Timestamp(NaiveDateTime),
    Date(chrono::NaiveDate),
    /// Arrays, structs and maps (made when read from columns).
    Json(Nested<'a>),
}

/// A nested value, borrowed or made (boxed: a cell stays four words wide).
#[derive(Debug, Clone, PartialEq)]
pub enum Nested<'a> {
    Borrowed(&'a serde_json::Value),
    Made(Box<serde_json::Value>),
}

impl std::ops::Deref for Nested<'_> {
    type Target = serde_json::Value;

    fn deref(&self) -> &serde_json::Value {
        match self {
            Nested::Borrowed(v) => v,
            Nested::Made(v) => v,
        }
    }
}

impl ValueRef<'_> {
    /// The value owned.
    pub fn to_value(&self) -> Value {
        match self {
            ValueRef::Null => Value::Null,
            ValueRef::Bool(b) => Value::Bool(*b),
            ValueRef::Int(i) => Value::Int(*i),
            ValueRef::Float(f) => Value::Float(*f),
            ValueRef::Str(s) => Value::Str(s.as_ref().to_owned()),
            ValueRef::Timestamp(t) => Value::Timestamp(*t),
            ValueRef::Date(d) => Value::Date(*d),
            ValueRef::Json(v) => Value::Json((**v).clone()),
        }
    }

    /// The text a person reads (tables, CSV, Markdown); `None` for NULL.
    pub fn display(&self) -> Option<String> {
        let mut text = String::new();
        self.write_display(&mut text).then_some(text)
    }

    /// Append the text of [`ValueRef::display`] to `out`; false (nothing written) for NULL.
    pub fn write_display(&self, out: &mut String) -> bool {
        match self {
            ValueRef::Null => return false,
            ValueRef::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            // Writing to a String cannot fail.
            ValueRef::Int(i) => out.push_str(itoa::Buffer::new().format(*i)),
            ValueRef::Float(f) => write_float(out, *f),
            ValueRef::Str(s) => out.push_str(s),
            ValueRef::Timestamp(t) => write_timestamp(out, t),
            ValueRef::Date(d) => write_date(out, d),
            ValueRef::Json(v) => {
                let _ = write!(out, "{}", **v);
            }
        }
        true
    }

    /// The typed JSON value (`--format json`).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            ValueRef::Null => serde_json::Value::Null,
            ValueRef::Bool(b) => (*b).into(),
            ValueRef::Int(i) => (*i).into(),
            ValueRef::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or_else(|| serde_json::Value::String(format_float(*f))),
            ValueRef::Json(v) => (**v).clone(),
            other => other
                .display()
                .map(serde_json::Value::String)
                .unwrap_or(serde_json::Value::Null),
        }
    }

    /// Text a spreadsheet could take for a formula (strings and nested values, not numbers).
    pub fn is_text(&self) -> bool {
        matches!(self, ValueRef::Str(_) | ValueRef::Json(_))
    }
}

/// Rows to write, read cell by cell: rows of values, or an engine's columns read in place
/// (no row is made to be written).
pub trait Page {
    /// The number of rows.
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cell of `row` in `column` (NULL past the end of a short row).
    fn value(&self, row: usize, column: usize) -> std::io::Result<ValueRef<'_>>;
}

impl Page for [Vec<Value>] {
    fn len(&self) -> usize {
        <[Vec<Value>]>::len(self)
    }

    fn value(&self, row: usize, column: usize) -> std::io::Result<ValueRef<'_>> {
        Ok(self[row].get(column).map_or(ValueRef::Null, Value::as_ref))
    }
}

/// Some rows of a page, in order (rows in an `--ou` scope).
pub struct Picked<'p, P: Page + ?Sized> {
    page: &'p P,
    rows: Vec<usize>,
}

impl<'p, P: Page + ?Sized> Picked<'p, P> {
    /// The rows of `page` for which `keep` holds.
    pub fn new(
        page: &'p P,
        mut keep: impl FnMut(usize) -> std::io::Result<bool>,
    ) -> std::io::Result<Self> {
        let mut rows = Vec::new();
        for row in 0..page.len() {
            if keep(row)? {
                rows.push(row);
            }
        }
        Ok(Self { page, rows })
    }
}

impl<P: Page + ?Sized> Page for Picked<'_, P> {
    fn len(&self) -> usize {
        self.rows.len()
    }

    fn value(&self, row: usize, column: usize) -> std::io::Result<ValueRef<'_>> {
        self.page.value(self.rows[row], column)
    }
}

/// `2026-11-26 09:00:01` or `2026-11-26 09:00:01.123456` (fraction only when not zero).
pub fn format_timestamp(t: &NaiveDateTime) -> String {
    let mut text = String::with_capacity(29);
    write_timestamp(&mut text, t);
    text
}

/// Append `t` as chrono's `%Y-%m-%d %H:%M:%S%.f` writes it, without parsing a format string:
/// the fraction is left out when zero, else written with 3, 6 or 9 digits, the fewest exact;
/// a leap second (a nanosecond count of a second or more) is second 60.
pub fn write_timestamp(out: &mut String, t: &NaiveDateTime) {
    write_date(out, &t.date());
    out.push(' ');
    let nanos = t.nanosecond();
    push_digits(out, t.hour(), 2);
    out.push(':');
    push_digits(out, t.minute(), 2);
    out.push(':');
    push_digits(out, t.second() + nanos / 1_000_000_000, 2);
    let fraction = nanos % 1_000_000_000;
    if fraction != 0 {
        out.push('.');
        if fraction.is_multiple_of(1_000_000) {
            push_digits(out, fraction / 1_000_000, 3);
        } else if fraction.is_multiple_of(1_000) {
            push_digits(out, fraction / 1_000, 6);
        } else {
            push_digits(out, fraction, 9);
        }
    }
}

/// Append `d` as chrono's `%Y-%m-%d` writes it: the year zero-padded to 4 digits, with a sign
/// when it is outside 0..=9999 (`-0001`, `+10000`).
pub fn write_date(out: &mut String, d: &NaiveDate) {
    let year = d.year();
    if !(0..=9999).contains(&year) {
        out.push(if year < 0 { '-' } else { '+' });
    }
    push_digits(out, year.unsigned_abs(), 4);
    out.push('-');
    push_digits(out, d.month(), 2);
    out.push('-');
    push_digits(out, d.day(), 2);
}

/// Append `v` in decimal, zero-padded to at least `width` digits.
fn push_digits(out: &mut String, mut v: u32, width: usize) {
    let mut digits = [b'0'; 10];
    let mut at = digits.len();
    while v > 0 || digits.len() - at < width {
        at -= 1;
        digits[at] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    // ASCII digits: always UTF-8.
    if let Ok(text) = std::str::from_utf8(&digits[at..]) {
        out.push_str(text);
    }
}

fn format_float(f: f64) -> String {
    let mut text = String::new();
    write_float(&mut text, f);
    text
}

fn write_float(out: &mut String, f: f64) {
    let _ = if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        write!(out, "{f:.1}")
    } else {
        write!(out, "{f}")
    };
}

/// Named, typed columns and their rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultSet {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cell read in place is four words: it is returned once per cell written.
    #[test]
    fn a_cell_read_in_place_is_four_words() {
        assert!(std::mem::size_of::<ValueRef>() <= 4 * std::mem::size_of::<usize>());
        let nested = Value::Json(serde_json::json!({"k": [1, "x"]}));
        assert_eq!(nested.as_ref().to_value(), nested);
        assert_eq!(
            nested.as_ref().display().as_deref(),
            Some(r#"{"k":[1,"x"]}"#)
        );
    }

    /// chrono's own text for `t`, the reference the hand-written formatter must match.
    fn chrono_text(t: &NaiveDateTime) -> String {
        t.format("%Y-%m-%d %H:%M:%S%.f").to_string()
    }

    /// A small deterministic generator (xorshift), so the test needs no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[test]
    fn timestamps_and_dates_are_written_as_chrono_writes_them() {
        let years = [
            -262_143, -10_000, -9999, -1000, -999, -100, -10, -1, 0, 1, 9, 10, 99, 100, 999, 1000,
            1969, 1970, 2026, 9999, 10_000, 99_999, 100_000, 262_143,
        ];
        let nanos = [
            0,
            1,
            9,
            10,
            999,
            1_000,
            1_001,
            10_000,
            999_999,
            1_000_000,
            1_000_001,
            1_001_000,
            100_000_000,
            120_000_000,
            123_456_000,
            123_456_789,
            999_000_000,
            999_999_000,
            999_999_999,
            // A leap second (chrono: second 59 with a nanosecond count of a second or more).
            1_000_000_000,
            1_000_000_001,
            1_500_000_000,
            1_999_999_999,
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut checked = 0;
        for &year in &years {
            for &nano in &nanos {
                for _ in 0..20 {
                    let month = 1 + rng.below(12) as u32;
                    let day = 1 + rng.below(31) as u32;
                    let Some(date) = NaiveDate::from_ymd_opt(year, month, day)
                        .or_else(|| NaiveDate::from_ymd_opt(year, month, 28))
                    else {
                        continue;
                    };
                    let (hour, minute) = (rng.below(24) as u32, rng.below(60) as u32);
                    let second = if nano >= 1_000_000_000 {
                        59
                    } else {
                        rng.below(60) as u32
                    };
                    let Some(t) = date.and_hms_nano_opt(hour, minute, second, nano) else {
                        continue;
                    };
                    assert_eq!(format_timestamp(&t), chrono_text(&t), "{t:?}");
                    let mut text = String::from("x");
                    write_date(&mut text, &date);
                    assert_eq!(text, format!("x{}", date.format("%Y-%m-%d")), "{date:?}");
                    assert_eq!(
                        Value::Date(date).display().as_deref(),
                        Some(&text[1..]),
                        "{date:?}"
                    );
                    checked += 1;
                }
            }
        }
        // Random instants over chrono's whole range, fractions of every length.
        let (min, max) = (NaiveDateTime::MIN, NaiveDateTime::MAX);
        let span = (max - min).num_seconds() as u64;
        for _ in 0..200_000 {
            let secs = rng.below(span + 1) as i64;
            let nano = match rng.below(4) {
                0 => 0,
                1 => rng.below(1000) as u32 * 1_000_000,
                2 => rng.below(1_000_000) as u32 * 1_000,
                _ => rng.below(1_000_000_000) as u32,
            };
            let t =
                min + chrono::Duration::seconds(secs) + chrono::Duration::nanoseconds(nano.into());
            assert_eq!(format_timestamp(&t), chrono_text(&t), "{t:?}");
            checked += 1;
        }
        for t in [min, max] {
            assert_eq!(format_timestamp(&t), chrono_text(&t), "{t:?}");
        }
        assert!(
            checked > 200_000 + years.len() * nanos.len() * 10,
            "{checked}"
        );
        // The written text is appended, never replacing what is there.
        let t = NaiveDate::from_ymd_opt(2026, 11, 26)
            .and_then(|d| d.and_hms_milli_opt(9, 0, 1, 120))
            .unwrap();
        let mut text = String::from("at ");
        write_timestamp(&mut text, &t);
        assert_eq!(text, "at 2026-11-26 09:00:01.120");
        assert_eq!(
            Value::Timestamp(t).display().as_deref(),
            Some("2026-11-26 09:00:01.120")
        );
    }

    #[test]
    fn display_writes_every_value_as_before() {
        let cases = [
            (Value::Null, None),
            (Value::Bool(true), Some("true")),
            (Value::Bool(false), Some("false")),
            (Value::Int(-42), Some("-42")),
            (Value::Float(3.0), Some("3.0")),
            (Value::Float(0.25), Some("0.25")),
            (Value::Float(1e20), Some("100000000000000000000")),
            (Value::Float(f64::NAN), Some("NaN")),
            (Value::Str("a\nb".into()), Some("a\nb")),
            (
                Value::Json(serde_json::json!({"k": [1, "x"]})),
                Some("{\"k\":[1,\"x\"]}"),
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(value.display().as_deref(), expected, "{value:?}");
        }
    }
}
