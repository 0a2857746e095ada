"""Convenience re-export of //cc:defs.bzl (the label Bazel itself loads)."""

load(
    "//cc:defs.bzl",
    _cc_binary = "cc_binary",
    _cc_import = "cc_import",
    _cc_library = "cc_library",
    _cc_proto_library = "cc_proto_library",
    _cc_test = "cc_test",
)

cc_binary = _cc_binary
cc_import = _cc_import
cc_library = _cc_library
cc_proto_library = _cc_proto_library
cc_test = _cc_test
