"""What libtorch's CPU ops do under MemoryDenyWriteExecute (mdwe_exec.py):
prints one "<name> ok" or "<name> FAILED <why>" line per op, after a line
saying whether the filter refused a writable and executable mapping."""
import ctypes

import torch

libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
# PROT_READ|PROT_WRITE|PROT_EXEC, MAP_PRIVATE|MAP_ANONYMOUS.
mapped = libc.mmap(None, 4096, 7, 0x22, -1, 0)
refused = mapped in (None, ctypes.c_void_p(-1).value)
print("mmap RWX:", "refused" if refused else "allowed")

x = torch.randn(8, 3, 32, 32)
w = torch.randn(16, 3, 3, 3)
ops = [
    # oneDNN generates its convolution kernels at run time (xbyak).
    ("conv2d", lambda: torch.nn.functional.conv2d(x, w)),
    ("mm", lambda: torch.randn(256, 256) @ torch.randn(256, 256)),
    ("softmax", lambda: torch.softmax(torch.randn(64, 128), 1)),
]
for name, op in ops:
    try:
        op()
        print(name, "ok")
    except Exception as error:  # the op's own error, whatever its type
        print(name, "FAILED", str(error).splitlines()[0])
