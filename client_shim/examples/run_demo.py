"""The Python host of the demo: runs demo.pt2 through aoti-executord with
aoti_remote.load_package, in a process that has not loaded the op library,
and compares with the in-process run that demo_model.py recorded.

    run_demo.py DIR ENDPOINT [LIBAOTI_REMOTE_SO]
"""

import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "python"))
import aoti_remote  # noqa: E402


def main():
    directory, endpoint = sys.argv[1], sys.argv[2]
    library = sys.argv[3] if len(sys.argv) > 3 else None
    expected = torch.load(os.path.join(directory, "demo.expected.pt"))
    model = aoti_remote.load_package(os.path.join(directory, "demo.pt2"),
                                     endpoint=endpoint, library=library)
    with open("/proc/self/maps") as maps:
        if "libaoti_demo_ops.so" in maps.read():
            sys.exit("the host has loaded the op library: not a remote run")
    with torch.no_grad():
        got = model(*expected["inputs"])
    want = expected["outputs"][0]
    same = torch.equal(got, want)
    print("python host: demo.pt2 through aoti-executord, output %s: %s the "
          "in-process run" % ("x".join(map(str, got.shape)),
                               "bit for bit equal to" if same else
                               "DIFFERENT from"))
    print(got[0])
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
