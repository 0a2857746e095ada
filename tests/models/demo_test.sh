#!/usr/bin/env bash
# deploy/demo.sh's run, from the runfiles: the demo package through a real
# aoti-executord that has the demo's op library, from the Python host and
# the C++ host (neither loads it), each bit for bit against the package's
# in-process run.
#
#   demo_test.sh PYTHON
set -euo pipefail
python=$1
examples=client_shim/examples
socket_dir=$(mktemp -d /tmp/aoti-demo-test.XXXXXX)
endpoint=unix:$socket_dir/executor.sock
server/aoti-executord --listen="$endpoint" --log-level=warning \
  --load-library="$examples/libaoti_demo_ops.so" &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null; wait $daemon 2>/dev/null || true; rm -rf "$socket_dir"' EXIT
until server/aoti-executord --health-check="$endpoint" >/dev/null 2>&1; do
  kill -0 "$daemon" 2>/dev/null || { echo "aoti-executord did not start" >&2; exit 1; }
  sleep 0.1
done
"$python" "$examples/run_demo.py" "$examples" "$endpoint" client_shim/libaoti_remote.so
"$examples/run_package" "$examples/demo.pt2" "$examples/demo.expected.pt" "$endpoint"
# Stopped cleanly: SIGTERM drains and exits 0.
kill -TERM "$daemon"
wait "$daemon"
trap 'rm -rf "$socket_dir"' EXIT
