"""Compiles the demo model, which calls the custom op aoti_demo::soft_threshold
(libaoti_demo_ops.so) between two linear layers, into an AOTInductor
package, and records what the package computes in-process.

    demo_model.py --ops libaoti_demo_ops.so --out DIR

writes DIR/demo.pt2 and DIR/demo.expected.pt ({"inputs": [...], "outputs":
[...]}: the outputs of torch._inductor.aoti_load_package in this process,
which has loaded the op library). The hosts (run_demo.py, run_package.cc)
run the same package through aoti-executord and compare.
"""

import argparse
import os
import tempfile

import torch
from torch import nn


def register_fake():
    # torch.export traces with fake tensors: the op's output shape and dtype.
    @torch.library.register_fake("aoti_demo::soft_threshold")
    def _(x, threshold):
        return torch.empty_like(x)


class DemoModel(nn.Module):

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(16, 32)
        self.fc2 = nn.Linear(32, 8)

    def forward(self, x):
        h = torch.ops.aoti_demo.soft_threshold(self.fc1(x), 0.1)
        return torch.ops.aoti_demo.soft_threshold(self.fc2(h), 0.05)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", required=True, help="libaoti_demo_ops.so")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.ops.load_library(args.ops)
    register_fake()
    torch.manual_seed(0)
    model = DemoModel().eval()
    inputs = (torch.randn(4, 16),)
    package = os.path.join(args.out, "demo.pt2")
    # Inductor's cache stays out of $HOME.
    with tempfile.TemporaryDirectory() as cache:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
        program = torch.export.export(model, inputs)
        torch._inductor.aoti_compile_and_package(program, package_path=package)
        with torch.no_grad():
            outputs = torch._inductor.aoti_load_package(package)(*inputs)
            torch.testing.assert_close(outputs, model(*inputs))
    torch.save({"inputs": list(inputs), "outputs": [outputs]},
               os.path.join(args.out, "demo.expected.pt"))


if __name__ == "__main__":
    main()
