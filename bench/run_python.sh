#!/usr/bin/env bash
# Runs a Python program with the Python of @libtorch from the runfiles tree.
#
#   run_python.sh PYTHON PROGRAM [args]
set -euo pipefail
exec "$@"
