"""A loopback S3 stand-in serving KEYS synthetic objects in CloneSquad's layout (metadata and
latest backups, 8 objects per deployment) from memory: ListObjectsV2 (prefix, `/` delimiter,
continuation tokens, URL-encoded keys) answers a page with a bisection of a sorted key list, so
listing a million keys is not bottlenecked by the server (a folder-backed server such as s3s-fs
scans the whole bucket for every page); GetObject returns a small body. Benchmark use only.

    python bench/fake_s3.py KEYS BUCKET PREFIX  -> prints the port, serves until killed
    GET /_change?key=K        changes one object's body (the next listing shows a new ETag)
"""

import bisect
import hashlib
import sys
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

KEYS, BUCKET, PREFIX = int(sys.argv[1]), sys.argv[2], sys.argv[3].strip("/")
TABLES = ["discovery", "configuration", "scheduler", "instances", "volumes", "maintenance-windows"]
MODIFIED = "2026-11-26T09:00:00.000Z"
MODIFIED_HTTP = formatdate(1795683600, usegmt=True)


def keys():
    out = []
    d = 0
    while len(out) < KEYS:
        a, r, g = f"{100000000000 + d // 3:012d}", ["eu-west-1", "us-east-1", "eu-central-1"][d % 3], f"g{d:07d}"
        part = f"accountid={a}/region={r}/groupname={g}"
        for t in TABLES:
            out.append(f"{PREFIX}/metadata/{t}/{part}/{a}-{r}-{t}-cs-{g}.json")
        for kind in ["configuration", "scheduler"]:
            out.append(f"{PREFIX}/backups/{part}/latest-{a}-{r}-{kind}-cs-{g}.yaml")
        d += 1
    return sorted(out[:KEYS])


ALL = keys()
VERSION = {}  # key -> how many times it changed


def body(key):
    return ('{"Key": "%s", "Version": %d}' % (key.rsplit("/", 1)[-1], VERSION.get(key, 0))).encode()


def etag(key):
    return '"%s"' % hashlib.md5(body(key)).hexdigest()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, code, payload, ctype="application/xml", headers=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        url = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        path = unquote(url.path).lstrip("/")
        if path == "_change":
            VERSION[q["key"]] = VERSION.get(q["key"], 0) + 1
            return self.send(200, b"ok", "text/plain")
        bucket, _, key = path.partition("/")
        if bucket != BUCKET:
            return self.send(404, b"<Error><Code>NoSuchBucket</Code></Error>")
        if key:
            i = bisect.bisect_left(ALL, key)
            if i == len(ALL) or ALL[i] != key:
                return self.send(404, b"<Error><Code>NoSuchKey</Code></Error>")
            return self.send(200, body(key), "application/octet-stream",
                             [("ETag", etag(key)), ("Last-Modified", MODIFIED_HTTP)])
        self.list(q)

    def list(self, q):
        prefix, delim = q.get("prefix", ""), q.get("delimiter")
        start = q.get("continuation-token") or q.get("start-after") or ""
        i = bisect.bisect_left(ALL, prefix)
        if start:
            i = max(i, bisect.bisect_right(ALL, start))
        contents, prefixes, last = [], [], None
        truncated = False
        while i < len(ALL) and ALL[i].startswith(prefix):
            if len(contents) + len(prefixes) == 1000:
                truncated = True
                break
            key = ALL[i]
            rest = key[len(prefix):]
            if delim and delim in rest:
                p = prefix + rest[: rest.index(delim) + 1]
                prefixes.append(p)
                last = p
                i = bisect.bisect_left(ALL, p + "\U0010ffff")  # past every key under p
                continue
            contents.append(key)
            last = key
            i += 1
        enc = lambda k: quote(k, safe="/")  # noqa: E731
        parts = ["<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult>",
                 f"<Name>{BUCKET}</Name><Prefix>{enc(prefix)}</Prefix><EncodingType>url</EncodingType>",
                 f"<KeyCount>{len(contents) + len(prefixes)}</KeyCount><MaxKeys>1000</MaxKeys>",
                 f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"]
        if truncated:  # the token is the last key, as given (keys here need no XML escape)
            parts.append(f"<NextContinuationToken>{last}</NextContinuationToken>")
        for key in contents:
            parts.append(f"<Contents><Key>{enc(key)}</Key><LastModified>{MODIFIED}</LastModified>"
                         f"<ETag>{etag(key).replace(chr(34), '&quot;')}</ETag><Size>{len(body(key))}</Size>"
                         "<StorageClass>STANDARD</StorageClass></Contents>")
        for p in prefixes:
            parts.append(f"<CommonPrefixes><Prefix>{enc(p)}</Prefix></CommonPrefixes>")
        parts.append("</ListBucketResult>")
        self.send(200, "".join(parts).encode())


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
