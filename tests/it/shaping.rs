//! Output shaping shared by every command that prints rows: `--output` (the AWS CLI's spelling of
//! `--format`), the formats, `--columns`, `--limit`, tables fitted to the width, `--null-marker`,
//! `--csv-safe`, and untrusted text that can never start a line of its own.

use std::path::Path;

use serde_json::json;

use crate::support::snapshot::{Filters, Runs};
use crate::support::tree::Tree;
use crate::support::{cs_cmdb, stderr_of, stdout_of};

fn example() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// `query ARGS --source examples` at the example's clock.
fn on_example(home: &Path, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = cs_cmdb(home);
    cmd.env("CS_CMDB_NOW", "2026-11-26T09:00:00Z")
        .arg("query")
        .args(args)
        .arg("--source")
        .arg(example());
    cmd
}

/// The bundled example's deployments on an 80-column terminal: one line per row, the columns
/// that do not fit named on stderr.
#[test]
fn deployments_fit_80_columns() {
    let home = tempfile::tempdir().unwrap();
    let out = cs_snapshot!(
        Filters::new(),
        on_example(home.path(), &["deployments"]).env("COLUMNS", "80")
    );
    assert_eq!(out.status.code(), Some(0));
    let table = stdout_of(&out);
    assert_eq!(
        table.lines().count(),
        2 + 9,
        "a header, a rule, 9 rows:\n{table}"
    );
    for line in table.lines() {
        assert!(line.chars().count() <= 80, "{line}");
    }
    // Piped without COLUMNS, the table stays whole: every column, nothing cut.
    let whole = stdout_of(&on_example(home.path(), &["deployments"]).output().unwrap());
    assert!(whole.contains("unknown (\"--Development--\")"), "{whole}");
    assert!(whole.contains("last_export_at"), "{whole}");
    // --wide keeps it whole at 80 columns too.
    let wide = on_example(home.path(), &["deployments", "--wide"])
        .env("COLUMNS", "80")
        .output()
        .unwrap();
    assert_eq!(stdout_of(&wide), whole);
}

/// A result no narrow column set can save becomes one record per block.
#[test]
fn a_table_too_wide_becomes_lines() {
    let home = tempfile::tempdir().unwrap();
    let out = on_example(home.path(), &["instances", "--limit", "2"])
        .env("COLUMNS", "80")
        .output()
        .unwrap();
    let text = stdout_of(&out);
    assert!(
        text.starts_with("account_id        | 100000000000\n"),
        "{text}"
    );
    assert_eq!(text.matches("account_id ").count(), 2, "{text}");
    assert!(stderr_of(&out).contains("one record per block"));
}

#[test]
fn output_is_the_format_flag_and_output_location_is_not_a_format() {
    let home = tempfile::tempdir().unwrap();
    let by_output = on_example(home.path(), &["versions", "--output", "json"])
        .output()
        .unwrap();
    let by_format = on_example(home.path(), &["versions", "-f", "json"])
        .output()
        .unwrap();
    assert_eq!(
        by_output.status.code(),
        Some(0),
        "{}",
        stderr_of(&by_output)
    );
    assert_eq!(stdout_of(&by_output), stdout_of(&by_format));
    let mut runs = Runs::new(Filters::new().path(&example(), "[EXAMPLE]"));
    runs.run(
        "--output-location json",
        &mut on_example(home.path(), &["versions", "--output-location", "json"]),
    );
    runs.run(
        "an unknown column",
        &mut on_example(home.path(), &["versions", "--columns", "version,acounts"]),
    );
    runs.run(
        "a format that does not exist",
        &mut on_example(home.path(), &["versions", "--output", "yaml"]),
    );
    insta::assert_snapshot!("shaping_errors", runs.text());
}

#[test]
fn formats_columns_and_limit() {
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = on_example(home.path(), args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr_of(&out));
        stdout_of(&out)
    };
    let jsonl = run(&[
        "deployments",
        "--output",
        "jsonl",
        "--limit",
        "2",
        "--columns",
        "region,account_id",
    ]);
    let lines: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            json!({"region": "eu-central-1", "account_id": "100000000000"}),
            json!({"region": "eu-west-1", "account_id": "100000000000"}),
        ]
    );
    assert_eq!(
        run(&[
            "deployments",
            "--output",
            "line",
            "--limit",
            "1",
            "--columns",
            "account_id,account_name"
        ]),
        "account_id   | 100000000000\naccount_name | management\n"
    );
    assert_eq!(
        run(&[
            "deployments",
            "-f",
            "csv",
            "--columns",
            "account_name",
            "--limit",
            "4"
        ]),
        // A lone empty cell is quoted, as RFC 4180 needs to tell it from an empty line.
        "account_name\nmanagement\nmanagement\nmanagement\n\"\"\n"
    );
    assert_eq!(
        run(&[
            "deployments",
            "-f",
            "csv",
            "--columns",
            "account_name",
            "--limit",
            "4",
            "--null-marker",
            "NULL"
        ]),
        "account_name\nmanagement\nmanagement\nmanagement\nNULL\n"
    );
    assert_eq!(
        run(&[
            "deployments",
            "-f",
            "markdown",
            "--columns",
            "region",
            "--limit",
            "1"
        ]),
        "| region |\n| --- |\n| eu-central-1 |\n"
    );
}

/// Text from the bucket with a newline and a workflow command: no format lets it start a line.
#[test]
fn untrusted_text_cannot_start_a_line() {
    let home = tempfile::tempdir().unwrap();
    Tree::new(home.path().join("tree"))
        .deployment("111111111111", "eu-west-1", "web-front")
        .discovery(json!({
            "CloneSquadVersion": "x\n::error title=forged::it worked\r\n| 1 | 2 |\u{1b}[2J",
            "MetadataRecordLastUpdatedAt": "2026-11-26 08:00:00"
        }));
    for (format, columns) in [
        ("table", None),
        ("table", Some("72")),
        ("line", None),
        ("markdown", None),
    ] {
        let mut cmd = cs_cmdb(home.path());
        cmd.env("CS_CMDB_NOW", "2026-11-26T09:00:00Z").args([
            "query",
            "deployments",
            "--source",
            "tree",
            "-f",
            format,
        ]);
        if let Some(width) = columns {
            cmd.env("COLUMNS", width);
        }
        let out = cmd.output().unwrap();
        let text = stdout_of(&out);
        assert_eq!(out.status.code(), Some(0), "{format}: {}", stderr_of(&out));
        let shown = if columns.is_some() {
            "(\"x\\…"
        } else {
            "x\\n::error"
        };
        assert!(text.contains(shown), "{format}: {text}");
        for line in text.lines() {
            assert!(!line.trim_start().starts_with("::"), "{format}: {text}");
            assert!(
                !line.contains('\u{1b}') && !line.contains('\r'),
                "{format}: {text:?}"
            );
        }
        let rows = match format {
            "line" => 11,
            "markdown" => 3,
            _ if columns.is_some() => 3,
            _ => 5,
        };
        assert_eq!(text.lines().count(), rows, "{format}: {text}");
    }
}
