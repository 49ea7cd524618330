//! The embedded engine's columnar cache: each table of a metadata tree is loaded once into an
//! Arrow IPC file, and rebuilt incrementally: a file whose size and modification time are
//! unchanged is never parsed again; its rows are copied from the previous cache.
//!
//! Layout under the cache directory: `<table>.manifest.json` (which data file is current, and
//! the source files it holds, in order) and `<table>.<generation>.arrow`. The data file is
//! written first and the manifest renamed into place last, so a reader always sees a complete
//! pair, and an interrupted rebuild leaves the previous cache in force.

use std::collections::HashMap;
use std::fs;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, UNIX_EPOCH};

use anyhow::Context;
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::SchemaRef;
use serde::{Deserialize, Serialize};

use crate::catalog::ddl::TableDef;
use crate::engine::json::{BadLine, build_columns, parse_lines};

/// Bump when the cache layout or the loader's reading of values changes.
const CACHE_FORMAT: u32 = 1;
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
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bad: Vec<BadLine>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    /// Hash of the table's DDL: a changed schema rebuilds from scratch.
    schema: String,
    /// The current data file (a name in the same directory).
    data: String,
    files: Vec<FileEntry>,
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
}

impl Loaded {
    /// Every malformed line of the table, with the file it is in.
    pub fn bad_lines(&self) -> impl Iterator<Item = (&str, &BadLine)> {
        self.files
            .iter()
            .flat_map(|f| f.bad.iter().map(move |b| (f.path.as_str(), b)))
    }
}

/// A source file found in the tree, with its partition values.
struct Found {
    entry: FileEntry,
    partition: Vec<String>,
}

/// Bring the cache of `table` (read from `<root>/<table folder below metadata/>`) up to date.
pub fn refresh(root: &Path, cache_dir: &Path, table: &TableDef) -> anyhow::Result<Loaded> {
    let started = Instant::now();
    let schema = table.arrow_schema();
    let folder = root.join(
        table
            .folder
            .strip_prefix("metadata/")
            .unwrap_or(&table.folder),
    );
    let found = list(&folder, &table.partitions)
        .with_context(|| format!("cannot list {} for table {}", folder.display(), table.name))?;
    let manifest_path = cache_dir.join(format!("{}.manifest.json", table.name));
    let schema_hash = format!("{:016x}", fnv1a(table.text.as_bytes()));
    let previous = read_manifest(&manifest_path)
        .filter(|m| m.format == CACHE_FORMAT && m.schema == schema_hash)
        .filter(|m| cache_dir.join(&m.data).is_file());

    if let Some(previous) = &previous {
        let same = previous.files.len() == found.len()
            && previous.files.iter().zip(&found).all(|(old, new)| {
                old.path == new.entry.path
                    && old.size == new.entry.size
                    && old.mtime == new.entry.mtime
            });
        if same {
            tracing::debug!(table = %table.name, files = found.len(), "cache is current");
            return Ok(Loaded {
                schema,
                data: cache_dir.join(&previous.data),
                rows: previous.files.iter().map(|f| f.rows).sum(),
                files: previous.files.clone(),
                parsed: 0,
            });
        }
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
    let unchanged = |f: &Found| {
        reusable
            .get(f.entry.path.as_str())
            .filter(|(_, old)| old.size == f.entry.size && old.mtime == f.entry.mtime)
            .map(|(offset, old)| (*offset, *old))
    };
    let old_data = match &previous {
        Some(previous) if found.iter().any(|f| unchanged(f).is_some()) => {
            Some(read_all(&cache_dir.join(&previous.data), &schema)?)
        }
        _ => None,
    };

    let to_parse: Vec<&Found> = found.iter().filter(|f| unchanged(f).is_none()).collect();
    let parsed_batches = parse_files(&folder, table, &schema, &to_parse)?;
    let mut parsed = parsed_batches.into_iter();

    // Assemble in file order: slices of the old data for unchanged files, new batches otherwise.
    let mut pieces: Vec<RecordBatch> = Vec::new();
    let mut files = Vec::with_capacity(found.len());
    for f in &found {
        match (unchanged(f), &old_data) {
            (Some((offset, old)), Some(data)) => {
                pieces.push(data.slice(offset, old.rows));
                files.push(old.clone());
            }
            _ => {
                let (entry, batch) = parsed
                    .next()
                    .context("internal error: parsed files out of step")?;
                pieces.push(batch);
                files.push(entry);
            }
        }
    }
    let all = concat_batches(&schema, &pieces).context("cannot assemble the table")?;
    let rows = all.num_rows();

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
    write_ipc(&data_path, &all)?;
    let manifest = Manifest {
        format: CACHE_FORMAT,
        schema: schema_hash,
        data: generation,
        files,
    };
    let tmp = cache_dir.join(format!(
        ".{}.manifest.{}.tmp",
        table.name,
        std::process::id()
    ));
    fs::write(&tmp, serde_json::to_vec(&manifest)?)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, &manifest_path)
        .with_context(|| format!("cannot write {}", manifest_path.display()))?;
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
    })
}

/// `accountid=*/region=*/groupname=*/<file>` below `folder`, sorted by path. A missing folder is
/// an empty table; folders that are not `key=value` partitions, and hidden files (`.x`, `_x`,
/// as Athena skips them), are ignored.
fn list(folder: &Path, partitions: &[String]) -> std::io::Result<Vec<Found>> {
    let mut out = Vec::new();
    if !folder.is_dir() {
        return Ok(out);
    }
    walk(folder, partitions, &mut Vec::new(), String::new(), &mut out)?;
    out.sort_by(|a, b| a.entry.path.cmp(&b.entry.path));
    Ok(out)
}

fn walk(
    dir: &Path,
    partitions: &[String],
    values: &mut Vec<String>,
    rel: String,
    out: &mut Vec<Found>,
) -> std::io::Result<()> {
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
                    walk(&entry.path(), partitions, values, rel_path, out)?;
                    values.pop();
                }
                _ => {
                    tracing::debug!(path = %entry.path().display(), "not a {key}= partition folder, ignored")
                }
            }
        } else if file_type.is_file() || (file_type.is_symlink() && entry.path().is_file()) {
            let meta = fs::metadata(entry.path())?;
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as i128);
            out.push(Found {
                entry: FileEntry {
                    path: rel_path,
                    size: meta.len(),
                    mtime,
                    rows: 0,
                    bad: Vec::new(),
                },
                partition: values.clone(),
            });
        }
    }
    Ok(())
}

/// Parse files on every core; one record batch per file, in the given order.
fn parse_files(
    folder: &Path,
    table: &TableDef,
    schema: &SchemaRef,
    files: &[&Found],
) -> anyhow::Result<Vec<(FileEntry, RecordBatch)>> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(files.len());
    let chunk = files.len().div_ceil(workers);
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|f| parse_file(folder, table, schema, f))
                        .collect::<anyhow::Result<Vec<_>>>()
                })
            })
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

fn parse_file(
    folder: &Path,
    table: &TableDef,
    schema: &SchemaRef,
    found: &Found,
) -> anyhow::Result<(FileEntry, RecordBatch)> {
    let path = folder.join(&found.entry.path);
    let bytes = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let (objects, bad) = parse_lines(&bytes);
    let refs: Vec<_> = objects.iter().collect();
    let mut columns = build_columns(&table.columns, &refs)
        .with_context(|| format!("cannot load {} into {}", path.display(), table.name))?;
    for value in &found.partition {
        columns.push(Arc::new(StringArray::from(vec![value.as_str(); objects.len()])) as ArrayRef);
    }
    let batch = RecordBatch::try_new(schema.clone(), columns)
        .with_context(|| format!("cannot load {} into {}", path.display(), table.name))?;
    let mut entry = found.entry.clone();
    entry.rows = objects.len();
    entry.bad = bad;
    Ok((entry, batch))
}

fn read_manifest(path: &Path) -> Option<Manifest> {
    let bytes = fs::read(path).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(m) => Some(m),
        Err(err) => {
            tracing::warn!(
                "ignoring unreadable cache manifest {}: {err}",
                path.display()
            );
            None
        }
    }
}

/// Read a whole IPC file into one batch.
fn read_all(path: &Path, schema: &SchemaRef) -> anyhow::Result<RecordBatch> {
    let batches = read_ipc(path, None)?;
    concat_batches(schema, &batches)
        .with_context(|| format!("cannot read cache {}", path.display()))
}

/// Read an IPC file's batches, only the `projection` columns when given.
pub fn read_ipc(path: &Path, projection: Option<Vec<usize>>) -> anyhow::Result<Vec<RecordBatch>> {
    let file =
        fs::File::open(path).with_context(|| format!("cannot open cache {}", path.display()))?;
    let reader = arrow_ipc::reader::FileReader::try_new(BufReader::new(file), projection)
        .with_context(|| format!("cannot read cache {}", path.display()))?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("cannot read cache {}", path.display()))
}

fn write_ipc(path: &Path, batch: &RecordBatch) -> anyhow::Result<()> {
    let tmp = path.with_extension("arrow.tmp");
    let file = fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    let mut writer = arrow_ipc::writer::FileWriter::try_new(BufWriter::new(file), &batch.schema())?;
    let mut offset = 0;
    while offset < batch.num_rows() {
        let len = BATCH_ROWS.min(batch.num_rows() - offset);
        writer.write(&batch.slice(offset, len))?;
        offset += len;
    }
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

/// FNV-1a, 64 bits: a stable hash for cache keys (std's hasher may change between releases).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
