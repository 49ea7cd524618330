//! `cs-cmdb query`: pick the query, bind its parameters, run it on the chosen engine, render.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};

use crate::commands::org_args::{OrgArgs, Scope};
use crate::commands::source_args::SourceArgs;
use crate::engine::athena::AthenaEngine;
use crate::engine::local::{BatchPage, LocalEngine};
use crate::engine::{Engine, Param, QueryEngine};
use crate::exit::Outcome;
use crate::printer::Printer;
use crate::queries::{self, Origin, Query};
use crate::render::Format;
use crate::settings::Settings;

/// Run a canned CMDB query, or ad-hoc SQL, on the embedded engine or Athena.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("what").args(["name", "list", "sql", "file"]).required(true))]
#[command(after_help = query_help())]
pub struct Args {
    /// Name of a canned query (see --list and the list below).
    #[arg(add = clap_complete::engine::ArgValueCandidates::new(query_names))]
    pub name: Option<String>,

    /// List the canned queries with their descriptions and parameters.
    #[arg(long)]
    pub list: bool,

    /// Run this ad-hoc SQL instead of a canned query.
    #[arg(long, value_name = "SQL")]
    pub sql: Option<String>,

    /// Run the SQL in this file (a header of `-- param:` lines is honoured like a canned query's).
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// A query parameter, bound (never spliced into the SQL); repeatable.
    #[arg(long = "param", short = 'p', value_name = "KEY=VALUE")]
    pub params: Vec<String>,

    /// A directory of extra .sql queries; a file with a canned query's name overrides it.
    #[arg(long, env = "CS_CMDB_QUERIES_DIR", value_name = "DIR")]
    pub queries_dir: Option<PathBuf>,

    #[command(flatten)]
    pub source: SourceArgs,

    #[command(flatten)]
    pub org: OrgArgs,

    /// Athena: reuse the results of an identical query run within this many minutes.
    #[arg(long, value_name = "MINUTES", value_parser = clap::value_parser!(i32).range(1..=10080))]
    pub reuse_minutes: Option<i32>,

    /// Embedded engine: refuse to answer (exit 2) when a table the query reads holds a malformed
    /// line or a value Athena would fail on or read differently (they are listed either way).
    #[arg(long)]
    pub strict: bool,
}

/// `query --help`'s end: the built-in queries, one line each, and examples.
fn query_help() -> String {
    let mut text = String::from("Queries:\n");
    for query in queries::registry(None).unwrap_or_default().values() {
        let params: Vec<String> = query
            .params
            .iter()
            .map(|p| format!("-p {}=", p.name))
            .collect();
        let params = if params.is_empty() {
            String::new()
        } else {
            format!(" ({})", params.join(", "))
        };
        text.push_str(&format!(
            "  {:<18} {}{params}\n",
            query.name,
            first_sentence(&query.description)
        ));
    }
    text.push_str(
        "\nExamples:\n  cs-cmdb query deployments --source examples\n  cs-cmdb query stale -p hours=48 --source s3://my-cmdb-bucket/clonesquad --output csv\n  cs-cmdb query --sql 'SELECT count(*) FROM clonesquad_instances' --source examples\n  cs-cmdb query versions --engine athena --output json",
    );
    text
}

/// Up to the first `: `, `. ` or ` (`, at most 56 characters, so each query fits one line.
fn first_sentence(text: &str) -> String {
    let end = [text.find(". "), text.find(": "), text.find(" (")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(text.len());
    let short = text[..end].trim_end_matches('.');
    if short.chars().count() > 56 {
        format!("{}…", short.chars().take(55).collect::<String>())
    } else {
        short.to_string()
    }
}

/// The built-in query names with their descriptions, for shell completion.
pub fn query_names() -> Vec<clap_complete::CompletionCandidate> {
    queries::registry(None)
        .unwrap_or_default()
        .into_values()
        .map(|q| clap_complete::CompletionCandidate::new(q.name).help(Some(q.description.into())))
        .collect()
}

pub async fn run(args: Args, settings: &Settings, printer: &Printer) -> anyhow::Result<Outcome> {
    let queries_dir = args
        .queries_dir
        .clone()
        .or_else(|| settings.queries_dir.clone());
    let registry = queries::registry(queries_dir.as_deref())?;
    if args.list {
        printer.rows(&queries::to_result_set(&registry))?;
        return Ok(Outcome::Success);
    }
    let query = if let Some(name) = &args.name {
        registry.get(name).cloned().with_context(|| {
            let known: Vec<String> = registry.keys().cloned().collect();
            let hint = crate::text::closest(name, &known)
                .map(|close| format!("did you mean `{close}`? "))
                .unwrap_or_default();
            format!(
                "no query named `{name}`; {hint}known queries: {} (see `cs-cmdb query --list`)",
                known.join(", ")
            )
        })?
    } else if let Some(sql) = &args.sql {
        Query::parse("adhoc", sql, Origin::CommandLine)?
    } else if let Some(path) = &args.file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read query file {}", path.display()))?;
        Query::parse(&file_label(path), &text, Origin::File(path.clone()))?
    } else {
        bail!("name a query, or pass --list, --sql or --file");
    };
    let params = query.bind_values(&args.params)?;

    let started = Instant::now();
    let mut options = args
        .source
        .options(settings, args.reuse_minutes, args.strict);
    let org = if args.org.needed(&query.sql, options.kind) {
        args.org.context(settings, printer, &options).await?
    } else {
        None
    };
    let scope = args.org.scope(org.as_ref())?;
    options.org_dir = org.map(|o| o.dir);
    let opened = crate::engine::open(&options, &settings.aws, Arc::new(printer.clone())).await?;
    if let Engine::Athena(athena) = &opened.engine
        && printer.format() != Format::Table
    {
        let rows = stream_athena(athena, &query, &params, printer, scope.as_ref()).await?;
        summary(printer, rows, started);
        return Ok(Outcome::Success);
    }
    let rows = match &opened.engine {
        Engine::Local(local) if printer.format() != Format::Table => {
            stream_local(local, &query, &params, printer, scope.as_ref()).await?
        }
        engine => {
            let mut rs = engine.run(&query.sql, &params).await.with_context(|| {
                format!(
                    "query `{}` failed on the {} engine",
                    query.name,
                    engine.name()
                )
            })?;
            if let Some(scope) = &scope {
                let at = scope.account_column(&rs.columns)?;
                scope.retain(at, &mut rs.rows);
            }
            printer.rows_narrowed(&rs, &query.narrow)?;
            rs.rows.len()
        }
    };
    summary(printer, rows, started);
    if opened.mirror_incomplete {
        printer.warn(
            "some objects could not be mirrored (see above): the answer may use their previous copy",
        );
        return Ok(Outcome::Failures);
    }
    Ok(Outcome::Success)
}

/// A query file's name as the label of its messages, readable whatever the file is called.
fn file_label(path: &std::path::Path) -> String {
    let stem: String = path
        .file_stem()
        .map(|s| s.to_string_lossy())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if stem.is_empty() {
        "adhoc".to_string()
    } else {
        stem
    }
}

/// Athena results written page by page as they arrive: memory stays flat on large results.
async fn stream_athena(
    athena: &AthenaEngine,
    query: &Query,
    params: &[Param],
    printer: &Printer,
    scope: Option<&Scope>,
) -> anyhow::Result<usize> {
    let finished = athena
        .run_to_end(&query.sql, params)
        .await
        .with_context(|| format!("query `{}` failed on the athena engine", query.name))?;
    let mut stream = None;
    let columns = athena
        .fetch(&finished, |columns, rows| {
            if stream.is_none() {
                stream = Some(printer.stream(columns)?);
            }
            let Some(stream) = stream.as_mut() else {
                return Ok(());
            };
            match scope {
                Some(scope) => {
                    let at = scope.account_column(columns)?;
                    stream.rows(&scope.pick(rows.as_slice(), at)?)?;
                }
                None => stream.rows(rows.as_slice())?,
            }
            Ok(())
        })
        .await?;
    let stream = match stream {
        Some(stream) => stream,
        None => printer.stream(&columns)?,
    };
    Ok(stream.finish()?)
}

/// Embedded-engine results written batch by batch as the plan produces them: a result of
/// millions of rows is never all in memory as rows.
async fn stream_local(
    local: &LocalEngine,
    query: &Query,
    params: &[Param],
    printer: &Printer,
    scope: Option<&Scope>,
) -> anyhow::Result<usize> {
    let failed = || format!("query `{}` failed on the local engine", query.name);
    let mut answer = local
        .answer(&query.sql, params)
        .await
        .with_context(failed)?;
    let at = scope
        .map(|scope| scope.account_column(&answer.columns))
        .transpose()?;
    let mut stream = printer.stream(&answer.columns)?;
    while let Some(batch) = answer.next_batch().await.with_context(failed)? {
        tracing::trace!(rows = batch.num_rows(), "batch answered");
        let page = BatchPage::new(&batch).with_context(failed)?;
        match (scope, at) {
            (Some(scope), Some(at)) => stream.rows(&scope.pick(&page, at)?)?,
            _ => stream.rows(&page)?,
        }
    }
    tracing::debug!("all rows written");
    Ok(stream.finish()?)
}

/// `(N rows in T ms)` on an interactive stderr.
fn summary(printer: &Printer, rows: usize, started: Instant) {
    if printer.interactive() {
        printer.summary(&format!(
            "({rows} rows in {} ms)",
            started.elapsed().as_millis()
        ));
    }
}
