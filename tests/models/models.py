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


def _optional(value, length):
    """An optional's record length: kNone (1) when absent."""
    return 1 if value is None else length(value)


def _list(values):
    return 1 + len(values)


def _strings(values):
    return 1 + sum(1 + len(s) for s in values)


def _scalars(values):
    return 1 + 2 * len(values)  # a type tag and a value each


def _all_inputs_length(tensor, tensors, optional_tensors, b8, b8s, i64, i64s,
                       symint, symints, f64, f64s, scalar, scalars, string,
                       strings, device, *, o_tensor, o_tensors, o_b8, o_b8s,
                       o_i64, o_i64s, o_symint, o_symints, o_f64, o_f64s,
                       o_scalar, o_scalars, o_string, o_strings, o_device):
    """The record length of tests/ops' FnWithAllInputs, in schema order."""
    one = lambda _: 1  # noqa: E731
    return (1 + _list(tensors) + _list(optional_tensors) + 1 + _list(b8s) +
            1 + _list(i64s) + 1 + _list(symints) + 1 + _list(f64s) + 2 +
            _scalars(scalars) + 1 + len(string) + _strings(strings) + 2 +
            _optional(o_tensor, one) + _optional(o_tensors, _list) +
            _optional(o_b8, one) + _optional(o_b8s, _list) +
            _optional(o_i64, one) + _optional(o_i64s, _list) +
            _optional(o_symint, one) + _optional(o_symints, _list) +
            _optional(o_f64, one) + _optional(o_f64s, _list) +
            _optional(o_scalar, lambda _: 2) +
            _optional(o_scalars, _scalars) +
            _optional(o_string, lambda s: 1 + len(s)) +
            _optional(o_strings, _strings) + _optional(o_device, lambda _: 2))


def register_fakes():
    """Fake implementations of the custom ops the models use."""
    lib = "aoti_test::"

    @torch.library.register_fake(lib + "fn_with_all_inputs")
    def _(tensor, *args, **kwargs):
        return _record(_all_inputs_length(tensor, *args, **kwargs), tensor)

    @torch.library.register_fake(lib + "fn_with_mix_outputs")
    def _(t, tensors):
        return torch.empty_like(t), [torch.empty_like(x) for x in tensors]

    @torch.library.register_fake(lib + "fn_with_optional_tensor_output")
    def _(t1, t2):
        return torch.empty_like(t1), torch.empty_like(t1), None

    @torch.library.register_fake(lib + "fn_with_int_output")
    def _(t1, t2, i):
        return torch.empty_like(t1), torch.empty_like(t1), None, i, i * 2

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


class AllInputs(nn.Module):
    """PyTorch's own AOTI custom-op test schemas (test/inductor/custom_ops.cpp):
    fn_with_all_inputs with every argument kind, None inside a Tensor?[],
    sizes that are SymInts, a list return, a None return and int returns.

    PyTorch 2.13's in-process proxy executor cannot run this package (it
    casts the Scalar[] argument to List<Scalar> and fails), so its reference
    is the eager module."""

    def forward(self, x, y):
        ops = torch.ops.aoti_test
        n = x.shape[0]
        record = ops.fn_with_all_inputs(
            x, [x, y], [x, None, y], True, [False, True], 7, [8, 9], n,
            [n, n * 2], 1.5, [2.5, -0.5], 3, [4.5, 5.5], "str", ["a", "bc"],
            torch.device("cpu"),
            o_tensor=None, o_tensors=[y], o_b8=None, o_b8s=[True], o_i64=None,
            o_i64s=[1], o_symint=n, o_symints=None, o_f64=2.0, o_f64s=None,
            o_scalar=None, o_scalars=[1.5], o_string="o", o_strings=None,
            o_device=None)
        m, ms = ops.fn_with_mix_outputs(x, [x, y])
        p, q, _ = ops.fn_with_optional_tensor_output(x, y)
        s, t, _, i, j = ops.fn_with_int_output(x, y, 3)
        return record, m + ms[1], p * q, s * t + i * j


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


class FeedForward(nn.Module):
    """A transformer's feed-forward block (pre-norm, residual, a gated SiLU)
    with three custom-op calls between its ATen ops, each the identity on
    its values: one tensor in and out, one in and two out, two in and out."""

    def __init__(self, width, hidden):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.up = nn.Linear(width, hidden)
        self.down = nn.Linear(hidden, width)

    def forward(self, x):
        ops = torch.ops.aoti_test
        h = ops.fn_with_default_input(self.up(self.norm(x)), 1)  # h * 1
        a, g = ops.fn_with_tuple_output(h, 1)  # h + 1, h * 1
        h = self.down((a - 1) * nn.functional.silu(g))
        h, r = ops.fn_with_list_output([h, x], 0)  # h - 0, x - 0
        return r + h


class ExternStack(nn.Module):
    """Many extern calls: a stack of feed-forward blocks of a small
    transformer (width 64, hidden 256) on a batch of 4 sequences of 16
    tokens, three extern calls a block, with the ATen ops the compiler
    lowers (layer norms, linears, SiLU, residual adds) between them. The
    blocks have the same shapes, so the compiler generates each kernel once
    and the build stays short."""

    BLOCKS = 16

    def __init__(self, width=64, hidden=256):
        super().__init__()
        self.blocks = nn.ModuleList(
            FeedForward(width, hidden) for _ in range(self.BLOCKS))
        self.norm = nn.LayerNorm(width)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


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
        "all_inputs": (AllInputs(), (_seeded(9, 4, 3), _seeded(10, 4, 3)),
                       ({0: dim}, {0: dim}), {
                           "n4": (_seeded(9, 4, 3), _seeded(10, 4, 3)),
                           "n9": (_seeded(11, 9, 3), _seeded(12, 9, 3)),
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
        "extern_stack": (ExternStack().eval(), (_seeded(13, 4, 16, 64),),
                         None, {
                             "base": (_seeded(13, 4, 16, 64),)
                         }),
    }
