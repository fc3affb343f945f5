#!/usr/bin/python3
"""The seed's Python access patterns, for scripts/bench (run with /usr/bin/python3).

    bench-seed.py VARIANT PATH DATA_SEED OPS RAND_SEED

VARIANT: seekread (f.seek + f.read(4096)), mmap (mm[off:off+4096]), mmap-rand (the same
after mm.madvise(MADV_RANDOM)), fullread (data = f.read() of the whole file, then
data[off:off+4096]; the full read is inside the timed part). Offsets are random 4 KiB
pages. Prints one key=value line like scripts/bench-io.c; ok=1 when a few blocks read
the same way after the timed loop match the generator.
"""
import ctypes
import mmap
import os
import random
import sys
import time

M64 = (1 << 64) - 1
PAGE = 4096


def gen_word(seed, i):
    z = (seed + (i + 1) * 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def block_ok(block, off, seed):
    if len(block) != PAGE:
        return False
    first = int.from_bytes(block[:8], "little")
    last = int.from_bytes(block[-8:], "little")
    return first == gen_word(seed, off // 8) and last == gen_word(seed, off // 8 + 511)


class CachestatRange(ctypes.Structure):
    _fields_ = [("off", ctypes.c_uint64), ("len", ctypes.c_uint64)]


class Cachestat(ctypes.Structure):
    _fields_ = [("cache", ctypes.c_uint64), ("dirty", ctypes.c_uint64),
                ("writeback", ctypes.c_uint64), ("evicted", ctypes.c_uint64),
                ("recently_evicted", ctypes.c_uint64)]


def resident(fd):
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        r, c = CachestatRange(0, 0), Cachestat()
        if libc.syscall(451, fd, ctypes.byref(r), ctypes.byref(c), 0) == 0:
            return c.cache * PAGE
    except (OSError, AttributeError):
        pass
    return -1


def main():
    variant, path = sys.argv[1], sys.argv[2]
    seed, ops, rseed = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    size = os.path.getsize(path)
    rng = random.Random(rseed)
    pages = size // PAGE
    offs = [rng.randrange(pages) * PAGE for _ in range(ops)]
    unique = len(set(offs)) * PAGE
    check = offs[-16:]
    ok = True
    f = open(path, "rb")
    res_open = resident(f.fileno())
    if variant == "seekread":
        t0 = time.perf_counter()
        for off in offs:
            f.seek(off)
            f.read(PAGE)
        secs = time.perf_counter() - t0
        for off in check:
            f.seek(off)
            ok = ok and block_ok(f.read(PAGE), off, seed)
    elif variant in ("mmap", "mmap-rand"):
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        if variant == "mmap-rand":
            mm.madvise(mmap.MADV_RANDOM)
        t0 = time.perf_counter()
        for off in offs:
            mm[off:off + PAGE]
        secs = time.perf_counter() - t0
        for off in check:
            ok = ok and block_ok(mm[off:off + PAGE], off, seed)
        mm.close()
    elif variant == "fullread":
        t0 = time.perf_counter()
        data = f.read()
        for off in offs:
            data[off:off + PAGE]
        secs = time.perf_counter() - t0
        ok = len(data) == size
        for off in check:
            ok = ok and block_ok(data[off:off + PAGE], off, seed)
        del data
    else:
        print("bench-seed: unknown variant %s" % variant, file=sys.stderr)
        return 2
    res_end = resident(f.fileno())
    f.close()
    nbytes = ops * PAGE
    if variant == "fullread":
        unique = nbytes = size
    print("mode=py-%s secs=%.9f bytes=%d ops=%d unique_bytes=%d resident_at_open=%d "
          "resident_at_end=%d ok=%d" % (variant, secs, nbytes, ops, unique, res_open,
                                         res_end, int(ok)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
