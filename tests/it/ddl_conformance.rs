//! Athena fidelity, offline, with Athena's own parsers: every timestamp CloneSquad writes, read by
//! the real Joda-Time (and java.time, as Trino configures it) with the exact `timestamp.formats`
//! of `ddl/`, gives the instant the embedded engine reads; and every value of real-shaped trees
//! fits its column's declared type the way Athena's Hive JSON reader checks it (the loader's
//! checks, which `query --strict` enforces).
//!
//! Needs a JDK and Debian's `libjoda-time-java` (`./scripts/test` installs them): the test FAILS
//! when they are missing, it never skips.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cs_cmdb::catalog::ddl::{self, HiveType, TableDef};
use cs_cmdb::engine::local::hive::{FileIssues, TimestampFormats};
use cs_cmdb::engine::local::json::RowsBuilder;
use serde_json::Value;

use crate::support::tree;
use crate::support::{cs_cmdb, stderr_of};

/// Every form the CloneSquad format notes list, per field: each must match a pattern of
/// `timestamp.formats` (not fall through to Hive's defaults).
const CLONESQUAD_FORMS: [&str; 6] = [
    "2026-11-26 08:50:59.943853+00:00", // configuration / scheduler
    "2026-11-26 08:50:59+00:00",        // the same, fraction dropped when zero
    "2026-11-26 08:50:59.943853",       // discovery, instances, volumes, maintenance windows
    "2026-11-26 08:50:59",              // EC2 times, whole seconds
    "2026-11-26 08:50:59.943000",       // EBS CreateTime, milliseconds
    "2026-11-26 09:00:00",              // maintenance window times end in :00
];

/// Forms CloneSquad does not write: the embedded engine must still read them as Athena does
/// (or refuse them as Athena does).
const OTHER_FORMS: [&str; 18] = [
    "2026-11-26T08:50:59Z",
    "2026-11-26T08:50:59.5",
    "2026-11-26T08:50",
    "2026-1-2 3:4:5.9996",
    "2026-11-26",
    "2026-11-26 10:50:59+02:00",
    "2026-11-26 08:50:59Z",
    "2026-11-26 08:50:59+0000",
    "2026-11-26 08:50:59.1234567891",
    " 2026-11-26 08:50:59 ",
    "2026-13-01 00:00:00",
    "2026-02-30 00:00:00",
    "2026-11-26 24:00:00",
    "2026-11-26 08:50:59.",
    "1700000000",
    "true",
    "",
    "yesterday",
];

fn joda_jar() -> PathBuf {
    let jar = std::env::var_os("CS_CMDB_JODA_JAR").map_or_else(
        || PathBuf::from("/usr/share/java/joda-time.jar"),
        PathBuf::from,
    );
    assert!(
        jar.is_file(),
        "Joda-Time not found at {} (set CS_CMDB_JODA_JAR): run ./scripts/test, which installs Debian's libjoda-time-java",
        jar.display()
    );
    jar
}

/// Athena's reading of each value, from the harness: `("joda" | "default" | "iso", micros)`, or
/// `None` when Athena fails the query on it.
fn athena_reads(formats: &str, values: &[String]) -> Vec<Option<(String, i64)>> {
    let harness = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/athena/AthenaTimestamps.java");
    let mut child = Command::new("java")
        .arg("-cp")
        .arg(joda_jar())
        .arg(&harness)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run java ({e}): install a JDK (./scripts/test does), it runs {}",
                harness.display()
            )
        });
    let mut input = format!("{formats}\n");
    for v in values {
        assert!(!v.contains('\n'), "a value holds a newline: {v:?}");
        input.push_str(v);
        input.push('\n');
    }
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("java ran");
    writer.join().expect("writer").expect("write to java");
    assert!(
        out.status.success(),
        "the Joda-Time harness failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<_> = text
        .lines()
        .map(|line| {
            let (source, micros) = line.split_once(' ').unwrap_or((line, ""));
            (source != "fail").then(|| (source.to_string(), micros.parse::<i64>().expect("micros")))
        })
        .collect();
    assert_eq!(lines.len(), values.len(), "one answer per value");
    lines
}

/// The trees to check: the bundled example and generated trees of a few seeds.
fn trees(scratch: &Path) -> Vec<PathBuf> {
    let mut roots = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")];
    for seed in 1..=3 {
        let dir = scratch.join(format!("seed-{seed}"));
        tree::generate(&dir, 150, 6, seed);
        roots.push(dir);
    }
    roots
}

/// Every data file of `table` below `root` (a copy of <MetadataAndBackupS3Path>).
fn files(root: &Path, table: &TableDef) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root.join(&table.folder), &mut out);
    out.sort();
    out
}

/// The scalars written at `timestamp` positions of `value` (per the declared type), with their
/// key path.
fn timestamps(value: &Value, ty: &HiveType, path: &str, out: &mut Vec<(String, String)>) {
    match (ty, value) {
        (HiveType::Timestamp, Value::String(s)) => out.push((path.to_string(), s.clone())),
        (HiveType::Timestamp, Value::Number(n)) => out.push((path.to_string(), n.to_string())),
        (HiveType::Array(item), Value::Array(items)) => {
            for v in items {
                timestamps(v, item, &format!("{path}[]"), out);
            }
        }
        (HiveType::Struct(fields), Value::Object(object)) => {
            for (key, v) in object {
                if let Some(field) = fields.iter().find(|f| f.key.eq_ignore_ascii_case(key)) {
                    timestamps(v, &field.ty, &format!("{path}.{}", field.name), out);
                }
            }
        }
        _ => {}
    }
}

/// A value to read: where it comes from, its text, and whether a pattern must match it.
type Sample = (String, String, bool);

#[test]
fn every_timestamp_reads_as_athena_reads_it_with_joda_time() {
    let scratch = tempfile::tempdir().unwrap();
    let tables = ddl::tables().unwrap();
    // Values by the formats string of their table (all tables may share one).
    let mut by_formats: BTreeMap<String, (TimestampFormats, Vec<Sample>)> = BTreeMap::new();
    for table in &tables {
        let property = table
            .serde_property("timestamp.formats")
            .unwrap_or_else(|| panic!("{}: no timestamp.formats", table.name))
            .to_string();
        let formats = TimestampFormats::compile(&table.timestamp_formats()).unwrap();
        let entry = by_formats.entry(property).or_insert_with(|| {
            let forms = CLONESQUAD_FORMS
                .iter()
                .map(|f| (format!("format notes: {f}"), f.to_string(), true))
                .chain(
                    OTHER_FORMS
                        .iter()
                        .map(|f| (format!("other form: {f:?}"), f.to_string(), false)),
                )
                .collect();
            (formats, forms)
        });
        let row_type = HiveType::Struct(table.columns.clone());
        for root in trees(scratch.path()) {
            for file in files(&root, table) {
                let text = std::fs::read_to_string(&file).unwrap();
                for (n, line) in text.lines().enumerate() {
                    let value: Value = serde_json::from_str(line)
                        .unwrap_or_else(|e| panic!("{}:{}: not JSON: {e}", file.display(), n + 1));
                    let mut found = Vec::new();
                    timestamps(&value, &row_type, table.name.as_str(), &mut found);
                    for (path, v) in found {
                        entry
                            .1
                            .push((format!("{}:{}: {path}", file.display(), n + 1), v, true));
                    }
                }
            }
        }
    }
    let mut checked = 0;
    for (property, (formats, values)) in &by_formats {
        let texts: Vec<String> = values.iter().map(|(_, v, _)| v.clone()).collect();
        let athena = athena_reads(property, &texts);
        let mut wrong = Vec::new();
        for ((whence, value, must_match_a_pattern), athena) in values.iter().zip(athena) {
            let ours = formats.parse(value);
            let athena_micros = athena.as_ref().map(|(_, m)| *m);
            if ours != athena_micros {
                wrong.push(format!(
                    "{whence}: `{value}`: Athena reads {athena:?}, the embedded engine {ours:?}"
                ));
            }
            if *must_match_a_pattern && athena.as_ref().is_none_or(|(source, _)| source != "joda") {
                wrong.push(format!(
                    "{whence}: `{value}`: no timestamp.formats pattern matches it (Athena: {athena:?}); add a Joda-Time pattern for this form to ddl/"
                ));
            }
            checked += 1;
        }
        assert!(
            wrong.is_empty(),
            "{} value(s) read differently:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
    }
    assert!(checked > 5_000, "only {checked} values checked");
}

/// Load every file of `table` below `root` through the loader; the issues per file.
fn load(root: &Path, table: &TableDef) -> Vec<(PathBuf, FileIssues)> {
    let formats = TimestampFormats::compile(&table.timestamp_formats()).unwrap();
    files(root, table)
        .into_iter()
        .filter_map(|file| {
            let mut rows = RowsBuilder::new(&table.columns, formats.clone());
            let issues = rows.append_ndjson(&std::fs::read(&file).unwrap());
            rows.finish().unwrap();
            (!issues.is_empty()).then_some((file, issues))
        })
        .collect()
}

fn describe(found: &[(PathBuf, FileIssues)]) -> String {
    found
        .iter()
        .flat_map(|(file, issues)| {
            issues.samples.iter().map(move |i| {
                format!(
                    "{}:{}: {}: {} ({:?})",
                    file.display(),
                    i.line,
                    i.column,
                    i.why,
                    i.value
                )
            })
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_value_fits_its_declared_type_as_athenas_hive_reader_checks_it() {
    let scratch = tempfile::tempdir().unwrap();
    let tables = ddl::tables().unwrap();
    let mut files_checked = 0;
    for root in trees(scratch.path()) {
        for table in &tables {
            files_checked += files(&root, table).len();
            let found = load(&root, table);
            assert!(
                found.is_empty(),
                "{}: values Athena would refuse or read differently:\n{}",
                table.name,
                describe(&found)
            );
        }
    }
    assert!(files_checked > 1_500, "only {files_checked} files checked");

    // The walk catches what the old DDL got wrong: ProductCodes and NetworkInterfaces[].
    // Ipv6Addresses declared as arrays of strings while EC2 writes arrays of objects.
    let old = tables
        .iter()
        .find(|t| t.name == "clonesquad_instances")
        .unwrap()
        .text
        .replace(
            "`ProductCodes` array<struct<`ProductCodeId`: string, `ProductCodeType`: string>>",
            "`ProductCodes` array<string>",
        )
        .replace(
            "`Ipv6Addresses`: array<struct<`Ipv6Address`: string, `IsPrimaryIpv6`: boolean>>",
            "`Ipv6Addresses`: array<string>",
        );
    let old = ddl::parse("old instances DDL", &old).unwrap();
    let found = load(&scratch.path().join("seed-1"), &old);
    let text = describe(&found);
    assert!(
        text.contains(": productcodes[]: a JSON object where the column is string"),
        "{text}"
    );
    assert!(
        text.contains(
            ": networkinterfaces[].ipv6addresses[]: a JSON object where the column is string"
        ),
        "{text}"
    );
}

#[test]
fn strict_queries_refuse_what_athena_would_refuse() {
    let home = tempfile::tempdir().unwrap();
    let tree = home.path().join("tree");
    tree::generate(&tree, 12, 4, 7);
    let query = |extra: &[&str]| {
        cs_cmdb(home.path())
            .env("CS_CMDB_NOW", "2026-11-26T10:00:00Z")
            .args([
                "query",
                "deployments",
                "--source",
                "tree",
                "--format",
                "csv",
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    let clean = query(&["--strict"]);
    assert_eq!(clean.status.code(), Some(0), "{}", stderr_of(&clean));
    assert!(stderr_of(&clean).is_empty(), "{}", stderr_of(&clean));

    // One member writes an EC2 time in the `T` form, and a date Athena cannot read in a column
    // `deployments` does not read.
    let discovery = tree.join("metadata/discovery");
    let part = std::fs::read_dir(&discovery)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let file = walk_first_file(&part);
    let mut record: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    record["InstallTime"] = Value::from("2026-11-26T08:50:59Z");
    record["AccountJoinedTimestamp"] = Value::from("yesterday");
    std::fs::write(&file, record.to_string()).unwrap();

    let lenient = query(&[]);
    assert_eq!(lenient.status.code(), Some(0), "{}", stderr_of(&lenient));
    let err = stderr_of(&lenient);
    assert!(err.contains("clonesquad_discovery: 1 file(s)"), "{err}");
    assert!(err.contains("column installtime"), "{err}");
    assert!(
        err.contains("no timestamp format of the table matches"),
        "{err}"
    );
    assert!(err.contains("Athena fails the query"), "{err}");
    assert!(
        err.contains(&file.file_name().unwrap().to_string_lossy().to_string()),
        "{err}"
    );

    // Athena decodes only the columns a query reads: the bad date elsewhere in the line is
    // neither reported nor refused here.
    assert!(!err.contains("accountjoinedtimestamp"), "{err}");
    let strict = query(&["--strict"]);
    assert_eq!(strict.status.code(), Some(2), "{}", stderr_of(&strict));
    assert!(
        stderr_of(&strict).contains("--strict: clonesquad_discovery (1)"),
        "{}",
        stderr_of(&strict)
    );
    assert!(strict.stdout.is_empty());

    // A query reading that column meets it, from the same cache (now holding the column too).
    let reads_it = cs_cmdb(home.path())
        .args(["query", "--source", "tree", "--strict", "--sql"])
        .arg("SELECT count(accountjoinedtimestamp) AS n FROM clonesquad_discovery")
        .output()
        .unwrap();
    assert_eq!(reads_it.status.code(), Some(2), "{}", stderr_of(&reads_it));
    let err = stderr_of(&reads_it);
    assert!(err.contains("column accountjoinedtimestamp"), "{err}");
    assert!(!err.contains("column installtime"), "{err}");
    assert!(err.contains("--strict: clonesquad_discovery (1)"), "{err}");
    // And the narrower query, answered from that wider cache, still sees only its own columns.
    let again = query(&[]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr_of(&again));
    assert!(!stderr_of(&again).contains("accountjoinedtimestamp"));
    assert!(stderr_of(&again).contains("column installtime"));
}

fn walk_first_file(dir: &Path) -> PathBuf {
    let mut dir = dir.to_path_buf();
    loop {
        let next = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .next()
            .unwrap()
            .path();
        if next.is_file() {
            return next;
        }
        dir = next;
    }
}
