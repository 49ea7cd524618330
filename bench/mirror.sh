#!/usr/bin/env bash
# Benchmark of `cs-cmdb mirror`, run on demand (never part of the tests).
#
#   bench/mirror.sh [OBJECTS]          # default 10,000
#
# 1. Against s3s-fs (a Rust S3 server over a folder, installed into BENCH_TOOLS on first use,
#    never into the repo), serving a generated bucket of OBJECTS objects in CloneSquad's layout
#    (metadata and latest backups, from `cs-cmdb sample`): a cold `cs-cmdb mirror` and a cold
#    `aws s3 sync` (awscli, installed into the project venv) of the same prefix, then a no-op
#    re-run of each, in the same run; both copies must be identical. Prints both times, the
#    ratios, cs-cmdb's peak RSS, and the CPU the server spent in each phase (to show it is not
#    the bottleneck).
# 2. With MILLION_KEYS (default 1,000,000; 0 skips it): a bucket of that many keys served from
#    memory by bench/fake_s3.py (s3s-fs scans the whole bucket for every listing page, so a
#    million keys would take it hours), mirrored cold, then re-synced with nothing changed and
#    with one object changed: wall time and peak RSS of each (the list and diff of every key).
#
# Knobs: BENCH_DIR (keeps the work files), BENCH_TOOLS (default ~/.cache/cs-cmdb/bench-tools),
# CS_CMDB_VENV (default .venv), CS_CMDB_BENCH_BIN (default: a release build of this checkout),
# CONCURRENCY (`mirror --concurrency`). Needs GNU time (/usr/bin/time), bc, curl.
set -euo pipefail
cd "$(dirname "$0")/.."
OBJECTS="${1:-10000}"
MILLION_KEYS="${MILLION_KEYS:-1000000}"
VENV="${CS_CMDB_VENV:-.venv}"
WORK="${BENCH_DIR:-$(mktemp -d)}"
TOOLS="${BENCH_TOOLS:-$HOME/.cache/cs-cmdb/bench-tools}"
BUCKET="cs-cmdb-bench"
PREFIX="clonesquad"
mkdir -p "$WORK"

if ! "$VENV/bin/aws" --version >/dev/null 2>&1; then
  echo "installing awscli into $VENV" >&2
  "$VENV/bin/pip" install --quiet --disable-pip-version-check awscli
fi
if [ ! -x "$TOOLS/bin/s3s-fs" ]; then
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
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
# CPU seconds (user + system) a process has used so far.
cpu_of() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat"; }
# timed CMD... -> "seconds peak_kb" (output to $WORK/last.err; a failure stops the bench)
timed() {
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >/dev/null 2>"$WORK/last.err" || { cat "$WORK/last.err" >&2; exit 2; }
  cat "$WORK/time"
}

# 1. OBJECTS objects on s3s-fs: the bucket is a folder, the generated tree is its prefix.
TREE="$WORK/s3/$BUCKET/$PREFIX"
if [ ! -d "$TREE" ]; then
  "$BIN" sample --out "$WORK/gen" --deployments $(( OBJECTS / 7 + 1 )) --instances 2 --seed 42 2>/dev/null
  find "$WORK/gen" -path '*/archive/*' -delete
  mkdir -p "$TREE"
  (cd "$WORK/gen" && find . -type f | sort | sed -n "1,${OBJECTS}p" | xargs -d "\n" cp --parents -t "$TREE")
  rm -rf "$WORK/gen"
fi
COUNT=$(find "$TREE" -type f | wc -l)
PORT=$(free_port)
"$TOOLS/bin/s3s-fs" --host 127.0.0.1 --port "$PORT" --access-key testing --secret-key testing "$WORK/s3" >"$WORK/s3s.log" 2>&1 &
S3S=$!
PIDS+=("$S3S")
ENDPOINT="http://127.0.0.1:$PORT"
for _ in $(seq 100); do curl -s -o /dev/null "$ENDPOINT" && break; sleep 0.1; done
AWS=("$VENV/bin/aws" --endpoint-url "$ENDPOINT")

rm -rf "$WORK/cache" "$WORK/awscopy"
MIRROR=("$BIN" --endpoint-url "$ENDPOINT" --metadata-path "s3://$BUCKET/$PREFIX" mirror --cache-dir "$WORK/cache")
if [ -n "${CONCURRENCY:-}" ]; then MIRROR+=(--concurrency "$CONCURRENCY"); fi
phase() { # phase NAME CMD... -> "seconds peak_kb server_cpu_s"
  local before after out
  before=$(cpu_of "$S3S")
  out=$(timed "$@")
  after=$(cpu_of "$S3S")
  echo "$out $(echo "$after - $before" | bc)"
}
read -r cold_m cold_m_kb cold_m_srv < <(phase "${MIRROR[@]}")
grep -o 'mirror .*' "$WORK/last.err" >&2 || true
read -r cold_a _ cold_a_srv < <(phase "${AWS[@]}" s3 sync --quiet "s3://$BUCKET/$PREFIX" "$WORK/awscopy")
read -r noop_m noop_m_kb noop_m_srv < <(phase "${MIRROR[@]}")
grep -o 'mirror .*' "$WORK/last.err" >&2 || true
read -r noop_a _ noop_a_srv < <(phase "${AWS[@]}" s3 sync --quiet "s3://$BUCKET/$PREFIX" "$WORK/awscopy")

DIR=$("${MIRROR[@]}" 2>/dev/null)
if ! diff -r -q -x '.*' "$DIR" "$WORK/awscopy" >"$WORK/diff" 2>&1; then
  echo "the two copies differ:" >&2; head "$WORK/diff" >&2; exit 1
fi

echo "# bench/mirror.sh: $(date -u +%Y-%m-%d), $(nproc) cores, $BIN; server: s3s-fs 0.14.1 on loopback"
printf "%-16s %11s %10s %10s %7s %12s %11s\n" "$COUNT objects" "cs-cmdb_s" "cs_peakMB" "aws_s3_s" "ratio" "srv_cpu_cs_s" "srv_cpu_aws_s"
printf "%-16s %11.2f %10d %10.2f %6.1fx %12.2f %11.2f\n" cold "$cold_m" $((cold_m_kb / 1024)) "$cold_a" \
  "$(echo "$cold_a / $cold_m" | bc -l)" "$cold_m_srv" "$cold_a_srv"
printf "%-16s %11.2f %10d %10.2f %6.1fx %12.2f %11.2f\n" "no-op re-sync" "$noop_m" $((noop_m_kb / 1024)) "$noop_a" \
  "$(echo "$noop_a / $noop_m" | bc -l)" "$noop_m_srv" "$noop_a_srv"
echo "(goals: cold >= 3x faster than aws s3 sync, no-op <= 1 s)"

# 2. A million keys from memory: cold, no-op, one changed; wall time and peak RSS.
if [ "$MILLION_KEYS" -gt 0 ]; then
  MB="bench-million"
  python3 bench/fake_s3.py "$MILLION_KEYS" "$MB" "$PREFIX" >"$WORK/fake_s3.port" 2>"$WORK/fake_s3.log" &
  FAKE=$!
  PIDS+=("$FAKE")
  for _ in $(seq 600); do [ -s "$WORK/fake_s3.port" ] && break; sleep 0.1; done
  FEND="http://127.0.0.1:$(cat "$WORK/fake_s3.port")"
  rm -rf "$WORK/mcache"
  M=("$BIN" --endpoint-url "$FEND" --metadata-path "s3://$MB/$PREFIX" mirror --cache-dir "$WORK/mcache")
  fphase() { local before out; before=$(cpu_of "$FAKE"); out=$(timed "$@"); echo "$out $(echo "$(cpu_of "$FAKE") - $before" | bc)"; }
  read -r c_s c_kb c_srv < <(fphase "${M[@]}")
  grep -o 'mirror .*' "$WORK/last.err" >&2 || true
  read -r n_s n_kb n_srv < <(fphase "${M[@]}")
  grep -o 'mirror .*' "$WORK/last.err" >&2 || true
  key="$PREFIX/metadata/instances/accountid=100000000000/region=eu-west-1/groupname=g0000000/100000000000-eu-west-1-instances-cs-g0000000.json"
  curl -s -o /dev/null "$FEND/_change?key=$key"
  read -r o_s o_kb o_srv < <(fphase "${M[@]}")
  grep -o 'mirror .*' "$WORK/last.err" >&2 || true
  echo
  echo "# $MILLION_KEYS keys served from memory by bench/fake_s3.py (one Python process)"
  printf "%-22s %9s %9s %12s\n" run wall_s peak_MB server_cpu_s
  printf "%-22s %9.1f %9d %12.1f\n" "cold mirror" "$c_s" $((c_kb / 1024)) "$c_srv"
  printf "%-22s %9.1f %9d %12.1f\n" "no-op re-sync" "$n_s" $((n_kb / 1024)) "$n_srv"
  printf "%-22s %9.1f %9d %12.1f\n" "one object changed" "$o_s" $((o_kb / 1024)) "$o_srv"
  echo "(goal: list and diff $MILLION_KEYS keys in under 300 MB)"
fi
