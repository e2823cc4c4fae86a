#!/usr/bin/env bash
# Builds roomcast and runs it on its embedded default: an in-process Kafka
# broker, in-memory history, the demo producer and the live page.
# Extra arguments go to roomcast (e.g. --listen 127.0.0.1:9000).
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/bootstrap.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
echo "roomcast: open http://localhost:8080/ (Ctrl-C stops)" >&2
exec build/roomcast --demo "$@"
