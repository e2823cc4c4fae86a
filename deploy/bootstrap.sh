#!/usr/bin/env bash
# Installs what building and testing roomcast needs on Debian 12, skipping
# whatever is already there. Safe to run again. Needs root (or sudo) only
# when something is missing.
#   deploy/bootstrap.sh          build dependencies
#   deploy/bootstrap.sh --test   plus the test tools (redis, nginx, chromium,
#                                kcat) and the npm modules in tests/
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(build-essential cmake pkg-config git
      librdkafka-dev libwebsockets-dev libwebsockets-evlib-uv libavro-dev
      libhiredis-dev libjwt-dev libssl-dev libjansson-dev libuv1-dev
      libcurl4-openssl-dev)
want_test=0
[ "${1:-}" = "--test" ] && want_test=1
if [ $want_test = 1 ]; then
  pkgs+=(nodejs npm redis-server nginx-light kafkacat chromium openssl curl clang libclang-rt-14-dev strace)
fi

missing=()
for p in "${pkgs[@]}"; do
  # nodejs/npm may come from elsewhere (nodesource, nvm): accept a working node.
  if [ "$p" = nodejs ] && command -v node >/dev/null; then continue; fi
  if [ "$p" = npm ] && command -v npm >/dev/null; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q >&2
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi
# The Debian packages start these daemons; the tests start their own.
if [ $want_test = 1 ]; then
  for svc in redis-server nginx; do
    if command -v service >/dev/null && service "$svc" status >/dev/null 2>&1; then
      service "$svc" stop >/dev/null 2>&1 || true
    fi
  done
fi

if [ $want_test = 1 ]; then
  if [ ! -d tests/node_modules ] || [ tests/package-lock.json -nt tests/node_modules/.package-lock.json ]; then
    echo "bootstrap: installing npm modules for the tests" >&2
    (cd tests && npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
fi
