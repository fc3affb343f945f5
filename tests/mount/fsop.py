#!/usr/bin/python3
"""fsop.py OP ARGS...: make one system call and print OK or the name of its errno.

The mount tests use it to assert errno values (lib.sh's expect_errno / expect_ok), which
shell tools only show as localized messages. Exit status 0 whenever the call was made,
2 for a usage error; any other exception is a test bug and exits with a traceback.
"""
import ctypes
import ctypes.util
import errno
import mmap
import os
import sys

AT_FDCWD = -100
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def renameat2(old, new, flags):
    """Python's os has no renameat2; glibc (2.28+) does."""
    _libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                                ctypes.c_char_p, ctypes.c_uint]
    if _libc.renameat2(AT_FDCWD, os.fsencode(old), AT_FDCWD, os.fsencode(new), flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), old)


def open_close(path, flags, mode=0o644):
    os.close(os.open(path, flags, mode))


def write_at(path, data, flags=os.O_WRONLY):
    fd = os.open(path, flags)
    try:
        os.write(fd, data.encode())
    finally:
        os.close(fd)


def read_all(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        while os.read(fd, 1 << 16):
            pass
    finally:
        os.close(fd)


def mmap_write(path, shared):
    """Map PATH (opened read-only) writable; MAP_PRIVATE must give a private copy."""
    fd = os.open(path, os.O_RDONLY)
    try:
        flags = mmap.MAP_SHARED if shared else mmap.MAP_PRIVATE
        m = mmap.mmap(fd, 0, flags=flags, prot=mmap.PROT_READ | mmap.PROT_WRITE)
        try:
            m[0:5] = b"XXXXX"
            if m[0:5] != b"XXXXX":
                sys.exit("mmap_write: the mapping does not hold what was written")
        finally:
            m.close()
    finally:
        os.close(fd)


OPS = {
    # name: (number of arguments, function)
    "stat": (1, os.stat),
    "lstat": (1, os.lstat),
    "read": (1, read_all),
    "open_rdonly": (1, lambda p: open_close(p, os.O_RDONLY)),
    "open_wronly": (1, lambda p: open_close(p, os.O_WRONLY)),
    "open_rdwr": (1, lambda p: open_close(p, os.O_RDWR)),
    "open_trunc": (1, lambda p: open_close(p, os.O_WRONLY | os.O_TRUNC)),
    "open_dir_write": (1, lambda p: open_close(p, os.O_WRONLY | os.O_DIRECTORY)),
    "create": (1, lambda p: open_close(p, os.O_WRONLY | os.O_CREAT)),
    "create_excl": (1, lambda p: open_close(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL)),
    "write": (2, lambda p, d: write_at(p, d)),
    "append": (2, lambda p, d: write_at(p, d, os.O_WRONLY | os.O_APPEND)),
    "truncate": (2, lambda p, n: os.truncate(p, int(n))),
    "mkdir": (1, os.mkdir),
    "rmdir": (1, os.rmdir),
    "unlink": (1, os.unlink),
    "rename": (2, os.rename),
    "rename_noreplace": (2, lambda a, b: renameat2(a, b, RENAME_NOREPLACE)),
    "rename_exchange": (2, lambda a, b: renameat2(a, b, RENAME_EXCHANGE)),
    "link": (2, os.link),
    "symlink": (2, os.symlink),
    "readlink": (1, os.readlink),
    "chmod": (2, lambda p, m: os.chmod(p, int(m, 8))),
    "chown": (3, lambda p, u, g: os.chown(p, int(u), int(g))),
    "utime": (1, lambda p: os.utime(p, (1000000000, 1000000000))),
    "mknod_fifo": (1, lambda p: os.mkfifo(p, 0o644)),
    "setxattr": (3, lambda p, n, v: os.setxattr(p, n, v.encode())),
    "getxattr": (2, os.getxattr),
    "removexattr": (2, os.removexattr),
    "listxattr": (1, os.listxattr),
    "mmap_shared_write": (1, lambda p: mmap_write(p, True)),
    "mmap_private_write": (1, lambda p: mmap_write(p, False)),
}


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in OPS:
        sys.stderr.write("usage: fsop.py OP ARGS...; OP is one of: %s\n" % " ".join(sorted(OPS)))
        return 2
    nargs, func = OPS[sys.argv[1]]
    args = sys.argv[2:]
    if len(args) != nargs:
        sys.stderr.write("fsop.py: %s takes %d arguments\n" % (sys.argv[1], nargs))
        return 2
    try:
        func(*args)
    except OSError as e:
        print(errno.errorcode.get(e.errno, "errno%d" % (e.errno or 0)))
        return 0
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
