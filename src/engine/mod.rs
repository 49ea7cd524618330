//! Query engines behind one trait: SQL text and bound parameters in, rows ([`ResultSet`]) out.

pub mod athena;
pub mod local;
pub mod readonly;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use futures::future::BoxFuture;

use crate::aws::AwsSettings;
use crate::bucket::S3Path;
use crate::engine::athena::{AthenaEngine, AthenaOptions};
use crate::engine::local::LocalEngine;
use crate::reporter::Reporter;
use crate::rows::ResultSet;

/// Which query engine runs the SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// The embedded engine (DataFusion) over a local metadata tree: no AWS account needed.
    Local,
    /// Amazon Athena over the shared bucket.
    Athena,
}

/// A bound query parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl fmt::Display for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Param::Str(s) => write!(f, "{s}"),
            Param::Int(i) => write!(f, "{i}"),
            Param::Float(x) => write!(f, "{x}"),
            Param::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// A statement and the values bound to its `?` placeholders, in order.
pub type Statement = (String, Vec<Param>);

/// A source file some of whose lines could not be read (the embedded engine skips a malformed
/// line, and reads NULL for a value Athena fails the query on): the gate must not lose the
/// deployment they describe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// The table, e.g. `clonesquad_discovery`.
    pub table: String,
    /// The file, as shown to the user.
    pub path: String,
    /// `accountid`, `region`, `groupname` from the file's partition folders, when it has them.
    pub partition: Option<(String, String, String)>,
    /// How many lines or values could not be read.
    pub count: u32,
    /// The first of them, `N: why` (untrusted parts escaped), when kept as a sample.
    pub first: Option<String>,
}

/// A query engine: SQL text with positional `?` parameters in, a result set out.
pub trait QueryEngine: Send + Sync {
    /// The files with unreadable lines among the tables the queries run so far have read (Athena
    /// fails a query on them instead: nothing to list).
    fn unreadable(&self) -> Vec<Unreadable> {
        Vec::new()
    }

    /// The source files the tables read so far left out (symbolic links out of the tree,
    /// FIFOs, folders where a file is expected...), one message each, as reported.
    fn skipped(&self) -> Vec<String> {
        Vec::new()
    }

    /// A short name for messages (`local`, `athena`).
    fn name(&self) -> &'static str;

    /// Run one statement; `params` bind the `?` placeholders in order.
    fn run<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [Param],
    ) -> BoxFuture<'a, anyhow::Result<ResultSet>>;

    /// Say which statements are about to run (a command running several), so that an engine
    /// loading only the columns a query reads loads each table once with the columns they all
    /// read. Athena reads its own way: nothing to do.
    fn expect<'a>(&'a self, _statements: &'a [Statement]) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}

/// Where the metadata is and which engine reads it, resolved from flags and settings.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    pub kind: EngineKind,
    /// A local copy of `<MetadataAndBackupS3Path>` (or its `metadata/` folder), or
    /// `s3://bucket/prefix`, mirrored first. The embedded engine needs one.
    pub source: Option<String>,
    /// Where the columnar cache and the mirrors go.
    pub cache_root: PathBuf,
    pub athena: AthenaOptions,
    /// With an `s3://` source: query the existing mirror as is.
    pub offline: bool,
    /// Embedded engine: refuse tables holding values Athena would refuse or read differently.
    pub strict: bool,
    /// Embedded engine: the Organization snapshot the `org_*` tables read (empty without).
    pub org_dir: Option<PathBuf>,
    /// The largest object the mirror downloads (`s3://` source), and the largest file the
    /// embedded engine reads from a plain directory.
    pub max_object_bytes: u64,
    /// Embedded engine: the longest line read; a longer one is a bad line, never parsed.
    pub max_line_bytes: u64,
}

/// One of the engines, opened.
pub enum Engine {
    Local(Box<LocalEngine>),
    Athena(AthenaEngine),
}

impl QueryEngine for Engine {
    fn name(&self) -> &'static str {
        match self {
            Engine::Local(e) => e.name(),
            Engine::Athena(e) => e.name(),
        }
    }

    fn unreadable(&self) -> Vec<Unreadable> {
        match self {
            Engine::Local(e) => e.unreadable(),
            Engine::Athena(e) => e.unreadable(),
        }
    }

    fn skipped(&self) -> Vec<String> {
        match self {
            Engine::Local(e) => e.skipped(),
            Engine::Athena(e) => e.skipped(),
        }
    }

    fn run<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [Param],
    ) -> BoxFuture<'a, anyhow::Result<ResultSet>> {
        match self {
            Engine::Local(e) => e.run(sql, params),
            Engine::Athena(e) => e.run(sql, params),
        }
    }

    fn expect<'a>(&'a self, statements: &'a [Statement]) -> BoxFuture<'a, ()> {
        match self {
            Engine::Local(e) => QueryEngine::expect(e.as_ref(), statements),
            Engine::Athena(e) => e.expect(statements),
        }
    }
}

/// An opened engine.
pub struct Opened {
    pub engine: Engine,
    /// Some objects of an `s3://` source could not be mirrored: their previous copy, if any, is
    /// what the engine reads.
    pub mirror_incomplete: bool,
    /// Keys of an `s3://` source the mirror refused (unsafe paths): files the engine never sees.
    pub mirror_skipped: usize,
    /// The local tree the embedded engine reads: the `--source` directory, or the mirror of an
    /// `s3://` source (which holds the latest backups too). `None` on Athena.
    pub tree: Option<PathBuf>,
}

/// Open the engine `opts` name: Athena, or the embedded engine over a local directory or over
/// the mirror of an `s3://` source (brought up to date first, unless `offline`). What the
/// loader and the mirror find on the way, and the mirror's summary, go to `reporter`.
pub async fn open(
    opts: &OpenOptions,
    aws: &AwsSettings,
    reporter: Arc<dyn Reporter>,
) -> anyhow::Result<Opened> {
    if opts.kind == EngineKind::Athena {
        let config = crate::aws::sdk_config(aws, reporter.as_ref()).await?;
        return Ok(Opened {
            engine: Engine::Athena(AthenaEngine::new(&config, opts.athena.clone())),
            mirror_incomplete: false,
            mirror_skipped: 0,
            tree: None,
        });
    }
    let source = opts.source.as_deref().context(
        "no metadata source: pass --source DIR (a local copy of <MetadataAndBackupS3Path>) or --source s3://bucket/prefix, or set `source` in cs-cmdb.toml",
    )?;
    let mut mirror_incomplete = false;
    let mut mirror_skipped = 0;
    let dir = if source.starts_with("s3://") {
        let path: S3Path = source
            .parse()
            .with_context(|| format!("invalid --source `{source}`"))?;
        let dir = crate::mirror::mirror_dir(&opts.cache_root, &path);
        if opts.offline {
            crate::mirror::require_mirror(&dir, &path)?;
        } else {
            let config = crate::aws::sdk_config(aws, reporter.as_ref()).await?;
            let concurrency = crate::bucket::list::DEFAULT_CONCURRENCY;
            let report = crate::mirror::sync(
                &config,
                &path,
                &dir,
                crate::mirror::Limits {
                    concurrency,
                    max_object_bytes: opts.max_object_bytes,
                },
                reporter.as_ref(),
            )
            .await
            .with_context(|| {
                format!("cannot mirror {source} (pass --offline to query the last mirror as is)")
            })?;
            reporter.notice(&crate::mirror::summary(&path, &report));
            mirror_incomplete = report.stats.failed > 0;
            mirror_skipped = report.stats.skipped;
        }
        dir
    } else {
        PathBuf::from(source)
    };
    let tree = Some(dir.clone());
    let engine = LocalEngine::new(&dir, &opts.cache_root, crate::time::now()?)?
        .strict(opts.strict)
        .org_snapshot(opts.org_dir.clone())
        .caps(crate::engine::local::cache::Caps {
            max_line_bytes: opts.max_line_bytes,
            max_file_bytes: opts.max_object_bytes,
        })
        .reporter(reporter);
    Ok(Opened {
        engine: Engine::Local(Box::new(engine)),
        mirror_incomplete,
        mirror_skipped,
        tree,
    })
}
