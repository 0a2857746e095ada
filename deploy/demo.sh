#!/usr/bin/env bash
# Installs what is missing, builds, starts aoti-executord on its default
# socket, runs the demo host program against it, and stops the daemon.
#
#   deploy/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
bazel build --jobs=2 //server:aoti-executord //client_shim/examples:demo

endpoint=unix:/tmp/aoti-executor/executor.sock
bazel-bin/server/aoti-executord --listen="$endpoint" &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null; wait $daemon 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  bazel-bin/server/aoti-executord --health-check="$endpoint" >/dev/null 2>&1 && break
  sleep 0.1
done
if ! kill -0 "$daemon" 2>/dev/null; then
  echo "aoti-executord did not start (is another daemon using $endpoint?)" >&2
  exit 1
fi
echo "aoti-executord (pid $daemon): $(bazel-bin/server/aoti-executord --health-check="$endpoint")"
bazel-bin/client_shim/examples/demo "$endpoint" client_shim/examples/demo.wrapper.json
