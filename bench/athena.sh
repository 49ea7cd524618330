#!/usr/bin/env bash
# Athena benchmarks, run on demand (never part of the test suite), against loopback stand-ins:
#  1. partition registration: Glue calls, partitions per call and wall time for 100 / 2,000 /
#     20,000 partitions (moto: S3 listing + Glue). No ratio against a baseline: neither the
#     one-statement-per-partition way (calls = partitions) nor MSCK's full scan can run on the
#     emulator, so none ran;
#  2. results streaming: peak RSS of `query --engine athena --format csv` on a 1,000,000-row
#     result served page by page (goal: <= 150 MB), next to the same result rendered as a table
#     (collected whole) for comparison.
set -euo pipefail
# Knobs: CS_CMDB_BENCH_BIN, CS_CMDB_BENCH_PARTITIONS (default "100 2000 20000"), CS_CMDB_BENCH_ROWS (default 1000000).
cd "$(dirname "$0")/.."
VENV="${CS_CMDB_VENV:-.venv}"
PY="$VENV/bin/python"
# CS_CMDB_BENCH_BIN measures another binary (default: a release build of this checkout).
if [ -n "${CS_CMDB_BENCH_BIN:-}" ]; then
  BIN="$CS_CMDB_BENCH_BIN"
else
  cargo build --release --quiet
  BIN="${CARGO_TARGET_DIR:-target}/release/cs-cmdb"
fi
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

echo "== partition registration (moto)"
printf "%12s %12s %12s %14s\n" partitions glue_calls wall_s parts_per_call
for n in ${CS_CMDB_BENCH_PARTITIONS:-100 2000 20000}; do
  "$VENV/bin/moto_server" -H 127.0.0.1 -p 0 >"$WORK/moto.log" 2>&1 &
  MOTO_PID=$!
  for _ in $(seq 100); do grep -q "Running on" "$WORK/moto.log" && break; sleep 0.1; done
  URL=$(grep -o 'http://127.0.0.1:[0-9]*' "$WORK/moto.log" | head -1)
  "$PY" - "$URL" "$n" <<'PY'
import sys, boto3
from concurrent.futures import ThreadPoolExecutor
url, n = sys.argv[1], int(sys.argv[2])
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
glue = boto3.client("glue", endpoint_url=url, region_name="us-east-1")
s3.create_bucket(Bucket="bench")
def put(i):
    a, r, g = f"{100000000000 + i // 50:012d}", ["eu-west-1", "us-east-1"][i % 2], f"group-{i}"
    s3.put_object(Bucket="bench", Key=f"p/metadata/discovery/accountid={a}/region={r}/groupname={g}/x.json", Body=b"{}")
with ThreadPoolExecutor(16) as pool:
    list(pool.map(put, range(n)))
glue.create_database(DatabaseInput={"Name": "cs_cmdb"})
glue.create_table(DatabaseName="cs_cmdb", TableInput={"Name": "clonesquad_discovery",
    "PartitionKeys": [{"Name": k, "Type": "string"} for k in ("accountid", "region", "groupname")],
    "StorageDescriptor": {"Location": "s3://bench/p/metadata/discovery/"}})
PY
  start=$(date +%s.%N)
  "$BIN" --endpoint-url "$URL" --metadata-path s3://bench/p partitions --table discovery 2>"$WORK/err"
  end=$(date +%s.%N)
  calls=$(grep -o '([0-9]* Glue call' "$WORK/err" | grep -o '[0-9]*')
  printf "%12s %12s %12.2f %14.1f\n" "$n" "$calls" "$(echo "$end - $start" | bc)" "$(echo "$n / $calls" | bc -l)"
  kill "$MOTO_PID"; wait "$MOTO_PID" 2>/dev/null || true
done

echo "== results streaming (1,000,000 rows, pages of 1,000)"
"$PY" bench/fake_athena.py "${CS_CMDB_BENCH_ROWS:-1000000}" >"$WORK/port" &
for _ in $(seq 50); do [ -s "$WORK/port" ] && break; sleep 0.1; done
FAKE="http://127.0.0.1:$(head -1 "$WORK/port")"
for format in csv json table; do
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$BIN" --endpoint-url "$FAKE" query --engine athena \
    --sql "SELECT * FROM clonesquad_instances" --format "$format" --output-location s3://r/ >/dev/null
  read -r secs rss <"$WORK/time"
  printf "%-6s %8.1f s  peak RSS %6d MB%s\n" "$format" "$secs" "$((rss / 1024))" \
    "$([ "$format" = table ] && echo '  (tables are collected whole for their widths)')"
done
