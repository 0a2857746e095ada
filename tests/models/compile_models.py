"""Compiles the test models (models.py) into AOTInductor packages.

For each model it writes, into --out:
  <name>.pt2            the package (torch._inductor.aoti_compile_and_package)
  <name>.expected.pt    per case: the inputs, the outputs of the package run
                        in-process (torch._inductor.aoti_load_package, with
                        the op libraries loaded here) and the inputs as the
                        run left them (mutated ones changed). The eager
                        module's outputs must match them (allclose); the
                        tests compare our loader's bit for bit. Where
                        PyTorch's own proxy executor fails the run, the
                        eager outputs are the reference and "reference"
                        says why.
With --fixtures DIR it also writes what PyTorch generated, for the engine's
unit tests: <name>.json (the extern-kernel nodes) and <name>.calls.json (each
aoti_torch_proxy_executor_call_function call of the generated wrapper:
node index, int count, the int arguments as written, tensor count).

  python compile_models.py --ops libaoti_test_ops.so \
      --ops libaoti_misbehaving_ops.so --out DIR [--fixtures DIR]
"""

import argparse
import json
import os
import re
import sys
import tempfile
import zipfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402


def model_files(package, suffix):
    with zipfile.ZipFile(package) as archive:
        names = [n for n in archive.namelist()
                 if "/data/aotinductor/model/" in n and n.endswith(suffix)]
        return {n: archive.read(n).decode() for n in names}


# aoti_torch_proxy_executor_call_function(proxy_executor, 7, 3,
#     std::array<int64_t, 3>{5, 1, s0}.data(), 2, ...)
# (std::vector<int64_t>{...}.data() in older releases)
CALL = re.compile(
    r"aoti_torch_proxy_executor_call_function\(\s*proxy_executor,\s*(\d+),\s*"
    r"(\d+),\s*(?:std::array<int64_t,\s*\d+>|std::vector<int64_t>)"
    r"\{([^}]*)\}\.data\(\),\s*(\d+),")


def generated_calls(wrapper_cpp):
    calls = []
    for index, num_ints, ints, num_tensors in CALL.findall(wrapper_cpp):
        values = [v.strip() for v in ints.split(",") if v.strip()]
        calls.append({
            "extern_node_index": int(index),
            "num_ints": int(num_ints),
            # A literal, or the expression of a size known at run time.
            "ints": [int(v.rstrip("L")) if re.fullmatch(r"-?\d+L?", v) else v
                     for v in values],
            "num_tensors": int(num_tensors),
        })
    return calls


def write_fixtures(name, package, directory):
    os.makedirs(directory, exist_ok=True)
    jsons = {n: t for n, t in model_files(package, ".json").items()
             if not n.endswith("_metadata.json")}
    (text,) = jsons.values()
    with open(os.path.join(directory, name + ".json"), "w") as f:
        json.dump(json.loads(text), f, indent=1, sort_keys=True)
        f.write("\n")
    wrappers = {n: t for n, t in model_files(package, ".cpp").items()
                if n.endswith(".wrapper.cpp") or "kernel" not in n}
    calls = [c for t in wrappers.values() for c in generated_calls(t)]
    with open(os.path.join(directory, name + ".calls.json"), "w") as f:
        json.dump({"torch": torch.__version__, "calls": calls}, f, indent=1)
        f.write("\n")


def clone(values):
    return [v.clone() for v in values]


def flat(outputs):
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    return [o for o in torch.utils._pytree.tree_leaves(outputs)]


def compile_one(name, module, example, dynamic_shapes, cases, out):
    program = torch.export.export(module, example,
                                  dynamic_shapes=dynamic_shapes)
    package = os.path.join(out, name + ".pt2")
    torch._inductor.aoti_compile_and_package(program, package_path=package)
    compiled = torch._inductor.aoti_load_package(package)
    expected = {}
    for case, inputs in cases.items():
        eager_inputs, compiled_inputs = clone(inputs), clone(inputs)
        with torch.no_grad():
            eager = flat(module(*eager_inputs))
        try:
            outputs = flat(compiled(*compiled_inputs))
            reference = "in-process"
        except RuntimeError as error:
            outputs, compiled_inputs = eager, eager_inputs
            reference = "eager: aoti_load_package failed: " + str(
                error).splitlines()[0]
            print(f"{name} {case}: {reference}", flush=True)
        for got, want in zip(outputs + compiled_inputs, eager + eager_inputs):
            torch.testing.assert_close(got, want, msg=lambda m: f"{name} "
                                       f"{case}: in-process package vs "
                                       f"eager: {m}")
        expected[case] = {
            "inputs": clone(inputs),
            "outputs": outputs,
            "inputs_after": compiled_inputs,
            "reference": reference,
        }
    torch.save(expected, os.path.join(out, name + ".expected.pt"))
    return package


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", action="append", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--fixtures")
    parser.add_argument("--only", action="append")
    args = parser.parse_args()
    for library in args.ops:
        torch.ops.load_library(library)
    models.register_fakes()
    os.makedirs(args.out, exist_ok=True)
    # Inductor's cache stays out of $HOME and is never shared between runs.
    with tempfile.TemporaryDirectory() as cache:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
        for name, (module, example, dynamic_shapes,
                   cases) in models.models().items():
            if args.only and name not in args.only:
                continue
            package = compile_one(name, module, example, dynamic_shapes, cases,
                                  args.out)
            if args.fixtures:
                write_fixtures(name, package, args.fixtures)
            print(f"compiled {name}: {package}", flush=True)


if __name__ == "__main__":
    main()
