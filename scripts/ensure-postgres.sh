#!/usr/bin/env bash
# Make sure the PostgreSQL server the tests use answers: 127.0.0.1:${PGPORT:-5432}, user
# postgres without a password, database `test` (the tests' default URL,
# postgresql+psycopg://postgres@127.0.0.1:5432/test).
#
# - RAGLINE_TEST_POSTGRES_URL set: the caller chose a server; nothing is done.
# - A server answers: only the `test` database is created if it is missing.
# - Nothing answers: PostgreSQL is installed with apt-get if it is missing, then a private
#   trust-auth cluster is created in ${RAGLINE_PG_DIR:-/tmp/ragline-postgres} and started.
set -euo pipefail

if [[ -n "${RAGLINE_TEST_POSTGRES_URL:-}" ]]; then
  exit 0
fi
host=127.0.0.1
port=${PGPORT:-5432}
data=${RAGLINE_PG_DIR:-/tmp/ragline-postgres}

say() { echo "ensure-postgres: $*" >&2; }

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

bindir() {
  if command -v pg_config >/dev/null 2>&1 && [[ -x "$(pg_config --bindir)/initdb" ]]; then
    pg_config --bindir
    return
  fi
  local newest
  newest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [[ -n "$newest" && -x "$newest/initdb" ]] && echo "$newest"
}

# Server commands refuse to run as root: run them as the postgres user then.
as_server_user() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

answering() { "$bin/pg_isready" -q -h "$host" -p "$port"; }

psql_test() { "$bin/psql" -w -h "$host" -p "$port" -U postgres "$@"; }

bin=$(bindir || true)
if [[ -z "$bin" ]]; then
  say "PostgreSQL is not installed; installing it with apt-get"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  bin=$(bindir)
  # Debian's package may start its own cluster on the port, with password auth: stop it.
  if command -v pg_lsclusters >/dev/null 2>&1; then
    pg_lsclusters --no-header | while read -r version name _; do
      as_root pg_ctlcluster --force "$version" "$name" stop 2>/dev/null || true
    done
  fi
fi

if ! answering; then
  say "no server on $host:$port; starting a private cluster in $data"
  if [[ ! -f "$data/PG_VERSION" ]]; then
    as_root mkdir -p "$data"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$data"
    as_server_user "$bin/initdb" -D "$data" -U postgres -A trust --no-sync >/dev/null
  fi
  as_server_user "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w start \
    -o "-h $host -p $port -k $data" >/dev/null
fi

if ! psql_test -d postgres -tAc 'select 1' >/dev/null 2>&1; then
  say "a server answers on $host:$port but refuses user postgres without a password;"
  say "set RAGLINE_TEST_POSTGRES_URL to a database the tests may use, or stop that server"
  exit 1
fi
if [[ -z "$(psql_test -d postgres -tAc "select 1 from pg_database where datname = 'test'")" ]]; then
  psql_test -d postgres -qc 'create database test'
fi
