//! `cs-cmdb query`: pick the query, bind its parameters, run it on the chosen engine, render.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};

use crate::cli::{EngineKind, QueryArgs};
use crate::engine::local::LocalEngine;
use crate::engine::{Column, ColumnType, QueryEngine, ResultSet, Value};
use crate::exit::Outcome;
use crate::queries::{self, Origin, Query};
use crate::settings::Settings;

/// The engine's clock: `CS_CMDB_NOW` (RFC 3339) when set, for reproducible runs; else now.
pub fn now() -> anyhow::Result<DateTime<Utc>> {
    match std::env::var("CS_CMDB_NOW") {
        Ok(text) => DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .with_context(|| {
                format!("CS_CMDB_NOW=`{text}` is not an RFC 3339 time (2026-11-26T09:00:00Z)")
            }),
        Err(_) => Ok(Utc::now()),
    }
}

pub async fn run(args: QueryArgs, settings: &Settings) -> anyhow::Result<Outcome> {
    let queries_dir = args
        .queries_dir
        .clone()
        .or_else(|| settings.queries_dir.clone());
    let registry = queries::registry(queries_dir.as_deref())?;
    if args.list {
        crate::render::to_stdout(&list(&registry), settings.format, settings.color)?;
        return Ok(Outcome::Success);
    }
    let query = if let Some(name) = &args.name {
        registry.get(name).cloned().with_context(|| {
            format!(
                "no query named `{name}`; known queries: {} (see `cs-cmdb query --list`)",
                registry.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })?
    } else if let Some(sql) = &args.sql {
        Query::parse("adhoc", sql, Origin::CommandLine)?
    } else if let Some(path) = &args.file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read query file {}", path.display()))?;
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("adhoc");
        Query::parse(stem, &text, Origin::File(path.clone()))?
    } else {
        bail!("name a query, or pass --list, --sql or --file");
    };
    let params = query.bind_values(&args.params)?;

    let engine = open_engine(
        &EngineOptions {
            source: args.source.clone(),
            engine: args.engine,
            cache_dir: args.cache_dir.clone(),
        },
        settings,
    )?;
    let started = Instant::now();
    let rs = engine.run(&query.sql, &params).await.with_context(|| {
        format!(
            "query `{}` failed on the {} engine",
            query.name,
            engine.name()
        )
    })?;
    crate::render::to_stdout(&rs, settings.format, settings.color)?;
    if std::io::stderr().is_terminal() && tracing::enabled!(tracing::Level::WARN) {
        eprintln!(
            "({} rows in {} ms)",
            rs.rows.len(),
            started.elapsed().as_millis()
        );
    }
    Ok(Outcome::Success)
}

/// Where the data is and which engine reads it: the flags `query` and `check` share.
#[derive(Debug, Clone, Default)]
pub(crate) struct EngineOptions {
    pub source: Option<String>,
    pub engine: Option<EngineKind>,
    pub cache_dir: Option<PathBuf>,
}

impl EngineOptions {
    /// `--source`, else `source` from the settings.
    pub fn source(&self, settings: &Settings) -> Option<String> {
        self.source.clone().or_else(|| settings.source.clone())
    }
}

/// The engine chosen by the flags and settings (embedded by default).
pub(crate) fn open_engine(
    opts: &EngineOptions,
    settings: &Settings,
) -> anyhow::Result<Box<dyn QueryEngine>> {
    Ok(
        match opts.engine.or(settings.engine).unwrap_or(EngineKind::Local) {
            EngineKind::Local => Box::new(local_engine(opts, settings)?),
            EngineKind::Athena => bail!(
                "the Athena engine is not available in this version of cs-cmdb; use --engine local with --source DIR"
            ),
        },
    )
}

fn local_engine(args: &EngineOptions, settings: &Settings) -> anyhow::Result<LocalEngine> {
    let source = args.source(settings).context(
        "no metadata source: pass --source DIR (a local copy of <MetadataAndBackupS3Path>), or set `source` in cs-cmdb.toml",
    )?;
    if source.starts_with("s3://") {
        bail!(
            "--source {source}: reading the bucket directly needs `cs-cmdb mirror`, not available in this version; copy it locally (aws s3 sync {source}/metadata DIR/metadata) and pass --source DIR"
        );
    }
    let cache_root = args
        .cache_dir
        .clone()
        .or_else(|| settings.cache_dir.clone())
        .or_else(|| dirs::cache_dir().map(|d| d.join("cs-cmdb")))
        .unwrap_or_else(|| PathBuf::from(".cs-cmdb-cache"));
    LocalEngine::new(std::path::Path::new(&source), &cache_root, now()?)
}

/// `query --list` as a result set.
fn list(registry: &std::collections::BTreeMap<String, Query>) -> ResultSet {
    let columns = vec![
        Column::new("name", ColumnType::String),
        Column::new("description", ColumnType::String),
        Column::new("parameters", ColumnType::String),
    ];
    let rows = registry
        .values()
        .map(|q| {
            let params = q
                .params
                .iter()
                .map(|p| match &p.default {
                    Some(d) => format!("{} {} = {d}", p.name, p.ty),
                    None => format!("{} {} (required)", p.name, p.ty),
                })
                .collect::<Vec<_>>()
                .join("; ");
            vec![
                Value::Str(q.name.clone()),
                Value::Str(q.description.clone()),
                if params.is_empty() {
                    Value::Null
                } else {
                    Value::Str(params)
                },
            ]
        })
        .collect();
    ResultSet { columns, rows }
}
