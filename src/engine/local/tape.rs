//! One pass over a JSON line into a flat tape of nodes, for the loader ([`super::json`]).
//!
//! The parser validates the whole value (RFC 8259 grammar, strings free of raw control
//! characters and valid UTF-8) and records each value as a [`Node`]: its kind, where its text is
//! in the line, and where its subtree ends on the tape. Nothing is decoded: numbers keep their
//! text (Athena coerces the text), strings are unescaped only when a builder reads one that has
//! escapes. Containers are walked without recursion (never a stack overflow), and values deeper
//! than the tape is asked to record are validated at a byte per level without becoming nodes.
//!
//! It replaces a JSON library's split into keys and raw values at each nesting level, which
//! scanned a nested value once per level above it.

use std::borrow::Cow;
use std::fmt;

/// What a node holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Null,
    True,
    False,
    /// A number, as written.
    Number,
    /// A string; its span is the text between the quotes.
    Str,
    /// An array; its children are its items.
    Array,
    /// An object; its children alternate key (a `Str` node) and value.
    Object,
}

impl Kind {
    /// The JSON name of the kind, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::True | Kind::False => "boolean",
            Kind::Number => "number",
            Kind::Str => "string",
            Kind::Array => "array",
            Kind::Object => "object",
        }
    }
}

/// One value of the line.
#[derive(Debug, Clone, Copy)]
struct Node {
    kind: Kind,
    /// A string holding at least one escape.
    escaped: bool,
    /// A container whose contents are not on the tape (deeper than the tape records).
    elided: bool,
    /// The value's text: `line[start..end]` (for a string, without its quotes).
    start: u32,
    end: u32,
    /// The index of the first node after this one's subtree.
    next: u32,
}

/// Why a line is not JSON: what was expected, and the byte offset where it was not found (none
/// when the line ended first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub at: Option<usize>,
    pub what: &'static str,
}

impl SyntaxError {
    fn at(line: &[u8], at: usize, what: &'static str) -> Self {
        Self {
            at: (at < line.len()).then_some(at),
            what,
        }
    }

    /// The line ended where more was due.
    fn eol(what: &'static str) -> Self {
        Self { at: None, what }
    }

    /// `what` is wrong at `at`, or the line ended there (`ends`).
    fn ended(line: &[u8], at: usize, what: &'static str, ends: &'static str) -> Self {
        if at < line.len() {
            Self::at(line, at, what)
        } else {
            Self::eol(ends)
        }
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.at {
            Some(at) => write!(f, "invalid JSON at column {}: {}", at + 1, self.what),
            None => write!(f, "invalid JSON: {} (a truncated record?)", self.what),
        }
    }
}

/// The nodes of the last line parsed; reused from line to line.
pub struct Tape {
    nodes: Vec<Node>,
    /// The open containers, outermost first: whether each is an object.
    open: Vec<bool>,
    /// The nodes of the open containers that are on the tape.
    recorded: Vec<usize>,
    /// The deepest values recorded (the root is at depth 1): what lies deeper is validated but
    /// not recorded, so a hostile line nested a million deep costs a byte per level, not a node.
    depth: usize,
}

/// Nodes kept allocated from one line to the next (16 bytes each); a longer line's tape is freed.
const KEEP_NODES: usize = 1 << 16;

impl Default for Tape {
    fn default() -> Self {
        Self::with_depth(usize::MAX)
    }
}

/// A parsed line: its text and its nodes (node 0 is the root value).
#[derive(Clone, Copy)]
pub struct Parsed<'a> {
    text: &'a str,
    nodes: &'a [Node],
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Whether `text` is JSON whitespace only (what may follow a value without being read).
pub fn blank(text: &[u8]) -> bool {
    text.iter().all(|&b| is_ws(b))
}

fn skip_ws(line: &[u8], mut at: usize) -> usize {
    while line.get(at).copied().is_some_and(is_ws) {
        at += 1;
    }
    at
}

/// Offsets are kept in 32 bits: lines are capped far below 4 GiB before they are parsed.
fn offset(at: usize) -> u32 {
    u32::try_from(at).unwrap_or(u32::MAX)
}

impl Tape {
    /// A tape that records values down to `depth` (1: the root value alone; its contents are
    /// validated, and its text kept).
    pub fn with_depth(depth: usize) -> Self {
        Self {
            nodes: Vec::new(),
            open: Vec::new(),
            recorded: Vec::new(),
            depth,
        }
    }

    /// Parse the JSON value at the start of `line` (leading whitespace allowed). Returns the
    /// parsed value and the offset just past it; what follows is not looked at.
    pub fn parse<'a>(&'a mut self, line: &'a [u8]) -> Result<(Parsed<'a>, usize), SyntaxError> {
        if self.nodes.capacity() > KEEP_NODES {
            self.nodes = Vec::new();
        }
        if self.open.capacity() > KEEP_NODES {
            self.open = Vec::new();
        }
        self.nodes.clear();
        self.open.clear();
        self.recorded.clear();
        let end = self.scan(line)?;
        // Outside strings the grammar admits only ASCII, and each string's bytes were left to
        // this one check: the value is UTF-8 exactly when its whole text is.
        let text = std::str::from_utf8(&line[..end])
            .map_err(|err| SyntaxError::at(line, err.valid_up_to(), "invalid UTF-8"))?;
        Ok((
            Parsed {
                text,
                nodes: &self.nodes,
            },
            end,
        ))
    }

    /// Whether the value about to be read is recorded (its depth is the open containers + 1).
    fn recording(&self) -> bool {
        self.open.len() < self.depth
    }

    fn leaf(&mut self, kind: Kind, start: usize, end: usize, escaped: bool) {
        if !self.recording() {
            return;
        }
        let next = offset(self.nodes.len() + 1);
        self.nodes.push(Node {
            kind,
            escaped,
            elided: false,
            start: offset(start),
            end: offset(end),
            next,
        });
    }

    /// Validate and record the value starting at (or after whitespace from) 0; the offset past it.
    fn scan(&mut self, line: &[u8]) -> Result<usize, SyntaxError> {
        let err = |at: usize, what: &'static str| Err(SyntaxError::at(line, at, what));
        let mut at = skip_ws(line, 0);
        'value: loop {
            // A value starts at `at`.
            let Some(&first) = line.get(at) else {
                return Err(SyntaxError::eol("the line ends where a value is expected"));
            };
            match first {
                b'{' | b'[' => {
                    let object = first == b'{';
                    if self.recording() {
                        self.recorded.push(self.nodes.len());
                        self.nodes.push(Node {
                            kind: if object { Kind::Object } else { Kind::Array },
                            escaped: false,
                            // Its contents are one level deeper.
                            elided: self.open.len() + 1 >= self.depth,
                            start: offset(at),
                            end: 0,
                            next: 0,
                        });
                    }
                    self.open.push(object);
                    at = skip_ws(line, at + 1);
                    let close = if object { b'}' } else { b']' };
                    if line.get(at) != Some(&close) {
                        if object {
                            at = self.key(line, at)?;
                        }
                        continue 'value;
                    }
                    // An empty container: closed below.
                }
                b'"' => {
                    let (end, escaped) = string(line, at + 1)?;
                    self.leaf(Kind::Str, at + 1, end, escaped);
                    at = end + 1;
                }
                b't' | b'f' | b'n' => {
                    let (word, kind): (&[u8], _) = match first {
                        b't' => (b"true", Kind::True),
                        b'f' => (b"false", Kind::False),
                        _ => (b"null", Kind::Null),
                    };
                    if !line[at..].starts_with(word) {
                        return err(at, "expected a value");
                    }
                    self.leaf(kind, at, at + word.len(), false);
                    at += word.len();
                }
                b'-' | b'0'..=b'9' => {
                    let end = number(line, at)?;
                    self.leaf(Kind::Number, at, end, false);
                    at = end;
                }
                _ => return err(at, "expected a value"),
            }
            // After a value: close containers, or go on to the next item of the innermost one.
            loop {
                let Some(&object) = self.open.last() else {
                    return Ok(at);
                };
                at = skip_ws(line, at);
                let close = if object { b'}' } else { b']' };
                match line.get(at) {
                    Some(&b) if b == close => {
                        at += 1;
                        self.open.pop();
                        if self.recording() {
                            // The container just closed was on the tape.
                            let next = offset(self.nodes.len());
                            if let Some(node) = self.recorded.pop() {
                                let open = &mut self.nodes[node];
                                open.end = offset(at);
                                open.next = next;
                            }
                        }
                    }
                    Some(b',') => {
                        at = skip_ws(line, at + 1);
                        if object {
                            at = self.key(line, at)?;
                        }
                        continue 'value;
                    }
                    _ if object => {
                        let ends = "the line ends inside an object";
                        return Err(SyntaxError::ended(line, at, "expected `,` or `}`", ends));
                    }
                    _ => {
                        let ends = "the line ends inside an array";
                        return Err(SyntaxError::ended(line, at, "expected `,` or `]`", ends));
                    }
                }
            }
        }
    }

    /// An object's key at `at` and its colon; the offset of its value.
    fn key(&mut self, line: &[u8], at: usize) -> Result<usize, SyntaxError> {
        if line.get(at) != Some(&b'"') {
            let ends = "the line ends inside an object";
            return Err(SyntaxError::ended(line, at, "expected a string key", ends));
        }
        let (end, escaped) = string(line, at + 1)?;
        self.leaf(Kind::Str, at + 1, end, escaped);
        let colon = skip_ws(line, end + 1);
        if line.get(colon) != Some(&b':') {
            let ends = "the line ends inside an object";
            return Err(SyntaxError::ended(line, colon, "expected `:`", ends));
        }
        Ok(skip_ws(line, colon + 1))
    }
}

/// The string whose text starts at `at`: the offset of its closing quote, and whether it holds
/// escapes. Raw control characters and malformed escapes are errors (UTF-8 is checked later).
fn string(line: &[u8], mut at: usize) -> Result<(usize, bool), SyntaxError> {
    let mut escaped = false;
    loop {
        at = plain(line, at);
        let Some(&b) = line.get(at) else {
            return Err(SyntaxError::eol("the line ends inside a string"));
        };
        match b {
            b'"' => return Ok((at, escaped)),
            b'\\' => {
                escaped = true;
                match line.get(at + 1) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => at += 2,
                    Some(b'u')
                        if line
                            .get(at + 2..at + 6)
                            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)) =>
                    {
                        at += 6
                    }
                    _ => return Err(SyntaxError::at(line, at, "invalid escape in a string")),
                }
            }
            0..0x20 => return Err(SyntaxError::at(line, at, "control character in a string")),
            _ => at += 1,
        }
    }
}

/// The offset of the first byte at or after `at` that ends a string's plain run: a quote, a
/// backslash or a control character (or the line's end). Eight bytes are tested at a time.
fn plain(line: &[u8], mut at: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // The high bit of each byte of `x` that is zero (exact for the lowest such byte).
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    while let Some(word) = line.get(at..at + 8) {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(word);
        let x = u64::from_le_bytes(bytes);
        // Bytes below 0x20: with the high bit clear and below 0x20 once 0x20 is taken off.
        let special = zero(x ^ (ONES * u64::from(b'"')))
            | zero(x ^ (ONES * u64::from(b'\\')))
            | (x.wrapping_sub(ONES * 0x20) & !x & HIGH);
        if special != 0 {
            return at + (special.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    while line
        .get(at)
        .is_some_and(|&b| b != b'"' && b != b'\\' && b >= 0x20)
    {
        at += 1;
    }
    at
}

/// The number starting at `at` (JSON's grammar: no leading zeros, digits after `.` and `e`); the
/// offset past it.
fn number(line: &[u8], start: usize) -> Result<usize, SyntaxError> {
    let digits = |mut at: usize| {
        while line.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        at
    };
    let invalid = |at: usize| SyntaxError::at(line, at, "invalid number");
    let mut at = start;
    if line.get(at) == Some(&b'-') {
        at += 1;
    }
    match line.get(at) {
        Some(b'0') => at += 1,
        Some(b'1'..=b'9') => at = digits(at + 1),
        _ => return Err(invalid(at)),
    }
    if line.get(at) == Some(&b'.') {
        let end = digits(at + 1);
        if end == at + 1 {
            return Err(invalid(end));
        }
        at = end;
    }
    if matches!(line.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(line.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        let end = digits(at);
        if end == at {
            return Err(invalid(end));
        }
        at = end;
    }
    if line.get(at).is_some_and(u8::is_ascii_digit) {
        // A digit after a leading zero.
        return Err(invalid(at));
    }
    Ok(at)
}

impl<'a> Parsed<'a> {
    pub fn kind(&self, node: usize) -> Kind {
        self.nodes.get(node).map_or(Kind::Null, |n| n.kind)
    }

    /// The text of a node as written (a string's without its quotes and still escaped).
    pub fn raw(&self, node: usize) -> &'a str {
        self.nodes
            .get(node)
            .and_then(|n| self.text.get(n.start as usize..n.end as usize))
            .unwrap_or("")
    }

    /// The JSON text of a value, quotes included for a string (for samples and string columns
    /// that receive an array or object).
    pub fn json(&self, node: usize) -> &'a str {
        match self.nodes.get(node) {
            Some(n) if n.kind == Kind::Str => self
                .text
                .get(n.start as usize - 1..n.end as usize + 1)
                .unwrap_or(""),
            _ => self.raw(node),
        }
    }

    /// A string node's text, unescaped (borrowed from the line when it has no escape).
    pub fn str(&self, node: usize) -> Cow<'a, str> {
        let raw = self.raw(node);
        match self.nodes.get(node) {
            Some(n) if n.escaped => Cow::Owned(unescape(raw)),
            _ => Cow::Borrowed(raw),
        }
    }

    /// The children of a container: the items of an array, keys and values in turn of an object.
    /// (None for a container beyond the tape's depth: the loader gives the tape the depth of its
    /// schema, and never asks for the contents of a value deeper than a column goes.)
    pub fn children(&self, node: usize) -> impl Iterator<Item = usize> + 'a {
        let nodes = self.nodes;
        debug_assert!(!nodes.get(node).is_some_and(|n| n.elided));
        let end = nodes.get(node).map_or(0, |n| n.next as usize);
        let mut at = node + 1;
        std::iter::from_fn(move || {
            (at < end).then(|| {
                let child = at;
                at = nodes[child].next as usize;
                child
            })
        })
    }

    /// The (key, value) node pairs of an object, in order.
    pub fn pairs(&self, node: usize) -> impl Iterator<Item = (usize, usize)> + 'a {
        let mut children = self.children(node);
        std::iter::from_fn(move || Some((children.next()?, children.next()?)))
    }
}

/// The text of a string with escapes (already validated). A `\u` escape of a lone surrogate,
/// which no Unicode text can hold, reads as U+FFFD.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let escape = &rest[at + 1..];
        let mut chars = escape.chars();
        let used = match chars.next() {
            Some('b') => {
                out.push('\u{8}');
                1
            }
            Some('f') => {
                out.push('\u{c}');
                1
            }
            Some('n') => {
                out.push('\n');
                1
            }
            Some('r') => {
                out.push('\r');
                1
            }
            Some('t') => {
                out.push('\t');
                1
            }
            Some('u') => {
                let unit = |at: usize| {
                    escape
                        .get(at..at + 4)
                        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                };
                let high = unit(1).unwrap_or(0xFFFD);
                let low = escape
                    .get(5..7)
                    .filter(|s| *s == "\\u")
                    .and_then(|_| unit(7))
                    .filter(|low| (0xDC00..0xE000).contains(low));
                match (high, low) {
                    (0xD800..0xDC00, Some(low)) => {
                        let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                        out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                        11
                    }
                    _ => {
                        out.push(char::from_u32(high).unwrap_or('\u{FFFD}'));
                        5
                    }
                }
            }
            Some(c) => {
                out.push(c);
                c.len_utf8()
            }
            None => 0,
        };
        rest = escape.get(used..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::value::RawValue;
    use serde_json::{Map, Value};

    /// What serde_json makes of the value at the start of `line`: whether it is valid, and
    /// whether only whitespace follows it.
    fn serde_reads(line: &[u8]) -> (bool, bool) {
        let mut de = serde_json::Deserializer::from_slice(line);
        match <&RawValue>::deserialize(&mut de) {
            Ok(_) => (true, de.end().is_ok()),
            Err(_) => (false, false),
        }
    }

    /// The tape of a line as a serde_json value (numbers through their text).
    fn value(parsed: &Parsed, node: usize) -> Value {
        match parsed.kind(node) {
            Kind::Null => Value::Null,
            Kind::True => Value::Bool(true),
            Kind::False => Value::Bool(false),
            Kind::Number => serde_json::from_str(parsed.raw(node)).unwrap(),
            Kind::Str => Value::String(parsed.str(node).into_owned()),
            Kind::Array => Value::Array(
                parsed
                    .children(node)
                    .map(|item| value(parsed, item))
                    .collect(),
            ),
            Kind::Object => {
                let mut map = Map::new();
                for (key, val) in parsed.pairs(node) {
                    map.insert(parsed.str(key).into_owned(), value(parsed, val));
                }
                Value::Object(map)
            }
        }
    }

    /// Check the tape against serde_json on one line: the same lines valid, the same trailing
    /// text found, the same values read.
    fn agrees(line: &[u8]) {
        let shown = String::from_utf8_lossy(line);
        let (valid, clean_end) = serde_reads(line);
        let mut tape = Tape::default();
        match tape.parse(line) {
            Ok((parsed, end)) => {
                assert!(valid, "we accept what serde_json refuses: {shown:?}");
                let rest_blank = blank(&line[end..]);
                assert_eq!(rest_blank, clean_end, "trailing text of {shown:?}");
                // Lone surrogates are valid JSON text that serde_json's own values refuse.
                if let Ok(expected) = serde_json::from_slice::<Value>(&line[..end]) {
                    assert_eq!(value(&parsed, 0), expected, "{shown:?}");
                }
            }
            Err(err) => assert!(
                !valid,
                "we refuse what serde_json accepts ({err}): {shown:?}"
            ),
        }
    }

    #[test]
    fn reads_what_serde_json_reads_on_edge_cases() {
        for line in [
            r#"{}"#,
            r#"  { "a" : [ 1 , -2.5e+3 , true , false , null , "x" ] , "b" : {} }  "#,
            r#"{"a":"\"\\\/\b\f\n\r\t\u0041\u00e9\ud83d\ude00"}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\ud800\u0041"}"#,
            r#"{"a":"\udc00\ud800"}"#,
            r#"{"é":"ü","A":1,"a":2}"#,
            r#"[[[[]]],[{}]]"#,
            r#""top""#,
            r#"-0"#,
            r#"0.5e-7"#,
            r#"{"a":1} trailing"#,
            r#"{"a":1}{"b":2}"#,
            r#"{"a":01}"#,
            r#"01"#,
            r#"-01.5"#,
            r#"{"a":1.}"#,
            r#"{"a":.5}"#,
            r#"{"a":1e}"#,
            r#"{"a":-}"#,
            r#"{"a":+1}"#,
            r#"{"a":tru}"#,
            r#"{"a":truex}"#,
            r#"{"a":nul}"#,
            r#"{"a" 1}"#,
            r#"{"a":1,}"#,
            r#"[1,]"#,
            r#"[1 2]"#,
            r#"{a:1}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\u12"}"#,
            r#"{"a":"\u12g4"}"#,
            r#"{"a":"unterminated}"#,
            r#"{"a":[1,{"b":]}"#,
            r#"{"a":1"#,
            r#"{"#,
            "",
            "   ",
            "{\"a\":\"tab\there\"}",
            "{\"a\":\"nul\u{0}\"}",
            "{\"a\":\"unit\u{1f}\"}",
            "{\"a\":\"del\u{7f}\"}",
            "{\"a\":1}\r",
        ] {
            agrees(line.as_bytes());
        }
        agrees(b"{\"a\":\"\xff\"}");
        agrees(b"{\"a\":\"\xc3\"}");
        agrees(b"{\"\xe2\x82\":1}");
        agrees(b"{\"a\":1} \xff");
        let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
        agrees(deep.as_bytes());
        agrees(&deep.as_bytes()[..deep.len() - 1]);
    }

    /// The word-at-a-time scan stops where a byte-at-a-time scan stops, at every offset.
    #[test]
    fn plain_runs_end_where_a_byte_scan_ends() {
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..2000 {
            let len = (state % 40) as usize;
            let line: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    // Mostly plain bytes, some quotes, backslashes, control and high bytes.
                    match state % 16 {
                        0 => b'"',
                        1 => b'\\',
                        2 => (state >> 8) as u8 % 0x20,
                        3 => 0x80 | (state >> 8) as u8,
                        _ => 0x20 + (state >> 8) as u8 % 0x5f,
                    }
                })
                .collect();
            for at in 0..=len {
                let naive = (at..len)
                    .find(|&i| line[i] == b'"' || line[i] == b'\\' || line[i] < 0x20)
                    .unwrap_or(len);
                assert_eq!(plain(&line, at), naive, "{line:?} from {at}");
            }
        }
    }

    /// Values deeper than the tape records are validated, not recorded: their containers keep
    /// their text, and a line nested a million deep is read in a byte per level.
    #[test]
    fn values_beyond_the_depth_are_validated_not_recorded() {
        let mut tape = Tape::with_depth(2);
        let line = br#"{"a":[[1],{"x":[2]}],"b":{"c":"d"},"e":3}"#;
        let (parsed, _) = tape.parse(line).unwrap();
        let pairs: Vec<(String, Kind, &str)> = parsed
            .pairs(0)
            .map(|(k, v)| (parsed.str(k).into_owned(), parsed.kind(v), parsed.raw(v)))
            .collect();
        assert_eq!(
            pairs,
            [
                ("a".into(), Kind::Array, r#"[[1],{"x":[2]}]"#),
                ("b".into(), Kind::Object, r#"{"c":"d"}"#),
                ("e".into(), Kind::Number, "3"),
            ]
        );
        // The root, three keys and three values: nothing of what the containers hold.
        assert_eq!(tape.nodes.len(), 7);
        for bad in [
            &br#"{"a":[[1,]]}"#[..],
            br#"{"b":{"c":}}"#,
            br#"{"a":[{"x":"\q"}]}"#,
        ] {
            assert!(tape.parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let deep = format!(
            "{{\"a\":{}1{}}}",
            "[".repeat(1_000_000),
            "]".repeat(1_000_000)
        );
        let (parsed, end) = tape.parse(deep.as_bytes()).unwrap();
        assert_eq!(end, deep.len());
        assert_eq!(parsed.children(0).count(), 2);
        assert_eq!(tape.nodes.len(), 3);
        let unclosed = &deep.as_bytes()[..deep.len() - 2];
        assert!(tape.parse(unclosed).is_err());
    }

    /// Random damage to real lines (bytes replaced, dropped, duplicated): the tape refuses and
    /// accepts exactly what serde_json does, and reads the same values.
    #[test]
    fn reads_what_serde_json_reads_on_damaged_lines() {
        let seeds = [
            r#"{"InstanceId":"i-0123","State":{"Code":16,"Name":"running"},"Tags":[{"Key":"Name","Value":"web \u00e9"}],"Count":-12.5e-3,"Flag":true,"None":null}"#,
            r#"{"a":[[1,2],[3,[4,{"b":"c\\d\"e"}]]],"f":0,"g":-0.0E+1,"h":"\ud83d\ude00"}"#,
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let alphabet = b"{}[]:,\"\\ 0123456789.eE+-tfnulrsa\x01\xc3\xa9\xff";
        for seed in seeds {
            for _ in 0..4000 {
                let mut line = seed.as_bytes().to_vec();
                for _ in 0..1 + next(3) {
                    let at = next(line.len());
                    match next(3) {
                        0 => line[at] = alphabet[next(alphabet.len())],
                        1 => {
                            line.remove(at);
                        }
                        _ => line.insert(at, line[at]),
                    }
                }
                agrees(&line);
            }
        }
    }
}
