"""Parse every ddl/*.sql and queries/*.sql with sqlglot's Athena (and, for queries, Trino)
dialect, refusing the fallback to an opaque 'Command': a statement that does not parse as real
Athena SQL never ships. Run by the Rust test suite; prints one line per file, exits 1 on failure."""

import glob
import logging
import os
import sys

import sqlglot
from sqlglot import exp

logging.getLogger("sqlglot").setLevel(logging.ERROR)
root = sys.argv[1] if len(sys.argv) > 1 else "."
failures = 0
files = [(f, ["athena"]) for f in sorted(glob.glob(os.path.join(root, "ddl", "*.sql")))]
files += [(f, ["athena", "trino"]) for f in sorted(glob.glob(os.path.join(root, "queries", "*.sql")))]
for path, dialects in files:
    text = open(path, encoding="utf-8").read().replace("${metadata_path}", "s3://bucket/prefix").replace("${org_path}", "s3://bucket/prefix/cs-cmdb/org")
    for dialect in dialects:
        try:
            statements = [s for s in sqlglot.parse(text, read=dialect, error_level=sqlglot.ErrorLevel.RAISE) if s]
            if len(statements) != 1:
                raise ValueError(f"{len(statements)} statements, expected 1")
            if isinstance(statements[0], exp.Command):
                raise ValueError("not understood (parsed as an opaque command)")
            print(f"ok   {dialect:6} {os.path.relpath(path, root)}")
        except Exception as err:  # noqa: BLE001 - report every failure, then exit 1
            failures += 1
            print(f"FAIL {dialect:6} {os.path.relpath(path, root)}: {err}")
sys.exit(1 if failures or not files else 0)
