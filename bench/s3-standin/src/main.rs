//! s3-standin: a loopback S3 stand-in for cs-cmdb's benchmarks (bench/mirror.sh), fast enough
//! not to be what is measured. Benchmark use only: it binds 127.0.0.1, checks no signature and
//! no credentials, and serves read requests only.
//!
//!     s3-standin --dir ROOT [--port P] [--log]
//!         every folder ROOT/<bucket> is a bucket, every file below it an object
//!         (ROOT/<bucket>/<key>), indexed once at start: sorted keys, size, modification time
//!         and an ETag (the hex MD5 of the content, as S3 gives for a single-part upload). The
//!         bodies are held in memory up to 1 GiB in all, read from the file past that. Files
//!         changed after the start are not seen.
//!     s3-standin --synthetic N --bucket B --prefix P [--port P] [--log]
//!         N keys in CloneSquad's layout (metadata and latest backups, 8 objects per
//!         deployment) with small generated bodies, from memory.
//!
//! It prints the bound port on stdout once the index is built, then serves until killed.
//! Requests: ListBuckets, HeadBucket, GetBucketLocation, ListObjectsV2 and ListObjects (prefix,
//! delimiter, continuation-token / start-after / marker, max-keys capped at 1000,
//! encoding-type=url, CommonPrefixes: each page found by bisection of the sorted keys, never a
//! scan), GetObject (Range) and HeadObject; path-style addressing only. Two more, not S3:
//!     GET /_change?key=K   (synthetic mode) the object's body changes; its ETag with it
//!     GET /_stats          requests served so far, per operation, one `name count` a line

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use md5::{Digest, Md5};

/// CloneSquad's tables, as bench/mirror.sh's synthetic bucket lays them out.
const TABLES: [&str; 6] = [
    "discovery",
    "configuration",
    "scheduler",
    "instances",
    "volumes",
    "maintenance-windows",
];
/// The LastModified of every synthetic object: 2026-11-26T09:00:00Z.
const SYNTHETIC_MTIME_MS: i64 = 1_795_683_600_000;
/// Keys per listing page, at most (as S3).
const MAX_KEYS: usize = 1000;
/// Bodies held in memory in `--dir` mode, in all.
const MEMORY_CAP: u64 = 1 << 30;
const XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// Sorted keys back to back in one string.
struct Keys {
    text: String,
    ends: Vec<usize>,
}

impl Keys {
    fn new(sorted: &[String]) -> Keys {
        let mut keys = Keys {
            text: String::with_capacity(sorted.iter().map(String::len).sum()),
            ends: Vec::with_capacity(sorted.len()),
        };
        for k in sorted {
            keys.text.push_str(k);
            keys.ends.push(keys.text.len());
        }
        keys
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }

    /// The first index in `from..len` where `pred` is false (`pred` true then false over it).
    fn partition_from(&self, from: usize, pred: impl Fn(&str) -> bool) -> usize {
        let (mut lo, mut hi) = (from, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if pred(self.get(mid)) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    fn find(&self, key: &str) -> Option<usize> {
        let i = self.partition_from(0, |k| k < key);
        (i < self.len() && self.get(i) == key).then_some(i)
    }
}

enum Body {
    Memory(Bytes),
    File(PathBuf),
    Synthetic,
}

struct Object {
    size: u64,
    mtime_ms: i64,
    etag: [u8; 16],
    body: Body,
}

struct Bucket {
    name: String,
    keys: Keys,
    objects: Vec<Object>,
    /// Synthetic objects changed by `/_change`: index -> (version, size, ETag).
    changed: RwLock<std::collections::HashMap<usize, Changed>>,
}

/// A changed synthetic object: (version, size, ETag).
type Changed = (u32, u64, [u8; 16]);

/// What a listing or a HEAD says of an object.
struct Meta {
    size: u64,
    mtime_ms: i64,
    etag: [u8; 16],
    version: u32,
}

impl Bucket {
    fn meta(&self, i: usize) -> Meta {
        let o = &self.objects[i];
        let mut meta = Meta {
            size: o.size,
            mtime_ms: o.mtime_ms,
            etag: o.etag,
            version: 0,
        };
        if matches!(o.body, Body::Synthetic)
            && let Some(&(version, size, etag)) = self.changed.read().unwrap().get(&i)
        {
            (meta.version, meta.size, meta.etag) = (version, size, etag);
        }
        meta
    }
}

fn md5(data: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(&Md5::digest(data));
    out
}

/// A synthetic object's body, as bench/fake_s3.py made it.
fn synthetic_body(key: &str, version: u32) -> String {
    let name = key.rsplit('/').next().unwrap_or(key);
    format!("{{\"Key\": \"{name}\", \"Version\": {version}}}")
}

/// `n` keys in CloneSquad's layout under `prefix`: per deployment its six metadata tables and
/// its two latest backups, deployments spread over accounts (three each) and three regions.
fn synthetic_keys(n: usize, prefix: &str) -> Vec<String> {
    let mut out = Vec::with_capacity(n + 8);
    let mut d = 0u64;
    while out.len() < n {
        let a = format!("{:012}", 100_000_000_000 + d / 3);
        let r = ["eu-west-1", "us-east-1", "eu-central-1"][(d % 3) as usize];
        let g = format!("g{d:07}");
        let part = format!("accountid={a}/region={r}/groupname={g}");
        for t in TABLES {
            out.push(format!(
                "{prefix}/metadata/{t}/{part}/{a}-{r}-{t}-cs-{g}.json"
            ));
        }
        for kind in ["configuration", "scheduler"] {
            out.push(format!(
                "{prefix}/backups/{part}/latest-{a}-{r}-{kind}-cs-{g}.yaml"
            ));
        }
        d += 1;
    }
    out.truncate(n);
    out.sort_unstable();
    out
}

fn synthetic_bucket(n: usize, name: &str, prefix: &str) -> Bucket {
    let keys = synthetic_keys(n, prefix.trim_matches('/'));
    let objects = keys
        .iter()
        .map(|k| {
            let body = synthetic_body(k, 0);
            Object {
                size: body.len() as u64,
                mtime_ms: SYNTHETIC_MTIME_MS,
                etag: md5(body.as_bytes()),
                body: Body::Synthetic,
            }
        })
        .collect();
    Bucket {
        name: name.to_string(),
        keys: Keys::new(&keys),
        objects,
        changed: RwLock::default(),
    }
}

/// Every file below `dir`, as (key relative to `root`, path).
fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
    for item in std::fs::read_dir(dir)? {
        let item = item?;
        let kind = item.file_type()?;
        let path = item.path();
        if kind.is_dir() {
            walk(root, &path, out)?;
        } else if kind.is_file() {
            let rel = path.strip_prefix(root).expect("below the root");
            match rel.to_str() {
                Some(key) => out.push((key.to_string(), path.clone())),
                None => eprintln!("s3-standin: skipped {} (not UTF-8)", path.display()),
            }
        }
    }
    Ok(())
}

/// A bucket of the files below `dir`, each read once (on every core) for its ETag.
fn folder_bucket(name: &str, dir: &Path, budget: &AtomicU64) -> std::io::Result<Bucket> {
    let mut files = Vec::new();
    walk(dir, dir, &mut files)?;
    files.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = files.len().div_ceil(threads).max(1);
    let objects: Vec<Object> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|(_, path)| -> std::io::Result<Object> {
                            let meta = std::fs::metadata(path)?;
                            let data = std::fs::read(path)?;
                            let mtime_ms = meta
                                .modified()?
                                .duration_since(UNIX_EPOCH)
                                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
                            let size = data.len() as u64;
                            let keep = budget
                                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                                    left.checked_sub(size)
                                })
                                .is_ok();
                            Ok(Object {
                                size,
                                mtime_ms,
                                etag: md5(&data),
                                body: if keep {
                                    Body::Memory(Bytes::from(data))
                                } else {
                                    Body::File(path.clone())
                                },
                            })
                        })
                        .collect::<std::io::Result<Vec<_>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("an indexing thread panicked"))
            .collect::<std::io::Result<Vec<Vec<Object>>>>()
            .map(|parts| parts.into_iter().flatten().collect())
    })?;
    let keys: Vec<String> = files.into_iter().map(|(k, _)| k).collect();
    Ok(Bucket {
        name: name.to_string(),
        keys: Keys::new(&keys),
        objects,
        changed: RwLock::default(),
    })
}

/// Requests served, per operation (for `/_stats`).
const OPS: [&str; 10] = [
    "ListBuckets",
    "HeadBucket",
    "GetBucketLocation",
    "ListObjectsV2",
    "ListObjects",
    "GetObject",
    "HeadObject",
    "Change",
    "Stats",
    "Other",
];

struct State {
    buckets: Vec<Bucket>,
    counts: [AtomicU64; OPS.len()],
    log: bool,
}

impl State {
    fn bucket(&self, name: &str) -> Option<&Bucket> {
        self.buckets.iter().find(|b| b.name == name)
    }

    fn count(&self, op: &str) {
        let i = OPS.iter().position(|o| *o == op).unwrap_or(OPS.len() - 1);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
    }
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Reply {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
    r.headers_mut()
        .insert("x-amz-request-id", HeaderValue::from_static("s3-standin"));
    r
}

fn xml(body: String) -> Reply {
    reply(StatusCode::OK, "application/xml", body)
}

fn error(status: StatusCode, code: &str, message: &str, resource: &str) -> Reply {
    reply(
        status,
        "application/xml",
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{}</Message><Resource>{}</Resource><RequestId>s3-standin</RequestId></Error>",
            escape(message),
            escape(resource)
        ),
    )
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {
                let _ = write!(out, "&#x{:x};", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// As S3 does for `encoding-type=url`: every byte but unreserved ones and `/` as `%XX`.
fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `%XX` escapes decoded, and `+` as a space when `plus`.
fn url_decode(text: &str, plus: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if plus => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query(uri: &hyper::Uri) -> Vec<(String, String)> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (url_decode(k, true), url_decode(v, true))
        })
        .collect()
}

/// `2026-11-26T09:00:00.000Z` and `Thu, 26 Nov 2026 09:00:00 GMT`.
fn iso_time(ms: i64) -> String {
    let (y, mo, d, h, mi, s, _) = civil(ms);
    format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:03}Z",
        ms.rem_euclid(1000)
    )
}

fn http_time(ms: i64) -> String {
    let (y, mo, d, h, mi, s, wd) = civil(ms);
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {d:02} {} {y:04} {h:02}:{mi:02}:{s:02} GMT",
        DAYS[wd],
        MONTHS[mo as usize - 1]
    )
}

/// (year, month, day, hour, minute, second, weekday with Sunday 0) of a Unix time in ms.
fn civil(ms: i64) -> (i64, u32, u32, u32, u32, u32, usize) {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    let wd = (days + 4).rem_euclid(7) as usize;
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
        wd,
    )
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn unhex(text: &str) -> Option<String> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// Where a listing goes on from.
enum Start {
    Beginning,
    /// After this key (a continuation token, start-after, a marker).
    AfterKey(String),
    /// After every key under this common prefix.
    AfterPrefix(String),
}

enum Item {
    Key(usize),
    Prefix(String),
}

/// One page: bisection to the start, then at most `max` items, each common prefix skipped over
/// by bisection too. Returns the items and whether more follow.
fn page(b: &Bucket, prefix: &str, delimiter: &str, start: &Start, max: usize) -> (Vec<Item>, bool) {
    let keys = &b.keys;
    let mut i = keys.partition_from(0, |k| k < prefix);
    i = i.max(match start {
        Start::Beginning => 0,
        Start::AfterKey(after) => keys.partition_from(0, |k| k <= after.as_str()),
        Start::AfterPrefix(p) => {
            keys.partition_from(0, |k| k < p.as_str() || k.starts_with(p.as_str()))
        }
    });
    let mut items = Vec::new();
    while i < keys.len() && items.len() < max {
        let key = keys.get(i);
        if !key.starts_with(prefix) {
            break;
        }
        let rest = &key[prefix.len()..];
        match rest.find(delimiter).filter(|_| !delimiter.is_empty()) {
            Some(at) => {
                let common = &key[..prefix.len() + at + delimiter.len()];
                i = keys.partition_from(i, |k| k.starts_with(common));
                items.push(Item::Prefix(common.to_string()));
            }
            None => {
                items.push(Item::Key(i));
                i += 1;
            }
        }
    }
    let more = i < keys.len() && keys.get(i).starts_with(prefix);
    (items, more)
}

fn list(b: &Bucket, q: &[(String, String)], v2: bool) -> Reply {
    let get = |name: &str| q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let prefix = get("prefix").unwrap_or("");
    let delimiter = get("delimiter").unwrap_or("");
    let url = get("encoding-type") == Some("url");
    let enc = |text: &str| if url { url_encode(text) } else { escape(text) };
    let max = get("max-keys")
        .map_or(Ok(MAX_KEYS), str::parse::<usize>)
        .map(|m| m.min(MAX_KEYS));
    let Ok(max) = max else {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "max-keys",
            &b.name,
        );
    };
    let start = if v2 && let Some(token) = get("continuation-token") {
        match unhex(token) {
            Some(t) if t.starts_with('K') => Start::AfterKey(t[1..].to_string()),
            Some(t) if t.starts_with('P') => Start::AfterPrefix(t[1..].to_string()),
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "InvalidArgument",
                    "The continuation token provided is incorrect",
                    &b.name,
                );
            }
        }
    } else {
        match get(if v2 { "start-after" } else { "marker" }) {
            // A marker that is a common prefix (ListObjects' NextMarker) goes on past its keys.
            Some(after)
                if !delimiter.is_empty()
                    && after.len() > prefix.len()
                    && after.starts_with(prefix)
                    && after.ends_with(delimiter)
                    && after[prefix.len()..].find(delimiter)
                        == Some(after.len() - prefix.len() - delimiter.len()) =>
            {
                Start::AfterPrefix(after.to_string())
            }
            Some(after) if !after.is_empty() => Start::AfterKey(after.to_string()),
            _ => Start::Beginning,
        }
    };
    let (items, more) = page(b, prefix, delimiter, &start, max);
    let changed = b.changed.read().unwrap();
    let mut out = String::with_capacity(200 + items.len() * 300);
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"{XMLNS}\"><Name>{}</Name><Prefix>{}</Prefix>",
        escape(&b.name),
        enc(prefix)
    );
    if !delimiter.is_empty() {
        let _ = write!(out, "<Delimiter>{}</Delimiter>", enc(delimiter));
    }
    if url {
        out.push_str("<EncodingType>url</EncodingType>");
    }
    let _ = write!(
        out,
        "<MaxKeys>{max}</MaxKeys><IsTruncated>{more}</IsTruncated>"
    );
    let last = items.last().map(|item| match item {
        Item::Key(i) => format!("K{}", b.keys.get(*i)),
        Item::Prefix(p) => format!("P{p}"),
    });
    if v2 {
        let _ = write!(out, "<KeyCount>{}</KeyCount>", items.len());
        if let Some(token) = get("continuation-token") {
            let _ = write!(
                out,
                "<ContinuationToken>{}</ContinuationToken>",
                escape(token)
            );
        }
        if let Some(after) = get("start-after") {
            let _ = write!(out, "<StartAfter>{}</StartAfter>", enc(after));
        }
        if more && let Some(last) = &last {
            let _ = write!(
                out,
                "<NextContinuationToken>{}</NextContinuationToken>",
                hex(last.as_bytes())
            );
        }
    } else {
        let _ = write!(out, "<Marker>{}</Marker>", enc(get("marker").unwrap_or("")));
        if more && let Some(last) = &last {
            let _ = write!(out, "<NextMarker>{}</NextMarker>", enc(&last[1..]));
        }
    }
    for item in &items {
        match item {
            Item::Key(i) => {
                let o = &b.objects[*i];
                let (size, etag) = match (&o.body, changed.get(i)) {
                    (Body::Synthetic, Some(&(_, size, etag))) => (size, etag),
                    _ => (o.size, o.etag),
                };
                let _ = write!(
                    out,
                    "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>&quot;{}&quot;</ETag><Size>{size}</Size><StorageClass>STANDARD</StorageClass></Contents>",
                    enc(b.keys.get(*i)),
                    iso_time(o.mtime_ms),
                    hex(&etag)
                );
            }
            Item::Prefix(p) => {
                let _ = write!(
                    out,
                    "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
                    enc(p)
                );
            }
        }
    }
    out.push_str("</ListBucketResult>");
    xml(out)
}

/// `bytes=a-b`, `bytes=a-`, `bytes=-n` over `size` bytes: the inclusive range, or None when it
/// is not satisfiable.
fn range(spec: &str, size: u64) -> Option<(u64, u64)> {
    let (a, b) = spec.strip_prefix("bytes=")?.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            (size.checked_sub(n.min(size))?, size.checked_sub(1)?)
        }
        (a, "") => (a.parse().ok()?, size.checked_sub(1)?),
        (a, b) => (
            a.parse().ok()?,
            b.parse::<u64>().ok()?.min(size.checked_sub(1)?),
        ),
    };
    (start <= end && start < size).then_some((start, end))
}

async fn object(state: &State, b: &Bucket, key: &str, req: &Request<Incoming>) -> Reply {
    let head = req.method() == Method::HEAD;
    state.count(if head { "HeadObject" } else { "GetObject" });
    let Some(i) = b.keys.find(key) else {
        return error(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
            key,
        );
    };
    let meta = b.meta(i);
    let body: Bytes = if head {
        Bytes::new()
    } else {
        match &b.objects[i].body {
            Body::Memory(data) => data.clone(),
            Body::Synthetic => Bytes::from(synthetic_body(key, meta.version)),
            Body::File(path) => match tokio::fs::read(path).await {
                Ok(data) => Bytes::from(data),
                Err(e) => {
                    return error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "InternalError",
                        &e.to_string(),
                        key,
                    );
                }
            },
        }
    };
    let wanted = req
        .headers()
        .get(hyper::header::RANGE)
        .and_then(|v| v.to_str().ok());
    let (status, body, length, content_range) = match wanted {
        Some(spec) => match range(spec, meta.size) {
            Some((start, end)) => (
                StatusCode::PARTIAL_CONTENT,
                if head {
                    body
                } else {
                    body.slice(start as usize..=end as usize)
                },
                end - start + 1,
                Some(format!("bytes {start}-{end}/{}", meta.size)),
            ),
            None => {
                return error(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "InvalidRange",
                    "The requested range is not satisfiable",
                    key,
                );
            }
        },
        None => (StatusCode::OK, body, meta.size, None),
    };
    let mut r = reply(status, "application/octet-stream", body);
    let h = r.headers_mut();
    h.insert(CONTENT_LENGTH, HeaderValue::from(length));
    h.insert(
        "etag",
        HeaderValue::from_str(&format!("\"{}\"", hex(&meta.etag))).unwrap(),
    );
    h.insert(
        "last-modified",
        HeaderValue::from_str(&http_time(meta.mtime_ms)).unwrap(),
    );
    h.insert("accept-ranges", HeaderValue::from_static("bytes"));
    if let Some(cr) = content_range {
        h.insert("content-range", HeaderValue::from_str(&cr).unwrap());
    }
    r
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Reply, Infallible> {
    if state.log {
        let range = req
            .headers()
            .get(hyper::header::RANGE)
            .map(|v| format!(" range={v:?}"))
            .unwrap_or_default();
        eprintln!("{} {}{range}", req.method(), req.uri());
    }
    let path = url_decode(req.uri().path(), false);
    let q = query(req.uri());
    let has = |name: &str| q.iter().any(|(k, _)| k == name);
    let method = req.method().clone();
    let head = method == Method::HEAD;
    let reply = match (method, path.trim_start_matches('/')) {
        (Method::GET, "_stats") => {
            state.count("Stats");
            let mut out = String::new();
            for (op, n) in OPS.iter().zip(&state.counts) {
                let _ = writeln!(out, "{op} {}", n.load(Ordering::Relaxed));
            }
            reply(StatusCode::OK, "text/plain", out)
        }
        (Method::GET, "_change") => {
            state.count("Change");
            let key = q.iter().find(|(k, _)| k == "key").map(|(_, v)| v.as_str());
            let found = key.and_then(|key| {
                state.buckets.iter().find_map(|b| {
                    let i = b.keys.find(key)?;
                    matches!(b.objects[i].body, Body::Synthetic).then_some((b, i, key))
                })
            });
            match found {
                Some((b, i, key)) => {
                    let mut changed = b.changed.write().unwrap();
                    let version = changed.get(&i).map_or(0, |c| c.0) + 1;
                    let body = synthetic_body(key, version);
                    changed.insert(i, (version, body.len() as u64, md5(body.as_bytes())));
                    reply(StatusCode::OK, "text/plain", "ok")
                }
                None => error(
                    StatusCode::NOT_FOUND,
                    "NoSuchKey",
                    "no synthetic object of that key",
                    key.unwrap_or(""),
                ),
            }
        }
        (Method::GET, "") => {
            state.count("ListBuckets");
            let mut out = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListAllMyBucketsResult xmlns=\"{XMLNS}\"><Owner><ID>s3-standin</ID><DisplayName>s3-standin</DisplayName></Owner><Buckets>"
            );
            for b in &state.buckets {
                let _ = write!(
                    out,
                    "<Bucket><Name>{}</Name><CreationDate>{}</CreationDate></Bucket>",
                    escape(&b.name),
                    iso_time(SYNTHETIC_MTIME_MS)
                );
            }
            out.push_str("</Buckets></ListAllMyBucketsResult>");
            xml(out)
        }
        (method, rest) => {
            let (name, key) = rest.split_once('/').unwrap_or((rest, ""));
            match state.bucket(name) {
                None => {
                    state.count("Other");
                    error(
                        StatusCode::NOT_FOUND,
                        "NoSuchBucket",
                        "The specified bucket does not exist",
                        name,
                    )
                }
                Some(b) if !key.is_empty() && (method == Method::GET || head) => {
                    object(&state, b, key, &req).await
                }
                Some(_) if method == Method::HEAD => {
                    state.count("HeadBucket");
                    let mut r = reply(StatusCode::OK, "application/xml", Bytes::new());
                    r.headers_mut()
                        .insert("x-amz-bucket-region", HeaderValue::from_static("us-east-1"));
                    r
                }
                Some(_) if method == Method::GET && has("location") => {
                    state.count("GetBucketLocation");
                    xml(format!(
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"{XMLNS}\"/>"
                    ))
                }
                Some(b)
                    if method == Method::GET
                        && ![
                            "versioning",
                            "lifecycle",
                            "policy",
                            "acl",
                            "tagging",
                            "uploads",
                            "versions",
                            "cors",
                            "encryption",
                        ]
                        .iter()
                        .any(|s| has(s)) =>
                {
                    let v2 = q.iter().any(|(k, v)| k == "list-type" && v == "2");
                    state.count(if v2 { "ListObjectsV2" } else { "ListObjects" });
                    list(b, &q, v2)
                }
                Some(_) => {
                    state.count("Other");
                    error(
                        StatusCode::NOT_IMPLEMENTED,
                        "NotImplemented",
                        "s3-standin serves reads only",
                        rest,
                    )
                }
            }
        }
    };
    if head {
        // No body for HEAD; its Content-Length (an object's size) stays.
        let (parts, _) = reply.into_parts();
        return Ok(Response::from_parts(parts, Full::new(Bytes::new())));
    }
    Ok(reply)
}

struct Args {
    dir: Option<PathBuf>,
    synthetic: Option<usize>,
    bucket: Option<String>,
    prefix: String,
    port: u16,
    log: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: s3-standin --dir ROOT [--port P] [--log]\n       s3-standin --synthetic N --bucket B --prefix P [--port P] [--log]"
    );
    std::process::exit(2)
}

fn args() -> Args {
    let mut args = Args {
        dir: None,
        synthetic: None,
        bucket: None,
        prefix: String::new(),
        port: 0,
        log: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--dir" => args.dir = Some(PathBuf::from(value())),
            "--synthetic" => args.synthetic = Some(value().parse().unwrap_or_else(|_| usage())),
            "--bucket" => args.bucket = Some(value()),
            "--prefix" => args.prefix = value(),
            "--port" => args.port = value().parse().unwrap_or_else(|_| usage()),
            "--log" => args.log = true,
            _ => usage(),
        }
    }
    args
}

fn main() -> std::io::Result<()> {
    let args = args();
    let buckets = match (&args.dir, args.synthetic, &args.bucket) {
        (Some(root), None, None) => {
            let budget = AtomicU64::new(MEMORY_CAP);
            let mut names: Vec<_> = std::fs::read_dir(root)?
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .filter_map(|e| e.file_name().into_string().ok())
                .collect();
            names.sort();
            names
                .iter()
                .map(|name| folder_bucket(name, &root.join(name), &budget))
                .collect::<std::io::Result<Vec<_>>>()?
        }
        (None, Some(n), Some(bucket)) => vec![synthetic_bucket(n, bucket, &args.prefix)],
        _ => usage(),
    };
    for b in &buckets {
        eprintln!(
            "s3-standin: bucket {} with {} objects",
            b.name,
            b.keys.len()
        );
    }
    let state = Arc::new(State {
        buckets,
        counts: Default::default(),
        log: args.log,
    });
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(state, args.port))
}

async fn serve(state: Arc<State>, port: u16) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    println!("{}", listener.local_addr()?.port());
    use std::io::Write;
    std::io::stdout().flush()?;
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(state.clone(), req));
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
