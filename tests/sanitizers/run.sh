#!/usr/bin/env bash
# Builds and runs the tests under sanitizers and prints "N passed, N failed"
# per sanitizer (tests/count_results.sh):
#   asan  every test (as tests/run_all.sh runs them) under AddressSanitizer +
#         UndefinedBehaviorSanitizer, leak checks included;
#   tsan  the concurrency, call-lane and crash-isolation suites under
#         ThreadSanitizer.
# What runs where, the options and every suppression: README.md here.
#
#   tests/sanitizers/run.sh [asan|tsan|all] [extra bazel test flags]
#
# Each sanitizer builds in its own Bazel output base, so the normal build's
# cache stays as it is: $AOTI_SANITIZER_OUTPUT_ROOT/ob-asan and .../ob-tsan
# (default: under ~/.cache/aoti-executor-sanitizers/, one per checkout). The
# workspace's bazel-* links are left alone; the Bazel servers it starts are
# shut down at the end. Installs nothing beyond deploy/install-deps.sh (gcc's
# libasan, libubsan and libtsan come with g++).
set -uo pipefail
cd "$(dirname "$0")/../.."
workspace=$(pwd -P)

which=${1:-all}
[ $# -gt 0 ] && shift
case "$which" in
  asan) sanitizers=(asan) ;;
  tsan) sanitizers=(tsan) ;;
  all) sanitizers=(asan tsan) ;;
  *) echo "usage: $0 [asan|tsan|all] [extra bazel test flags]" >&2; exit 2 ;;
esac

deploy/install-deps.sh || exit 1
# shellcheck source=tests/sanitizers/env.sh
. tests/sanitizers/env.sh

root=${AOTI_SANITIZER_OUTPUT_ROOT:-$HOME/.cache/aoti-executor-sanitizers/$(
  printf '%s' "$workspace" | md5sum | cut -c1-12)}

# The Python tests load libaoti_remote.so (built with ASan) into Python (not):
# the ASan runtime must be the first library of the process, so it is
# preloaded there. Python's own allocations at exit are not ours to check:
# leak checking is off in these two tests only (the daemon is still checked
# by every other suite).
python_tests=(//tests/models:real_model_test //tests/models:demo_test)
tsan_tests=(
  //tests/e2e:concurrency_test
  //tests/e2e:call_lane_test
  //tests/lane:call_lane_test
  //tests/e2e:crash_isolation_test
)
# Under TSan every test process preloads the interposer that makes Debian's
# absl::Mutex visible to TSan (absl_mutex_tsan.cc), proven first by its own
# test.
tsan_interposer=//tests/sanitizers:absl_mutex_tsan
tsan_self_test=//tests/sanitizers:absl_mutex_tsan_test

# RLIMIT_AS (--worker-memory-limit-mb) cannot bound a sanitized process:
# ASan and TSan reserve terabytes of address space for their shadow memory,
# so the limited worker fails its first allocation, whatever the op does.
# That one test runs in the plain suite only.
skip_filter=-CrashIsolationTest.RunawayAllocationFailsTheCallUnderTheMemoryLimit

now() { date +%s; }

# run_sanitizer NAME: builds, tests, counts; sets summary and returns the
# test exit code.
run_sanitizer() {
  local san=$1
  shift
  local bazel=(bazel "--output_base=$root/ob-$san")
  local flags=(--config="$san" --jobs=2 --experimental_convenience_symlinks=ignore)
  local build_targets test_targets
  if [ "$san" = asan ]; then
    build_targets=(//...)
    test_targets=(//... "${python_tests[@]/#/-}")
  else
    build_targets=("$tsan_interposer" "$tsan_self_test" "${tsan_tests[@]}")
    test_targets=("$tsan_self_test" "${tsan_tests[@]}")
  fi

  local start build_s test_s rc
  start=$(now)
  "${bazel[@]}" build "${flags[@]}" --keep_going --build_tag_filters=-benchmark -- \
    "${build_targets[@]}" || { summary+=("$san: the build failed"); return 1; }
  build_s=$(( $(now) - start ))

  local testlogs
  testlogs=$("${bazel[@]}" info "${flags[@]}" bazel-testlogs 2>/dev/null) || return 1
  if [ "$san" = tsan ]; then
    # Every process a test starts inherits it (the daemon, its zygote and
    # workers, peer clients); an absolute path, as they change directories.
    local bin
    bin=$("${bazel[@]}" info "${flags[@]}" bazel-bin 2>/dev/null) || return 1
    flags+=(--test_env=LD_PRELOAD="$bin/tests/sanitizers/libabsl_mutex_tsan.so")
  fi
  # Only this run's reports are counted.
  rm -rf "$testlogs"
  start=$(now)
  "${bazel[@]}" test "${flags[@]}" --test_tag_filters=-benchmark \
    --test_filter="$skip_filter" "$@" -- \
    "${test_targets[@]}"
  rc=$?
  if [ "$san" = asan ]; then
    # libstdc++ too: ASan finds the real __cxa_throw when it starts, and
    # Python loads libstdc++ only later, with torch.
    local preload
    preload="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so)"
    "${bazel[@]}" test "${flags[@]}" \
      --test_env=LD_PRELOAD="$preload" \
      --test_env=ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" "$@" -- \
      "${python_tests[@]}" || rc=$(( rc == 0 ? $? : rc ))
  fi
  test_s=$(( $(now) - start ))
  "${bazel[@]}" shutdown >/dev/null 2>&1 || true

  echo "$san: build ${build_s} s, tests ${test_s} s"
  summary+=("$san: $(tests/count_results.sh "$testlogs" "$rc")")
  if [ "$san" = tsan ]; then
    # A report fails a test only where the test checks that process's exit
    # status (66): the daemon's, its zygote's and workers' are not. Every
    # process writes to its test's log: count them all.
    local log n reports=0 where=""
    while IFS= read -r log; do
      n=$(grep -c '^WARNING: ThreadSanitizer' "$log")
      [ "$n" -gt 0 ] || continue
      reports=$(( reports + n ))
      log=${log#"$testlogs"/}
      where+="${where:+, }${log%/test.log} $n"
    done < <(find "$testlogs" -name test.log | sort)
    summary+=("tsan: $reports reports${where:+ ($where)}")
    [ "$reports" -eq 0 ] || rc=1
  fi
  return "$rc"
}

summary=()
status=0
for san in "${sanitizers[@]}"; do
  run_sanitizer "$san" "$@" || status=1
done
printf '%s\n' "${summary[@]}"
exit "$status"
