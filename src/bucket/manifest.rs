//! The mirror's manifest: what a local mirror holds, object by object, and since when.
//!
//! - Every mirrored path (relative to the mirror directory, `metadata/...`, `backups/...`) with
//!   the object's ETag, size and LastModified as the listing gave them, and the *generation* that
//!   wrote it. The manifest's generation goes up by one with every run that changes the tree, so
//!   a reader that remembers (mirror id, generation) knows, from a 24-byte header alone, whether
//!   anything changed since, and from the entries exactly which files did.
//! - Compact: paths are sorted and front-coded (in memory too, in blocks of [`BLOCK`] with a
//!   full path at each block start, so a lookup is a binary search then a short scan), ETags
//!   in their 16 binary bytes: the million keys of bench/mirror.sh (CloneSquad's layout, ~125
//!   bytes of path each) take 106 MB on disk and about 165 MB in memory once read.
//! - The file is written to a temporary name and renamed; it ends with a checksum, and a damaged
//!   one reads as absent (the next mirror starts from scratch, the engine stats files instead).
//!
//! The JSON manifest of earlier releases (`.cs-cmdb-mirror.json`) is read once and replaced.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::Deserialize;

use crate::codec::{Encoder, FileDecoder};

/// The manifest, at the top of the mirror directory (the engine ignores dot files).
pub const FILE: &str = ".cs-cmdb-mirror";
/// The JSON manifest of earlier releases.
pub const LEGACY_FILE: &str = ".cs-cmdb-mirror.json";
const MAGIC: &[u8] = b"CSMIRR\x00\x02";
/// Paths per front-coded block.
const BLOCK: usize = 16;
/// Header: magic, id, generation.
const HEADER: usize = 8 + 8 + 8;

/// An object's ETag: the 16 bytes of a plain MD5 ETag (`"<32 hex>"`), or the text as given
/// (multipart ETags, other stores).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ETag {
    Md5([u8; 16]),
    Other(Box<str>),
}

impl ETag {
    pub fn parse(text: &str) -> Self {
        let hex = text.strip_prefix('"').and_then(|t| t.strip_suffix('"'));
        let mut md5 = [0u8; 16];
        let ok = hex.is_some_and(|hex| {
            hex.len() == 32
                && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                && md5.iter_mut().enumerate().all(|(i, byte)| {
                    u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).is_ok_and(|v| {
                        *byte = v;
                        true
                    })
                })
        });
        if ok {
            ETag::Md5(md5)
        } else {
            ETag::Other(text.into())
        }
    }

    /// Whether the store gave no ETag (some S3-compatible stores list none).
    pub fn is_empty(&self) -> bool {
        matches!(self, ETag::Other(t) if t.is_empty())
    }
}

impl std::fmt::Display for ETag {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            ETag::Md5(md5) => {
                f.write_str("\"")?;
                for b in md5 {
                    write!(f, "{b:02x}")?;
                }
                f.write_str("\"")
            }
            ETag::Other(text) => f.write_str(text),
        }
    }
}

/// What the manifest remembers of one mirrored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub etag: ETag,
    pub size: u64,
    /// LastModified, milliseconds since the epoch; also the file's modification time.
    pub last_modified_ms: i64,
    /// The manifest generation that wrote the file.
    pub generation: u64,
}

/// A mirror's identity and generation: equal stamps, same tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Drawn when a mirror starts from scratch, so generations of two mirrors never mix.
    pub id: u64,
    pub generation: u64,
}

/// Sorted paths, front-coded in blocks.
#[derive(Debug, Default, Clone)]
struct Paths {
    /// Per path: varint bytes shared with the previous path (0 at a block start), varint length
    /// of the rest, the rest.
    data: Vec<u8>,
    /// Offset in `data` of each block's first path.
    blocks: Vec<usize>,
    len: usize,
    last: Vec<u8>,
}

fn put_var(out: &mut Vec<u8>, mut v: usize) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_var(data: &[u8], at: &mut usize) -> usize {
    let mut v = 0usize;
    let mut shift = 0;
    while let Some(&b) = data.get(*at) {
        *at += 1;
        v |= usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    v
}

impl Paths {
    /// Append `path`, which must sort after the last one.
    fn push(&mut self, path: &str) {
        let shared = if self.len.is_multiple_of(BLOCK) {
            self.blocks.push(self.data.len());
            0
        } else {
            self.last
                .iter()
                .zip(path.as_bytes())
                .take_while(|(a, b)| a == b)
                .count()
        };
        put_var(&mut self.data, shared);
        put_var(&mut self.data, path.len() - shared);
        self.data.extend_from_slice(&path.as_bytes()[shared..]);
        self.last.clear();
        self.last.extend_from_slice(path.as_bytes());
        self.len += 1;
    }

    /// The first path of block `b`.
    fn block_first(&self, b: usize) -> &[u8] {
        let mut at = self.blocks[b];
        let _shared = get_var(&self.data, &mut at);
        let len = get_var(&self.data, &mut at);
        &self.data[at..(at + len).min(self.data.len())]
    }

    /// The index of `path`, or where it would go (`Err`).
    fn search(&self, path: &str) -> Result<usize, usize> {
        let target = path.as_bytes();
        // The last block whose first path is <= target.
        let (mut lo, mut hi) = (0, self.blocks.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.block_first(mid).cmp(target) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid * BLOCK),
            }
        }
        let Some(block) = lo.checked_sub(1) else {
            return Err(0);
        };
        let mut cursor = self.cursor_at(block);
        while let Some((i, p)) = cursor.next() {
            match p.as_bytes().cmp(target) {
                std::cmp::Ordering::Equal => return Ok(i),
                std::cmp::Ordering::Greater => return Err(i),
                std::cmp::Ordering::Less => {}
            }
            if i + 1 == (block + 1) * BLOCK {
                return Err(i + 1);
            }
        }
        Err(self.len)
    }

    fn cursor_at(&self, block: usize) -> Cursor<'_> {
        Cursor {
            paths: self,
            at: self.blocks.get(block).copied().unwrap_or(self.data.len()),
            index: block * BLOCK,
            buf: Vec::new(),
        }
    }

    /// A cursor from path index `first` on.
    fn cursor_from_index(&self, first: usize) -> Cursor<'_> {
        let mut cursor = self.cursor_at(first / BLOCK);
        // Skip to `first` within its block.
        for _ in 0..first % BLOCK {
            cursor.next();
        }
        cursor
    }
}

/// Paths in the order they are pushed (each with its index), front-coded like a manifest's:
/// every ascending run is one [`Paths`], so the keys of listings (ascending page after page,
/// pages of several listings interleaved) take about what a manifest takes, not their full
/// length each. Random access decodes at most a block.
#[derive(Debug, Default)]
pub struct PathRuns {
    /// (index of the run's first path, the run)
    runs: Vec<(usize, Paths)>,
    len: usize,
}

impl PathRuns {
    /// Append `path`; returns its index.
    pub fn push(&mut self, path: &str) -> usize {
        let ascending = self
            .runs
            .last()
            .is_some_and(|(_, run)| run.last.as_slice() < path.as_bytes());
        if !ascending {
            self.runs.push((self.len, Paths::default()));
        }
        if let Some((_, run)) = self.runs.last_mut() {
            run.push(path);
        }
        self.len += 1;
        self.len - 1
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The path at `index` (empty past the end).
    pub fn get(&self, index: usize) -> String {
        let Some(run) = self
            .runs
            .partition_point(|(first, _)| *first <= index)
            .checked_sub(1)
        else {
            return String::new();
        };
        let (first, paths) = &self.runs[run];
        paths
            .cursor_from_index(index - first)
            .next()
            .map(|(_, p)| p.to_string())
            .unwrap_or_default()
    }

    /// Every (index, path) in path order (equal paths in index order): the runs merged.
    pub fn sorted(&self) -> SortedPaths<'_> {
        let mut cursors: Vec<Cursor<'_>> = self.runs.iter().map(|(_, p)| p.cursor_at(0)).collect();
        let mut heap = std::collections::BinaryHeap::new();
        for (run, cursor) in cursors.iter_mut().enumerate() {
            if let Some((i, p)) = cursor.next() {
                heap.push(std::cmp::Reverse((
                    p.to_string(),
                    self.runs[run].0 + i,
                    run,
                )));
            }
        }
        SortedPaths {
            runs: self,
            cursors,
            heap,
        }
    }
}

/// See [`PathRuns::sorted`].
pub struct SortedPaths<'a> {
    runs: &'a PathRuns,
    cursors: Vec<Cursor<'a>>,
    /// The next path of each run not yet exhausted: (path, index, run).
    heap: std::collections::BinaryHeap<std::cmp::Reverse<(String, usize, usize)>>,
}

impl Iterator for SortedPaths<'_> {
    type Item = (usize, String);

    fn next(&mut self) -> Option<(usize, String)> {
        let std::cmp::Reverse((path, index, run)) = self.heap.pop()?;
        if let Some((i, p)) = self.cursors[run].next() {
            let first = self.runs.runs[run].0;
            self.heap
                .push(std::cmp::Reverse((p.to_string(), first + i, run)));
        }
        Some((index, path))
    }
}

/// Walks paths in order, from a block start.
pub struct Cursor<'a> {
    paths: &'a Paths,
    at: usize,
    index: usize,
    buf: Vec<u8>,
}

impl Cursor<'_> {
    /// The next (index, path).
    #[allow(clippy::should_implement_trait)] // lends its buffer: not an Iterator
    pub fn next(&mut self) -> Option<(usize, &str)> {
        if self.index >= self.paths.len {
            return None;
        }
        let data = &self.paths.data;
        let shared = get_var(data, &mut self.at);
        let len = get_var(data, &mut self.at);
        let end = (self.at + len).min(data.len());
        self.buf.truncate(shared);
        self.buf.extend_from_slice(&data[self.at..end]);
        self.at = end;
        let index = self.index;
        self.index += 1;
        // Paths come from `&str`s: always UTF-8.
        std::str::from_utf8(&self.buf).ok().map(|p| (index, p))
    }
}

/// The manifest of one mirror.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// `s3://bucket/prefix` the tree is a copy of.
    pub source: String,
    pub stamp: Stamp,
    paths: Paths,
    entries: Vec<Entry>,
}

impl Manifest {
    /// An empty manifest of a new mirror of `source`.
    pub fn new(source: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let id = crate::hash::fnv1a(format!("{source} {nanos} {}", std::process::id()).as_bytes());
        Self {
            source: source.to_string(),
            stamp: Stamp { id, generation: 0 },
            paths: Paths::default(),
            entries: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Append an object; paths must come in sorted order.
    pub fn push(&mut self, path: &str, entry: Entry) {
        debug_assert!(self.paths.len == 0 || self.paths.last.as_slice() < path.as_bytes());
        self.paths.push(path);
        self.entries.push(entry);
    }

    /// The index of `path`.
    pub fn find(&self, path: &str) -> Option<usize> {
        self.paths.search(path).ok()
    }

    pub fn entry(&self, index: usize) -> &Entry {
        &self.entries[index]
    }

    pub fn entry_mut(&mut self, index: usize) -> &mut Entry {
        &mut self.entries[index]
    }

    /// Every (index, path) in order.
    pub fn cursor(&self) -> Cursor<'_> {
        self.paths.cursor_at(0)
    }

    /// (index, path) from the first path that is `>= prefix` on: callers stop at the first path
    /// that does not start with it.
    pub fn cursor_from(&self, prefix: &str) -> Cursor<'_> {
        let first = match self.paths.search(prefix) {
            Ok(i) | Err(i) => i,
        };
        self.cursor_at(first)
    }

    /// (index, path) from index `first` on.
    pub fn cursor_at(&self, first: usize) -> Cursor<'_> {
        self.paths.cursor_from_index(first)
    }

    /// The path at `index` (empty past the end).
    pub fn path(&self, index: usize) -> String {
        self.cursor_at(index)
            .next()
            .map(|(_, p)| p.to_string())
            .unwrap_or_default()
    }

    /// Read the manifest of the mirror in `dir` (the legacy JSON one when there is no other).
    /// `Ok(None)`: there is none; `Err`: there is one, but it cannot be read (say why).
    pub fn read(dir: &Path) -> Result<Option<Manifest>, String> {
        let path = dir.join(FILE);
        match decode(&path) {
            Ok(Some(manifest)) => Ok(Some(manifest)),
            Ok(None) => Err(format!("{} is damaged", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => read_legacy(dir),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    /// Write the manifest into `dir` (atomically, synced), and drop a legacy one.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        write_with(dir, &self.source, self.stamp, |sink| {
            let mut cursor = self.cursor();
            while let Some((i, path)) = cursor.next() {
                sink.push(path, &self.entries[i])?;
            }
            Ok(())
        })
    }
}

/// Receives the entries of a manifest being written, in path order: see [`write_with`].
pub struct Sink<'a> {
    /// `None` while counting.
    out: Option<(&'a mut Encoder, &'a mut std::io::BufWriter<std::fs::File>)>,
    written: usize,
    last: String,
}

impl Sink<'_> {
    /// Write one entry; its path must sort after the previous one (the same path again is
    /// ignored: the first one stays).
    pub fn push(&mut self, path: &str, entry: &Entry) -> std::io::Result<()> {
        if self.written > 0 {
            match self.last.as_str().cmp(path) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => return Ok(()),
                std::cmp::Ordering::Greater => {
                    return Err(std::io::Error::other(format!(
                        "manifest paths out of order: {path:?} after {:?}",
                        self.last
                    )));
                }
            }
        }
        self.last.clear();
        self.last.push_str(path);
        self.written += 1;
        let Some((e, out)) = self.out.as_mut() else {
            return Ok(());
        };
        e.path(path);
        match &entry.etag {
            ETag::Md5(md5) => {
                e.u8(0);
                e.bytes(md5);
            }
            ETag::Other(text) => {
                e.u8(1);
                e.str(text);
            }
        }
        e.var(entry.size);
        e.signed(entry.last_modified_ms);
        e.var(entry.generation);
        if e.buffered() >= 1 << 20 {
            e.spill(*out)?;
        }
        Ok(())
    }
}

/// Write a manifest into `dir` (atomically, synced) straight from `fill`, which pushes its
/// entries into the [`Sink`] in path order: a mirror's next manifest is written as it is
/// merged, never built in memory beside the previous one. `fill` runs twice: first to count
/// the entries (the count leads the file), then to write them. Drops a legacy manifest.
pub fn write_with(
    dir: &Path,
    source: &str,
    stamp: Stamp,
    fill: impl Fn(&mut Sink) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut counted = Sink {
        out: None,
        written: 0,
        last: String::new(),
    };
    fill(&mut counted)?;
    let count = counted.written;
    crate::codec::write_atomic(&dir.join(FILE), true, |out| {
        let mut e = Encoder::new(MAGIC);
        e.u64_fixed(stamp.id);
        e.u64_fixed(stamp.generation);
        e.str(source);
        e.var(count as u64);
        let mut sink = Sink {
            out: Some((&mut e, &mut *out)),
            written: 0,
            last: String::new(),
        };
        fill(&mut sink)?;
        if sink.written != count {
            return Err(std::io::Error::other(format!(
                "the manifest's entries changed between two passes: {count}, then {}",
                sink.written
            )));
        }
        e.finish_into(out)
    })?;
    match std::fs::remove_file(dir.join(LEGACY_FILE)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Whether `dir` holds a committed mirror (a manifest, of this release or an earlier one).
pub fn exists(dir: &Path) -> bool {
    dir.join(FILE).is_file() || dir.join(LEGACY_FILE).is_file()
}

/// The stamp of the mirror in `dir`, from the manifest's header alone (one small read).
pub fn read_stamp(dir: &Path) -> Option<Stamp> {
    let mut header = [0u8; HEADER];
    std::fs::File::open(dir.join(FILE))
        .and_then(|mut f| f.read_exact(&mut header))
        .ok()?;
    if !header.starts_with(MAGIC) {
        return None;
    }
    let word = |at: usize| header[at..at + 8].try_into().ok().map(u64::from_le_bytes);
    Some(Stamp {
        id: word(8)?,
        generation: word(16)?,
    })
}

/// The manifest in `path`, decoded as it is read (`Ok(None)`: damaged).
fn decode(path: &Path) -> std::io::Result<Option<Manifest>> {
    let Some(mut d) = FileDecoder::open(path, MAGIC)? else {
        return Ok(None);
    };
    let Some((id, generation, source, count)) = d.next(|d| {
        Some((
            d.u64_fixed()?,
            d.u64_fixed()?,
            d.str()?.to_string(),
            d.count()?,
        ))
    }) else {
        return Ok(None);
    };
    let mut manifest = Manifest {
        source,
        stamp: Stamp { id, generation },
        paths: Paths::default(),
        // The count is not trusted before the checksum is.
        entries: Vec::with_capacity(count.min(1 << 16)),
    };
    let mut path = String::new();
    for _ in 0..count {
        let Some(entry) = d.next(|d| {
            path.clear();
            path.push_str(d.path()?);
            let etag = match d.u8()? {
                0 => ETag::Md5(d.bytes()?.try_into().ok()?),
                1 => ETag::Other(d.str()?.into()),
                _ => return None,
            };
            Some(Entry {
                etag,
                size: d.var()?,
                last_modified_ms: d.signed()?,
                generation: d.var()?,
            })
        }) else {
            return Ok(None);
        };
        if manifest.paths.len > 0 && manifest.paths.last.as_slice() >= path.as_bytes() {
            return Ok(None);
        }
        manifest.push(&path, entry);
    }
    Ok(d.finish().then_some(manifest))
}

/// The JSON manifest of earlier releases, as a manifest of a new identity (generation 0).
fn read_legacy(dir: &Path) -> Result<Option<Manifest>, String> {
    #[derive(Deserialize)]
    struct LegacyEntry {
        etag: String,
        size: u64,
        last_modified_ms: i64,
    }
    #[derive(Deserialize)]
    struct Legacy {
        version: u32,
        source: String,
        objects: BTreeMap<String, LegacyEntry>,
    }
    let path = dir.join(LEGACY_FILE);
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let legacy: Legacy = serde_json::from_slice(&text)
        .map_err(|e| format!("{} is unreadable ({e})", path.display()))?;
    if legacy.version != 1 {
        return Err(format!("{} is from another version", path.display()));
    }
    let mut manifest = Manifest::new(&legacy.source);
    for (path, e) in legacy.objects {
        manifest.push(
            &path,
            Entry {
                etag: ETag::parse(&e.etag),
                size: e.size,
                last_modified_ms: e.last_modified_ms,
                generation: 0,
            },
        );
    }
    Ok(Some(manifest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u64) -> Entry {
        Entry {
            etag: if n.is_multiple_of(2) {
                ETag::parse("\"0123456789abcdef0123456789abcdef\"")
            } else {
                ETag::parse("\"abc-2\"")
            },
            size: n,
            last_modified_ms: 1_700_000_000_000 + n as i64,
            generation: n % 3,
        }
    }

    #[test]
    fn etags_compact_and_print_back() {
        let md5 = "\"0123456789abcdef0123456789abcdef\"";
        assert!(matches!(ETag::parse(md5), ETag::Md5(_)));
        assert_eq!(ETag::parse(md5).to_string(), md5);
        for other in [
            "\"abc-2\"",
            "",
            "0123456789abcdef0123456789abcdef",
            "\"0123456789ABCDEF0123456789ABCDEF\"",
        ] {
            assert_eq!(ETag::parse(other), ETag::Other(other.into()));
            assert_eq!(ETag::parse(other).to_string(), other);
        }
        assert!(ETag::parse("").is_empty());
    }

    #[test]
    fn find_cursor_and_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Manifest::new("s3://b/p");
        let paths: Vec<String> = (0..100)
            .map(|i| format!("metadata/t/accountid={:03}/x.json", i * 2))
            .collect();
        for (i, p) in paths.iter().enumerate() {
            m.push(p, entry(i as u64));
        }
        for (i, p) in paths.iter().enumerate() {
            assert_eq!(m.find(p), Some(i), "{p}");
        }
        assert_eq!(m.find("metadata/t/accountid=001/x.json"), None);
        assert_eq!(m.find("a"), None);
        assert_eq!(m.find("z"), None);
        let mut c = m.cursor_from("metadata/t/accountid=033");
        assert_eq!(
            c.next().map(|(i, p)| (i, p.to_string())),
            Some((17, paths[17].clone()))
        );

        m.write(dir.path()).unwrap();
        let back = Manifest::read(dir.path()).unwrap().unwrap();
        assert_eq!(back.stamp, m.stamp);
        assert_eq!(back.source, "s3://b/p");
        let mut c = back.cursor();
        let mut n = 0;
        while let Some((i, p)) = c.next() {
            assert_eq!(p, paths[i]);
            assert_eq!(back.entry(i), &entry(i as u64));
            n += 1;
        }
        assert_eq!(n, 100);
        assert_eq!(read_stamp(dir.path()), Some(m.stamp));

        // Damage reads as an error, never as another manifest.
        let file = dir.path().join(FILE);
        let mut bytes = std::fs::read(&file).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x40;
        std::fs::write(&file, &bytes).unwrap();
        assert!(Manifest::read(dir.path()).is_err());
    }

    #[test]
    fn path_runs_keep_push_order_and_merge_in_path_order() {
        // Pages of two listings interleaved, as the mirror receives them; one path twice.
        let mut pushed: Vec<String> = Vec::new();
        for page in 0..6 {
            let table = if page % 2 == 0 {
                "instances"
            } else {
                "volumes"
            };
            for k in 0..37 {
                pushed.push(format!(
                    "metadata/{table}/accountid={:04}/f.json",
                    page / 2 * 37 + k
                ));
            }
        }
        pushed.push("backups/a".into());
        pushed.push("metadata/instances/accountid=0000/f.json".into());
        let mut runs = PathRuns::default();
        for (i, p) in pushed.iter().enumerate() {
            assert_eq!(runs.push(p), i);
        }
        assert_eq!(runs.len(), pushed.len());
        for (i, p) in pushed.iter().enumerate() {
            assert_eq!(&runs.get(i), p, "index {i}");
        }
        assert_eq!(runs.get(pushed.len()), "");
        let mut expected: Vec<(usize, String)> = pushed.iter().cloned().enumerate().collect();
        expected.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
        assert_eq!(runs.sorted().collect::<Vec<_>>(), expected);
        assert_eq!(PathRuns::default().sorted().count(), 0);
    }

    #[test]
    fn a_manifest_written_as_merged_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let stamp = Stamp {
            id: 7,
            generation: 3,
        };
        // The same path twice: the first entry stays.
        write_with(dir.path(), "s3://b/p", stamp, |sink| {
            for (path, n) in [("a", 1), ("b", 2), ("b", 9), ("c/d", 3)] {
                sink.push(path, &entry(n))?;
            }
            Ok(())
        })
        .unwrap();
        let back = Manifest::read(dir.path()).unwrap().unwrap();
        assert_eq!((back.stamp, back.source.as_str()), (stamp, "s3://b/p"));
        let mut cursor = back.cursor();
        let mut read = Vec::new();
        while let Some((i, p)) = cursor.next() {
            read.push((p.to_string(), back.entry(i).size));
        }
        assert_eq!(read, [("a".into(), 1), ("b".into(), 2), ("c/d".into(), 3)]);

        // Out of order: an error, and the manifest in place is untouched.
        let err = write_with(dir.path(), "s3://b/p", stamp, |sink| {
            sink.push("b", &entry(1))?;
            sink.push("a", &entry(2))
        })
        .unwrap_err();
        assert!(err.to_string().contains("out of order"), "{err}");
        assert_eq!(Manifest::read(dir.path()).unwrap().unwrap().len(), 3);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn legacy_json_is_read_then_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(LEGACY_FILE),
            r#"{"version":1,"source":"s3://b/p","objects":{"metadata/a":{"etag":"\"x\"","size":3,"last_modified_ms":5}}}"#,
        )
        .unwrap();
        assert!(exists(dir.path()));
        let m = Manifest::read(dir.path()).unwrap().unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m.entry(0).etag.to_string(), "\"x\"");
        m.write(dir.path()).unwrap();
        assert!(!dir.path().join(LEGACY_FILE).exists());
        assert_eq!(Manifest::read(dir.path()).unwrap().unwrap().len(), 1);
    }
}
