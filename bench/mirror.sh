#!/usr/bin/env bash
# Benchmark of `cs-cmdb mirror`, run on demand (never part of the tests).
#
#   bench/mirror.sh [OBJECTS]          # default 10,000; 0 skips part 1
#
# The server is bench/s3-standin (a small Rust S3 stand-in, its own Cargo project, built and
# installed into BENCH_TOOLS on first use and again whenever its sources change, never into the
# repo): it indexes the bucket once at start and answers each ListObjectsV2 page by bisection of
# the sorted keys, from memory, on every core, so it is not what is measured (its CPU per phase is
# printed to show it). It binds 127.0.0.1 and checks no credentials: benchmark use only.
#
# 1. A generated bucket of OBJECTS objects in CloneSquad's layout (metadata and latest backups,
#    from `cs-cmdb sample`) served from a folder (`s3-standin --dir`): a cold `cs-cmdb mirror` and
#    a cold `aws s3 sync` (awscli, installed into the project venv) of the same prefix, then a
#    no-op re-run of each, interleaved, RUNS times (medians); both copies must be identical.
#    Prints both times, the ratios, cs-cmdb's peak RSS, the CPU the server spent in each phase,
#    the requests each client sent, and the file system's floor (`cp -r` of the same tree).
# 2. With MILLION_KEYS (default 1,000,000; 0 skips it): that many keys served from memory
#    (`s3-standin --synthetic`), mirrored cold, then re-synced with nothing changed and with one
#    object changed: wall time, peak RSS and the server's CPU of each (the list and diff of
#    every key).
#
# SERVER=s3s-fs runs part 1 against s3s-fs 0.14.1 instead (the server of earlier figures;
# installed into BENCH_TOOLS on first use), for comparison: it scans and sorts the whole bucket
# and hashes the objects it serves for every ListObjectsV2 page, so its no-op runs measure the
# server, not the clients.
#
# Knobs: RUNS (default 3), BENCH_DIR (keeps the work files), BENCH_TOOLS (default
# ~/.cache/cs-cmdb/bench-tools), CS_CMDB_VENV (default .venv), CS_CMDB_BENCH_BIN (default: a
# release build of this checkout), CONCURRENCY (`mirror --concurrency`), SERVER (s3-standin or
# s3s-fs). Needs cargo, GNU time (/usr/bin/time), bc, curl.
set -euo pipefail
cd "$(dirname "$0")/.."
OBJECTS="${1:-10000}"
MILLION_KEYS="${MILLION_KEYS:-1000000}"
RUNS="${RUNS:-3}"
SERVER="${SERVER:-s3-standin}"
VENV="${CS_CMDB_VENV:-.venv}"
WORK="${BENCH_DIR:-$(mktemp -d)}"
TOOLS="${BENCH_TOOLS:-$HOME/.cache/cs-cmdb/bench-tools}"
BUCKET="cs-cmdb-bench"
PREFIX="clonesquad"
mkdir -p "$WORK" "$TOOLS"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

if ! "$VENV/bin/aws" --version >/dev/null 2>&1; then
  echo "installing awscli into $VENV" >&2
  [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check awscli
fi
# The stand-in, rebuilt when its sources change.
. bench/standin.sh
install_standin
if [ "$SERVER" = s3s-fs ] && [ ! -x "$TOOLS/bin/s3s-fs" ]; then
  echo "installing s3s-fs into $TOOLS (once)" >&2
  cargo install --quiet --locked --root "$TOOLS" s3s-fs@0.14.1 --features binary
fi
if [ -n "${CS_CMDB_BENCH_BIN:-}" ]; then
  BIN="$CS_CMDB_BENCH_BIN"
else
  cargo build --release --quiet
  BIN="${CARGO_TARGET_DIR:-target}/release/cs-cmdb"
fi

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 \
  AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
# CPU seconds (user + system) a process has used so far.
cpu_of() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat"; }
# timed CMD... -> "seconds peak_kb" (output to $WORK/last.err; a failure stops the bench)
timed() {
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >/dev/null 2>"$WORK/last.err" || { cat "$WORK/last.err" >&2; exit 2; }
  cat "$WORK/time"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# start_standin NAME ARGS... : runs the stand-in, waits for its port; sets SRV (pid), ENDPOINT.
start_standin() {
  local name="$1"
  shift
  "$TOOLS/bin/s3-standin" "$@" >"$WORK/$name.port" 2>"$WORK/$name.log" &
  SRV=$!
  PIDS+=("$SRV")
  for _ in $(seq 1200); do [ -s "$WORK/$name.port" ] && break; kill -0 "$SRV" || exit 2; sleep 0.1; done
  ENDPOINT="http://127.0.0.1:$(cat "$WORK/$name.port")"
}
# Requests the stand-in served so far, "op count" per line (nothing for another server).
stats() { if [ "$SERVER" = s3-standin ] || [ "${1:-}" = always ]; then curl -s "$ENDPOINT/_stats"; fi; }
# What the server served between two stats: "ListObjectsV2 8, GetObject 10000".
served() {
  join <(echo "$1" | sort) <(echo "$2" | sort) |
    awk '$1 != "Stats" && $3 > $2 {printf "%s%s %d", sep, $1, $3 - $2; sep = ", "}'
}
# phase CMD... -> "seconds peak_kb server_cpu_s" (requests served into $WORK/served)
phase() {
  local before after out s0
  s0=$(stats "${STATS:-}")
  before=$(cpu_of "$SRV")
  out=$(timed "$@")
  after=$(cpu_of "$SRV")
  served "$s0" "$(stats "${STATS:-}")" >"$WORK/served"
  echo "$out $(echo "$after - $before" | bc)"
}
# A phase whose command failed printed nothing (its error is on stderr): stop.
ok() { [ -n "${1:-}" ] || exit 2; }
# record NAME RUN CMD... : one phase into the rounds file; on the first round also the requests it
# made, and for cs-cmdb (NAME ending in _m) its summary line on stderr.
record() {
  local name="$1" run="$2" s kb srv
  shift 2
  read -r s kb srv < <(phase "$@")
  ok "$srv"
  echo "$name $s $kb $srv" >>"$WORK/rounds"
  if [ "$run" = 1 ]; then
    if [ "${name%_m}" != "$name" ]; then grep -o 'mirror .*' "$WORK/last.err" >&2 || true; fi
    echo "${name}_req $(cat "$WORK/served")" >>"$WORK/rounds"
  fi
}

# 1. OBJECTS objects: the bucket is a folder, the generated tree is its prefix.
if [ "$OBJECTS" -gt 0 ]; then
  TREE="$WORK/s3/$BUCKET/$PREFIX"
  if [ ! -d "$TREE" ]; then
    "$BIN" sample --out "$WORK/gen" --deployments $(( OBJECTS / 7 + 1 )) --instances 2 --seed 42 2>/dev/null
    find "$WORK/gen" -path '*/archive/*' -delete
    mkdir -p "$TREE"
    (cd "$WORK/gen" && find . -type f | sort | sed -n "1,${OBJECTS}p" | xargs -d "\n" cp --parents -t "$TREE")
    rm -rf "$WORK/gen"
  fi
  COUNT=$(find "$TREE" -type f | wc -l)
  if [ "$SERVER" = s3s-fs ]; then
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$TOOLS/bin/s3s-fs" --host 127.0.0.1 --port "$PORT" --access-key testing --secret-key testing "$WORK/s3" >"$WORK/s3s.log" 2>&1 &
    SRV=$!
    PIDS+=("$SRV")
    ENDPOINT="http://127.0.0.1:$PORT"
    for _ in $(seq 100); do curl -s -o /dev/null "$ENDPOINT" && break; sleep 0.1; done
    SERVED="s3s-fs 0.14.1"
  else
    start_standin dir --dir "$WORK/s3"
    SERVED="bench/s3-standin --dir"
  fi
  AWS=("$VENV/bin/aws" --endpoint-url "$ENDPOINT")
  MIRROR=("$BIN" --endpoint-url "$ENDPOINT" --metadata-path "s3://$BUCKET/$PREFIX" mirror --cache-dir "$WORK/cache")
  if [ -n "${CONCURRENCY:-}" ]; then MIRROR+=(--concurrency "$CONCURRENCY"); fi

  # RUNS rounds of: cold cs-cmdb, cold aws, no-op cs-cmdb, no-op aws (interleaved, so a change in
  # the machine's load falls on both).
  : >"$WORK/rounds"
  for run in $(seq "$RUNS"); do
    rm -rf "$WORK/cache" "$WORK/awscopy"
    record cold_m "$run" "${MIRROR[@]}"
    record cold_a "$run" "${AWS[@]}" s3 sync --quiet "s3://$BUCKET/$PREFIX" "$WORK/awscopy"
    record noop_m "$run" "${MIRROR[@]}"
    record noop_a "$run" "${AWS[@]}" s3 sync --quiet "s3://$BUCKET/$PREFIX" "$WORK/awscopy"
    echo "round $run of $RUNS done" >&2
  done
  # fig NAME COLUMN -> the median over the rounds (peak RSS: the largest)
  fig() {
    if [ "$2" = 3 ]; then
      awk -v n="$1" '$1 == n {print $3}' "$WORK/rounds" | sort -n | tail -1
    else
      awk -v n="$1" -v c="$2" '$1 == n {print $c}' "$WORK/rounds" | median
    fi
  }
  req() { grep "^$1_req " "$WORK/rounds" | cut -d' ' -f2-; }

  # The file system's floor: the same tree copied locally (a cold mirror creates as many files
  # and folders, about two folders per object in CloneSquad's layout).
  rm -rf "$WORK/floor"
  read -r floor _ < <(timed cp -r "$TREE" "$WORK/floor")
  ok "$floor"
  rm -rf "$WORK/floor"
  DIRS=$(find "$TREE" -type d | wc -l)

  DIR=$("${MIRROR[@]}" 2>/dev/null)
  if ! diff -r -q -x '.*' "$DIR" "$WORK/awscopy" >"$WORK/diff" 2>&1; then
    echo "the two copies differ:" >&2; head "$WORK/diff" >&2; exit 1
  fi

  echo "# bench/mirror.sh: $(date -u +%Y-%m-%d), $(nproc) cores, load average $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end; server: $SERVED on loopback; medians of $RUNS runs"
  printf "%-16s %11s %10s %10s %7s %12s %13s\n" "$COUNT objects" "cs-cmdb_s" "cs_peakMB" "aws_s3_s" "ratio" "srv_cpu_cs_s" "srv_cpu_aws_s"
  for p in cold noop; do
    label=$([ $p = cold ] && echo cold || echo "no-op re-sync")
    m=$(fig "${p}_m" 2) a=$(fig "${p}_a" 2)
    printf "%-16s %11.2f %10d %10.2f %6.1fx %12.2f %13.2f\n" "$label" "$m" $(($(fig "${p}_m" 3) / 1024)) "$a" \
      "$(echo "$a / $m" | bc -l)" "$(fig "${p}_m" 4)" "$(fig "${p}_a" 4)"
  done
  echo "(goals: cold >= 3x faster than aws s3 sync, no-op <= 1 s)"
  echo "floor: cp -r of the same tree ($COUNT files, $DIRS folders) took $floor s"
  if [ "$SERVER" = s3-standin ]; then
    echo "requests (first run): cold cs-cmdb: $(req cold_m); cold aws: $(req cold_a)"
    echo "                      no-op cs-cmdb: $(req noop_m); no-op aws: $(req noop_a)"
  fi
fi

# 2. A million keys from memory: cold, no-op, one changed; wall time, peak RSS, server CPU.
if [ "$MILLION_KEYS" -gt 0 ]; then
  if [ -n "${SRV:-}" ]; then kill "$SRV" 2>/dev/null || true; fi
  MB="bench-million"
  STATS=always
  LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
  start_standin million --synthetic "$MILLION_KEYS" --bucket "$MB" --prefix "$PREFIX"
  rm -rf "$WORK/mcache"
  MIRROR=("$BIN" --endpoint-url "$ENDPOINT" --metadata-path "s3://$MB/$PREFIX" mirror --cache-dir "$WORK/mcache")
  if [ -n "${CONCURRENCY:-}" ]; then MIRROR+=(--concurrency "$CONCURRENCY"); fi
  read -r c_s c_kb c_srv < <(phase "${MIRROR[@]}")
  ok "$c_srv"
  grep -o 'mirror .*' "$WORK/last.err" >&2 || true
  c_req=$(cat "$WORK/served")
  read -r n_s n_kb n_srv < <(phase "${MIRROR[@]}")
  ok "$n_srv"
  grep -o 'mirror .*' "$WORK/last.err" >&2 || true
  n_req=$(cat "$WORK/served")
  key="$PREFIX/metadata/instances/accountid=100000000000/region=eu-west-1/groupname=g0000000/100000000000-eu-west-1-instances-cs-g0000000.json"
  curl -s -o /dev/null "$ENDPOINT/_change?key=$key"
  read -r o_s o_kb o_srv < <(phase "${MIRROR[@]}")
  ok "$o_srv"
  grep -o 'mirror .*' "$WORK/last.err" >&2 || true
  o_req=$(cat "$WORK/served")
  echo
  echo "# $MILLION_KEYS keys served from memory by bench/s3-standin --synthetic; load average $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
  printf "%-22s %9s %9s %12s\n" run wall_s peak_MB server_cpu_s
  printf "%-22s %9.1f %9d %12.1f\n" "cold mirror" "$c_s" $((c_kb / 1024)) "$c_srv"
  printf "%-22s %9.1f %9d %12.1f\n" "no-op re-sync" "$n_s" $((n_kb / 1024)) "$n_srv"
  printf "%-22s %9.1f %9d %12.1f\n" "one object changed" "$o_s" $((o_kb / 1024)) "$o_srv"
  echo "(goal: list and diff $MILLION_KEYS keys in under 300 MB)"
  echo "requests: cold: $c_req; no-op: $n_req; one changed: $o_req"
fi
