#!/usr/bin/env bash
# The scale benchmark of the embedded engine, run on demand (never part of the test suite).
#
#   bench/scale.sh [DEPLOYMENTS ...]        # default: 1000 10000 100000
#
# For each size, a generated tree (`cs-cmdb sample`, INSTANCES managed instances per deployment
# on average, default 16: ~85 KB of metadata per deployment) and, in the same run:
#   - the process floor: `query --sql "select 1"` (median of RUNS);
#   - for `deployments`, `versions`, `hostnames` and a discovery x instances join: cold (the
#     cache built from the JSON tree), warm (median of RUNS, after one settling run), one changed
#     file (the run after one file the query reads is rewritten), and peak RSS (the largest of
#     the cold and warm runs);
#   - with MIRROR=1 (default up to 10,000 deployments): the same tree mirrored (`cs-cmdb mirror`
#     from a local S3-compatible server, s3s-fs, installed into BENCH_TOOLS on first use) and
#     queried as a mirror source (`--source s3://... --offline`): warm and one-changed-object;
#   - with CS_CMDB_BASELINE_BIN (another build of cs-cmdb, e.g. the previous release): its cold,
#     warm and peak RSS on the same trees, side by side.
# Then how each figure grows from one size to the next (x10 deployments: 10.0 is linear).
#
# Knobs: INSTANCES, RUNS (default 5), BENCH_DIR (keeps trees and caches between runs),
# CS_CMDB_BENCH_BIN (the binary measured; default a release build of this checkout),
# CS_CMDB_BASELINE_BIN, MIRROR (0/1; default 1 for sizes up to 10,000), MIRROR_MAX (default
# 10000: s3s-fs answers each ListObjectsV2 page by scanning the whole bucket, so a mirror of
# 100,000 deployments, a million objects, would take hours there), BENCH_TOOLS (default
# ~/.cache/cs-cmdb/bench-tools). Needs GNU time (/usr/bin/time) and bc.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -gt 0 ]; then SIZES=("$@"); else SIZES=(1000 10000 100000); fi
INSTANCES="${INSTANCES:-16}"
RUNS="${RUNS:-5}"
MIRROR_MAX="${MIRROR_MAX:-10000}"
WORK="${BENCH_DIR:-$(mktemp -d)}"
TOOLS="${BENCH_TOOLS:-$HOME/.cache/cs-cmdb/bench-tools}"
export CS_CMDB_NOW="2026-11-26T09:00:00Z"
mkdir -p "$WORK"

if [ -n "${CS_CMDB_BENCH_BIN:-}" ]; then
  BIN="$CS_CMDB_BENCH_BIN"
else
  cargo build --release --quiet
  BIN="${CARGO_TARGET_DIR:-target}/release/cs-cmdb"
fi
BASE="${CS_CMDB_BASELINE_BIN:-}"

JOIN="SELECT d.clonesquadversion, i.instancetype, count(*) AS n FROM clonesquad_discovery d JOIN clonesquad_instances i ON i.accountid = d.accountid AND i.region = d.region AND i.groupname = d.groupname GROUP BY 1, 2 ORDER BY 1, 2"
QUERIES=(deployments versions hostnames join)

# timed BIN CACHE SOURCE QUERY-ARGS... -> "seconds peak_kb" of one whole `query` command.
timed() {
  local bin="$1" cache="$2" source="$3"
  shift 3
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$bin" query "$@" --source "$source" --cache-dir "$cache" \
    --format csv >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; exit 2; }
  cat "$WORK/time"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# warm BIN CACHE SOURCE ARGS... -> "median_seconds max_peak_kb" over RUNS runs
warm() {
  local out
  out=$(for _ in $(seq "$RUNS"); do timed "$@"; done)
  echo "$(echo "$out" | cut -d' ' -f1 | median) $(echo "$out" | cut -d' ' -f2 | sort -n | tail -1)"
}
args_of() { if [ "$1" = join ]; then echo "--sql"; echo "$JOIN"; else echo "$1"; fi; }
# The file a query's one-changed-file run rewrites: an instances file, or a discovery record for
# `versions` (which reads only discovery). Rewritten in place (a space appended after the JSON):
# its folder keeps its mtime, as when a tool writes over a file.
touch_one() {
  local table=instances
  [ "$1" = versions ] && table=discovery
  local f
  f=$(find "$2/metadata/$table" -type f -size +0 -print -quit)
  printf ' ' >>"$f"
}
mb() { echo $(( $1 / 1024 )); }

# s3s-fs, for the mirror-source rows.
S3S_PID=""
cleanup() { if [ -n "$S3S_PID" ]; then kill "$S3S_PID" 2>/dev/null || true; fi; }
trap cleanup EXIT
start_s3() {
  if [ ! -x "$TOOLS/bin/s3s-fs" ]; then
    echo "installing s3s-fs into $TOOLS (once)" >&2
    cargo install --quiet --locked --root "$TOOLS" s3s-fs@0.14.1 --features binary
  fi
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$TOOLS/bin/s3s-fs" --host 127.0.0.1 --port "$port" --access-key testing --secret-key testing "$WORK/s3" \
    >"$WORK/s3s.log" 2>&1 &
  S3S_PID=$!
  ENDPOINT="http://127.0.0.1:$port"
  for _ in $(seq 100); do curl -s -o /dev/null "$ENDPOINT" && break; sleep 0.1; done
}
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL

declare -A FIG
{
  echo "# bench/scale.sh: $(date -u +%Y-%m-%d), $(nproc) cores, binary $BIN${BASE:+, baseline $BASE}; INSTANCES=$INSTANCES, RUNS=$RUNS (medians)"
  for size in "${SIZES[@]}"; do
    # One bucket folder per size: the tree is the bucket's `clonesquad/` prefix.
    TREE="$WORK/s3/b$size/clonesquad"
    if [ ! -d "$TREE/metadata" ]; then
      echo "generating $size deployments into $TREE" >&2
      "$BIN" sample --out "$TREE" --deployments "$size" --instances "$INSTANCES" --seed 42 2>/dev/null
    fi
    files=$(find "$TREE/metadata" -type f | wc -l)
    echo
    echo "## $size deployments: $files metadata files, $(du -sm "$TREE/metadata" | cut -f1) MB"
    floor=$(warm "$BIN" "$WORK/cache-floor" "$TREE" --sql "select 1" | cut -d' ' -f1)
    FIG[$size.floor]=$floor
    printf "%-12s %8s %8s %9s %8s %10s" query cold_s warm_s changed_s peak_MB warm/floor
    [ -n "$BASE" ] && printf " | %8s %8s %8s %9s" base_cold base_warm base_MB warm_ratio
    printf "\n%-12s %8s %8s %9s %8s %10s\n" "select 1" - "$floor" - - 1.0
    for q in "${QUERIES[@]}"; do
      mapfile -t A < <(args_of "$q")
      cache="$WORK/cache-$size"
      rm -rf "$cache"
      read -r cold crss < <(timed "$BIN" "$cache" "$TREE" "${A[@]}")
      timed "$BIN" "$cache" "$TREE" "${A[@]}" >/dev/null # settle: folder stamps renewed
      read -r w wrss < <(warm "$BIN" "$cache" "$TREE" "${A[@]}")
      touch_one "$q" "$TREE"
      read -r changed _ < <(timed "$BIN" "$cache" "$TREE" "${A[@]}")
      peak=$(( crss > wrss ? crss : wrss ))
      FIG[$size.$q.cold]=$cold FIG[$size.$q.warm]=$w FIG[$size.$q.changed]=$changed FIG[$size.$q.peak]=$(mb "$peak")
      printf "%-12s %8s %8s %9s %8s %10.1f" "$q" "$cold" "$w" "$changed" "$(mb "$peak")" "$(echo "$w / $floor" | bc -l)"
      if [ -n "$BASE" ]; then
        bcache="$WORK/base-cache-$size"
        rm -rf "$bcache"
        read -r bcold brss < <(timed "$BASE" "$bcache" "$TREE" "${A[@]}")
        timed "$BASE" "$bcache" "$TREE" "${A[@]}" >/dev/null
        read -r bw bwrss < <(warm "$BASE" "$bcache" "$TREE" "${A[@]}")
        bpeak=$(( brss > bwrss ? brss : bwrss ))
        printf " | %8s %8s %8s %8.1fx" "$bcold" "$bw" "$(mb "$bpeak")" "$(echo "$bw / $w" | bc -l)"
      fi
      printf "\n"
    done

    if [ "${MIRROR:-1}" = 1 ] && [ "$size" -le "$MIRROR_MAX" ]; then
      [ -n "$S3S_PID" ] || start_s3
      SRC="s3://b$size/clonesquad"
      MCACHE="$WORK/mcache-$size"
      rm -rf "$MCACHE"
      s=$(date +%s.%N)
      "$BIN" --endpoint-url "$ENDPOINT" --metadata-path "$SRC" mirror --cache-dir "$MCACHE" >/dev/null 2>"$WORK/mirror.err" \
        || { cat "$WORK/mirror.err" >&2; exit 2; }
      e=$(date +%s.%N)
      echo "mirror source ($SRC mirrored in $(printf %.1f "$(echo "$e - $s" | bc)") s; queried with --offline):"
      printf "%-12s %8s %8s %9s %8s %10s\n" query cold_s warm_s changed_s peak_MB warm/floor
      for q in "${QUERIES[@]}"; do
        mapfile -t A < <(args_of "$q")
        rm -rf "$MCACHE/local"
        read -r cold crss < <(timed "$BIN" "$MCACHE" "$SRC" "${A[@]}" --offline)
        read -r w wrss < <(warm "$BIN" "$MCACHE" "$SRC" "${A[@]}" --offline)
        # One object changes in the bucket; the mirror brings it; the query parses it alone.
        touch_one "$q" "$TREE"
        "$BIN" --endpoint-url "$ENDPOINT" --metadata-path "$SRC" mirror --cache-dir "$MCACHE" >/dev/null 2>&1
        read -r changed _ < <(timed "$BIN" "$MCACHE" "$SRC" "${A[@]}" --offline)
        peak=$(( crss > wrss ? crss : wrss ))
        FIG[$size.m$q.warm]=$w
        printf "%-12s %8s %8s %9s %8s %10.1f\n" "$q" "$cold" "$w" "$changed" "$(mb "$peak")" "$(echo "$w / $floor" | bc -l)"
      done
      rm -rf "$MCACHE"
    fi
  done

  # Growth: each figure at a size over the same figure at the size before (x10 deployments).
  if [ "${#SIZES[@]}" -gt 1 ]; then
    echo
    echo "## growth (figure at N over figure at the size before; 10.0 = linear in deployments)"
    printf "%-22s" "figure"
    for ((i = 1; i < ${#SIZES[@]}; i++)); do printf " %14s" "${SIZES[i]}/${SIZES[i - 1]}"; done
    printf "\n"
    for q in "${QUERIES[@]}"; do
      for m in cold warm changed peak; do
        printf "%-22s" "$q $m"
        for ((i = 1; i < ${#SIZES[@]}; i++)); do
          a=${FIG[${SIZES[i]}.$q.$m]} b=${FIG[${SIZES[i - 1]}.$q.$m]}
          printf " %14.1f" "$(echo "$a / $b" | bc -l)"
        done
        printf "\n"
      done
    done
  fi
} | tee "$WORK/scale.txt"
echo "(also in $WORK/scale.txt)" >&2
