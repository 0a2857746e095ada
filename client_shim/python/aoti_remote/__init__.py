"""aoti_remote: run AOTInductor packages with their extern kernels in aoti-executord.

A drop-in for ``torch._inductor.aoti_load_package``: the model's .so and
weights run in this process, every extern-kernel call (custom ops, ATen
fallbacks) in the daemon, so this process needs none of the custom-op
libraries::

    import aoti_remote
    model = aoti_remote.load_package("model.pt2",
                                     endpoint="unix:/run/aoti-executor/executor.sock")
    y = model(x)  # the exported module's own arguments

A run in which an extern call failed raises ``RuntimeError`` naming the node,
the op and the reason, and returns nothing. The endpoint, deadlines and the
other settings of the C library's environment variables
(AOTI_EXECUTOR_ENDPOINT, AOTI_EXECUTOR_CALL_TIMEOUT_MS, ...) apply.
"""

import os

import torch
import torch.utils._pytree as pytree
from torch.export._tree_utils import reorder_kwargs

__all__ = ["CompiledModel", "library_path", "load_library", "load_package"]

_LIBRARY_ENV = "AOTI_REMOTE_LIBRARY"
_loaded = None


def library_path():
    """Where libaoti_remote.so is: $AOTI_REMOTE_LIBRARY, else beside this
    package, else the repository's bazel-bin (a source checkout)."""
    path = os.environ.get(_LIBRARY_ENV)
    if path:
        return path
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [
        os.path.join(here, "libaoti_remote.so"),
        os.path.join(here, "..", "libaoti_remote.so"),
        os.path.join(here, "..", "..", "..", "bazel-bin", "client_shim",
                     "libaoti_remote.so"),
    ]
    for candidate in candidates:
        if os.path.exists(candidate):
            return os.path.normpath(candidate)
    raise RuntimeError(
        "aoti_remote: cannot find libaoti_remote.so; set $%s to its path "
        "(looked in %s)" % (_LIBRARY_ENV, ", ".join(
            os.path.normpath(c) for c in candidates)))


def load_library(path=None):
    """Loads libaoti_remote.so (once), which registers
    torch.classes.aoti_remote.ModelPackageLoader."""
    global _loaded
    if path is None and _loaded is not None:
        return _loaded
    path = os.path.abspath(path or library_path())
    if _loaded is None:
        torch.ops.load_library(path)
        _loaded = path
    elif _loaded != path:
        raise RuntimeError("aoti_remote: %s is loaded already; cannot load %s"
                           % (_loaded, path))
    return _loaded


class CompiledModel:
    """A package's model, called with the exported module's arguments."""

    def __init__(self, loader):
        # torch.classes.aoti_remote.ModelPackageLoader
        self.loader = loader
        in_spec, out_spec = loader.get_call_spec()
        self._in_spec = pytree.treespec_loads(in_spec)
        self._out_spec = pytree.treespec_loads(out_spec)

    def __call__(self, *args, **kwargs):
        flat = pytree.tree_flatten(
            (args, reorder_kwargs(kwargs, self._in_spec)))[0]
        inputs = [x for x in flat if isinstance(x, torch.Tensor)]
        return pytree.tree_unflatten(self.loader.run(inputs), self._out_spec)

    def get_metadata(self):
        return dict(self.loader.get_metadata())


def load_package(path, model_name="model", endpoint="", library=None):
    """Loads model `model_name` of the .pt2 at `path`, its extern kernels
    registered with the daemon at `endpoint` ("": $AOTI_EXECUTOR_ENDPOINT,
    then the default socket). Raises RuntimeError naming what was wrong."""
    load_library(library)
    loader = torch.classes.aoti_remote.ModelPackageLoader(
        os.fspath(path), model_name, endpoint)
    return CompiledModel(loader)
