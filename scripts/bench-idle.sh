#!/usr/bin/env bash
# What an idle service costs Postgres: transactions per minute per replica (xact_commit +
# xact_rollback of its database in pg_stat_database), for each build given, with REPLICAS
# replicas on one database, alone and with the DeepSource reconciler enabled (a token and an
# API URL nobody answers; with no repositories it calls nothing). GitHub is configured but
# unused (nothing to sync), so only the service's own polling is counted.
#
#   scripts/bench-idle.sh LABEL=/path/to/deepsource-sync [LABEL=/path ...]
#   IDLE_SECS (default 600), REPLICAS (default "1 3"), BENCH_PORT (first port, default 18200)
#
# Every phase (build × variant × replica count) runs at once on a database of its own, so they
# share the idle time. Needs the local Postgres (scripts/ensure-postgres.sh) and psql.
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -gt 0 ] || { sed -n 2,11p "$0" >&2; exit 2; }
for arg in "$@"; do
  [ -x "${arg#*=}" ] || { echo "${arg#*=} is not an executable (from $arg)" >&2; exit 2; }
done
IDLE_SECS=${IDLE_SECS:-600}
REPLICAS=${REPLICAS:-1 3}
PORT=${BENCH_PORT:-18200}
SERVER=${BENCH_DATABASE_SERVER_URL:-postgres://postgres@127.0.0.1:5432}
SECRET=bench-secret-0123456789abcdef
# Read from the maintenance database, so the readings are not counted in what they read.
PSQL=(env PGOPTIONS="-c client_min_messages=warning" psql "$SERVER/postgres" -v ON_ERROR_STOP=1 -qAt)
LOGS=$(mktemp -d /tmp/bench-idle.XXXXXX)

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# A port nothing answers on, for the GitHub and DeepSource URLs: a call would fail at once.
DEAD=1
listening $DEAD && { echo "port $DEAD answers; it should not" >&2; exit 1; }

PIDS=()
DBS=()
KEEP_LOGS= # set when a process died, so its log can be read
cleanup() {
  local status=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  for db in "${DBS[@]}"; do "${PSQL[@]}" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true; done
  if [ "$status" -eq 0 ] && [ -z "$KEEP_LOGS" ]; then rm -rf "$LOGS"; else echo "logs: $LOGS" >&2; fi
}
trap cleanup EXIT

# start BIN DB VARIANT: one replica on the next free port; waits until it is ready, so replicas
# of one database do not race to create and migrate it.
start() {
  local bin=$1 db=$2 variant=$3 extra=()
  while listening "$PORT"; do PORT=$((PORT + 1)); done
  [ "$variant" = reconciler ] &&
    extra=(DEEPSOURCE_API_TOKEN=x "DEEPSOURCE_API_URL=http://127.0.0.1:$DEAD/graphql/")
  # Only these variables, run from /tmp (no .env): the caller's shell cannot change a build.
  (cd /tmp && exec env -i PATH="$PATH" DATABASE_URL="$SERVER/$db" \
    DEEPSOURCE_WEBHOOK_SECRETS=$SECRET BIND_ADDR="127.0.0.1:$PORT" RUST_LOG=warn \
    GITHUB_TOKEN=ghp_idle GITHUB_API_URL="http://127.0.0.1:$DEAD" "${extra[@]}" \
    "$bin" serve) >"$LOGS/$db.$PORT.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 600); do
    curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && { PORT=$((PORT + 1)); return; }
    kill -0 $! 2>/dev/null || break
    sleep 0.1
  done
  echo "$db on port $PORT did not get ready; its log:" >&2
  cat "$LOGS/$db.$PORT.log" >&2
  exit 1
}

PHASES=() # "db label variant replicas"
for arg in "$@"; do
  label=${arg%%=*} bin=${arg#*=}
  for variant in plain reconciler; do
    for r in $REPLICAS; do
      db=dss_bench_idle_$(echo "${label}_${variant}_$r" | tr -c 'a-zA-Z0-9_\n' _ | tr A-Z a-z)
      "${PSQL[@]}" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
      DBS+=("$db")
      for _ in $(seq "$r"); do start "$bin" "$db" "$variant"; done
      PHASES+=("$db $label $variant $r")
    done
  done
done

# pg_stat_statements would say which statements; it needs shared_preload_libraries.
"${PSQL[@]}" -c "SHOW shared_preload_libraries" | grep -q pg_stat_statements ||
  echo "(pg_stat_statements is not preloaded: counting transactions only)"

# Backends flush their counts at most once a second (an idle one within 10 s), so each reading
# lags by about the same; the difference over the idle time is what counts. Every database is
# read in one statement, at one instant; a fresh session has no cached stats snapshot.
read_counts() {
  "${PSQL[@]}" -F ' ' -c "SELECT pg_stat_clear_snapshot();
    SELECT datname, xact_commit + xact_rollback FROM pg_stat_database WHERE datname LIKE 'dss_bench_idle_%'"
}
sleep 5 # past start-up (migrations, first passes)
before=$(read_counts)
t0=$(date +%s.%N)
echo "== ${#PHASES[@]} phases ready; idle for $IDLE_SECS s"
sleep "$IDLE_SECS"
after=$(read_counts)
t1=$(date +%s.%N)
alive=0
for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=$((alive + 1)); done
[ "$alive" -eq "${#PIDS[@]}" ] || { echo "WARNING: only $alive of ${#PIDS[@]} processes still run" >&2; KEEP_LOGS=1; }

printf '%-16s %-11s %8s %12s %22s\n' build variant replicas transactions "per minute per replica"
for phase in "${PHASES[@]}"; do
  read -r db label variant r <<<"$phase"
  b=$(awk -v d="$db" '$1 == d {print $2}' <<<"$before")
  a=$(awk -v d="$db" '$1 == d {print $2}' <<<"$after")
  awk -v l="$label" -v v="$variant" -v r="$r" -v n=$((a - b)) -v t0="$t0" -v t1="$t1" \
    'BEGIN { printf "%-16s %-11s %8d %12d %22.1f\n", l, v, r, n, n / ((t1 - t0) / 60) / r }'
done
