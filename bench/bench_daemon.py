"""aoti-executord started for a benchmark: the binary from the runfiles
tree, on a Unix socket, returned once the socket accepts connections."""

import socket
import subprocess
import sys
import time


def start_daemon(binary, socket_path, *flags):
    daemon = subprocess.Popen([binary, "--listen=unix:" + socket_path] +
                              list(flags))
    while True:
        if daemon.poll() is not None:
            sys.exit("aoti-executord exited at start")
        try:
            with socket.socket(socket.AF_UNIX) as probe:
                probe.connect(socket_path)
            return daemon
        except OSError:
            time.sleep(0.05)
