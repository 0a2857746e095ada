#!/usr/bin/env bash
# Installs, with apt, what --config=fuzz builds and runs with (run_fuzzers.sh,
# tests/sanitizers/ci.sh), unless it is there: clang-14, libFuzzer and the
# sanitizer runtimes (Debian 12 splits them into libclang-rt-14-dev), and
# llvm-symbolizer (llvm-14), which the runtimes run to put file:line in their
# reports' stacks.
set -euo pipefail
if command -v clang-14 >/dev/null &&
  compgen -G "/usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" >/dev/null &&
  [[ -x /usr/lib/llvm-14/bin/llvm-symbolizer ]]; then
  exit 0
fi
echo "== installing clang-14, libFuzzer and llvm-symbolizer"
sudo=""
if [[ "$(id -u)" != 0 ]]; then sudo="sudo"; fi
${sudo} env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
  clang-14 libclang-rt-14-dev llvm-14
