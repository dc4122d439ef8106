#!/usr/bin/env bash
# The overview issue: how soon a repository of FINDINGS open findings is visible in GitHub (with
# FINDING_ISSUES=none under GitHub's real limits, and with CRITICAL,MAJOR under limits scaled to
# RATE writes a second), and the overview's writes for a burst of EVENTS events across
# BURST_FINDINGS findings.
#   scripts/bench-overview.sh [FINDINGS] [RATE] [EVENTS] [BURST_FINDINGS]   (2000 80 500 100)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-postgres.sh
OVERVIEW_BENCH_FINDINGS=${1:-2000} OVERVIEW_BENCH_RATE=${2:-80} OVERVIEW_BENCH_EVENTS=${3:-500} \
  OVERVIEW_BENCH_BURST_FINDINGS=${4:-100} RUST_LOG=${RUST_LOG:-warn} \
  SQLX_OFFLINE=true cargo bench --quiet --bench overview
