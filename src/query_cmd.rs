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
use crate::settings::{S3Path, Settings};

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

    let (engine, mirror_incomplete): (Box<dyn QueryEngine>, bool) = match args
        .engine
        .or(settings.engine)
        .unwrap_or(EngineKind::Local)
    {
        EngineKind::Local => {
            let (engine, incomplete) = local_engine(&args, settings).await?;
            (Box::new(engine), incomplete)
        }
        EngineKind::Athena => bail!(
            "the Athena engine is not available in this version of cs-cmdb; use --engine local with --source DIR"
        ),
    };
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
    if mirror_incomplete {
        tracing::warn!(
            "some objects could not be mirrored (see above): the answer may use their previous copy"
        );
        return Ok(Outcome::Failures);
    }
    Ok(Outcome::Success)
}

/// The embedded engine over `--source`: a local directory, or `s3://bucket/prefix`, mirrored
/// first (or used as already mirrored with `--offline`). The flag tells whether some objects
/// could not be mirrored (their previous copy, if any, is queried).
async fn local_engine(
    args: &QueryArgs,
    settings: &Settings,
) -> anyhow::Result<(LocalEngine, bool)> {
    let source = args.source.clone().or_else(|| settings.source.clone()).context(
        "no metadata source: pass --source DIR (a local copy of <MetadataAndBackupS3Path>) or --source s3://bucket/prefix, or set `source` in cs-cmdb.toml",
    )?;
    let cache_root = crate::mirror::cache_root(args.cache_dir.clone(), settings);
    let mut incomplete = false;
    let dir = if source.starts_with("s3://") {
        let path: S3Path = source
            .parse()
            .with_context(|| format!("invalid --source `{source}`"))?;
        let dir = crate::mirror::mirror_dir(&cache_root, &path);
        if args.offline {
            crate::mirror::require_mirror(&dir, &path)?;
        } else {
            let report =
                crate::mirror::sync(settings, &path, &dir, crate::mirror::DEFAULT_CONCURRENCY)
                    .await
                    .with_context(|| {
                        format!(
                            "cannot mirror {source} (pass --offline to query the last mirror as is)"
                        )
                    })?;
            incomplete = report.stats.failed > 0;
        }
        dir
    } else {
        PathBuf::from(&source)
    };
    Ok((LocalEngine::new(&dir, &cache_root, now()?)?, incomplete))
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
