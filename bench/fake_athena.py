"""A loopback stand-in for Athena's query API that serves a synthetic result of N rows in pages
of 1,000 (the emulator keeps whole results in memory and does not page). Benchmark use only.

    python bench/fake_athena.py ROWS  -> prints the port, serves until killed
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROWS = int(sys.argv[1])
PAGE = 1000
COLUMNS = ["account_id", "region", "group_name", "hostname", "instance_id", "state", "n"]
TYPES = ["varchar"] * 6 + ["bigint"]


def row(i):
    values = [f"{100000000000 + i // 20:012d}", "eu-west-1", f"group-{i // 20}",
              f"host-{i:07d}", f"i-{i:017x}", "running", str(i)]
    return {"Data": [{"VarCharValue": v} for v in values]}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        target = self.headers.get("X-Amz-Target", "")
        if target.endswith("StartQueryExecution"):
            out = {"QueryExecutionId": "bench-query"}
        elif target.endswith("GetQueryExecution"):
            out = {"QueryExecution": {"QueryExecutionId": "bench-query", "StatementType": "DML",
                                      "Status": {"State": "SUCCEEDED"}, "Statistics": {}}}
        elif target.endswith("GetQueryResults"):
            start = int(body.get("NextToken") or 0)
            rows = []
            if start == 0:
                rows.append({"Data": [{"VarCharValue": c} for c in COLUMNS]})
            end = min(start + PAGE - len(rows), ROWS)
            rows.extend(row(i) for i in range(start, end))
            out = {"ResultSet": {"Rows": rows, "ResultSetMetadata": {"ColumnInfo": [
                {"Name": c, "Label": c, "Type": t} for c, t in zip(COLUMNS, TYPES)]}}}
            if end < ROWS:
                out["NextToken"] = str(end)
        else:
            out = {}
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
