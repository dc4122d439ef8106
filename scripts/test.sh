#!/usr/bin/env bash
# The test command: a reachable Postgres and a browser for the status page's test, then the
# whole suite (unit and API tests).
# Each API test creates a database of its own (dss_test_*) and drops it when it ends; any left by
# a run that was killed outright are dropped first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-postgres.sh
scripts/ensure-browser.sh
server=${TEST_DATABASE_SERVER_URL:-postgres://postgres@127.0.0.1:5432}
# Only databases nobody is connected to: another run (another checkout, a helper, an IDE) may be
# using the same server, and its tests' databases are not ours to drop.
psql "$server/postgres" -qAt -c "SELECT datname FROM pg_database d WHERE datname LIKE 'dss\_test\_%'
    AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)" |
  while read -r db; do psql "$server/postgres" -q -c "DROP DATABASE IF EXISTS \"$db\"" 2>/dev/null || true; done
# API tests clone their database from a migrated template named after the migrations (as
# tests/api/test_database.rs computes it); templates of other migrations are stale.
template="dss_template_$(export LC_ALL=C; for f in migrations/V*.sql; do basename "$f"; cat "$f"; done |
  sha256sum | cut -c1-16)"
psql "$server/postgres" -qAt \
  -c "SELECT datname FROM pg_database WHERE datname LIKE 'dss\_template\_%' AND datname <> '$template'" |
  while read -r db; do psql "$server/postgres" -q -c "DROP DATABASE IF EXISTS \"$db\"" 2>/dev/null || true; done
cargo test "$@"
