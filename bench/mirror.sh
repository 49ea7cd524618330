#!/usr/bin/env bash
# Benchmark of `cs-cmdb mirror` against `aws s3 sync`, run on demand (never part of the tests).
#
#   bench/mirror.sh [OBJECTS]
#
# Starts the emulator (moto_server from the project venv) on a free loopback port, fills a bucket
# with OBJECTS (default 10,000) small objects in CloneSquad's layout (metadata and latest backups,
# from `cs-cmdb sample`), then times, in the same run:
#   1. a cold `cs-cmdb mirror` and a cold `aws s3 sync` of the same prefix;
#   2. a no-op re-run of each (nothing changed).
# Checks that both copies are identical and prints both times and the ratios.
# awscli is installed into the venv on first use. BENCH_PROFILE=debug uses the debug binary
# (default: release); BENCH_DIR keeps the work files; CONCURRENCY sets `mirror --concurrency`.
#
# What this script printed on 2026-11-26, release build, 2 cores, 10,000 objects (10.9 MiB):
#   cold: cs-cmdb 44.70 s, aws s3 sync 58.81 s (1.3x); no-op: 3.12 s against 8.24 s (2.6x).
# The emulator is the bottleneck: moto_server spent 40.5 s of CPU serving the 47.3 s cold mirror
# (cs-cmdb itself 9.0 s of CPU; read from the process table during that run, not printed here),
# so no client can be 3x faster than aws s3 sync here.
set -euo pipefail
cd "$(dirname "$0")/.."
OBJECTS="${1:-10000}"
VENV="${CS_CMDB_VENV:-.venv}"
PROFILE="${BENCH_PROFILE:-release}"
WORK="${BENCH_DIR:-$(mktemp -d)}"
BUCKET="cs-cmdb-bench"
PREFIX="clonesquad"

if ! "$VENV/bin/aws" --version >/dev/null 2>&1; then
  echo "installing awscli into $VENV" >&2
  "$VENV/bin/pip" install --quiet --disable-pip-version-check awscli
fi
if [ "$PROFILE" = release ]; then
  cargo build --release --quiet
else
  cargo build --quiet
fi
BIN="${CARGO_TARGET_DIR:-target}/$PROFILE/cs-cmdb"

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 \
  AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL

PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1 &
MOTO_PID=$!
trap 'kill "$MOTO_PID" 2>/dev/null || true' EXIT
ENDPOINT="http://127.0.0.1:$PORT"
for _ in $(seq 100); do
  curl -s -o /dev/null "$ENDPOINT/moto-api/" && break
  sleep 0.1
done
AWS=("$VENV/bin/aws" --endpoint-url "$ENDPOINT")

# A tree of exactly OBJECTS files: metadata and latest backups (archives are not mirrored).
if [ ! -d "$WORK/tree" ]; then
  "$BIN" sample --out "$WORK/gen" --deployments $(( OBJECTS / 6 + 1 )) --instances 2 --seed 42 2>/dev/null
  find "$WORK/gen" -path '*/archive/*' -delete
  mkdir -p "$WORK/tree"
  (cd "$WORK/gen" && find . -type f | sort | sed -n "1,${OBJECTS}p" | xargs -d "\n" cp --parents -t "$WORK/tree")
fi
COUNT=$(find "$WORK/tree" -type f | wc -l)
echo "uploading $COUNT objects ($(du -sh "$WORK/tree" | cut -f1)) to the emulator..." >&2
"${AWS[@]}" s3 mb "s3://$BUCKET" >/dev/null
"${AWS[@]}" s3 sync --quiet "$WORK/tree" "s3://$BUCKET/$PREFIX"

secs() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>"$WORK/last.err" || { cat "$WORK/last.err" >&2; exit 2; }; e=$(date +%s.%N); echo "$e - $s" | bc; }

rm -rf "$WORK/cache" "$WORK/awscopy"
MIRROR=("$BIN" --endpoint-url "$ENDPOINT" --metadata-path "s3://$BUCKET/$PREFIX" mirror --cache-dir "$WORK/cache")
if [ -n "${CONCURRENCY:-}" ]; then MIRROR+=(--concurrency "$CONCURRENCY"); fi
cold_mirror=$(secs "${MIRROR[@]}")
cat "$WORK/last.err" >&2
cold_aws=$(secs "${AWS[@]}" s3 sync --quiet "s3://$BUCKET/$PREFIX" "$WORK/awscopy")
noop_mirror=$(secs "${MIRROR[@]}")
cat "$WORK/last.err" >&2
noop_aws=$(secs "${AWS[@]}" s3 sync --quiet "s3://$BUCKET/$PREFIX" "$WORK/awscopy")

DIR=$("${MIRROR[@]}" 2>/dev/null)
if ! diff -r -q -x '.*' "$DIR" "$WORK/awscopy" >"$WORK/diff" 2>&1; then
  echo "the two copies differ:" >&2; head "$WORK/diff" >&2; exit 1
fi

printf "%-22s %12s %12s %8s\n" "$COUNT objects" "cs-cmdb (s)" "aws s3 (s)" "ratio"
printf "%-22s %12.2f %12.2f %7.1fx\n" "cold" "$cold_mirror" "$cold_aws" "$(echo "$cold_aws / $cold_mirror" | bc -l)"
printf "%-22s %12.2f %12.2f %7.1fx\n" "no-op re-sync" "$noop_mirror" "$noop_aws" "$(echo "$noop_aws / $noop_mirror" | bc -l)"
echo "($PROFILE binary; goals: cold >= 3x faster than aws s3 sync, no-op <= 1 s)"
