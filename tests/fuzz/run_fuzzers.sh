#!/usr/bin/env bash
# Builds every libFuzzer target of tests/fuzz (clang, ASan + UBSan: the
# `fuzz` config of .bazelrc) and runs each from its seeds, either for a
# bounded time or (CI) for a fixed number of runs from a fixed seed; prints,
# per target, executions, exec/s and libFuzzer's final cov: and ft:.
# Exits non-zero if any target crashes, leaks, times out, reports undefined
# behaviour or fails to build.
#
# Usage: tests/fuzz/run_fuzzers.sh [seconds_per_target]   (default 30)
#        tests/fuzz/run_fuzzers.sh --runs N                (-runs=N -seed=1)
#
# Environment:
#   AOTI_FUZZ_OUTPUT_BASE  Bazel output base of the fuzz build (default
#                          ~/.cache/aoti-fuzz-ob): clang there, never the
#                          workspace's usual (gcc) one, nor its bazel-* links.
#   AOTI_FUZZ_JOBS         bazel --jobs (default 2).
#   AOTI_FUZZ_TARGETS      only these targets, e.g. "tensor_ref_fuzzer".
#   AOTI_FUZZ_KEEP         set: keep the run's folder (corpora, logs, crashes).
set -euo pipefail

# What bounds each target's run: seconds (libFuzzer -max_total_time), or a
# number of executions from seed 1 (-runs, -seed): the same inputs every time,
# however loaded the machine is.
if [[ "${1:-}" == --runs ]]; then
  readonly BOUND="${2:-}" UNIT=runs
else
  readonly BOUND="${1:-30}" UNIT=s
fi
readonly ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly OUTPUT_BASE="${AOTI_FUZZ_OUTPUT_BASE:-${HOME}/.cache/aoti-fuzz-ob}"
readonly JOBS="${AOTI_FUZZ_JOBS:-2}"
readonly WORK="$(mktemp -d "${TMPDIR:-/tmp}/aoti-fuzz.XXXXXX")"

if ! [[ "${BOUND}" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [seconds_per_target | --runs N]" >&2
  exit 2
fi

cleanup() {
  if [[ -z "${AOTI_FUZZ_KEEP:-}" ]]; then rm -rf "${WORK}"; fi
  # The fuzz output base's server only: nobody else's build is touched.
  (cd "${ROOT}" && bazel --output_base="${OUTPUT_BASE}" shutdown) >/dev/null 2>&1 || true
}
trap cleanup EXIT

bazel_fuzz() {
  (cd "${ROOT}" && bazel --output_base="${OUTPUT_BASE}" "$@")
}

# "cov ft" of libFuzzer's last status line (its DONE line).
final_coverage() {
  local line
  line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$1" | tail -1 || true)"
  local cov ft
  cov="$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"${line}")"
  ft="$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"${line}")"
  echo "${cov:--} ${ft:--}"
}

stat_of() {
  sed -nE "s/^stat::$2:[[:space:]]*([0-9]+).*/\1/p" "$1" | tail -1
}

"${ROOT}/tests/fuzz/install_clang.sh"
if [[ "${UNIT}" == runs ]]; then
  limit=(-runs="${BOUND}" -seed=1)
else
  limit=(-max_total_time="${BOUND}")
fi

if [[ -n "${AOTI_FUZZ_TARGETS:-}" ]]; then
  read -r -a targets <<<"${AOTI_FUZZ_TARGETS}"
else
  mapfile -t targets < <(bazel_fuzz query --noshow_progress \
    'attr(tags, "\bfuzz\b", //tests/fuzz:*) except //tests/fuzz:seed_corpus' 2>/dev/null |
    sed 's|^//tests/fuzz:||' | sort)
fi
labels=(//tests/fuzz:seed_corpus)
for t in "${targets[@]}"; do labels+=("//tests/fuzz:${t}"); done

echo "== building ${#targets[@]} fuzz targets (output base ${OUTPUT_BASE})"
build_start=$SECONDS
bazel_fuzz build --config=fuzz --jobs="${JOBS}" "${labels[@]}"
echo "== build took $((SECONDS - build_start)) s"
bin="$(bazel_fuzz info --config=fuzz bazel-bin 2>/dev/null)/tests/fuzz"

# Leaks are errors (detect_leaks); UBSan stops at its first report but for
# those tests/fuzz/ubsan.supp lists.
export ASAN_OPTIONS="detect_leaks=1:handle_abort=1:external_symbolizer_path=/usr/lib/llvm-14/bin/llvm-symbolizer"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=${ROOT}/tests/fuzz/ubsan.supp"

"${bin}/seed_corpus" "${WORK}/seeds"

run_start=$SECONDS
failed=()
summary=()
for t in "${targets[@]}"; do
  corpus="${WORK}/corpus/${t}"
  mkdir -p "${corpus}" "${WORK}/artifacts"
  dirs=("${corpus}" "${WORK}/seeds/${t}")
  # Inputs that once crashed a target: kept as its regression seeds.
  if [[ -d "${ROOT}/tests/fuzz/corpus/${t}" ]]; then
    dirs+=("${ROOT}/tests/fuzz/corpus/${t}")
  fi
  log="${WORK}/${t}.log"
  echo "== ${t}: ${BOUND} ${UNIT}"
  rc=0
  start=$SECONDS
  (cd "${WORK}" && "${bin}/${t}" "${limit[@]}" \
    -timeout=60 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="${WORK}/artifacts/${t}-" "${dirs[@]}") >"${log}" 2>&1 || rc=$?
  read -r cov ft < <(final_coverage "${log}")
  execs="$(stat_of "${log}" number_of_executed_units)"
  rate="$(stat_of "${log}" average_exec_per_sec)"
  summary+=("$(printf '%-26s %10s %8s %5s %7s %7s  %s' "${t}" "${execs:--}" \
    "${rate:--}" "$((SECONDS - start))" "${cov}" "${ft}" \
    "$([[ ${rc} == 0 ]] && echo ok || echo "FAILED (exit ${rc})")")")
  if [[ ${rc} != 0 ]]; then
    failed+=("${t}")
    echo "---- ${t} failed (exit ${rc}); the end of its log:"
    grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)' "${log}" | tail -60
    ls "${WORK}/artifacts/${t}-"* 2>/dev/null | sed 's/^/artifact: /' || true
    echo "----"
  fi
done

echo
echo "== summary (${BOUND} ${UNIT} per target, fuzzing took $((SECONDS - run_start)) s)"
printf '%-26s %10s %8s %5s %7s %7s  %s\n' target executions exec/s s cov ft result
printf '%s\n' "${summary[@]}"
if ((${#failed[@]} > 0)); then
  echo "FAILED: ${failed[*]} (crash inputs and logs kept in ${WORK})"
  AOTI_FUZZ_KEEP=1
  exit 1
fi
echo "all ${#targets[@]} fuzz targets ran clean"
