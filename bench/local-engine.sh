#!/usr/bin/env bash
# Benchmark of the embedded engine, run on demand (never part of the test suite).
#
#   bench/local-engine.sh [DEPLOYMENTS] [INSTANCES_PER_DEPLOYMENT]
#
# Generates a tree (default 10,000 deployments, ~20 instances each), then times the whole
# `cs-cmdb query` command: cold (cache built from the JSON tree) and warm (cache present, median
# of 5), with peak RSS, for deployments / stale / versions / hostnames and a discovery x instances
# join; then an incremental run after one deployment changes. Prints a table with cold/warm (both
# measured in this run).
set -euo pipefail
cd "$(dirname "$0")/.."
DEPLOYMENTS="${1:-10000}"
INSTANCES="${2:-20}"
WORK="${BENCH_DIR:-$(mktemp -d)}"
export CS_CMDB_NOW="2026-11-26T09:00:00Z"

# CS_CMDB_BENCH_BIN measures another binary (default: a release build of this checkout).
if [ -n "${CS_CMDB_BENCH_BIN:-}" ]; then
  BIN="$CS_CMDB_BENCH_BIN"
else
  cargo build --release --quiet
  BIN="${CARGO_TARGET_DIR:-target}/release/cs-cmdb"
fi

if [ ! -d "$WORK/tree/metadata" ]; then
  echo "generating $DEPLOYMENTS deployments into $WORK/tree" >&2
  "$BIN" sample --out "$WORK/tree" --deployments "$DEPLOYMENTS" --instances "$INSTANCES" --seed 42
fi
echo "tree: $(find "$WORK/tree/metadata" -type f | wc -l) files, $(du -sh "$WORK/tree/metadata" | cut -f1)" >&2

JOIN="SELECT d.clonesquadversion, i.instancetype, count(*) AS n FROM clonesquad_discovery d JOIN clonesquad_instances i ON i.accountid = d.accountid AND i.region = d.region AND i.groupname = d.groupname GROUP BY 1, 2 ORDER BY 1, 2"

# run NAME ARGS... -> prints "seconds maxrss_kb" of one whole command
one() {
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$BIN" query "$@" --source "$WORK/tree" --cache-dir "$WORK/cache" --format csv >/dev/null 2>"$WORK/err" \
    || { cat "$WORK/err" >&2; exit 2; }
  cat "$WORK/time"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf "%-12s %10s %10s %12s %8s\n" query cold_s warm_s peak_rss_mb cold/warm
for q in deployments stale versions hostnames join; do
  if [ "$q" = join ]; then args=(--sql "$JOIN"); else args=("$q"); fi
  rm -rf "$WORK/cache"
  read -r cold rss < <(one "${args[@]}")
  warm=$(for _ in 1 2 3 4 5; do one "${args[@]}" | cut -d' ' -f1; done | median)
  read -r _ wrss < <(one "${args[@]}")
  rss=$(( (rss > wrss ? rss : wrss) / 1024 ))
  printf "%-12s %10s %10s %12s %8.1f\n" "$q" "$cold" "$warm" "$rss" "$(echo "$cold / $warm" | bc -l)"
done

# Incremental: one deployment's instance file changes; only it is parsed again.
f=$(find "$WORK/tree/metadata/instances" -type f -size +0 -print -quit)
echo "" >> "$f"
start=$(date +%s.%N)
"$BIN" query deployments --source "$WORK/tree" --cache-dir "$WORK/cache" -v --format csv 2>"$WORK/err" >/dev/null
end=$(date +%s.%N)
echo "after one changed file: $(echo "$end - $start" | bc) s; $(grep -o 'table=[a-z_]* rows=[0-9]* files=[0-9]* parsed=[0-9]*' "$WORK/err" | tr '\n' ' ')"
