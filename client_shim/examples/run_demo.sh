#!/usr/bin/env bash
# The demo's run, once everything is built: starts aoti-executord with the
# demo's op library on a private socket, runs demo.pt2 from the Python host
# and the C++ host (neither loads the library), each compared bit for bit
# with the package's in-process run, and stops the daemon, which must drain
# and exit 0. deploy/demo.sh and //tests/models:demo_test both run it.
#
#   run_demo.sh PYTHON BUILT
#
# BUILT holds server/aoti-executord, client_shim/libaoti_remote.so and
# client_shim/examples/{libaoti_demo_ops.so,demo.pt2,demo.expected.pt,
# run_package}: bazel-bin, or a test's runfiles.
set -euo pipefail
python=$1
built=$2
# The Python host: in a test's runfiles, beside the built files; from a
# checkout, beside this script.
host=$built/client_shim/examples/run_demo.py
[ -f "$host" ] || host=$(dirname "$0")/run_demo.py
daemon_bin=$built/server/aoti-executord
examples=$built/client_shim/examples
socket_dir=$(mktemp -d /tmp/aoti-demo.XXXXXX)
endpoint=unix:$socket_dir/executor.sock
"$daemon_bin" --listen="$endpoint" --log-level=warning \
  --load-library="$examples/libaoti_demo_ops.so" &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null; wait $daemon 2>/dev/null || true; rm -rf "$socket_dir"' EXIT
until "$daemon_bin" --health-check="$endpoint" >/dev/null 2>&1; do
  kill -0 "$daemon" 2>/dev/null || { echo "aoti-executord did not start" >&2; exit 1; }
  sleep 0.1
done
echo "aoti-executord (pid $daemon) on $endpoint with $examples/libaoti_demo_ops.so"

"$python" "$host" "$examples" "$endpoint" "$built/client_shim/libaoti_remote.so"
"$examples/run_package" "$examples/demo.pt2" "$examples/demo.expected.pt" "$endpoint"

kill -TERM "$daemon"
wait "$daemon"
trap 'rm -rf "$socket_dir"' EXIT
