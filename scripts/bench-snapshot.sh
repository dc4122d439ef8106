#!/usr/bin/env bash
# A backfill from the fake DeepSource API: FINDINGS issues with OCCURRENCES occurrences, taken
# and applied by a release build of `backfill`, then synced to the fake GitHub at RATE writes/s.
#   scripts/bench-snapshot.sh [FINDINGS] [OCCURRENCES] [RATE]     (defaults: 2000 10000 80)
set -euo pipefail
cd "$(dirname "$0")/.."
SQLX_OFFLINE=true cargo build --release --quiet --bin deepsource-sync
SNAPSHOT_BENCH_FINDINGS=${1:-2000} SNAPSHOT_BENCH_OCCURRENCES=${2:-10000} SNAPSHOT_BENCH_RATE=${3:-80} \
  RUST_LOG=${RUST_LOG:-warn} cargo bench --quiet --bench snapshot
