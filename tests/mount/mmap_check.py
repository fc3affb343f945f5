#!/usr/bin/python3
"""mmap_check.py CHECK ARGS...: client-side mmap checks on files of an mmapfs mount.

Each check exits 0 when it holds and exits with a message otherwise (t_mmap.sh).

  access MNT_FILE BACKING_FILE         ACCESS_READ, ACCESS_WRITE, ACCESS_COPY
  create MNT_FILE BACKING_FILE         open(O_CREAT) + ftruncate + mmap a new file
  numpy MNT_FILE BACKING_FILE          numpy.memmap read-modify-flush, 128 MiB float32
  counter FILE N                       two processes share one MAP_SHARED page: the
                                       writer counts to N, the reader acknowledges each
  counter-reader FILE N                (the reader, started by counter)
"""
import ctypes
import mmap
import os
import select
import subprocess
import sys
import time

PAGE = mmap.PAGESIZE


def die(msg):
    sys.exit("mmap_check.py %s: %s" % (sys.argv[1], msg))


def read_backing(path):
    with open(path, "rb") as f:
        return f.read()


def check_access(mnt_file, backing_file):
    """The file is 3 pages + 100 bytes, so the last page is partial."""
    original = read_backing(backing_file)
    size = len(original)

    with open(mnt_file, "rb") as f:
        m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        if len(m) != size:
            die("ACCESS_READ: mapping is %d bytes, file is %d" % (len(m), size))
        if m[:] != original:
            die("ACCESS_READ: the mapping differs from the backing file")
        if m[size - 100:] != original[size - 100:]:
            die("ACCESS_READ: the partial last page differs")
        m.close()

    # ACCESS_WRITE: changes reach the backing file at flush(), before munmap or close.
    edits = {0: b"HEAD", PAGE - 2: b"XYZW", 2 * PAGE + 7: b"mid", size - 3: b"END"}
    expected = bytearray(original)
    for off, data in edits.items():
        expected[off:off + len(data)] = data
    with open(mnt_file, "r+b") as f:
        m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_WRITE)
        for off, data in edits.items():
            m[off:off + len(data)] = data
        m.flush()
        got = read_backing(backing_file)
        if got != bytes(expected):
            bad = next(i for i in range(size) if got[i] != expected[i])
            die("ACCESS_WRITE: after flush() the backing file differs at byte %d" % bad)
        m.close()
    with open(mnt_file, "rb") as f:
        if f.read() != bytes(expected):
            die("ACCESS_WRITE: read() through the mount does not see the mapped writes")

    # ACCESS_COPY: private pages; neither the backing file nor the mount changes.
    with open(mnt_file, "r+b") as f:
        m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
        m[0:4] = b"COPY"
        m[size - 4:] = b"copy"
        if m[0:4] != b"COPY":
            die("ACCESS_COPY: the private mapping lost its own write")
        m.flush()
        m.close()
    if read_backing(backing_file) != bytes(expected):
        die("ACCESS_COPY: the backing file changed")
    with open(mnt_file, "rb") as f:
        if f.read() != bytes(expected):
            die("ACCESS_COPY: the file read through the mount changed")


def check_create(mnt_file, backing_file):
    size = 5 * PAGE + 1234
    fd = os.open(mnt_file, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.ftruncate(fd, size)
        m = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        if m[:] != bytes(size):
            die("a freshly ftruncated file does not map as zeros")
        pattern = bytes((i * 7 + 3) & 0xFF for i in range(size))
        m[:] = pattern
        m.flush()
        m.close()
    finally:
        os.close(fd)
    got = read_backing(backing_file)
    if len(got) != size:
        die("backing file is %d bytes, want %d" % (len(got), size))
    if got != pattern:
        die("backing file does not hold what was written through the mapping")


def check_numpy(mnt_file, backing_file):
    import numpy as np

    count = 128 * 1024 * 1024 // 4
    rng = np.random.default_rng(20240601)
    original = rng.random(count, dtype=np.float32)
    # Written straight to the backing file: the mount has never seen it.
    original.tofile(backing_file)

    m = np.memmap(mnt_file, dtype=np.float32, mode="r+")
    if m.shape != (count,):
        die("memmap shape %s, want (%d,)" % (m.shape, count))
    if not np.array_equal(m, original):
        die("memmap of the mount differs from the backing file as written")
    m[::3] *= 2
    m[1000:2000] = -1
    m[-1] = 42
    m.flush()
    del m

    expected = original
    expected[::3] *= 2
    expected[1000:2000] = -1
    expected[-1] = 42
    got = np.fromfile(backing_file, dtype=np.float32)
    if not np.array_equal(got, expected):
        bad = int(np.flatnonzero(got != expected)[0])
        die("backing file after flush differs at element %d: %r, want %r"
            % (bad, got[bad], expected[bad]))
    del got
    reread = np.memmap(mnt_file, dtype=np.float32, mode="r")
    if not np.array_equal(reread, expected):
        die("a new read-only memmap of the mount does not see the flushed changes")


# The counter page: the writer's value at offset 0, the reader's acknowledgement at 8.
# Stores go through ctypes, one aligned 8-byte store each: struct.pack_into zeroes its
# target before filling it in, which a reader polling the page can catch.
# A value is trusted once read twice in a row.
def stable(cell):
    while True:
        a = cell.value
        if cell.value == a:
            return a


def wait_for(cell, pred, what, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    spins = 0
    while True:
        value = stable(cell)
        if pred(value):
            return value
        spins += 1
        if spins > 1000:
            if time.monotonic() > deadline:
                die("%s: still %d after %.0f s" % (what, value, timeout_s))
            time.sleep(0.0001)


def map_counter_page(path):
    """The mapping and its two cells, (counter, ack)."""
    fd = os.open(path, os.O_RDWR)
    m = mmap.mmap(fd, PAGE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    os.close(fd)
    return m, ctypes.c_uint64.from_buffer(m, 0), ctypes.c_uint64.from_buffer(m, 8)


def counter_writer(path, n):
    """Map the page, start the reader (a separate process through the same mount) and
    count once it has mapped the page too.

    Both map before anything is written: an open() while a page is dirty in a shared
    mapping lets the kernel invalidate the file's cache (keep_cache=0, or a changed
    mtime with auto_inval_data), a separate matter that is not what this checks.
    """
    m, counter, ack = map_counter_page(path)
    reader = subprocess.Popen([sys.executable, __file__, "counter-reader", path, str(n)],
                              stdout=subprocess.PIPE)
    ready, _, _ = select.select([reader.stdout], [], [], 10)
    if not ready or reader.stdout.readline() != b"mapped\n":
        reader.kill()
        die("the reader did not map the page within 10 s (exit status %s)" % reader.poll())
    try:
        for i in range(1, n + 1):
            counter.value = i
            wait_for(ack, lambda v, i=i: v == i, "waiting for the reader's ack of %d" % i)
    except SystemExit:
        reader.kill()
        raise
    del counter, ack  # ctypes views pin the mapping open
    m.flush()
    m.close()
    if reader.wait(timeout=30) != 0:
        die("the reader exited with status %d" % reader.returncode)


def counter_reader(path, n):
    m, counter, ack = map_counter_page(path)
    sys.stdout.write("mapped\n")
    sys.stdout.flush()
    last = 0
    while last < n:
        value = wait_for(counter, lambda v, last=last: v != last,
                         "waiting for the writer's update after %d" % last)
        if value != last + 1:
            die("saw %d after %d: an update was missed or reordered" % (value, last))
        ack.value = value
        last = value
    del counter, ack
    m.flush()
    m.close()


def main():
    checks = {
        "access": (2, check_access),
        "create": (2, check_create),
        "numpy": (2, check_numpy),
        "counter": (2, lambda p, n: counter_writer(p, int(n))),
        "counter-reader": (2, lambda p, n: counter_reader(p, int(n))),
    }
    if len(sys.argv) < 2 or sys.argv[1] not in checks or len(sys.argv) - 2 != checks[sys.argv[1]][0]:
        sys.stderr.write(__doc__)
        return 2
    checks[sys.argv[1]][1](*sys.argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
