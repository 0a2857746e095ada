#!/usr/bin/env bash
# The real thing, end to end: installs what is missing, builds, compiles a
# small AOTInductor package whose custom op (aoti_demo::soft_threshold) only
# the daemon has (cached by Bazel after the first run), starts aoti-executord
# with that op library, runs the package from a Python host and from a C++
# host that have not loaded the library, compares both with the package's
# in-process run, and stops the daemon.
#
#   deploy/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
bazel build --jobs=2 //server:aoti-executord //client_shim:libaoti_remote.so \
  //client_shim/examples:libaoti_demo_ops.so \
  //client_shim/examples:demo_package //client_shim/examples:run_package

bin=bazel-bin/client_shim/examples
socket_dir=$(mktemp -d /tmp/aoti-demo.XXXXXX)
endpoint=unix:$socket_dir/executor.sock
bazel-bin/server/aoti-executord --listen="$endpoint" --log-level=warning \
  --load-library="$bin/libaoti_demo_ops.so" &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null; wait $daemon 2>/dev/null || true; rm -rf "$socket_dir"' EXIT
until bazel-bin/server/aoti-executord --health-check="$endpoint" >/dev/null 2>&1; do
  if ! kill -0 "$daemon" 2>/dev/null; then
    echo "aoti-executord did not start" >&2
    exit 1
  fi
  sleep 0.1
done
echo "aoti-executord (pid $daemon) on $endpoint with $bin/libaoti_demo_ops.so:" \
  "$(bazel-bin/server/aoti-executord --health-check="$endpoint")"

.venv/bin/python client_shim/examples/run_demo.py "$bin" "$endpoint" \
  bazel-bin/client_shim/libaoti_remote.so
"$bin/run_package" "$bin/demo.pt2" "$bin/demo.expected.pt" "$endpoint"
