#!/usr/bin/env bash
# Runs a pytest file with the given Python (the project's .venv, through
# @libtorch//:python), reporting each case in Bazel's test.xml.
#
#   run_pytest.sh PYTHON TEST_FILE [pytest args]
set -euo pipefail
python=$1
shift
exec "$python" -m pytest -p no:cacheprovider -q \
  --junitxml="${XML_OUTPUT_FILE:-$TEST_TMPDIR/pytest.xml}" "$@"
