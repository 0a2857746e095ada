"""aoti_fuzzer: a libFuzzer binary, built only with --config=fuzz.

Tagged `manual` so that `bazel build //...` and `bazel test //...` (gcc, no
libFuzzer) never pick it up, and `fuzz` so that it can be selected by tag.
"""

def aoti_fuzzer(name, srcs, deps = [], data = []):
    """cc_binary `name` whose main() is libFuzzer's.

    Args:
      name: the binary; tests/fuzz/run_fuzzers.sh runs every target tagged
        `fuzz` from its seeds (`corpus/<name>/` and what seed_corpus writes).
      srcs: the LLVMFuzzerTestOneInput file (one target per file).
      deps: what it fuzzes.
      data: files it loads at run time (found next to the binary, in its
        runfiles).
    """
    native.cc_binary(
        name = name,
        testonly = True,
        srcs = srcs,
        deps = deps,
        data = data,
        # The objects are built with -fsanitize=fuzzer-no-link (the fuzz
        # config); only the fuzzer binary gets libFuzzer's main().
        linkopts = ["-fsanitize=fuzzer"],
        tags = [
            "fuzz",
            "manual",
        ],
    )
