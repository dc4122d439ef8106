#!/usr/bin/env bash
# The sync worker against the fake GitHub: N findings, limits scaled to RATE writes per second.
#   scripts/bench-sync.sh [FINDINGS] [RATE]        (defaults: 400 80)
set -euo pipefail
cd "$(dirname "$0")/.."
SYNC_BENCH_FINDINGS=${1:-400} SYNC_BENCH_RATE=${2:-80} RUST_LOG=${RUST_LOG:-warn} \
  cargo bench --quiet --bench sync_pacing
