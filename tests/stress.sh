#!/usr/bin/env bash
# The flake hunt: runs the whole suite N times in a row (no cached results)
# with a CPU hog on one core, stopping at the first failing run.
#
#   tests/stress.sh [N=5]
#
# Needs stress-ng (apt-get install stress-ng). The suite must pass every
# time: no test may bet on how fast a loaded machine is.
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
command -v stress-ng >/dev/null || { echo "stress.sh: needs stress-ng" >&2; exit 2; }
bazel build --jobs=2 //... || exit 1
for i in $(seq "$runs"); do
  stress-ng --cpu 1 --timeout 3600s >/dev/null 2>&1 &
  hog=$!
  bazel test --jobs=2 --nocache_test_results --test_tag_filters=-benchmark //...
  rc=$?
  kill "$hog"
  wait "$hog" 2>/dev/null
  echo "stress.sh: run $i of $runs: rc=$rc"
  [ "$rc" -eq 0 ] || exit "$rc"
done
