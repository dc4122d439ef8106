#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers at 127.0.0.1:5432 for user postgres without a password:
# starts an installed cluster, or installs Debian's postgresql package when there is none.
# Meant for development and CI machines; it never touches a server that already answers.
set -euo pipefail

HOST=127.0.0.1
PORT=5432

answers() { psql "postgres://postgres@$HOST:$PORT/postgres" -qAtc 'SELECT 1' >/dev/null 2>&1; }

if command -v psql >/dev/null && answers; then
  exit 0
fi

installed_here=false
if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  echo "ensure-postgres: no PostgreSQL cluster found; installing Debian's postgresql" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
  installed_here=true
fi

version=$(ls /etc/postgresql | sort -V | tail -n 1)
if $installed_here; then
  # A fresh Debian cluster asks for passwords over TCP; local test clusters use trust, as CI's does.
  hba=/etc/postgresql/$version/main/pg_hba.conf
  sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
fi
echo "ensure-postgres: starting cluster $version/main" >&2
pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null \
  || pg_ctlcluster "$version" main start 2>/dev/null || true
$installed_here && pg_ctlcluster --skip-systemctl-redirect "$version" main reload 2>/dev/null || true

for _ in $(seq 60); do
  answers && exit 0
  sleep 0.5
done
echo "ensure-postgres: PostgreSQL does not answer at $HOST:$PORT as user postgres" >&2
exit 1
