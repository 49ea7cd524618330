#!/usr/bin/env bash
# Benchmark of `cs-cmdb report`, run on demand (never part of the test suite).
#
#   bench/report.sh [DEPLOYMENTS]
#
# Generates a tree (default 10,000 deployments, `cs-cmdb sample`), warms the embedded engine's
# cache, then measures in the same run, warm, median of 5 whole commands each:
#   - the baseline: `cs-cmdb query deployments --format csv`;
#   - `cs-cmdb report --out fleet.html --no-history` (the page's seven canned queries, rendered);
# and prints the ratio report/baseline (goal <= 2x), the page's size (goal <= 8 MB), and its time
# to interactive in headless Chromium (Debian's chromium): milliseconds from navigation start until
# the page's script has indexed the deployments table, as the page itself records it (goal <= 2 s,
# median of 3 loads).
# CS_CMDB_BENCH_BIN measures a given binary (default: a release build of this checkout);
# BENCH_DIR keeps the work files.
set -euo pipefail
cd "$(dirname "$0")/.."
DEPLOYMENTS="${1:-10000}"
WORK="${BENCH_DIR:-$(mktemp -d)}"
CHROMIUM="${CS_CMDB_CHROMIUM:-/usr/bin/chromium}"
export CS_CMDB_NOW="2026-11-26T09:00:00Z"

if [ -n "${CS_CMDB_BENCH_BIN:-}" ]; then
  BIN="$CS_CMDB_BENCH_BIN"
else
  cargo build --release --quiet
  BIN="${CARGO_TARGET_DIR:-target}/release/cs-cmdb"
fi
if [ ! -d "$WORK/tree/metadata" ]; then
  echo "generating $DEPLOYMENTS deployments into $WORK/tree" >&2
  "$BIN" sample --out "$WORK/tree" --deployments "$DEPLOYMENTS" --seed 42 >&2
fi

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timed() { /usr/bin/time -f "%e" -o "$WORK/t" "$@" >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; exit 2; }; cat "$WORK/t"; }

common=(--source "$WORK/tree" --cache-dir "$WORK/cache")
"$BIN" query deployments "${common[@]}" --format csv >/dev/null 2>&1   # build the cache
base=$(for _ in 1 2 3 4 5; do timed "$BIN" query deployments "${common[@]}" --format csv; done | median)
page=$(for _ in 1 2 3 4 5; do timed "$BIN" report --out "$WORK/fleet.html" --no-history "${common[@]}"; done | median)
bytes=$(stat -c %s "$WORK/fleet.html")

tti=$(for i in 1 2 3; do
  "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$WORK/profile-$i" --dump-dom \
    "file://$WORK/fleet.html" 2>/dev/null | grep -o 'data-ready-ms="[0-9]*"' | grep -o '[0-9]*'
done | median)

printf "%-34s %10s\n" measure value
printf "%-34s %10s\n" "query deployments, warm (s)" "$base"
printf "%-34s %10s\n" "report, warm (s)" "$page"
printf "%-34s %10.2f\n" "report / query deployments" "$(echo "$page / $base" | bc -l)"
printf "%-34s %10.2f\n" "page size (MB)" "$(echo "$bytes / 1048576" | bc -l)"
printf "%-34s %10s\n" "time to interactive (ms)" "$tti"
