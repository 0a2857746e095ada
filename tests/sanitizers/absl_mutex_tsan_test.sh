#!/usr/bin/env bash
# Proves absl_mutex_tsan.cc on absl_mutex_tsan_demo.cc (TSan build):
#   1. without the interposer, TSan reports the absl::Mutex-guarded data as
#      racing (it cannot see Debian's absl::Mutex);
#   2. with it, the same run is clean;
#   3. with it, a real race (one side without the mutex) is still reported.
# In a build without TSan there is nothing to prove: it passes, saying so.
#
#   absl_mutex_tsan_test.sh DEMO INTERPOSER
set -uo pipefail
demo=$1
interposer=$(pwd)/$2

if ! "$demo" tsan; then
  echo "SKIPPED: $demo is not built with -fsanitize=thread (--config=tsan)"
  exit 0
fi

# Only the demo's reports: no suppression, TSan's default exit code.
export TSAN_OPTIONS="halt_on_error=0:exitcode=66"
failed=0
# check NAME MODE PRELOAD EXPECTED_RC EXPECTED_REPORTS(yes|no)
check() {
  local name=$1 mode=$2 preload=$3 want_rc=$4 want_reports=$5 rc log
  log=$(LD_PRELOAD=$preload "$demo" "$mode" 2>&1)
  rc=$?
  local reports reported=no
  reports=$(grep -c 'WARNING: ThreadSanitizer' <<<"$log")
  [ "$reports" -gt 0 ] && reported=yes
  if [ "$rc" -eq "$want_rc" ] && [ "$reported" = "$want_reports" ]; then
    echo "PASS: $name (exit $rc, $reports reports)"
  else
    echo "FAIL: $name: exit $rc (want $want_rc), $reports reports (want $want_reports)"
    echo "$log"
    failed=1
  fi
}
check "guarded data, no interposer: reported" guarded "" 66 yes
check "guarded data, interposer: clean" guarded "$interposer" 0 no
check "real race, interposer: still reported" race "$interposer" 66 yes
exit "$failed"
