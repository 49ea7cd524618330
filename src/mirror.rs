//! `cs-cmdb mirror`: `<MetadataAndBackupS3Path>/metadata/**` and the `latest-*` backups copied
//! into a local directory laid out exactly like the bucket below the metadata path, so the
//! embedded engine reads it unchanged.
//!
//! - Incremental: a manifest maps each mirrored path to the object's ETag, size and
//!   LastModified; only new or changed objects are downloaded, removed ones are deleted.
//! - Never a half-written tree: every object is downloaded into `.staging/` first; only when all
//!   downloads are done are they renamed into place, removed files deleted, and the manifest
//!   committed last. An interrupted run therefore leaves the previous tree (interrupted while
//!   downloading) or whole files of either generation that the next run reconciles (interrupted
//!   while renaming), never a partial file.
//! - Each file's modification time is the object's LastModified (other code reads file times as
//!   the age of a backup).
//! - Keys are mapped to paths safely: `..`, `.`, empty segments (absolute keys, `//`), control
//!   characters and backslashes are refused with a warning naming the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use futures::{StreamExt, TryStreamExt, stream};
use serde::{Deserialize, Serialize};

use crate::bucket::S3Path;
use crate::bucket::layout;
use crate::bucket::list::{self, ListError};
use crate::hash::fnv1a;
use crate::reporter::Reporter;

/// The manifest, at the top of the mirror directory (the engine ignores dot files).
pub const MANIFEST: &str = ".cs-cmdb-mirror.json";
/// Downloads land here before they are renamed into place.
const STAGING: &str = ".staging";
/// Held (exclusively) while a mirror runs, so two runs never interleave.
const LOCK: &str = ".lock";
/// The folders below the metadata path that are mirrored.
const TOP_FOLDERS: [&str; 2] = [layout::METADATA, layout::BACKUPS];
const MANIFEST_VERSION: u32 = 1;

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
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> MirrorError + '_ {
    move |source| MirrorError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What the manifest remembers of one mirrored object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub etag: String,
    pub size: u64,
    /// LastModified, milliseconds since the epoch; also the file's modification time.
    pub last_modified_ms: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    version: u32,
    /// `s3://bucket/prefix` the tree is a copy of.
    source: String,
    /// Path below the mirror directory (`metadata/...`, `backups/...`) → object.
    objects: BTreeMap<String, Entry>,
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
    dir.join(MANIFEST).is_file()
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

struct Fetched {
    rel: String,
    staged: PathBuf,
    entry: Entry,
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

/// Download one object into `staged`, with the object's LastModified as its modification time.
async fn fetch(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    object: &list::S3Object,
    staged: PathBuf,
) -> Result<(PathBuf, Entry), MirrorError> {
    let key = object.key.as_str();
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
    let etag = response.e_tag().unwrap_or(&object.etag).to_string();
    // The listing's LastModified has milliseconds, GetObject's only seconds: prefer the listing's
    // when it describes the same object.
    let last_modified = if etag == object.etag {
        object
            .last_modified
            .or_else(|| response.last_modified().and_then(list::to_chrono))
    } else {
        response.last_modified().and_then(list::to_chrono)
    };
    let last_modified_ms = last_modified.map_or(0, |t| t.timestamp_millis());
    let body = response
        .body
        .collect()
        .await
        .map_err(|e| get_err(format!("the download broke off: {e}")))?
        .into_bytes();
    let size = body.len() as u64;
    let path = staged.clone();
    tokio::task::spawn_blocking(move || -> Result<(), MirrorError> {
        let file = std::fs::File::create(&path).map_err(io_err(&path))?;
        std::io::Write::write_all(&mut &file, &body).map_err(io_err(&path))?;
        file.set_modified(system_time(last_modified_ms))
            .map_err(io_err(&path))?;
        Ok(())
    })
    .await
    .map_err(|e| get_err(format!("the writer stopped: {e}")))??;
    Ok((
        staged,
        Entry {
            etag,
            size,
            last_modified_ms,
        },
    ))
}

/// Move one download into place. A key that is also the folder of other keys (`a` and `a/b`)
/// cannot be both a file and a folder: the one that comes second fails.
fn place(dir: &Path, f: &Fetched) -> std::io::Result<()> {
    let target = dir.join(&f.rel);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if std::fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
        return Err(std::io::Error::other(format!(
            "{} is a folder holding other objects",
            target.display()
        )));
    }
    std::fs::rename(&f.staged, &target)
}

/// Whether the local copy of `rel` is the one the manifest describes.
fn intact(dir: &Path, rel: &str, entry: &Entry) -> bool {
    std::fs::symlink_metadata(dir.join(rel)).is_ok_and(|meta| {
        meta.is_file()
            && meta.len() == entry.size
            && mtime_ms(&meta) == Some(entry.last_modified_ms)
    })
}

fn read_manifest(dir: &Path, source: &str, reporter: &dyn Reporter) -> Manifest {
    let path = dir.join(MANIFEST);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Manifest::default();
    };
    match serde_json::from_str::<Manifest>(&text) {
        Ok(m) if m.version == MANIFEST_VERSION && m.source == source => m,
        Ok(_) => {
            reporter.warn(&format!(
                "{} is from another version or source; mirroring from scratch",
                path.display()
            ));
            Manifest::default()
        }
        Err(e) => {
            reporter.warn(&format!(
                "{} is unreadable ({e}); mirroring from scratch",
                path.display()
            ));
            Manifest::default()
        }
    }
}

fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<(), MirrorError> {
    let path = dir.join(MANIFEST);
    let tmp = dir.join(format!("{MANIFEST}.tmp"));
    let text = serde_json::to_vec(manifest).map_err(|e| MirrorError::Io {
        path: path.clone(),
        source: std::io::Error::other(e),
    })?;
    let file = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    std::io::Write::write_all(&mut &file, &text).map_err(io_err(&tmp))?;
    file.sync_all().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io_err(&path))
}

/// Delete files under the mirrored folders that the manifest does not list (left by an
/// interrupted run, or by hand), then empty folders.
fn sweep(dir: &Path, keep: &BTreeMap<String, Entry>) -> Result<usize, MirrorError> {
    fn walk(
        dir: &Path,
        rel: &str,
        keep: &BTreeMap<String, Entry>,
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
            } else if keep.contains_key(&child) {
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
        if path.is_dir() {
            walk(&path, top, keep, &mut removed)?;
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
    concurrency: usize,
    reporter: &dyn Reporter,
) -> anyhow::Result<MirrorReport> {
    let started = Instant::now();
    let concurrency = concurrency.max(1);
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the mirror directory {}", dir.display()))?;
    let _lock = lock(dir, reporter).await?;
    let source = path.to_string();
    let mut manifest = read_manifest(dir, &source, reporter);
    let staging = dir.join(STAGING);
    if staging.exists() {
        std::fs::remove_dir_all(&staging)
            .with_context(|| format!("cannot clear {}", staging.display()))?;
    }
    std::fs::create_dir_all(&staging)
        .with_context(|| format!("cannot create {}", staging.display()))?;

    // List metadata/ with one parallel branch per table, and backups/ in one pass alongside.
    // (Deeper fan-out, per account, pays off on a huge bucket but costs a call per account, and
    // every call scans the whole bucket on some S3-compatible stores and emulators.)
    let root = layout::root_prefix(path);
    let bucket = path.bucket.as_str();
    let listings: Vec<Vec<list::S3Object>> = stream::iter(TOP_FOLDERS)
        .map(|top| {
            let depth = usize::from(top == layout::METADATA);
            list::list_tree(client, bucket, format!("{root}{top}/"), depth, concurrency)
        })
        .buffered(2)
        .try_collect()
        .await
        .with_context(|| format!("cannot list {source}"))?;
    let mut stats = MirrorStats::default();
    let mut wanted: BTreeMap<String, list::S3Object> = BTreeMap::new();
    for object in listings.into_iter().flatten() {
        stats.listed += 1;
        let Some(rel) = object.key.strip_prefix(&root) else {
            continue;
        };
        if rel.ends_with('/') && object.size == 0 {
            tracing::debug!(key = %list::printable(&object.key), "folder marker, ignored");
            continue;
        }
        if let Some(reason) = unsafe_reason(rel) {
            reporter.warn(&format!(
                "refused s3://{bucket}/{}: the key holds {reason}; it is not mirrored",
                list::printable(&object.key)
            ));
            stats.skipped += 1;
            continue;
        }
        if layout::is_mirrored(rel) {
            wanted.insert(rel.to_string(), object);
        }
    }
    stats.selected = wanted.len();

    // Download what is new or changed into the staging folder.
    let todo: Vec<(usize, String, list::S3Object)> = wanted
        .iter()
        .filter(|(rel, object)| {
            let keep = manifest.objects.get(*rel).is_some_and(|entry| {
                entry.etag == object.etag && entry.size == object.size && intact(dir, rel, entry)
            });
            !keep
        })
        .enumerate()
        .map(|(i, (rel, object))| (i, rel.clone(), object.clone()))
        .collect();
    stats.unchanged = wanted.len() - todo.len();
    let abort_fetch = abort_point("fetch");
    let mut done = 0usize;
    let mut fetched: Vec<Fetched> = Vec::with_capacity(todo.len());
    let mut failures = Vec::new();
    let progress = reporter.progress(todo.len() as u64, "objects");
    let mut downloads = stream::iter(todo)
        .map(|(i, rel, object)| {
            let staged = staging.join(i.to_string());
            async move {
                let result = fetch(client, bucket, &object, staged).await;
                (rel, result)
            }
        })
        .buffer_unordered(concurrency);
    while let Some((rel, result)) = downloads.next().await {
        match result {
            Ok((staged, entry)) => {
                progress.item_done(false);
                stats.bytes += entry.size;
                fetched.push(Fetched { rel, staged, entry });
            }
            Err(e) => {
                progress.item_done(true);
                reporter.warn(&e.to_string());
                failures.push(e.to_string());
            }
        }
        done += 1;
        if abort_fetch == Some(done) {
            std::process::abort();
        }
    }
    drop(downloads);
    progress.finish();

    // Apply: rename the downloads into place, delete what is gone, commit the manifest last.
    let abort_rename = abort_point("rename");
    let mut placed = 0usize;
    for f in &fetched {
        match place(dir, f) {
            Ok(()) => {
                manifest.objects.insert(f.rel.clone(), f.entry.clone());
                placed += 1;
            }
            Err(e) => {
                let message = format!(
                    "s3://{bucket}/{root}{} is not mirrored: {e}",
                    list::printable(&f.rel)
                );
                reporter.warn(&message);
                failures.push(message);
            }
        }
        if abort_rename == Some(placed) {
            std::process::abort();
        }
    }
    stats.fetched = placed;
    stats.failed = failures.len();
    // Objects gone from the bucket (or now refused) leave the manifest. A failed download keeps
    // its previous entry (and file), so the next run retries it.
    manifest
        .objects
        .retain(|rel, entry| wanted.contains_key(rel) && intact(dir, rel, entry));
    stats.deleted = sweep(dir, &manifest.objects)
        .with_context(|| format!("cannot clean up {}", dir.display()))?;
    manifest.version = MANIFEST_VERSION;
    manifest.source = source;
    write_manifest(dir, &manifest)?;
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

/// Mirror `path` into `dir` with `config`'s credentials and endpoint.
pub async fn sync(
    config: &aws_config::SdkConfig,
    path: &S3Path,
    dir: &Path,
    concurrency: usize,
    reporter: &dyn Reporter,
) -> anyhow::Result<MirrorReport> {
    let client = crate::aws::s3_client(config);
    mirror(&client, path, dir, concurrency, reporter).await
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
