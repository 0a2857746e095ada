# Runs argv[1:] under the seccomp filter that systemd 252 installs for
# MemoryDenyWriteExecute=yes (src/shared/seccomp-util.c): mmap asking for
# PROT_WRITE|PROT_EXEC, and mprotect / pkey_mprotect adding PROT_EXEC, fail
# with EPERM. x86-64 only; needs no privilege (no_new_privs is set first).
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
class F(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]
class P(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(F))]
LD, JEQ, JSET, AND, RET = 0x20, 0x15, 0x45, 0x54, 0x06
ALLOW, EPERM = 0x7fff0000, 0x00050001
prog = [
    F(LD, 0, 0, 4),                 # 0 arch
    F(JEQ, 0, 4, 0xc000003e),       # 1 x86-64 else -> 6 allow
    F(LD, 0, 0, 0),                 # 2 nr
    F(JEQ, 4, 0, 9),                # 3 mmap -> 8
    F(JEQ, 6, 0, 10),               # 4 mprotect -> 11
    F(JEQ, 5, 0, 329),              # 5 pkey_mprotect -> 11
    F(RET, 0, 0, ALLOW),            # 6
    F(RET, 0, 0, ALLOW),            # 7 (pad)
    F(LD, 0, 0, 32),                # 8 args[2] (prot)
    F(AND, 0, 0, 6),                # 9
    F(JEQ, 3, 2, 6),                # 10 W|X -> 14 eperm else -> 13 allow
    F(LD, 0, 0, 32),                # 11 args[2]
    F(JSET, 1, 0, 4),               # 12 X -> 14 else 13
    F(RET, 0, 0, ALLOW),            # 13
    F(RET, 0, 0, EPERM),            # 14
]
arr = (F * len(prog))(*prog)
p = P(len(prog), arr)
assert libc.prctl(38, 1, 0, 0, 0) == 0  # PR_SET_NO_NEW_PRIVS
assert libc.prctl(22, 2, ctypes.byref(p), 0, 0) == 0, ctypes.get_errno()  # PR_SET_SECCOMP, FILTER
os.execv(sys.argv[1], sys.argv[1:])
