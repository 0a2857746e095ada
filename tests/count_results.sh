#!/usr/bin/env bash
# Prints "N passed, N failed": test cases, summed over the test.xml reports
# under a bazel-testlogs directory (GoogleTest and pytest XML). A target with
# no per-case report (a plain test program) counts as one case.
#
#   tests/count_results.sh [TESTLOGS_DIR] [BAZEL_TEST_EXIT_CODE]
#
# With a non-zero exit code and no failed case found, counts one failure (a
# build error or a test that left no report). Exits with that code.
set -uo pipefail
testlogs=${1:-bazel-testlogs}
rc=${2:-0}

# Each test target leaves <testlogs>/<target>/test.xml; a test that crashed
# or timed out still gets one, with a failure in it.
passed=0
failed=0
while IFS= read -r xml; do
  # GoogleTest puts the totals on <testsuites>; pytest only on each
  # <testsuite>: sum those then.
  counts=$(grep -m1 -o '<testsuites [^>]*tests="[^>]*>' "$xml" ||
           grep -o '<testsuite [^>]*>' "$xml" || true)
  tests=0
  bad=0
  while IFS= read -r line; do
    t=$(sed -n 's/.* tests="\([0-9]*\)".*/\1/p' <<<"$line")
    f=$(sed -n 's/.* failures="\([0-9]*\)".*/\1/p' <<<"$line")
    e=$(sed -n 's/.* errors="\([0-9]*\)".*/\1/p' <<<"$line")
    tests=$(( tests + ${t:-0} ))
    bad=$(( bad + ${f:-0} + ${e:-0} ))
  done <<<"$counts"
  if [ "$tests" -eq 0 ]; then
    # No per-case report (e.g. a plain test program): count the target.
    if grep -q '<failure' "$xml"; then failed=$((failed + 1)); else passed=$((passed + 1)); fi
  else
    passed=$((passed + tests - bad))
    failed=$((failed + bad))
  fi
done < <(find -L "$testlogs"/ -name test.xml 2>/dev/null)

if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "$passed passed, $failed failed"
exit "$rc"
