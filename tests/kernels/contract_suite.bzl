"""A contract suite of the engine, run over each way of reaching it."""

# The remote variants: each starts its own aoti-executord (remote_main.cc)
# and differs only in the --call_path its main() is given.
_REMOTE_VARIANTS = {
    # The daemon's defaults: small calls over call lanes.
    "_remote_test": "lanes",
    # --call-lanes=0: the whole contract over the Call RPC.
    "_remote_rpc_test": "rpc",
}

def contract_suite(name, srcs, deps, data = [], size = "small"):
    """Declares <name>_test (in-process) and one test per remote variant.

    Args:
      name: the suite, e.g. "custom_ops".
      srcs: its sources, shared by every variant.
      deps: what the sources need, less a main().
      data: runfiles of every variant.
      size: of every variant.
    """
    native.cc_test(
        name = name + "_test",
        size = size,
        srcs = srcs,
        data = data,
        deps = deps + ["//third_party:gtest_main"],
    )
    for suffix, call_path in _REMOTE_VARIANTS.items():
        native.cc_test(
            name = name + suffix,
            size = size,
            srcs = srcs,
            args = ["--call_path=" + call_path],
            data = data,
            deps = deps + [":remote_main"],
        )
