"""How long aoti-executord takes to stop (SIGTERM to exit) with idle clients
connected, against with none, in one run.

Each client is a process holding executors of tests/fixtures/aten_ops.json
through libaoti_remote.so and doing nothing for 2 s before the signal. gRPC
1.51's graceful shutdown alone waited for every idle client to acknowledge a
GOAWAY, which an idle gRPC client reads only when its backup poller runs
(every 5 s): the daemon drains its own RPCs instead
(server/service/rpc_drain.h).

    bazel run //bench:daemon_stop_benchmark
"""

import os
import signal
import subprocess
import sys
import tempfile
import time

from bench_daemon import start_daemon

RUNFILES = os.getcwd()
DAEMON = os.path.join(RUNFILES, "server/aoti-executord")
SHIM = os.path.join(RUNFILES, "client_shim/libaoti_remote.so")
JSON = os.path.join(RUNFILES, "tests/fixtures/aten_ops.json")
ROUNDS = 3
IDLE_SECONDS = 2.0

# A client: creates EXECUTORS executors, says so, then idles until killed.
HOLDER = r"""
import ctypes, sys, time
import torch  # loads libtorch for the shim
shim = ctypes.CDLL(sys.argv[1])
shim.aoti_remote_last_error.restype = ctypes.c_char_p
held = []
for _ in range(int(sys.argv[4])):
    handle = ctypes.c_void_p()
    if shim.aoti_remote_executor_create(sys.argv[2].encode(),
                                        sys.argv[3].encode(), b"cpu",
                                        ctypes.byref(handle)) != 0:
        sys.exit("create failed: %s" % shim.aoti_remote_last_error())
    held.append(handle)
print("holding", flush=True)
time.sleep(3600)
"""


def time_stop(clients, directory):
    """Seconds from SIGTERM to the daemon's exit with `clients` idle."""
    socket_path = os.path.join(directory, "executor.sock")
    daemon = start_daemon(DAEMON, socket_path, "--log-level=warning")
    holders = []
    for _ in range(clients):
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER, SHIM, "unix:" + socket_path, JSON,
             "1"], stdout=subprocess.PIPE, text=True)
        if holder.stdout.readline().strip() != "holding":
            sys.exit("a client could not create its executor")
        holders.append(holder)
    time.sleep(IDLE_SECONDS)
    start = time.monotonic()
    daemon.send_signal(signal.SIGTERM)
    code = daemon.wait()
    seconds = time.monotonic() - start
    for holder in holders:
        holder.kill()
        holder.wait()
    if code != 0:
        sys.exit("aoti-executord exited with %d" % code)
    return seconds


def main():
    counts = [0, 1, 3]
    times = {count: [] for count in counts}
    with tempfile.TemporaryDirectory(prefix="aoti-stop-bench-") as directory:
        for _ in range(ROUNDS):
            for count in counts:
                times[count].append(time_stop(count, directory))
    print("SIGTERM to exit, %d rounds, clients idle %.0f s before it "
          "(ratio: median / median with no client)" % (ROUNDS, IDLE_SECONDS))
    print("%-20s %10s %10s %8s" % ("idle clients", "median s", "max s",
                                   "ratio"))
    base = sorted(times[0])[ROUNDS // 2]
    for count in counts:
        median = sorted(times[count])[ROUNDS // 2]
        print("%-20d %10.3f %10.3f %7.2fx" % (count, median, max(times[count]),
                                              median / base))


if __name__ == "__main__":
    main()
