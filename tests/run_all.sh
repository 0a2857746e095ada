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

# Each test target leaves bazel-testlogs/<target>/test.xml; a test that
# crashed or timed out still gets one, with a failure in it.
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
done < <(find -L bazel-testlogs/ -name test.xml 2>/dev/null)

if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "$passed passed, $failed failed"
exit "$rc"
