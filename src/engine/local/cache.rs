//! The embedded engine's columnar cache: each table of a metadata tree is loaded once into
//! Arrow IPC files, and rebuilt incrementally: a file known unchanged is never parsed again; its
//! rows are copied from the previous cache, or stay where they are.
//!
//! Layout under the cache directory: `<table>.manifest` (a compact binary file, see
//! [`crate::codec`]: which data files are current, and the source files they hold, in order,
//! with their row counts; its head, read on its own when a mirror's stamp proves the cache
//! current, says all a current cache needs without the file list) and the data files
//! `<table>.<generation>-<n>.arrow`, one per segment: a run of source files cut where a path
//! hash says ([`SEGMENT_FILES`]), so that one changed file rewrites one segment and the others
//! are kept as they are. Data files are written first and the manifest renamed into place last,
//! so a reader always sees a complete set, and an interrupted rebuild leaves the previous cache
//! in force.
//!
//! How a run learns that the cache is current ([`Freshness`]):
//! - a mirror (`cs-cmdb mirror`, `--source s3://...`): its manifest carries a generation that
//!   moves with every run that changes the tree, and each file's generation. The cache remembers
//!   the (mirror id, generation) it was built from: equal, the cache is current without a
//!   `stat`; different, exactly the files written since are parsed again;
//! - a plain directory: the manifest also remembers the modification time of every folder it
//!   listed. A folder whose mtime is unchanged has the same entries (adding, removing or
//!   renaming an entry updates it), so the check is one `stat` per folder and per file, spread
//!   over every core, and no listing. A folder whose mtime was too recent when it was listed (the
//!   clock ticks coarsely) is not trusted, and the next run lists the tree again.
//!
//! A cache holds only the columns queries have read ([`Columns`]: the partition columns always):
//! a query parses and stores only the columns it reads, as Athena's reader decodes only those,
//! and one reading a column the cache does not hold parses every file again, for the columns
//! held and its own; the cache never shrinks, so a run of different queries converges on the
//! columns they read.
//!
//! Building is a pipeline with bounded memory: source files are cut into jobs of about
//! [`JOB_BYTES`] in file order, parsed on every core, each job into one record batch, and the
//! batches streamed to the IPC writer in order as they come, with at most a few jobs in flight;
//! runs of unchanged files are copied from the previous data files (mapped, not read). A file's
//! rows are a row range (the manifest's row counts, in order), never a batch of its own.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Instant, UNIX_EPOCH};

use anyhow::Context;
use bytes::Bytes;
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringBuilder};
use datafusion::arrow::buffer::Buffer;
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::SchemaRef;

use crate::bucket::layout;
use crate::bucket::manifest::{self as mirror_manifest, Stamp};
use crate::catalog::ddl::{ColumnDef, TableDef};
use crate::codec::{Decoder, Encoder};
use crate::engine::local::hive::{FileIssues, TimestampFormats};
use crate::engine::local::json::RowsBuilder;
use crate::hash::fnv1a;
use crate::reporter::Reporter;

/// Bump when the cache layout or the loader's reading of values changes.
const CACHE_FORMAT: u64 = 7;
const MAGIC: &[u8] = b"CSCACHE\x00";
/// A manifest starts with [`MAGIC`], the format and the length of its head (fixed-width), and
/// their checksum: this many bytes.
const PREFIX_LEN: usize = 32;
/// A folder modified less than this before it was listed may still change within the same
/// clock tick: its mtime is not trusted as a proof that its entries are unchanged.
const RACY_NANOS: i128 = 2_000_000_000;
/// Rows per IPC record batch, at most.
const BATCH_ROWS: usize = 16 * 1024;
/// Pieces with fewer rows are gathered into one batch before they are written.
const SMALL_ROWS: usize = 1024;
/// Source bytes per parse job: with [`WINDOW`], what bounds the loader's memory.
const JOB_BYTES: u64 = 16 << 20;
/// Source files per parse job, at most (a handful in unit tests, so small trees make many jobs).
const JOB_FILES: usize = if cfg!(test) { 3 } else { 4096 };
/// Account folders per listing thread, at least (a few in unit tests, so small trees use several).
const LIST_SHARE: usize = if cfg!(test) { 2 } else { 64 };
/// A table's rows are kept in several data files (segments), each holding a run of source files
/// in order, cut after every file whose path hashes to a multiple of this (a few files in unit
/// tests). The cuts depend on the paths alone, so a changed, added or removed file rewrites the
/// one segment holding it (two at worst: a cut file joins or splits them), never the table.
const SEGMENT_FILES: u64 = if cfg!(test) { 4 } else { 1024 };

/// Top-level columns of a table: indices in its Arrow schema ([`TableDef::arrow_schema`]: its
/// columns, then its partition columns), sorted and distinct. A query reads some columns and only
/// those are parsed (Athena's reader, too, decodes only the columns a query reads); a cache holds
/// the columns of the queries that built it, and grows (rebuilt) when a query reads another one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns(Vec<usize>);

impl Columns {
    /// Every column of `table`.
    pub fn all(table: &TableDef) -> Self {
        Self((0..table.columns.len() + table.partitions.len()).collect())
    }

    /// The columns of `table` at `indices` (others are ignored), and always its partition
    /// columns: constant per file, they cost nothing to read.
    pub fn of(table: &TableDef, indices: impl IntoIterator<Item = usize>) -> Self {
        let width = table.columns.len() + table.partitions.len();
        Self::sorted(
            indices
                .into_iter()
                .filter(|&i| i < width)
                .chain(table.columns.len()..width)
                .collect(),
        )
    }

    fn sorted(mut indices: Vec<usize>) -> Self {
        indices.sort_unstable();
        indices.dedup();
        Self(indices)
    }

    /// Whether every column of `other` is here.
    pub fn covers(&self, other: &Columns) -> bool {
        other.0.iter().all(|i| self.0.binary_search(i).is_ok())
    }

    /// The columns here or in `other`.
    pub fn union(&self, other: &Columns) -> Self {
        Self::sorted(self.0.iter().chain(&other.0).copied().collect())
    }

    /// Where the schema's column `index` is among these, if here.
    pub fn position(&self, index: usize) -> Option<usize> {
        self.0.binary_search(&index).ok()
    }

    /// The schema's columns at these indices.
    pub fn indices(&self) -> &[usize] {
        &self.0
    }

    /// The schema of the data files holding these columns of `schema` (the table's).
    fn project(&self, schema: &SchemaRef) -> anyhow::Result<SchemaRef> {
        Ok(Arc::new(schema.project(&self.0)?))
    }
}

/// One source file as the manifest remembers it.
#[derive(Debug, Clone, PartialEq)]
pub struct FileEntry {
    /// Relative to the table folder: `accountid=.../region=.../groupname=.../name.json`.
    pub path: String,
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime: i128,
    pub rows: usize,
    /// Malformed lines and values Athena would refuse: counts and a few samples.
    pub issues: FileIssues,
}

#[derive(Debug)]
struct Manifest {
    /// Hash of the table's DDL: a changed schema rebuilds from scratch.
    schema: u64,
    /// The columns the data files hold ([`Columns`]).
    columns: Columns,
    /// The data files, in file order (names in the same directory).
    segments: Vec<Segment>,
    /// The mirror generation the data was built from, when the source is a mirror.
    mirror: Option<Stamp>,
    files: Vec<FileEntry>,
    /// Every folder listed, with its mtime then (0: too recent to be trusted).
    dirs: Vec<DirStamp>,
}

/// What a current cache needs of its manifest, read without the file list and the folder stamps
/// (written after it, and read only when the cache may have to change).
#[derive(Debug)]
struct Head {
    /// [`Manifest::schema`].
    schema: u64,
    /// [`Manifest::columns`].
    columns: Columns,
    segments: Vec<Segment>,
    mirror: Option<Stamp>,
    /// The rows of every file.
    rows: usize,
    /// How many source files the table holds.
    files: usize,
    /// The files with malformed lines or values Athena would refuse.
    with_issues: Vec<FileEntry>,
}

/// One data file of a table: the rows of the next `files` source files of the manifest.
#[derive(Debug, Clone, PartialEq)]
struct Segment {
    data: String,
    files: usize,
}

impl Manifest {
    /// Each segment with the range of `files` it holds.
    fn segment_files(&self) -> impl Iterator<Item = (&Segment, Range<usize>)> {
        self.segments.iter().scan(0, |at, seg| {
            let range = *at..*at + seg.files;
            *at = range.end;
            Some((seg, range))
        })
    }

    fn data_paths(&self, cache_dir: &Path) -> Vec<PathBuf> {
        self.segments
            .iter()
            .map(|seg| cache_dir.join(&seg.data))
            .collect()
    }
}

/// The runs of `paths` (in order) that make the segments: each ends after a path whose hash is a
/// multiple of [`SEGMENT_FILES`], or at the end.
fn segment_ranges<'a>(paths: impl Iterator<Item = &'a str>) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let (mut start, mut count) = (0, 0);
    for (i, path) in paths.enumerate() {
        count = i + 1;
        // FNV's low bits follow the last bytes' too closely: mix before taking them.
        let hash = fnv1a(path.as_bytes()).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
        if hash.is_multiple_of(SEGMENT_FILES) {
            ranges.push(start..count);
            start = count;
        }
    }
    if start < count {
        ranges.push(start..count);
    }
    ranges
}

/// A listed folder, relative to the table folder (`""` is the table folder itself).
#[derive(Debug, Clone, PartialEq)]
struct DirStamp {
    path: String,
    mtime: i128,
}

/// The state of a table after [`refresh`].
#[derive(Debug)]
pub struct Loaded {
    /// The table's schema (every column).
    pub schema: SchemaRef,
    /// The columns the data files hold, in this order.
    pub columns: Columns,
    /// The Arrow IPC files holding the rows, in order.
    pub data: Vec<PathBuf>,
    pub rows: usize,
    /// How many source files the table holds.
    pub file_count: usize,
    /// The source files, in order; empty when a mirror's stamp proved the cache current (the
    /// manifest's file list is not read then: see `file_count` and [`Loaded::files_with_issues`]).
    pub files: Vec<FileEntry>,
    /// The files with malformed lines or values Athena would refuse.
    with_issues: Vec<FileEntry>,
    /// How many source files were parsed this time (0 when the cache was current).
    pub parsed: usize,
    /// Whether the tree had to be listed (false: the mirror's generation, or the folder and file
    /// stamps, proved it current).
    pub listed: bool,
    /// How many folders the listing read (only those whose mtime moved since the last one).
    pub folders_read: usize,
    /// What the listing found and did not read, one message each (relative path and why):
    /// symbolic links out of the table folder, FIFOs, sockets, devices, folders where a file is
    /// expected, names that are not UTF-8, empty partition values. A folder holding one is never
    /// proved current by its stamp, so they are found (and said) on every run.
    pub skipped: Vec<String>,
}

impl Loaded {
    /// The table as `manifest` (current) describes it; nothing parsed.
    fn current(schema: SchemaRef, cache_dir: &Path, manifest: Manifest, listed: bool) -> Self {
        Self::of(schema, cache_dir, manifest, 0, listed)
    }

    /// The table as `manifest` describes it, `parsed` files parsed to make it.
    fn of(
        schema: SchemaRef,
        cache_dir: &Path,
        manifest: Manifest,
        parsed: usize,
        listed: bool,
    ) -> Self {
        Self {
            schema,
            columns: manifest.columns.clone(),
            data: manifest.data_paths(cache_dir),
            rows: manifest.files.iter().map(|f| f.rows).sum(),
            file_count: manifest.files.len(),
            with_issues: with_issues(&manifest.files).cloned().collect(),
            files: manifest.files,
            parsed,
            listed,
            skipped: Vec::new(),
            folders_read: 0,
        }
    }

    /// The table as the head of its (current) manifest describes it; the file list unread.
    fn from_head(schema: SchemaRef, cache_dir: &Path, head: Head) -> Self {
        Self {
            schema,
            columns: head.columns,
            data: head
                .segments
                .iter()
                .map(|s| cache_dir.join(&s.data))
                .collect(),
            rows: head.rows,
            file_count: head.files,
            files: Vec::new(),
            with_issues: head.with_issues,
            parsed: 0,
            listed: false,
            skipped: Vec::new(),
            folders_read: 0,
        }
    }

    /// The files with malformed lines or values Athena would refuse.
    pub fn files_with_issues(&self) -> impl Iterator<Item = &FileEntry> {
        self.with_issues.iter()
    }
}

/// The files of `files` with malformed lines or values Athena would refuse.
fn with_issues(files: &[FileEntry]) -> impl Iterator<Item = &FileEntry> {
    files.iter().filter(|f| !f.issues.is_empty())
}

/// What one member account's files may cost: a longer line is a bad line (never parsed), a
/// larger file of a plain directory is not read (said, like other files left out). Both are part
/// of the cache's key: a table read under other caps is rebuilt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub max_line_bytes: u64,
    pub max_file_bytes: u64,
}

impl Default for Caps {
    fn default() -> Self {
        Self {
            max_line_bytes: crate::engine::local::json::DEFAULT_MAX_LINE_BYTES,
            max_file_bytes: crate::mirror::DEFAULT_MAX_OBJECT_BYTES,
        }
    }
}

/// The key a cache must have been built under to be used: the table's DDL and the caps.
fn cache_key(table: &TableDef, caps: Caps) -> u64 {
    fnv1a(
        format!(
            "{}\0{}\0{}",
            table.text, caps.max_line_bytes, caps.max_file_bytes
        )
        .as_bytes(),
    )
}

/// How [`refresh`] learns what changed in the tree.
pub enum Freshness {
    /// A plain directory: the stamps (`stat`) of its folders and files.
    Stamps,
    /// A mirror: its manifest's generations.
    Mirror(Arc<MirrorSource>),
}

/// A mirror directory read as a table source. The manifest's header is read once per run; the
/// whole manifest only when the generation moved, once for all tables.
pub struct MirrorSource {
    dir: PathBuf,
    stamp: Stamp,
    manifest: OnceLock<Option<mirror_manifest::Manifest>>,
}

impl MirrorSource {
    /// The mirror in `dir`, when it has a manifest of this release.
    pub fn open(dir: &Path) -> Option<Self> {
        Some(Self {
            dir: dir.to_path_buf(),
            stamp: mirror_manifest::read_stamp(dir)?,
            manifest: OnceLock::new(),
        })
    }

    fn manifest(&self) -> Option<&mirror_manifest::Manifest> {
        self.manifest
            .get_or_init(|| match mirror_manifest::Manifest::read(&self.dir) {
                Ok(m) => m,
                Err(why) => {
                    tracing::debug!("{why}; the cache is checked file by file");
                    None
                }
            })
            .as_ref()
    }

    /// The table's files as the mirror lists them (the rules of [`list`]), each marked changed
    /// unless the cache built at `built` holds it already; and the mirror's stamp.
    fn table_files(
        &self,
        location: &str,
        partitions: &[String],
        built: Option<Stamp>,
    ) -> Option<(Vec<Found>, Stamp)> {
        let manifest = self.manifest()?;
        let prefix = format!("{}/", location.trim_end_matches('/'));
        let mut found = Vec::new();
        let mut cursor = manifest.cursor_from(&prefix);
        while let Some((i, path)) = cursor.next() {
            let Some(rel) = path.strip_prefix(&prefix) else {
                break;
            };
            if !table_file(rel, partitions) {
                continue;
            }
            let entry = manifest.entry(i);
            let held = built
                .is_some_and(|b| b.id == manifest.stamp.id && entry.generation <= b.generation);
            found.push(Found {
                entry: FileEntry {
                    path: rel.to_string(),
                    size: entry.size,
                    mtime: i128::from(entry.last_modified_ms) * 1_000_000,
                    rows: 0,
                    issues: FileIssues::default(),
                },
                changed: !held,
            });
        }
        Some((found, manifest.stamp))
    }
}

/// Whether `rel` (below a table folder) is a table file: `key=value` partition folders in the
/// table's order, then a file; no hidden name (`.x`, `_x`, as Athena skips them) on the way.
fn table_file(rel: &str, partitions: &[String]) -> bool {
    let mut segments = rel.split('/');
    for key in partitions {
        let ok = segments.next().is_some_and(|s| {
            !s.starts_with(['.', '_'])
                && s.split_once('=')
                    .is_some_and(|(k, v)| k.eq_ignore_ascii_case(key) && !v.is_empty())
        });
        if !ok {
            return false;
        }
    }
    segments
        .next()
        .is_some_and(|name| !name.is_empty() && !name.starts_with(['.', '_']))
        && segments.next().is_none()
}

/// The partition values in a table file's path (`accountid=1/region=r/groupname=g/x.json`).
fn partition_values(rel: &str, count: usize) -> impl Iterator<Item = &str> {
    rel.split('/')
        .take(count)
        .map(|s| s.split_once('=').map_or("", |(_, v)| v))
}

/// A source file found in the tree.
struct Found {
    entry: FileEntry,
    /// Known changed (a mirror's generation says so) whatever its size and mtime.
    changed: bool,
}

/// Bring the cache of `table` (read from `<root>/<table folder below metadata/>`) up to date.
/// Only the columns `wanted` are parsed, and those the cache already holds are kept.
pub fn refresh(
    root: &Path,
    cache_dir: &Path,
    table: &TableDef,
    wanted: &Columns,
    freshness: &Freshness,
    caps: Caps,
    reporter: &dyn Reporter,
) -> anyhow::Result<Loaded> {
    let started = Instant::now();
    let schema = table.arrow_schema();
    let folder = layout::table_dir(root, &table.folder);
    let manifest_path = cache_dir.join(format!("{}.manifest", table.name));
    let key = cache_key(table, caps);
    let intact = |segments: &[Segment]| {
        segments
            .iter()
            .all(|s| ipc_intact(&cache_dir.join(&s.data)))
    };
    // Built from the mirror's generation of now: current, and the head says all that is needed.
    if let Freshness::Mirror(mirror) = freshness
        && let Some(head) = read_head(&manifest_path)
        && head.schema == key
        && head.columns.covers(wanted)
        && head.mirror == Some(mirror.stamp)
        && intact(&head.segments)
    {
        tracing::debug!(
            table = %table.name,
            elapsed_us = started.elapsed().as_micros() as u64,
            "cache is current (mirror generation)"
        );
        return Ok(Loaded::from_head(schema, cache_dir, head));
    }
    let mut previous = read_manifest(&manifest_path)
        .filter(|m| m.schema == key)
        .filter(|m| intact(&m.segments));
    let read_us = started.elapsed().as_micros() as u64;
    // A query reading a column the cache does not hold: every file is parsed again, for the
    // columns held and the new ones.
    let columns = match previous.take() {
        Some(p) if p.columns.covers(wanted) => {
            let held = p.columns.clone();
            previous = Some(p);
            held
        }
        Some(p) => {
            tracing::debug!(table = %table.name, "the cache is rebuilt with more columns");
            p.columns.union(wanted)
        }
        None => wanted.clone(),
    };
    let target = Target {
        folder: &folder,
        cache_dir,
        table,
        columns: &columns,
        key,
        caps,
    };

    if let Freshness::Mirror(mirror) = freshness {
        let built = previous.as_ref().and_then(|p| p.mirror);
        if let Some((found, stamp)) = mirror.table_files(&table.folder, &table.partitions, built) {
            let source = Source {
                found,
                mirror: Some(stamp),
                dirs: Vec::new(),
                listed: false,
            };
            return update(&target, schema, previous, source, reporter);
        }
        // The mirror's manifest cannot be read: prove the cache file by file.
    }

    if previous.as_ref().is_some_and(|p| stamps_hold(&folder, p))
        && let Some(current) = previous.take()
    {
        tracing::debug!(
            table = %table.name,
            files = current.files.len(),
            manifest_read_us = read_us,
            elapsed_us = started.elapsed().as_micros() as u64,
            "cache is current (stamps)"
        );
        return Ok(Loaded::current(schema, cache_dir, current, false));
    }
    let listing = list(
        &folder,
        &table.partitions,
        caps.max_file_bytes,
        previous.as_ref(),
    )
    .with_context(|| format!("cannot list {} for table {}", folder.display(), table.name))?;
    let source = Source {
        found: listing.files,
        mirror: None,
        dirs: listing.dirs,
        listed: true,
    };
    let mut loaded = update(&target, schema, previous, source, reporter)?;
    loaded.skipped = listing.skipped;
    loaded.folders_read = listing.read;
    Ok(loaded)
}

/// What the tree holds now, as listed or as the mirror says.
struct Source {
    found: Vec<Found>,
    mirror: Option<Stamp>,
    dirs: Vec<DirStamp>,
    listed: bool,
}

/// The table a refresh brings up to date, and where.
struct Target<'a> {
    /// The table folder in the tree.
    folder: &'a Path,
    cache_dir: &'a Path,
    table: &'a TableDef,
    /// The columns the data files hold.
    columns: &'a Columns,
    /// [`cache_key`] of the table and the caps.
    key: u64,
    caps: Caps,
}

/// Bring the cache from `previous` to `source`: nothing when the files are the same (the stamps
/// are renewed), else a rebuild that parses only the files that changed.
fn update(
    target: &Target,
    schema: SchemaRef,
    previous: Option<Manifest>,
    source: Source,
    reporter: &dyn Reporter,
) -> anyhow::Result<Loaded> {
    let started = Instant::now();
    let (folder, cache_dir, table) = (target.folder, target.cache_dir, target.table);
    let manifest_path = cache_dir.join(format!("{}.manifest", table.name));
    let found = &source.found;
    let same_files = previous.as_ref().is_some_and(|p| {
        p.files.len() == found.len()
            && p.files.iter().zip(found).all(|(old, new)| {
                !new.changed
                    && old.path == new.entry.path
                    && old.size == new.entry.size
                    && old.mtime == new.entry.mtime
            })
    });
    if same_files && let Some(mut current) = previous {
        // Same files: only the stamps are renewed, so the next check is quick.
        if current.dirs != source.dirs || current.mirror != source.mirror {
            current.dirs = source.dirs;
            current.mirror = source.mirror;
            write_manifest(&manifest_path, &current)?;
        }
        tracing::debug!(table = %table.name, files = found.len(), "cache is current (same files)");
        return Ok(Loaded::current(schema, cache_dir, current, source.listed));
    }

    // Which files keep their rows, and where those rows sit: a previous segment, and the first
    // row there.
    let mut reusable: HashMap<&str, (usize, usize, &FileEntry)> = HashMap::new();
    if let Some(previous) = &previous {
        for (s, (_, range)) in previous.segment_files().enumerate() {
            let mut offset = 0;
            for file in &previous.files[range] {
                reusable.insert(file.path.as_str(), (s, offset, file));
                offset += file.rows;
            }
        }
    }
    let reuse = |f: &Found| -> Option<(usize, usize, &FileEntry)> {
        if f.changed {
            return None;
        }
        reusable
            .get(f.entry.path.as_str())
            .filter(|(_, _, old)| old.size == f.entry.size && old.mtime == f.entry.mtime)
            .copied()
    };
    let ranges = segment_ranges(found.iter().map(|f| f.entry.path.as_str()));
    // A segment holding exactly the files of a previous one, unchanged, keeps its data file.
    let kept: Vec<Option<usize>> = ranges
        .iter()
        .map(|r| {
            let previous = previous.as_ref()?;
            let (s, offset, _) = reuse(found.get(r.start)?)?;
            let (_, old_range) = previous.segment_files().nth(s)?;
            (offset == 0
                && old_range.len() == r.len()
                && previous.files[old_range]
                    .iter()
                    .zip(&found[r.clone()])
                    .all(|(old, new)| {
                        old.path == new.entry.path && reuse(new).is_some_and(|(t, _, _)| t == s)
                    }))
            .then_some(s)
        })
        .collect();
    // The previous segments whose rows are copied into rebuilt ones, mapped (not copied); a
    // damaged one is rebuilt from the tree.
    let mut old_rows: HashMap<usize, OldRows> = HashMap::new();
    if let Some(previous) = &previous {
        let needed: std::collections::BTreeSet<usize> = ranges
            .iter()
            .zip(&kept)
            .filter(|(_, kept)| kept.is_none())
            .flat_map(|(r, _)| found[r.clone()].iter().filter_map(&reuse))
            .map(|(s, _, _)| s)
            .collect();
        for s in needed {
            match read_ipc(&cache_dir.join(&previous.segments[s].data), None) {
                Ok(batches) => {
                    old_rows.insert(s, OldRows::new(batches));
                }
                Err(err) => reporter.warn(&format!(
                    "{err:#}; its rows of table {} are read again from their files",
                    table.name
                )),
            }
        }
    }

    fs::create_dir_all(cache_dir)
        .with_context(|| format!("cannot create the cache directory {}", cache_dir.display()))?;
    let generation = format!(
        "{}.{}-{}",
        table.name,
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );
    // Until the manifest names them, the new data files (and their `.tmp`) are removed on any
    // early exit: an error, a panic unwinding.
    let mut partial = Partial(Vec::new());
    let formats = TimestampFormats::compile(&table.timestamp_formats())
        .with_context(|| format!("ddl/{}.sql", table.name))?;
    let held = target.columns.project(&schema)?;
    let loader = Loader {
        folder,
        table,
        columns: target
            .columns
            .indices()
            .iter()
            .filter_map(|&i| table.columns.get(i).cloned())
            .collect(),
        schema: &held,
        formats: &formats,
        found,
        max_line_bytes: target.caps.max_line_bytes,
    };
    let mut files: Vec<FileEntry> = Vec::with_capacity(found.len());
    let mut segments: Vec<Segment> = Vec::with_capacity(ranges.len());
    // The plan, in file order: per rebuilt segment, runs of unchanged files copied from previous
    // segments and jobs of files to parse (a job never spans two segments).
    let mut steps: Vec<Step> = Vec::new();
    let mut jobs: Vec<Job> = Vec::new();
    let mut outputs: Vec<Output> = Vec::new();
    for (k, (range, kept)) in ranges.iter().zip(&kept).enumerate() {
        if let (Some(s), Some(previous)) = (kept, &previous) {
            segments.push(previous.segments[*s].clone());
            files.extend(
                found[range.clone()]
                    .iter()
                    .filter_map(&reuse)
                    .map(|(_, _, old)| old.clone()),
            );
            continue;
        }
        let first_step = steps.len();
        for k in range.clone() {
            let f = &found[k];
            match reuse(f).filter(|(s, _, _)| old_rows.contains_key(s)) {
                Some((s, offset, old)) => {
                    let in_segment = steps.len() > first_step;
                    match steps.last_mut() {
                        Some(Step::Copy(t, run)) if in_segment && *t == s && run.end == offset => {
                            run.end += old.rows
                        }
                        _ => steps.push(Step::Copy(s, offset..offset + old.rows)),
                    }
                    files.push(old.clone());
                }
                None => {
                    // The last step, when it parses this segment, is the last job.
                    match (steps.last(), jobs.last_mut()) {
                        (Some(Step::Parse(_)), Some(job))
                            if steps.len() > first_step
                                && job.bytes < JOB_BYTES
                                && job.files.len() < JOB_FILES =>
                        {
                            job.files.end = k + 1;
                            job.bytes += f.entry.size;
                        }
                        _ => {
                            steps.push(Step::Parse(jobs.len()));
                            jobs.push(Job {
                                files: k..k + 1,
                                bytes: f.entry.size,
                            });
                        }
                    }
                    files.push(f.entry.clone());
                }
            }
        }
        let name = format!("{generation}-{k}.arrow");
        let path = cache_dir.join(&name);
        partial.0.push(path.with_extension("arrow.tmp"));
        partial.0.push(path.clone());
        outputs.push(Output {
            path,
            steps: first_step..steps.len(),
        });
        segments.push(Segment {
            data: name,
            files: range.len(),
        });
    }
    let parsed = jobs.iter().map(|j| j.files.len()).sum::<usize>();
    loader.build(&outputs, &steps, &jobs, &old_rows, &mut files)?;
    drop(old_rows);
    // The new names are on disk before the manifest that names them.
    sync_dir(&manifest_path)?;
    let manifest = Manifest {
        schema: target.key,
        columns: target.columns.clone(),
        segments,
        files,
        dirs: source.dirs,
        mirror: source.mirror,
    };
    if fault_injected("manifest") {
        anyhow::bail!(
            "cannot write {}: injected fault (test-hooks)",
            manifest_path.display()
        );
    }
    write_manifest(&manifest_path, &manifest)?;
    partial.keep();
    let current: Vec<&str> = manifest.segments.iter().map(|s| s.data.as_str()).collect();
    if let Some(previous) = previous {
        // Readers that opened an old file keep it until they close it (unlink semantics).
        for seg in &previous.segments {
            if !current.contains(&seg.data.as_str()) {
                let _ = fs::remove_file(cache_dir.join(&seg.data));
            }
        }
    }
    remove_legacy(cache_dir, &table.name);
    remove_orphans(cache_dir, &table.name, &current);
    let rows: usize = manifest.files.iter().map(|f| f.rows).sum();
    tracing::debug!(
        table = %table.name,
        files = manifest.files.len(),
        segments = manifest.segments.len(),
        rebuilt = kept.iter().filter(|k| k.is_none()).count(),
        parsed,
        rows,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "cache rebuilt"
    );
    Ok(Loaded::of(
        schema,
        cache_dir,
        manifest,
        parsed,
        source.listed,
    ))
}

/// Files a rebuild removes unless it gets as far as [`Partial::keep`].
struct Partial(Vec<PathBuf>);

impl Partial {
    /// The manifest names the data file now: keep it.
    fn keep(mut self) {
        self.0.clear();
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        for path in &self.0 {
            match fs::remove_file(path) {
                Ok(()) => tracing::debug!(file = %path.display(), "partial cache file removed"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::debug!(file = %path.display(), "cannot remove: {e}"),
            }
        }
    }
}

/// Fault injection for the test suite, compiled only with the `test-hooks` feature:
/// `CS_CMDB_TEST_CACHE_FAULT=manifest` fails a rebuild after its data file is written, before the
/// manifest names it. Not a user setting.
#[cfg(feature = "test-hooks")]
fn fault_injected(point: &str) -> bool {
    std::env::var("CS_CMDB_TEST_CACHE_FAULT").is_ok_and(|v| v == point)
}

/// Without the `test-hooks` feature (every build but the test suite's), no fault is injected.
#[cfg(not(feature = "test-hooks"))]
fn fault_injected(_: &str) -> bool {
    false
}

/// One step of a rebuild, in file order.
enum Step {
    /// These rows of this previous segment.
    Copy(usize, Range<usize>),
    /// The rows of this job.
    Parse(usize),
}

/// One data file a rebuild writes: where, and its steps.
struct Output {
    path: PathBuf,
    steps: Range<usize>,
}

/// Consecutive source files parsed into one record batch.
struct Job {
    /// Indices in the found files.
    files: Range<usize>,
    bytes: u64,
}

/// A parsed job: its batch, and each file's row count and issues.
struct Parsed {
    batch: RecordBatch,
    files: Vec<(usize, FileIssues)>,
}

/// Jobs at most parsed ahead of the writer, per worker.
const WINDOW: usize = 2;

/// The parse jobs shared by the workers and the writer.
#[derive(Default)]
struct Queue {
    /// The next job to start.
    next: usize,
    /// Jobs the writer has taken.
    taken: usize,
    done: BTreeMap<usize, anyhow::Result<Parsed>>,
    stop: bool,
}

struct Loader<'a> {
    folder: &'a Path,
    table: &'a TableDef,
    /// The table's columns parsed (the partition columns are always added).
    columns: Vec<ColumnDef>,
    /// The schema of the data files: those columns and the partition columns.
    schema: &'a SchemaRef,
    formats: &'a TimestampFormats,
    found: &'a [Found],
    max_line_bytes: u64,
}

impl Loader<'_> {
    /// Write the data files, each from its steps: copied runs and parsed jobs in order, jobs
    /// parsed on every core a few ahead of the writer (across data files: the workers never wait
    /// for a file to be closed). Fills the row counts and issues of parsed files. Every file is
    /// flushed to disk (fsync) before this returns, so before any manifest names it.
    fn build(
        &self,
        outputs: &[Output],
        steps: &[Step],
        jobs: &[Job],
        old_rows: &HashMap<usize, OldRows>,
        files: &mut [FileEntry],
    ) -> anyhow::Result<()> {
        let threads = workers(jobs.len(), 1);
        let window = threads * WINDOW;
        let queue = Mutex::new(Queue::default());
        let wake = Condvar::new();
        let written = std::thread::scope(|scope| -> anyhow::Result<()> {
            for _ in 0..threads {
                scope.spawn(|| self.work(jobs, window, &queue, &wake));
            }
            let result = (|| -> anyhow::Result<()> {
                for output in outputs {
                    let tmp = output.path.with_extension("arrow.tmp");
                    let file = fs::File::create(&tmp)
                        .with_context(|| format!("cannot write {}", tmp.display()))?;
                    let mut sink = Sink::new(BufWriter::new(file), self.schema)?;
                    for step in &steps[output.steps.clone()] {
                        match step {
                            Step::Copy(s, rows) => {
                                let old = old_rows
                                    .get(s)
                                    .context("internal error: no previous rows")?;
                                for piece in old.slice(rows.start, rows.len()) {
                                    sink.push(piece)?;
                                }
                            }
                            Step::Parse(j) => {
                                let parsed = take(&queue, &wake, *j)?;
                                let job = &jobs[*j];
                                for (entry, (rows, issues)) in
                                    files[job.files.clone()].iter_mut().zip(parsed.files)
                                {
                                    entry.rows = rows;
                                    entry.issues = issues;
                                }
                                sink.push(parsed.batch)?;
                            }
                        }
                    }
                    // On an error the caller's guard removes `tmp` and `path`.
                    sink.close(&tmp)?;
                    fs::rename(&tmp, &output.path)
                        .with_context(|| format!("cannot write {}", output.path.display()))?;
                }
                Ok(())
            })();
            // Stop the workers (they are done, or must give up).
            lock(&queue).stop = true;
            wake.notify_all();
            result
        });
        written.with_context(|| format!("cannot load table {}", self.table.name))?;
        // Flushed once they are all written: one wait for the disk, not one per file.
        for output in outputs {
            sync_file(&output.path)?;
        }
        Ok(())
    }

    /// A worker: take the next job while the writer is not too far behind, parse it, hand it over.
    fn work(&self, jobs: &[Job], window: usize, queue: &Mutex<Queue>, wake: &Condvar) {
        loop {
            let j = {
                let mut q = lock(queue);
                loop {
                    if q.stop || q.next >= jobs.len() {
                        return;
                    }
                    if q.next < q.taken + window {
                        break;
                    }
                    q = wake.wait(q).unwrap_or_else(|e| e.into_inner());
                }
                q.next += 1;
                q.next - 1
            };
            let result = self.parse(&self.found[jobs[j].files.clone()]);
            lock(queue).done.insert(j, result);
            wake.notify_all();
        }
    }

    /// Parse consecutive files into one batch.
    fn parse(&self, files: &[Found]) -> anyhow::Result<Parsed> {
        let table = self.table;
        let mut rows = RowsBuilder::new(&self.columns, self.formats.clone())
            .max_line_bytes(self.max_line_bytes);
        let mut partitions: Vec<StringBuilder> = table
            .partitions
            .iter()
            .map(|_| StringBuilder::new())
            .collect();
        let mut out = Vec::with_capacity(files.len());
        for found in files {
            tracing::debug!(table = %table.name, file = %found.entry.path, "parsing");
            let path = self.folder.join(&found.entry.path);
            let bytes =
                fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let before = rows.rows();
            let issues = rows.append_ndjson(&bytes);
            let added = rows.rows() - before;
            for (builder, value) in partitions
                .iter_mut()
                .zip(partition_values(&found.entry.path, table.partitions.len()))
            {
                for _ in 0..added {
                    builder.append_value(value);
                }
            }
            out.push((added, issues));
        }
        let mut columns = rows.finish()?;
        columns.extend(
            partitions
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        let batch = RecordBatch::try_new(self.schema.clone(), columns)?;
        Ok(Parsed { batch, files: out })
    }
}

fn lock(queue: &Mutex<Queue>) -> std::sync::MutexGuard<'_, Queue> {
    queue.lock().unwrap_or_else(|e| e.into_inner())
}

/// Wait for job `j` and take it (the writer takes jobs in order).
fn take(queue: &Mutex<Queue>, wake: &Condvar, j: usize) -> anyhow::Result<Parsed> {
    let mut q = lock(queue);
    loop {
        if let Some(result) = q.done.remove(&j) {
            q.taken = j + 1;
            drop(q);
            wake.notify_all();
            return result;
        }
        if q.stop {
            anyhow::bail!("internal error: the loader stopped");
        }
        q = wake.wait(q).unwrap_or_else(|e| e.into_inner());
    }
}

/// The IPC writer, fed pieces in order: big pieces are cut to [`BATCH_ROWS`], runs of small ones
/// (a few changed files between unchanged runs) gathered, so the file keeps few batches.
struct Sink<W: Write> {
    writer: arrow_ipc::writer::FileWriter<W>,
    schema: SchemaRef,
    small: Vec<RecordBatch>,
    small_rows: usize,
    rows: usize,
}

impl<W: Write> Sink<W> {
    fn new(out: W, schema: &SchemaRef) -> anyhow::Result<Self> {
        Ok(Self {
            writer: arrow_ipc::writer::FileWriter::try_new(out, schema)?,
            schema: schema.clone(),
            small: Vec::new(),
            small_rows: 0,
            rows: 0,
        })
    }

    fn push(&mut self, piece: RecordBatch) -> anyhow::Result<()> {
        let n = piece.num_rows();
        self.rows += n;
        if n >= SMALL_ROWS {
            self.flush()?;
            let mut offset = 0;
            while offset < n {
                let len = BATCH_ROWS.min(n - offset);
                self.writer.write(&piece.slice(offset, len))?;
                offset += len;
            }
        } else if n > 0 {
            self.small_rows += n;
            self.small.push(piece);
            if self.small_rows >= BATCH_ROWS {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        if !self.small.is_empty() {
            let batch = concat_batches(&self.schema, self.small.iter())?;
            self.writer.write(&batch)?;
            self.small.clear();
            self.small_rows = 0;
        }
        Ok(())
    }
}

impl Sink<BufWriter<fs::File>> {
    /// End the file at `path`, its bytes handed to the kernel (not yet flushed to disk).
    fn close(mut self, path: &Path) -> anyhow::Result<fs::File> {
        let context = || format!("cannot write the cache file {}", path.display());
        self.flush().with_context(context)?;
        self.writer.finish().with_context(context)?;
        let file = self
            .writer
            .into_inner()
            .with_context(context)?
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(context)?;
        Ok(file)
    }
}

/// Flush the written file at `path` to disk (fsync), or say which file could not be.
fn sync_file(path: &Path) -> anyhow::Result<()> {
    // Opened for writing too: a reader alone cannot always open it without waiting (a FIFO).
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .and_then(|f| f.sync_all())
        .with_context(|| not_flushed("cache file", path))
}

/// The error of a failed fsync of `path` (a `what`), and what to do.
fn not_flushed(what: &str, path: &Path) -> String {
    format!(
        "cannot flush the {what} {} to disk (fsync); check the disk (full, failing) or pass --cache-dir on another one",
        path.display()
    )
}

/// Make the entries of the folder holding `path` durable (a rename into it, say).
fn sync_dir(path: &Path) -> anyhow::Result<()> {
    let Some(dir) = path.parent() else {
        return Ok(());
    };
    #[cfg(unix)]
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| not_flushed("cache directory", dir))?;
    Ok(())
}

/// What [`list`] found: the source files and the folders it read.
#[derive(Default)]
struct Listing {
    files: Vec<Found>,
    dirs: Vec<DirStamp>,
    /// What was not read, and why (sorted).
    skipped: Vec<String>,
    /// How many folders were read (the others were known unchanged).
    read: usize,
}

/// What the previous listing found, by folder: a folder whose mtime has not moved since it was
/// listed (and was old enough then to be trusted) holds the same entries, so it is not read
/// again; its files are `stat`ed and its folders walked.
struct Known<'m> {
    dirs: HashMap<&'m str, KnownDir<'m>>,
}

#[derive(Default)]
struct KnownDir<'m> {
    /// 0: not trusted (too recent when listed, or holding something not read).
    mtime: i128,
    dirs: Vec<&'m str>,
    files: Vec<&'m str>,
}

impl<'m> Known<'m> {
    fn of(manifest: &'m Manifest) -> Self {
        let parent = |rel: &'m str| rel.rsplit_once('/').map_or("", |(p, _)| p);
        let mut dirs: HashMap<&str, KnownDir> = HashMap::with_capacity(manifest.dirs.len());
        for d in &manifest.dirs {
            dirs.entry(d.path.as_str()).or_default().mtime = d.mtime;
            if !d.path.is_empty() {
                dirs.entry(parent(&d.path)).or_default().dirs.push(&d.path);
            }
        }
        for f in &manifest.files {
            dirs.entry(parent(&f.path)).or_default().files.push(&f.path);
        }
        Self { dirs }
    }
}

/// The last segment of a relative path.
fn base_name(rel: &str) -> &str {
    rel.rsplit('/').next().unwrap_or(rel)
}

/// `accountid=*/region=*/groupname=*/<file>` below `folder`, sorted by path. A missing folder is
/// an empty table; folders that are not `key=value` partitions, and hidden files (`.x`, `_x`,
/// as Athena skips them), are ignored.
fn list(
    folder: &Path,
    partitions: &[String],
    max_file_bytes: u64,
    previous: Option<&Manifest>,
) -> std::io::Result<Listing> {
    let mut listing = Listing::default();
    let known = previous.map(Known::of);
    if !folder.is_dir() {
        return Ok(listing);
    }
    let inside = folder.canonicalize()?;
    let now = std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128);
    let known = known.as_ref();
    // The table folder itself, its partition folders (accounts) set aside, then walked on
    // every core, each thread into its own listing.
    let mut deferred = Vec::new();
    let mut top = Walker::new(
        partitions,
        &inside,
        now,
        max_file_bytes,
        known,
        &mut listing,
    );
    top.deferred = Some(&mut deferred);
    top.walk(folder, 0, String::new())?;
    let threads = workers(deferred.len(), LIST_SHARE);
    let share =
        |t: usize| &deferred[deferred.len() * t / threads..deferred.len() * (t + 1) / threads];
    let parts = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (inside, share) = (&inside, share(t));
                scope.spawn(move || -> std::io::Result<Listing> {
                    let mut part = Listing::default();
                    let mut w =
                        Walker::new(partitions, inside, now, max_file_bytes, known, &mut part);
                    for (path, depth, rel) in share {
                        w.walk(path, *depth, rel.clone())?;
                    }
                    Ok(part)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("a listing thread panicked")))
            })
            .collect::<std::io::Result<Vec<Listing>>>()
    })?;
    for part in parts {
        listing.files.extend(part.files);
        listing.dirs.extend(part.dirs);
        listing.skipped.extend(part.skipped);
        listing.read += part.read;
    }
    listing
        .files
        .sort_by(|a, b| a.entry.path.cmp(&b.entry.path));
    listing.skipped.sort();
    listing.dirs.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(listing)
}

/// Nanoseconds since the epoch of a file's modification time (0 when unknown).
fn mtime_nanos(meta: &fs::Metadata) -> i128 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128)
}

/// The listing's walk: `inside` is the table folder, resolved (a symbolic link to a file below
/// it is read; any other link is reported, not followed).
struct Walker<'a> {
    partitions: &'a [String],
    inside: &'a Path,
    now: i128,
    /// A larger file is not read.
    max_file_bytes: u64,
    /// The previous listing, when there is one.
    known: Option<&'a Known<'a>>,
    out: &'a mut Listing,
    /// When set, the folders below the table folder are put here instead of walked (the caller
    /// walks them on several threads).
    deferred: Option<&'a mut Vec<(PathBuf, usize, String)>>,
}

impl<'a> Walker<'a> {
    fn new(
        partitions: &'a [String],
        inside: &'a Path,
        now: i128,
        max_file_bytes: u64,
        known: Option<&'a Known<'a>>,
        out: &'a mut Listing,
    ) -> Self {
        Self {
            partitions,
            inside,
            now,
            max_file_bytes,
            known,
            out,
            deferred: None,
        }
    }

    /// Say why `rel` is not read; its folder's stamp (at `stamp`) is made untrusted so that the
    /// next run lists the folder again and says it again.
    fn skip(&mut self, stamp: usize, rel: &str, why: &str) {
        self.out
            .skipped
            .push(format!("{}: {why}", crate::text::escape(rel)));
        if let Some(d) = self.out.dirs.get_mut(stamp) {
            d.mtime = 0;
        }
    }

    /// Walk the folder `dir`, or set it aside for the caller (see `deferred`).
    fn descend(&mut self, dir: PathBuf, depth: usize, rel: String) -> std::io::Result<()> {
        match self.deferred.as_deref_mut() {
            Some(deferred) => {
                deferred.push((dir, depth, rel));
                Ok(())
            }
            None => self.walk(&dir, depth, rel),
        }
    }

    fn walk(&mut self, dir: &Path, depth: usize, rel: String) -> std::io::Result<()> {
        // Stamp the folder before reading it: a change after this point moves its mtime.
        let mtime = mtime_nanos(&fs::metadata(dir)?);
        let stamp = self.out.dirs.len();
        self.out.dirs.push(DirStamp {
            path: rel.clone(),
            mtime: if mtime == 0 || self.now - mtime < RACY_NANOS {
                0
            } else {
                mtime
            },
        });
        if let Some(known) = self.known.and_then(|k| k.dirs.get(rel.as_str()))
            && known.mtime != 0
            && known.mtime == mtime
            && self.reuse(dir, depth, stamp, known)?
        {
            return Ok(());
        }
        self.out.read += 1;
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let join = |name: &str| {
                if rel.is_empty() {
                    name.to_string()
                } else {
                    format!("{rel}/{name}")
                }
            };
            let Some(name) = name.to_str() else {
                let shown = join(&name.to_string_lossy());
                self.skip(stamp, &shown, "the name is not UTF-8; not read");
                continue;
            };
            if name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            let file_type = entry.file_type()?;
            let rel_path = join(name);
            if let Some(key) = self.partitions.get(depth) {
                // Expect the next partition folder.
                let Some(value) = name
                    .split_once('=')
                    .filter(|(k, _)| k.eq_ignore_ascii_case(key))
                    .map(|(_, v)| v)
                else {
                    tracing::debug!(path = %entry.path().display(), "not a {key}= partition folder, ignored");
                    continue;
                };
                if value.is_empty() {
                    self.skip(stamp, &rel_path, "empty partition value; not read");
                } else if file_type.is_dir() {
                    self.descend(entry.path(), depth + 1, rel_path)?;
                } else if file_type.is_symlink() {
                    self.skip(
                        stamp,
                        &rel_path,
                        "a symbolic link where a partition folder is expected; not followed",
                    );
                } else {
                    self.skip(
                        stamp,
                        &rel_path,
                        "not a folder where a partition folder is expected; not read",
                    );
                }
            } else if file_type.is_file() {
                let meta = fs::symlink_metadata(entry.path())?;
                self.found(stamp, rel_path, &meta);
            } else if file_type.is_symlink() {
                match entry.path().canonicalize() {
                    Ok(target) if target.starts_with(self.inside) && target.is_file() => {
                        let meta = fs::metadata(&target)?;
                        self.found(stamp, rel_path, &meta);
                    }
                    _ => self.skip(
                        stamp,
                        &rel_path,
                        "a symbolic link to a file outside the table folder (or to nothing); not followed",
                    ),
                }
            } else if file_type.is_dir() {
                self.skip(
                    stamp,
                    &rel_path,
                    "a folder where a file is expected; not read",
                );
            } else {
                self.skip(
                    stamp,
                    &rel_path,
                    "not a regular file (a FIFO, socket or device); not read",
                );
            }
        }
        Ok(())
    }

    /// A file to read, unless it is larger than the cap.
    /// Take the entries of `dir` from the previous listing (its mtime has not moved): its files
    /// are `stat`ed, its folders walked. False, with nothing taken, when a file is no longer a
    /// regular file (a symbolic link now, or gone in a race): the folder is then read.
    fn reuse(
        &mut self,
        dir: &Path,
        depth: usize,
        stamp: usize,
        known: &KnownDir,
    ) -> std::io::Result<bool> {
        let mut metas = Vec::with_capacity(known.files.len());
        for rel in &known.files {
            match fs::symlink_metadata(dir.join(base_name(rel))) {
                Ok(meta) if meta.file_type().is_file() => metas.push((*rel, meta)),
                _ => return Ok(false),
            }
        }
        for (rel, meta) in metas {
            self.found(stamp, rel.to_string(), &meta);
        }
        for sub in &known.dirs {
            self.descend(dir.join(base_name(sub)), depth + 1, sub.to_string())?;
        }
        Ok(true)
    }

    fn found(&mut self, stamp: usize, path: String, meta: &fs::Metadata) {
        if meta.len() > self.max_file_bytes {
            let why = format!(
                "{} bytes, above the cap of {} (`max-object-bytes` in cs-cmdb.toml); not read: raise the cap to read it",
                meta.len(),
                self.max_file_bytes
            );
            self.skip(stamp, &path, &why);
            return;
        }
        self.out.files.push(Found {
            entry: FileEntry {
                path,
                size: meta.len(),
                mtime: mtime_nanos(meta),
                rows: 0,
                issues: FileIssues::default(),
            },
            changed: false,
        });
    }
}

/// Whether the tree below `folder` is exactly what `manifest` was built from, proved by one
/// `stat` per folder and per file (spread over every core), without listing any folder.
fn stamps_hold(folder: &Path, manifest: &Manifest) -> bool {
    if manifest.dirs.is_empty() || manifest.dirs.iter().any(|d| d.mtime == 0) {
        return false;
    }
    let (dirs, files) = (&manifest.dirs, &manifest.files);
    // Folders and files in path order, each folder just before what it holds: the kernel then
    // finds each path's parents in its caches while they are still warm.
    let mut stamps = Vec::with_capacity(dirs.len() + files.len());
    let (mut d, mut f) = (0, 0);
    while d < dirs.len() || f < files.len() {
        let dir_first = match (dirs.get(d), files.get(f)) {
            (Some(dir), Some(file)) => dir.path <= file.path,
            (dir, _) => dir.is_some(),
        };
        if dir_first {
            stamps.push(Proof::Dir(&dirs[d]));
            d += 1;
        } else {
            stamps.push(Proof::File(&files[f]));
            f += 1;
        }
    }
    // A share of the proofs, through a folder handle of its own (threads sharing one would
    // contend on it in the kernel); `stop` is asked every 256 proofs.
    let holds = |share: &[Proof], stop: &dyn Fn() -> bool| {
        let Some(stamper) = Stamper::open(folder) else {
            return false;
        };
        share.chunks(256).all(|chunk| {
            !stop()
                && chunk.iter().all(|proof| match proof {
                    Proof::Dir(d) => stamper
                        .stat(&d.path)
                        .is_some_and(|(is_dir, _, mtime)| is_dir && mtime == d.mtime),
                    Proof::File(f) => stamper
                        .stat(&f.path)
                        .is_some_and(|(_, size, mtime)| size == f.size && mtime == f.mtime),
                })
        })
    };
    let threads = workers(stamps.len(), 2048);
    if threads <= 1 {
        return holds(&stamps, &|| false);
    }
    // Each thread takes a share; the first failure stops them all.
    let failed = std::sync::atomic::AtomicBool::new(false);
    let stop = || failed.load(std::sync::atomic::Ordering::Relaxed);
    let check = |share: &[Proof]| {
        if !holds(share, &stop) {
            failed.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    };
    let per = stamps.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let mut shares = stamps.chunks(per);
        let first = shares.next().unwrap_or_default();
        for share in shares {
            let check = &check;
            scope.spawn(move || check(share));
        }
        check(first);
    });
    !failed.into_inner()
}

/// A folder or a file whose stamp is checked.
enum Proof<'a> {
    Dir(&'a DirStamp),
    File(&'a FileEntry),
}

/// `stat` of paths relative to an open table folder: the kernel resolves a few path components
/// per call instead of the whole absolute path, which is most of the cost of a check.
#[cfg(unix)]
struct Stamper(rustix::fd::OwnedFd);

#[cfg(unix)]
impl Stamper {
    fn open(folder: &Path) -> Option<Self> {
        use rustix::fs::{Mode, OFlags};
        rustix::fs::open(
            folder,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()
        .map(Self)
    }

    /// (is a folder, size, mtime in nanoseconds) of `rel` (`""`: the folder itself); symbolic
    /// links are followed, as the listing does.
    fn stat(&self, rel: &str) -> Option<(bool, u64, i128)> {
        let path = if rel.is_empty() { "." } else { rel };
        let st = rustix::fs::statat(&self.0, path, rustix::fs::AtFlags::empty()).ok()?;
        let is_dir = rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir();
        let mtime = i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec);
        Some((is_dir, u64::try_from(st.st_size).ok()?, mtime))
    }
}

#[cfg(not(unix))]
struct Stamper(PathBuf);

#[cfg(not(unix))]
impl Stamper {
    fn open(folder: &Path) -> Option<Self> {
        Some(Self(folder.to_path_buf()))
    }

    fn stat(&self, rel: &str) -> Option<(bool, u64, i128)> {
        let meta = fs::metadata(self.0.join(rel)).ok()?;
        Some((meta.is_dir(), meta.len(), mtime_nanos(&meta)))
    }
}

/// How many threads share `items` items, each taking at least `per_worker` of them: one per
/// core at most, and at least one.
fn workers(items: usize, per_worker: usize) -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.div_ceil(per_worker))
        .max(1)
}

/// Whether `path` ends like a complete Arrow IPC file (a write cut short does not).
fn ipc_intact(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let mut tail = [0u8; 6];
    fs::File::open(path)
        .and_then(|mut f| {
            f.seek(SeekFrom::End(-6))?;
            f.read_exact(&mut tail)
        })
        .is_ok()
        && &tail == b"ARROW1"
}

/// The rows of the previous cache file, as its batches.
struct OldRows {
    batches: Vec<RecordBatch>,
    /// The first row of each batch.
    starts: Vec<usize>,
}

impl OldRows {
    fn new(batches: Vec<RecordBatch>) -> Self {
        let starts = batches
            .iter()
            .scan(0, |row, b| {
                let start = *row;
                *row += b.num_rows();
                Some(start)
            })
            .collect();
        Self { batches, starts }
    }

    /// Rows `start..start + len`, as zero-copy slices of the batches they span.
    fn slice(&self, start: usize, len: usize) -> Vec<RecordBatch> {
        let end = start + len;
        self.batches
            .iter()
            .zip(&self.starts)
            .filter_map(|(batch, &first)| {
                let from = start.max(first);
                let to = end.min(first + batch.num_rows());
                (from < to).then(|| batch.slice(from - first, to - from))
            })
            .collect()
    }
}

/// Read an IPC file's batches, only the `projection` columns when given. The file is mapped,
/// not read: the columns a query does not use are never touched, and the ones it uses are not
/// copied.
/// Remove the data files of `table` other than `current`: older generations a killed run never
/// unlinked, and `.tmp` files of runs no longer alive (by the process id in their name). A reader
/// that mapped an older generation keeps it until it is done (unlink semantics).
fn remove_orphans(cache_dir: &Path, table: &str, current: &[&str]) {
    let Ok(entries) = fs::read_dir(cache_dir) else {
        return;
    };
    let prefix = format!("{table}.");
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let orphan = if let Some(stem) = rest.strip_suffix(".arrow.tmp") {
            // `<pid>-<nanos>`: only when that process is gone.
            stem.split_once('-')
                .and_then(|(pid, _)| pid.parse::<u32>().ok())
                .is_some_and(|pid| pid != std::process::id() && !process_alive(pid))
        } else {
            rest.ends_with(".arrow") && !current.contains(&name)
        };
        if orphan {
            tracing::debug!(file = name, "orphaned cache file removed");
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Whether process `pid` still runs (Linux: its /proc entry); elsewhere assume it does.
fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

/// How every error reading a cache data file starts.
pub const DAMAGED: &str = "cannot read cache ";

/// Forget every table's cache in `cache_dir` (their manifests): the next load rebuilds them.
pub fn forget(cache_dir: &Path) -> anyhow::Result<()> {
    let entries = match fs::read_dir(cache_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", cache_dir.display())),
    };
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "manifest") {
            fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}

pub fn read_ipc(path: &Path, projection: Option<Vec<usize>>) -> anyhow::Result<Vec<RecordBatch>> {
    DataFile::open(path)?.read(projection)
}

/// A data file of the cache, opened: a rebuild that unlinks it (a query of the same run reading
/// more columns, another run) leaves it readable to whoever opened it.
#[derive(Debug, Clone)]
pub struct DataFile {
    path: PathBuf,
    file: Arc<fs::File>,
}

impl DataFile {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let file = fs::File::open(path).with_context(|| format!("{DAMAGED}{}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            file: Arc::new(file),
        })
    }

    /// Its record batches, only the columns at `projection` when given.
    pub fn read(&self, projection: Option<Vec<usize>>) -> anyhow::Result<Vec<RecordBatch>> {
        read_open(&self.path, &self.file, projection)
    }
}

fn read_open(
    path: &Path,
    file: &fs::File,
    projection: Option<Vec<usize>>,
) -> anyhow::Result<Vec<RecordBatch>> {
    let context = || format!("{DAMAGED}{}", path.display());
    // SAFETY: cache data files are written under a fresh name, renamed into place and never
    // written again; a newer generation unlinks them, which leaves existing mappings intact.
    let map = unsafe { memmap2::Mmap::map(file) }.with_context(context)?;
    let len = map.len();
    let bytes = Bytes::from_owner(map);
    let buffer = Buffer::from(bytes);
    if len < 10 {
        anyhow::bail!("cannot read cache {}: file too short", path.display());
    }
    let mut trailer = [0u8; 10];
    trailer.copy_from_slice(&buffer[len - 10..]);
    let footer_len = arrow_ipc::reader::read_footer_length(trailer).with_context(context)?;
    let footer_start = (len - 10)
        .checked_sub(footer_len)
        .with_context(|| format!("cannot read cache {}: bad footer", path.display()))?;
    let footer = arrow_ipc::root_as_footer(&buffer[footer_start..len - 10])
        .map_err(|e| anyhow::anyhow!("cannot read cache {}: {e}", path.display()))?;
    let schema = footer
        .schema()
        .map(arrow_ipc::convert::fb_to_schema)
        .with_context(|| format!("cannot read cache {}: no schema", path.display()))?;
    let mut decoder = arrow_ipc::reader::FileDecoder::new(Arc::new(schema), footer.version());
    if let Some(projection) = projection {
        decoder = decoder.with_projection(projection);
    }
    let block_data = |block: &arrow_ipc::Block| -> anyhow::Result<Buffer> {
        let start = usize::try_from(block.offset()).ok();
        let size = usize::try_from(block.metaDataLength())
            .ok()
            .zip(usize::try_from(block.bodyLength()).ok())
            .map(|(m, b)| m + b);
        match start.zip(size) {
            Some((start, size)) if start.checked_add(size).is_some_and(|end| end <= len) => {
                Ok(buffer.slice_with_length(start, size))
            }
            _ => anyhow::bail!("cannot read cache {}: block out of bounds", path.display()),
        }
    };
    for block in footer.dictionaries().iter().flatten() {
        decoder
            .read_dictionary(block, &block_data(block)?)
            .with_context(context)?;
    }
    let mut batches = Vec::new();
    for block in footer.recordBatches().iter().flatten() {
        if let Some(batch) = decoder
            .read_record_batch(block, &block_data(block)?)
            .with_context(context)?
        {
            batches.push(batch);
        }
    }
    Ok(batches)
}

/// Write the manifest beside a temporary name, then rename it into place. Layout: a prefix
/// ([`PREFIX_LEN`] bytes: [`MAGIC`], the format, the head's length, their checksum), the head
/// (segments, mirror stamp, counts, the files with issues), then the file list and the folder
/// stamps; the head and the list each end with their own checksum, so the head is read (and
/// checked) without the list.
fn write_manifest(path: &Path, manifest: &Manifest) -> anyhow::Result<()> {
    let mut head = Encoder::new(&[]);
    head.u64_fixed(manifest.schema);
    head.var(manifest.columns.0.len() as u64);
    for &c in &manifest.columns.0 {
        head.var(c as u64);
    }
    head.var(manifest.segments.len() as u64);
    for seg in &manifest.segments {
        head.str(&seg.data);
        head.var(seg.files as u64);
    }
    match manifest.mirror {
        Some(stamp) => {
            head.u8(1);
            head.u64_fixed(stamp.id);
            head.u64_fixed(stamp.generation);
        }
        None => head.u8(0),
    }
    head.var(manifest.files.iter().map(|f| f.rows as u64).sum());
    head.var(manifest.files.len() as u64);
    head.var(with_issues(&manifest.files).count() as u64);
    for f in with_issues(&manifest.files) {
        encode_file(&mut head, f)?;
    }
    let head = head.finish();

    let mut list = Encoder::new(&[]);
    for f in &manifest.files {
        encode_file(&mut list, f)?;
    }
    list.reset_paths();
    list.var(manifest.dirs.len() as u64);
    for d in &manifest.dirs {
        list.path(&d.path);
        list.signed(i64::try_from(d.mtime).unwrap_or(0));
    }
    let list = list.finish();

    let mut prefix = Encoder::new(MAGIC);
    prefix.u64_fixed(CACHE_FORMAT);
    prefix.u64_fixed(head.len() as u64);
    let prefix = prefix.finish();
    debug_assert_eq!(prefix.len(), PREFIX_LEN);
    crate::codec::write_atomic(path, true, |out| {
        out.write_all(&prefix)?;
        out.write_all(&head)?;
        out.write_all(&list)
    })
    .with_context(|| format!("cannot write {}", path.display()))?;
    sync_dir(path)
}

/// One file of the list (paths stored as a sorted sequence: see [`Encoder::path`]).
fn encode_file(e: &mut Encoder, f: &FileEntry) -> anyhow::Result<()> {
    e.path(&f.path);
    e.var(f.size);
    e.signed(i64::try_from(f.mtime).unwrap_or(0));
    e.var(f.rows as u64);
    if f.issues.is_empty() {
        e.u8(0);
    } else {
        e.u8(1);
        e.bytes(&serde_json::to_vec(&f.issues)?);
    }
    Ok(())
}

fn decode_file(d: &mut Decoder) -> Option<FileEntry> {
    let path = d.path()?.to_string();
    let size = d.var()?;
    let mtime = i128::from(d.signed()?);
    let rows = d.count()?;
    let issues = match d.u8()? {
        0 => FileIssues::default(),
        _ => serde_json::from_slice(d.bytes()?).ok()?,
    };
    Some(FileEntry {
        path,
        size,
        mtime,
        rows,
        issues,
    })
}

/// The length of the head a manifest's prefix announces; none when it is of another format, or
/// damaged.
fn decode_prefix(prefix: &[u8]) -> Option<usize> {
    let mut d = Decoder::new(prefix.get(..PREFIX_LEN)?, MAGIC)?;
    if d.u64_fixed()? != CACHE_FORMAT {
        return None;
    }
    let head_len = usize::try_from(d.u64_fixed()?).ok()?;
    d.done().then_some(head_len)
}

fn decode_head(bytes: &[u8]) -> Option<Head> {
    let mut d = Decoder::new(bytes, &[])?;
    let schema = d.u64_fixed()?;
    let count = d.count()?;
    let mut columns = Vec::with_capacity(count.min(bytes.len()));
    for _ in 0..count {
        columns.push(d.count()?);
    }
    // Sorted and distinct, as written.
    if !columns.is_sorted_by(|a, b| a < b) {
        return None;
    }
    let columns = Columns(columns);
    let count = d.count()?;
    let mut segments = Vec::with_capacity(count.min(bytes.len()));
    for _ in 0..count {
        let data = d.str()?.to_string();
        // A name in the cache directory, nothing else.
        if data.contains(['/', '\\']) || data.starts_with('.') {
            return None;
        }
        segments.push(Segment {
            data,
            files: d.count()?,
        });
    }
    let mirror = match d.u8()? {
        0 => None,
        _ => Some(Stamp {
            id: d.u64_fixed()?,
            generation: d.u64_fixed()?,
        }),
    };
    let rows = d.count()?;
    let files = d.count()?;
    let count = d.count()?;
    let mut with_issues = Vec::with_capacity(count.min(bytes.len()));
    for _ in 0..count {
        with_issues.push(decode_file(&mut d)?);
    }
    let held: usize = segments.iter().map(|s| s.files).sum();
    (d.done() && held == files && with_issues.len() <= files).then_some(Head {
        schema,
        columns,
        segments,
        mirror,
        rows,
        files,
        with_issues,
    })
}

/// The head of the manifest at `path`, read (and checked) without the rest; none when it is
/// missing, of another format, or damaged.
fn read_head(path: &Path) -> Option<Head> {
    use std::io::Read;
    let mut file = fs::File::open(path).ok()?;
    let mut prefix = [0u8; PREFIX_LEN];
    file.read_exact(&mut prefix).ok()?;
    let head_len = decode_prefix(&prefix)?;
    let len = file.metadata().ok()?.len();
    if u64::try_from(head_len).ok()? > len.saturating_sub(PREFIX_LEN as u64) {
        return None;
    }
    let mut head = vec![0u8; head_len];
    file.read_exact(&mut head).ok()?;
    decode_head(&head)
}

/// The manifest at `path`; none when it is missing, of another format, or damaged (the cache
/// is then rebuilt from the tree).
fn read_manifest(path: &Path) -> Option<Manifest> {
    let bytes = fs::read(path).ok()?;
    let manifest = decode_manifest(&bytes);
    if manifest.is_none() {
        tracing::debug!(
            "ignoring the cache manifest {}: another format, or damaged",
            path.display()
        );
    }
    manifest
}

fn decode_manifest(bytes: &[u8]) -> Option<Manifest> {
    let head_len = decode_prefix(bytes)?;
    let list_start = PREFIX_LEN.checked_add(head_len)?;
    let head = decode_head(bytes.get(PREFIX_LEN..list_start)?)?;
    let list = bytes.get(list_start..)?;
    let mut d = Decoder::new(list, &[])?;
    let mut files = Vec::with_capacity(head.files.min(list.len()));
    for _ in 0..head.files {
        files.push(decode_file(&mut d)?);
    }
    d.reset_paths();
    let count = d.count()?;
    let mut dirs = Vec::with_capacity(count.min(list.len()));
    for _ in 0..count {
        let path = d.path()?.to_string();
        dirs.push(DirStamp {
            path,
            mtime: i128::from(d.signed()?),
        });
    }
    let consistent = d.done()
        && files.iter().map(|f| f.rows).sum::<usize>() == head.rows
        && with_issues(&files).eq(head.with_issues.iter());
    consistent.then_some(Manifest {
        schema: head.schema,
        columns: head.columns,
        segments: head.segments,
        mirror: head.mirror,
        files,
        dirs,
    })
}

/// Remove the JSON manifest of an earlier release and the data file it named.
fn remove_legacy(cache_dir: &Path, table: &str) {
    #[derive(serde::Deserialize)]
    struct Legacy {
        data: String,
    }
    let path = cache_dir.join(format!("{table}.manifest.json"));
    if let Ok(bytes) = fs::read(&path) {
        if let Ok(legacy) = serde_json::from_slice::<Legacy>(&bytes)
            && !legacy.data.contains(['/', '\\'])
        {
            let _ = fs::remove_file(cache_dir.join(legacy.data));
        }
        let _ = fs::remove_file(&path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str) -> TableDef {
        crate::catalog::ddl::tables()
            .unwrap()
            .into_iter()
            .find(|t| t.name == name)
            .unwrap()
    }

    /// A generated tree of `deployments` (2 instances each) below `dir`: its metadata folder.
    fn sample_metadata(dir: &Path, deployments: usize, seed: u64) -> PathBuf {
        let tree = dir.join("tree");
        let spec = crate::sample::SampleSpec {
            deployments,
            instances: 2,
            seed,
            now: chrono::DateTime::parse_from_rfc3339("2026-11-26T09:00:00Z")
                .unwrap()
                .naive_utc(),
        };
        crate::sample::generate(&tree, &spec).unwrap();
        tree.join("metadata")
    }

    /// The instances table of the tree at `root`, brought up to date in `cache`.
    fn build_instances(root: &Path, cache: &Path) -> Loaded {
        let table = table("clonesquad_instances");
        refresh(
            root,
            cache,
            &table,
            &Columns::all(&table),
            &Freshness::Stamps,
            Caps::default(),
            &crate::reporter::Silent,
        )
        .unwrap()
    }

    fn rows(loaded: &Loaded) -> String {
        let batches: Vec<RecordBatch> = loaded
            .data
            .iter()
            .flat_map(|path| read_ipc(path, None).unwrap())
            .collect();
        datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string()
    }

    /// A data file whose fsync fails (here a FIFO: a real file-system object that cannot be
    /// flushed to disk) is an error naming the file, not a silent success.
    #[cfg(unix)]
    #[test]
    fn a_failed_fsync_of_a_data_file_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let fifo = tmp.path().join("t.1-2.arrow.tmp");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let err = format!("{:#}", sync_file(&fifo).unwrap_err());
        assert!(
            err.contains(&format!("cannot flush the cache file {}", fifo.display()))
                && err.contains("fsync"),
            "{err}"
        );
    }

    /// A cache holds the columns its queries read: a query reading another column parses every
    /// file again for both, one reading fewer parses nothing; the columns held read what a build
    /// of every column reads.
    #[test]
    fn a_cache_holds_the_columns_read_and_grows_when_a_query_reads_more() {
        let tmp = tempfile::tempdir().unwrap();
        let root = sample_metadata(tmp.path(), 20, 5);
        let table = table("clonesquad_instances");
        let schema = table.arrow_schema();
        let index = |name: &str| schema.index_of(name).unwrap();
        let cache = tmp.path().join("cache");
        let load = |wanted: &[&str]| {
            let wanted = Columns::of(&table, wanted.iter().map(|n| index(n)));
            refresh(
                &root,
                &cache,
                &table,
                &wanted,
                &Freshness::Stamps,
                Caps::default(),
                &crate::reporter::Silent,
            )
            .unwrap()
        };
        let names = |loaded: &Loaded| -> Vec<String> {
            loaded
                .columns
                .indices()
                .iter()
                .map(|&i| schema.field(i).name().clone())
                .collect()
        };
        let partitions = ["accountid", "region", "groupname"];

        let state = load(&["state"]);
        assert_eq!(state.parsed, state.file_count);
        assert_eq!(names(&state), ["state", "accountid", "region", "groupname"]);
        let tags = load(&["tags"]);
        assert_eq!(tags.parsed, tags.file_count, "every file parsed again");
        assert_eq!(
            names(&tags),
            ["state", "tags", "accountid", "region", "groupname"]
        );
        let narrower = load(&["state"]);
        assert_eq!(narrower.parsed, 0);
        assert_eq!(names(&narrower), names(&tags));
        let counted = load(&[]);
        assert_eq!(counted.parsed, 0);
        assert_eq!(counted.rows, tags.rows);

        // The columns held read what a build of every column reads.
        let full = build_instances(&root, &tmp.path().join("full"));
        assert_eq!(full.rows, tags.rows);
        let held: Vec<usize> = ["state", "tags"]
            .iter()
            .chain(&partitions)
            .map(|n| index(n))
            .collect();
        let project = |loaded: &Loaded, projection: Vec<usize>| -> String {
            let batches: Vec<RecordBatch> = loaded
                .data
                .iter()
                .flat_map(|path| read_ipc(path, Some(projection.clone())).unwrap())
                .collect();
            datafusion::arrow::util::pretty::pretty_format_batches(&batches)
                .unwrap()
                .to_string()
        };
        assert_eq!(
            project(&narrower, (0..held.len()).collect()),
            project(&full, held)
        );
    }

    /// Many jobs, parsed on several threads and written in order, interleaved with copied runs,
    /// give the rows a build from scratch gives.
    #[test]
    fn incremental_builds_match_builds_from_scratch() {
        let tmp = tempfile::tempdir().unwrap();
        let root = sample_metadata(tmp.path(), 40, 3);
        let build = |cache: &str| build_instances(&root, &tmp.path().join(cache));
        let first = build("a");
        assert!(first.parsed > 3 * 4, "several jobs");
        assert_eq!(
            first.files.iter().map(|f| f.rows).sum::<usize>(),
            first.rows
        );
        assert_eq!(rows(&first), rows(&build("scratch-1")));

        // Two files change, one goes, one comes.
        let folder = root.join("instances");
        let files: Vec<PathBuf> = first.files.iter().map(|f| folder.join(&f.path)).collect();
        fs::write(
            &files[5],
            "{\"InstanceId\": \"i-5\"}\n{\"InstanceId\": \"i-6\"}",
        )
        .unwrap();
        fs::write(&files[20], "").unwrap();
        fs::remove_file(&files[30]).unwrap();
        let added = folder.join("accountid=999/region=r/groupname=g/x.json");
        fs::create_dir_all(added.parent().unwrap()).unwrap();
        fs::write(&added, "{\"InstanceId\": \"i-new\"}").unwrap();
        let second = build("a");
        assert_eq!(second.parsed, 3);
        assert_eq!(second.files.len(), first.files.len());
        assert_eq!(rows(&second), rows(&build("scratch-2")));
        assert!(rows(&second).contains("i-new"));
    }

    /// The listing walks the account folders on several threads; what it finds is what one
    /// walk on one thread finds.
    #[test]
    fn a_listing_on_several_threads_finds_what_one_walk_finds() {
        let tmp = tempfile::tempdir().unwrap();
        let root = sample_metadata(tmp.path(), 40, 11);
        let folder = root.join("instances");
        let partitions = table("clonesquad_instances").partitions;
        let parallel = list(&folder, &partitions, u64::MAX, None).unwrap();
        let mut one = Listing::default();
        let inside = folder.canonicalize().unwrap();
        // Any instant: only the rule on recent folders reads it, and no folder is compared.
        let now = 0;
        Walker::new(&partitions, &inside, now, u64::MAX, None, &mut one)
            .walk(&folder, 0, String::new())
            .unwrap();
        let paths = |l: &Listing| {
            let mut v: Vec<(String, u64)> = l
                .files
                .iter()
                .map(|f| (f.entry.path.clone(), f.entry.size))
                .collect();
            v.sort();
            v
        };
        let dirs = |l: &Listing| {
            let mut v: Vec<String> = l.dirs.iter().map(|d| d.path.clone()).collect();
            v.sort();
            v
        };
        assert!(parallel.files.len() >= 40);
        assert_eq!(paths(&parallel), paths(&one));
        assert_eq!(dirs(&parallel), dirs(&one));
        assert_eq!(parallel.read, one.read);
    }

    /// Set the mtime of every folder below `dir` an hour back, so that a listing trusts them.
    fn age_folders(dir: &Path) {
        let past = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                age_folders(&path);
            }
        }
        fs::File::open(dir).unwrap().set_modified(past).unwrap();
    }

    /// A generated tree below `dir` (see [`sample_metadata`]): its metadata folder, and its
    /// instances folder with every folder aged (see [`age_folders`]).
    fn aged_instances(dir: &Path, deployments: usize, seed: u64) -> (PathBuf, PathBuf) {
        let root = sample_metadata(dir, deployments, seed);
        let folder = root.join("instances");
        age_folders(&folder);
        (root, folder)
    }

    /// A listing reads again only the folders whose mtime moved; the others' entries are the
    /// previous listing's (their files `stat`ed), and the rows are those of a fresh build.
    #[test]
    fn a_listing_reads_only_the_folders_that_changed() {
        let tmp = tempfile::tempdir().unwrap();
        let (root, folder) = aged_instances(tmp.path(), 30, 7);
        let build = |cache: &str| build_instances(&root, &tmp.path().join(cache));
        let first = build("a");
        assert!(first.folders_read > 30, "{}", first.folders_read);
        // One file rewritten in place (its folder keeps its mtime), one file added beside
        // another (that folder's mtime moves).
        fs::write(
            folder.join(&first.files[3].path),
            "{\"InstanceId\": \"i-rewritten\"}\n",
        )
        .unwrap();
        let beside = folder
            .join(&first.files[11].path)
            .with_file_name("more.json");
        fs::write(&beside, "{\"InstanceId\": \"i-beside\"}\n").unwrap();
        let second = build("a");
        assert!(second.listed);
        assert_eq!(second.folders_read, 1);
        assert_eq!(second.parsed, 2);
        assert_eq!(second.files.len(), first.files.len() + 1);
        let rows_now = rows(&second);
        assert!(rows_now.contains("i-rewritten") && rows_now.contains("i-beside"));
        assert_eq!(rows_now, rows(&build("scratch")));
    }

    /// Stamps prove a tree current on several threads, each folder and file checked once
    /// whichever share it falls in: a file rewritten in place (its folder's mtime kept) or a
    /// file added in any folder, first or last in path order, is a change.
    #[test]
    fn stamps_on_several_threads_see_every_change() {
        let tmp = tempfile::tempdir().unwrap();
        let (root, folder) = aged_instances(tmp.path(), 800, 11);
        let built = build_instances(&root, &tmp.path().join("cache"));
        let manifest =
            read_manifest(&tmp.path().join("cache/clonesquad_instances.manifest")).unwrap();
        let stamps = manifest.dirs.len() + manifest.files.len();
        assert!(
            workers(stamps, 2048) > 1
                || std::thread::available_parallelism().map_or(1, |n| n.get()) == 1,
            "{stamps} stamps: one thread"
        );
        assert!(
            stamps_hold(&folder, &manifest),
            "an unchanged tree is current"
        );
        let mut paths: Vec<&String> = built.files.iter().map(|f| &f.path).collect();
        paths.sort();
        for path in [paths[0], paths[paths.len() / 2], paths[paths.len() - 1]] {
            let file = folder.join(path);
            let before = fs::read(&file).unwrap();
            let mtime = fs::metadata(&file).unwrap().modified().unwrap();
            // Write `bytes` over the file, its mtime put back.
            let write_back = |bytes: &[u8]| {
                fs::write(&file, bytes).unwrap();
                let f = fs::File::options().write(true).open(&file).unwrap();
                f.set_modified(mtime).unwrap();
            };
            // Same size and mtime, other bytes: not seen (the stamp is size and mtime).
            let mut swapped = before.clone();
            swapped.reverse();
            write_back(&swapped);
            assert!(stamps_hold(&folder, &manifest), "{path}: same stamp");
            // One more byte: seen.
            let mut longer = before.clone();
            longer.push(b'\n');
            fs::write(&file, &longer).unwrap();
            assert!(
                !stamps_hold(&folder, &manifest),
                "{path}: rewritten in place"
            );
            write_back(&before);
            assert!(stamps_hold(&folder, &manifest), "{path}: restored");
            // A file beside it: its folder's mtime moves.
            let dir = file.parent().unwrap();
            let dir_mtime = fs::metadata(dir).unwrap().modified().unwrap();
            let beside = dir.join("beside.json");
            fs::write(&beside, "{}").unwrap();
            assert!(
                !stamps_hold(&folder, &manifest),
                "{path}: a file added beside"
            );
            fs::remove_file(&beside).unwrap();
            fs::File::open(dir)
                .unwrap()
                .set_modified(dir_mtime)
                .unwrap();
            assert!(stamps_hold(&folder, &manifest), "{path}: folder restored");
        }
    }

    /// A manifest reads back as written; its head alone says what a current cache needs, and
    /// stays readable when the file list after it is damaged (which the whole read refuses);
    /// a manifest of the previous format is not read at all.
    #[test]
    fn the_head_of_a_manifest_is_read_without_its_file_list() {
        let tmp = tempfile::tempdir().unwrap();
        let file = |path: &str, rows: usize, malformed: u32| FileEntry {
            path: path.into(),
            size: 10 * rows as u64,
            mtime: 1_700_000_000_000_000_000 + rows as i128,
            rows,
            issues: FileIssues {
                malformed,
                ..FileIssues::default()
            },
        };
        let manifest = Manifest {
            schema: 42,
            columns: Columns(vec![0, 2, 5]),
            segments: vec![
                Segment {
                    data: "t.1-0.arrow".into(),
                    files: 2,
                },
                Segment {
                    data: "t.1-1.arrow".into(),
                    files: 1,
                },
            ],
            mirror: Some(Stamp {
                id: 7,
                generation: 9,
            }),
            files: vec![
                file("accountid=1/region=r/groupname=g/a.json", 3, 0),
                file("accountid=1/region=r/groupname=g/b.json", 4, 2),
                file("accountid=2/region=r/groupname=g/c.json", 5, 0),
            ],
            dirs: vec![DirStamp {
                path: "accountid=1".into(),
                mtime: 5,
            }],
        };
        let path = tmp.path().join("t.manifest");
        write_manifest(&path, &manifest).unwrap();

        let read = read_manifest(&path).unwrap();
        assert_eq!(
            (read.schema, &read.columns, &read.segments, read.mirror),
            (
                manifest.schema,
                &manifest.columns,
                &manifest.segments,
                manifest.mirror
            )
        );
        assert_eq!((&read.files, &read.dirs), (&manifest.files, &manifest.dirs));

        let head = read_head(&path).unwrap();
        assert_eq!(
            (head.schema, &head.columns, &head.segments, head.mirror),
            (
                manifest.schema,
                &manifest.columns,
                &manifest.segments,
                manifest.mirror
            )
        );
        assert_eq!((head.rows, head.files), (12, 3));
        assert_eq!(head.with_issues, vec![manifest.files[1].clone()]);
        let loaded = Loaded::from_head(
            Arc::new(datafusion::arrow::datatypes::Schema::empty()),
            tmp.path(),
            head,
        );
        let current = Loaded::current(
            Arc::new(datafusion::arrow::datatypes::Schema::empty()),
            tmp.path(),
            read,
            false,
        );
        assert_eq!(
            (&loaded.data, loaded.rows, loaded.file_count),
            (&current.data, current.rows, current.file_count)
        );
        assert!(loaded.files_with_issues().eq(current.files_with_issues()));

        // A damaged file list: the head still reads, the whole manifest does not.
        let mut bytes = fs::read(&path).unwrap();
        let at = bytes.len() - 12;
        bytes[at] ^= 0x55;
        fs::write(&path, &bytes).unwrap();
        assert!(read_head(&path).is_some());
        assert!(read_manifest(&path).is_none());

        // A manifest of the previous format (one checksum after the whole file) is not read.
        let mut old = Encoder::new(MAGIC);
        old.var(5);
        old.u64_fixed(42);
        old.var(0);
        old.u8(0);
        old.var(0);
        old.var(0);
        fs::write(&path, old.finish()).unwrap();
        assert!(read_head(&path).is_none());
        assert!(read_manifest(&path).is_none());
    }

    /// A table is kept in several data files; one changed source file rewrites the one holding
    /// it, the others stay as they are (same files), and the rows are those of a fresh build.
    #[test]
    fn one_changed_file_rewrites_only_its_segment() {
        let tmp = tempfile::tempdir().unwrap();
        let root = sample_metadata(tmp.path(), 40, 5);
        let build = |cache: &str| build_instances(&root, &tmp.path().join(cache));
        let first = build("a");
        assert!(first.data.len() > 3, "several segments: {:?}", first.data);
        let changed = root.join("instances").join(&first.files[17].path);
        let mut text = fs::read(&changed).unwrap();
        text.extend_from_slice(b"\n{\"InstanceId\": \"i-added\"}\n");
        fs::write(&changed, text).unwrap();
        let second = build("a");
        assert_eq!(second.parsed, 1);
        let rewritten: Vec<&PathBuf> = second
            .data
            .iter()
            .filter(|p| !first.data.contains(p))
            .collect();
        assert_eq!(rewritten.len(), 1, "{:?} -> {:?}", first.data, second.data);
        assert_eq!(second.data.len(), first.data.len());
        for path in first.data.iter().filter(|p| !second.data.contains(p)) {
            assert!(!path.exists(), "{} is left behind", path.display());
        }
        assert_eq!(second.rows, first.rows + 1);
        assert_eq!(rows(&second), rows(&build("scratch")));
    }
}
