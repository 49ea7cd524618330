//! The one owner of stdout and stderr (models: uv's `printer.rs`, datafusion-cli's
//! `PrintOptions`). Built once from the settings, handed to every command:
//!
//! - stdout carries data only: rows through [`crate::render`] in the chosen `--format`, or the
//!   bytes a command produces (a completion script, a man page, the DDL, a directory);
//! - stderr carries the rest, one line at a time: summaries, warnings (` WARN ...`, as `tracing`
//!   prints its diagnostics), notices and progress;
//! - one quiet rule: `-q` silences every summary, warning, notice and progress bar; errors still
//!   print (see [`error`]);
//! - one colour rule: colours only on a terminal, never with `--no-color` or `NO_COLOR`;
//! - every line on stderr goes through [`crate::text::escape`]: text from the shared bucket or
//!   an AWS answer cannot move the cursor, retitle the terminal or forge a line of a CI log.
//!
//! Nothing else in the crate prints (`print_stdout` and `print_stderr` are denied outside this
//! file), and user-facing messages never go through `tracing`, which is for `-v` diagnostics.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{self, BufWriter, IsTerminal, StdoutLock, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::render::{self, Format, Layout, Options, Stream};
use crate::reporter::{Progress, Reporter};
use crate::rows::{Column, ResultSet};
use crate::settings::Settings;
use crate::text::escape;

/// The buffer rows on stdout are written through: a large result is a few big writes.
const OUT_BUFFER: usize = 64 * 1024;

/// Whether a stream may carry colours: a terminal, no `--no-color`, `NO_COLOR` unset or empty.
pub fn color_allowed(no_color_flag: bool, terminal: bool) -> bool {
    !no_color_flag && terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Whether stderr may carry colours (for the `tracing` diagnostics set up before any command).
pub fn stderr_color(no_color_flag: bool) -> bool {
    color_allowed(no_color_flag, io::stderr().is_terminal())
}

/// The last line of a run that failed: `error: ...`. Always printed, `-q` or not; escaped like
/// every line on stderr, except that a message may span lines (a config file's excerpt).
pub fn error(message: &str) {
    let lines: Vec<String> = message.lines().map(|l| escape(l).into_owned()).collect();
    eprintln!("error: {}", lines.join("\n"));
}

/// The width tables on stdout must fit: `COLUMNS` when set, else the terminal's; `None` (whole
/// tables) when stdout is piped and `COLUMNS` is unset.
fn stdout_width() -> Option<usize> {
    if let Some(columns) = std::env::var("COLUMNS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&w| w > 0)
    {
        return Some(columns);
    }
    let stdout = io::stdout();
    if !stdout.is_terminal() {
        return None;
    }
    terminal_size::terminal_size_of(&stdout).map(|(w, _)| usize::from(w.0))
}

/// Where a command's output goes, and how it looks.
#[derive(Debug, Clone)]
pub struct Printer {
    options: Options,
    /// `--csv-safe` as given (`None`: the command's default).
    csv_safe: Option<bool>,
    quiet: bool,
    stderr_color: bool,
    stderr_terminal: bool,
}

impl Printer {
    pub fn new(settings: &Settings) -> Self {
        let stderr_terminal = io::stderr().is_terminal();
        let shaping = &settings.shaping;
        let options = Options {
            format: settings.format,
            color: color_allowed(settings.no_color, io::stdout().is_terminal()),
            width: stdout_width(),
            wide: shaping.wide,
            columns: shaping.columns.clone(),
            limit: shaping.limit,
            null_marker: shaping.null_marker.clone().unwrap_or_default(),
            csv_safe: shaping.csv_safe.unwrap_or(false),
        };
        Self {
            options,
            csv_safe: shaping.csv_safe,
            quiet: settings.quiet,
            stderr_color: color_allowed(settings.no_color, stderr_terminal),
            stderr_terminal,
        }
    }

    /// The `--format` of data on stdout.
    pub fn format(&self) -> Format {
        self.options.format
    }

    /// This printer with `--csv-safe` on unless the flag said otherwise (`check`'s default).
    pub fn csv_safe_by_default(&self) -> Self {
        let mut printer = self.clone();
        printer.options.csv_safe = self.csv_safe.unwrap_or(true);
        printer
    }

    /// Whether a person watches stderr (a terminal, and not `-q`): worth timings and progress.
    pub fn interactive(&self) -> bool {
        self.stderr_terminal && !self.quiet
    }

    // ---- stdout: data ----

    /// Rows, shaped and in the chosen format.
    pub fn rows(&self, rs: &ResultSet) -> io::Result<()> {
        self.rows_narrowed(rs, &[])
    }

    /// Rows; a table too wide for the terminal keeps the `narrow` columns (a canned query's
    /// choice) rather than turning into lines, and says which columns it left out.
    pub fn rows_narrowed(&self, rs: &ResultSet, narrow: &[String]) -> io::Result<()> {
        let mut out = BufWriter::with_capacity(OUT_BUFFER, io::stdout().lock());
        let layout = render::write(&mut out, rs, &self.options, narrow)?;
        out.flush()?;
        self.explain(&layout);
        Ok(())
    }

    /// Say on stderr what fitting the table to the terminal did.
    fn explain(&self, layout: &Layout) {
        let Some(width) = layout.width else { return };
        if !layout.hidden.is_empty() {
            self.notice(&format!(
                "(left out to fit {width} columns: {}; --wide shows every column, --columns picks them)",
                layout.hidden.join(", ")
            ));
        } else if layout.as_lines {
            self.notice(&format!(
                "(the table cannot fit {width} columns: one record per block; --wide for the table, --columns to pick columns)"
            ));
        }
    }

    /// Rows written page by page as they arrive (not for `--format table`, which needs them
    /// all for its widths).
    pub fn stream(&self, columns: &[Column]) -> io::Result<Stream<BufWriter<StdoutLock<'static>>>> {
        Stream::new(
            BufWriter::with_capacity(OUT_BUFFER, io::stdout().lock()),
            self.options.clone(),
            columns,
        )
    }

    /// Bytes a command produces as its data (a script, a man page, the DDL).
    pub fn bytes(&self, bytes: &[u8]) -> io::Result<()> {
        let mut out = io::stdout().lock();
        out.write_all(bytes)?;
        out.flush()
    }

    /// One line of data (a directory the next command reads).
    pub fn line(&self, text: &str) -> io::Result<()> {
        let mut out = io::stdout().lock();
        writeln!(out, "{text}")?;
        out.flush()
    }

    // ---- stderr: everything else ----

    /// What a command did: counts, timings. Silenced by `-q`.
    pub fn summary(&self, line: &str) {
        if !self.quiet {
            eprintln!("{}", escape(line));
        }
    }

    /// Something the user should act on, the run going on. Silenced by `-q`.
    pub fn warn(&self, line: &str) {
        if !self.quiet {
            let tag = if self.stderr_color {
                "\u{1b}[33m WARN\u{1b}[0m"
            } else {
                " WARN"
            };
            eprintln!("{tag} {}", escape(line));
        }
    }

    /// Something about the run itself (waiting, interrupted). Silenced by `-q`.
    pub fn notice(&self, line: &str) {
        self.summary(line);
    }
}

impl Reporter for Printer {
    fn warn(&self, message: &str) {
        Printer::warn(self, message);
    }

    fn notice(&self, message: &str) {
        Printer::notice(self, message);
    }

    fn progress(&self, total: u64, unit: &'static str) -> Box<dyn Progress> {
        if !self.interactive() {
            return Box::new(crate::reporter::Silent);
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(&format!(
                "{{bar:40}} {{pos}}/{{len}} {unit}  {{elapsed}} (ETA {{eta}})  {{msg}}"
            ))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Box::new(Bar {
            bar,
            failed: std::sync::atomic::AtomicU64::new(0),
        })
    }
}

/// A progress bar on a terminal's stderr, counting failures in its message.
struct Bar {
    bar: ProgressBar,
    failed: std::sync::atomic::AtomicU64,
}

impl Progress for Bar {
    fn item_done(&self, failed: bool) {
        use std::sync::atomic::Ordering;
        if failed {
            self.failed.fetch_add(1, Ordering::SeqCst);
        }
        self.bar.inc(1);
        self.bar
            .set_message(format!("{} failed", self.failed.load(Ordering::SeqCst)));
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
