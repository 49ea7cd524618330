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

use std::borrow::Cow;
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
use crate::rows::{Column, ColumnType, Nested, Page, ResultSet, Value, ValueRef};

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
    /// Whether the statement runs as written (not rewritten for DataFusion).
    same_text: bool,
    /// The tables it names.
    tables: BTreeSet<String>,
    /// Its optimised plan, over the empty tables.
    plan: LogicalPlan,
    /// The empty table standing for each table in that plan.
    empty: Vec<(String, Arc<dyn TableProvider>)>,
    read: ColumnsRead,
}

impl Planned {
    /// The table whose empty stand-in `scan` reads, if it reads one.
    fn stand_in(
        &self,
        scan: &datafusion::logical_expr::TableScan,
    ) -> datafusion::error::Result<Option<&str>> {
        let provider = datafusion::datasource::source_as_provider(&scan.source)?;
        Ok(self
            .empty
            .iter()
            .find(|(_, empty)| Arc::ptr_eq(empty, &provider))
            .map(|(name, _)| name.as_str()))
    }
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
        let mut empty = Vec::with_capacity(self.tables.len());
        for def in &self.tables {
            let table: Arc<dyn TableProvider> = Arc::new(
                datafusion::datasource::empty::EmptyTable::new(def.arrow_schema()),
            );
            ctx.register_table(def.name.as_str(), table.clone())?;
            empty.push((def.name.clone(), table));
        }
        let same_text = prepared.sql == sql;
        let sql_error = |e: DataFusionError| self.sql_error(&e, same_text);
        let mut frame = ctx.sql(&prepared.sql).await.map_err(sql_error)?;
        if !params.is_empty() {
            frame = frame
                .with_param_values(ParamValues::List(
                    params.iter().map(|p| to_scalar(p).into()).collect(),
                ))
                .map_err(sql_error)?;
        }
        let plan = frame.into_optimized_plan().map_err(sql_error)?;
        Ok(Planned {
            read: columns_read(&plan)?,
            ctx,
            same_text,
            tables: prepared.tables,
            plan,
            empty,
        })
    }

    /// The plan of `planned` reading `tables` (name, provider) instead of the empty tables it
    /// was made over, ready to run. The optimised plan is kept as it is: no provider of ours
    /// takes filters or holds constraints, so optimising it over the real tables would give the
    /// same plan again.
    async fn physical_plan(
        &self,
        planned: &Planned,
        tables: &[(String, Arc<dyn TableProvider>)],
    ) -> anyhow::Result<Arc<dyn ExecutionPlan>> {
        use datafusion::common::tree_node::Transformed;
        use datafusion::datasource::provider_as_source;
        let plan = planned
            .plan
            .clone()
            .transform_up_with_subqueries(|node| {
                let LogicalPlan::TableScan(mut scan) = node else {
                    return Ok(Transformed::no(node));
                };
                let name = planned.stand_in(&scan)?;
                match tables
                    .iter()
                    .find(|(table, _)| Some(table.as_str()) == name)
                {
                    Some((_, table)) => {
                        scan.source = provider_as_source(table.clone());
                        Ok(Transformed::yes(LogicalPlan::TableScan(scan)))
                    }
                    None => Ok(Transformed::no(LogicalPlan::TableScan(scan))),
                }
            })
            .map_err(|e| self.sql_error(&e, planned.same_text))?
            .data;
        // Every scan of a table made ready must now read it: one left on its empty stand-in
        // would answer as if the table had no rows.
        let mut left = None;
        plan.apply_with_subqueries(|node| {
            if let LogicalPlan::TableScan(scan) = node
                && let Some(name) = planned.stand_in(scan)?
                && tables.iter().any(|(t, _)| t == name)
            {
                left = Some(name.to_string());
                return Ok(TreeNodeRecursion::Stop);
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        if let Some(name) = left {
            bail!("internal error: a scan of {name} was left on an empty table");
        }
        let state = planned.ctx.state();
        state
            .query_planner()
            .create_physical_plan(&plan, &state)
            .await
            .map_err(|e| self.sql_error(&e, planned.same_text))
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
        let started = std::time::Instant::now();
        let planned = self.plan(sql, params).await?;
        let planned_us = started.elapsed().as_micros();
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
        let mut providers: Vec<(String, Arc<dyn TableProvider>)> = Vec::new();
        for (def, opened) in tables {
            let Opened {
                loaded,
                data,
                issues,
            } = opened;
            if issues > 0 {
                refused.push(format!("{} ({issues})", def.name));
            }
            let table: Arc<dyn TableProvider> = Arc::new(CachedTable {
                name: def.name.clone(),
                schema: loaded.schema.clone(),
                columns: loaded.columns.clone(),
                data,
            });
            // In the session too, for what reads the catalog as the plan runs
            // (information_schema).
            ctx.deregister_table(def.name.as_str())?;
            ctx.register_table(def.name.as_str(), table.clone())?;
            providers.push((def.name.clone(), table));
        }
        if self.strict && !refused.is_empty() {
            bail!(
                "--strict: {} hold malformed lines or values Athena would refuse or read differently (listed above); fix those files, or run without --strict",
                refused.join(", ")
            );
        }
        let ready_us = started.elapsed().as_micros();
        let plan = self.physical_plan(&planned, &providers).await?;
        let schema = plan.schema();
        let batches = datafusion::physical_plan::execute_stream(plan, ctx.task_ctx())
            .map_err(|e| self.sql_error(&e, same_text))?;
        tracing::debug!(
            planned_us,
            ready_us,
            executing_us = started.elapsed().as_micros(),
            "statement under way"
        );
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
    /// The rows of the next batch, made (for a result gathered whole); `None` at the end.
    pub async fn next_rows(&mut self) -> anyhow::Result<Option<Vec<Vec<Value>>>> {
        match self.next_batch().await? {
            None => Ok(None),
            Some(batch) => rows_of(&batch).map(Some),
        }
    }

    /// The next batch of the answer, to write through a [`BatchPage`] (no row is made);
    /// `None` at the end.
    pub async fn next_batch(&mut self) -> anyhow::Result<Option<RecordBatch>> {
        use futures::StreamExt;
        match self.batches.next().await {
            None => Ok(None),
            Some(Err(e)) => Err(sql_error(&e, self.same_text, &self.tables)),
            Some(Ok(batch)) => Ok(Some(batch)),
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
    /// The table's name (for diagnostics).
    name: String,
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
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
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
        // The data files are read (mapped, their columns checked) before the plan runs, so
        // that a damaged one is found before any row is written; a share of them on each core.
        let started = std::time::Instant::now();
        let cores = state.config().target_partitions().max(1);
        let share = self.data.len().div_ceil(cores).max(1);
        let reads = self.data.chunks(share).map(|files| {
            let (files, projection) = (files.to_vec(), projection_owned.clone());
            tokio::task::spawn_blocking(move || {
                files.iter().try_fold(Vec::new(), |mut all, file| {
                    all.extend(file.read(projection.clone())?);
                    anyhow::Ok(all)
                })
            })
        });
        let mut batches = Vec::new();
        for read in futures::future::join_all(reads).await {
            batches.extend(
                read.map_err(|e| DataFusionError::External(Box::new(e)))?
                    .map_err(|e| DataFusionError::External(e.into()))?,
            );
        }
        tracing::debug!(
            table = %self.name,
            files = self.data.len(),
            batches = batches.len(),
            read_us = started.elapsed().as_micros(),
            "cache data read"
        );
        let projected = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => self.schema.clone(),
        };
        // Spread the batches over a partition per core so that every core works.
        let mut partitions = vec![Vec::new(); cores];
        for (i, batch) in batches.into_iter().enumerate() {
            partitions[i % cores].push(batch);
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

/// The typed rows of an Arrow batch (a result gathered whole).
fn rows_of(batch: &RecordBatch) -> anyhow::Result<Vec<Vec<Value>>> {
    let page = BatchPage::new(batch)?;
    (0..page.len)
        .map(|row| {
            page.columns
                .iter()
                .map(|column| Ok(column.get(row)?.to_value()))
                .collect()
        })
        .collect()
}

/// A batch's rows read in place, each column's type looked at once: what is written is read
/// from the columns, no row is made.
pub struct BatchPage<'a> {
    len: usize,
    columns: Vec<ColumnReader<'a>>,
}

struct ColumnReader<'a> {
    nulls: Option<&'a datafusion::arrow::buffer::NullBuffer>,
    read: Reader<'a>,
}

impl ColumnReader<'_> {
    fn get(&self, row: usize) -> anyhow::Result<ValueRef<'_>> {
        if self.nulls.is_some_and(|n| n.is_null(row)) {
            return Ok(ValueRef::Null);
        }
        (self.read)(row)
    }
}

impl<'a> BatchPage<'a> {
    pub fn new(batch: &'a RecordBatch) -> anyhow::Result<Self> {
        Ok(Self {
            len: batch.num_rows(),
            columns: batch
                .columns()
                .iter()
                .map(|array| {
                    Ok(ColumnReader {
                        nulls: array.nulls(),
                        read: reader(array)?,
                    })
                })
                .collect::<anyhow::Result<_>>()?,
        })
    }
}

impl Page for BatchPage<'_> {
    fn len(&self) -> usize {
        self.len
    }

    fn value(&self, row: usize, column: usize) -> std::io::Result<ValueRef<'_>> {
        match self.columns.get(column) {
            Some(reader) => reader
                .get(row)
                .map_err(|e| std::io::Error::other(format!("{e:#}"))),
            None => Ok(ValueRef::Null),
        }
    }
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
    Ok(reader(array)?(row)?.to_value())
}

/// Reads the value at a row of one column (a row that is not NULL).
type Reader<'a> = Box<dyn Fn(usize) -> anyhow::Result<ValueRef<'a>> + 'a>;

/// How to read the values of `array`, its type looked at once.
fn reader(array: &ArrayRef) -> anyhow::Result<Reader<'_>> {
    use datafusion::arrow::datatypes as t;
    fn int<T>(array: &ArrayRef) -> Reader<'_>
    where
        T: datafusion::arrow::datatypes::ArrowPrimitiveType,
        T::Native: Into<i64>,
    {
        let a = array.as_primitive::<T>();
        Box::new(move |row| Ok(ValueRef::Int(a.value(row).into())))
    }
    Ok(match array.data_type() {
        DataType::Boolean => {
            let a = array.as_boolean();
            Box::new(move |row| Ok(ValueRef::Bool(a.value(row))))
        }
        DataType::Int8 => int::<t::Int8Type>(array),
        DataType::Int16 => int::<t::Int16Type>(array),
        DataType::Int32 => int::<t::Int32Type>(array),
        DataType::Int64 => int::<t::Int64Type>(array),
        DataType::UInt8 => int::<t::UInt8Type>(array),
        DataType::UInt16 => int::<t::UInt16Type>(array),
        DataType::UInt32 => int::<t::UInt32Type>(array),
        DataType::UInt64 => {
            let a = array.as_primitive::<t::UInt64Type>();
            Box::new(move |row| {
                let v = a.value(row);
                Ok(i64::try_from(v).map_or(ValueRef::Float(v as f64), ValueRef::Int))
            })
        }
        DataType::Float32 => {
            let a = array.as_primitive::<t::Float32Type>();
            Box::new(move |row| Ok(ValueRef::Float(a.value(row).into())))
        }
        DataType::Float64 => {
            let a = array.as_primitive::<t::Float64Type>();
            Box::new(move |row| Ok(ValueRef::Float(a.value(row))))
        }
        DataType::Decimal128(_, scale) => {
            // Integer arithmetic on unsigned counts (cardinality) widens to decimals.
            let (a, scale) = (array.as_primitive::<t::Decimal128Type>(), *scale);
            Box::new(move |row| {
                let raw = a.value(row);
                Ok(match (scale, i64::try_from(raw)) {
                    (0, Ok(i)) => ValueRef::Int(i),
                    _ => ValueRef::Float(raw as f64 / 10f64.powi(i32::from(scale))),
                })
            })
        }
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            Box::new(move |row| Ok(ValueRef::Str(Cow::Borrowed(a.value(row)))))
        }
        DataType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            Box::new(move |row| Ok(ValueRef::Str(Cow::Borrowed(a.value(row)))))
        }
        DataType::Utf8View => {
            let a = array.as_string_view();
            Box::new(move |row| Ok(ValueRef::Str(Cow::Borrowed(a.value(row)))))
        }
        DataType::Timestamp(unit, _) => {
            let (raw, nanos_per): (&[i64], i128) = match unit {
                TimeUnit::Second => (
                    array.as_primitive::<t::TimestampSecondType>().values(),
                    1_000_000_000,
                ),
                TimeUnit::Millisecond => (
                    array.as_primitive::<t::TimestampMillisecondType>().values(),
                    1_000_000,
                ),
                TimeUnit::Microsecond => (
                    array.as_primitive::<t::TimestampMicrosecondType>().values(),
                    1_000,
                ),
                TimeUnit::Nanosecond => (
                    array.as_primitive::<t::TimestampNanosecondType>().values(),
                    1,
                ),
            };
            Box::new(move |row| {
                let nanos = i128::from(raw[row]) * nanos_per;
                let secs = i64::try_from(nanos.div_euclid(1_000_000_000)).unwrap_or(i64::MAX);
                let sub = u32::try_from(nanos.rem_euclid(1_000_000_000)).unwrap_or(0);
                Ok(DateTime::from_timestamp(secs, sub)
                    .map_or(ValueRef::Null, |d| ValueRef::Timestamp(d.naive_utc())))
            })
        }
        DataType::Date32 => {
            let a = array.as_primitive::<t::Date32Type>();
            Box::new(move |row| {
                Ok(chrono::NaiveDate::default()
                    .checked_add_signed(chrono::Duration::days(a.value(row).into()))
                    .map_or(ValueRef::Null, ValueRef::Date))
            })
        }
        DataType::List(_)
        | DataType::LargeList(_)
        | DataType::FixedSizeList(..)
        | DataType::Struct(_)
        | DataType::Map(..) => Box::new(move |row| {
            Ok(ValueRef::Json(Nested::Made(Box::new(nested_json(
                array, row,
            )?))))
        }),
        _ => {
            let formatter = ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default())?;
            Box::new(move |row| Ok(ValueRef::Str(Cow::Owned(formatter.value(row).to_string()))))
        }
    })
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

    /// A generated tree of `deployments` (about `instances` instances each) in `dir/tree`, and
    /// the time it was generated at.
    fn sample_tree(
        dir: &Path,
        deployments: usize,
        instances: usize,
        seed: u64,
    ) -> (PathBuf, DateTime<Utc>) {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-26T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let tree = dir.join("tree");
        let spec = crate::sample::SampleSpec {
            deployments,
            instances,
            seed,
            now: now.naive_utc(),
        };
        crate::sample::generate(&tree, &spec).unwrap();
        (tree, now)
    }

    /// A result larger than a batch comes batch by batch (`query --format csv|json` writes each
    /// as it comes), and the batches together are the whole answer, in order.
    #[tokio::test]
    async fn a_large_answer_comes_batch_by_batch() {
        let dir = tempfile::tempdir().unwrap();
        let (tree, now) = sample_tree(dir.path(), 700, 16, 7);
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

    /// Subqueries, correlated or not, read the tables as a join does: the plan made over empty
    /// tables reads the real ones once they are ready, wherever a scan sits in it.
    #[tokio::test]
    async fn subqueries_read_the_tables_made_ready() {
        let dir = tempfile::tempdir().unwrap();
        let (tree, now) = sample_tree(dir.path(), 30, 4, 5);
        let engine = LocalEngine::new(&tree, &dir.path().join("cache"), now).unwrap();
        let one = |sql: &'static str| {
            let engine = &engine;
            async move {
                let rows = engine.execute(sql, &[]).await.unwrap().rows;
                assert_eq!(rows.len(), 1, "{sql}");
                match rows[0][..] {
                    [Value::Int(n)] => n,
                    ref other => panic!("{sql}: {other:?}"),
                }
            }
        };
        let instances = one("SELECT count(*) FROM clonesquad_instances").await;
        let deployments = one("SELECT count(*) FROM clonesquad_discovery").await;
        assert!(instances > deployments && deployments == 30);
        for (sql, expected) in [
            (
                "SELECT (SELECT count(*) FROM clonesquad_instances)",
                instances,
            ),
            (
                "SELECT count(*) FROM clonesquad_discovery WHERE groupname IN \
                 (SELECT groupname FROM clonesquad_instances)",
                deployments,
            ),
            (
                "SELECT count(*) FROM clonesquad_discovery d WHERE EXISTS (SELECT 1 FROM \
                 clonesquad_instances i WHERE i.accountid = d.accountid)",
                deployments,
            ),
            (
                "SELECT sum(n) FROM (SELECT (SELECT count(*) FROM clonesquad_instances i \
                 WHERE i.accountid = d.accountid AND i.region = d.region \
                 AND i.groupname = d.groupname) AS n FROM clonesquad_discovery d)",
                instances,
            ),
        ] {
            assert_eq!(one(sql).await, expected, "{sql}");
        }
    }

    /// Each column's values are read with their types, NULLs where the column has them.
    #[test]
    fn rows_are_read_column_by_column_with_their_types() {
        use datafusion::arrow::array::*;
        use datafusion::arrow::datatypes::{Field, Fields, Int32Type};
        let strings = StringArray::from(vec![Some("a"), None, Some("ü")]);
        let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), None]),
            None,
            Some(vec![]),
        ]);
        let structs = StructArray::new(
            Fields::from(vec![Field::new("k", DataType::Utf8, true)]),
            vec![Arc::new(strings.clone()) as ArrayRef],
            Some(vec![true, true, false].into()),
        );
        let columns: Vec<ArrayRef> = vec![
            Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])),
            Arc::new(Int8Array::from(vec![Some(-8), None, Some(8)])),
            Arc::new(Int32Array::from(vec![Some(i32::MIN), Some(0), None])),
            Arc::new(UInt64Array::from(vec![Some(u64::MAX), Some(7), None])),
            Arc::new(Float32Array::from(vec![Some(0.5), None, Some(-1.0)])),
            Arc::new(
                Decimal128Array::from(vec![Some(12), None, Some(-3)])
                    .with_precision_and_scale(10, 0)
                    .unwrap(),
            ),
            Arc::new(
                Decimal128Array::from(vec![Some(1250), Some(5), None])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ),
            Arc::new(strings),
            Arc::new(LargeStringArray::from(vec![None, Some("large"), Some("")])),
            Arc::new(StringViewArray::from(vec![
                Some("a view longer than twelve"),
                None,
                Some("v"),
            ])),
            Arc::new(TimestampMillisecondArray::from(vec![
                Some(1_500),
                None,
                Some(-1),
            ])),
            Arc::new(TimestampSecondArray::from(vec![
                None,
                Some(86_400),
                Some(0),
            ])),
            Arc::new(Date32Array::from(vec![Some(0), Some(-1), None])),
            Arc::new(list),
            Arc::new(structs),
            Arc::new(DurationSecondArray::from(vec![Some(90), None, Some(0)])),
        ];
        let names: Vec<String> = (0..columns.len()).map(|i| format!("c{i}")).collect();
        let batch = RecordBatch::try_from_iter(names.iter().zip(columns)).unwrap();
        let ts = |s: &str| {
            Value::Timestamp(
                chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap(),
            )
        };
        let date = |s: &str| Value::Date(s.parse().unwrap());
        let text = |s: &str| Value::Str(s.to_string());
        let json = |s: &str| Value::Json(serde_json::from_str(s).unwrap());
        use Value::{Bool, Float, Int, Null};
        let expected = vec![
            vec![
                Bool(true),
                Int(-8),
                Int(i32::MIN.into()),
                Float(u64::MAX as f64),
                Float(0.5),
                Int(12),
                Float(12.5),
                text("a"),
                Null,
                text("a view longer than twelve"),
                ts("1970-01-01 00:00:01.5"),
                Null,
                date("1970-01-01"),
                json("[1, null]"),
                json(r#"{"k": "a"}"#),
                text("PT90S"),
            ],
            vec![
                Bool(false),
                Null,
                Int(0),
                Int(7),
                Null,
                Null,
                Float(0.05),
                Null,
                text("large"),
                Null,
                Null,
                ts("1970-01-02 00:00:00"),
                date("1969-12-31"),
                Null,
                json(r#"{"k": null}"#),
                Null,
            ],
            vec![
                Null,
                Int(8),
                Null,
                Null,
                Float(-1.0),
                Int(-3),
                Null,
                text("ü"),
                text(""),
                text("v"),
                ts("1969-12-31 23:59:59.999"),
                ts("1970-01-01 00:00:00"),
                Null,
                json("[]"),
                Null,
                text("P0D"),
            ],
        ];
        let rows = rows_of(&batch).unwrap();
        for (row, (got, want)) in rows.iter().zip(&expected).enumerate() {
            for (column, (got, want)) in got.iter().zip(want).enumerate() {
                assert_eq!(got, want, "row {row}, column c{column}");
            }
        }
        assert_eq!(rows, expected);
        // One cell read alone reads as in its row.
        for (row, values) in expected.iter().enumerate() {
            for (column, value) in values.iter().enumerate() {
                assert_eq!(&cell(batch.column(column), row).unwrap(), value);
            }
        }
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
        let (tree, now) = sample_tree(dir.path(), 20, 4, 3);
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
