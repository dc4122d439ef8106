#!/usr/bin/env bash
# The run command: a reachable Postgres, then the service (a release build) receiving webhooks
# and running the sync worker. Extra arguments go to `deepsource-sync serve` (e.g. --no-worker).
# Settings come from the environment and from .env, which the binary reads (the environment
# wins); DEEPSOURCE_WEBHOOK_SECRETS at least must be set in one of them.
set -euo pipefail
cd "$(dirname "$0")/.."

# Only a local server is started or installed: a DATABASE_URL naming another host is left to
# whoever runs that host.
url=${DATABASE_URL:-}
if [[ -z $url && -f .env ]]; then
  url=$(sed -n -E 's/^[[:space:]]*DATABASE_URL=//p' .env | tail -n 1 | tr -d "\"'")
fi
url=${url:-postgres://postgres@127.0.0.1:5432/deepsource_sync}
if [[ $url =~ ^postgres(ql)?://([^@/]*@)?(127\.0\.0\.1|localhost)(:5432)?(/|$) ]]; then
  scripts/ensure-postgres.sh
else
  echo "run: DATABASE_URL names another server; not starting a local PostgreSQL" >&2
fi

exec cargo run --release --bin deepsource-sync -- serve "$@"
