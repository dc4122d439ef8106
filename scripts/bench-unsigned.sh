#!/usr/bin/env bash
# What clients that cannot sign cost the service: its resident memory while 150 of them hold
# connections open, what they are answered, and how long SIGTERM takes with them attached.
#
#   scripts/bench-unsigned.sh [BINARY]      (default: a release build of this checkout)
#
# BINARY lets the same phases run against another build (e.g. an older release) for a
# before/after comparison. Needs the local Postgres (scripts/ensure-postgres.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

SERVER=${BENCH_DATABASE_SERVER_URL:-postgres://postgres@127.0.0.1:5432}
DB=dss_bench_unsigned
PORT=${BENCH_PORT:-18081}
SECRET=bench-secret-0123456789abcdef
N=${BENCH_CONNECTIONS:-150}

SQLX_OFFLINE=true cargo build --release --quiet --bin deepsource-sync --bin stalled_clients
BINARY=${1:-./target/release/deepsource-sync}
psql "$SERVER/postgres" -qAt -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"

start() {
  DATABASE_URL="$SERVER/$DB" DEEPSOURCE_WEBHOOK_SECRETS=$SECRET BIND_ADDR=127.0.0.1:$PORT RUST_LOG=error \
    "$BINARY" serve --no-worker &
  SERVICE=$!
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && return
    sleep 0.1
  done
  echo "the service did not start" >&2
  exit 1
}
stop() { kill "$SERVICE" 2>/dev/null || true; wait "$SERVICE" 2>/dev/null || true; }
trap stop EXIT
clients() { ./target/release/stalled_clients --addr "127.0.0.1:$PORT" --connections "$N" --pid "$SERVICE" "$@"; }

start
echo "== $N clients post 1 MiB bodies without a signature"
clients --declared 1048576 --hold-secs 5
echo "== $N clients post 1 MiB bodies with a forged signature, holding back the last byte"
clients --declared 1048576 --send 1048575 --forged --hold-secs 5
echo "== $N clients declare 1,000 bytes and send 10 (forged signature), held up to 15 s"
clients --declared 1000 --send 10 --forged --hold-secs 15
echo "peak resident memory of the service: $(awk '/VmHWM/ {print $2, $3}' /proc/$SERVICE/status)"

echo "== SIGTERM with $N stalled clients attached"
clients --declared 1000 --send 10 --forged --hold-secs 60 >/dev/null &
HOLDERS=$!
sleep 1
began=$(date +%s.%N)
kill -TERM "$SERVICE"
wait "$SERVICE" 2>/dev/null || true
awk -v a="$began" -v b="$(date +%s.%N)" 'BEGIN { printf "exit after SIGTERM: %.1f s\n", b - a }'
kill "$HOLDERS" 2>/dev/null || true
wait "$HOLDERS" 2>/dev/null || true
psql "$SERVER/postgres" -qAt -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
