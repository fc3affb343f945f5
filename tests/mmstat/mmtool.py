#!/usr/bin/python3
"""mmtool.py OP ARGS...: small helpers of the tests/mmstat/ mount tests.

  write PATH BYTES_EXPR      one write(2) of a Python bytes expression (b'random\\n',
                             b'a' * 1048576) to PATH opened O_WRONLY; prints OK, SHORT:N
                             or the errno name
  make PATH MIB              write MIB MiB of random data, fdatasync, drop it from the cache
  evict PATH                 fdatasync + POSIX_FADV_DONTNEED on PATH (a backing file)
  touch_mib PATH             drop PATH's own page cache, then pread 1 byte at every MiB
  read_range PATH OFF LEN    drop PATH's own page cache, then read [OFF, OFF+LEN)

Exit status 0 when the operation ran (write reports errno on stdout), 2 on usage error;
anything else raises with a traceback (a test bug or an unexpected failure).
"""
import errno
import os
import sys

MIB = 1 << 20


def do_write(path, data):
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError as e:
        print(errno.errorcode.get(e.errno, "errno%d" % e.errno))
        return 0
    try:
        n = os.write(fd, data)
    except OSError as e:
        print(errno.errorcode.get(e.errno, "errno%d" % e.errno))
        return 0
    finally:
        os.close(fd)
    print("OK" if n == len(data) else "SHORT:%d" % n)
    return 0


def drop(fd):
    try:
        os.fdatasync(fd)
    except OSError:
        pass
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def main(argv):
    if len(argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    op, args = argv[1], argv[2:]
    if op == "write" and len(args) == 2:
        # the tests' own constant expressions; no names are available to them
        data = eval(args[1], {"__builtins__": {}}, {})  # pylint: disable=eval-used
        if not isinstance(data, bytes):
            sys.stderr.write("write: not a bytes literal\n")
            return 2
        return do_write(args[0], data)
    if op == "make" and len(args) == 2:
        fd = os.open(args[0], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            block = os.urandom(MIB)
            for _ in range(int(args[1])):
                os.write(fd, block)
            drop(fd)
        finally:
            os.close(fd)
        return 0
    if op == "evict" and len(args) == 1:
        fd = os.open(args[0], os.O_RDONLY)
        try:
            drop(fd)
        finally:
            os.close(fd)
        return 0
    if op == "touch_mib" and len(args) == 1:
        fd = os.open(args[0], os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            size = os.fstat(fd).st_size
            for off in range(0, size, MIB):
                if len(os.pread(fd, 1, off)) != 1:
                    raise SystemExit("touch_mib: short read at %d" % off)
        finally:
            os.close(fd)
        return 0
    if op == "read_range" and len(args) == 3:
        off, length = int(args[1]), int(args[2])
        fd = os.open(args[0], os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            done = 0
            while done < length:
                got = os.pread(fd, min(MIB, length - done), off + done)
                if not got:
                    raise SystemExit("read_range: EOF at %d" % (off + done))
                done += len(got)
        finally:
            os.close(fd)
        return 0
    sys.stderr.write("mmtool.py: bad usage: %s\n" % " ".join(argv[1:]))
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
