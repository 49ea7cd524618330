//! cs-cmdb only reads: every SQL text from a user (`--sql`, query files, the queries folder,
//! policy `sql` rules) is parsed and refused unless it is one query, before anything runs and
//! on both engines. A parameter is a finite value.
//!
//! The check is on the parsed statement (sqlparser, the parser the embedded engine plans with),
//! not on the text's first word: `WITH x AS (...) INSERT ...`, `SELECT ... INTO t`,
//! `EXPLAIN ANALYZE INSERT ...` and two statements separated by `;` are all refused.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Query, SetExpr, Statement, Visit, Visitor};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::engine::Param;

/// What is allowed, as the refusals say it.
pub const ALLOWED: &str = "SELECT, WITH, VALUES, EXPLAIN, SHOW or DESCRIBE";

/// Refuse `sql` unless it is exactly one read-only statement. The error names what was found;
/// the caller says whose text it is.
pub fn ensure_read_only(sql: &str) -> anyhow::Result<()> {
    let statements = Parser::parse_sql(&GenericDialect {}, sql).map_err(|e| {
        anyhow::anyhow!(
            "SQL error: {e} (only SQL that parses, and so is shown to be read-only, runs)"
        )
    })?;
    match statements.as_slice() {
        [] => anyhow::bail!("the SQL holds no statement; give one query ({ALLOWED})"),
        [one] => {
            let mut guard = Guard(None);
            let _ = one.visit(&mut guard);
            match guard.0 {
                None => Ok(()),
                Some(what) => anyhow::bail!(
                    "only queries run ({ALLOWED}), and this SQL holds {what}: cs-cmdb never changes data or settings"
                ),
            }
        }
        many => anyhow::bail!(
            "the SQL holds {} statements; give exactly one query ({ALLOWED})",
            many.len()
        ),
    }
}

/// Refuse a NaN or infinite float parameter (Athena would read it as a bare word).
pub fn ensure_finite(params: &[Param]) -> anyhow::Result<()> {
    for (at, param) in params.iter().enumerate() {
        if let Param::Float(x) = param
            && !x.is_finite()
        {
            anyhow::bail!(
                "parameter {} is `{x}`: float parameters must be finite numbers",
                at + 1
            );
        }
    }
    Ok(())
}

/// The first statement or clause that is not read-only, in words.
struct Guard(Option<String>);

impl Visitor for Guard {
    type Break = ();

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<()> {
        let read_only = matches!(
            statement,
            Statement::Query(_)
                | Statement::Explain { .. }
                | Statement::ExplainTable { .. }
                | Statement::ShowFunctions { .. }
                | Statement::ShowVariable { .. }
                | Statement::ShowStatus { .. }
                | Statement::ShowVariables { .. }
                | Statement::ShowCreate { .. }
                | Statement::ShowColumns { .. }
                | Statement::ShowDatabases { .. }
                | Statement::ShowSchemas { .. }
                | Statement::ShowCharset(_)
                | Statement::ShowObjects(_)
                | Statement::ShowTables { .. }
                | Statement::ShowViews { .. }
                | Statement::ShowCollation { .. }
        );
        if read_only {
            return ControlFlow::Continue(());
        }
        let what = keywords(&statement.to_string());
        let article = if what.starts_with(['A', 'E', 'I', 'O', 'U']) {
            "an"
        } else {
            "a"
        };
        self.0 = Some(format!("{article} {what} statement"));
        ControlFlow::Break(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if selects_into(&query.body) {
            self.0 = Some("SELECT ... INTO (which creates a table)".to_string());
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

fn selects_into(body: &SetExpr) -> bool {
    match body {
        SetExpr::Select(select) => select.into.is_some(),
        SetExpr::SetOperation { left, right, .. } => selects_into(left) || selects_into(right),
        _ => false,
    }
}

/// The statement's leading keywords (`COPY`, `CREATE TABLE`, `SET`), to name it.
fn keywords(text: &str) -> String {
    let words: Vec<&str> = text
        .split_whitespace()
        .take_while(|w| w.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .take(3)
        .collect();
    if words.is_empty() {
        "non-query".to_string()
    } else {
        words.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(sql: &str) -> String {
        ensure_read_only(sql).unwrap_err().to_string()
    }

    #[test]
    fn queries_pass() {
        for sql in [
            "SELECT 1",
            "select * from clonesquad_discovery where accountid = ?",
            "WITH a AS (SELECT 1 AS x) SELECT x FROM a",
            "VALUES (1, 'a'), (2, 'b')",
            "EXPLAIN SELECT 1",
            "EXPLAIN ANALYZE SELECT 1",
            "SHOW TABLES",
            "SHOW COLUMNS FROM clonesquad_discovery",
            "DESCRIBE clonesquad_discovery",
            "SELECT 1 UNION ALL SELECT 2",
            "-- name: x\nSELECT 1;",
        ] {
            ensure_read_only(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }

    #[test]
    fn everything_else_is_refused_by_name() {
        for (sql, what) in [
            ("COPY (SELECT 1) TO '/tmp/x.csv'", "a COPY statement"),
            ("SET datafusion.execution.batch_size = 1", "a SET statement"),
            ("CREATE TABLE t AS SELECT 1", "a CREATE TABLE statement"),
            (
                "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '/etc/'",
                "a CREATE EXTERNAL TABLE statement",
            ),
            ("INSERT INTO t VALUES (1)", "an INSERT INTO statement"),
            ("DROP TABLE clonesquad_discovery", "a DROP TABLE statement"),
            ("EXPLAIN ANALYZE INSERT INTO t SELECT 1", "an INSERT INTO"),
            ("SELECT 1 INTO t", "SELECT ... INTO"),
            (
                "WITH a AS (SELECT 1) SELECT * INTO t FROM a",
                "SELECT ... INTO",
            ),
        ] {
            let msg = refusal(sql);
            assert!(msg.contains(what), "{sql}: {msg}");
            assert!(msg.contains(ALLOWED), "{sql}: {msg}");
        }
        assert!(refusal("SELECT 1; DROP TABLE t").contains("2 statements"));
        assert!(refusal("SELECT 1; SELECT 2").contains("2 statements"));
        assert!(refusal("  ").contains("no statement"));
        assert!(refusal("SELEKT 1").contains("SQL error"));
    }

    #[test]
    fn non_finite_floats_are_refused() {
        ensure_finite(&[Param::Float(1.5), Param::Int(1)]).unwrap();
        for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let msg = ensure_finite(&[Param::Str("a".into()), Param::Float(x)])
                .unwrap_err()
                .to_string();
            assert!(msg.contains("parameter 2"), "{msg}");
        }
    }
}
