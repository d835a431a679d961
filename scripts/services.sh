#!/usr/bin/env bash
# Starts (or stops) the real services the test suite runs against: a private PostgreSQL
# cluster and a private Docker engine, each with its own data directory, bound to
# loopback / a unix socket, so tests never touch a system-wide instance.
#
#   scripts/services.sh start   # prints the env file path; source it
#   scripts/services.sh stop
#
# State lives in $BALLAST_SERVICES_DIR (default /tmp/ballast-services). Needs root
# (dockerd) and the Debian packages postgresql, docker.io, busybox-static.
set -euo pipefail

DIR=${BALLAST_SERVICES_DIR:-/tmp/ballast-services}
PG_PORT=${BALLAST_TEST_PG_PORT:-55432}
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
ENV_FILE="$DIR/env"

start_postgres() {
  local data="$DIR/pg"
  if [ -f "$data/postmaster.pid" ] && kill -0 "$(head -n 1 "$data/postmaster.pid")" 2>/dev/null; then return; fi
  mkdir -p "$DIR"
  if [ ! -f "$data/PG_VERSION" ]; then
    rm -rf "$data" && mkdir -p "$data" && chown postgres:postgres "$data"
    runuser -u postgres -- "$PG_BIN/initdb" -D "$data" -A trust -U postgres --no-sync >/dev/null
  fi
  chown -R postgres:postgres "$data"
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$data" -w -t 60 \
    -o "-p $PG_PORT -k $data -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" \
    -l "$data/log" start >/dev/null
}

start_dockerd() {
  local d="$DIR/docker"
  mkdir -p "$d/root" "$d/exec"
  if [ -f "$d/pid" ] && kill -0 "$(cat "$d/pid")" 2>/dev/null; then return; fi
  rm -f "$d/pid" "$d/docker.sock"
  # --bridge=none / --iptables=false: no network is needed (images are FROM scratch and
  # containers run with --network none), and tests must not change the host's firewall.
  setsid dockerd --data-root "$d/root" --exec-root "$d/exec" -H "unix://$d/docker.sock" \
    --pidfile "$d/pid" --iptables=false --ip6tables=false --bridge=none \
    >"$d/log" 2>&1 < /dev/null &
  for _ in $(seq 1 100); do
    if curl -sf --unix-socket "$d/docker.sock" http://docker/_ping >/dev/null 2>&1; then return; fi
    sleep 0.2
  done
  echo "dockerd did not start; see $d/log" >&2
  tail -n 20 "$d/log" >&2
  exit 1
}

case "${1:-}" in
  start)
    start_postgres
    start_dockerd
    cat >"$ENV_FILE" <<ENV
export BALLAST_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:$PG_PORT/postgres
export BALLAST_TEST_PG_BIN=$PG_BIN
export BALLAST_TEST_DOCKER_HOST=unix://$DIR/docker/docker.sock
export BALLAST_TEST_DOCKER_DATA_ROOT=$DIR/docker/root
ENV
    echo "$ENV_FILE"
    ;;
  stop)
    if [ -f "$DIR/docker/pid" ]; then kill "$(cat "$DIR/docker/pid")" 2>/dev/null || true; fi
    for _ in $(seq 1 50); do [ -f "$DIR/docker/pid" ] && kill -0 "$(cat "$DIR/docker/pid")" 2>/dev/null || break; sleep 0.2; done
    if [ -f "$DIR/pg/postmaster.pid" ]; then runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$DIR/pg" -m fast stop >/dev/null 2>&1 || true; fi
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
