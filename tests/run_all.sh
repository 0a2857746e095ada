#!/usr/bin/env bash
# Installs what is missing, builds everything, runs every test, and prints
# "N passed, N failed" (test cases, summed over the GoogleTest XML reports).
#
#   tests/run_all.sh [extra bazel test flags]
set -uo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh || exit 1

bazel build --jobs=2 //... || exit 1
bazel test --jobs=2 --test_tag_filters=-benchmark "$@" //...
rc=$?

tests/count_results.sh bazel-testlogs "$rc"
