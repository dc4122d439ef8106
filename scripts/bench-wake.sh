#!/usr/bin/env bash
# Waking the worker, two builds side by side: the time from an event to its first GitHub write
# on an idle service (benches/wake_latency.rs), then what idle services cost Postgres
# (scripts/bench-idle.sh).
#
#   scripts/bench-wake.sh [BASELINE_REV] [NEW_REV]    (defaults: 3088c27, the working tree)
#
# A rev is built (release) in a git worktree under BENCH_WORK_DIR (default target/bench-wake), with
# a target directory of its own there (BASELINE_TARGET / NEW_TARGET override them, to reuse a
# build); the working tree builds into ./target, as the other benchmarks do. Builds run one after
# another (two cores). WAKE_BENCH_EVENTS (200), WAKE_BENCH_JITTER_MS (500), IDLE_SECS (600) and
# REPLICAS ("1 3") are passed on. Needs the local Postgres.
set -euo pipefail
cd "$(dirname "$0")/.."
BASELINE_REV=${1:-3088c27}
NEW_REV=${2:-}
WORK=${BENCH_WORK_DIR:-$PWD/target/bench-wake}
BASELINE_TARGET=${BASELINE_TARGET:-$WORK/baseline-target}
NEW_TARGET=${NEW_TARGET:-$WORK/new-target}
mkdir -p "$WORK"

WORKTREES=()
cleanup() {
  for wt in "${WORKTREES[@]}"; do git worktree remove --force "$wt" || true; done
}
trap cleanup EXIT

# build_rev REV DIR TARGET: the release binary of REV, built in a worktree at DIR.
build_rev() {
  git worktree remove --force "$2" 2>/dev/null || true # left by an interrupted run
  git worktree add --detach --quiet "$2" "$1"
  WORKTREES+=("$2")
  (cd "$2" && SQLX_OFFLINE=true CARGO_TARGET_DIR=$3 cargo build --release --quiet --bin deepsource-sync)
}

echo "== building the baseline ($BASELINE_REV)"
build_rev "$BASELINE_REV" "$WORK/baseline-src" "$BASELINE_TARGET"
BASELINE=$BASELINE_TARGET/release/deepsource-sync
if [ -n "$NEW_REV" ]; then
  echo "== building the new build ($NEW_REV)"
  build_rev "$NEW_REV" "$WORK/new-src" "$NEW_TARGET"
  NEW=$NEW_TARGET/release/deepsource-sync
else
  echo "== building the new build (the working tree)"
  SQLX_OFFLINE=true cargo build --release --quiet --bin deepsource-sync
  NEW=${CARGO_TARGET_DIR:-target}/release/deepsource-sync
fi

echo "== event -> first GitHub write"
WAKE_BENCH_BINS="baseline=$BASELINE,new=$NEW" cargo bench --quiet --bench wake_latency
echo "== idle cost"
scripts/bench-idle.sh "baseline=$BASELINE" "new=$NEW"
