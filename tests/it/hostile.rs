//! A hostile member account (issue 12), one poisoned input per case: a generated tree of healthy
//! deployments plus one bad file, or one bad option. Each case asserts that every healthy
//! deployment's answer is unchanged, that the hostile input is reported, and the exit code.

use std::path::{Path, PathBuf};

use crate::support::snapshot::{Filters, Runs};
use crate::support::tree::{GENERATED_AT, generate};
use crate::support::{cs_cmdb, stderr_of, stdout_of};

/// The healthy fleet's answer every case compares against.
const FLEET_SQL: &str = "SELECT accountid, region, groupname, clonesquadversion FROM clonesquad_discovery ORDER BY 1, 2, 3";

/// A home with a generated tree (`tree/`, 6 healthy deployments) and its own cache.
struct Env {
    home: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let home = tempfile::tempdir().unwrap();
        generate(&home.path().join("tree"), 6, 2, 12);
        Self { home }
    }

    fn home(&self) -> &Path {
        self.home.path()
    }

    fn tree(&self) -> PathBuf {
        self.home().join("tree")
    }

    /// `cs-cmdb <args>` at the tree's export time.
    fn cmd(&self, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = cs_cmdb(self.home());
        cmd.env("CS_CMDB_NOW", GENERATED_AT).args(args);
        cmd
    }

    /// `cs-cmdb query --source tree <args>`.
    fn query(&self, args: &[&str]) -> assert_cmd::Command {
        let tree = self.tree();
        let mut cmd = self.cmd(&["query", "--source", tree.to_str().unwrap()]);
        cmd.args(args);
        cmd
    }

    /// The healthy fleet as JSON rows.
    fn fleet(&self) -> String {
        let out = self
            .query(&["--format", "json", "--sql", FLEET_SQL])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
        stdout_of(&out)
    }

    fn filters(&self) -> Filters {
        Filters::new().path(self.home(), "[HOME]")
    }
}

// ---- item 5: SQL is read-only -------------------------------------------------------------

/// Every statement that is not a query is refused before anything runs, from --sql, a query
/// file and a policy `sql` rule; nothing is written, and the fleet still answers.
#[test]
fn sql_that_writes_or_sets_is_refused_before_it_runs() {
    let env = Env::new();
    let before = env.fleet();
    let target = env.home().join("pwned.csv");
    let copy = format!(
        "COPY (SELECT * FROM clonesquad_discovery) TO '{}'",
        target.display()
    );
    let mut runs = Runs::new(env.filters());
    for (title, sql) in [
        ("COPY ... TO a file", copy.as_str()),
        ("SET", "SET datafusion.execution.batch_size = 1"),
        (
            "CREATE TABLE AS",
            "CREATE TABLE t AS SELECT * FROM clonesquad_discovery",
        ),
        ("INSERT", "INSERT INTO clonesquad_discovery VALUES (1)"),
        ("DROP", "DROP TABLE clonesquad_discovery"),
        ("a query then a COPY", &format!("SELECT 1; {copy}")),
        (
            "EXPLAIN ANALYZE of a write",
            "EXPLAIN ANALYZE INSERT INTO t SELECT 1",
        ),
        ("SELECT INTO", "SELECT * INTO t FROM clonesquad_discovery"),
    ] {
        let out = runs.run(title, &mut env.query(&["--sql", sql]));
        assert_eq!(out.status.code(), Some(2), "{title}: {}", stderr_of(&out));
    }
    let file = env.home().join("copy.sql");
    std::fs::write(&file, format!("-- name: exfil\n{copy}\n")).unwrap();
    runs.run(
        "a query file",
        &mut env.query(&["--file", file.to_str().unwrap()]),
    );
    runs.run(
        "on Athena (refused before any request)",
        &mut env.cmd(&["query", "--engine", "athena", "--sql", &copy]),
    );
    let policy = env.home().join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "[[rule]]\nname = \"exfil\"\nkind = \"sql\"\nseverity = \"low\"\nsql = \"\"\"{copy}\"\"\"\n"
        ),
    )
    .unwrap();
    let tree = env.tree();
    let out = runs.run(
        "a policy sql rule",
        &mut env.cmd(&[
            "check",
            "--policy",
            policy.to_str().unwrap(),
            "--source",
            tree.to_str().unwrap(),
        ]),
    );
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!(runs.text());
    assert!(!target.exists(), "the COPY wrote {}", target.display());
    assert_eq!(env.fleet(), before);
}

/// NaN and infinities are not numbers Athena can bind: refused with the parameter's name.
#[test]
fn non_finite_float_parameters_are_refused() {
    let env = Env::new();
    let file = env.home().join("ratio.sql");
    std::fs::write(
        &file,
        "-- name: ratio\n-- param: ratio float | the ratio\nSELECT count(*) AS n FROM clonesquad_discovery WHERE ? > 0.5\n",
    )
    .unwrap();
    let mut runs = Runs::new(env.filters());
    for value in ["NaN", "inf", "-infinity"] {
        let out = runs.run(
            value,
            &mut env.query(&[
                "--file",
                file.to_str().unwrap(),
                "--param",
                &format!("ratio={value}"),
            ]),
        );
        assert_eq!(out.status.code(), Some(2), "{value}");
    }
    let out = runs.run(
        "a finite value",
        &mut env.query(&["--file", file.to_str().unwrap(), "--param", "ratio=0.75"]),
    );
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!(runs.text());
}
