#!/usr/bin/env bash
# Regenerates tests/fixtures/pytorch-<version>/ from what the installed
# PyTorch generates for the test models: each model's extern-kernel JSON and
# the proxy calls of its generated wrapper (compile_models.py --fixtures).
# The engine's unit tests (tests/kernels:pytorch_output_test) run on them.
#
#   tests/models/regen_fixtures.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
deploy/install-deps.sh
bazel build --jobs=2 //tests/ops:libaoti_test_ops.so //tests/ops:libaoti_misbehaving_ops.so
version=$(.venv/bin/python -c 'import torch; print(".".join(torch.__version__.split("+")[0].split(".")[:2]))')
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
.venv/bin/python tests/models/compile_models.py \
  --ops bazel-bin/tests/ops/libaoti_test_ops.so \
  --ops bazel-bin/tests/ops/libaoti_misbehaving_ops.so \
  --out "$out" --fixtures "tests/fixtures/pytorch-$version"
echo "wrote tests/fixtures/pytorch-$version"
