//! `cs-cmdb report`: the fleet as ONE self-contained HTML page (inline CSS, charts as inline SVG,
//! a small inline script for sorting and search, a Content-Security-Policy that forbids every
//! request), readable offline, printable, light and dark.
//!
//! Every figure comes from a canned query (`deployments-by-ou`, `versions`, `freshness`,
//! `coverage-map`, `coverage`, `stale`), run on the same engine as `cs-cmdb query`, so the page
//! and the command line always agree. This module turns those result sets into the page; the
//! command runs the queries ([`QUERIES`]) and gathers the rest (Organization snapshot, backups,
//! policy violations, history).

pub mod chart;
pub mod history;

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::org::snapshot::SnapshotInfo;
use crate::rows::{ColumnType, ResultSet, Value};
use chart::{Bar, Cell, Series};

const TEMPLATE: &str = include_str!("report.html");
const CSS: &str = include_str!("report.css");
const SCRIPT: &str = include_str!("report.js");

/// The canned queries the page is made of, with the parameters it binds.
pub const QUERIES: [&str; 6] = [
    "deployments-by-ou",
    "versions",
    "freshness",
    "coverage-map",
    "coverage",
    "stale",
];

/// A deployment whose export is this old (or older, or unknown) counts as stale in the headline
/// (the `stale` query's default).
pub const STALE_HOURS: i64 = 24;

/// One policy violation, located.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    pub rule: String,
    pub severity: String,
    pub ou: String,
    pub account: String,
    pub region: String,
    pub group: String,
    pub detail: String,
}

/// What a policy found, for the page.
#[derive(Debug, Clone, PartialEq)]
pub struct Violations {
    /// The policy file, as named on the command line.
    pub policy: String,
    /// The check's one-line summary.
    pub summary: String,
    pub rows: Vec<Violation>,
}

/// Everything the page shows; the result sets are those of the named canned queries.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub generated_at: DateTime<Utc>,
    /// Where the data came from, for the page's header.
    pub source: String,
    pub engine: String,
    /// The Organization snapshot the org queries read, if any.
    pub org: Option<SnapshotInfo>,
    /// Notes shown at the top (no Organization snapshot, what was left out and why).
    pub notes: Vec<String>,
    pub deployments: ResultSet,
    pub versions: ResultSet,
    pub freshness: ResultSet,
    pub coverage_map: ResultSet,
    /// Accounts per OU (only with an Organization snapshot).
    pub coverage: Option<ResultSet>,
    pub stale: ResultSet,
    /// Deployments per backup age band (`band`, `age`, `deployments`), or why there is none.
    pub backups: Result<ResultSet, String>,
    pub violations: Option<Violations>,
    /// The history window, oldest first.
    pub history: Vec<history::Entry>,
}

#[derive(Serialize)]
struct Figure {
    key: &'static str,
    label: String,
    value: String,
    tone: &'static str,
}

#[derive(Serialize)]
struct TableColumn {
    name: String,
    numeric: bool,
}

#[derive(Serialize)]
struct Table {
    query: String,
    columns: Vec<TableColumn>,
    rows: Vec<Vec<String>>,
}

#[derive(Serialize)]
struct RowCell {
    text: String,
    sort: Option<String>,
    class: Option<&'static str>,
    link: Option<String>,
}

#[derive(Serialize)]
struct Row {
    /// Lowercase text of the row, for the search box.
    text: String,
    cells: Vec<RowCell>,
}

#[derive(Serialize)]
struct Filter {
    label: &'static str,
    column: usize,
    values: Vec<String>,
}

#[derive(Serialize)]
struct OrgView {
    organization_id: String,
    taken_at: String,
    age: String,
}

fn table(query: &str, rs: &ResultSet) -> Table {
    Table {
        query: query.to_string(),
        columns: rs
            .columns
            .iter()
            .map(|c| TableColumn {
                name: c.name.clone(),
                numeric: matches!(c.ty, ColumnType::Integer | ColumnType::Float),
            })
            .collect(),
        rows: rs
            .rows
            .iter()
            .map(|row| row.iter().map(text).collect())
            .collect(),
    }
}

/// A cell as people read it (NULL shown as an empty cell).
fn text(value: &Value) -> String {
    value.display().unwrap_or_default()
}

/// The column of `rs` named `name`.
fn column(rs: &ResultSet, name: &str) -> anyhow::Result<usize> {
    rs.columns
        .iter()
        .position(|c| c.name == name)
        .with_context(|| format!("the query result has no column `{name}`"))
}

fn integer(value: &Value) -> i64 {
    match value {
        Value::Int(i) => *i,
        Value::Float(f) => *f as i64,
        _ => 0,
    }
}

fn sum(rs: &ResultSet, name: &str) -> anyhow::Result<i64> {
    let at = column(rs, name)?;
    Ok(rs.rows.iter().map(|r| integer(&r[at])).sum())
}

/// `2d 4h`, `35m`: an age for people.
fn human(age: chrono::Duration) -> String {
    let minutes = age.num_minutes().max(0);
    match (minutes / 1440, minutes % 1440 / 60, minutes % 60) {
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

fn percent(part: i64, whole: i64) -> String {
    if whole == 0 {
        "0%".into()
    } else {
        format!("{}%", (part as f64 * 100.0 / whole as f64).round())
    }
}

/// The headline figures.
fn figures(inputs: &Inputs) -> anyhow::Result<Vec<Figure>> {
    let d = &inputs.deployments;
    let deployments = d.rows.len() as i64;
    let accounts_at = column(d, "account_id")?;
    let accounts: BTreeSet<String> = d.rows.iter().map(|r| text(&r[accounts_at])).collect();
    let instances = sum(d, "instances")?;
    let running = sum(d, "running")?;
    let stale = inputs.stale.rows.len() as i64;
    let mut out = vec![Figure {
        key: "deployments",
        label: "deployments".into(),
        value: deployments.to_string(),
        tone: "",
    }];
    match &inputs.coverage {
        Some(coverage) => {
            let total = sum(coverage, "accounts")?;
            let covered = sum(coverage, "with_deployment")?;
            out.push(Figure {
                key: "accounts",
                label: format!(
                    "accounts run CloneSquad, of {total} active ({})",
                    percent(covered, total)
                ),
                value: covered.to_string(),
                tone: "",
            });
        }
        None => out.push(Figure {
            key: "accounts",
            label: "accounts run CloneSquad".into(),
            value: accounts.len().to_string(),
            tone: "",
        }),
    }
    out.push(Figure {
        key: "running",
        label: format!("instances running, of {instances} managed"),
        value: running.to_string(),
        tone: "",
    });
    out.push(Figure {
        key: "stale",
        label: format!("stale exports (over {STALE_HOURS}h or unknown)"),
        value: stale.to_string(),
        tone: if stale > 0 { "warn" } else { "ok" },
    });
    if let Some(v) = &inputs.violations {
        for severity in ["critical", "high", "medium", "low"] {
            let n = v.rows.iter().filter(|r| r.severity == severity).count();
            out.push(Figure {
                key: match severity {
                    "critical" => "violations-critical",
                    "high" => "violations-high",
                    "medium" => "violations-medium",
                    _ => "violations-low",
                },
                label: format!("{severity} violations"),
                value: n.to_string(),
                tone: match (n, severity) {
                    (0, _) => "ok",
                    (_, "critical" | "high") => "bad",
                    _ => "warn",
                },
            });
        }
    }
    Ok(out)
}

fn versions_chart(rs: &ResultSet) -> anyhow::Result<String> {
    let (v, n) = (column(rs, "version")?, column(rs, "deployments")?);
    let bars: Vec<Bar> = rs
        .rows
        .iter()
        .map(|r| {
            let label = text(&r[v]);
            Bar {
                class: if label.starts_with("unknown") {
                    "bar warn"
                } else {
                    "bar"
                },
                label,
                value: integer(&r[n]) as f64,
            }
        })
        .collect();
    Ok(chart::horizontal_bars(
        "versions-chart",
        "Deployments per CloneSquad version",
        &bars,
    ))
}

fn band_chart(id: &str, title: &str, rs: &ResultSet) -> anyhow::Result<String> {
    let (label, n, band) = (
        column(rs, "age")?,
        column(rs, "deployments")?,
        column(rs, "band")?,
    );
    let bars: Vec<Bar> = rs
        .rows
        .iter()
        .map(|r| {
            let band = integer(&r[band]);
            Bar {
                label: text(&r[label]),
                value: integer(&r[n]) as f64,
                class: match band {
                    1 | 2 => "bar ok",
                    3 => "bar",
                    4 => "bar warn",
                    _ => "bar bad",
                },
            }
        })
        .collect();
    Ok(chart::histogram(id, title, &bars))
}

fn coverage_chart(rs: &ResultSet) -> anyhow::Result<String> {
    let (ou, region, n, fresh) = (
        column(rs, "ou_path")?,
        column(rs, "region")?,
        column(rs, "deployments")?,
        column(rs, "fresh")?,
    );
    let mut rows = BTreeSet::new();
    let mut columns = BTreeSet::new();
    let cells: Vec<Cell> = rs
        .rows
        .iter()
        .map(|r| {
            let value = integer(&r[n]) as f64;
            rows.insert(text(&r[ou]));
            columns.insert(text(&r[region]));
            Cell {
                row: text(&r[ou]),
                column: text(&r[region]),
                value,
                good: if value > 0.0 {
                    integer(&r[fresh]) as f64 / value
                } else {
                    0.0
                },
            }
        })
        .collect();
    Ok(chart::heat_map(
        "coverage-chart",
        "Deployments per organizational unit and region, shaded by the share with a fresh export",
        &rows.into_iter().collect::<Vec<_>>(),
        &columns.into_iter().collect::<Vec<_>>(),
        &cells,
    ))
}

fn violations_chart(v: &Violations) -> String {
    let mut by_rule: BTreeMap<&str, (f64, &str)> = BTreeMap::new();
    for row in &v.rows {
        let entry = by_rule.entry(&row.rule).or_insert((0.0, "bar"));
        entry.0 += 1.0;
        if matches!(row.severity.as_str(), "critical" | "high") {
            entry.1 = "bar bad";
        } else if entry.1 == "bar" {
            entry.1 = "bar warn";
        }
    }
    let bars: Vec<Bar> = by_rule
        .into_iter()
        .map(|(rule, (value, class))| Bar {
            label: rule.to_string(),
            value,
            class,
        })
        .collect();
    chart::horizontal_bars("violations-chart", "Violations per rule", &bars)
}

fn trend_chart(entries: &[history::Entry]) -> Option<String> {
    if entries.is_empty() {
        return None;
    }
    let as_f64 = |m: BTreeMap<chrono::NaiveDate, Option<u64>>| {
        m.into_values()
            .map(|v| v.map(|n| n as f64))
            .collect::<Vec<_>>()
    };
    let deployments = history::daily(entries, |e| Some(e.deployments));
    let labels: Vec<String> = deployments.keys().map(|d| d.to_string()).collect();
    let mut series = vec![
        Series {
            name: "deployments".into(),
            class: "s1",
            points: as_f64(deployments),
        },
        Series {
            name: "stale exports".into(),
            class: "s3",
            points: as_f64(history::daily(entries, |e| e.stale)),
        },
    ];
    if entries.iter().any(|e| e.violations.is_some()) {
        series.push(Series {
            name: "violations".into(),
            class: "s2",
            points: as_f64(history::daily(entries, |e| {
                e.violations.as_ref().map(|v| v.values().sum())
            })),
        });
    }
    Some(chart::lines(
        "trend-chart",
        "Deployments, stale exports and violations per day",
        &labels,
        &series,
    ))
}

/// The deployments table's rows: account and OU cells link to the table filtered by them.
fn deployment_rows(rs: &ResultSet) -> anyhow::Result<Vec<Row>> {
    let account = column(rs, "account_id")?;
    let ou = column(rs, "ou_path")?;
    let version = column(rs, "version")?;
    let age = column(rs, "age_hours")?;
    Ok(rs
        .rows
        .iter()
        .map(|row| {
            let cells: Vec<RowCell> = row
                .iter()
                .enumerate()
                .map(|(i, value)| {
                    let shown = text(value);
                    let link = match i {
                        i if i == account && !shown.is_empty() => Some(format!("#account={shown}")),
                        i if i == ou && !shown.is_empty() => Some(format!("#ou={shown}")),
                        _ => None,
                    };
                    let numeric =
                        matches!(rs.columns[i].ty, ColumnType::Integer | ColumnType::Float);
                    let class = if i == version && shown.starts_with("unknown") {
                        Some("unknown")
                    } else if i == age && (value == &Value::Null || integer(value) >= STALE_HOURS) {
                        Some("num stale")
                    } else if numeric {
                        Some("num")
                    } else {
                        None
                    };
                    let sort = match (value, &rs.columns[i].ty) {
                        (Value::Null, _) => Some(String::new()),
                        (_, ColumnType::Integer | ColumnType::Float) => Some(shown.clone()),
                        _ => None,
                    };
                    RowCell {
                        text: shown,
                        sort,
                        class,
                        link,
                    }
                })
                .collect();
            Row {
                text: cells
                    .iter()
                    .map(|c| c.text.to_lowercase())
                    .collect::<Vec<_>>()
                    .join(" "),
                cells,
            }
        })
        .collect())
}

/// The distinct values of a column, for a filter list.
fn filter(rs: &ResultSet, label: &'static str, name: &str) -> anyhow::Result<Filter> {
    let at = column(rs, name)?;
    let values: BTreeSet<String> = rs
        .rows
        .iter()
        .map(|r| text(&r[at]))
        .filter(|v| !v.is_empty())
        .collect();
    Ok(Filter {
        label,
        column: at,
        values: values.into_iter().collect(),
    })
}

/// `'sha256-...'` of `text`, for the Content-Security-Policy.
fn csp_hash(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let digest = Sha256::digest(text.as_bytes());
    let mut out = String::from("sha256-");
    for chunk in digest.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The page.
pub fn render(inputs: &Inputs) -> anyhow::Result<String> {
    let mut env = minijinja::Environment::new();
    env.add_template("report.html", TEMPLATE)
        .context("the report template does not parse")?;
    let template = env.get_template("report.html")?;
    let (backups_chart, backups_table, backups_note) = match &inputs.backups {
        Ok(rs) => (
            Some(band_chart(
                "backups-chart",
                "Deployments per backup age",
                rs,
            )?),
            Some(table("backups", rs)),
            None,
        ),
        Err(why) => (None, None, Some(why.clone())),
    };
    let trend = trend_chart(&inputs.history);
    let page = minijinja::context! {
        version => env!("CARGO_PKG_VERSION"),
        generated_at => inputs.generated_at.format("%Y-%m-%d %H:%M").to_string(),
        source => &inputs.source,
        engine => &inputs.engine,
        org => inputs.org.as_ref().map(|o| OrgView {
            organization_id: o.organization_id.clone(),
            taken_at: o.taken_at.format("%Y-%m-%d %H:%M").to_string(),
            age: human(inputs.generated_at.naive_utc() - o.taken_at),
        }),
        notes => &inputs.notes,
        figures => figures(inputs)?,
        versions_chart => versions_chart(&inputs.versions)?,
        versions => table("versions", &inputs.versions),
        freshness_chart => band_chart("freshness-chart", "Deployments per age of their last export", &inputs.freshness)?,
        freshness => table("freshness", &inputs.freshness),
        coverage_chart => coverage_chart(&inputs.coverage_map)?,
        coverage_map => table("coverage-map", &inputs.coverage_map),
        coverage => inputs.coverage.as_ref().map(|c| table("coverage", c)),
        backups_chart => backups_chart,
        backups => backups_table,
        backups_note => backups_note,
        violations => inputs.violations.as_ref().map(|v| &v.rows),
        violations_chart => inputs.violations.as_ref().map(violations_chart),
        violations_summary => inputs.violations.as_ref().map(|v| &v.summary),
        policy => inputs.violations.as_ref().map(|v| &v.policy),
        trend_chart => &trend,
        trend_note => format!("No history yet: every `cs-cmdb report` and `cs-cmdb check` run adds a point (the last {} days are shown).", history::WINDOW_DAYS),
        history_days => history::WINDOW_DAYS,
        deployments => table("deployments-by-ou", &inputs.deployments),
        deployment_rows => deployment_rows(&inputs.deployments)?,
        filters => [
            filter(&inputs.deployments, "OU", "ou_path")?,
            filter(&inputs.deployments, "Region", "region")?,
            filter(&inputs.deployments, "Version", "version")?,
        ]
        .into_iter()
        .filter(|f| !f.values.is_empty())
        .collect::<Vec<_>>(),
        queries => QUERIES.iter().filter(|q| **q != "coverage" || inputs.coverage.is_some()).collect::<Vec<_>>(),
        css => CSS,
        js => SCRIPT,
        style_hash => csp_hash(CSS),
        script_hash => csp_hash(SCRIPT),
    };
    Ok(template.render(page)?)
}

/// The age bands of the `freshness` query, reused for backups (`missing` instead of `unknown`).
const BANDS: [&str; 8] = [
    "in the future",
    "under 1h",
    "1h to 6h",
    "6h to 24h",
    "1d to 7d",
    "7d to 30d",
    "over 30d",
    "missing",
];

fn band(age: chrono::Duration) -> usize {
    match age.num_minutes() {
        m if m < 0 => 0,
        m if m < 60 => 1,
        m if m < 6 * 60 => 2,
        m if m < 24 * 60 => 3,
        m if m < 7 * 24 * 60 => 4,
        m if m < 30 * 24 * 60 => 5,
        _ => 6,
    }
}

/// Deployments per age band of their latest backups (the older of the two), read from the
/// `backups/` folder of a local copy of `P` (a mirror keeps S3's LastModified as the file time),
/// as `band`, `age`, `deployments` (every band listed).
pub fn backup_bands(
    backups_dir: &std::path::Path,
    deployments: &ResultSet,
    now: DateTime<Utc>,
) -> anyhow::Result<ResultSet> {
    use crate::bucket::layout::{BackupKind, Partition, latest_backup_path};
    let (a, r, g) = (
        column(deployments, "account_id")?,
        column(deployments, "region")?,
        column(deployments, "group_name")?,
    );
    let mut counts = [0i64; BANDS.len()];
    for row in &deployments.rows {
        let p = Partition::new(&text(&row[a]), &text(&row[r]), &text(&row[g]));
        let oldest = BackupKind::ALL
            .iter()
            .map(|kind| {
                std::fs::metadata(latest_backup_path(backups_dir, &p, *kind))
                    .and_then(|m| m.modified())
                    .ok()
                    .map(DateTime::<Utc>::from)
            })
            .collect::<Option<Vec<_>>>()
            .and_then(|times| times.into_iter().min());
        counts[oldest.map_or(BANDS.len() - 1, |t| band(now - t))] += 1;
    }
    Ok(ResultSet {
        columns: vec![
            crate::rows::Column::new("band", ColumnType::Integer),
            crate::rows::Column::new("age", ColumnType::String),
            crate::rows::Column::new("deployments", ColumnType::Integer),
        ],
        rows: BANDS
            .iter()
            .zip(counts)
            .enumerate()
            .map(|(i, (label, n))| {
                vec![
                    Value::Int(i as i64),
                    Value::Str((*label).to_string()),
                    Value::Int(n),
                ]
            })
            .collect(),
    })
}

/// This run's summary line for the history file.
pub fn history_entry(inputs: &Inputs, command: &str) -> anyhow::Result<history::Entry> {
    let d = &inputs.deployments;
    let account = column(d, "account_id")?;
    let (v, n) = (
        column(&inputs.versions, "version")?,
        column(&inputs.versions, "deployments")?,
    );
    Ok(history::Entry {
        at: inputs.generated_at,
        command: command.to_string(),
        deployments: d.rows.len() as u64,
        accounts: Some(
            d.rows
                .iter()
                .map(|r| text(&r[account]))
                .collect::<BTreeSet<_>>()
                .len() as u64,
        ),
        instances: Some(sum(d, "instances")? as u64),
        running: Some(sum(d, "running")? as u64),
        stale: Some(inputs.stale.rows.len() as u64),
        versions: inputs
            .versions
            .rows
            .iter()
            .map(|r| (text(&r[v]), integer(&r[n]) as u64))
            .collect(),
        violations: inputs.violations.as_ref().map(|v| {
            let mut by: BTreeMap<String, u64> = BTreeMap::new();
            for row in &v.rows {
                *by.entry(row.severity.clone()).or_default() += 1;
            }
            by
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::Column;

    fn rs(columns: &[(&str, ColumnType)], rows: Vec<Vec<Value>>) -> ResultSet {
        ResultSet {
            columns: columns.iter().map(|(n, t)| Column::new(*n, *t)).collect(),
            rows,
        }
    }

    fn s(text: &str) -> Value {
        Value::Str(text.into())
    }

    fn inputs() -> Inputs {
        use ColumnType::{Integer as I, String as S, Timestamp as T};
        let deployments = rs(
            &[
                ("account_id", S),
                ("account_name", S),
                ("ou_path", S),
                ("region", S),
                ("group_name", S),
                ("version", S),
                ("last_export_at", T),
                ("age_hours", I),
                ("instances", I),
                ("running", I),
            ],
            vec![
                vec![
                    s("111111111111"),
                    s("prod <b>"),
                    s("Root/Prod"),
                    s("eu-west-1"),
                    s("web"),
                    s("v0.27.1"),
                    Value::Null,
                    Value::Int(1),
                    Value::Int(3),
                    Value::Int(2),
                ],
                vec![
                    s("222222222222"),
                    Value::Null,
                    Value::Null,
                    s("us-east-1"),
                    s("api"),
                    s("unknown (\"\")"),
                    Value::Null,
                    Value::Null,
                    Value::Int(0),
                    Value::Int(0),
                ],
            ],
        );
        Inputs {
            generated_at: "2026-11-26T09:00:00Z".parse().unwrap(),
            source: "examples".into(),
            engine: "local".into(),
            org: None,
            notes: vec!["No Organization snapshot".into()],
            deployments,
            versions: rs(
                &[("version", S), ("deployments", I)],
                vec![
                    vec![s("v0.27.1"), Value::Int(1)],
                    vec![s("unknown (\"\")"), Value::Int(1)],
                ],
            ),
            freshness: rs(
                &[("band", I), ("age", S), ("deployments", I)],
                vec![
                    vec![Value::Int(1), s("under 1h"), Value::Int(1)],
                    vec![Value::Int(7), s("unknown"), Value::Int(1)],
                ],
            ),
            coverage_map: rs(
                &[
                    ("ou_path", S),
                    ("region", S),
                    ("deployments", I),
                    ("fresh", I),
                ],
                vec![vec![
                    s("Root/Prod"),
                    s("eu-west-1"),
                    Value::Int(1),
                    Value::Int(1),
                ]],
            ),
            coverage: None,
            stale: rs(&[("account_id", S)], vec![vec![s("222222222222")]]),
            backups: Err("no backups here".into()),
            violations: None,
            history: Vec::new(),
        }
    }

    #[test]
    fn the_page_holds_every_figure_escapes_data_and_allows_no_request() {
        let page = render(&inputs()).unwrap();
        assert!(page.contains("data-figure=\"deployments\"><div class=\"value\">2</div>"));
        assert!(page.contains("data-figure=\"running\"><div class=\"value\">2</div><div class=\"label\">instances running, of 3 managed"));
        assert!(page.contains("data-figure=\"stale\"><div class=\"value\">1</div>"));
        assert!(page.contains("prod &lt;b&gt;"), "data is escaped");
        assert!(!page.contains("prod <b>"));
        assert!(page.contains("<a href=\"#account=111111111111\">111111111111</a>"));
        assert!(page.contains("No history yet"));
        assert!(page.contains("no backups here"));
        let csp = format!("script-src '{}'", csp_hash(SCRIPT));
        assert!(
            page.contains(&csp),
            "the inline script is allowed by its hash"
        );
        assert!(page.contains(&format!("<script>{SCRIPT}</script>")));
        assert!(page.contains("default-src 'none'"));
        for forbidden in ["http://", "https://", "src=\"", "@import", "url("] {
            let outside_svg_namespace = page.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
            assert!(!outside_svg_namespace.contains(forbidden), "{forbidden}");
        }
    }

    #[test]
    fn csp_hashes_are_base64_sha256() {
        // printf 'abc' | openssl dgst -sha256 -binary | base64
        assert_eq!(
            csp_hash("abc"),
            "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
    }
}
