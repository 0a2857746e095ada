"""Real AOTInductor packages, run in-process and through aoti-executord, in
one run: latency p50/p99 of a whole model run, their ratio, and the cost
the daemon adds per extern call.

The packages are tests/models', compiled at build time by the installed
PyTorch:
  mlp.pt2           three linear layers with weights and three extern
                    custom-op calls between them (fn_with_default_input,
                    fn_with_tuple_output, fn_with_list_output);
  extern_stack.pt2  sixteen feed-forward blocks of a small transformer
                    (input 4x16x64, hidden 256) with the same three calls in
                    each: 48 extern calls per run, of 16 to 64 KiB tensors.
The baseline is torch._inductor.aoti_load_package in this process, with the
op library loaded here; the remote run is aoti_remote.load_package against a
daemon started by this program with the op library. Rounds alternate
between the two, so both see the same background load. The input is the one
the tests compare on (<model>.expected.pt), and the two ways must agree on
it bit for bit first. The cost added per extern call is the difference of
the p50s over the package's number of extern calls (the nodes of its
extern-kernel JSON). Context switches per extern call, by process, say
whether a side slept (wake-ups) or gave its CPU to another process (yields
or preemptions) while the calls ran.

    bazel run //bench:real_model_benchmark -- [--runs=N] [--rounds=R]
        [--model=mlp --model=extern_stack]
"""

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import zipfile

import torch

RUNFILES = os.getcwd()
sys.path.insert(0, os.path.join(RUNFILES, "client_shim", "python"))
import aoti_remote  # noqa: E402
from bench_daemon import start_daemon  # noqa: E402

MODELS = ["mlp", "extern_stack"]
SWITCHES = {"voluntary": "wake-ups", "nonvoluntary": "yields or preemptions"}
PACKAGES = "tests/models"
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


def context_switches(pid):
    """Each thread's context switches, by kind and its /proc path."""
    counts = {kind: {} for kind in SWITCHES}
    task = "/proc/%d/task" % pid
    for tid in os.listdir(task) if os.path.isdir(task) else []:
        try:
            with open(os.path.join(task, tid, "status")) as status:
                for line in status:
                    kind = line.split("_ctxt_switches:")[0]
                    if kind in SWITCHES:
                        counts[kind][tid] = int(line.split()[1])
        except OSError:
            pass  # exited meanwhile
    return counts


def children(pid):
    pids = []
    task = "/proc/%d/task" % pid
    for tid in os.listdir(task):
        try:
            with open(os.path.join(task, tid, "children")) as listed:
                pids += [int(child) for child in listed.read().split()]
        except OSError:
            pass
    return pids


class Switches:
    """The context switches of this process (client), the daemon and its
    workers over the runs between start() and stop() calls, by kind:
    voluntary (a thread blocked and was woken again) and nonvoluntary (a
    thread that could run gave up its CPU: preempted, or a sched_yield that
    let another process run)."""

    GROUPS = ["client", "daemon", "worker"]

    def __init__(self, daemon_pid):
        self.daemon_pid = daemon_pid
        self.total = {(kind, group): 0 for kind in SWITCHES
                      for group in self.GROUPS}
        self.before = None

    def snapshot(self):
        pids = {"client": [os.getpid()], "daemon": [self.daemon_pid],
                "worker": children(self.daemon_pid)}
        counts = {}
        for group in self.GROUPS:
            for pid in pids[group]:
                for kind, threads in context_switches(pid).items():
                    for tid, count in threads.items():
                        counts[kind, group, pid, tid] = count
        return counts

    def start(self):
        self.before = self.snapshot()

    def stop(self):
        for key, count in self.snapshot().items():
            self.total[key[:2]] += count - self.before.get(key, 0)

    def per_call(self, kind, calls):
        return ", ".join("%s %.2f" % (group, self.total[kind, group] / calls)
                         for group in self.GROUPS)


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


def flat(outputs):
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    return list(outputs)


def measure(name, endpoint, daemon_pid, args):
    """Alternating rounds of one package both ways: {way: [times]}, the
    context switches of both ways' runs, the example inputs and the number
    of extern calls per run."""
    package = os.path.join(RUNFILES, PACKAGES, name + ".pt2")
    calls_per_run = extern_nodes(package)
    remote = aoti_remote.load_package(package, endpoint=endpoint)
    local = torch._inductor.aoti_load_package(package)
    example = torch.load(os.path.join(RUNFILES, PACKAGES, name +
                                      ".expected.pt"))["base"]["inputs"]
    ways = {"in-process": local, "aoti-executord": remote}
    with torch.no_grad():
        want = flat(local(*example))
        got = flat(remote(*example))
        if len(got) != len(want) or not all(
                torch.equal(g, w) for g, w in zip(got, want)):
            sys.exit("%s: remote output differs from the in-process run" %
                     name)
        times = {way: [] for way in ways}
        switches = {way: Switches(daemon_pid) for way in ways}
        for way, run in ways.items():
            time_runs(run, example, args.warmup)
        for _ in range(args.rounds):
            for way, run in ways.items():
                switches[way].start()
                times[way] += time_runs(run, example, args.runs)
                switches[way].stop()
    return times, switches, example, calls_per_run


def report(name, times, switches, example, calls_per_run, args):
    print("model: %s/%s.pt2, input %s, %d extern calls per run, %d runs x %d"
          " rounds per way, alternating, torch threads 1" %
          (PACKAGES, name, "x".join(map(str, example[0].shape)),
           calls_per_run, args.runs, args.rounds))
    base = sorted(times["in-process"])
    print("%-16s %10s %10s %8s %8s" % ("way", "p50 us", "p99 us", "p50 x",
                                       "p99 x"))
    for way in ["in-process", "aoti-executord"]:
        values = sorted(times[way])
        print("%-16s %10.1f %10.1f %8.2f %8.2f" %
              (way, percentile(values, 0.5), percentile(values, 0.99),
               percentile(values, 0.5) / percentile(base, 0.5),
               percentile(values, 0.99) / percentile(base, 0.99)))
    added = (percentile(sorted(times["aoti-executord"]), 0.5) -
             percentile(base, 0.5)) / calls_per_run
    print("added per extern call (p50 difference / %d): %.1f us" %
          (calls_per_run, added))
    calls = args.runs * args.rounds * calls_per_run
    for way in ["in-process", "aoti-executord"]:
        for kind, what in SWITCHES.items():
            print("%s per extern call, %s: %s" %
                  (what, way, switches[way].per_call(kind, calls)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500,
                        help="model runs per round and way")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--model", action="append", choices=MODELS,
                        help="a package of tests/models (default: all)")
    args = parser.parse_args()

    torch.set_num_threads(1)
    directory = tempfile.mkdtemp(prefix="aoti-bench.", dir="/tmp")
    socket_path = os.path.join(directory, "executor.sock")
    daemon = start_daemon(os.path.join(RUNFILES, DAEMON), socket_path,
                          "--log-level=warning",
                          "--load-library=" + os.path.join(RUNFILES, OPS))
    results = {}
    try:
        aoti_remote.load_library(os.path.join(RUNFILES, SHIM))
        # The in-process baseline needs the op library in this process; the
        # remote loader never calls it (the daemon does).
        torch.ops.load_library(os.path.join(RUNFILES, OPS))
        for name in args.model or MODELS:
            results[name] = measure(name, "unix:" + socket_path,
                                    daemon.pid, args)
    finally:
        daemon.terminate()
        daemon.wait()
        shutil.rmtree(directory, ignore_errors=True)

    print("machine: %d CPUs, %s, torch %s, load average %s" %
          (os.cpu_count(), platform.platform(), torch.__version__,
           " ".join("%.2f" % x for x in os.getloadavg())))
    for i, (name, result) in enumerate(results.items()):
        if i:
            print()
        report(name, *result, args)


if __name__ == "__main__":
    main()
