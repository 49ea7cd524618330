//! Whole-run snapshots (after uv's `uv_snapshot!`): the exit code, stdout and stderr of one run of
//! the binary in ONE insta snapshot, so a change to any user-facing message (an error, a summary,
//! a warning) shows up as a diff to review, together with the exit code it came with.
//!
//! What varies from run to run is filtered out; see [`Filters`]. The filters keep the width of
//! what they replace on lines of a drawn table (`│`), so a snapshot shows the table's real
//! alignment (a column that does not line up is a visible diff, not hidden by a short
//! placeholder).

use std::path::Path;

use regex::Regex;

/// Rewrites applied to stdout and stderr before the snapshot is compared.
#[derive(Clone)]
pub struct Filters {
    rules: Vec<(Regex, String)>,
}

impl Default for Filters {
    fn default() -> Self {
        Self::new()
    }
}

impl Filters {
    /// Always on: temporary folders (`[TEMP]`), loopback ports (`127.0.0.1:[PORT]`), elapsed times
    /// (`[DURATION]`: fractional seconds and milliseconds), and UUIDs such as Athena query ids.
    pub fn new() -> Self {
        let temp = std::env::temp_dir();
        let temp = temp.to_string_lossy();
        let temp = regex::escape(temp.trim_end_matches('/'));
        Self { rules: Vec::new() }
            .replace(&format!(r"(/private)?{temp}/\.tmp[A-Za-z0-9]+"), "[TEMP]")
            .replace(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]")
            .replace(r"\b\d+\.\d+ ?s\b|\b\d+ ?ms\b", "[DURATION]")
            .replace(
                r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b",
                "[UUID]",
            )
    }

    /// Twelve-digit account ids, for runs against accounts the emulator numbers at random.
    pub fn account_ids(self) -> Self {
        self.replace(r"\b\d{12}\b", "[ACCOUNT_ID]")
    }

    /// Wall-clock date-times (`2026-11-26 09:00:00[.123456]`, with `T`, a zone or ` UTC`), for
    /// output that shows when the emulator created something. Leave it off when the times come
    /// from the fixture (`CS_CMDB_NOW`): they are part of the answer.
    pub fn times(self) -> Self {
        self.replace(
            r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d| UTC)?",
            "[TIME]",
        )
    }

    /// A known path (a test's home, a fixture) shown as `name`.
    pub fn path(self, path: &Path, name: &str) -> Self {
        let mut rules = self.rules;
        // Before the generic temp-folder rule, so the more specific name wins.
        rules.insert(
            0,
            (
                Regex::new(&regex::escape(&path.to_string_lossy())).unwrap(),
                name.to_string(),
            ),
        );
        Self { rules }
    }

    /// Any other rewrite.
    pub fn replace(mut self, pattern: &str, with: &str) -> Self {
        self.rules.push((
            Regex::new(pattern).unwrap_or_else(|e| panic!("filter {pattern}: {e}")),
            with.to_string(),
        ));
        self
    }

    pub fn apply(&self, text: &str) -> String {
        let mut out: Vec<String> = Vec::new();
        for line in text.split('\n') {
            let table = line.contains('│');
            let mut line = line.to_string();
            for (regex, with) in &self.rules {
                line = regex
                    .replace_all(&line, |caps: &regex::Captures| {
                        let mut replaced = String::new();
                        caps.expand(with, &mut replaced);
                        let width = caps[0].chars().count();
                        if table && replaced.chars().count() < width {
                            let pad = width - replaced.chars().count();
                            replaced.extend(std::iter::repeat_n(' ', pad));
                        }
                        replaced
                    })
                    .into_owned();
            }
            out.push(line);
        }
        out.join("\n")
    }
}

/// The snapshot text of a finished run.
pub fn format(output: &std::process::Output, filters: &Filters) -> String {
    let code = match output.status.code() {
        Some(code) => format!("exit_code: {code}"),
        None => format!("exit_status: {}", output.status),
    };
    format!(
        "{code}\n----- stdout -----\n{}\n----- stderr -----\n{}",
        filters.apply(&String::from_utf8_lossy(&output.stdout)),
        filters.apply(&String::from_utf8_lossy(&output.stderr)),
    )
}

/// Run `cmd` to its end: (snapshot text, output).
pub fn run(cmd: &mut assert_cmd::Command, filters: &Filters) -> (String, std::process::Output) {
    let output = cmd.output().expect("run cs-cmdb");
    (format(&output, filters), output)
}

/// Several runs in one snapshot, each under a title: a table of cases (input errors, say) that
/// reads as one document.
pub struct Runs {
    filters: Filters,
    text: String,
}

impl Runs {
    pub fn new(filters: Filters) -> Self {
        Self {
            filters,
            text: String::new(),
        }
    }

    /// Run `cmd`, add its snapshot under `title`, return its output.
    pub fn run(&mut self, title: &str, cmd: &mut assert_cmd::Command) -> std::process::Output {
        let (snapshot, output) = run(cmd, &self.filters);
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        self.text.push_str(&format!("=== {title}\n{snapshot}"));
        output
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

/// Run a command and snapshot its exit code, stdout and stderr; evaluates to the
/// `std::process::Output` for further targeted asserts.
///
/// `cs_snapshot!(filters, cmd)` names the snapshot after the test (`-2`, `-3`... for more);
/// `cs_snapshot!("name", filters, cmd)` names it.
#[macro_export]
macro_rules! cs_snapshot {
    ($name:literal, $filters:expr, $cmd:expr) => {{
        let (snapshot, output) = $crate::support::snapshot::run(&mut $cmd, &$filters);
        ::insta::assert_snapshot!($name, snapshot);
        output
    }};
    ($filters:expr, $cmd:expr) => {{
        let (snapshot, output) = $crate::support::snapshot::run(&mut $cmd, &$filters);
        ::insta::assert_snapshot!(snapshot);
        output
    }};
}
