"""Build settings every library of the client shim shares."""

# Only the C ABI leaves libaoti_remote.so (aoti_remote.map); everything else
# is hidden, so a host's own copies of gRPC, protobuf or abseil never clash
# with ours.
SHIM_COPTS = [
    "-fvisibility=hidden",
    "-fvisibility-inlines-hidden",
]

# Who may link the shim's parts directly: the shim itself, and tests and
# benchmarks, which link them statically (hidden symbols cannot cross a
# shared library's boundary).
SHIM_VISIBILITY = [
    "//bench:__subpackages__",
    "//client_shim:__subpackages__",
    "//tests:__subpackages__",
]
