#!/usr/bin/env bash
# The test command: a reachable Postgres, then the whole suite (unit and API tests).
# Each API test creates a database of its own (dss_test_*) and drops it when it ends; any left by
# a run that was killed outright are dropped first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-postgres.sh
server=${TEST_DATABASE_SERVER_URL:-postgres://postgres@127.0.0.1:5432}
psql "$server/postgres" -qAt -c "SELECT datname FROM pg_database WHERE datname LIKE 'dss\_test\_%'" |
  while read -r db; do psql "$server/postgres" -q -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)"; done
cargo test "$@"
