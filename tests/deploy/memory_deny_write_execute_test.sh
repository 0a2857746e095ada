#!/usr/bin/env bash
# Why deploy/systemd/aoti-executord.service has no MemoryDenyWriteExecute=yes:
# under the same seccomp filter systemd installs for it (mdwe_exec.py),
# libtorch's CPU convolution fails (oneDNN writes its kernels at run time),
# and the workers run such ops. Plain ops still work, which shows the filter
# is not simply breaking torch. If the convolution ever works under it,
# libtorch no longer needs W+X memory: add the option to the unit.
#
#   memory_deny_write_execute_test.sh PYTHON
set -euo pipefail
python=$1
here=$(dirname "$0")
output=$("$python" "$here/mdwe_exec.py" "$python" "$here/libtorch_under_mdwe.py" 2>&1)
echo "$output"
expect() {
  grep -q "$1" <<<"$output" || { echo "expected: $1" >&2; exit 1; }
}
expect '^mmap RWX: refused$'
expect '^mm ok$'
expect '^softmax ok$'
expect '^conv2d FAILED'
echo PASS
