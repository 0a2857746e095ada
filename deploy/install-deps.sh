#!/usr/bin/env bash
# Installs what aoti-executor builds and runs with: Debian 12's packages, and
# PyTorch (its libtorch, and the Python that compiles the tests' AOTInductor
# models) in a virtual environment of the repository, .venv/.
# Idempotent and quiet when everything is already there. apt needs root (or
# sudo).
#
#   AOTI_EXECUTOR_TORCH   the pip requirement for torch (torch==2.13.0)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  bazel-bootstrap bazel-rules-java
  g++ python3-dev python3-venv
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libssl-dev
  rapidjson-dev libspdlog-dev libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev
  libabsl-dev
  libsystemd-dev systemd
  prometheus-cpp-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Bazel's libtorch rule (third_party/libtorch.bzl) asks this Python for torch.
torch_requirement=${AOTI_EXECUTOR_TORCH:-torch==2.13.0}
[ -x .venv/bin/python ] || python3 -m venv .venv
# numpy silences torch's warning; pytest runs the Python tests;
# kubernetes-validate (with its bundled schemas) checks deploy/kubernetes/.
if ! .venv/bin/python -c 'import torch, numpy, pytest, prometheus_client, yaml, kubernetes_validate' 2>/dev/null; then
  echo "installing into .venv: $torch_requirement numpy pytest prometheus-client pyyaml kubernetes-validate"
  .venv/bin/pip install -q "$torch_requirement" numpy pytest prometheus-client pyyaml kubernetes-validate
fi
