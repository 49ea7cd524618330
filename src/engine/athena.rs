//! The Athena engine: the same SQL files, run by Amazon Athena over the shared bucket.
//!
//! Parameters are bound as Athena execution parameters (never spliced into the text); the query
//! is polled with backoff (QUEUED counts as running); FAILED and CANCELLED are errors carrying
//! Athena's reason and the query id; results are read page by page.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_config::SdkConfig;
use aws_sdk_athena::Client;
use aws_sdk_athena::types::{
    QueryExecution, QueryExecutionContext, QueryExecutionState, ResultConfiguration,
    ResultReuseByAgeConfiguration, ResultReuseConfiguration, StatementType,
};
use futures::future::BoxFuture;

use crate::aws::describe;
use crate::engine::{Param, QueryEngine};
use crate::rows::{Column, ColumnType, ResultSet, Value};

const POLL_START: Duration = Duration::from_millis(200);
const POLL_MAX: Duration = Duration::from_secs(3);
const PAGE_SIZE: i32 = 1000;

/// Where and how queries run.
#[derive(Debug, Clone)]
pub struct AthenaOptions {
    pub database: String,
    pub catalog: String,
    pub workgroup: Option<String>,
    /// `s3://...` for results, when the workgroup does not enforce one.
    pub output_location: Option<String>,
    /// Reuse a previous identical query's results up to this age.
    pub reuse_minutes: Option<i32>,
}

impl Default for AthenaOptions {
    fn default() -> Self {
        Self {
            database: "cs_cmdb".into(),
            catalog: "AwsDataCatalog".into(),
            workgroup: None,
            output_location: None,
            reuse_minutes: None,
        }
    }
}

pub struct AthenaEngine {
    client: Client,
    options: AthenaOptions,
}

/// A finished query: its id, statement type and statistics.
#[derive(Debug)]
pub struct Finished {
    pub id: String,
    pub statement_type: Option<StatementType>,
    pub scanned_bytes: Option<i64>,
    pub engine_millis: Option<i64>,
}

/// Render a bound value as the SQL literal Athena's execution parameters expect.
pub fn parameter_literal(param: &Param) -> String {
    match param {
        Param::Str(s) => format!("'{}'", s.replace('\'', "''")),
        Param::Int(i) => i.to_string(),
        Param::Float(f) => format!("{f:?}"),
        Param::Bool(b) => b.to_string(),
    }
}

impl AthenaEngine {
    pub fn new(config: &SdkConfig, options: AthenaOptions) -> Self {
        Self {
            client: Client::new(config),
            options,
        }
    }

    pub fn options(&self) -> &AthenaOptions {
        &self.options
    }

    /// Start one statement; `database` false runs it without a database context
    /// (`CREATE DATABASE`).
    pub async fn start(
        &self,
        sql: &str,
        params: &[Param],
        in_database: bool,
    ) -> anyhow::Result<String> {
        let mut context = QueryExecutionContext::builder().catalog(&self.options.catalog);
        if in_database {
            context = context.database(&self.options.database);
        }
        let mut request = self
            .client
            .start_query_execution()
            .query_string(sql)
            .query_execution_context(context.build())
            .set_work_group(self.options.workgroup.clone());
        if let Some(location) = &self.options.output_location {
            request = request.result_configuration(
                ResultConfiguration::builder()
                    .output_location(location)
                    .build(),
            );
        }
        if !params.is_empty() {
            request = request
                .set_execution_parameters(Some(params.iter().map(parameter_literal).collect()));
        }
        if let Some(minutes) = self.options.reuse_minutes {
            request = request.result_reuse_configuration(
                ResultReuseConfiguration::builder()
                    .result_reuse_by_age_configuration(
                        ResultReuseByAgeConfiguration::builder()
                            .enabled(true)
                            .max_age_in_minutes(minutes)
                            .build(),
                    )
                    .build(),
            );
        }
        let out = request.send().await.map_err(|e| {
            anyhow::anyhow!(
                "Athena StartQueryExecution failed (workgroup {}): {}",
                self.options.workgroup.as_deref().unwrap_or("primary"),
                describe(&e)
            )
        })?;
        let id = out
            .query_execution_id()
            .map(String::from)
            .context("Athena returned no query id")?;
        // -vv: every statement (the DDL of `install` too) with the id to find it in Athena.
        tracing::debug!(query_id = %id, "Athena query started:\n{sql}");
        Ok(id)
    }

    /// Wait for a query to finish, polling with backoff. Ctrl-C stops the query on Athena
    /// (StopQueryExecution) before returning an error.
    pub async fn wait(&self, id: &str) -> anyhow::Result<Finished> {
        let mut delay = POLL_START;
        let interrupt = tokio::signal::ctrl_c();
        tokio::pin!(interrupt);
        loop {
            let execution = self.execution(id).await?;
            let status = execution.status();
            match status.and_then(|s| s.state()) {
                Some(QueryExecutionState::Succeeded) => {
                    let stats = execution.statistics();
                    return Ok(Finished {
                        id: id.to_string(),
                        statement_type: execution.statement_type().cloned(),
                        scanned_bytes: stats.and_then(|s| s.data_scanned_in_bytes()),
                        engine_millis: stats.and_then(|s| s.engine_execution_time_in_millis()),
                    });
                }
                Some(state @ (QueryExecutionState::Failed | QueryExecutionState::Cancelled)) => {
                    let reason = status
                        .and_then(|s| s.state_change_reason())
                        .unwrap_or("no reason given");
                    bail!("Athena query {id} {}: {reason}", state.as_str());
                }
                _ => {}
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = &mut interrupt => {
                    let stopped = self.client.stop_query_execution().query_execution_id(id).send().await;
                    let what = match stopped {
                        Ok(_) => "sent StopQueryExecution".to_string(),
                        Err(e) => format!("StopQueryExecution failed: {}", describe(&e)),
                    };
                    bail!("interrupted: Athena query {id} cancelled ({what})");
                }
            }
            delay = (delay.mul_f32(1.5)).min(POLL_MAX);
        }
    }

    async fn execution(&self, id: &str) -> anyhow::Result<QueryExecution> {
        let out = self
            .client
            .get_query_execution()
            .query_execution_id(id)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!("Athena GetQueryExecution {id} failed: {}", describe(&e))
            })?;
        out.query_execution()
            .cloned()
            .with_context(|| format!("Athena returned no execution for query {id}"))
    }

    /// Run a statement whose result is not needed (DDL) to its end.
    pub async fn execute(&self, sql: &str, in_database: bool) -> anyhow::Result<Finished> {
        let id = self.start(sql, &[], in_database).await?;
        self.wait(&id).await
    }

    /// Read a finished query's results page by page, handing each page's rows to `on_rows`.
    /// The header row (first row of the first page of a SELECT) is skipped.
    pub async fn fetch(
        &self,
        finished: &Finished,
        mut on_rows: impl FnMut(&[Column], Vec<Vec<Value>>) -> anyhow::Result<()>,
    ) -> anyhow::Result<Vec<Column>> {
        let mut pages = self
            .client
            .get_query_results()
            .query_execution_id(&finished.id)
            .max_results(PAGE_SIZE)
            .into_paginator()
            .send();
        let mut columns: Option<Vec<Column>> = None;
        let mut first = true;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                anyhow::anyhow!(
                    "Athena GetQueryResults {} failed: {}",
                    finished.id,
                    describe(&e)
                )
            })?;
            let Some(result) = page.result_set() else {
                continue;
            };
            let cols = columns.get_or_insert_with(|| {
                result
                    .result_set_metadata()
                    .map(|m| {
                        m.column_info()
                            .iter()
                            .map(|c| Column::new(c.name(), athena_type(c.r#type())))
                            .collect()
                    })
                    .unwrap_or_default()
            });
            let mut rows = result.rows().iter();
            if first && finished.statement_type == Some(StatementType::Dml) {
                rows.next();
            }
            first = false;
            let values = rows
                .map(|row| {
                    cols.iter()
                        .enumerate()
                        .map(|(i, col)| {
                            row.data()
                                .get(i)
                                .and_then(|d| d.var_char_value())
                                .map_or(Value::Null, |text| parse_value(col.ty, text))
                        })
                        .collect()
                })
                .collect();
            on_rows(cols, values)?;
        }
        Ok(columns.unwrap_or_default())
    }

    /// Start, wait, and report the statistics (`-v`).
    pub async fn run_to_end(&self, sql: &str, params: &[Param]) -> anyhow::Result<Finished> {
        crate::engine::readonly::ensure_read_only(sql)?;
        crate::engine::readonly::ensure_finite(params)?;
        let started = Instant::now();
        let id = self.start(sql, params, true).await?;
        let finished = self.wait(&id).await?;
        tracing::info!(
            query_id = %finished.id,
            scanned_bytes = finished.scanned_bytes.unwrap_or_default(),
            engine_ms = finished.engine_millis.unwrap_or_default(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "Athena query finished"
        );
        Ok(finished)
    }
}

impl QueryEngine for AthenaEngine {
    fn name(&self) -> &'static str {
        "athena"
    }

    fn run<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [Param],
    ) -> BoxFuture<'a, anyhow::Result<ResultSet>> {
        Box::pin(async move {
            let finished = self.run_to_end(sql, params).await?;
            let mut rows = Vec::new();
            let columns = self
                .fetch(&finished, |_, page| {
                    rows.extend(page);
                    Ok(())
                })
                .await?;
            Ok(ResultSet { columns, rows })
        })
    }
}

fn athena_type(ty: &str) -> ColumnType {
    let base = ty
        .split(['(', ' '])
        .next()
        .unwrap_or(ty)
        .to_ascii_lowercase();
    match base.as_str() {
        "boolean" => ColumnType::Boolean,
        "tinyint" | "smallint" | "integer" | "int" | "bigint" => ColumnType::Integer,
        "double" | "float" | "real" | "decimal" => ColumnType::Float,
        "timestamp" => ColumnType::Timestamp,
        "date" => ColumnType::Date,
        _ => ColumnType::String,
    }
}

/// Athena returns every value as text; type it by the column.
fn parse_value(ty: ColumnType, text: &str) -> Value {
    let typed = match ty {
        ColumnType::Boolean => text.parse().ok().map(Value::Bool),
        ColumnType::Integer => text.parse().ok().map(Value::Int),
        ColumnType::Float => text.parse().ok().map(Value::Float),
        ColumnType::Timestamp => chrono::NaiveDateTime::parse_from_str(
            text.trim_end_matches(" UTC"),
            "%Y-%m-%d %H:%M:%S%.f",
        )
        .ok()
        .map(Value::Timestamp),
        ColumnType::Date => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .map(Value::Date),
        ColumnType::String | ColumnType::Nested => None,
    };
    typed.unwrap_or_else(|| Value::Str(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_sql_literals() {
        assert_eq!(parameter_literal(&Param::Str("it's".into())), "'it''s'");
        assert_eq!(parameter_literal(&Param::Int(24)), "24");
        assert_eq!(parameter_literal(&Param::Float(1.5)), "1.5");
        assert_eq!(parameter_literal(&Param::Bool(true)), "true");
    }

    #[test]
    fn values_are_typed_by_column() {
        assert_eq!(parse_value(ColumnType::Integer, "42"), Value::Int(42));
        assert_eq!(parse_value(ColumnType::Boolean, "true"), Value::Bool(true));
        assert!(matches!(
            parse_value(ColumnType::Timestamp, "2026-11-26 09:00:01.123 UTC"),
            Value::Timestamp(_)
        ));
        assert_eq!(
            parse_value(ColumnType::Integer, "x"),
            Value::Str("x".into())
        );
        assert_eq!(athena_type("varchar"), ColumnType::String);
        assert_eq!(athena_type("decimal(10,2)"), ColumnType::Float);
        assert_eq!(
            athena_type("timestamp(3) with time zone"),
            ColumnType::Timestamp
        );
    }
}
