#!/usr/bin/env bash
# `make test`: every check CI runs, on a fresh machine. Installs what it needs, starts a private
# PostgreSQL unless DATABASE_URL is set, and drives the API over HTTP through `cargo lambda watch`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/tools.sh

step() { printf '\n== %s\n' "$*" >&2; }

step "format and lint"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tools, database and SSM emulator"
ensure_tools
started_db="" own_db="" watch_pid="" client_watch_pid="" moto_pid="" better_auth_pid=""
cleanup() {
  for pid in $watch_pid $client_watch_pid; do kill -- "-$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  for pid in $moto_pid $better_auth_pid; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  scripts/pgbouncer.sh stop
  if [ -n "$started_db" ]; then scripts/local-db.sh stop; fi
}
trap cleanup EXIT
if [ -z "${DATABASE_URL:-}" ]; then
  # Migrations and test set-up as the owner; the functions as their own, non-owning role.
  MIGRATION_DATABASE_URL=$(scripts/local-db.sh start)
  DATABASE_URL=$(scripts/local-db.sh app-url "$MIGRATION_DATABASE_URL")
  started_db=1 own_db=1
  export MIGRATION_DATABASE_URL
fi
export DATABASE_URL
cargo run -q --locked -p shared --bin migrate
# moto's server mode stands in for SSM and SES; the SDK reaches it through its endpoint overrides.
moto_port=${MOTO_PORT:-5123}
python3 -m moto.server -H 127.0.0.1 -p "$moto_port" >"$root/target/moto.log" 2>&1 &
moto_pid=$!
export AWS_ENDPOINT_URL_SSM="http://127.0.0.1:$moto_port" AWS_ENDPOINT_URL_SESV2="http://127.0.0.1:$moto_port" \
  AWS_REGION=eu-central-1 \
  AWS_ACCESS_KEY_ID=moto AWS_SECRET_ACCESS_KEY=moto AWS_EC2_METADATA_DISABLED=true
for _ in $(seq 1 100); do
  curl -s -o /dev/null "$AWS_ENDPOINT_URL_SSM" && break
  sleep 0.2
done

step "the private database works from a checkout only root may enter"
if [ "$(id -u)" = 0 ]; then
  # A clone under /root or a `mktemp -d` (mode 700): the cluster's owner, `postgres`, cannot
  # enter it. local-db.sh, alone in such a directory, must still start and stop a cluster.
  # Port 54950 lies outside the checkouts' own range (54000-54899).
  probe=$(mktemp -d)
  mkdir "$probe/scripts" && cp scripts/local-db.sh "$probe/scripts/"
  LOCAL_PG_PORT=54950 "$probe/scripts/local-db.sh" start >/dev/null
  LOCAL_PG_PORT=54950 "$probe/scripts/local-db.sh" stop
  rm -rf "$probe" "/var/tmp/todo-auth-lambda-$(printf '%s' "$probe" | cksum | cut -d' ' -f1)"
fi

step "unit and integration tests (handlers in-process, real PostgreSQL)"
cargo test --workspace --locked

step "the task endpoints through PgBouncer in transaction mode, as behind Neon's pooled endpoint"
# Clients share a few server connections: a named prepared statement or a session-level setting
# (both fine on a direct connection) breaks these tests here.
if [ -n "$own_db" ]; then
  pooled=$(scripts/pgbouncer.sh start "$DATABASE_URL")
  DATABASE_URL=$pooled cargo test -q --locked -p shared --test integration -- \
    tasks:: row_security:: better_auth:: sessions:: accounts::
  scripts/pgbouncer.sh stop
else
  echo "skipped: DATABASE_URL is not make test's own database (PgBouncer here trusts local users)" >&2
fi

step "benchmark smoke run (keeps bench/ working; its figures mean nothing)"
cargo build --workspace --locked --bins # the smoke cold-starts, and cargo lambda watch runs, these
started_db=1
ensure_fastapi
bench_url=$(scripts/local-db.sh fresh todo_bench_smoke)
bench_fn_url=$(scripts/local-db.sh app-url "$bench_url")
DATABASE_URL=$bench_url FUNCTION_DATABASE_URL=$bench_fn_url \
  POOLED_FUNCTION_DATABASE_URL=$(scripts/pgbouncer.sh start "$bench_fn_url") \
  cargo run -q --locked -p bench -- --smoke --out target/bench-smoke.md
scripts/pgbouncer.sh stop

step "contract: functions/, the watch router, template.yaml, events/ and openapi.yaml agree; shared has no module cycle"
python3 -m unittest discover -s tests

step "template and workflow lint"
cfn-lint template.yaml
sam validate --lint --template template.yaml
actionlint

step "end to end over HTTP through make dev (cargo lambda watch), Better Auth's tokens accepted too"
# A real Better Auth server (memory adapter, jwt() plugin), whose tokens this make dev trusts.
ensure_node
(cd tests/better-auth && npm ci --no-audit --no-fund --loglevel=error)
better_auth_url="http://127.0.0.1:${BETTER_AUTH_PORT:=9125}"
BETTER_AUTH_PORT=$BETTER_AUTH_PORT BETTER_AUTH_URL=$better_auth_url node tests/better-auth/server.mjs \
  >"$root/target/better-auth.log" 2>&1 &
better_auth_pid=$!
port=${E2E_PORT:-9123}
base="http://127.0.0.1:$port"
log="$root/target/e2e-watch.log"
secrets="$root/target/e2e-secrets.txt"
# The functions at TRACE (one console setting in AWS), so the log scan below covers what the most
# verbose logs would show; the emulator itself at DEBUG.
# Its mail goes to make dev's own MailDev, whose inbox is at PORT+20000 (scripts/dev.sh).
inbox_port=$((port + 20000))
AWS_LAMBDA_LOG_LEVEL=TRACE RUST_LOG=debug JWT_SECRET="end-to-end-tests-secret-of-at-least-32-bytes" BCRYPT_COST=4 PORT="$port" \
  BETTER_AUTH_URL="$better_auth_url" WATCH_ARGS=--ignore-changes setsid scripts/dev.sh >"$log" 2>&1 &
watch_pid=$!
# Every request through make dev comes from 127.0.0.1: start with the throttle counters empty
# (their keys are hashed, so not by address), so earlier runs within the hour cannot make this
# one's 401s into 429s.
psql -q "${MIGRATION_DATABASE_URL:-$DATABASE_URL}" -c "DELETE FROM throttles"
db_ctl=""
# The restart test needs the database the functions use to be ours to restart.
if [ -n "$own_db" ]; then db_ctl="$root/scripts/local-db.sh"; fi
if ! E2E_SECRETS_FILE="$secrets" E2E_DB_CTL="$db_ctl" E2E_INBOX="http://127.0.0.1:$inbox_port" \
  E2E_DATABASE_URL="${MIGRATION_DATABASE_URL:-$DATABASE_URL}" python3 scripts/e2e.py "$base"; then
  echo "--- make dev log (last 60 lines)" >&2
  tail -n 60 "$log" >&2
  exit 1
fi
# The post-deploy smoke test CI runs against each stage, here against make dev.
python3 scripts/smoke.py "$base"
# Better Auth users on every task endpoint and `me`, beside our own sessions.
if ! (cd tests/better-auth && API_URL="$base" BETTER_AUTH_URL="$better_auth_url" \
  INBOX_URL="http://127.0.0.1:$inbox_port" npm test --silent); then
  echo "--- make dev log (last 60 lines)" >&2
  tail -n 60 "$log" >&2
  echo "--- Better Auth log" >&2
  cat "$root/target/better-auth.log" >&2
  exit 1
fi

step "REQUIRE_VERIFIED_EMAIL=true through a make dev of its own: 403 until the mailed link is used"
strict_port=${STRICT_E2E_PORT:-9132}
strict_log="$root/target/strict-watch.log"
REQUIRE_VERIFIED_EMAIL=true JWT_SECRET="end-to-end-tests-secret-of-at-least-32-bytes" BCRYPT_COST=4 \
  PORT="$strict_port" WATCH_ARGS=--ignore-changes setsid scripts/dev.sh >"$strict_log" 2>&1 &
strict_pid=$!
if ! E2E_REQUIRE_VERIFIED_EMAIL=1 E2E_INBOX="http://127.0.0.1:$((strict_port + 20000))" \
  python3 scripts/e2e.py "http://127.0.0.1:$strict_port" RequiredVerification; then
  tail -n 40 "$strict_log" >&2
  exit 1
fi
kill -- "-$strict_pid" 2>/dev/null || true
wait "$strict_pid" 2>/dev/null || true

step "taking over a FastAPI-era database: SQLModel's tables and Better Auth's on PostgreSQL, migrate as a non-superuser owner, the old tasks over HTTP through make dev"
if [ -n "$own_db" ]; then
  ensure_takeover
  if ! TAKEOVER_ADMIN_URL=$MIGRATION_DATABASE_URL MIGRATE="$root/target/debug/migrate" \
    "$TAKEOVER_PYTHON" tests/takeover/test_takeover.py; then
    echo "--- its make dev log (last 40 lines)" >&2
    tail -n 40 "$root/target/takeover-watch.log" >&2
    echo "--- its Better Auth log" >&2
    cat "$root/target/takeover-better-auth.log" >&2
    exit 1
  fi
else
  echo "skipped: it makes roles and databases, which needs make test's own cluster" >&2
fi

step "API fuzzing: schemathesis against openapi.yaml, through make dev"
# A session of its own; its user id fills {user_id}, which must name the caller (tests/fuzz_hooks.py).
read -r fuzz_token fuzz_user < <(python3 - "$base" <<'PY'
import json, sys, urllib.request, uuid
body = json.dumps({"email": f"fuzz-{uuid.uuid4().hex}@example.com", "password": "correct horse battery"}).encode()
req = urllib.request.Request(sys.argv[1] + "/api/auth/signup", body, {"Content-Type": "application/json"})
session = json.load(urllib.request.urlopen(req, timeout=60))
print(session["token"], session["user"]["id"])
PY
)
echo "$fuzz_token" >>"$secrets"
# Checks left out, and why: positive_data_acceptance — the schema cannot say "a cursor this API
# issued" or "the caller's own id", so some schema-valid requests are rightly refused. signout is
# not fuzzed: it would end the fuzzer's session (tests cover it). Methods no route has reach the
# fallback function, so unsupported_method is checked.
# The stateful phase chains create → get → update → toggle → delete through openapi.yaml's links,
# in both path forms (tests/schemathesis.toml says why only those links).
FUZZ_USER_ID="$fuzz_user" PYTHONPATH=tests SCHEMATHESIS_HOOKS=fuzz_hooks schemathesis \
  --config-file tests/schemathesis.toml run openapi.yaml \
  --url "$base" --header "Authorization: Bearer $fuzz_token" \
  --checks all --exclude-checks positive_data_acceptance \
  --phases examples,coverage,fuzzing,stateful --generation-codec utf-8 --exclude-operation-id signout \
  --max-examples 25 --workers 1 --max-time "${FUZZ_SECONDS:-120}" --no-color

step "TypeScript client: types match openapi.yaml, build, Node tests and a browser against make dev"
ensure_chromium
(cd clients/typescript && npm ci --no-audit --no-fund --loglevel=error && npm run --silent check-schema && npm run --silent build)
# A make dev of its own with 60-second access tokens, so the tests refresh across a real expiry
# (the one above keeps the default: the fuzzer's token must outlive its run).
client_port=${CLIENT_E2E_PORT:-9124}
client_log="$root/target/client-watch.log"
AWS_LAMBDA_LOG_LEVEL=TRACE JWT_TTL_SECONDS=60 JWT_SECRET="end-to-end-tests-secret-of-at-least-32-bytes" BCRYPT_COST=4 PORT="$client_port" \
  WATCH_ARGS=--ignore-changes setsid scripts/dev.sh >"$client_log" 2>&1 &
client_watch_pid=$!
for _ in $(seq 1 300); do
  curl -s "http://127.0.0.1:$client_port/api/auth/me" | grep -q unauthorized && break
  sleep 0.5
done
# make dev says where everything is once it answers: the web app the browser test drives, the
# API, and the inbox.
for _ in $(seq 1 120); do grep -q "^dev: ready" "$client_log" && break; sleep 0.5; done
for line in "web app  http://127.0.0.1:$((client_port + 30000))" "API      http://127.0.0.1:$client_port" \
  "mail     http://127.0.0.1:$((client_port + 20000))"; do
  grep -qF "dev:   $line" "$client_log" || { echo "make dev did not print: $line" >&2; tail -n 20 "$client_log" >&2; exit 1; }
done
# The runs above failed signins from 127.0.0.1 on purpose; these tests start with a clean slate.
psql -q "${MIGRATION_DATABASE_URL:-$DATABASE_URL}" -c "DELETE FROM throttles"
if ! (cd clients/typescript && API_URL="http://127.0.0.1:$client_port" npm test --silent &&
  API_URL="http://127.0.0.1:$client_port" INBOX_URL="http://127.0.0.1:$((client_port + 20000))" \
    WEB_URL="http://127.0.0.1:$((client_port + 30000))" npm run --silent test:browser); then
  echo "--- client make dev log (last 40 lines)" >&2
  tail -n 40 "$client_log" >&2
  exit 1
fi

step "signing-key rotation through make dev: under A; under B with A as previous; under B alone"
python3 scripts/rotation.py "${ROTATION_PORT:-9129}" || { tail -n 40 "$root/target/rotation-watch.log" >&2; exit 1; }

step "no password, hash or token in the functions' logs"
# Whole matches first, then the first few shown: a `grep | head` pipeline under pipefail fails
# when head stops reading early, which would hide a log with many matches.
for scanned in "$log" "$client_log"; do
  leaks=$(grep -nF -f "$secrets" "$scanned" || true)
  leaks+=$(grep -nE 'eyJ[A-Za-z0-9_-]{8,}\.|\$2[aby]\$[0-9]{2}\$' "$scanned" || true)
  if [ -n "$leaks" ]; then
    head -n 5 <<<"$leaks" >&2
    echo "secrets found in $scanned" >&2
    exit 1
  fi
done

step "package: one arm64 zip per function"
scripts/package.sh
