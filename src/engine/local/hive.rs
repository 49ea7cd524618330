//! How Athena (engine v3) reads a JSON value into a column, written down once so the embedded
//! engine reads exactly what Athena reads and can say where Athena would not.
//!
//! Athena reads the tables of `ddl/` with Trino's Hive JSON reader (`trino-hive-formats`,
//! `JsonDeserializer` and `HiveFormatUtils`):
//! - JSON `null` is NULL; a key no column declares is skipped;
//! - a string column takes any scalar as its text (numbers as written, `true`/`false`); an object
//!   or an array there FAILS the query (`BAD_DATA`), as does a scalar where a struct, map or array
//!   is declared;
//! - numbers go through Jackson: a bigint takes an integer, or a float truncated toward zero,
//!   and fails beyond its range; a string or a boolean in a numeric column fails;
//! - a boolean is `true` when the scalar's text is `true` in any case, else `false`;
//! - a timestamp is the scalar's text parsed by the table's `timestamp.formats` (Joda-Time
//!   patterns; the fraction is truncated to milliseconds), else by Hive's default
//!   `yyyy-M-d H:m:s[.fffffffff]` or ISO `yyyy-MM-ddTHH:mm[:ss[.f]]` forms (rounded half up to
//!   milliseconds); no match fails the query;
//! - of two keys that differ only by case, the last is read.
//!
//! Values that Athena fails on are still read here as best we can, and reported ([`Issue`]).

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime};
use serde::{Deserialize, Serialize};

/// How many issues of a file are kept as samples (the others are counted).
pub const SAMPLES_PER_FILE: usize = 3;
/// How many characters of an offending value a sample keeps.
const VALUE_CHARS: usize = 80;

/// What Athena would do with a value or a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IssueKind {
    /// The line is not a JSON object: the embedded engine skips it; Athena fails the query.
    Malformed,
    /// Athena fails the query on this value (`BAD_DATA`).
    AthenaFails,
    /// Athena reads the value, but not as written (a truncated number, `false` for a non-boolean,
    /// the last of duplicate keys, text after the object).
    AthenaReadsOtherwise,
}

impl IssueKind {
    pub fn describe(self) -> &'static str {
        match self {
            IssueKind::Malformed => "malformed line (skipped here; Athena fails the query)",
            IssueKind::AthenaFails => "Athena fails the query",
            IssueKind::AthenaReadsOtherwise => "Athena reads it differently",
        }
    }
}

/// One offending line or value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    /// 1-based line number.
    pub line: u32,
    pub kind: IssueKind,
    /// The column, nested path included (`networkinterfaces[].ipv6addresses[]`); empty for a
    /// whole line.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub column: String,
    /// The value as written, cut to a few dozen characters (untrusted: escape it to print it).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    pub why: String,
}

/// The issues of one file: counts, and the first few as samples.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIssues {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub malformed: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub athena_fails: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub athena_reads_otherwise: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<Issue>,
    /// Per top-level column with issues, its Athena-fails and reads-otherwise counts: what a
    /// query reading only some columns is told ([`FileIssues::within`]). Athena decodes only the
    /// columns a query reads, so a bad value elsewhere in the line never fails it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub columns: BTreeMap<String, [u32; 2]>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl FileIssues {
    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }

    pub fn total(&self) -> u32 {
        self.malformed
            .saturating_add(self.athena_fails)
            .saturating_add(self.athena_reads_otherwise)
    }

    /// Count an issue; keep it as a sample while its column has room (a few per column, so that
    /// a query reading any of them has samples to show).
    pub fn push(&mut self, issue: Issue) {
        let count = match issue.kind {
            IssueKind::Malformed => &mut self.malformed,
            IssueKind::AthenaFails => &mut self.athena_fails,
            IssueKind::AthenaReadsOtherwise => &mut self.athena_reads_otherwise,
        };
        *count = count.saturating_add(1);
        let column = top_column(&issue.column);
        if !column.is_empty() {
            let counts = self.columns.entry(column.to_string()).or_default();
            let at = usize::from(issue.kind == IssueKind::AthenaReadsOtherwise);
            counts[at] = counts[at].saturating_add(1);
        }
        let kept = self
            .samples
            .iter()
            .filter(|s| top_column(&s.column) == column)
            .count();
        if kept < SAMPLES_PER_FILE {
            self.samples.push(issue);
        }
    }

    /// The issues a query reading only the top-level columns `read` would meet: those of the
    /// columns read and, with `whole_lines`, those of whole lines (malformed, text after the
    /// object), which any query meets.
    pub fn within(&self, whole_lines: bool, read: impl Fn(&str) -> bool) -> FileIssues {
        // The whole lines' counts: the totals less every column's.
        let (mut fails, mut otherwise) = (self.athena_fails, self.athena_reads_otherwise);
        for counts in self.columns.values() {
            fails = fails.saturating_sub(counts[0]);
            otherwise = otherwise.saturating_sub(counts[1]);
        }
        if !whole_lines {
            (fails, otherwise) = (0, 0);
        }
        let mut columns = BTreeMap::new();
        for (column, counts) in self.columns.iter().filter(|(c, _)| read(c)) {
            fails = fails.saturating_add(counts[0]);
            otherwise = otherwise.saturating_add(counts[1]);
            columns.insert(column.clone(), *counts);
        }
        FileIssues {
            malformed: if whole_lines { self.malformed } else { 0 },
            athena_fails: fails,
            athena_reads_otherwise: otherwise,
            samples: self
                .samples
                .iter()
                .filter(|s| match top_column(&s.column) {
                    "" => whole_lines,
                    column => read(column),
                })
                .take(SAMPLES_PER_FILE)
                .cloned()
                .collect(),
            columns,
        }
    }
}

/// The top-level column of an issue's column path (`tags` of `tags[].key`; empty for the line).
fn top_column(path: &str) -> &str {
    path.find(['.', '[']).map_or(path, |end| &path[..end])
}

/// `text` cut to [`VALUE_CHARS`] characters (with `…` when cut).
pub fn sample_value(text: &str) -> String {
    let mut chars = text.char_indices();
    match chars.nth(VALUE_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// A timestamp as Athena stores it: UTC microseconds since the epoch, at millisecond precision.
pub type Micros = i64;

/// One `timestamp.formats` pattern, compiled. Only the Joda-Time letters CloneSquad's forms need
/// are supported (`y M d H m s S Z` and quoted literals); anything else is refused when the DDL
/// is read, so the embedded engine never guesses what a pattern means.
#[derive(Debug, Clone, PartialEq)]
struct Pattern(Vec<Token>);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Token {
    Literal(char),
    /// A number of at most `max` digits into a field.
    Number(Field, usize),
    /// `S...`: fraction of second, up to 9 digits, truncated to milliseconds.
    Fraction,
    /// `Z` (`+0000`) or `ZZ` (`+00:00`); both also read `Z`.
    Offset,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
}

/// The compiled `timestamp.formats` of a table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TimestampFormats(Vec<Pattern>);

#[derive(Debug, thiserror::Error)]
#[error("timestamp format `{pattern}`: {message}")]
pub struct FormatError {
    pattern: String,
    message: String,
}

impl TimestampFormats {
    /// Compile Joda-Time patterns (see [`crate::catalog::ddl::TableDef::timestamp_formats`]).
    pub fn compile(patterns: &[String]) -> Result<Self, FormatError> {
        patterns
            .iter()
            .map(|p| compile(p))
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// Read `text` as Athena reads a timestamp column: the patterns first, then Hive's default
    /// forms. `None`: Athena fails the query on this value.
    pub fn parse(&self, text: &str) -> Option<Micros> {
        // Trino trims characters up to U+0020, as Java's String.trim does.
        let text = text.trim_matches(|c: char| c <= ' ');
        self.0
            .iter()
            .find_map(|p| p.parse(text))
            .or_else(|| parse_hive_default(text))
    }
}

fn compile(pattern: &str) -> Result<Pattern, FormatError> {
    let err = |message: String| FormatError {
        pattern: pattern.to_string(),
        message,
    };
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let run = chars[i..].iter().take_while(|&&x| x == c).count();
        match c {
            '\'' => {
                // 'text' is literal; '' is a quote.
                if chars.get(i + 1) == Some(&'\'') {
                    tokens.push(Token::Literal('\''));
                    i += 2;
                    continue;
                }
                let end = chars[i + 1..]
                    .iter()
                    .position(|&x| x == '\'')
                    .ok_or_else(|| err("unterminated quote".into()))?;
                tokens.extend(chars[i + 1..i + 1 + end].iter().map(|&x| Token::Literal(x)));
                i += end + 2;
                continue;
            }
            'y' => tokens.push(Token::Number(Field::Year, 9)),
            'M' if run <= 2 => tokens.push(Token::Number(Field::Month, 2)),
            'd' if run <= 2 => tokens.push(Token::Number(Field::Day, 2)),
            'H' if run <= 2 => tokens.push(Token::Number(Field::Hour, 2)),
            'm' if run <= 2 => tokens.push(Token::Number(Field::Minute, 2)),
            's' if run <= 2 => tokens.push(Token::Number(Field::Second, 2)),
            'S' => tokens.push(Token::Fraction),
            'Z' if run <= 2 => tokens.push(Token::Offset),
            c if c.is_ascii_alphabetic() => {
                return Err(err(format!(
                    "the letter `{}` is not supported by cs-cmdb's embedded engine (only y, M, d, H, m, s, S, Z and quoted text)",
                    c.to_string().repeat(run)
                )));
            }
            c => {
                tokens.extend(std::iter::repeat_n(Token::Literal(c), run));
            }
        }
        i += run;
    }
    Ok(Pattern(tokens))
}

impl Pattern {
    /// The instant, when the pattern reads the whole text (as Trino requires).
    fn parse(&self, text: &str) -> Option<Micros> {
        let bytes = text.as_bytes();
        let mut at = 0;
        let (mut year, mut month, mut day) = (1970i64, 1u32, 1u32);
        let (mut hour, mut minute, mut second, mut millis) = (0u32, 0u32, 0u32, 0u32);
        let mut offset_secs = 0i64;
        for token in &self.0 {
            match *token {
                // Most literals are ASCII (`-`, ` `, `:`, `.`): one byte compared in place.
                Token::Literal(c) if c.is_ascii() => {
                    if bytes.get(at) != Some(&(c as u8)) {
                        return None;
                    }
                    at += 1;
                }
                Token::Literal(c) => {
                    let mut buf = [0u8; 4];
                    let lit = c.encode_utf8(&mut buf).as_bytes();
                    if !bytes[at..].starts_with(lit) {
                        return None;
                    }
                    at += lit.len();
                }
                Token::Number(field, max) => {
                    let (value, used) = digits(&bytes[at..], max)?;
                    at += used;
                    let small = || u32::try_from(value).ok();
                    match field {
                        Field::Year => year = i64::try_from(value).ok()?,
                        Field::Month => month = small()?,
                        Field::Day => day = small()?,
                        Field::Hour => hour = small()?,
                        Field::Minute => minute = small()?,
                        Field::Second => second = small()?,
                    }
                }
                Token::Fraction => {
                    let used = bytes[at..]
                        .iter()
                        .take(9)
                        .take_while(|b| b.is_ascii_digit())
                        .count();
                    if used == 0 {
                        return None;
                    }
                    // Joda keeps milliseconds: the first three digits, the rest dropped.
                    millis = bytes[at..at + used.min(3)]
                        .iter()
                        .fold(0, |n, b| n * 10 + u32::from(b - b'0'))
                        * 10u32.pow(3 - used.min(3) as u32);
                    at += used;
                }
                Token::Offset => {
                    let (secs, used) = offset(&bytes[at..])?;
                    offset_secs = secs;
                    at += used;
                }
            }
        }
        if at != bytes.len() {
            return None;
        }
        let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
        let time = NaiveTime::from_hms_milli_opt(hour, minute, second, millis)?;
        let local = NaiveDateTime::new(date, time).and_utc().timestamp_micros();
        local.checked_sub(offset_secs.checked_mul(1_000_000)?)
    }
}

/// Up to `max` ASCII digits (at least one): their value and how many bytes they took.
fn digits(bytes: &[u8], max: usize) -> Option<(u64, usize)> {
    let used = bytes
        .iter()
        .take(max)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if used == 0 {
        return None;
    }
    let value = bytes[..used]
        .iter()
        .fold(0u64, |n, b| n * 10 + u64::from(b - b'0'));
    Some((value, used))
}

/// `Z`, `+HH`, `+HH:MM` or `+HHMM` (and `-`): seconds east of UTC and the bytes taken.
fn offset(bytes: &[u8]) -> Option<(i64, usize)> {
    match bytes.first()? {
        b'Z' => Some((0, 1)),
        sign @ (b'+' | b'-') => {
            let two = |b: &[u8]| -> Option<i64> {
                (b.len() >= 2 && b[..2].iter().all(u8::is_ascii_digit))
                    .then(|| i64::from(b[0] - b'0') * 10 + i64::from(b[1] - b'0'))
            };
            let hours = two(&bytes[1..])?;
            let (minutes, used) = if bytes.get(3) == Some(&b':') {
                (two(&bytes[4..])?, 6)
            } else if let Some(m) = two(bytes.get(3..).unwrap_or_default()) {
                (m, 5)
            } else {
                (0, 3)
            };
            if hours > 23 || minutes > 59 {
                return None;
            }
            let secs = hours * 3600 + minutes * 60;
            Some((if *sign == b'-' { -secs } else { secs }, used))
        }
        _ => None,
    }
}

/// Hive's default forms, tried when no pattern reads the value: `y-M-d H:m:s[.f]` (one or two
/// digits a field, up to nine of fraction), else ISO `yyyy-MM-ddTHH:mm[:ss[.f]]`. Both resolve
/// leniently, as java.time's LENIENT resolver does (month 13 is January of the next year, hour 24
/// the next day); the fraction is rounded half up to milliseconds, as Athena's millisecond
/// timestamps store it.
fn parse_hive_default(text: &str) -> Option<Micros> {
    let (date, time, iso) = if let Some((d, t)) = text.split_once(' ') {
        (d, t, false)
    } else {
        let (d, t) = text.split_once(['T', 't'])?;
        (d, t, true)
    };
    let number = |s: &str, min: usize, max: usize| -> Option<i64> {
        (s.len() >= min && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    // The default form takes 1-2 digits a field (1-10 for the year); ISO exactly 2 (4-10).
    let (year_min, field_min) = if iso { (4, 2) } else { (1, 1) };
    let mut parts = date.splitn(3, '-');
    let year = number(parts.next()?, year_min, 10)?;
    let month = number(parts.next()?, field_min, 2)?;
    let day = number(parts.next()?, field_min, 2)?;
    let (clock, fraction) = match time.split_once('.') {
        Some((clock, fraction)) => (clock, Some(fraction)),
        None => (time, None),
    };
    let mut fields = clock.split(':');
    let hour = number(fields.next()?, field_min, 2)?;
    let minute = number(fields.next()?, field_min, 2)?;
    let second = match fields.next() {
        Some(s) => number(s, field_min, 2)?,
        None if iso && fraction.is_none() => 0,
        None => return None,
    };
    if fields.next().is_some() {
        return None;
    }
    let nanos = match fraction {
        None => 0,
        // A bare decimal point reads as no fraction (java.time's `appendFraction`).
        Some("") => 0,
        Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => {
            f.parse::<i64>().ok()? * 10i64.pow(9 - f.len() as u32)
        }
        Some(_) => return None,
    };
    // LENIENT: January 1st of the year, plus (month - 1) months, plus (day - 1) days, plus the
    // clock as a duration.
    let first = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, 1, 1)?;
    let months = month - 1;
    let date = if months >= 0 {
        first.checked_add_months(chrono::Months::new(u32::try_from(months).ok()?))?
    } else {
        first.checked_sub_months(chrono::Months::new(1))?
    };
    let date = date.checked_add_signed(chrono::Duration::days(day - 1))?;
    let secs =
        date.and_hms_opt(0, 0, 0)?.and_utc().timestamp() + hour * 3600 + minute * 60 + second;
    // Round half up to milliseconds; a carry moves to the next second.
    let millis = (nanos + 500_000) / 1_000_000;
    secs.checked_mul(1_000_000)?.checked_add(millis * 1_000)
}

/// A timestamp in micros as a naive UTC date-time (for display and tests).
pub fn to_naive(micros: Micros) -> Option<NaiveDateTime> {
    DateTime::from_timestamp_micros(micros).map(|t| t.naive_utc())
}

impl fmt::Display for Issue {
    /// `N: column c, value `v`: why (what Athena does)`, the line number first so that
    /// `path:{issue}` reads `path:N: ...`; the untrusted value is escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.line)?;
        if !self.column.is_empty() {
            write!(f, " column {},", self.column)?;
        }
        if !self.value.is_empty() {
            write!(f, " value `{}`:", crate::text::escape(&self.value))?;
        }
        write!(f, " {} ({})", self.why, self.kind.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn formats() -> TimestampFormats {
        let ddl = crate::catalog::ddl::tables().unwrap();
        TimestampFormats::compile(&ddl[0].timestamp_formats()).unwrap()
    }

    fn read(text: &str) -> Option<String> {
        formats()
            .parse(text)
            .and_then(to_naive)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
    }

    #[test]
    fn every_clonesquad_form_reads_at_millisecond_precision() {
        let cases = [
            (
                "2026-11-26 08:50:59.943853+00:00",
                "2026-11-26 08:50:59.943",
            ),
            ("2026-11-26 08:50:59+00:00", "2026-11-26 08:50:59.000"),
            ("2026-11-26 08:50:59.943853", "2026-11-26 08:50:59.943"),
            ("2026-11-26 08:50:59.999999", "2026-11-26 08:50:59.999"),
            ("2026-11-26 08:50:59", "2026-11-26 08:50:59.000"),
            ("2026-11-26 10:50:59+02:00", "2026-11-26 08:50:59.000"),
            (" 2026-11-26 08:50:59 ", "2026-11-26 08:50:59.000"),
        ];
        for (text, expected) in cases {
            assert_eq!(read(text).as_deref(), Some(expected), "{text}");
        }
    }

    #[test]
    fn hive_default_forms_round_and_the_rest_fails() {
        assert_eq!(
            read("2026-1-2 3:4:5.9996").as_deref(),
            Some("2026-01-02 03:04:05.999"),
            "Joda-Time reads one-digit fields too, and truncates"
        );
        assert_eq!(
            read("2026-11-26 24:00:00.9996").as_deref(),
            Some("2026-11-27 00:00:01.000"),
            "hour 24 is no Joda-Time hour: the lenient default form reads it, rounding half up"
        );
        assert_eq!(
            read("2026-13-01 00:00:00").as_deref(),
            Some("2027-01-01 00:00:00.000")
        );
        assert_eq!(
            read("2026-02-30 00:00:00").as_deref(),
            Some("2026-03-02 00:00:00.000")
        );
        assert_eq!(
            read("2026-11-26 08:50:59.").as_deref(),
            Some("2026-11-26 08:50:59.000")
        );
        assert_eq!(
            read("2026-11-26T08:50:59.5").as_deref(),
            Some("2026-11-26 08:50:59.500")
        );
        assert_eq!(
            read("2026-11-26T08:50").as_deref(),
            Some("2026-11-26 08:50:00.000")
        );
        for bad in [
            "2026-11-26",
            "2026-11-26T08:50:59Z",
            "1700000000",
            "true",
            "yesterday",
            "",
        ] {
            assert_eq!(read(bad), None, "{bad}");
        }
    }

    #[test]
    fn unsupported_pattern_letters_are_refused() {
        let err = TimestampFormats::compile(&["yyyy-MM-dd'T'HH:mm:ss.SSSXXX".into()]).unwrap_err();
        assert!(err.to_string().contains("XXX"), "{err}");
        let ok = TimestampFormats::compile(&["yyyy-MM-dd'T'HH:mm:ss".into()]).unwrap();
        assert!(ok.parse("2026-11-26T08:50:59").is_some());
    }

    /// A query is told the issues of the columns it reads (Athena decodes no other), and those
    /// of whole lines; each column keeps samples of its own.
    #[test]
    fn issues_are_told_per_column_read() {
        let issue = |line, kind, column: &str| Issue {
            line,
            kind,
            column: column.into(),
            value: String::new(),
            why: "w".into(),
        };
        let mut issues = FileIssues::default();
        for line in 1..=4 {
            issues.push(issue(line, IssueKind::AthenaFails, "launchtime"));
        }
        issues.push(issue(5, IssueKind::AthenaReadsOtherwise, "tags[].key"));
        issues.push(issue(6, IssueKind::Malformed, ""));
        issues.push(issue(7, IssueKind::AthenaReadsOtherwise, ""));
        assert_eq!((issues.athena_fails, issues.athena_reads_otherwise), (4, 2));
        assert_eq!(issues.samples.len(), SAMPLES_PER_FILE + 3);

        let tags = issues.within(true, |c| c == "tags");
        assert_eq!(
            (
                tags.malformed,
                tags.athena_fails,
                tags.athena_reads_otherwise
            ),
            (1, 0, 2)
        );
        let lines: Vec<u32> = tags.samples.iter().map(|s| s.line).collect();
        assert_eq!(lines, [5, 6, 7]);

        let only_new = issues.within(false, |c| c == "launchtime");
        assert_eq!(
            (
                only_new.malformed,
                only_new.athena_fails,
                only_new.athena_reads_otherwise
            ),
            (0, 4, 0)
        );
        assert_eq!(only_new.samples.len(), SAMPLES_PER_FILE);
        assert!(only_new.samples.iter().all(|s| s.column == "launchtime"));

        let none = issues.within(false, |c| c == "state");
        assert!(none.is_empty() && none.samples.is_empty());
        assert_eq!(issues.within(true, |_| true).total(), issues.total());
    }

    #[test]
    fn issues_keep_counts_and_a_few_samples() {
        let mut issues = FileIssues::default();
        for line in 1..=5 {
            issues.push(Issue {
                line,
                kind: IssueKind::AthenaFails,
                column: "c".into(),
                value: sample_value(&"x".repeat(200)),
                why: "w".into(),
            });
        }
        assert_eq!(issues.athena_fails, 5);
        assert_eq!(issues.samples.len(), SAMPLES_PER_FILE);
        assert_eq!(issues.samples[0].value.chars().count(), VALUE_CHARS + 1);
    }
}
