//! The embedded engine: DataFusion over the columnar cache of a local metadata tree.
//!
//! - [`cache`]: each table loaded once into Arrow IPC, rebuilt file by file as the tree changes;
//! - [`json`], [`tape`] and [`hive`]: CloneSquad's JSON read exactly as Athena's Hive JSON SerDe
//!   reads it, each line parsed in one pass;
//! - [`sqlrewrite`]: Trino's SQL (as Athena takes it) rewritten for DataFusion;
//! - [`trino`]: Trino's functions, as DataFusion UDFs.

pub mod cache;
pub mod hive;
pub mod json;
pub mod sqlrewrite;
pub mod tape;
pub mod trino;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::ParamValues;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::scalar::ScalarValue;
use futures::future::BoxFuture;

use crate::bucket::layout;
use crate::catalog::ddl::{self, Base, TableDef};
use crate::engine::local::hive::FileIssues;
use crate::engine::{Param, QueryEngine, Unreadable};
use crate::hash::fnv1a;
use crate::reporter::{Reporter, Silent};
use crate::rows::{Column, ColumnType, ResultSet, Value};

/// How many files with issues are listed per table before the rest are only counted.
const FILES_SHOWN: usize = 10;

/// A table as this engine last brought it up to date, and the columns whose issues it reported.
#[derive(Default)]
struct TableState {
    loaded: Option<Arc<cache::Loaded>>,
    /// Columns whose issues were reported (with the whole lines' issues, once).
    reported: Option<cache::Columns>,
}

/// A table's state, shared by the queries of one engine (run side by side by `report`).
type Ready = Arc<tokio::sync::Mutex<TableState>>;

/// Per table, the columns read (indices in its schema; `None`: every column).
type ColumnsRead = HashMap<String, Option<BTreeSet<usize>>>;

/// A statement planned over empty tables ([`LocalEngine::plan`]).
struct Planned {
    ctx: SessionContext,
    /// The statement as rewritten for DataFusion, and whether that is the text as written.
    sql: String,
    same_text: bool,
    /// The tables it names.
    tables: BTreeSet<String>,
    read: ColumnsRead,
}

/// A table ready for one query.
struct Opened {
    loaded: Arc<cache::Loaded>,
    /// Its data files, opened before another query of the engine may rebuild them.
    data: Vec<cache::DataFile>,
    /// Malformed lines and values Athena would refuse in the columns the query reads.
    issues: u64,
}

/// DataFusion over `<root>/<table folder>/accountid=*/region=*/groupname=*/`.
pub struct LocalEngine {
    root: PathBuf,
    /// The mirror directory when the source is a mirror (`cs-cmdb mirror`): its manifest says
    /// what changed, so no file is checked one by one.
    mirror: Option<PathBuf>,
    cache_dir: PathBuf,
    tables: Vec<TableDef>,
    now: DateTime<Utc>,
    /// Refuse to answer when a table read holds a value Athena would refuse (`--strict`).
    strict: bool,
    /// Where what Athena would refuse is reported.
    reporter: Arc<dyn Reporter>,
    /// The folder of the Organization snapshot the `org_*` tables read (empty tables without).
    org_root: Option<PathBuf>,
    /// The longest line and the largest file read.
    caps: cache::Caps,
    /// The tables already brought up to date by this engine, with what was reported: a command
    /// that runs several queries (`report`, `check`) refreshes a table again only for columns
    /// the cache does not hold yet, and reports each issue once.
    ready: std::sync::Mutex<HashMap<String, Ready>>,
    /// Per table, the columns the statements said to come read ([`QueryEngine::expect`]).
    expected: std::sync::Mutex<ColumnsRead>,
    /// Per table read so far, its files with unreadable lines (the last load of each table).
    unreadable: std::sync::Mutex<BTreeMap<String, Vec<Unreadable>>>,
    /// Per table read so far, what its listing left out (the last load of each table).
    skipped: std::sync::Mutex<BTreeMap<String, Vec<String>>>,
}

impl LocalEngine {
    /// `source` is a copy of `<MetadataAndBackupS3Path>` (holding `metadata/`) or its `metadata/`
    /// folder itself. The cache goes below `cache_root`, keyed by the source's path.
    pub fn new(source: &Path, cache_root: &Path, now: DateTime<Utc>) -> anyhow::Result<Self> {
        let tables = ddl::all_tables()?;
        if !source.is_dir() {
            bail!(
                "metadata source {} is not a directory: pass --source with a local copy of <MetadataAndBackupS3Path>",
                source.display()
            );
        }
        let root = layout::metadata_dir(source);
        let has_table = tables
            .iter()
            .filter(|t| t.base == Base::Metadata)
            .any(|t| layout::table_dir(&root, &t.folder).is_dir());
        if !has_table {
            bail!(
                "no CloneSquad metadata under {}: expected {}/{}/{}/ (a copy of <MetadataAndBackupS3Path>)",
                source.display(),
                root.display(),
                layout::Table::Discovery.folder(),
                layout::Partition::new("<id>", "<region>", "<group>").folder()
            );
        }
        let canonical = root.canonicalize().unwrap_or_else(|_| root.clone());
        let label: String = canonical
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .unwrap_or("root")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(40)
            .collect();
        let key = format!(
            "{label}-{:016x}",
            fnv1a(canonical.as_os_str().as_encoded_bytes())
        );
        let mirror = root
            .parent()
            .filter(|dir| root.ends_with(layout::METADATA) && crate::bucket::manifest::exists(dir))
            .map(Path::to_path_buf);
        Ok(Self {
            root,
            mirror,
            cache_dir: cache_root.join("local").join(key),
            tables,
            now,
            strict: false,
            reporter: Arc::new(Silent),
            org_root: None,
            caps: cache::Caps::default(),
            ready: std::sync::Mutex::default(),
            expected: std::sync::Mutex::default(),
            unreadable: Default::default(),
            skipped: Default::default(),
        })
    }

    /// Read the `org_*` tables from this Organization snapshot folder (`cs-cmdb org snapshot`);
    /// without one they are empty.
    pub fn org_snapshot(mut self, dir: Option<PathBuf>) -> Self {
        self.org_root = dir;
        self
    }

    /// Read no line longer, and no file of a plain directory larger, than `caps` say.
    pub fn caps(mut self, caps: cache::Caps) -> Self {
        self.caps = caps;
        self
    }

    /// The folder a table's files are in, if it has one.
    fn root_of(&self, def: &TableDef) -> Option<PathBuf> {
        match def.base {
            Base::Metadata => Some(self.root.clone()),
            Base::Org => self.org_root.clone(),
        }
    }

    /// With `strict`, a query fails (before running) when a table it reads holds a malformed
    /// line or a value Athena would fail on or read differently.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Report malformed lines and values Athena would refuse or read differently here (once
    /// per file, on every query reading the table); by default they are only counted.
    pub fn reporter(mut self, reporter: Arc<dyn Reporter>) -> Self {
        self.reporter = reporter;
        self
    }

    fn table(&self, name: &str) -> Option<&TableDef> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// The Arrow type of `table.path...`, for the UNNEST rewrite.
    fn column_type(&self, table: &str, path: &[String]) -> Option<DataType> {
        let schema = self.table(table)?.arrow_schema();
        let (first, rest) = path.split_first()?;
        let mut ty = schema.field_with_name(first).ok()?.data_type().clone();
        for name in rest {
            let DataType::Struct(fields) = &ty else {
                return None;
            };
            ty = fields
                .iter()
                .find(|f| f.name() == name)?
                .data_type()
                .clone();
        }
        Some(ty)
    }

    /// Bring the columns `wanted` of one table up to date (once per engine, unless a later query
    /// reads columns the cache does not hold) and report what Athena would refuse in them, each
    /// issue once per engine.
    /// The first load reads the columns `expected` too; a second one (a query of the same engine
    /// reading a column neither loaded nor expected) reads them all, so that no run parses a
    /// table more than twice.
    async fn ready(
        &self,
        def: &TableDef,
        wanted: &cache::Columns,
        expected: &cache::Columns,
        freshness: Arc<cache::Freshness>,
        cell: Ready,
    ) -> anyhow::Result<Opened> {
        let mut state = cell.lock().await;
        let loaded = match &state.loaded {
            Some(loaded) if loaded.columns.covers(wanted) => loaded.clone(),
            before => {
                let load = match before {
                    None => wanted.union(expected),
                    Some(_) => cache::Columns::all(def),
                };
                let loaded = self.refresh(def, &load, freshness).await?;
                state.loaded = Some(loaded.clone());
                loaded
            }
        };
        let data = loaded
            .data
            .iter()
            .map(|path| cache::DataFile::open(path))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let root = self.root_of(def).unwrap_or_default();
        let names = |columns: &cache::Columns| -> Vec<String> {
            columns
                .indices()
                .iter()
                .map(|&i| loaded.schema.field(i).name().clone())
                .collect()
        };
        let read = names(wanted);
        let before = state.reported.as_ref().map(names).unwrap_or_default();
        let new: Vec<&String> = read.iter().filter(|c| !before.contains(c)).collect();
        let first = state.reported.is_none();
        if first || !new.is_empty() {
            report_issues(def, &root, &loaded, self.reporter.as_ref(), first, &|c| {
                new.iter().any(|n| n.as_str() == c)
            });
            let reported = match state.reported.take() {
                Some(before) => before.union(wanted),
                None => wanted.clone(),
            };
            let names = names(&reported);
            self.remember_unreadable(def, &root, &loaded, &|c| names.iter().any(|n| n == c));
            state.reported = Some(reported);
        }
        let issues = loaded
            .files_with_issues()
            .map(|f| {
                u64::from(
                    f.issues
                        .within(true, |c| read.iter().any(|n| n == c))
                        .total(),
                )
            })
            .sum();
        Ok(Opened {
            loaded,
            data,
            issues,
        })
    }

    /// Bring one table up to date, with at least the columns `wanted` (on a blocking thread).
    async fn refresh(
        &self,
        def: &TableDef,
        wanted: &cache::Columns,
        freshness: Arc<cache::Freshness>,
    ) -> anyhow::Result<Arc<cache::Loaded>> {
        let root = self.root_of(def).unwrap_or_default();
        let (tree, cache_dir, owned, columns, reporter, caps) = (
            root.clone(),
            self.cache_dir.clone(),
            def.clone(),
            wanted.clone(),
            self.reporter.clone(),
            self.caps,
        );
        let loaded = tokio::task::spawn_blocking(move || {
            cache::refresh(
                &tree,
                &cache_dir,
                &owned,
                &columns,
                &freshness,
                caps,
                reporter.as_ref(),
            )
        })
        .await
        .context("the loader stopped")??;
        if loaded.listed {
            let folder = layout::table_dir(&root, &def.folder);
            let skipped: Vec<String> = loaded
                .skipped
                .iter()
                .map(|why| format!("{}: {}/{why}", def.name, folder.display()))
                .collect();
            for line in &skipped {
                self.reporter.warn(line);
            }
            if let Ok(mut map) = self.skipped.lock() {
                map.insert(def.name.clone(), skipped);
            }
        }
        tracing::info!(
            table = %def.name,
            rows = loaded.rows,
            files = loaded.file_count,
            parsed = loaded.parsed,
            listed = loaded.listed,
            folders_read = loaded.folders_read,
            columns = loaded.columns.indices().len(),
            "table ready"
        );
        Ok(Arc::new(loaded))
    }

    /// Keep the files of `def` whose lines could not be read (malformed, or a value Athena fails
    /// on in the columns `read`), for [`QueryEngine::unreadable`].
    fn remember_unreadable(
        &self,
        def: &TableDef,
        root: &Path,
        loaded: &cache::Loaded,
        read: &dyn Fn(&str) -> bool,
    ) {
        let folder = layout::table_dir(root, &def.folder);
        let files = loaded
            .files_with_issues()
            .filter_map(|file| {
                let issues = file.issues.within(true, read);
                let count = issues.malformed.saturating_add(issues.athena_fails);
                if count == 0 {
                    return None;
                }
                let first = issues
                    .samples
                    .iter()
                    .find(|i| i.kind != hive::IssueKind::AthenaReadsOtherwise)
                    .map(ToString::to_string);
                let mut values = file
                    .path
                    .split('/')
                    .filter_map(|s| s.split_once('='))
                    .map(|(_, v)| v.to_string());
                let partition = match (def.base, values.next(), values.next(), values.next()) {
                    (Base::Metadata, Some(a), Some(r), Some(g)) => Some((a, r, g)),
                    _ => None,
                };
                Some(Unreadable {
                    table: def.name.clone(),
                    path: crate::text::escape(&folder.join(&file.path).to_string_lossy())
                        .into_owned(),
                    partition,
                    count,
                    first,
                })
            })
            .collect();
        if let Ok(mut map) = self.unreadable.lock() {
            map.insert(def.name.clone(), files);
        }
    }

    async fn execute(&self, sql: &str, params: &[Param]) -> anyhow::Result<ResultSet> {
        let mut answer = self.answer(sql, params).await?;
        let mut rows = Vec::new();
        while let Some(mut more) = answer.next_rows().await? {
            rows.append(&mut more);
        }
        Ok(ResultSet {
            columns: answer.columns,
            rows,
        })
    }

    /// The answer to one statement, to read batch by batch as the plan produces it: a large
    /// result is never all in memory as rows (`query --format csv|json`).
    pub async fn answer(&self, sql: &str, params: &[Param]) -> anyhow::Result<Answer> {
        match self.answer_once(sql, params).await {
            // A cache file damaged inside (its end intact, so it passed as current; the tables'
            // files are read when the plan is made, before any row): forget the cache, say so,
            // and answer from the source once more.
            Err(err) if format!("{err:#}").contains(cache::DAMAGED) => {
                self.reporter.warn(&format!(
                    "{err:#}; the cache in {} is rebuilt from the source",
                    self.cache_dir.display()
                ));
                cache::forget(&self.cache_dir)?;
                self.ready.lock().unwrap_or_else(|e| e.into_inner()).clear();
                self.answer_once(sql, params).await
            }
            other => other,
        }
    }

    /// The statement `sql` planned over empty tables: its session (every table in the catalog,
    /// empty but with its columns, so that SHOW TABLES, DESCRIBE and information_schema.columns
    /// see them without loading any data), and the columns of each table it reads.
    async fn plan(&self, sql: &str, params: &[Param]) -> anyhow::Result<Planned> {
        crate::engine::readonly::ensure_read_only(sql)?;
        crate::engine::readonly::ensure_finite(params)?;
        let prepared = sqlrewrite::prepare(sql, &|t, p| self.column_type(t, p))
            .map_err(|e| anyhow::anyhow!("SQL error: {e}"))?;
        if prepared.placeholders != params.len() {
            bail!(
                "the SQL has {} `?` placeholder(s) but {} value(s) are bound; declare parameters with `-- param:` header lines and pass them with --param",
                prepared.placeholders,
                params.len()
            );
        }
        let config = SessionConfig::new()
            .with_information_schema(true)
            .set_bool("datafusion.sql_parser.collect_spans", true);
        let ctx = SessionContext::new_with_config(config);
        trino::register(&ctx, self.now)?;
        for def in &self.tables {
            ctx.register_table(
                def.name.as_str(),
                Arc::new(datafusion::datasource::empty::EmptyTable::new(
                    def.arrow_schema(),
                )),
            )?;
        }
        let planned = Planned {
            ctx,
            same_text: prepared.sql == sql,
            sql: prepared.sql,
            tables: prepared.tables,
            read: HashMap::new(),
        };
        let read = columns_read(
            &self
                .frame(&planned, params)
                .await?
                .into_optimized_plan()
                .map_err(|e| self.sql_error(&e, planned.same_text))?,
        )?;
        Ok(Planned { read, ..planned })
    }

    /// The statement of `planned` over the tables registered in its session now.
    async fn frame(
        &self,
        planned: &Planned,
        params: &[Param],
    ) -> anyhow::Result<datafusion::dataframe::DataFrame> {
        let same_text = planned.same_text;
        let frame = planned
            .ctx
            .sql(&planned.sql)
            .await
            .map_err(|e| self.sql_error(&e, same_text))?;
        if params.is_empty() {
            return Ok(frame);
        }
        frame
            .with_param_values(ParamValues::List(
                params.iter().map(|p| to_scalar(p).into()).collect(),
            ))
            .map_err(|e| self.sql_error(&e, same_text))
    }

    fn sql_error(&self, err: &DataFusionError, same_text: bool) -> anyhow::Error {
        let names: Vec<String> = self.tables.iter().map(|t| t.name.clone()).collect();
        sql_error(err, same_text, &names)
    }

    /// Say which statements are about to run (a command running several side by side, such as
    /// `report`): the first to load a table loads the columns all of them read, so that the
    /// table is parsed once, not once more for each query reading a column not loaded yet.
    /// A statement that does not plan is left to fail when it runs.
    async fn plan_ahead(&self, statements: &[crate::engine::Statement]) {
        for (sql, params) in statements {
            match self.plan(sql, params).await {
                Ok(planned) => {
                    let mut expected = self.expected.lock().unwrap_or_else(|e| e.into_inner());
                    for (table, read) in planned.read {
                        add_read(&mut expected, &table, read);
                    }
                }
                Err(err) => tracing::debug!(error = %format!("{err:#}"), "not planned ahead"),
            }
        }
    }

    async fn answer_once(&self, sql: &str, params: &[Param]) -> anyhow::Result<Answer> {
        let planned = self.plan(sql, params).await?;
        let (ctx, same_text, read) = (&planned.ctx, planned.same_text, &planned.read);
        let expected = self
            .expected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        // Bring every table the query reads up to date, side by side, only the columns it
        // reads; a table with no folder (no Organization snapshot) stays empty.
        let defs: Vec<&TableDef> = planned
            .tables
            .iter()
            .filter_map(|name| self.table(name))
            .filter(|def| self.root_of(def).is_some())
            .collect();
        // The mirror's manifest proves the CloneSquad tables of a mirror current; the
        // Organization snapshot's tables are proved by their stamps.
        let mirrored = Arc::new(
            match self.mirror.as_deref().and_then(cache::MirrorSource::open) {
                Some(mirror) => cache::Freshness::Mirror(Arc::new(mirror)),
                None => cache::Freshness::Stamps,
            },
        );
        let stamps = Arc::new(cache::Freshness::Stamps);
        // Each table once per engine, even when queries run side by side (`report`): the first
        // query to need it refreshes it and reports its issues, the others wait for that (and
        // refresh it again only to read columns it does not hold).
        let cells: Vec<Ready> = {
            let mut memo = self.ready.lock().unwrap_or_else(|e| e.into_inner());
            defs.iter()
                .map(|def| memo.entry(def.name.clone()).or_default().clone())
                .collect()
        };
        let refreshes = defs.iter().zip(cells).map(|(def, cell)| {
            let freshness = match def.base {
                Base::Metadata => mirrored.clone(),
                Base::Org => stamps.clone(),
            };
            let columns = |read: Option<&Option<BTreeSet<usize>>>| match read {
                Some(Some(indices)) => cache::Columns::of(def, indices.iter().copied()),
                Some(None) => cache::Columns::all(def),
                None => cache::Columns::of(def, []),
            };
            let wanted = columns(read.get(def.name.as_str()));
            let expected = columns(expected.get(def.name.as_str()));
            async move { self.ready(def, &wanted, &expected, freshness, cell).await }
        });
        let tables: Vec<(&TableDef, Opened)> = defs
            .iter()
            .copied()
            .zip(futures::future::try_join_all(refreshes).await?)
            .collect();
        let mut refused = Vec::new();
        for (def, opened) in tables {
            let Opened {
                loaded,
                data,
                issues,
            } = opened;
            if issues > 0 {
                refused.push(format!("{} ({issues})", def.name));
            }
            ctx.deregister_table(def.name.as_str())?;
            ctx.register_table(
                def.name.as_str(),
                Arc::new(CachedTable {
                    schema: loaded.schema.clone(),
                    columns: loaded.columns.clone(),
                    data,
                }),
            )?;
        }
        if self.strict && !refused.is_empty() {
            bail!(
                "--strict: {} hold malformed lines or values Athena would refuse or read differently (listed above); fix those files, or run without --strict",
                refused.join(", ")
            );
        }
        let frame = self.frame(&planned, params).await?;
        let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
        let batches = frame
            .execute_stream()
            .await
            .map_err(|e| self.sql_error(&e, same_text))?;
        Ok(Answer {
            columns: columns_of(&schema),
            batches,
            same_text,
            tables: self.tables.iter().map(|t| t.name.clone()).collect(),
        })
    }
}

/// See [`LocalEngine::answer`].
pub struct Answer {
    pub columns: Vec<Column>,
    batches: datafusion::physical_plan::SendableRecordBatchStream,
    /// For error messages: whether the SQL ran as written, and the tables there are.
    same_text: bool,
    tables: Vec<String>,
}

impl Answer {
    /// The rows of the next batch; `None` at the end.
    pub async fn next_rows(&mut self) -> anyhow::Result<Option<Vec<Vec<Value>>>> {
        use futures::StreamExt;
        match self.batches.next().await {
            None => Ok(None),
            Some(Err(e)) => Err(sql_error(&e, self.same_text, &self.tables)),
            Some(Ok(batch)) => rows_of(&batch).map(Some),
        }
    }
}

impl QueryEngine for LocalEngine {
    fn name(&self) -> &'static str {
        "local"
    }

    fn skipped(&self) -> Vec<String> {
        self.skipped
            .lock()
            .map(|map| map.values().flatten().cloned().collect())
            .unwrap_or_default()
    }

    fn unreadable(&self) -> Vec<Unreadable> {
        self.unreadable
            .lock()
            .map(|map| map.values().flatten().cloned().collect())
            .unwrap_or_default()
    }

    fn run<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [Param],
    ) -> BoxFuture<'a, anyhow::Result<ResultSet>> {
        Box::pin(self.execute(sql, params))
    }

    fn expect<'a>(&'a self, statements: &'a [crate::engine::Statement]) -> BoxFuture<'a, ()> {
        Box::pin(self.plan_ahead(statements))
    }
}

/// Say, once per file, what Athena would refuse or read differently in the columns `read` of a
/// table (and, with `whole_lines`, in whole lines: malformed, text after the object).
fn report_issues(
    def: &TableDef,
    root: &Path,
    loaded: &cache::Loaded,
    reporter: &dyn Reporter,
    whole_lines: bool,
    read: &dyn Fn(&str) -> bool,
) {
    let files: Vec<(&cache::FileEntry, FileIssues)> = loaded
        .files_with_issues()
        .map(|f| (f, f.issues.within(whole_lines, read)))
        .filter(|(_, issues)| !issues.is_empty())
        .collect();
    if files.is_empty() {
        return;
    }
    let sum = |count: fn(&FileIssues) -> u32| -> u64 {
        files
            .iter()
            .map(|(_, issues)| u64::from(count(issues)))
            .sum()
    };
    let malformed = sum(|i| i.malformed);
    let fails = sum(|i| i.athena_fails);
    let otherwise = sum(|i| i.athena_reads_otherwise);
    let folder = layout::table_dir(root, &def.folder);
    reporter.warn(&format!(
        "{}: {} file(s) with {malformed} malformed line(s) (skipped here, they fail an Athena query), {fails} value(s) Athena fails the query on, {otherwise} value(s) Athena reads differently",
        def.name,
        files.len(),
    ));
    for (file, issues) in files.iter().take(FILES_SHOWN) {
        let path = folder.join(&file.path);
        let path = path.to_string_lossy();
        let more = issues.total().saturating_sub(1);
        let more = if more > 0 {
            format!(" (and {more} more in this file)")
        } else {
            String::new()
        };
        if let Some(first) = issues.samples.first() {
            reporter.warn(&format!("  {path}:{first}{more}"));
        }
    }
    if files.len() > FILES_SHOWN {
        reporter.warn(&format!(
            "  ... and {} more file(s)",
            files.len() - FILES_SHOWN
        ));
    }
}

/// The engine's message, with the line and column when they refer to the user's own text.
fn sql_error(err: &DataFusionError, same_text: bool, tables: &[String]) -> anyhow::Error {
    let message = user_message(&err.strip_backtrace(), tables);
    let position = err
        .diagnostic()
        .and_then(|d| d.span)
        .filter(|span| same_text && span.start.line > 0)
        .map(|span| {
            format!(
                " (at line {}, column {})",
                span.start.line, span.start.column
            )
        })
        .unwrap_or_default();
    anyhow::anyhow!("SQL error{position}: {message}")
}

/// The engine's message in the user's terms: table names without DataFusion's catalog prefix,
/// a "did you mean" for an unknown table, and no list of every column after a "did you mean".
fn user_message(message: &str, tables: &[String]) -> String {
    let mut message = message
        .replace("datafusion.public.", "")
        .replace("Error during planning: ", "");
    if let Some(at) = message.find("\nValid fields are")
        && message[..at].contains("Did you mean")
    {
        message.truncate(at);
    }
    if let Some(name) = message
        .strip_prefix("table '")
        .and_then(|rest| rest.strip_suffix("' not found"))
    {
        let hint = crate::text::closest(name, tables)
            .map(|close| format!("did you mean `{close}`? "))
            .unwrap_or_default();
        message = format!(
            "no table `{name}`; {hint}the tables: {} (see `cs-cmdb tables`)",
            tables.join(", ")
        );
    }
    message
}

fn to_scalar(param: &Param) -> ScalarValue {
    match param {
        Param::Str(s) => ScalarValue::Utf8(Some(s.clone())),
        Param::Int(i) => ScalarValue::Int64(Some(*i)),
        Param::Float(f) => ScalarValue::Float64(Some(*f)),
        Param::Bool(b) => ScalarValue::Boolean(Some(*b)),
    }
}

/// Per table the plan scans, the columns it reads (indices in the table's schema; `None`: all).
fn columns_read(plan: &LogicalPlan) -> anyhow::Result<ColumnsRead> {
    let mut read = ColumnsRead::new();
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            add_read(
                &mut read,
                scan.table_name.table(),
                scan.projection.as_ref().map(|p| p.iter().copied()),
            );
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(read)
}

/// Add to `read` that `table` is read: the columns at `indices` (`None`: every column).
fn add_read<I: IntoIterator<Item = usize>>(
    read: &mut ColumnsRead,
    table: &str,
    indices: Option<I>,
) {
    let entry = read
        .entry(table.to_string())
        .or_insert_with(|| Some(BTreeSet::new()));
    match (entry, indices) {
        (Some(columns), Some(indices)) => columns.extend(indices),
        (entry, _) => *entry = None,
    }
}

/// A table whose rows are in Arrow IPC cache files; only the projected columns are read.
#[derive(Debug)]
struct CachedTable {
    /// The table's schema (every column).
    schema: SchemaRef,
    /// The columns the data files hold, in this order.
    columns: cache::Columns,
    /// Its data files (segments), in order, opened.
    data: Vec<cache::DataFile>,
}

#[async_trait]
impl TableProvider for CachedTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let paths = self.data.clone();
        // The data files hold some columns of the table: the projection, in their order.
        let all: Vec<usize>;
        let wanted = match projection {
            Some(p) => p,
            None => {
                all = (0..self.schema.fields().len()).collect();
                &all
            }
        };
        let projection_owned = Some(
            wanted
                .iter()
                .map(|&i| {
                    self.columns.position(i).ok_or_else(|| {
                        DataFusionError::Internal(format!(
                            "column {} is not in the cache",
                            self.schema.field(i).name()
                        ))
                    })
                })
                .collect::<datafusion::error::Result<Vec<usize>>>()?,
        );
        let batches = tokio::task::spawn_blocking(move || {
            paths.iter().try_fold(Vec::new(), |mut all, file| {
                all.extend(file.read(projection_owned.clone())?);
                anyhow::Ok(all)
            })
        })
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))?
        .map_err(|e| DataFusionError::External(e.into()))?;
        let projected = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => self.schema.clone(),
        };
        // Spread the batches over two partitions so both cores work.
        let mut partitions = vec![Vec::new(), Vec::new()];
        for (i, batch) in batches.into_iter().enumerate() {
            partitions[i % 2].push(batch);
        }
        partitions.retain(|p| !p.is_empty());
        if partitions.is_empty() {
            partitions.push(Vec::new());
        }
        Ok(MemorySourceConfig::try_new_exec(
            &partitions,
            projected,
            None,
        )?)
    }
}

/// The typed columns of an Arrow schema.
fn columns_of(schema: &SchemaRef) -> Vec<Column> {
    schema
        .fields()
        .iter()
        .map(|f| Column::new(f.name().clone(), column_type(f.data_type())))
        .collect()
}

/// The typed rows of an Arrow batch.
fn rows_of(batch: &RecordBatch) -> anyhow::Result<Vec<Vec<Value>>> {
    let arrays = batch.columns();
    let mut rows = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let mut values = Vec::with_capacity(arrays.len());
        for array in arrays {
            values.push(cell(array, row)?);
        }
        rows.push(values);
    }
    Ok(rows)
}

fn column_type(ty: &DataType) -> ColumnType {
    match ty {
        DataType::Boolean => ColumnType::Boolean,
        t if t.is_integer() => ColumnType::Integer,
        t if t.is_floating()
            || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..)) =>
        {
            ColumnType::Float
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ColumnType::String,
        DataType::Timestamp(..) => ColumnType::Timestamp,
        DataType::Date32 | DataType::Date64 => ColumnType::Date,
        DataType::List(_)
        | DataType::LargeList(_)
        | DataType::FixedSizeList(..)
        | DataType::Struct(_)
        | DataType::Map(..) => ColumnType::Nested,
        _ => ColumnType::String,
    }
}

fn cell(array: &ArrayRef, row: usize) -> anyhow::Result<Value> {
    if array.is_null(row) {
        return Ok(Value::Null);
    }
    use datafusion::arrow::datatypes as t;
    Ok(match array.data_type() {
        DataType::Boolean => Value::Bool(array.as_boolean().value(row)),
        DataType::Int8 => Value::Int(array.as_primitive::<t::Int8Type>().value(row).into()),
        DataType::Int16 => Value::Int(array.as_primitive::<t::Int16Type>().value(row).into()),
        DataType::Int32 => Value::Int(array.as_primitive::<t::Int32Type>().value(row).into()),
        DataType::Int64 => Value::Int(array.as_primitive::<t::Int64Type>().value(row)),
        DataType::UInt8 => Value::Int(array.as_primitive::<t::UInt8Type>().value(row).into()),
        DataType::UInt16 => Value::Int(array.as_primitive::<t::UInt16Type>().value(row).into()),
        DataType::UInt32 => Value::Int(array.as_primitive::<t::UInt32Type>().value(row).into()),
        DataType::UInt64 => {
            let v = array.as_primitive::<t::UInt64Type>().value(row);
            i64::try_from(v).map_or(Value::Float(v as f64), Value::Int)
        }
        DataType::Float32 => Value::Float(array.as_primitive::<t::Float32Type>().value(row).into()),
        DataType::Float64 => Value::Float(array.as_primitive::<t::Float64Type>().value(row)),
        DataType::Decimal128(_, scale) => {
            // Integer arithmetic on unsigned counts (cardinality) widens to decimals.
            let raw = array.as_primitive::<t::Decimal128Type>().value(row);
            match (*scale, i64::try_from(raw)) {
                (0, Ok(i)) => Value::Int(i),
                _ => Value::Float(raw as f64 / 10f64.powi(i32::from(*scale))),
            }
        }
        DataType::Utf8 => Value::Str(array.as_string::<i32>().value(row).to_string()),
        DataType::LargeUtf8 => Value::Str(array.as_string::<i64>().value(row).to_string()),
        DataType::Utf8View => Value::Str(array.as_string_view().value(row).to_string()),
        DataType::Timestamp(unit, _) => {
            let raw = match unit {
                TimeUnit::Second => array.as_primitive::<t::TimestampSecondType>().value(row),
                TimeUnit::Millisecond => array
                    .as_primitive::<t::TimestampMillisecondType>()
                    .value(row),
                TimeUnit::Microsecond => array
                    .as_primitive::<t::TimestampMicrosecondType>()
                    .value(row),
                TimeUnit::Nanosecond => array
                    .as_primitive::<t::TimestampNanosecondType>()
                    .value(row),
            };
            let nanos = match unit {
                TimeUnit::Second => i128::from(raw) * 1_000_000_000,
                TimeUnit::Millisecond => i128::from(raw) * 1_000_000,
                TimeUnit::Microsecond => i128::from(raw) * 1_000,
                TimeUnit::Nanosecond => i128::from(raw),
            };
            let secs = i64::try_from(nanos.div_euclid(1_000_000_000)).unwrap_or(i64::MAX);
            let sub = u32::try_from(nanos.rem_euclid(1_000_000_000)).unwrap_or(0);
            DateTime::from_timestamp(secs, sub)
                .map_or(Value::Null, |d| Value::Timestamp(d.naive_utc()))
        }
        DataType::Date32 => {
            let days = array.as_primitive::<t::Date32Type>().value(row);
            chrono::NaiveDate::default()
                .checked_add_signed(chrono::Duration::days(days.into()))
                .map_or(Value::Null, Value::Date)
        }
        DataType::List(_)
        | DataType::LargeList(_)
        | DataType::FixedSizeList(..)
        | DataType::Struct(_)
        | DataType::Map(..) => Value::Json(nested_json(array, row)?),
        _ => Value::Str(display(array, row)?),
    })
}

fn display(array: &ArrayRef, row: usize) -> anyhow::Result<String> {
    let formatter = ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default())?;
    Ok(formatter.value(row).to_string())
}

/// A nested value as JSON: lists as arrays, structs as objects, maps as objects (keys as text).
fn nested_json(array: &ArrayRef, row: usize) -> anyhow::Result<serde_json::Value> {
    if array.is_null(row) {
        return Ok(serde_json::Value::Null);
    }
    Ok(match array.data_type() {
        DataType::List(_) => list_json(&array.as_list::<i32>().value(row))?,
        DataType::LargeList(_) => list_json(&array.as_list::<i64>().value(row))?,
        DataType::FixedSizeList(..) => list_json(&array.as_fixed_size_list().value(row))?,
        DataType::Struct(fields) => {
            let s = array.as_struct();
            let mut object = serde_json::Map::new();
            for (field, column) in fields.iter().zip(s.columns()) {
                object.insert(field.name().clone(), nested_json(column, row)?);
            }
            serde_json::Value::Object(object)
        }
        DataType::Map(..) => {
            let entries = array.as_map().value(row);
            let mut object = serde_json::Map::new();
            for i in 0..entries.len() {
                let key = cell(entries.column(0), i)?.display().unwrap_or_default();
                object.insert(key, nested_json(entries.column(1), i)?);
            }
            serde_json::Value::Object(object)
        }
        _ => cell(array, row)?.to_json(),
    })
}

fn list_json(values: &ArrayRef) -> anyhow::Result<serde_json::Value> {
    (0..values.len())
        .map(|i| nested_json(values, i))
        .collect::<anyhow::Result<Vec<_>>>()
        .map(serde_json::Value::Array)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A result larger than a batch comes batch by batch (`query --format csv|json` writes each
    /// as it comes), and the batches together are the whole answer, in order.
    #[tokio::test]
    async fn a_large_answer_comes_batch_by_batch() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        let spec = crate::sample::SampleSpec {
            deployments: 700,
            instances: 16,
            seed: 7,
            now: chrono::DateTime::parse_from_rfc3339("2026-11-26T09:00:00Z")
                .unwrap()
                .naive_utc(),
        };
        crate::sample::generate(&tree, &spec).unwrap();
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-26T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let engine = LocalEngine::new(&tree, &dir.path().join("cache"), now).unwrap();
        let sql =
            "SELECT instanceid, accountid FROM clonesquad_instances ORDER BY instanceid, accountid";
        let mut answer = engine.answer(sql, &[]).await.unwrap();
        assert_eq!(answer.columns.len(), 2);
        let mut batches = 0;
        let mut streamed = Vec::new();
        while let Some(mut rows) = answer.next_rows().await.unwrap() {
            batches += 1;
            streamed.append(&mut rows);
        }
        let count = engine
            .execute("SELECT count(*) FROM clonesquad_instances", &[])
            .await
            .unwrap();
        assert_eq!(count.rows, vec![vec![Value::Int(streamed.len() as i64)]]);
        assert!(
            streamed.len() > 8192,
            "{} rows: not above a batch",
            streamed.len()
        );
        assert!(batches > 1, "{} rows in one batch", streamed.len());
        let sorted = streamed.windows(2).all(|w| {
            (w[0][0].display(), w[0][1].display()) <= (w[1][0].display(), w[1][1].display())
        });
        assert!(sorted, "batches out of order");
        assert_eq!(engine.execute(sql, &[]).await.unwrap().rows, streamed);
    }

    /// The columns of `table` this engine's cache holds now, by name.
    async fn held(engine: &LocalEngine, table: &str) -> Vec<String> {
        let cell = engine.ready.lock().unwrap().get(table).cloned().unwrap();
        let state = cell.lock().await;
        let loaded = state.loaded.as_ref().unwrap();
        loaded
            .columns
            .indices()
            .iter()
            .map(|&i| loaded.schema.field(i).name().clone())
            .collect()
    }

    /// A query loads only the columns it reads; statements said ahead (`report`) load the
    /// columns they all read at once; without that, a second query reading a column not loaded
    /// loads every column, so that no run parses a table more than twice.
    #[tokio::test]
    async fn a_query_loads_the_columns_it_reads_or_those_said_ahead() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-26T09:00:00Z").unwrap();
        let spec = crate::sample::SampleSpec {
            deployments: 20,
            instances: 4,
            seed: 3,
            now: now.naive_utc(),
        };
        crate::sample::generate(&tree, &spec).unwrap();
        let now = now.with_timezone(&Utc);
        let (state, tags) = (
            "SELECT count(*) FROM clonesquad_instances WHERE state.name = 'running'",
            "SELECT count(*) FROM clonesquad_instances CROSS JOIN UNNEST(tags) AS t(k, v)",
        );
        let partitions = ["accountid", "region", "groupname"];

        let alone = LocalEngine::new(&tree, &dir.path().join("a"), now).unwrap();
        alone.execute(state, &[]).await.unwrap();
        let mut expect: Vec<&str> = vec!["state"];
        expect.extend(partitions);
        assert_eq!(held(&alone, "clonesquad_instances").await, expect);
        alone.execute(tags, &[]).await.unwrap();
        assert_eq!(held(&alone, "clonesquad_instances").await.len(), 51 + 3);

        let ahead = LocalEngine::new(&tree, &dir.path().join("b"), now).unwrap();
        ahead
            .plan_ahead(&[
                (state.to_string(), Vec::new()),
                (tags.to_string(), Vec::new()),
            ])
            .await;
        let counted = ahead.execute(state, &[]).await.unwrap();
        let mut expect: Vec<&str> = vec!["state", "tags"];
        expect.extend(partitions);
        assert_eq!(held(&ahead, "clonesquad_instances").await, expect);
        let data = |cache: &str| {
            let mut names: Vec<String> = std::fs::read_dir(dir.path().join(cache).join("local"))
                .unwrap()
                .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
                .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        let before = data("b");
        let unnested = ahead.execute(tags, &[]).await.unwrap();
        assert_eq!(data("b"), before, "nothing rebuilt");
        assert_eq!(counted.rows, alone.execute(state, &[]).await.unwrap().rows);
        assert_eq!(unnested.rows, alone.execute(tags, &[]).await.unwrap().rows);
    }

    #[test]
    fn messages_use_the_users_table_names() {
        let tables = vec!["clonesquad_instances".to_string(), "org_units".to_string()];
        assert_eq!(
            user_message(
                "Error during planning: table 'datafusion.public.clonesquad_instancs' not found",
                &tables
            ),
            "no table `clonesquad_instancs`; did you mean `clonesquad_instances`? the tables: clonesquad_instances, org_units (see `cs-cmdb tables`)"
        );
        assert_eq!(
            user_message(
                "Schema error: No field named x2. Did you mean 'clonesquad_instances.x'?\nValid fields are a, b.",
                &tables
            ),
            "Schema error: No field named x2. Did you mean 'clonesquad_instances.x'?"
        );
    }
}
