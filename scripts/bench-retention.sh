#!/usr/bin/env bash
# How much the database grows per EVENTS events (default 10000), without and with retention.
#   scripts/bench-retention.sh [EVENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-postgres.sh
RETENTION_BENCH_EVENTS=${1:-10000} RUST_LOG=${RUST_LOG:-warn} cargo bench --quiet --bench retention
