//! A small binary codec for the compact manifests (the columnar cache's and the mirror's):
//! LEB128 varints, zigzag for signed numbers, length-prefixed bytes, and sorted paths stored as
//! (bytes shared with the previous path, the rest), which shrinks a manifest of
//! `accountid=.../region=.../groupname=.../file` paths to a fraction of its JSON form and reads
//! back with no parsing beyond a byte walk. A file ends with a checksum of everything before
//! it, so a damaged or cut manifest reads as absent, never as a wrong one.

use std::io::Write;

use crate::hash::{FNV1A_START, fnv1a, fnv1a_update};

/// Builds one encoded file, in memory or spilled piece by piece to a writer.
pub struct Encoder {
    buf: Vec<u8>,
    previous: Vec<u8>,
    /// The checksum of what was already spilled.
    hash: u64,
}

impl Encoder {
    /// An encoder whose output starts with `magic`.
    pub fn new(magic: &[u8]) -> Self {
        Self {
            buf: magic.to_vec(),
            previous: Vec::new(),
            hash: FNV1A_START,
        }
    }

    /// Bytes buffered since the last [`Encoder::spill`].
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Write what is buffered to `out` (a big file never sits whole in memory).
    pub fn spill(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        self.hash = fnv1a_update(self.hash, &self.buf);
        out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Write the rest and the checksum to `out`.
    pub fn finish_into(mut self, out: &mut impl Write) -> std::io::Result<()> {
        self.spill(out)?;
        out.write_all(&self.hash.to_le_bytes())
    }

    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// A fixed-width little-endian u64 (readable without decoding what precedes it).
    pub fn u64_fixed(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub fn var(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    pub fn signed(&mut self, v: i64) {
        self.var(((v << 1) ^ (v >> 63)) as u64);
    }

    pub fn bytes(&mut self, b: &[u8]) {
        self.var(b.len() as u64);
        self.buf.extend_from_slice(b);
    }

    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    /// A path of a sorted sequence: only what differs from the previous one is stored.
    pub fn path(&mut self, s: &str) {
        let shared = self
            .previous
            .iter()
            .zip(s.as_bytes())
            .take_while(|(a, b)| a == b)
            .count();
        self.var(shared as u64);
        self.bytes(&s.as_bytes()[shared..]);
        self.previous.clear();
        self.previous.extend_from_slice(s.as_bytes());
    }

    /// Start a new sequence of paths (the next one is stored whole).
    pub fn reset_paths(&mut self) {
        self.previous.clear();
    }

    /// The encoded bytes (nothing spilled before), checksum appended.
    pub fn finish(mut self) -> Vec<u8> {
        let sum = fnv1a_update(self.hash, &self.buf);
        self.buf.extend_from_slice(&sum.to_le_bytes());
        self.buf
    }
}

/// Reads what [`Encoder`] wrote; every read is checked (`None` on a short or damaged input).
pub struct Decoder<'a> {
    buf: &'a [u8],
    at: usize,
    previous: Vec<u8>,
}

impl<'a> Decoder<'a> {
    /// A decoder over `data` when it starts with `magic` and its checksum holds.
    pub fn new(data: &'a [u8], magic: &[u8]) -> Option<Self> {
        let body_len = data.len().checked_sub(8)?;
        let (body, sum) = data.split_at(body_len);
        if !body.starts_with(magic) || fnv1a(body).to_le_bytes() != sum {
            return None;
        }
        Some(Self {
            buf: body,
            at: magic.len(),
            previous: Vec::new(),
        })
    }

    pub fn u8(&mut self) -> Option<u8> {
        let v = *self.buf.get(self.at)?;
        self.at += 1;
        Some(v)
    }

    pub fn u64_fixed(&mut self) -> Option<u64> {
        let bytes = self.buf.get(self.at..self.at + 8)?;
        self.at += 8;
        Some(u64::from_le_bytes(bytes.try_into().ok()?))
    }

    pub fn var(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    /// A varint that must fit a `usize` (a count or a length).
    pub fn count(&mut self) -> Option<usize> {
        usize::try_from(self.var()?).ok()
    }

    pub fn signed(&mut self) -> Option<i64> {
        let v = self.var()?;
        Some(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = self.count()?;
        let end = self.at.checked_add(len)?;
        let b = self.buf.get(self.at..end)?;
        self.at = end;
        Some(b)
    }

    pub fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }

    /// The next path of a sorted sequence (see [`Encoder::path`]).
    pub fn path(&mut self) -> Option<&str> {
        let shared = self.count()?;
        let rest = self.bytes()?;
        if shared > self.previous.len() {
            return None;
        }
        self.previous.truncate(shared);
        self.previous.extend_from_slice(rest);
        std::str::from_utf8(&self.previous).ok()
    }

    pub fn reset_paths(&mut self) {
        self.previous.clear();
    }

    /// Whether every byte was read.
    pub fn done(&self) -> bool {
        self.at == self.buf.len()
    }
}

impl<'a> Decoder<'a> {
    /// A decoder over a piece of a file read by [`FileDecoder`], paths continuing from
    /// `previous`.
    fn piece(buf: &'a [u8], previous: Vec<u8>) -> Self {
        Self {
            buf,
            at: 0,
            previous,
        }
    }
}

/// Reads a file [`Encoder`] wrote a window at a time, so a big manifest is never in memory twice
/// (as its bytes and as what they decode to). The checksum is summed as the file is read and
/// checked by [`FileDecoder::finish`]: until then, what was decoded may be damaged.
pub struct FileDecoder {
    file: std::fs::File,
    /// Bytes of the body (the file less its checksum) not yet read into the window.
    unread: u64,
    window: Vec<u8>,
    at: usize,
    previous: Vec<u8>,
    /// `previous` before the record being decoded, to retry it on a wider window.
    saved: Vec<u8>,
    hash: u64,
}

/// The window's size, and how much more it reads at a time.
const WINDOW: usize = 1 << 20;

impl FileDecoder {
    /// `Ok(None)` when the file does not start with `magic` (or is too short to hold a checksum).
    pub fn open(path: &std::path::Path, magic: &[u8]) -> std::io::Result<Option<Self>> {
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        let Some(body) = len.checked_sub(8).filter(|b| *b >= magic.len() as u64) else {
            return Ok(None);
        };
        let mut decoder = Self {
            file,
            unread: body,
            window: Vec::new(),
            at: 0,
            previous: Vec::new(),
            saved: Vec::new(),
            hash: FNV1A_START,
        };
        decoder.fill(magic.len())?;
        if decoder.window.get(..magic.len()) != Some(magic) {
            return Ok(None);
        }
        decoder.at = magic.len();
        Ok(Some(decoder))
    }

    /// Read at least `more` bytes (and up to a window) beyond what the window holds, keeping
    /// what is not consumed yet; fewer at the end of the body.
    fn fill(&mut self, more: usize) -> std::io::Result<()> {
        use std::io::Read;
        self.window.drain(..self.at);
        self.at = 0;
        let want = (more.max(WINDOW) as u64).min(self.unread);
        let start = self.window.len();
        let want_usize = usize::try_from(want).unwrap_or(usize::MAX);
        self.window.resize(start + want_usize, 0);
        self.file.read_exact(&mut self.window[start..])?;
        self.hash = fnv1a_update(self.hash, &self.window[start..]);
        self.unread -= want;
        Ok(())
    }

    /// Decode one record with `read`, reading more of the file when the window ends inside it.
    /// `None` when the file ends first, or `read` finds it damaged.
    pub fn next<T>(&mut self, mut read: impl FnMut(&mut Decoder<'_>) -> Option<T>) -> Option<T> {
        loop {
            self.saved.clear();
            self.saved.extend_from_slice(&self.previous);
            let mut d = Decoder::piece(&self.window[self.at..], std::mem::take(&mut self.previous));
            let value = read(&mut d);
            let used = d.at;
            self.previous = d.previous;
            if let Some(value) = value {
                self.at += used;
                return Some(value);
            }
            std::mem::swap(&mut self.previous, &mut self.saved);
            if self.unread == 0 {
                return None;
            }
            // The record may be cut by the window's end: read more (at least double) and retry.
            let held = self.window.len() - self.at;
            self.fill(held.max(WINDOW)).ok()?;
        }
    }

    /// Whether every byte of the body was decoded and the checksum holds.
    pub fn finish(mut self) -> bool {
        use std::io::Read;
        let mut sum = [0u8; 8];
        self.unread == 0
            && self.at == self.window.len()
            && self.file.read_exact(&mut sum).is_ok()
            && u64::from_le_bytes(sum) == self.hash
            && self.file.read(&mut [0u8; 1]).is_ok_and(|n| n == 0)
    }
}

/// Write `bytes` to `path` through a temporary file in the same folder and a rename, so a reader
/// sees the old file or the new one, never a part.
pub fn write_atomic(
    path: &std::path::Path,
    sync: bool,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        name.unwrap_or_default(),
        std::process::id()
    ));
    let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    let written = write(&mut out).and_then(|()| {
        let file = out.into_inner().map_err(|e| e.into_error())?;
        if sync { file.sync_all() } else { Ok(()) }
    });
    if let Err(err) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(err);
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_decodes_window_by_window() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        // Records of every size, some longer than a window, so records straddle window ends.
        let record = |i: usize| -> (String, String) {
            let len = if i.is_multiple_of(97) {
                WINDOW + i
            } else {
                i % 300
            };
            (format!("p/{i:06}"), "x".repeat(len))
        };
        let mut e = Encoder::new(b"MAGIC");
        e.var(3000);
        for i in 0..3000 {
            let (path, text) = record(i);
            e.path(&path);
            e.str(&text);
        }
        std::fs::write(&file, e.finish()).unwrap();
        let read = |file: &std::path::Path| -> Option<bool> {
            let mut d = FileDecoder::open(file, b"MAGIC").ok()??;
            let count = d.next(|d| d.count())?;
            let mut path = String::new();
            for i in 0..count {
                let text = d.next(|d| {
                    path.clear();
                    path.push_str(d.path()?);
                    d.str().map(str::to_string)
                })?;
                if (path.clone(), text) != record(i) {
                    return Some(false);
                }
            }
            Some(d.finish())
        };
        assert_eq!(read(&file), Some(true));

        // A flipped byte, a cut end, another magic: never a whole good read.
        let data = std::fs::read(&file).unwrap();
        let mut flipped = data.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 1;
        std::fs::write(&file, &flipped).unwrap();
        assert_ne!(read(&file), Some(true));
        std::fs::write(&file, &data[..data.len() - 1]).unwrap();
        assert_ne!(read(&file), Some(true));
        // Every record intact, the checksum not: only `finish` can tell.
        let mut sum_flipped = data.clone();
        *sum_flipped.last_mut().unwrap() ^= 1;
        std::fs::write(&file, &sum_flipped).unwrap();
        assert_eq!(read(&file), Some(false));
        // Bytes after the checksum.
        std::fs::write(&file, [&data[..], b"!"].concat()).unwrap();
        assert_ne!(read(&file), Some(true));
        std::fs::write(&file, [b"OTHER", &data[5..]].concat()).unwrap();
        assert!(FileDecoder::open(&file, b"MAGIC").unwrap().is_none());
        std::fs::write(&file, b"MAG").unwrap();
        assert!(FileDecoder::open(&file, b"MAGIC").unwrap().is_none());
    }

    #[test]
    fn round_trip_and_damage() {
        let mut e = Encoder::new(b"MAGIC");
        e.u64_fixed(7);
        e.var(300);
        e.signed(-5);
        e.signed(i64::MIN);
        e.str("héllo");
        for p in ["a/b/c", "a/b/d", "a/x", "b"] {
            e.path(p);
        }
        let data = e.finish();
        let mut d = Decoder::new(&data, b"MAGIC").unwrap();
        assert_eq!(d.u64_fixed(), Some(7));
        assert_eq!(d.var(), Some(300));
        assert_eq!(d.signed(), Some(-5));
        assert_eq!(d.signed(), Some(i64::MIN));
        assert_eq!(d.str(), Some("héllo"));
        let paths: Vec<String> = (0..4).map(|_| d.path().unwrap().to_string()).collect();
        assert_eq!(paths, ["a/b/c", "a/b/d", "a/x", "b"]);
        assert!(d.done());
        assert_eq!(d.u8(), None);

        // Any flipped byte or cut end reads as nothing.
        let mut flipped = data.clone();
        flipped[9] ^= 1;
        assert!(Decoder::new(&flipped, b"MAGIC").is_none());
        assert!(Decoder::new(&data[..data.len() - 1], b"MAGIC").is_none());
        assert!(Decoder::new(&data, b"OTHER").is_none());

        // Spilled in pieces, the same bytes.
        let mut e = Encoder::new(b"MAGIC");
        let mut out = Vec::new();
        e.u64_fixed(7);
        e.spill(&mut out).unwrap();
        e.var(300);
        e.signed(-5);
        e.signed(i64::MIN);
        e.str("héllo");
        e.spill(&mut out).unwrap();
        for p in ["a/b/c", "a/b/d", "a/x", "b"] {
            e.path(p);
        }
        e.finish_into(&mut out).unwrap();
        assert_eq!(out, data);
    }
}
