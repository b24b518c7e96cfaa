#!/usr/bin/env bash
# Make sure the Redis server the tests use answers: 127.0.0.1:${REDIS_PORT:-6379} (the tests'
# default URL, redis://127.0.0.1:6379/0; RAGLINE_TEST_REDIS_URL points them elsewhere).
#
# - A server answers PONG: nothing is done.
# - Nothing answers: redis-server is installed with apt-get if it is missing (as root, or
#   with sudo), then a private server is started, daemonized, on that port, bound to
#   127.0.0.1, with no persistence (no RDB snapshots, no append-only file).
set -euo pipefail

host=127.0.0.1
port=${REDIS_PORT:-6379}

say() { echo "ensure-redis: $*" >&2; }

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

# PING over bash's /dev/tcp, so a server that answers needs no redis-cli on this machine.
answering() {
  local reply=""
  { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null || return 1
  printf 'PING\r\n' >&3
  read -r -t 2 reply <&3 || true
  exec 3>&-
  [[ "$reply" == +PONG* ]]
}

if answering; then
  exit 0
fi

if ! command -v redis-server >/dev/null 2>&1; then
  say "Redis is not installed; installing redis-server with apt-get"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi

say "no server on $host:$port; starting a private one (no persistence)"
redis-server --port "$port" --bind "$host" --save '' --appendonly no --daemonize yes \
  --dir /tmp --logfile "/tmp/ragline-redis-$port.log" --pidfile "/tmp/ragline-redis-$port.pid"

for _ in $(seq 1 50); do
  if answering; then
    exit 0
  fi
  sleep 0.1
done
say "redis-server did not answer on $host:$port; see /tmp/ragline-redis-$port.log"
exit 1
