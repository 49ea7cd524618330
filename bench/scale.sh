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
#     from bench/s3-standin, the loopback S3 stand-in bench/mirror.sh uses, built into BENCH_TOOLS
#     when its sources change) and queried as a mirror source (`--source s3://... --offline`):
#     cold, warm and one-changed-object (the stand-in indexes its folder when it starts, so it is
#     restarted after the object changes);
#   - with CS_CMDB_BASELINE_BIN (another build of cs-cmdb, e.g. the previous release): its cold,
#     warm and peak RSS on the same trees, side by side (sizes up to BASELINE_MAX, default all).
# Before each size the tree is read once, so that both builds' cold runs find it in the page
# cache (cold means the cache is built from the JSON, not that the disk is read).
# Then how each figure grows from one size to the next (x10 deployments: 10.0 is linear).
#
# Knobs: INSTANCES, RUNS (default 5), BENCH_DIR (keeps trees and caches between runs),
# CS_CMDB_BENCH_BIN (the binary measured; default a release build of this checkout),
# CS_CMDB_BASELINE_BIN, BASELINE_MAX, MIRROR (0/1), MIRROR_MAX (default 10000: the mirror of
# 100,000 deployments is a million objects; bench/mirror.sh measures that on its own),
# BENCH_TOOLS (default ~/.cache/cs-cmdb/bench-tools). Needs GNU time (/usr/bin/time), bc, curl.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -gt 0 ]; then SIZES=("$@"); else SIZES=(1000 10000 100000); fi
INSTANCES="${INSTANCES:-16}"
RUNS="${RUNS:-5}"
MIRROR_MAX="${MIRROR_MAX:-10000}"
BASELINE_MAX="${BASELINE_MAX:-}"
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

# timed BIN CACHE SOURCE QUERY-ARGS... -> "seconds peak_kb" of one whole `query` command (wall
# time to the millisecond: GNU time's own %e stops at 10 ms, too coarse for warm runs).
timed() {
  local bin="$1" cache="$2" source="$3" start end
  shift 3
  start=$(date +%s%N)
  /usr/bin/time -f "%M" -o "$WORK/time" "$bin" query "$@" --source "$source" --cache-dir "$cache" \
    --format csv >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; exit 2; }
  end=$(date +%s%N)
  echo "$(echo "scale=3; ($end - $start) / 1000000000" | bc | sed 's/^\./0./') $(cat "$WORK/time")"
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

# The S3 stand-in, for the mirror-source rows: serves $SERVE, a folder per bucket (the size's
# tree, hard-linked: the stand-in indexes every file of its folder when it starts).
SRV=""
cleanup() { if [ -n "$SRV" ]; then kill "$SRV" 2>/dev/null || true; fi; }
trap cleanup EXIT
. bench/standin.sh
# (Re)start the stand-in over the folder as it is now; sets ENDPOINT.
serve() {
  cleanup
  rm -f "$WORK/standin.port"
  "$TOOLS/bin/s3-standin" --dir "$SERVE" >"$WORK/standin.port" 2>"$WORK/standin.log" &
  SRV=$!
  for _ in $(seq 1200); do [ -s "$WORK/standin.port" ] && break; kill -0 "$SRV" || exit 2; sleep 0.1; done
  ENDPOINT="http://127.0.0.1:$(cat "$WORK/standin.port")"
}
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL

declare -A FIG
{
  # The group runs in a subshell (it feeds `tee`): the stand-in it starts is stopped from there.
  trap cleanup EXIT
  echo "# bench/scale.sh: $(date -u +%Y-%m-%d), $(nproc) cores, binary $BIN${BASE:+, baseline $BASE}; INSTANCES=$INSTANCES, RUNS=$RUNS (medians)"
  for size in "${SIZES[@]}"; do
    # One bucket folder per size: the tree is the bucket's `clonesquad/` prefix.
    TREE="$WORK/s3/b$size/clonesquad"
    if [ ! -d "$TREE/metadata" ]; then
      echo "generating $size deployments into $TREE" >&2
      "$BIN" sample --out "$TREE" --deployments "$size" --instances "$INSTANCES" --seed 42 2>/dev/null
    fi
    files=$(find "$TREE/metadata" -type f | wc -l)
    find "$TREE/metadata" -type f -print0 | xargs -0 cat >/dev/null # into the page cache
    echo
    echo "## $size deployments: $files metadata files, $(du -sm "$TREE/metadata" | cut -f1) MB"
    floor=$(warm "$BIN" "$WORK/cache-floor" "$TREE" --sql "select 1" | cut -d' ' -f1)
    FIG[$size.floor]=$floor
    printf "%-12s %8s %8s %9s %8s %10s" query cold_s warm_s changed_s peak_MB warm/floor
    if [ -n "$BASE" ] && { [ -z "$BASELINE_MAX" ] || [ "$size" -le "$BASELINE_MAX" ]; }; then
      printf " | %8s %8s %8s %9s" base_cold base_warm base_MB warm_ratio
    fi
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
      if [ -n "$BASE" ] && { [ -z "$BASELINE_MAX" ] || [ "$size" -le "$BASELINE_MAX" ]; }; then
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
      install_standin
      SERVE="$WORK/serve-$size"
      if [ ! -d "$SERVE/b$size" ]; then mkdir -p "$SERVE" && cp -al "$WORK/s3/b$size" "$SERVE/"; fi
      serve
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
        serve
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
