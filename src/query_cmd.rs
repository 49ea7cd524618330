//! `cs-cmdb query`: pick the query, bind its parameters, run it on the chosen engine, render.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};

use crate::cli::QueryArgs;
use crate::commands::source_args::AthenaArgs;
use crate::engine::EngineKind;
use crate::engine::QueryEngine;
use crate::engine::athena::AthenaEngine;
use crate::engine::local::LocalEngine;
use crate::exit::Outcome;
use crate::printer::Printer;
use crate::queries::{self, Origin, Query};
use crate::render::Format;
use crate::rows::{Column, ColumnType, ResultSet, Value};
use crate::settings::{S3Path, Settings};

pub async fn run(
    args: QueryArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let queries_dir = args
        .queries_dir
        .clone()
        .or_else(|| settings.queries_dir.clone());
    let registry = queries::registry(queries_dir.as_deref())?;
    if args.list {
        printer.rows(&list(&registry))?;
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
        // The file name only labels messages: keep it readable whatever it is.
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
        let stem = if stem.is_empty() {
            "adhoc".to_string()
        } else {
            stem
        };
        Query::parse(&stem, &text, Origin::File(path.clone()))?
    } else {
        bail!("name a query, or pass --list, --sql or --file");
    };
    let params = query.bind_values(&args.params)?;

    let opts = EngineOptions {
        source: args.source.clone(),
        engine: args.engine,
        cache_dir: args.cache_dir.clone(),
        athena: args.athena.clone(),
        reuse_minutes: args.reuse_minutes,
        offline: args.offline,
        strict: args.strict,
    };
    let started = Instant::now();
    if opts.kind(settings) == EngineKind::Athena && settings.format != Format::Table {
        let athena = athena_engine(&opts, settings, printer).await?;
        let rows = stream_athena(&athena, &query, &params, printer).await?;
        summary(printer, rows, started);
        return Ok(Outcome::Success);
    }
    let (engine, mirror_incomplete) = open_engine(&opts, settings, printer).await?;
    let rs = engine.run(&query.sql, &params).await.with_context(|| {
        format!(
            "query `{}` failed on the {} engine",
            query.name,
            engine.name()
        )
    })?;
    printer.rows(&rs)?;
    summary(printer, rs.rows.len(), started);
    if mirror_incomplete {
        printer.warn(
            "some objects could not be mirrored (see above): the answer may use their previous copy",
        );
        return Ok(Outcome::Failures);
    }
    Ok(Outcome::Success)
}

/// Athena results written page by page as they arrive: memory stays flat on large results.
async fn stream_athena(
    athena: &AthenaEngine,
    query: &Query,
    params: &[crate::engine::Param],
    printer: &Printer,
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
            if let Some(stream) = stream.as_mut() {
                stream.rows(&rows)?;
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

/// `(N rows in T ms)` on an interactive stderr.
fn summary(printer: &Printer, rows: usize, started: Instant) {
    if printer.interactive() {
        printer.summary(&format!(
            "({rows} rows in {} ms)",
            started.elapsed().as_millis()
        ));
    }
}

/// Where the data is and which engine reads it: the flags `query` and `check` share.
#[derive(Debug, Clone, Default)]
pub(crate) struct EngineOptions {
    pub source: Option<String>,
    pub engine: Option<EngineKind>,
    pub cache_dir: Option<PathBuf>,
    pub athena: AthenaArgs,
    pub reuse_minutes: Option<i32>,
    /// With an `s3://` source: use the existing mirror as is.
    pub offline: bool,
    /// Embedded engine: refuse tables holding values Athena would refuse.
    pub strict: bool,
}

impl EngineOptions {
    /// `--source`, else `source` from the settings.
    pub fn source(&self, settings: &Settings) -> Option<String> {
        self.source.clone().or_else(|| settings.source.clone())
    }

    /// `--engine`, else the settings' engine, else the embedded one.
    pub fn kind(&self, settings: &Settings) -> EngineKind {
        self.engine.or(settings.engine).unwrap_or(EngineKind::Local)
    }
}

/// The engine chosen by the flags and settings (embedded by default), and whether a mirror of an
/// `s3://` source was left incomplete.
pub(crate) async fn open_engine(
    opts: &EngineOptions,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<(Box<dyn QueryEngine>, bool)> {
    Ok(match opts.kind(settings) {
        EngineKind::Local => {
            let (engine, incomplete) = local_engine(opts, settings, printer).await?;
            (Box::new(engine), incomplete)
        }
        EngineKind::Athena => (
            Box::new(athena_engine(opts, settings, printer).await?),
            false,
        ),
    })
}

async fn athena_engine(
    opts: &EngineOptions,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<AthenaEngine> {
    let config = crate::aws::sdk_config(&settings.aws, printer).await?;
    Ok(AthenaEngine::new(
        &config,
        opts.athena.options(settings, opts.reuse_minutes),
    ))
}

/// The embedded engine over `--source`: a local directory, or `s3://bucket/prefix`, mirrored
/// first (or used as already mirrored with `--offline`). The flag tells whether some objects
/// could not be mirrored (their previous copy, if any, is queried).
async fn local_engine(
    args: &EngineOptions,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<(LocalEngine, bool)> {
    let source = args.source(settings).context(
        "no metadata source: pass --source DIR (a local copy of <MetadataAndBackupS3Path>) or --source s3://bucket/prefix, or set `source` in cs-cmdb.toml",
    )?;
    let cache_root = settings.cache_root(args.cache_dir.clone());
    let mut incomplete = false;
    let dir = if source.starts_with("s3://") {
        let path: S3Path = source
            .parse()
            .with_context(|| format!("invalid --source `{source}`"))?;
        let dir = crate::mirror::mirror_dir(&cache_root, &path);
        if args.offline {
            crate::mirror::require_mirror(&dir, &path)?;
        } else {
            let config = crate::aws::sdk_config(&settings.aws, printer).await?;
            let report = crate::mirror::sync(
                &config,
                &path,
                &dir,
                crate::bucket::list::DEFAULT_CONCURRENCY,
                printer,
            )
            .await
            .with_context(|| {
                format!("cannot mirror {source} (pass --offline to query the last mirror as is)")
            })?;
            printer.summary(&crate::mirror::summary(&path, &report));
            incomplete = report.stats.failed > 0;
        }
        dir
    } else {
        PathBuf::from(&source)
    };
    Ok((
        LocalEngine::new(&dir, &cache_root, crate::time::now()?)?
            .strict(args.strict)
            .reporter(std::sync::Arc::new(printer.clone())),
        incomplete,
    ))
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
