#!/usr/bin/env bash
# PgBouncer in transaction mode in front of a PostgreSQL database, with a small server pool: what
# Neon's pooled endpoint is. Statements of different clients share server connections, so
# anything session-level (a named prepared statement, a SET without LOCAL) breaks through it.
#   scripts/pgbouncer.sh start URL [PORT]   # start it for URL's database; print URL through it
#   scripts/pgbouncer.sh stop
# PgBouncer refuses to run as root: as root it runs as `postgres`, from /var/tmp (see local-db.sh).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/tools.sh"
checkout=$(printf '%s' "$root" | cksum | cut -d' ' -f1)
dir="$root/.local/pgbouncer"
if [ "$(id -u)" = 0 ]; then dir="/var/tmp/todo-auth-lambda-$checkout/pgbouncer"; fi

as_owner() {
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

find_pgbouncer() { command -v pgbouncer 2>/dev/null || ls /usr/sbin/pgbouncer 2>/dev/null || true; }

ensure_pgbouncer() { [ -n "$(find_pgbouncer)" ] || apt_install pgbouncer; }

# A port nothing listens on now, from the kernel. A fixed one (this script once derived it from the
# checkout's path) lies in the ephemeral range, where any outgoing connection may hold it.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  local url=$1 wanted=${2:-} port
  ensure_pgbouncer
  stop
  mkdir -p "$dir"
  # URL's parts (postgres://user[:password]@host:port/db?...), without a URL parser in bash.
  read -r user host upstream_port db < <(python3 - "$url" <<'PY'
import sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
print(u.username, u.hostname, u.port or 5432, u.path.lstrip("/"))
PY
)
  printf '"%s" ""\n"todo_fn" ""\n"postgres" ""\n' "$user" >"$dir/users.txt"
  # A free port can still be taken between the choice and PgBouncer's bind: then another one.
  for _ in 1 2 3; do
    port=${wanted:-$(free_port)}
    configure "$host" "$upstream_port" "$db" "$port"
    as_owner "$(find_pgbouncer)" -d -q "$dir/pgbouncer.ini" || true
    for _ in $(seq 1 50); do
      if PGCONNECT_TIMEOUT=1 psql -h 127.0.0.1 -p "$port" -U "$user" -Atqc "SELECT 1" "$db" >/dev/null 2>&1; then
        echo "postgres://$user@127.0.0.1:$port/$db?sslmode=disable"
        return 0
      fi
      sleep 0.1
    done
    stop
    [ -z "$wanted" ] || break
  done
  echo "pgbouncer: it did not answer on 127.0.0.1:$port; its log:" >&2
  tail -n 20 "$dir/pgbouncer.log" >&2 || true
  exit 1
}

# Its configuration: the database behind it, the port it listens on.
configure() {
  local host=$1 upstream_port=$2 db=$3 port=$4
  cat >"$dir/pgbouncer.ini" <<INI
[databases]
$db = host=$host port=$upstream_port dbname=$db

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/users.txt
pool_mode = transaction
; Few server connections for many clients, as a pooled Neon endpoint has.
default_pool_size = 4
max_client_conn = 500
pidfile = $dir/pgbouncer.pid
logfile = $dir/pgbouncer.log
INI
  if [ "$(id -u)" = 0 ]; then
    chmod 755 "$(dirname "$dir")"
    chown -R postgres "$dir"
  fi
}

stop() {
  if [ -f "$dir/pgbouncer.pid" ]; then
    kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null || true
    rm -f "$dir/pgbouncer.pid"
  fi
}

case "${1:-}" in
  start) [ -n "${2:-}" ] || { echo "usage: $0 start URL [PORT]" >&2; exit 2; }; start "$2" "${3:-}" ;;
  stop) stop ;;
  *) echo "usage: $0 start URL [PORT]|stop" >&2; exit 2 ;;
esac
