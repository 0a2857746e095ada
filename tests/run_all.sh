#!/usr/bin/env bash
# Installs what is missing, builds everything, runs every test, then the
# sanitizer stage (tests/sanitizers/ci.sh: the fuzz targets and the unit
# suites under ASan + UBSan, clang, in their own Bazel output base), and
# prints "N passed, N failed" (test cases of the plain suite, summed over the
# GoogleTest XML reports; a failed sanitizer stage counts as one failure
# there, and fails the script).
#
#   tests/run_all.sh [extra bazel test flags]
#
# AOTI_SANITIZER_STAGE=0 leaves the sanitizer stage out (about 6 minutes on
# a 2-core machine).
set -uo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh || exit 1

bazel build --jobs=2 //... || exit 1
bazel test --jobs=2 --test_tag_filters=-benchmark "$@" //...
rc=$?

if [ "${AOTI_SANITIZER_STAGE:-1}" != 0 ]; then
  echo "== sanitizer stage (tests/sanitizers/ci.sh)"
  stage_start=$SECONDS
  tests/sanitizers/ci.sh
  stage_rc=$?
  echo "== sanitizer stage: $((SECONDS - stage_start)) s, exit $stage_rc"
  [ "$rc" = 0 ] && rc=$stage_rc
fi

tests/count_results.sh bazel-testlogs "$rc"
