#!/usr/bin/env bash
# Measures sustained ingest against the same Postgres server as a pgbench baseline that inserts
# the same payload (as jsonb, one INSERT ... ON CONFLICT DO NOTHING per event, autocommit).
# Prints both rates and their ratio, then the latency at a fixed 1,000 events/s and peak memory.
# The service runs with --no-worker: this measures intake alone.
#
#   scripts/bench-ingest.sh [EVENTS] [CONCURRENCY]      (defaults: 100000 32)
#
# Needs the local Postgres (scripts/ensure-postgres.sh) and pgbench (postgresql-client).
set -euo pipefail
cd "$(dirname "$0")/.."

EVENTS=${1:-100000}
CONCURRENCY=${2:-32}
SERVER=${BENCH_DATABASE_SERVER_URL:-postgres://postgres@127.0.0.1:5432}
DB=dss_bench
PORT=${BENCH_PORT:-18080}
SECRET=bench-secret-0123456789abcdef
PSQL=(psql "$SERVER/postgres" -v ON_ERROR_STOP=1 -qAt)

SQLX_OFFLINE=true cargo build --release --quiet --bin deepsource-sync --bin loadgen

if curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then
  echo "something already answers on port $PORT; stop it or set BENCH_PORT" >&2
  exit 1
fi
"${PSQL[@]}" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
DATABASE_URL="$SERVER/$DB" DEEPSOURCE_WEBHOOK_SECRETS=$SECRET BIND_ADDR=127.0.0.1:$PORT RUST_LOG=warn \
  ./target/release/deepsource-sync serve --no-worker &
SERVICE=$!
trap 'kill $SERVICE 2>/dev/null || true; wait $SERVICE 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && break
  sleep 0.1
done
kill -0 $SERVICE 2>/dev/null || { echo "the service did not start" >&2; exit 1; }

loadgen() { ./target/release/loadgen --url "http://127.0.0.1:$PORT/webhooks" --secret "$SECRET" "$@"; }
count() { psql "$SERVER/$DB" -qAt -c "SELECT count(*) FROM webhook_events"; }
# Each phase starts from a fresh checkpoint, so none of them pays for another's dirty pages.
checkpoint() { psql "$SERVER/$DB" -qAt -c "CHECKPOINT"; }

echo "== warm-up"
loadgen --events 2000 --concurrency "$CONCURRENCY" --id-prefix warm >/dev/null
checkpoint
echo "== deepsource-sync: fixed rate 1000 events/s for 10 s"
loadgen --events 10000 --rate 1000 --concurrency 64 --id-prefix rate | grep -v '^RESULT'

checkpoint
before=$(count)
echo "== deepsource-sync: $EVENTS events, $CONCURRENCY connections"
out=$(loadgen --events "$EVENTS" --concurrency "$CONCURRENCY" --id-prefix run)
echo "$out" | grep -v '^RESULT'
service_rate=$(echo "$out" | sed -n 's/^RESULT events_per_sec=\([0-9]*\).*/\1/p')
added=$(( $(count) - before ))
echo "rows added to webhook_events: $added (expected $EVENTS)"
[ "$added" -eq "$EVENTS" ] || { echo "MISMATCH: the service answered for rows it did not add" >&2; exit 1; }

echo "== pgbench baseline: the same payload sent as a jsonb parameter, one INSERT per event, $CONCURRENCY clients"
psql "$SERVER/$DB" -v ON_ERROR_STOP=1 -q <<'SQL'
DROP TABLE IF EXISTS bench_events;
DROP SEQUENCE IF EXISTS bench_ids;
CREATE TABLE bench_events (id text PRIMARY KEY, payload jsonb NOT NULL);
CREATE SEQUENCE bench_ids;
SQL
checkpoint
script=$(mktemp)
# In prepared mode pgbench binds :payload as a parameter, so the body travels with every insert,
# as it would from a service that commits once per request.
echo "INSERT INTO bench_events VALUES (nextval('bench_ids')::text, :payload::jsonb) ON CONFLICT DO NOTHING;" > "$script"
pg_out=$(pgbench -n -M prepared -c "$CONCURRENCY" -j 2 -t $(( EVENTS / CONCURRENCY )) \
  -D payload="$(tr -d '\n' < tests/fixtures/deepsource/repository_issue_introduced.json)" \
  -f "$script" "$SERVER/$DB" 2>&1)
rm -f "$script"
echo "$pg_out" | grep -E 'latency average|tps'
pg_rate=$(echo "$pg_out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1)
pg_rows=$(psql "$SERVER/$DB" -qAt -c "SELECT count(*) FROM bench_events")
echo "rows added to bench_events: $pg_rows"

echo "== summary"
echo "peak resident memory of the service: $(awk '/VmHWM/ {print $2, $3}' /proc/$SERVICE/status)"
echo "deepsource-sync: $service_rate events/s"
echo "pgbench:         ${pg_rate%.*} inserts/s"
awk -v a="$service_rate" -v b="$pg_rate" 'BEGIN { printf "ratio:           %.2fx\n", a / b }'
