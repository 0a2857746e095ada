"""A real AOTInductor package, run in-process and through aoti-executord,
in one run: latency p50/p99 of a whole model run and their ratio.

The package is tests/models' mlp.pt2: three linear layers with weights and
three extern custom-op calls between them (fn_with_default_input,
fn_with_tuple_output, fn_with_list_output), compiled at build time by the
installed PyTorch. The baseline is torch._inductor.aoti_load_package in this
process, with the op library loaded here; the remote run is
aoti_remote.load_package against a daemon started by this program with the
op library. Rounds alternate between the two, so both see the same
background load. The input is the one the tests compare on
(mlp.expected.pt), and the two ways must agree on it bit for bit first.

    bazel run //bench:real_model_benchmark -- [--runs=N] [--rounds=R]
"""

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zipfile

import torch

RUNFILES = os.getcwd()
sys.path.insert(0, os.path.join(RUNFILES, "client_shim", "python"))
import aoti_remote  # noqa: E402

PACKAGE = "tests/models/mlp.pt2"
EXPECTED = "tests/models/mlp.expected.pt"
DAEMON = "server/aoti-executord"
SHIM = "client_shim/libaoti_remote.so"
OPS = "tests/ops/libaoti_test_ops.so"


def extern_nodes(package):
    """The extern-kernel nodes of the package's model (one call each per
    run): the nodes of data/aotinductor/model/<key>.json."""
    with zipfile.ZipFile(package) as archive:
        for name in archive.namelist():
            if ("/data/aotinductor/model/" in name and name.endswith(".json")
                    and not name.endswith("_metadata.json")):
                return len(json.loads(archive.read(name))["nodes"])
    sys.exit("%s has no extern-kernel JSON" % package)


def start_daemon(socket_path):
    daemon = subprocess.Popen([
        os.path.join(RUNFILES, DAEMON), "--listen=unix:" + socket_path,
        "--log-level=warning", "--load-library=" + os.path.join(RUNFILES, OPS)
    ])
    while True:
        if daemon.poll() is not None:
            sys.exit("aoti-executord exited at start")
        try:
            with socket.socket(socket.AF_UNIX) as probe:
                probe.connect(socket_path)
            return daemon
        except OSError:
            time.sleep(0.05)


def time_runs(run, inputs, runs):
    """Per-run wall times in microseconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        run(*inputs)
        times.append((time.perf_counter_ns() - start) / 1000.0)
    return times


def percentile(sorted_values, fraction):
    index = min(len(sorted_values) - 1, int(fraction * len(sorted_values)))
    return sorted_values[index]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500,
                        help="model runs per round and way")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()

    torch.set_num_threads(1)
    calls_per_run = extern_nodes(os.path.join(RUNFILES, PACKAGE))
    directory = tempfile.mkdtemp(prefix="aoti-bench.", dir="/tmp")
    socket_path = os.path.join(directory, "executor.sock")
    daemon = start_daemon(socket_path)
    try:
        aoti_remote.load_library(os.path.join(RUNFILES, SHIM))
        remote = aoti_remote.load_package(os.path.join(RUNFILES, PACKAGE),
                                          endpoint="unix:" + socket_path)
        # The in-process baseline needs the op library in this process; the
        # remote loader never calls it (the daemon does).
        torch.ops.load_library(os.path.join(RUNFILES, OPS))
        local = torch._inductor.aoti_load_package(
            os.path.join(RUNFILES, PACKAGE))
        example = torch.load(os.path.join(RUNFILES,
                                          EXPECTED))["base"]["inputs"]
        ways = {"in-process": local, "aoti-executord": remote}
        with torch.no_grad():
            want = local(*example)
            got = remote(*example)
            if not torch.equal(got, want):
                sys.exit("remote output differs from the in-process run")
            times = {name: [] for name in ways}
            for name, run in ways.items():
                time_runs(run, example, args.warmup)
            for _ in range(args.rounds):
                for name, run in ways.items():
                    times[name] += time_runs(run, example, args.runs)
    finally:
        daemon.terminate()
        daemon.wait()
        shutil.rmtree(directory, ignore_errors=True)

    print("machine: %d CPUs, %s, torch %s, load average %s" %
          (os.cpu_count(), platform.platform(), torch.__version__,
           " ".join("%.2f" % x for x in os.getloadavg())))
    print("model: %s, input %s, %d extern calls per run, %d runs x %d rounds"
          " per way, alternating, torch threads 1" %
          (PACKAGE, "x".join(map(str, example[0].shape)),
           calls_per_run, args.runs, args.rounds))
    base = sorted(times["in-process"])
    print("%-16s %10s %10s %8s %8s" % ("way", "p50 us", "p99 us", "p50 x",
                                       "p99 x"))
    for name in ["in-process", "aoti-executord"]:
        values = sorted(times[name])
        print("%-16s %10.1f %10.1f %8.2f %8.2f" %
              (name, percentile(values, 0.5), percentile(values, 0.99),
               percentile(values, 0.5) / percentile(base, 0.5),
               percentile(values, 0.99) / percentile(base, 0.99)))
    added = (percentile(sorted(times["aoti-executord"]), 0.5) -
             percentile(base, 0.5)) / calls_per_run
    print("added per extern call (p50 difference / %d): %.1f us" %
          (calls_per_run, added))


if __name__ == "__main__":
    main()
