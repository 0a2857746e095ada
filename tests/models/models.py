"""The real models the tests compile with AOTInductor, and their inputs.

Each model calls custom ops of //tests/ops (libaoti_test_ops.so: PyTorch's
own AOTI custom-op test schemas, and one op per argument kind;
libaoti_misbehaving_ops.so: an op that crashes on negative input) between
ATen ops, so that the compiled package makes real extern-kernel calls. The
custom ops' fake implementations, which torch.export needs, are here too:
each gives the output the C++ op gives, in shape and dtype.
"""

import torch
from torch import nn

# Record ops (tests/ops/record.h) return float64 vectors whose length follows
# from their arguments' structure: one value per tensor, list lengths and
# elements, string lengths and characters.


def _record(length, like):
    return like.new_empty((length,), dtype=torch.float64)


def register_fakes():
    """Fake implementations of the custom ops the models use."""
    lib = "aoti_test::"

    @torch.library.register_fake(lib + "fn_with_default_input")
    def _(t, i=3):
        return torch.empty_like(t)

    @torch.library.register_fake(lib + "fn_with_tuple_output")
    def _(t, i):
        return torch.empty_like(t), torch.empty_like(t)

    @torch.library.register_fake(lib + "fn_with_list_output")
    def _(tensors, i):
        return [torch.empty_like(t) for t in tensors]

    @torch.library.register_fake(lib + "fn_with_input_mutation")
    def _(t0, t1, t2):
        return torch.empty_like(t1), torch.empty_like(t1)

    @torch.library.register_fake(lib + "fn_out_variant_without_return")
    def _(x, out):
        return None

    @torch.library.register_fake(lib + "encode_statics")
    def _(f, b, s, dtype, layout, memory_format, device):
        # f, b, len(s) and its characters, dtype, layout, format, device (2)
        return torch.empty((3 + len(s) + 3 + 2,), dtype=torch.float64)

    @torch.library.register_fake(lib + "encode_symints")
    def _(n, ns, maybe_n=None):
        return torch.empty((1 + 1 + len(ns) + 1,), dtype=torch.float64)

    @torch.library.register_fake(lib + "encode_kwarg_defaults")
    def _(x, *, a=2, b=0.5, mode="sum", dims=(1, 2), flag=True, dtype=None):
        # x, a, b, mode (length, characters), dims (length, elements), flag,
        # dtype
        return _record(1 + 1 + 1 + 1 + len(mode) + 1 + len(dims) + 1 + 1, x)

    @torch.library.register_fake(lib + "encode_optionals")
    def _(t, i, f, dtype, device):
        # t, i, f, dtype, then the device: None (1 value) or type and index
        return torch.empty((4 + (1 if device is None else 2),),
                           dtype=torch.float64)

    @torch.library.register_fake(lib + "always_throws")
    def _(x):
        return torch.empty_like(x)

    @torch.library.register_fake("misbehaving::plus_one_or_segfault")
    def _(x):
        return torch.empty_like(x)


class CustomOps(nn.Module):
    """Every kind of argument and return the compiler passes to extern
    kernels: defaulted and kwarg-only ints, tuple and list returns, mutated
    inputs (an intermediate, and a model input), enums, optionals, None."""

    def forward(self, x, y, z, out):
        ops = torch.ops.aoti_test
        a = ops.fn_with_default_input(x)
        b, c = ops.fn_with_tuple_output(a, 2)
        listed = ops.fn_with_list_output([b, c, y], 1)
        t0 = x.clone()
        d, e = ops.fn_with_input_mutation(t0, y, z)
        ops.fn_out_variant_without_return(a.sin(), out)
        statics = ops.encode_statics(0.25, True, "hi", torch.float16,
                                     torch.strided, torch.channels_last,
                                     torch.device("cpu"))
        kwargs = ops.encode_kwarg_defaults(y, a=5)
        optionals = ops.encode_optionals(None, 7, 1.5, torch.int32, None)
        return (listed[0] + d, listed[1] * e, listed[2], t0, statics, kwargs,
                optionals)


class Dynamic(nn.Module):
    """Sizes that are known only at run time: SymInt arguments."""

    def forward(self, x):
        n = x.shape[0]
        h = torch.ops.aoti_test.fn_with_default_input(x.cos(), 2)
        symints = torch.ops.aoti_test.encode_symints(n, [n * 2, x.shape[1]],
                                                     n + 1)
        return h.sum(dim=1), symints


class Mlp(nn.Module):
    """A model with weights: linear layers with custom ops between them."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 128)
        self.fc2 = nn.Linear(128, 128)
        self.fc3 = nn.Linear(128, 16)

    def forward(self, x):
        h = torch.ops.aoti_test.fn_with_default_input(self.fc1(x), 2)
        h, g = torch.ops.aoti_test.fn_with_tuple_output(h.relu(), 1)
        h = self.fc2(h * g.sigmoid())
        h = torch.ops.aoti_test.fn_with_list_output([h.tanh()], 3)[0]
        return self.fc3(h)


class Crashing(nn.Module):
    """An op that crashes on negative input, between two layers."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 8)
        self.fc2 = nn.Linear(8, 4)

    def forward(self, x, gate):
        h = torch.ops.misbehaving.plus_one_or_segfault(self.fc1(x).abs() +
                                                       gate)
        return self.fc2(h)


class Throwing(nn.Module):
    """An op that always fails: the run must fail, naming it."""

    def forward(self, x):
        return torch.ops.aoti_test.always_throws(x.exp()) + 1


def _seeded(seed, *shape):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator)


def models():
    """name -> (module, example inputs, dynamic_shapes, {case: inputs})."""
    torch.manual_seed(0)
    custom_inputs = (_seeded(1, 3, 4), _seeded(2, 3, 4), _seeded(3, 3, 4),
                     torch.zeros(3, 4))
    dim = torch.export.Dim("n", min=2, max=64)
    return {
        "custom_ops": (CustomOps(), custom_inputs, None, {
            "base": custom_inputs
        }),
        "dynamic": (Dynamic(), (_seeded(4, 5, 3),), ({
            0: dim
        },), {
            "n5": (_seeded(4, 5, 3),),
            "n17": (_seeded(5, 17, 3),),
        }),
        "mlp": (Mlp().eval(), (_seeded(6, 32, 64),), None, {
            "base": (_seeded(6, 32, 64),)
        }),
        "crashing": (Crashing().eval(), (_seeded(7, 2, 8), torch.zeros(2, 8)),
                     None, {
                         "base": (_seeded(7, 2, 8), torch.zeros(2, 8))
                     }),
        "throwing": (Throwing(), (_seeded(8, 4),), None, {}),
    }
