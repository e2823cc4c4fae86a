#!/usr/bin/env bash
# Builds roomcast and runs it on its embedded default: an in-process Kafka
# broker, in-memory history, the demo producer and the live page.
# Extra arguments go to roomcast (e.g. --listen 127.0.0.1:9000); the URL
# printed is the one that --listen (or ROOMCAST_LISTEN) gives.
#   deploy/demo.sh --print-url [ARGS...]   only print that URL
set -euo pipefail
cd "$(dirname "$0")/.."

# The page's URL for roomcast's arguments: the last --listen wins, as in
# roomcast; a wildcard host is reached as localhost; https with --tls-cert.
demo_url() {
  local listen=${ROOMCAST_LISTEN:-0.0.0.0:8080} scheme=http
  [ -n "${ROOMCAST_TLS_CERT:-}" ] && scheme=https
  while [ $# -gt 0 ]; do
    case $1 in
      --listen) [ $# -gt 1 ] && listen=$2 && shift ;;
      --listen=*) listen=${1#--listen=} ;;
      --tls-cert) [ $# -gt 1 ] && [ -n "$2" ] && scheme=https && shift ;;
      --tls-cert=?*) scheme=https ;;
    esac
    shift
  done
  local host=${listen%:*} port=${listen##*:}
  case $host in
    "" | "*" | 0.0.0.0 | "[::]" | "::") host=localhost ;;
  esac
  echo "$scheme://$host:$port/"
}

if [ "${1:-}" = --print-url ]; then
  shift
  demo_url "$@"
  exit 0
fi

deploy/bootstrap.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
echo "roomcast: open $(demo_url "$@") (demo users alice, bob, carol; Ctrl-C stops)" >&2
exec build/roomcast --demo "$@"
