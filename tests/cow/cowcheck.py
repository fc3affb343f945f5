#!/usr/bin/python3
"""cowcheck.py CMD ARGS...: helpers of the cow mount tests (tests/cow/t_*.sh).

Every command exits 0 when its check holds (or its operation succeeded) and exits
with a one-line message otherwise.

  op NAME FILE                 one operation of the modelled session (OPS below), applied
                               alike to a file of the mount and of the model copy
  compare MNT_DIR MODEL_DIR    every regular file under MODEL_DIR has the same size and
                               bytes under MNT_DIR, read three ways: read(2) (the kernel's
                               cache of the mount), O_DIRECT (the daemon itself) and mmap
  same FILE EXPECTED_FILE      the same comparison for one file
  zeros FILE OFFSET LENGTH     [OFFSET, OFFSET+LENGTH) of FILE reads as zeros (O_DIRECT)
  seek FILE                    SEEK_DATA / SEEK_HOLE agree with the file's last byte being data
  fds PID DIR MIN_OPEN         no descriptor of PID into DIR is open for writing (fdinfo
                               flags), at least MIN_OPEN of them are real opens (not
                               O_PATH), and no shared writable mapping of a file in DIR
  fill FILE                    write 4 KiB pages into FILE, one page a write, until ENOSPC;
                               prints the number of pages written
  mmap_write FILE OFFSET TEXT  write TEXT at OFFSET through a MAP_SHARED mapping and flush;
                               prints OK or the errno name of the failure
  external_open MNT_FILE BACKING_FILE
                               through one open handle: a private page stays, untouched
                               pages follow an in-place rewrite of the backing file
  discard_open MNT FILE_REL BACKING_FILE
                               read a file through a handle, write "discard" to its ctl,
                               read again through the same handle: must be the backing bytes
"""
import errno
import mmap
import os
import sys
import time

PAGE = mmap.PAGESIZE


def die(msg):
    sys.exit("cowcheck.py %s: %s" % (sys.argv[1], msg))


def first_diff(a, b):
    n = min(len(a), len(b))
    for i in range(0, n, 65536):
        if a[i:i + 65536] != b[i:i + 65536]:
            for j in range(i, min(i + 65536, n)):
                if a[j] != b[j]:
                    return j
    return n


def read_buffered(path):
    with open(path, "rb") as f:
        return f.read()


def read_direct(path):
    """O_DIRECT: the kernel asks the daemon, whatever its own cache of the file holds."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    try:
        buf = mmap.mmap(-1, 1 << 20)  # page-aligned, as O_DIRECT may need
        out = bytearray()
        while True:
            n = os.readv(fd, [buf])
            if n <= 0:
                break
            out += buf[:n]
        buf.close()
        return bytes(out)
    finally:
        os.close(fd)


def read_mmap(path):
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return b""
        m = mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ)
        try:
            return m[:]
        finally:
            m.close()


def compare_file(got_path, want_path, label):
    """Return a list of problems (empty when the files agree)."""
    problems = []
    want = read_buffered(want_path)
    size = os.stat(got_path).st_size
    if size != len(want):
        problems.append("%s: stat size %d, want %d" % (label, size, len(want)))
    for how, reader in (("read", read_buffered), ("O_DIRECT read", read_direct),
                        ("mmap", read_mmap)):
        try:
            got = reader(got_path)
        except OSError as e:
            problems.append("%s: %s failed: %s" % (label, how, e))
            continue
        if got != want:
            at = first_diff(got, want)
            problems.append("%s: %s gives %d bytes, want %d; first difference at byte %d "
                            "(got %r, want %r)" % (label, how, len(got), len(want), at,
                                                   got[at:at + 8], want[at:at + 8]))
    return problems


def cmd_compare(mnt, model):
    problems = []
    checked = 0
    for root, dirs, files in os.walk(model):
        dirs.sort()
        rel_root = os.path.relpath(root, model)
        for name in sorted(files):
            rel = os.path.normpath(os.path.join(rel_root, name))
            if not os.path.isfile(os.path.join(model, rel)):
                continue
            problems += compare_file(os.path.join(mnt, rel), os.path.join(model, rel), rel)
            checked += 1
        got_names = sorted(n for n in os.listdir(os.path.join(mnt, rel_root)) if n != ".mmstat")
        if got_names != sorted(dirs + files):
            problems.append("%s/: mount lists %s, model %s" % (rel_root, got_names,
                                                              sorted(dirs + files)))
    if problems:
        die("; ".join(problems))
    print("%d files identical" % checked)


def cmd_same(path, expected):
    problems = compare_file(path, expected, os.path.basename(path))
    if problems:
        die("; ".join(problems))


def cmd_zeros(path, offset, length):
    offset, length = int(offset), int(length)
    data = read_direct(path)
    part = data[offset:offset + length]
    if len(part) != length:
        die("%s: only %d bytes at %d, want %d" % (path, len(part), offset, length))
    if part.count(0) != length:
        at = offset + next(i for i, b in enumerate(part) if b)
        die("%s: byte %d is %d, want 0 in [%d, %d)" % (path, at, data[at], offset,
                                                       offset + length))


def cmd_seek(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        last = size - 1
        try:
            data = os.lseek(fd, last, os.SEEK_DATA)
        except OSError as e:
            die("lseek(%d, SEEK_DATA) on a %d-byte file whose last byte is data: %s"
                % (last, size, errno.errorcode.get(e.errno, e.errno)))
        if data != last:
            die("lseek(%d, SEEK_DATA) = %d on a %d-byte file, want %d" % (last, data, size, last))
        hole = os.lseek(fd, last, os.SEEK_HOLE)
        if hole != size:
            die("lseek(%d, SEEK_HOLE) = %d, want %d (the end)" % (last, hole, size))
    finally:
        os.close(fd)


def cmd_fds(pid, directory, min_open):
    bad, opened, paths = [], 0, 0
    for name in os.listdir("/proc/%s/fd" % pid):
        try:
            target = os.readlink("/proc/%s/fd/%s" % (pid, name))
            with open("/proc/%s/fdinfo/%s" % (pid, name)) as f:
                info = f.read()
        except FileNotFoundError:
            continue  # closed meanwhile
        if target != directory and not target.startswith(directory + "/"):
            continue
        flags = next(int(line.split()[1], 8) for line in info.splitlines()
                     if line.startswith("flags:"))
        if flags & os.O_PATH:
            paths += 1
        else:
            opened += 1
        if flags & os.O_ACCMODE != os.O_RDONLY:
            bad.append("fd %s -> %s flags 0%o" % (name, target, flags))
    with open("/proc/%s/maps" % pid) as f:
        for line in f:
            fields = line.split(None, 5)
            if len(fields) < 6:
                continue
            target = fields[5].strip()
            if (target.startswith(directory + "/") and "w" in fields[1]
                    and fields[1][3] == "s"):
                bad.append("shared writable mapping %s %s" % (fields[1], target))
    if bad:
        die("the daemon may write into %s: %s" % (directory, "; ".join(bad)))
    if opened < int(min_open):
        die("only %d opened fds (and %d O_PATH) into %s, want at least %s: the check saw "
            "too little" % (opened, paths, directory, min_open))
    print("%d open fds and %d O_PATH fds into the backing tree, none writable" % (opened, paths))


def cmd_fill(path):
    fd = os.open(path, os.O_WRONLY)
    pages = 0
    try:
        while True:
            try:
                os.pwrite(fd, b"F" * PAGE, pages * PAGE)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    die("page %d: %s, want ENOSPC at the limit" % (pages, e))
                break
            pages += 1
            if pages > 1 << 20:
                die("no ENOSPC after %d pages" % pages)
    finally:
        os.close(fd)
    print(pages)


def cmd_mmap_write(path, offset, text):
    offset = int(offset)
    with open(path, "r+b") as f:
        m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_WRITE)
        try:
            m[offset:offset + len(text)] = text.encode()
            m.flush()
        except OSError as e:
            print(errno.errorcode.get(e.errno, "errno%d" % e.errno))
            return
        finally:
            try:
                m.close()
            except OSError:
                pass
    print("OK")


def cmd_discard_open(mnt, rel, backing_file):
    want = read_buffered(backing_file)
    fd = os.open(os.path.join(mnt, rel), os.O_RDONLY)
    try:
        before = os.pread(fd, len(want) + 8 * PAGE, 0)
        if before == want:
            die("%s: reads as the backing file before discard: nothing to discard" % rel)
        with open(os.path.join(mnt, ".mmstat/files", rel, "ctl"), "w") as ctl:
            ctl.write("discard\n")
        size = os.fstat(fd).st_size
        after = os.pread(fd, len(want) + 8 * PAGE, 0)
    finally:
        os.close(fd)
    if size != len(want):
        die("%s: fstat of the open handle gives %d after discard, want %d" % (rel, size, len(want)))
    if after != want:
        at = first_diff(after, want)
        die("%s: after discard the open handle reads %d bytes, want the backing %d; first "
            "difference at %d" % (rel, len(after), len(want), at))


def cmd_external_open(mnt_file, backing_file):
    """Through one open handle: write page 0 (private), read page 5, let "someone else"
    rewrite the backing file in place; page 5 must come to show the new bytes (the watch
    invalidates the kernel's cache) and page 0 must stay private."""
    fd = os.open(mnt_file, os.O_RDWR)
    try:
        size = os.fstat(fd).st_size
        old = os.pread(fd, size, 0)
        os.pwrite(fd, b"PRIVATE-OPEN", 0)
        if os.pread(fd, 5 * PAGE, 5 * PAGE) != old[5 * PAGE:10 * PAGE]:
            die("pages 5-9 differ from the backing file before the external change")
        new = os.urandom(size)
        with open(backing_file, "r+b") as b:
            b.write(new)
        deadline = time.monotonic() + 5
        while True:
            got = os.pread(fd, size, 0)
            if got[5 * PAGE:] == new[5 * PAGE:] or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        want = b"PRIVATE-OPEN" + old[12:PAGE] + new[PAGE:]
        if got != want:
            at = first_diff(got, want)
            die("5 s after the backing file was rewritten, the open handle reads byte %d (page "
                "%d) as %r, want %r (%s)" % (at, at // PAGE, got[at:at + 8], want[at:at + 8],
                                             "the private page" if at < PAGE else
                                             "old content" if got[at:at + 8] == old[at:at + 8]
                                             else "neither old nor new"))
    finally:
        os.close(fd)


# --- the modelled session: each op is applied to the mount and to the model copy --------------

def pattern(seed, n):
    """Deterministic bytes, the same for the mount and the model."""
    out = bytearray()
    x = seed
    while len(out) < n:
        x = (x * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        out += x.to_bytes(8, "little")
    return bytes(out[:n])


def op_pwrite(path):
    """Writes at unaligned offsets, one across a page boundary, one past the end."""
    fd = os.open(path, os.O_RDWR)
    try:
        size = os.fstat(fd).st_size
        for i, off in enumerate((0, 17, PAGE - 3, 2 * PAGE + 100, size - 5, size + 300)):
            if os.pwrite(fd, pattern(10 + i, 11), off) != 11:
                raise SystemExit("short pwrite")
    finally:
        os.close(fd)


def op_mmap_patch(path):
    """Python mmap ACCESS_WRITE (MAP_SHARED) over a file opened r+b: patch and flush."""
    with open(path, "r+b") as f:
        m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_WRITE)
        size = len(m)
        for i, off in enumerate((0, PAGE - 4, 5 * PAGE + 1, size // 2, size - 9)):
            m[off:off + 9] = pattern(20 + i, 9)
        m[7 * PAGE:9 * PAGE] = pattern(30, 2 * PAGE)
        m.flush()
        m.close()


def op_mmap_tail(path):
    """ftruncate down to an unaligned size, then patch the new last page through mmap."""
    with open(path, "r+b") as f:
        size = os.fstat(f.fileno()).st_size
        os.ftruncate(f.fileno(), size - 12345)
        m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_WRITE)
        m[len(m) - 7:] = b"TAILEND"
        m.flush()
        m.close()


def op_numpy(path):
    import numpy

    a = numpy.memmap(path, dtype=numpy.float32, mode="r+")
    a[::1000] *= 2
    a[5:10] = 42
    a[-3:] = -1.5
    a.flush()
    del a


def op_fsync(path):
    """A write, then fsync and fdatasync: both succeed (and do nothing in cow mode)."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, b"synced", 1)
        os.fsync(fd)
        os.fdatasync(fd)
    finally:
        os.close(fd)


OPS = {
    "pwrite": op_pwrite,
    "mmap_patch": op_mmap_patch,
    "mmap_tail": op_mmap_tail,
    "numpy": op_numpy,
    "fsync": op_fsync,
}


def main():
    cmds = {
        "op": (2, lambda name, path: OPS[name](path)),
        "compare": (2, cmd_compare),
        "same": (2, cmd_same),
        "zeros": (3, cmd_zeros),
        "seek": (1, cmd_seek),
        "fds": (3, cmd_fds),
        "fill": (1, cmd_fill),
        "mmap_write": (3, cmd_mmap_write),
        "discard_open": (3, cmd_discard_open),
        "external_open": (2, cmd_external_open),
    }
    if len(sys.argv) < 2 or sys.argv[1] not in cmds or len(sys.argv) - 2 != cmds[sys.argv[1]][0]:
        sys.stderr.write(__doc__)
        return 2
    cmds[sys.argv[1]][1](*sys.argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
