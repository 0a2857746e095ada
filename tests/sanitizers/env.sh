# Sourced by tests/sanitizers/run.sh (and by hand before
# `bazel test --config=asan|tsan`): the sanitizer runtimes' options, with the
# suppression files of this directory by absolute path. --config=asan and
# --config=tsan pass these variables through to the tests (.bazelrc); every
# process a test starts (the daemon, its zygote and workers, peer clients)
# inherits them. Why each option is there: README.md.
#
#   . tests/sanitizers/env.sh
_aoti_sanitizers_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# handle_segv=0: a custom op's deliberate segfault must kill its worker with
# SIGSEGV, as it does in production, for the crash-isolation tests (ASan's
# handler would turn it into "exited with status 1").
export ASAN_OPTIONS="handle_segv=0:detect_leaks=1:check_initialization_order=1:strict_init_order=1"
export LSAN_OPTIONS="suppressions=$_aoti_sanitizers_dir/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="handle_segv=0:print_stacktrace=1:halt_on_error=1:suppressions=$_aoti_sanitizers_dir/ubsan.supp"
export TSAN_OPTIONS="handle_segv=0:halt_on_error=0:second_deadlock_stack=1:suppressions=$_aoti_sanitizers_dir/tsan.supp"
unset _aoti_sanitizers_dir
