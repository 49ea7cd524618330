//! `cs-cmdb mirror`: `<MetadataAndBackupS3Path>/metadata/**` and the `latest-*` backups copied
//! into a local directory laid out exactly like the bucket below the metadata path, so the
//! embedded engine reads it unchanged.
//!
//! - Incremental: a manifest ([`crate::bucket::manifest`]) maps each mirrored path to the object's
//!   ETag, size and LastModified as listed, and to the generation that wrote it; only new or
//!   changed objects are downloaded, removed ones are deleted. Every run that changes the tree
//!   moves the generation on: the embedded engine learns from it what changed without a `stat`.
//! - At scale: the listing is consumed page by page as it arrives (nothing of it is kept but the
//!   classification), against the compact manifest: a million keys list and diff in a few
//!   hundred MB.
//! - Never a half-written tree: every object is downloaded into `.staging/` first; only when all
//!   downloads are done are they renamed into place, the manifest committed, and files it no
//!   longer lists deleted. An interrupted run therefore leaves the previous tree (interrupted
//!   while downloading), whole files of either generation that the next run reconciles
//!   (interrupted while renaming), or files the next run deletes, never a partial file.
//! - Each file's modification time is the object's LastModified (other code reads file times as
//!   the age of a backup).
//! - Keys are mapped to paths safely: `..`, `.`, empty segments (absolute keys, `//`), control
//!   characters and backslashes are refused with a warning naming the key.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use futures::{StreamExt, stream};

use crate::bucket::S3Path;
use crate::bucket::layout;
use crate::bucket::list::{self, ListError};
use crate::bucket::manifest::{self, ETag, Entry, Manifest, PathRuns, Stamp};
use crate::hash::fnv1a;
use crate::reporter::Reporter;

/// Downloads land here before they are renamed into place.
const STAGING: &str = ".staging";
/// Held (exclusively) while a mirror runs, so two runs never interleave.
const LOCK: &str = ".lock";
/// The folders below the metadata path that are mirrored.
const TOP_FOLDERS: [&str; 2] = [layout::METADATA, layout::BACKUPS];

/// What can go wrong, for callers that match on it.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error(transparent)]
    List(#[from] ListError),
    #[error(
        "access denied reading s3://{bucket}/{key} ({code}): the caller needs s3:GetObject on arn:aws:s3:::{bucket}/*"
    )]
    GetDenied {
        bucket: String,
        key: String,
        code: String,
    },
    #[error("cannot download s3://{bucket}/{key}: {message}")]
    Get {
        bucket: String,
        key: String,
        message: String,
    },
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "no mirror of {source_path} in {dir}: run `cs-cmdb mirror --metadata-path {source_path}` first, or drop --offline"
    )]
    NoMirror { source_path: String, dir: PathBuf },
    #[error(
        "s3://{bucket}/{prefix} holds no object under metadata/ or backups/: check --metadata-path (it must be CloneSquad's MetadataAndBackupS3Path, the folder holding metadata/), the bucket and the region; the mirror is empty"
    )]
    NothingListed { bucket: String, prefix: String },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> MirrorError + '_ {
    move |source| MirrorError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Counts of one run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MirrorStats {
    /// Objects listed under `metadata/` and `backups/` (archives included).
    pub listed: usize,
    /// Objects selected for the mirror (metadata and `latest-*` backups).
    pub selected: usize,
    pub fetched: usize,
    pub unchanged: usize,
    pub deleted: usize,
    /// Keys refused as unsafe paths.
    pub skipped: usize,
    /// Downloads that failed (the previous copy, if any, is kept).
    pub failed: usize,
    pub bytes: u64,
    pub elapsed: Duration,
}

/// The default per-object cap: CloneSquad's metadata files are kilobytes to a few megabytes.
pub const DEFAULT_MAX_OBJECT_BYTES: u64 = 256 * 1024 * 1024;

/// How a mirror run downloads.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Downloads at a time.
    pub concurrency: usize,
    /// The largest object downloaded; a bigger one fails (reported, its previous copy kept).
    pub max_object_bytes: u64,
}

/// The warnings of a run about keys (refused, failed), said sorted by key when the run ends,
/// whatever order the listing pages and the concurrent downloads came in: two runs over one
/// bucket say the same lines in the same order.
struct KeyWarnings<'a> {
    reporter: &'a dyn Reporter,
    /// (key below the metadata path, message)
    items: Vec<(String, String)>,
}

impl KeyWarnings<'_> {
    fn push(&mut self, rel: &str, message: String) {
        self.items.push((rel.to_string(), message));
    }
}

impl Drop for KeyWarnings<'_> {
    /// Said on every way out of the run, an error's included.
    fn drop(&mut self) {
        self.items.sort();
        for (_, message) in &self.items {
            self.reporter.warn(message);
        }
    }
}

/// The outcome of [`mirror`].
#[derive(Debug)]
pub struct MirrorReport {
    pub dir: PathBuf,
    pub stats: MirrorStats,
    /// One message per failed download.
    pub failures: Vec<String>,
}

/// The default mirror directory of `path` under a cache root: `<root>/mirror/<bucket>/<prefix-hash>`.
pub fn mirror_dir(cache_root: &Path, path: &S3Path) -> PathBuf {
    cache_root
        .join("mirror")
        .join(&path.bucket)
        .join(format!("{:016x}", fnv1a(path.prefix.as_bytes())))
}

/// Whether `dir` holds a committed mirror (a manifest).
pub fn has_mirror(dir: &Path) -> bool {
    manifest::exists(dir)
}

/// Check that `dir` holds a mirror, for `--offline`.
pub fn require_mirror(dir: &Path, path: &S3Path) -> Result<(), MirrorError> {
    if has_mirror(dir) {
        Ok(())
    } else {
        Err(MirrorError::NoMirror {
            source_path: path.to_string(),
            dir: dir.to_path_buf(),
        })
    }
}

/// Why `rel` (a key below the metadata path) cannot be a path below the mirror directory.
pub fn unsafe_reason(rel: &str) -> Option<&'static str> {
    if rel.starts_with('/') {
        return Some("an absolute path");
    }
    for segment in rel.split('/') {
        let reason = match segment {
            "" => Some("an empty path segment (`//`)"),
            "." | ".." => Some("a `.` or `..` path segment"),
            s if s.chars().any(char::is_control) => Some("a control character"),
            s if s.contains('\\') => Some("a backslash"),
            s if s.len() > 255 => Some("a path segment longer than 255 bytes"),
            _ => None,
        };
        if reason.is_some() {
            return reason;
        }
    }
    None
}

/// One object to download: where the manifest has it (if it does), and what the listing said of
/// it, then what was downloaded. Its path has the same index in the run's [`PathRuns`].
struct Todo {
    known: Option<usize>,
    entry: Entry,
}

/// What became of an object the manifest knew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Not in the listing (gone from the bucket, or now refused): deleted.
    Gone,
    /// Listed as is: kept if the local copy is intact.
    Same,
    /// Listed, changed or damaged: downloaded (placed) or not (failed).
    Fetch,
    Placed,
}

/// Fault injection for the test suite, compiled only with the `test-hooks` feature:
/// `CS_CMDB_TEST_MIRROR_ABORT=fetch:N` (or `rename:N`) aborts the process after N downloads (or
/// renames), to prove that an interrupted run leaves a consistent tree. Not a user setting.
#[cfg(feature = "test-hooks")]
fn abort_point(kind: &str) -> Option<usize> {
    let value = std::env::var("CS_CMDB_TEST_MIRROR_ABORT").ok()?;
    let (k, n) = value.split_once(':')?;
    if k == kind { n.parse().ok() } else { None }
}

/// Without the `test-hooks` feature (every build but the test suite's), no fault is injected.
#[cfg(not(feature = "test-hooks"))]
fn abort_point(_: &str) -> Option<usize> {
    None
}

fn system_time(ms: i64) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    }
}

fn mtime_ms(meta: &std::fs::Metadata) -> Option<i64> {
    let t = meta.modified().ok()?;
    Some(match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).ok()?,
        Err(e) => -i64::try_from(e.duration().as_millis()).ok()?,
    })
}

/// What the listing says of an object, as a manifest entry (generation set when placed).
fn listed_entry(object: &list::S3Object) -> Entry {
    Entry {
        etag: ETag::parse(&object.etag),
        size: object.size,
        last_modified_ms: object.last_modified.map_or(0, |t| t.timestamp_millis()),
        generation: 0,
    }
}

/// Whether the listing describes the object the manifest remembers. Stores that list no ETag
/// are compared by size and LastModified.
fn same_object(known: &Entry, listed: &Entry) -> bool {
    known.etag == listed.etag
        && known.size == listed.size
        && (!listed.etag.is_empty() || known.last_modified_ms == listed.last_modified_ms)
}

/// Download one object into `staged`, with the object's LastModified as its modification time.
/// Returns what the manifest records: the listing's description when the object downloaded is
/// the one listed (the next listing is compared with it), else the download's own.
async fn fetch(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    listed: &Entry,
    staged: PathBuf,
    max_bytes: u64,
) -> Result<Entry, MirrorError> {
    let get_err = |message: String| MirrorError::Get {
        bucket: bucket.to_string(),
        key: list::printable(key),
        message,
    };
    let response = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| match crate::aws::error_code(&e) {
            Some(code @ "AccessDenied") => MirrorError::GetDenied {
                bucket: bucket.to_string(),
                key: list::printable(key),
                code: code.to_string(),
            },
            _ => get_err(crate::aws::describe(&e)),
        })?;
    let etag = response.e_tag().map(ETag::parse);
    let response_modified = response.last_modified().and_then(list::to_chrono);
    // Streamed to the staging file, created exclusively (never through an existing name or
    // link), never more than `max_bytes`.
    let too_big = |size: u64| {
        get_err(format!(
            "the object holds {size} bytes or more, above the cap of {max_bytes} (`max-object-bytes` in cs-cmdb.toml); it is not mirrored"
        ))
    };
    if listed.size > max_bytes {
        return Err(too_big(listed.size));
    }
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&staged)
        .await
        .map_err(io_err(&staged))?;
    let mut body = response.body;
    let mut size = 0u64;
    while let Some(chunk) = body
        .next()
        .await
        .transpose()
        .map_err(|e| get_err(format!("the download broke off: {e}")))?
    {
        size += chunk.len() as u64;
        if size > max_bytes {
            drop(file);
            let _ = tokio::fs::remove_file(&staged).await;
            return Err(too_big(size));
        }
        tokio::io::AsyncWriteExt::write_all(&mut file, &chunk)
            .await
            .map_err(io_err(&staged))?;
    }
    tokio::io::AsyncWriteExt::flush(&mut file)
        .await
        .map_err(io_err(&staged))?;
    // The listing's LastModified has milliseconds, GetObject's only seconds: keep the listing's
    // when the object is the one listed.
    let as_listed = size == listed.size
        && (listed.etag.is_empty() || etag.as_ref().is_none_or(|e| *e == listed.etag));
    let entry = if as_listed {
        listed.clone()
    } else {
        Entry {
            etag: etag.unwrap_or_else(|| listed.etag.clone()),
            size,
            last_modified_ms: response_modified.map_or(0, |t| t.timestamp_millis()),
            generation: 0,
        }
    };
    let modified = system_time(entry.last_modified_ms);
    let file = file.into_std().await;
    let path = staged;
    tokio::task::spawn_blocking(move || -> Result<(), MirrorError> {
        file.sync_data().map_err(io_err(&path))?;
        file.set_modified(modified).map_err(io_err(&path))?;
        Ok(())
    })
    .await
    .map_err(|e| get_err(format!("the writer stopped: {e}")))??;
    Ok(entry)
}

/// Move one download into place. A key that is also the folder of other keys (`a` and `a/b`)
/// cannot be both a file and a folder: the one that comes second fails. `made` remembers the
/// last folder created, so a run of files in one folder creates it once.
fn place(dir: &Path, rel: &str, staged: &Path, made: &mut PathBuf) -> std::io::Result<()> {
    let target = dir.join(rel);
    if let Some(parent) = target.parent()
        && parent != made.as_path()
    {
        unlink_links(dir, rel)?;
        std::fs::create_dir_all(parent)?;
        *made = parent.to_path_buf();
    }
    if std::fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
        return Err(std::io::Error::other(format!(
            "{} {FOLDER_HOLDING_OBJECTS}",
            target.display()
        )));
    }
    std::fs::rename(staged, &target)
}

/// Whether placing failed because the key cannot exist beside another one (a file where a
/// folder is needed, or the other way round) or on this file system (a name too long).
fn collides(err: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        err.kind(),
        ErrorKind::AlreadyExists
            | ErrorKind::NotADirectory
            | ErrorKind::IsADirectory
            | ErrorKind::InvalidFilename
    ) || err.to_string().ends_with(FOLDER_HOLDING_OBJECTS)
}

/// The end of [`place`]'s message for a key that is also a folder of other keys.
const FOLDER_HOLDING_OBJECTS: &str = "is a folder holding other objects";

/// The mirror owns its tree: a symbolic link where one of `rel`'s folders should be (put there by
/// someone else) is removed, never followed, so nothing is written through it.
fn unlink_links(dir: &Path, rel: &str) -> std::io::Result<()> {
    let mut at = dir.to_path_buf();
    let mut folders: Vec<&str> = rel.split('/').collect();
    folders.pop();
    for folder in folders {
        at.push(folder);
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => {
                tracing::debug!(path = %at.display(), "symbolic link in the mirror removed");
                std::fs::remove_file(&at)?;
                return Ok(());
            }
            Ok(_) => {}
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

/// Whether the local copy of `rel` is the one the manifest describes.
fn intact(dir: &Path, rel: &str, entry: &Entry) -> bool {
    std::fs::symlink_metadata(dir.join(rel)).is_ok_and(|meta| {
        meta.is_file()
            && meta.len() == entry.size
            && mtime_ms(&meta) == Some(entry.last_modified_ms)
    })
}

/// The manifest of the mirror in `dir` when it is one of `source`, else an empty one; and whether
/// it must be written again even if nothing changes (it was another format or missing).
fn read_manifest(dir: &Path, source: &str, reporter: &dyn Reporter) -> (Manifest, bool) {
    match Manifest::read(dir) {
        Ok(Some(m)) if m.source == source => {
            let current = dir.join(manifest::FILE).is_file();
            (m, !current)
        }
        Ok(Some(_)) => {
            reporter.warn(&format!(
                "the mirror in {} is of another source; mirroring from scratch",
                dir.display()
            ));
            (Manifest::new(source), true)
        }
        Ok(None) => (Manifest::new(source), true),
        Err(why) => {
            reporter.warn(&format!("{why}; mirroring from scratch"));
            (Manifest::new(source), true)
        }
    }
}

/// The indices of `candidates` (flags over the manifest) whose local copy is not intact, checked
/// on every core.
fn damaged(dir: &Path, manifest: &Manifest, candidates: &[Fate]) -> Vec<usize> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(manifest.len().div_ceil(4096))
        .max(1);
    let chunk = manifest.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let (start, end) = (t * chunk, ((t + 1) * chunk).min(manifest.len()));
                    let mut cursor = manifest.cursor_at(start);
                    let mut out = Vec::new();
                    while let Some((i, rel)) = cursor.next() {
                        if i >= end {
                            break;
                        }
                        if candidates[i] == Fate::Same && !intact(dir, rel, manifest.entry(i)) {
                            out.push(i);
                        }
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// Delete files under the mirrored folders that the manifest does not list (gone from the bucket,
/// left by an interrupted run, or by hand), then empty folders.
fn sweep(dir: &Path, keep: &Manifest) -> Result<usize, MirrorError> {
    fn walk(
        dir: &Path,
        rel: &str,
        keep: &Manifest,
        removed: &mut usize,
    ) -> Result<bool, MirrorError> {
        let mut empty = true;
        for item in std::fs::read_dir(dir).map_err(io_err(dir))? {
            let item = item.map_err(io_err(dir))?;
            let path = item.path();
            let name = item.file_name().to_string_lossy().into_owned();
            let child = format!("{rel}/{name}");
            let kind = item.file_type().map_err(io_err(&path))?;
            if kind.is_dir() {
                if walk(&path, &child, keep, removed)? {
                    std::fs::remove_dir(&path).map_err(io_err(&path))?;
                } else {
                    empty = false;
                }
            } else if keep.find(&child).is_some() {
                empty = false;
            } else {
                std::fs::remove_file(&path).map_err(io_err(&path))?;
                *removed += 1;
            }
        }
        Ok(empty)
    }
    let mut removed = 0;
    for top in TOP_FOLDERS {
        let path = dir.join(top);
        // Never through a link: a linked top folder is removed (the link, not its target).
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                std::fs::remove_file(&path).map_err(io_err(&path))?;
            }
            Ok(meta) if meta.is_dir() => {
                walk(&path, top, keep, &mut removed)?;
            }
            _ => {}
        }
    }
    Ok(removed)
}

/// Take the directory's lock, waiting (with a message) while another run holds it.
async fn lock(dir: &Path, reporter: &dyn Reporter) -> anyhow::Result<std::fs::File> {
    let path = dir.join(LOCK);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            reporter.notice(&format!(
                "waiting for another cs-cmdb mirror of {} to finish...",
                dir.display()
            ));
            tokio::task::spawn_blocking(move || file.lock().map(|()| file))
                .await
                .context("the lock waiter stopped")?
                .with_context(|| format!("cannot lock {}", path.display()))
        }
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// Mirror `path` into `dir`. Listing errors end the run; a failed download is counted, reported,
/// and leaves the previous copy of that object in place.
pub async fn mirror(
    client: &aws_sdk_s3::Client,
    path: &S3Path,
    dir: &Path,
    limits: Limits,
    reporter: &dyn Reporter,
) -> anyhow::Result<MirrorReport> {
    let started = Instant::now();
    let concurrency = limits.concurrency.max(1);
    let max_bytes = limits.max_object_bytes;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the mirror directory {}", dir.display()))?;
    let _lock = lock(dir, reporter).await?;
    let source = path.to_string();
    let (mut known, rewrite) = read_manifest(dir, &source, reporter);
    let mut warnings = KeyWarnings {
        reporter,
        items: Vec::new(),
    };
    let staging = dir.join(STAGING);
    if staging.exists() {
        std::fs::remove_dir_all(&staging)
            .with_context(|| format!("cannot clear {}", staging.display()))?;
    }
    std::fs::create_dir_all(&staging)
        .with_context(|| format!("cannot create {}", staging.display()))?;

    // List metadata/ with one parallel branch per table, and backups/ alongside, and sort each
    // object out as its page arrives: nothing of the listing is kept but what must be fetched.
    // (Deeper fan-out, per account, pays off on a huge bucket but costs a call per account, and
    // every call scans the whole bucket on some S3-compatible stores and emulators.)
    let root = layout::root_prefix(path);
    let bucket = path.bucket.as_str();
    let mut listing = stream::iter(TOP_FOLDERS)
        .map(|top| {
            let depth = usize::from(top == layout::METADATA);
            list::pages(client, bucket, format!("{root}{top}/"), depth, concurrency)
        })
        .flatten_unordered(2);
    let mut stats = MirrorStats::default();
    let mut fates = vec![Fate::Gone; known.len()];
    // The objects to fetch, and their paths (front-coded: a cold mirror of a million keys
    // holds them all until the manifest is built).
    let mut todo: Vec<Todo> = Vec::new();
    let mut paths = PathRuns::default();
    while let Some(page) = listing.next().await {
        let page = page.with_context(|| format!("cannot list {source}"))?;
        for object in page {
            stats.listed += 1;
            let Some(rel) = object.key.strip_prefix(&root) else {
                continue;
            };
            if rel.ends_with('/') && object.size == 0 {
                tracing::debug!(key = %list::printable(&object.key), "folder marker, ignored");
                continue;
            }
            if let Some(reason) = unsafe_reason(rel) {
                warnings.push(
                    rel,
                    format!(
                        "refused s3://{bucket}/{}: the key holds {reason}; it is not mirrored",
                        list::printable(&object.key)
                    ),
                );
                stats.skipped += 1;
                continue;
            }
            if !layout::is_mirrored(rel) {
                continue;
            }
            stats.selected += 1;
            let listed = listed_entry(&object);
            let known_at = match known.find(rel) {
                Some(i) if fates[i] != Fate::Gone => continue, // listed twice
                Some(i) if same_object(known.entry(i), &listed) => {
                    fates[i] = Fate::Same;
                    continue;
                }
                Some(i) => {
                    fates[i] = Fate::Fetch;
                    Some(i)
                }
                None => None,
            };
            paths.push(rel);
            todo.push(Todo {
                known: known_at,
                entry: listed,
            });
        }
    }
    drop(listing);
    // Unchanged objects whose local copy was damaged are fetched again.
    for i in damaged(dir, &known, &fates) {
        fates[i] = Fate::Fetch;
        paths.push(&known.path(i));
        todo.push(Todo {
            known: Some(i),
            entry: known.entry(i).clone(),
        });
    }
    stats.unchanged = fates.iter().filter(|f| **f == Fate::Same).count();

    // Download what is new or changed into the staging folder.
    let abort_fetch = abort_point("fetch");
    let mut done = 0usize;
    let mut failures = Vec::new();
    let progress = reporter.progress(todo.len() as u64, "objects");
    let mut downloads = stream::iter(todo.iter().enumerate())
        .map(|(t, item)| {
            let key = format!("{root}{}", paths.get(t));
            let staged = staging.join(t.to_string());
            async move {
                (
                    t,
                    fetch(client, bucket, &key, &item.entry, staged, max_bytes).await,
                )
            }
        })
        .buffer_unordered(concurrency);
    // Which downloads succeeded; what one found unlike the listing.
    let mut fetched = vec![false; todo.len()];
    let mut unlike_listed = Vec::new();
    while let Some((t, result)) = downloads.next().await {
        match result {
            Ok(entry) => {
                progress.item_done(false);
                stats.bytes += entry.size;
                fetched[t] = true;
                if entry != todo[t].entry {
                    unlike_listed.push((t, entry));
                }
            }
            Err(e) => {
                progress.item_done(true);
                failures.push((paths.get(t), e.to_string()));
            }
        }
        done += 1;
        if abort_fetch == Some(done) {
            std::process::abort();
        }
    }
    drop(downloads);
    progress.finish();
    for (t, entry) in unlike_listed {
        todo[t].entry = entry;
    }

    // Apply: rename the downloads into place, commit the manifest, then delete what is gone.
    let generation = known.stamp.generation + 1;
    let abort_rename = abort_point("rename");
    let mut placed = 0usize;
    let mut made = PathBuf::new();
    for (t, item) in todo.iter_mut().enumerate() {
        if !fetched[t] {
            continue;
        }
        let rel = paths.get(t);
        match place(dir, &rel, &staging.join(t.to_string()), &mut made) {
            Ok(()) => {
                item.entry.generation = generation;
                placed += 1;
            }
            Err(e) if collides(&e) => {
                // `x` and `x/child`, or a name too long here: the first placed stays, this one
                // is refused like an unsafe key (a failure would fail every run).
                fetched[t] = false;
                warnings.push(
                    &rel,
                    format!(
                        "refused s3://{bucket}/{root}{}: {e}; it collides with another key as a file and a folder of one name, or its name is too long for this file system; the first one is kept",
                        list::printable(&rel)
                    ),
                );
                stats.skipped += 1;
            }
            Err(e) => {
                fetched[t] = false;
                let message = format!(
                    "s3://{bucket}/{root}{} is not mirrored: {e}",
                    list::printable(&rel)
                );
                failures.push((rel, message));
            }
        }
        if abort_rename == Some(placed) {
            std::process::abort();
        }
    }
    stats.fetched = placed;
    stats.failed = failures.len();
    failures.sort();
    for (rel, message) in &failures {
        warnings.push(rel, message.clone());
    }
    let failures: Vec<String> = failures.into_iter().map(|(_, message)| message).collect();

    // The new manifest: known objects still listed (updated when fetched; a failed download keeps
    // its previous entry when the previous copy is intact, so the next run retries it), and the
    // new ones placed, merged in path order. Which known objects stay is decided first, so that
    // a run that changes nothing builds nothing.
    for (t, item) in todo.iter().enumerate() {
        if let Some(i) = item.known
            && fetched[t]
        {
            fates[i] = Fate::Placed;
            *known.entry_mut(i) = item.entry.clone();
        }
    }
    let mut kept = 0usize;
    let mut cursor = known.cursor();
    while let Some((i, rel)) = cursor.next() {
        if fates[i] == Fate::Fetch && !intact(dir, rel, known.entry(i)) {
            fates[i] = Fate::Gone;
        }
        if fates[i] != Fate::Gone {
            kept += 1;
        }
    }
    let changed = placed > 0 || kept != known.len();
    let manifest_path = dir.join(manifest::FILE);
    let next = if changed {
        // Written as it is merged, then read back for the sweep once the run's own lists are
        // gone: the old and the new manifest are never in memory together.
        let stamp = Stamp {
            id: known.stamp.id,
            generation,
        };
        manifest::write_with(dir, &known.source, stamp, |sink| {
            let mut fresh = paths
                .sorted()
                .filter(|(t, _)| todo[*t].known.is_none() && fetched[*t])
                .peekable();
            let mut cursor = known.cursor();
            while let Some((i, rel)) = cursor.next() {
                while let Some((t, path)) = fresh.next_if(|(_, path)| path.as_str() < rel) {
                    sink.push(&path, &todo[t].entry)?;
                }
                if fates[i] != Fate::Gone {
                    sink.push(rel, known.entry(i))?;
                }
            }
            for (t, path) in fresh {
                sink.push(&path, &todo[t].entry)?;
            }
            Ok(())
        })
        .map_err(io_err(&manifest_path))?;
        drop((todo, paths, fates, known));
        Manifest::read(dir)
            .map_err(anyhow::Error::msg)?
            .with_context(|| format!("{} vanished as it was written", manifest_path.display()))?
    } else {
        drop((todo, paths, fates));
        if rewrite {
            known.write(dir).map_err(io_err(&manifest_path))?;
        }
        // Nothing moved: the generation stays, so readers keep their caches.
        known
    };
    // Files the manifest does not list (gone from the bucket, or strays) are deleted last: an
    // interruption before leaves files the next run deletes.
    stats.deleted =
        sweep(dir, &next).with_context(|| format!("cannot clean up {}", dir.display()))?;
    let _ = std::fs::remove_dir_all(&staging);
    stats.elapsed = started.elapsed();
    Ok(MirrorReport {
        dir: dir.to_path_buf(),
        stats,
        failures,
    })
}

/// `12.3 KiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The one-line summary printed on stderr.
pub fn summary(path: &S3Path, report: &MirrorReport) -> String {
    let s = &report.stats;
    let mut line = format!(
        "mirror {path} -> {}: {} listed, {} fetched, {} unchanged, {} deleted, {} skipped, {}, {:.2} s",
        report.dir.display(),
        s.listed,
        s.fetched,
        s.unchanged,
        s.deleted,
        s.skipped,
        human_bytes(s.bytes),
        s.elapsed.as_secs_f64()
    );
    if s.failed > 0 {
        line.push_str(&format!(
            "; {} FAILED (kept their previous copy; run again)",
            s.failed
        ));
    }
    line
}

/// Mirror `path` into `dir` with `config`'s credentials and endpoint. A listing of nothing
/// under the prefix is an error: a wrong `--metadata-path` must not look like an empty, healthy
/// fleet.
pub async fn sync(
    config: &aws_config::SdkConfig,
    path: &S3Path,
    dir: &Path,
    limits: Limits,
    reporter: &dyn Reporter,
) -> anyhow::Result<MirrorReport> {
    let client = crate::aws::s3_client(config);
    let report = mirror(&client, path, dir, limits, reporter).await?;
    if report.stats.listed == 0 {
        return Err(MirrorError::NothingListed {
            bucket: path.bucket.clone(),
            prefix: layout::root_prefix(path),
        }
        .into());
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_keys_are_refused() {
        for key in [
            "../x",
            "metadata/../../b",
            "/abs",
            "metadata//x",
            "metadata/./x",
            "metadata/a\0b",
            "metadata/a\nb",
            "metadata/a\u{1b}[31mb",
            "metadata/a\\..\\b",
            "metadata/..",
        ] {
            assert!(unsafe_reason(key).is_some(), "{key:?} accepted");
        }
        for key in [
            "metadata/discovery/accountid=1/region=eu-west-1/groupname=g/x.json",
            "backups/accountid=1/region=r/groupname=g/archive/2026-11-26 09:00:01.123456+00:00-1-r-configuration-cs-g.yaml",
            "metadata/..hidden",
            "metadata/a..b",
        ] {
            assert_eq!(unsafe_reason(key), None, "{key:?} refused");
        }
    }

    #[test]
    fn mirror_dir_is_keyed_by_bucket_and_prefix() {
        let a: S3Path = "s3://bucket-a/p".parse().unwrap();
        let b: S3Path = "s3://bucket-a/q".parse().unwrap();
        let root = Path::new("/cache");
        assert!(mirror_dir(root, &a).starts_with("/cache/mirror/bucket-a"));
        assert_ne!(mirror_dir(root, &a), mirror_dir(root, &b));
    }
}
