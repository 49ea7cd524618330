#!/usr/bin/env bash
# Fan-out benchmark, on demand (not part of the test suite).
#
# `cs-cmdb export` over 1,000 and 5,000 targets (accounts × 2 regions) against a synthetic loopback
# AWS endpoint (tests/it/support/standin.rs: Organizations, STS, Lambda), every trigger answering
# after 200 ms; concurrency 50 beside the ideal (targets × latency ÷ concurrency: computed, not
# run; `wall/ideal` is wall time over it), then concurrency 1 on 1,000 targets as the measured
# baseline; the speed-up over it is printed only when the baseline ran on as many targets as a
# concurrency-50 row in the same run. Peak memory from GNU time.
#
#   bench/fanout.sh                              # the defaults above
#   CS_CMDB_BENCH_TARGETS=1000 CS_CMDB_BENCH_BASELINE_TARGETS=200 bench/fanout.sh
#
# Knobs: CS_CMDB_BENCH_TARGETS (comma list), CS_CMDB_BENCH_CONCURRENCY, CS_CMDB_BENCH_LATENCY_MS,
# CS_CMDB_BENCH_BASELINE_TARGETS (comma list; empty for none), CS_CMDB_BENCH_BIN (the binary to
# measure; default: the test profile's debug build, whose unoptimised AWS SDK costs ~10 ms of CPU per
# target: point it at a release build for production figures). Needs /usr/bin/time (GNU).
#
# What this script printed on 2026-11-26 on the 2-core machine, RELEASE build
# (CS_CMDB_BENCH_BIN=target/release/cs-cmdb CS_CMDB_BENCH_BASELINE_TARGETS=200); the column then
# named `ratio` is wall/ideal. The baseline ran on 200 targets, so no speed-up line was printed:
#   targets conc  wall s  ideal s  ratio  peak MB  cpu s
#      1000   50    4.37     4.00   1.09     34.3   1.53
#      5000   50   21.34    20.00   1.07     42.8   8.13
#       200    1   41.13    40.00   1.03     27.9   0.60
# Memory grows by ~2 KB per target (the rows kept for the output). The debug build is CPU-bound
# (~10 ms of CPU per target in the unoptimised SDK): measure a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo nextest run --run-ignored only bench_fanout --no-capture
