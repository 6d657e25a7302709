#!/usr/bin/env bash
# A private, throwaway PostgreSQL for development and tests, in .local/postgres (git-ignored), or
# as root in /var/tmp/todo-auth-lambda-<checkout id>/postgres (see below).
#   scripts/local-db.sh start   # init if needed, start, create the database, print DATABASE_URL
#   scripts/local-db.sh fresh NAME   # start, then a new empty database NAME; print its URL
#   scripts/local-db.sh app-url URL  # the same database as the functions' role, todo_fn
#   scripts/local-db.sh stop
# The cluster's superuser `postgres` owns the schema and runs migrations; the functions log in as
# `todo_fn`, a member of `todo_app` (the role migrations grant to), which owns nothing and is
# subject to row-level security, as in production.
# PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# This checkout's own number (from its path): its port and, as root, its directory, so two
# checkouts on one machine never collide.
checkout=$(printf '%s' "$root" | cksum | cut -d' ' -f1)
dir="$root/.local/postgres"
if [ "$(id -u)" = 0 ]; then
  # As root the cluster belongs to the `postgres` user, which cannot reach into a checkout under a
  # directory only root may enter (a clone in /root, a `mktemp -d`): it lives outside the checkout.
  dir="/var/tmp/todo-auth-lambda-$checkout/postgres"
fi
port="${LOCAL_PG_PORT:-$((54000 + checkout % 900))}"
db="${LOCAL_PG_DATABASE:-todo}"

find_bin() {
  command -v "$1" 2>/dev/null && return
  ls /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -n 1
}

as_owner() {
  # From /, which the `postgres` user can enter, whatever directory root is in.
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

ensure_server() {
  if [ -z "$(find_bin initdb)" ]; then
    echo "local-db: installing the PostgreSQL server (Debian package postgresql)" >&2
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
    else sudo apt-get update -qq && sudo apt-get install -y -qq postgresql >/dev/null; fi
  fi
}

start() {
  ensure_server
  local initdb pg_ctl
  initdb=$(find_bin initdb); pg_ctl=$(find_bin pg_ctl)
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chmod 755 "$(dirname "$dir")"
    chown -R postgres "$dir"
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "$initdb" --no-sync -A trust -U postgres -E UTF8 --locale=C.UTF-8 -D "$dir/data" >"$dir/initdb.log"
  fi
  if ! as_owner "$pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    as_owner "$pg_ctl" -D "$dir/data" -w -t 30 -l "$dir/server.log" \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      start >/dev/null
  fi
  psql -h 127.0.0.1 -p "$port" -U postgres -qAt postgres >/dev/null <<'SQL'
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'todo_app') THEN
    CREATE ROLE todo_app NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'todo_fn') THEN
    CREATE ROLE todo_fn LOGIN IN ROLE todo_app;
  END IF;
END
$$;
SQL
  if ! psql -h 127.0.0.1 -p "$port" -U postgres -Atqc "SELECT 1 FROM pg_database WHERE datname = '$db'" postgres | grep -q 1; then
    psql -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE \"$db\"" postgres
  fi
  echo "postgres://postgres@127.0.0.1:$port/$db?sslmode=disable"
}

# A new, empty database NAME on the private cluster (dropped first if it exists).
fresh() {
  local url
  url=$(start)
  psql -h 127.0.0.1 -p "$port" -U postgres -qc "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" postgres 2>/dev/null
  psql -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE \"$1\"" postgres
  echo "${url%/*}/$1?sslmode=disable"
}

stop() {
  local pg_ctl
  pg_ctl=$(find_bin pg_ctl)
  if [ -f "$dir/data/PG_VERSION" ] && [ -n "$pg_ctl" ]; then
    as_owner "$pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
  fi
}

case "${1:-}" in
  start) start ;;
  app-url) [ -n "${2:-}" ] || { echo "usage: $0 app-url URL" >&2; exit 2; }; echo "${2/\/\/postgres@/\/\/todo_fn@}" ;;
  fresh) [ -n "${2:-}" ] || { echo "usage: $0 fresh NAME" >&2; exit 2; }; fresh "$2" ;;
  stop) stop ;;
  *) echo "usage: $0 start|fresh NAME|app-url URL|stop" >&2; exit 2 ;;
esac
