#!/usr/bin/env bash
# `make bench`: builds everything for release, measures it against a private PostgreSQL (a fresh
# database of its own, filled with up to a million rows), beside the FastAPI backend it replaces
# and through PgBouncer, and writes BENCHMARKS.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/tools.sh
ensure_tools
ensure_fastapi

started_db=""
trap 'scripts/pgbouncer.sh stop; [ -n "$started_db" ] && scripts/local-db.sh stop' EXIT
started_db=1
DATABASE_URL=$(scripts/local-db.sh fresh todo_bench)
# The functions it starts log in as their own role, which the functions insist on.
FUNCTION_DATABASE_URL=$(scripts/local-db.sh app-url "$DATABASE_URL")
POOLED_FUNCTION_DATABASE_URL=$(scripts/pgbouncer.sh start "$FUNCTION_DATABASE_URL")
export DATABASE_URL FUNCTION_DATABASE_URL POOLED_FUNCTION_DATABASE_URL

# The arm64 zips (sizes), then native release builds of what is measured here.
scripts/package.sh
cargo build --release --locked --workspace --bins
target/release/bench --out BENCHMARKS.md
