#!/usr/bin/env bash
# CI's sanitizer stage (tests/run_all.sh runs it after the plain suite). One
# clang build with AddressSanitizer + UBSan, the `fuzz` config of .bazelrc, in
# its own Bazel output base, of
#   - every libFuzzer target of tests/fuzz: each replays its seeds and
#     checked-in regression inputs, then runs a fixed number of inputs from a
#     fixed seed (tests/fuzz/run_fuzzers.sh --runs N): the same work however
#     loaded the machine is;
#   - the unit suites listed below, run with leak checking and the runtime
#     options of env.sh.
# The test binaries are compiled with the fuzzers' coverage instrumentation
# (-fsanitize=fuzzer-no-link) and linked without libFuzzer (the ASan runtime
# has no-op defaults of the coverage callbacks), so every library they share
# with the fuzzers is compiled once.
#
#   tests/sanitizers/ci.sh [extra bazel test flags]
#
# Prints the fuzzers' table and "sanitizers: N passed, N failed" (the suites'
# test cases, tests/count_results.sh), the stage's wall times and the build's
# CPU time; exits non-zero on any failure. Shuts its Bazel server down.
#
# Environment:
#   AOTI_CI_SANITIZER_OUTPUT_BASE  its Bazel output base (default
#       ~/.cache/aoti-ci-sanitizers/<hash of the checkout's path>): clang
#       there; the workspace's usual output base and bazel-* links are left
#       alone.
#   AOTI_CI_FUZZ_RUNS  inputs per fuzz target (default below).
set -uo pipefail
cd "$(dirname "$0")/../.."

# Sized so that the stage adds about 6 minutes to a fresh 2-core machine's CI
# run (tests/fuzz/README.md has the numbers).
runs=${AOTI_CI_FUZZ_RUNS:-2000}
ob=${AOTI_CI_SANITIZER_OUTPUT_BASE:-$HOME/.cache/aoti-ci-sanitizers/$(
  pwd -P | md5sum | cut -c1-12)}

# The unit suites of the code that parses peer bytes (frames, call lanes,
# tensor layouts, kernel-set images, node tables) and manages shared memory
# (the shim's sealed JSON memfd and what it remembers of it among them),
# chosen for what they add to the fuzzers' build: these need little beyond
# the fuzzers' objects. The in-process kernel suites would add about 2 minutes, and the e2e
# suites and those that need aoti-executord or the whole client shim more
# than double the build. None of these sets RLIMIT_AS (which ASan cannot run
# under: tests/sanitizers/README.md). tests/sanitizers/run.sh asan runs every
# suite, with gcc.
suites=(
  //tests/client_shim:registration_memo_test
  //tests/client_shim:sealed_json_test
  //tests/framing/...
  //tests/kernels:serialized_enums_test
  //tests/lane/...
  //tests/metrics:call_latencies_test
  //tests/server:log_format_test
  //tests/server:packed_node_table_test
  //tests/server:protocol_test
  //tests/server:unix_socket_path_test
  //tests/service/...
  //tests/shm/...
  //tests/workers:crash_tracker_test
  //tests/workers:kernel_set_image_test
)

bazel=(bazel "--output_base=$ob")
flags=(--config=fuzz --jobs=2)

# CPU seconds of the Bazel server and the processes it has reaped (the
# compilers and linkers): what the build costs, however loaded the machine.
server_cpu_s() {
  local pid
  pid=$(cat "$ob/server/server.pid.txt" 2>/dev/null) || { echo 0; return; }
  awk -v hz="$(getconf CLK_TCK)" '{ print int(($14 + $15 + $16 + $17) / hz) }' \
    "/proc/$pid/stat" 2>/dev/null || echo 0
}

tests/fuzz/install_clang.sh || exit 1
# shellcheck source=tests/sanitizers/env.sh
. tests/sanitizers/env.sh
# Stacks with file:line in reports, whatever PATH a test has.
export ASAN_OPTIONS="$ASAN_OPTIONS:external_symbolizer_path=/usr/lib/llvm-14/bin/llvm-symbolizer"
# clang's UBSan also reports what gcc's does not (rapidjson's arithmetic on a
# null pointer): tests/fuzz/ubsan.supp lists it. A later option wins.
supp=$(mktemp)
trap 'rm -f "$supp"; "${bazel[@]}" shutdown >/dev/null 2>&1' EXIT
cat tests/sanitizers/ubsan.supp tests/fuzz/ubsan.supp >"$supp"
export UBSAN_OPTIONS="$UBSAN_OPTIONS:suppressions=$supp"

start=$SECONDS
"${bazel[@]}" info server_pid >/dev/null 2>&1
cpu=$(server_cpu_s)
mapfile -t fuzzers < <("${bazel[@]}" query --noshow_progress \
  'attr(tags, "\bfuzz\b", //tests/fuzz:*)' 2>/dev/null)
if ! "${bazel[@]}" build "${flags[@]}" -- "${fuzzers[@]}" "${suites[@]}"; then
  echo "sanitizers: the build failed"
  exit 1
fi
build_s=$((SECONDS - start))
build_cpu_s=$(($(server_cpu_s) - cpu))

start=$SECONDS
testlogs=$("${bazel[@]}" info "${flags[@]}" bazel-testlogs 2>/dev/null)
# Only this run's reports are counted; a missing report reruns its test.
rm -rf "$testlogs"
"${bazel[@]}" test "${flags[@]}" "$@" -- "${suites[@]}"
tests_rc=$?
tests_s=$((SECONDS - start))

start=$SECONDS
AOTI_FUZZ_OUTPUT_BASE=$ob tests/fuzz/run_fuzzers.sh --runs "$runs"
fuzz_rc=$?
fuzz_s=$((SECONDS - start))

echo "sanitizer stage: build ${build_s} s (${build_cpu_s} CPU s)," \
  "ASan tests ${tests_s} s, fuzzing ${fuzz_s} s"
echo "fuzz: $runs runs per target, $([ "$fuzz_rc" = 0 ] && echo clean || echo FAILED)"
rc=$tests_rc
[ "$rc" = 0 ] && rc=$fuzz_rc
echo "sanitizers: $(tests/count_results.sh "$testlogs" "$rc")"
exit "$rc"
