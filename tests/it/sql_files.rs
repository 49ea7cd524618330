//! Every shipped DDL and canned query parses as Athena/Trino SQL with a real Trino-dialect
//! parser (sqlglot, installed into the test venv by scripts/test).

use std::path::Path;

#[test]
fn ddl_and_queries_parse_as_athena_sql() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var_os("CS_CMDB_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join(".venv/bin/python"));
    assert!(
        python.is_file(),
        "{} not found: run scripts/test, which installs sqlglot into the test venv",
        python.display()
    );
    let out = std::process::Command::new(&python)
        .arg(root.join("tests/sql/check_dialect.py"))
        .arg(root)
        .output()
        .expect("run the dialect check");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        report.lines().filter(|l| l.starts_with("ok")).count(),
        8 + 19 * 2,
        "{report}"
    );
}
