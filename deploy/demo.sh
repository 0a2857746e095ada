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

client_shim/examples/run_demo.sh .venv/bin/python bazel-bin
