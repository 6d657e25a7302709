#!/usr/bin/env bash
# `make dev`: the whole API at http://127.0.0.1:${PORT:-9000}, with the routes of API Gateway.
# Without DATABASE_URL it starts a private PostgreSQL in .local/ and stops it on exit (Ctrl-C).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/tools.sh
ensure_tools

own_db="" maildev_pid="" web_pid="" watch_pid=""
cleanup() {
  for pid in $maildev_pid $web_pid $watch_pid; do kill "$pid" 2>/dev/null || true; done
  [ -z "$own_db" ] || scripts/local-db.sh stop
}
trap cleanup EXIT
if [ -z "${DATABASE_URL:-}" ]; then
  # Migrations run as the owner; the functions log in as their own, non-owning role.
  MIGRATION_DATABASE_URL=$(scripts/local-db.sh start)
  DATABASE_URL=$(scripts/local-db.sh app-url "$MIGRATION_DATABASE_URL")
  export MIGRATION_DATABASE_URL
  own_db=1
  echo "dev: private PostgreSQL at $DATABASE_URL" >&2
fi
if [ -z "${JWT_SECRET:-}" ]; then
  JWT_SECRET="development-only-secret-do-not-use-in-production"
  echo "dev: WARNING: JWT_SECRET is not set; using an insecure development secret" >&2
fi
# Every local request comes from 127.0.0.1: the production defaults (10 signups and 20 reset
# requests an hour) would soon refuse a developer's own tests.
SIGNUPS_PER_ADDRESS=${SIGNUPS_PER_ADDRESS:-10000}
RESET_REQUESTS_PER_ADDRESS=${RESET_REQUESTS_PER_ADDRESS:-10000}
export DATABASE_URL JWT_SECRET SIGNUPS_PER_ADDRESS RESET_REQUESTS_PER_ADDRESS

# Mail (verification, password reset): to SMTP_URL when set, else to a local MailDev whose web
# inbox shows every message: SMTP on 1025, inbox on 1080 (MAIL_SMTP_PORT, MAIL_WEB_PORT); with
# another PORT, on PORT+10000 and PORT+20000, so that several make devs (tests) can run at once.
inbox=""
if [ -z "${SMTP_URL:-}" ]; then
  ensure_maildev
  api_port=${PORT:-9000}
  if [ "$api_port" = 9000 ]; then smtp_default=1025 web_default=1080
  else smtp_default=$((api_port + 10000)) web_default=$((api_port + 20000)); fi
  smtp_port=${MAIL_SMTP_PORT:-$smtp_default} web_port=${MAIL_WEB_PORT:-$web_default}
  "$root/tools/maildev/node_modules/.bin/maildev" --ip 127.0.0.1 --web-ip 127.0.0.1 \
    --smtp "$smtp_port" --web "$web_port" --silent >"$root/target/maildev.log" 2>&1 &
  maildev_pid=$!
  SMTP_URL="smtp://127.0.0.1:$smtp_port"
  inbox="http://127.0.0.1:$web_port"
fi
EMAIL_FROM=${EMAIL_FROM:-"Todo <no-reply@todo.localhost>"}
export SMTP_URL EMAIL_FROM

# The example web app (clients/typescript/example with the built client) at WEB_PORT: 8080, or
# PORT+30000 beside another PORT. Emailed links open its pages unless APP_URL says otherwise.
ensure_node
(cd clients/typescript && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error; } \
  && npm run --silent build)
api_url="http://127.0.0.1:${PORT:-9000}"
if [ "${PORT:-9000}" = 9000 ]; then web_default=8080; else web_default=$((PORT + 30000)); fi
web_url="http://127.0.0.1:${WEB_PORT:-$web_default}"
python3 scripts/web.py "${WEB_PORT:-$web_default}" "$api_url" &
web_pid=$!
APP_URL=${APP_URL:-$web_url}
export APP_URL

cargo run -q -p shared --bin migrate
# WATCH_ARGS: extra `cargo lambda watch` flags; make test passes --ignore-changes, so nothing
# written during a run (caches, reports) restarts a function mid-request.
# shellcheck disable=SC2086
cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "${PORT:-9000}" ${WATCH_ARGS:-} &
watch_pid=$!
# Ready once the API answers (its first answer builds the `me` function).
until curl -s -o /dev/null "$api_url/api/auth/me"; do
  kill -0 "$watch_pid" 2>/dev/null || { echo "dev: cargo lambda watch stopped" >&2; exit 1; }
  sleep 0.5
done
echo "dev: ready (Ctrl-C stops everything)" >&2
echo "dev:   web app  $web_url" >&2
echo "dev:   API      $api_url" >&2
[ -z "$inbox" ] || echo "dev:   mail     $inbox" >&2
wait "$watch_pid"
