#!/usr/bin/env bash
# A throw-away PostgreSQL + PostGIS cluster on 127.0.0.1 for the tests and benchmarks
# (Debian's packages, installed by scripts/install-deps.sh).
#   scripts/pg-temp.sh start DIR   → prints the connection string of its `postgres` database
#   scripts/pg-temp.sh stop DIR    → stops it (the caller removes DIR)
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?folder for the cluster}
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
[ -n "$pgbin" ] || { echo "pg-temp: no PostgreSQL server here: run scripts/install-deps.sh" >&2; exit 1; }
# initdb refuses to run as root: the cluster then belongs to the `postgres` user.
as() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case $cmd in
start)
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  as "$pgbin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
  as "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200 -c jit=off" start >/dev/null ||
    { cat "$dir/server.log" >&2; exit 1; }
  echo "postgres://postgres@127.0.0.1:$port/postgres"
  ;;
stop)
  if [ -f "$dir/data/postmaster.pid" ]; then
    as "$pgbin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  ;;
*) echo "pg-temp: start or stop" >&2; exit 2 ;;
esac
