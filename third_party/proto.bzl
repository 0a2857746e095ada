"""cc_grpc_proto: C++ protobuf + gRPC code from one .proto, with system protoc.

Bazel 4.2.3 offline has no protobuf/grpc rule repositories, so a genrule runs
/usr/bin/protoc with /usr/bin/grpc_cpp_plugin (Debian protobuf-compiler,
protobuf-compiler-grpc) and a cc_library wraps the output.

Usage (proto/BUILD.bazel):

    load("//third_party:proto.bzl", "cc_grpc_proto")

    cc_grpc_proto(
        name = "executor_cc_grpc",
        src = "executor.proto",
        visibility = ["//visibility:public"],
    )

and from any package: `#include "proto/executor.pb.h"` and
`#include "proto/executor.grpc.pb.h"` with deps = ["//proto:executor_cc_grpc"].

Protos are compiled with the workspace root as import path, so a proto imports
another one by its workspace path (`import "proto/common.proto";`) and lists
the other's cc_grpc_proto target in `deps`. Well-known types
(`google/protobuf/*.proto`) come from /usr/include.
"""

def _srcs_label(dep):
    """Label of the `<name>_srcs` filegroup that cc_grpc_proto(name) defines."""
    if ":" in dep:
        return dep + "_srcs"
    return dep + ":" + dep.split("/")[-1] + "_srcs"

def cc_grpc_proto(name, src, deps = [], grpc = True, visibility = None, **kwargs):
    """C++ library `name` with the protobuf (and gRPC) code generated from `src`.

    Args:
      name: the cc_library; also defines `<name>_codegen` (genrule) and
        `<name>_srcs` (filegroup: this .proto plus those of deps).
      src: one .proto file in this package.
      deps: other cc_grpc_proto targets whose .proto files `src` imports.
      grpc: also generate the gRPC service code (X.grpc.pb.h/.cc).
      visibility: visibility of the cc_library and the filegroup.
      **kwargs: passed on to the cc_library (e.g. testonly, tags).
    """
    if not src.endswith(".proto"):
        fail("cc_grpc_proto: src must be a .proto file, got " + src)
    base = src[:-len(".proto")]
    outs = [base + ".pb.h", base + ".pb.cc"]
    if grpc:
        outs += [base + ".grpc.pb.h", base + ".grpc.pb.cc"]

    native.filegroup(
        name = name + "_srcs",
        srcs = [src] + [_srcs_label(d) for d in deps],
        visibility = visibility,
        testonly = kwargs.get("testonly", False),
    )

    cmd = ("/usr/bin/protoc -I. -I/usr/include" +
           " --cpp_out=$(GENDIR)")
    if grpc:
        cmd += (" --plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin" +
                " --grpc_out=$(GENDIR)")
    cmd += " $(execpath " + src + ")"

    native.genrule(
        name = name + "_codegen",
        srcs = [src] + [_srcs_label(d) for d in deps],
        outs = outs,
        cmd = cmd,
        message = "protoc " + src,
        visibility = ["//visibility:private"],
        testonly = kwargs.get("testonly", False),
    )

    lib_deps = list(deps) + ["//third_party:protobuf"]
    if grpc:
        lib_deps.append("//third_party:grpcpp")

    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        deps = lib_deps,
        visibility = visibility,
        **kwargs
    )
