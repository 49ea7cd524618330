//! Text from the shared bucket is untrusted: another account wrote it. Before it reaches a
//! terminal or a CI log, control characters (escape sequences, NUL, newlines that would start a
//! forged log line) and bidirectional overrides are shown in visible notation instead.

use std::borrow::Cow;

/// Whether `c` must not reach a terminal or a log as is.
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// `text` with every control character and bidirectional override written as `\n`, `\t`, `\r`
/// or `\u{1b}`; borrowed when there is nothing to escape.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if unsafe_char(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Text for XML attributes and content: the five entities escaped, characters XML 1.0 forbids
/// (control characters other than tab and newlines) replaced.
pub fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// `text` made safe to start a line of output: a CI runner reads a line that starts with `::`
/// (GitHub's workflow commands) or `##[` (Azure's) as an instruction, so the first character is
/// written in visible notation. Apply after [`escape`].
pub fn guard_line_start(text: &str) -> Cow<'_, str> {
    let trimmed = text.trim_start();
    if trimmed.starts_with("::") || trimmed.starts_with("##[") {
        let lead = text.len() - trimmed.len();
        let first = trimmed.chars().next().map_or(0, u32::from);
        return Cow::Owned(format!(
            "{}\\u{{{first:x}}}{}",
            &text[..lead],
            &trimmed[1..]
        ));
    }
    Cow::Borrowed(text)
}

/// The known name closest to `name`, if it is a plausible typo of it ("did you mean").
pub fn closest<'a>(name: &str, known: &'a [String]) -> Option<&'a str> {
    let lower = name.to_lowercase();
    known
        .iter()
        .map(|k| (edit_distance(&lower, &k.to_lowercase()), k))
        .filter(|(d, k)| *d <= 2.max(k.chars().count() / 4) && *d < k.chars().count())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.as_str())
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut row = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != *cb);
            row[j + 1] = substitute.min(prev[j + 1] + 1).min(row[j] + 1);
        }
        prev = row;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_and_drops_forbidden_characters() {
        assert_eq!(
            xml("a<b>&\"c'\u{1}\n"),
            "a&lt;b&gt;&amp;&quot;c&apos;\u{FFFD}&#10;"
        );
    }

    #[test]
    fn controls_and_overrides_become_visible() {
        assert!(matches!(escape("plain \"json\" é"), Cow::Borrowed(_)));
        assert_eq!(
            escape("a\u{1b}]0;title\u{7}b\nc\0\u{202e}"),
            "a\\u{1b}]0;title\\u{7}b\\nc\\u{0}\\u{202e}"
        );
        assert_eq!(escape("v1\n::error title=x::y"), "v1\\n::error title=x::y");
    }

    #[test]
    fn workflow_commands_cannot_start_a_line() {
        assert_eq!(guard_line_start("::error::x"), "\\u{3a}:error::x");
        assert_eq!(guard_line_start("  ##[error]x"), "  \\u{23}#[error]x");
        assert_eq!(guard_line_start("a ::error"), "a ::error");
        assert_eq!(
            closest("stael", &["stale".to_string(), "versions".to_string()]),
            Some("stale")
        );
    }

    #[test]
    fn close_names_are_suggested() {
        let known: Vec<String> = ["governance", "other-org", "dev"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(closest("govrenance", &known), Some("governance"));
        assert_eq!(closest("Other-Org", &known), Some("other-org"));
        assert_eq!(closest("prod", &known), None);
        assert_eq!(closest("x", &known), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
