//! The embedded engine's columnar cache: each table of a metadata tree is loaded once into an
//! Arrow IPC file, and rebuilt incrementally: a file whose size and modification time are
//! unchanged is never parsed again; its rows are copied from the previous cache.
//!
//! Layout under the cache directory: `<table>.manifest.json` (which data file is current, and
//! the source files it holds, in order) and `<table>.<generation>.arrow`. The data file is
//! written first and the manifest renamed into place last, so a reader always sees a complete
//! pair, and an interrupted rebuild leaves the previous cache in force.
//!
//! Checking that a cache is current must not cost a directory listing per partition: the
//! manifest also remembers the modification time of every folder it listed. A folder whose
//! mtime is unchanged has the same entries (adding, removing or renaming an entry updates it),
//! so the check is one `stat` per folder and per file, spread over every core. A folder whose
//! mtime was too recent when it was listed (the clock ticks coarsely) is not trusted, and the
//! next run lists the tree again.

use std::collections::HashMap;
use std::fs;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, UNIX_EPOCH};

use anyhow::Context;
use bytes::Bytes;
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringBuilder};
use datafusion::arrow::buffer::Buffer;
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::SchemaRef;
use serde::{Deserialize, Serialize};

use crate::bucket::layout;
use crate::catalog::ddl::TableDef;
use crate::engine::local::hive::{FileIssues, TimestampFormats};
use crate::engine::local::json::RowsBuilder;
use crate::hash::fnv1a;
use crate::reporter::Reporter;

/// Bump when the cache layout or the loader's reading of values changes.
const CACHE_FORMAT: u32 = 3;
/// A folder modified less than this before it was listed may still change within the same
/// clock tick: its mtime is not trusted as a proof that its entries are unchanged.
const RACY_NANOS: i128 = 2_000_000_000;
/// Rows per IPC record batch.
const BATCH_ROWS: usize = 16 * 1024;

/// One source file as the manifest remembers it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    /// Relative to the table folder: `accountid=.../region=.../groupname=.../name.json`.
    pub path: String,
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime: i128,
    pub rows: usize,
    /// Malformed lines and values Athena would refuse: counts and a few samples.
    #[serde(default, skip_serializing_if = "FileIssues::is_empty")]
    pub issues: FileIssues,
}

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    /// Hash of the table's DDL: a changed schema rebuilds from scratch.
    schema: String,
    /// The current data file (a name in the same directory).
    data: String,
    files: Vec<FileEntry>,
    /// Every folder listed, with its mtime then (0: too recent to be trusted).
    #[serde(default)]
    dirs: Vec<DirStamp>,
}

/// A listed folder, relative to the table folder (`""` is the table folder itself).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct DirStamp {
    path: String,
    mtime: i128,
}

/// The state of a table after [`refresh`].
#[derive(Debug)]
pub struct Loaded {
    pub schema: SchemaRef,
    /// The Arrow IPC file holding every row.
    pub data: PathBuf,
    pub rows: usize,
    pub files: Vec<FileEntry>,
    /// How many source files were parsed this time (0 when the cache was current).
    pub parsed: usize,
    /// Whether the tree had to be listed (false: the folder and file stamps proved it current).
    pub listed: bool,
}

impl Loaded {
    /// The table as `manifest` (current) describes it; nothing parsed.
    fn current(schema: SchemaRef, cache_dir: &Path, manifest: Manifest, listed: bool) -> Self {
        Self {
            schema,
            data: cache_dir.join(&manifest.data),
            rows: manifest.files.iter().map(|f| f.rows).sum(),
            files: manifest.files,
            parsed: 0,
            listed,
        }
    }

    /// The files with malformed lines or values Athena would refuse.
    pub fn files_with_issues(&self) -> impl Iterator<Item = &FileEntry> {
        self.files.iter().filter(|f| !f.issues.is_empty())
    }
}

/// A source file found in the tree, with its partition values.
struct Found {
    entry: FileEntry,
    partition: Vec<String>,
}

/// Bring the cache of `table` (read from `<root>/<table folder below metadata/>`) up to date.
pub fn refresh(
    root: &Path,
    cache_dir: &Path,
    table: &TableDef,
    reporter: &dyn Reporter,
) -> anyhow::Result<Loaded> {
    let started = Instant::now();
    let schema = table.arrow_schema();
    let folder = layout::table_dir(root, &table.folder);
    let manifest_path = cache_dir.join(format!("{}.manifest.json", table.name));
    let schema_hash = format!("{:016x}", fnv1a(table.text.as_bytes()));
    let mut previous = read_manifest(&manifest_path, reporter)
        .filter(|m| m.format == CACHE_FORMAT && m.schema == schema_hash)
        .filter(|m| ipc_intact(&cache_dir.join(&m.data)));

    if previous.as_ref().is_some_and(|p| stamps_hold(&folder, p))
        && let Some(current) = previous.take()
    {
        tracing::debug!(
            table = %table.name,
            files = current.files.len(),
            elapsed_us = started.elapsed().as_micros() as u64,
            "cache is current"
        );
        return Ok(Loaded::current(schema, cache_dir, current, false));
    }

    let listing = list(&folder, &table.partitions)
        .with_context(|| format!("cannot list {} for table {}", folder.display(), table.name))?;
    let found = listing.files;

    let same_files = previous.as_ref().is_some_and(|p| {
        p.files.len() == found.len()
            && p.files.iter().zip(&found).all(|(old, new)| {
                old.path == new.entry.path
                    && old.size == new.entry.size
                    && old.mtime == new.entry.mtime
            })
    });
    if same_files && let Some(mut current) = previous.take() {
        // Same files: only the folder stamps are renewed, so the next check is quick.
        if current.dirs != listing.dirs {
            current.dirs = listing.dirs;
            write_manifest(cache_dir, &table.name, &manifest_path, &current)?;
        }
        tracing::debug!(table = %table.name, files = found.len(), "cache is current (listed)");
        return Ok(Loaded::current(schema, cache_dir, current, true));
    }

    // Which files keep their rows, and where those rows sit in the previous data file.
    let mut reusable: HashMap<&str, (usize, &FileEntry)> = HashMap::new();
    if let Some(previous) = &previous {
        let mut offset = 0;
        for file in &previous.files {
            reusable.insert(file.path.as_str(), (offset, file));
            offset += file.rows;
        }
    }
    // The previous rows, mapped (not copied); a damaged cache file is rebuilt from the tree.
    let old_rows = match &previous {
        Some(previous) if found.iter().any(|f| reusable_row(&reusable, f).is_some()) => {
            match read_ipc(&cache_dir.join(&previous.data), None) {
                Ok(batches) => Some(OldRows::new(batches)),
                Err(err) => {
                    reporter.warn(&format!(
                        "{err:#}; table {} is rebuilt from its files",
                        table.name
                    ));
                    reusable.clear();
                    None
                }
            }
        }
        _ => None,
    };
    let unchanged = |f: &Found| reusable_row(&reusable, f);

    let to_parse: Vec<&Found> = found.iter().filter(|f| unchanged(f).is_none()).collect();
    let parsed_batches = parse_files(&folder, table, &schema, &to_parse)?;
    let mut parsed = parsed_batches.into_iter();

    // Assemble in file order: runs of unchanged files as slices of the old data, new batches
    // otherwise.
    let mut pieces: Vec<RecordBatch> = Vec::new();
    let mut files = Vec::with_capacity(found.len());
    let mut run: Option<(usize, usize)> = None;
    for f in &found {
        match (unchanged(f), &old_rows) {
            (Some((offset, old)), Some(_)) => {
                run = match run {
                    Some((start, len)) if start + len == offset => Some((start, len + old.rows)),
                    Some((start, len)) => {
                        pieces.extend(old_rows.iter().flat_map(|o| o.slice(start, len)));
                        Some((offset, old.rows))
                    }
                    None => Some((offset, old.rows)),
                };
                files.push(old.clone());
            }
            _ => {
                if let Some((start, len)) = run.take() {
                    pieces.extend(old_rows.iter().flat_map(|o| o.slice(start, len)));
                }
                let (entry, batch) = parsed
                    .next()
                    .context("internal error: parsed files out of step")?;
                pieces.push(batch);
                files.push(entry);
            }
        }
    }
    if let Some((start, len)) = run {
        pieces.extend(old_rows.iter().flat_map(|o| o.slice(start, len)));
    }
    let rows: usize = pieces.iter().map(RecordBatch::num_rows).sum();

    fs::create_dir_all(cache_dir)
        .with_context(|| format!("cannot create the cache directory {}", cache_dir.display()))?;
    let generation = format!(
        "{}.{}-{}.arrow",
        table.name,
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );
    let data_path = cache_dir.join(&generation);
    write_ipc(&data_path, &schema, &pieces)?;
    let manifest = Manifest {
        format: CACHE_FORMAT,
        schema: schema_hash,
        data: generation,
        files,
        dirs: listing.dirs,
    };
    write_manifest(cache_dir, &table.name, &manifest_path, &manifest)?;
    if let Some(previous) = previous {
        // Readers that opened the old file keep it until they close it (unlink semantics).
        let _ = fs::remove_file(cache_dir.join(previous.data));
    }
    tracing::debug!(
        table = %table.name,
        files = manifest.files.len(),
        parsed = to_parse.len(),
        rows,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "cache rebuilt"
    );
    Ok(Loaded {
        schema,
        data: data_path,
        rows,
        files: manifest.files,
        parsed: to_parse.len(),
        listed: true,
    })
}

/// What [`list`] found: the source files and the folders it read.
struct Listing {
    files: Vec<Found>,
    dirs: Vec<DirStamp>,
}

/// `accountid=*/region=*/groupname=*/<file>` below `folder`, sorted by path. A missing folder is
/// an empty table; folders that are not `key=value` partitions, and hidden files (`.x`, `_x`,
/// as Athena skips them), are ignored.
fn list(folder: &Path, partitions: &[String]) -> std::io::Result<Listing> {
    let mut listing = Listing {
        files: Vec::new(),
        dirs: Vec::new(),
    };
    if !folder.is_dir() {
        return Ok(listing);
    }
    let now = std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128);
    walk(
        folder,
        partitions,
        &mut Vec::new(),
        String::new(),
        now,
        &mut listing,
    )?;
    listing
        .files
        .sort_by(|a, b| a.entry.path.cmp(&b.entry.path));
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

fn walk(
    dir: &Path,
    partitions: &[String],
    values: &mut Vec<String>,
    rel: String,
    now: i128,
    out: &mut Listing,
) -> std::io::Result<()> {
    // Stamp the folder before reading it: a change after this point moves its mtime.
    let mtime = mtime_nanos(&fs::metadata(dir)?);
    out.dirs.push(DirStamp {
        path: rel.clone(),
        mtime: if mtime == 0 || now - mtime < RACY_NANOS {
            0
        } else {
            mtime
        },
    });
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        let file_type = entry.file_type()?;
        let rel_path = if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        };
        if let Some(key) = partitions.get(values.len()) {
            // Expect the next partition folder.
            let value = name
                .split_once('=')
                .filter(|(k, v)| k.eq_ignore_ascii_case(key) && !v.is_empty())
                .map(|(_, v)| v.to_string());
            match value {
                Some(value) if file_type.is_dir() => {
                    values.push(value);
                    walk(&entry.path(), partitions, values, rel_path, now, out)?;
                    values.pop();
                }
                _ => {
                    tracing::debug!(path = %entry.path().display(), "not a {key}= partition folder, ignored")
                }
            }
        } else if file_type.is_file() || (file_type.is_symlink() && entry.path().is_file()) {
            let meta = fs::metadata(entry.path())?;
            out.files.push(Found {
                entry: FileEntry {
                    path: rel_path,
                    size: meta.len(),
                    mtime: mtime_nanos(&meta),
                    rows: 0,
                    issues: FileIssues::default(),
                },
                partition: values.clone(),
            });
        }
    }
    Ok(())
}

/// Whether the tree below `folder` is exactly what `manifest` was built from, proved by one
/// `stat` per folder and per file (spread over every core), without listing any folder.
fn stamps_hold(folder: &Path, manifest: &Manifest) -> bool {
    if manifest.dirs.is_empty() || manifest.dirs.iter().any(|d| d.mtime == 0) {
        return false;
    }
    let Some(stamps) = Stamper::open(folder) else {
        return false;
    };
    let dirs_hold = || {
        all_parallel(&manifest.dirs, |d| {
            stamps
                .stat(&d.path)
                .is_some_and(|(is_dir, _, mtime)| is_dir && mtime == d.mtime)
        })
    };
    let files_hold = || {
        all_parallel(&manifest.files, |f| {
            stamps
                .stat(&f.path)
                .is_some_and(|(_, size, mtime)| size == f.size && mtime == f.mtime)
        })
    };
    dirs_hold() && files_hold()
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

/// `items.iter().all(check)`, on every core; stops early once one item fails.
fn all_parallel<T: Sync>(items: &[T], check: impl Fn(&T) -> bool + Sync) -> bool {
    let threads = workers(items.len(), 512);
    if threads == 1 {
        return items.iter().all(check);
    }
    let failed = std::sync::atomic::AtomicBool::new(false);
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        for part in items.chunks(chunk) {
            let (failed, check) = (&failed, &check);
            scope.spawn(move || {
                for (i, item) in part.iter().enumerate() {
                    if i % 64 == 0 && failed.load(std::sync::atomic::Ordering::Relaxed) {
                        return;
                    }
                    if !check(item) {
                        failed.store(true, std::sync::atomic::Ordering::Relaxed);
                        return;
                    }
                }
            });
        }
    });
    !failed.into_inner()
}

/// Parse files on every core; one record batch per file, in the given order. Each worker loads a
/// contiguous run of files into one set of builders; the files' rows are slices of its batch.
fn parse_files(
    folder: &Path,
    table: &TableDef,
    schema: &SchemaRef,
    files: &[&Found],
) -> anyhow::Result<Vec<(FileEntry, RecordBatch)>> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let chunk = files.len().div_ceil(workers(files.len(), 1));
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| scope.spawn(move || parse_run(folder, table, schema, part)))
            .collect();
        let mut out = Vec::with_capacity(files.len());
        for handle in handles {
            let part = handle
                .join()
                .map_err(|_| anyhow::anyhow!("a loader thread panicked"))??;
            out.extend(part);
        }
        Ok(out)
    })
}

/// Load a run of files into one batch, and cut it back into one slice per file.
fn parse_run(
    folder: &Path,
    table: &TableDef,
    schema: &SchemaRef,
    files: &[&Found],
) -> anyhow::Result<Vec<(FileEntry, RecordBatch)>> {
    let formats = TimestampFormats::compile(&table.timestamp_formats())
        .with_context(|| format!("ddl/{}.sql", table.name))?;
    let mut rows = RowsBuilder::new(&table.columns, formats);
    let mut partitions: Vec<StringBuilder> = table
        .partitions
        .iter()
        .map(|_| StringBuilder::new())
        .collect();
    let mut entries = Vec::with_capacity(files.len());
    for found in files {
        let path = folder.join(&found.entry.path);
        let bytes = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let before = rows.rows();
        let issues = rows.append_ndjson(&bytes);
        let added = rows.rows() - before;
        for (builder, value) in partitions.iter_mut().zip(&found.partition) {
            for _ in 0..added {
                builder.append_value(value);
            }
        }
        let mut entry = found.entry.clone();
        entry.rows = added;
        entry.issues = issues;
        entries.push(entry);
    }
    let mut columns = rows
        .finish()
        .with_context(|| format!("cannot load table {}", table.name))?;
    columns.extend(
        partitions
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef),
    );
    let batch = RecordBatch::try_new(schema.clone(), columns)
        .with_context(|| format!("cannot load table {}", table.name))?;
    let mut offset = 0;
    Ok(entries
        .into_iter()
        .map(|entry| {
            let slice = batch.slice(offset, entry.rows);
            offset += entry.rows;
            (entry, slice)
        })
        .collect())
}

/// Write the manifest beside a temporary name, then rename it into place.
fn write_manifest(
    cache_dir: &Path,
    table: &str,
    path: &Path,
    manifest: &Manifest,
) -> anyhow::Result<()> {
    let tmp = cache_dir.join(format!(".{table}.manifest.{}.tmp", std::process::id()));
    fs::write(&tmp, serde_json::to_vec(manifest)?)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

fn read_manifest(path: &Path, reporter: &dyn Reporter) -> Option<Manifest> {
    let bytes = fs::read(path).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(m) => Some(m),
        Err(err) => {
            reporter.warn(&format!(
                "ignoring unreadable cache manifest {}: {err}",
                path.display()
            ));
            None
        }
    }
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

/// Where the previous rows of an unchanged file sit: (first row, its entry).
fn reusable_row<'a>(
    reusable: &HashMap<&str, (usize, &'a FileEntry)>,
    f: &Found,
) -> Option<(usize, &'a FileEntry)> {
    reusable
        .get(f.entry.path.as_str())
        .filter(|(_, old)| old.size == f.entry.size && old.mtime == f.entry.mtime)
        .map(|(offset, old)| (*offset, *old))
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
pub fn read_ipc(path: &Path, projection: Option<Vec<usize>>) -> anyhow::Result<Vec<RecordBatch>> {
    let context = || format!("cannot read cache {}", path.display());
    let file = fs::File::open(path).with_context(context)?;
    // SAFETY: cache data files are written under a fresh name, renamed into place and never
    // written again; a newer generation unlinks them, which leaves existing mappings intact.
    let map = unsafe { memmap2::Mmap::map(&file) }.with_context(context)?;
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

/// Write `pieces` (in order) as one IPC file of batches of about [`BATCH_ROWS`] rows: big pieces
/// are cut, runs of small ones (one per parsed file) are gathered.
fn write_ipc(path: &Path, schema: &SchemaRef, pieces: &[RecordBatch]) -> anyhow::Result<()> {
    let tmp = path.with_extension("arrow.tmp");
    let file = fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    let mut writer = arrow_ipc::writer::FileWriter::try_new(BufWriter::new(file), schema)?;
    let mut small: Vec<RecordBatch> = Vec::new();
    let mut small_rows = 0;
    let flush = |small: &mut Vec<RecordBatch>,
                 writer: &mut arrow_ipc::writer::FileWriter<_>|
     -> anyhow::Result<()> {
        if !small.is_empty() {
            writer.write(&concat_batches(schema, small.iter())?)?;
            small.clear();
        }
        Ok(())
    };
    for piece in pieces {
        if piece.num_rows() >= BATCH_ROWS / 2 {
            flush(&mut small, &mut writer)?;
            small_rows = 0;
            let mut offset = 0;
            while offset < piece.num_rows() {
                let len = BATCH_ROWS.min(piece.num_rows() - offset);
                writer.write(&piece.slice(offset, len))?;
                offset += len;
            }
        } else if piece.num_rows() > 0 {
            small_rows += piece.num_rows();
            small.push(piece.clone());
            if small_rows >= BATCH_ROWS {
                flush(&mut small, &mut writer)?;
                small_rows = 0;
            }
        }
    }
    flush(&mut small, &mut writer)?;
    writer.finish()?;
    writer
        .into_inner()
        .context("cannot flush the cache file")?
        .into_inner()
        .map_err(|e| e.into_error())
        .context("cannot flush the cache file")?
        .sync_all()
        .ok();
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
