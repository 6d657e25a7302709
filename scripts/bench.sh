#!/usr/bin/env bash
# `make bench`: builds everything for release, measures it against a private PostgreSQL (a fresh
# database of its own, filled with up to a million rows) and writes BENCHMARKS.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/tools.sh
ensure_tools

if ! command -v wrk >/dev/null; then
  echo "bench: installing wrk (Debian package)" >&2
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
  else sudo apt-get install -y -qq wrk >/dev/null; fi
fi

started_db=""
trap '[ -n "$started_db" ] && scripts/local-db.sh stop' EXIT
started_db=1
DATABASE_URL=$(scripts/local-db.sh fresh todo_bench)
# The functions it starts log in as their own role, which the functions insist on.
FUNCTION_DATABASE_URL=$(scripts/local-db.sh app-url "$DATABASE_URL")
export DATABASE_URL FUNCTION_DATABASE_URL

# The arm64 zips (sizes), then native release builds of what is measured here.
scripts/package.sh
cargo build --release --locked -p bench -p me -p list -p get -p create -p signin
target/release/bench --out BENCHMARKS.md
