#!/usr/bin/python3
"""The benchmark driver behind scripts/bench (which builds everything, then runs this
with /usr/bin/python3). Not meant to be run by hand: see scripts/bench --help.

One run measures every (cache state, workload, target) cell on the same data:
  states:    warm   everything cached; each measurement re-reads the file (through the
                    target and the backing file) and checks residency with fincore
                    right before it runs
             first  first touch: backing file cached, fresh mount
             cold   backing file evicted (fdatasync + POSIX_FADV_DONTNEED), fresh mount,
                    mount file evicted too
  workloads: C (scripts/bench-io.c): seq, pread, mmap, mmap-rand, mscan, mscan-seq
             Python (scripts/bench-seed.py, /usr/bin/python3): py-seekread, py-mmap,
                    py-mmap-rand, py-fullread
             meta, meta-small (readdir + lstat of the whole tree / its first
                    directories, warm), openfiles (daemon RssAnon while a helper holds
                    N files open)
Runs go round-robin over the targets (run 1 of every target, then run 2, ...) so that
noise from other load hits every target alike; each cell is the median of its runs.
Besides the time, each run records the daemon's CPU and faults (/proc/PID/stat), the
FUSE requests it got (fuse:fuse_request_send, in a private tracefs instance), the page
cache of the backing and mount files (fincore / cachestat) and the client's faults.
"""
import argparse
import csv
import fcntl
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time

T0 = time.monotonic()
DATA_SEED = 0x6D6D6170  # "mmap"
RAND_SEED = 7
PY = "/usr/bin/python3"


def log(msg):
    print("[%6.1fs] %s" % (time.monotonic() - T0, msg), file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# --- small helpers ---------------------------------------------------------------------

def parse_size(text):
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    t = text.strip().upper().rstrip("B").rstrip("I")
    num, unit = (t[:-1], t[-1]) if t and t[-1] in units else (t, "")
    value = int(float(num) * units[unit])
    if value <= 0 or value % 4096:
        raise argparse.ArgumentTypeError("size must be a positive multiple of 4 KiB: " + text)
    return value


def human_bytes(n):
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            v = n / div
            return ("%d %s" % (v, unit)) if v == int(v) else ("%.1f %s" % (v, unit))
    return "%d B" % n


def kv(line):
    out = {}
    for word in line.split():
        if "=" in word:
            k, v = word.split("=", 1)
            try:
                out[k] = int(v)
            except ValueError:
                try:
                    out[k] = float(v)
                except ValueError:
                    out[k] = v
    return out


def run(cmd, timeout=900, check=True, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise BenchError("%s exited %d: %s" % (" ".join(cmd), p.returncode,
                                                (p.stderr or p.stdout).strip()[-400:]))
    return p


def mounts():
    """Mount points in /proc/self/mountinfo -> (major:minor, fstype)."""
    out = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            sep = parts.index("-")
            mnt = parts[4]
            for esc, ch in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
                mnt = mnt.replace(esc, ch)
            out[mnt] = (parts[2], parts[sep + 1])
    return out


def proc_stat(pid):
    """(cpu seconds, minor faults, major faults) of a whole process."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    hz = os.sysconf("SC_CLK_TCK")
    # fields[0] is field 3 (state): minflt=10, majflt=12, utime=14, stime=15
    return ((int(fields[11]) + int(fields[12])) / hz, int(fields[7]), int(fields[9]))


def proc_status(pid):
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k] = v.strip()
    except OSError:
        pass
    return out


def nofile_limit(pid):
    try:
        with open("/proc/%d/limits" % pid) as f:
            for line in f:
                if line.startswith("Max open files"):
                    return int(line.split()[3])
    except (OSError, ValueError, IndexError):
        pass
    return None


def kib_field(status, key):
    v = status.get(key, "")
    return int(v.split()[0]) * 1024 if v else None


def cpu_pressure_us():
    try:
        with open("/proc/pressure/cpu") as f:
            for line in f:
                if line.startswith("some"):
                    return int(line.split("total=")[1])
    except (OSError, IndexError, ValueError):
        pass
    return None


class Disk:
    """Sectors read from the block device under a path, from /sys/dev/block/M:m/stat."""

    def __init__(self, path):
        dev = os.stat(path).st_dev
        self.stat = "/sys/dev/block/%d:%d/stat" % (os.major(dev), os.minor(dev))
        self.name = "?"
        try:
            self.name = os.path.basename(os.path.realpath("/sys/dev/block/%d:%d" % (
                os.major(dev), os.minor(dev))))
        except OSError:
            pass
        if not os.path.exists(self.stat):
            self.stat = None

    def read_bytes(self):
        if not self.stat:
            return None
        with open(self.stat) as f:
            return int(f.read().split()[2]) * 512


def fincore(paths):
    """Resident bytes of each path, as fincore(1) reports them."""
    p = run(["fincore", "--bytes", "--noheadings", "--raw", "--output", "RES"] + paths,
            check=False)
    vals = [int(x) for x in p.stdout.split()]
    if p.returncode != 0 or len(vals) != len(paths):
        raise BenchError("fincore %s failed: %s" % (" ".join(paths), p.stderr.strip()))
    return vals


class FuseTrace:
    """Counts FUSE requests per connection and opcode from the fuse:fuse_request_send
    tracepoint, in a private tracefs instance (the bench's own ring buffer)."""

    OPCODES = {1: "LOOKUP", 3: "GETATTR", 14: "OPEN", 15: "READ", 18: "RELEASE",
               25: "FLUSH", 27: "OPENDIR", 28: "READDIR", 29: "RELEASEDIR",
               34: "ACCESS", 44: "READDIRPLUS", 52: "STATX"}

    def __init__(self, name):
        self.dir = None
        self.why = ""
        for root in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing"):
            if os.path.isdir(os.path.join(root, "events", "fuse", "fuse_request_send")):
                break
        else:
            self.why = "no fuse:fuse_request_send tracepoint (tracefs not mounted?)"
            return
        path = os.path.join(root, "instances", name)
        try:
            if not os.path.isdir(path):
                os.mkdir(path)
            self.dir = path
            self._write("buffer_size_kb", "16384")
            self._write("events/fuse/fuse_request_send/enable", "1")
            self.clear()
        except OSError as e:
            self.why = "cannot set up tracefs instance %s: %s" % (path, e)
            self.close()

    def _write(self, rel, value):
        with open(os.path.join(self.dir, rel), "w") as f:
            f.write(value)

    def clear(self):
        if self.dir:
            self._write("trace", "")

    def counts(self, conn):
        """Requests on connection @conn since the last clear(), by opcode name; clears."""
        if not self.dir or conn is None:
            return None
        out = {}
        lost = False
        needle = "connection %d " % conn
        with open(os.path.join(self.dir, "trace")) as f:
            for line in f:
                if line.startswith("#"):
                    if "entries-in-buffer/entries-written:" in line:
                        inbuf, written = line.split(":", 1)[1].split()[0].split("/")
                        lost = inbuf != written
                    continue
                i = line.find(needle)
                if i < 0:
                    continue
                try:
                    op = int(line[line.index(" opcode ", i) + 8:].split()[0])
                except (ValueError, IndexError):
                    continue
                name = self.OPCODES.get(op, str(op))
                out[name] = out.get(name, 0) + 1
        self.clear()
        if lost:
            out["lost"] = 1
        return out

    def close(self):
        if not self.dir:
            return
        try:
            self._write("events/fuse/fuse_request_send/enable", "0")
            os.rmdir(self.dir)
        except OSError:
            pass
        self.dir = None


def median(values):
    return statistics.median(values) if values else None


# --- targets ---------------------------------------------------------------------------

class Target:
    """One way of reaching the data: the backing directory itself or a FUSE mount of it."""

    def __init__(self, name, cmd=None, keeps_cache=False, mmstat=False, note="",
                 drops_backing=False):
        self.name = name
        self.cmd = cmd  # argv with {src} and {mnt}; None for native
        self.keeps_cache = keeps_cache  # the mount keeps its page cache across opens
        self.mmstat = mmstat
        self.note = note
        self.drops_backing = drops_backing  # -o single_copy: warm = the mount's copy only
        self.proc = None
        self.mnt = None
        self.log = None
        self.conn = None  # the FUSE connection id (the mount's st_dev, kernel encoding)

    @property
    def native(self):
        return self.cmd is None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None


class Bench:
    def __init__(self, args):
        self.a = args
        self.io = os.path.join(args.work, "bench-io")
        self.seed_py = os.path.join(args.repo, "scripts", "bench-seed.py")
        self.results = []  # one dict per measured run
        self.skipped = []  # (target, why)
        self.failures = []
        self.peer_failures = []
        self.targets = {}
        self.started = []  # daemons we started, for cleanup
        self.disk = None
        self.is_root = os.geteuid() == 0
        self.trace = None

    # -- setup ----------------------------------------------------------------------

    def define_targets(self):
        mm = self.a.mmapfs
        ptll = os.path.join(self.a.work, "passthrough_ll")
        defs = [
            Target("native"),
            Target("mmapfs-normal", [mm, "-f", "-o", "advice=normal", "{src}", "{mnt}"],
                   keeps_cache=True, mmstat=True),
            Target("mmapfs-random", [mm, "-f", "-o", "advice=random", "{src}", "{mnt}"],
                   keeps_cache=True, mmstat=True),
            Target("mmapfs-sequential",
                   [mm, "-f", "-o", "advice=sequential", "{src}", "{mnt}"],
                   keeps_cache=True, mmstat=True),
            Target("bindfs", ["bindfs", "-f", "{src}", "{mnt}"]),
            Target("passthrough_ll", [ptll, "-f", "-o", "source={src}", "{mnt}"]),
            Target("passthrough_ll-always",
                   [ptll, "-f", "-o", "source={src}", "-o", "cache=always", "{mnt}"],
                   keeps_cache=True),
            # experiments: the same daemon with one knob turned, to size what it buys
            Target("mmapfs-ra128",
                   [mm, "-f", "-o", "advice=normal,read_ahead_kb=128", "{src}", "{mnt}"],
                   keeps_cache=True, mmstat=True,
                   note="mmapfs normal with -o read_ahead_kb=128 (the kernel's FUSE default: "
                        "128 KiB requests)"),
            Target("mmapfs-ra8m",
                   [mm, "-f", "-o", "advice=normal,read_ahead_kb=8192", "{src}", "{mnt}"],
                   keeps_cache=True, mmstat=True,
                   note="mmapfs normal with -o read_ahead_kb=8192"),
            Target("mmapfs-1copy",
                   [mm, "-f", "-o", "advice=normal,single_copy", "{src}", "{mnt}"],
                   keeps_cache=True, mmstat=True, drops_backing=True,
                   note="mmapfs normal with -o single_copy (backing pages dropped once "
                        "replied; warm means the mount's copy only)"),
            Target("mmapfs-st", [mm, "-f", "-s", "-o", "advice=normal", "{src}", "{mnt}"],
                   keeps_cache=True, mmstat=True,
                   note="mmapfs normal, single-threaded (-s)"),
            Target("mmapfs-t60",
                   [mm, "-f", "-o", "attr_timeout=60,entry_timeout=60", "{src}", "{mnt}"],
                   keeps_cache=True, mmstat=True,
                   note="mmapfs normal with -o attr_timeout=60,entry_timeout=60"),
        ]
        for t in defs:
            if t.cmd and t.cmd[0] == "bindfs" and not shutil.which("bindfs"):
                self.skipped.append((t.name, "bindfs not installed (apt-get install bindfs)"))
                continue
            if t.cmd and t.cmd[0] == ptll and not os.access(ptll, os.X_OK):
                self.skipped.append((t.name, "passthrough_ll not built (no libfuse3 "
                                             "examples in /usr/share/doc/libfuse3-dev)"))
                continue
            self.targets[t.name] = t
        for name, why in self.skipped:
            log("skipping %s: %s" % (name, why))

    def prepare_data(self, need_tree):
        os.makedirs(self.a.data, exist_ok=True)
        with open(os.path.join(self.a.data, ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another run may be making the same data
            self._prepare_data(need_tree)

    def _prepare_data(self, need_tree):
        a = self.a
        self.big = os.path.join(a.data, "big-%d.bin" % a.size)
        self.meta = os.path.join(a.data, "meta-%d" % a.meta_files)
        stamp_path = os.path.join(a.data, ".bench-stamp.json")
        try:
            with open(stamp_path) as f:
                stamp = json.load(f)
        except (OSError, ValueError):
            stamp = {}
        key = "big-%d" % a.size
        if stamp.get(key) != DATA_SEED or not os.path.exists(self.big) or \
                os.path.getsize(self.big) != a.size:
            log("making %s of data: %s" % (human_bytes(a.size), self.big))
            stamp.pop(key, None)
            run([self.io, "gen", self.big, str(a.size), str(DATA_SEED)], timeout=3600)
            stamp[key] = DATA_SEED
        mkey = "meta-%d" % a.meta_files
        if need_tree and (stamp.get(mkey) != a.meta_per_dir or not os.path.isdir(self.meta)):
            log("making %d files for the metadata and open-file tests: %s" % (
                a.meta_files, self.meta))
            stamp.pop(mkey, None)
            if os.path.isdir(self.meta):
                shutil.rmtree(self.meta)
            run([self.io, "mkmeta", self.meta, str(a.meta_files), str(a.meta_per_dir)],
                timeout=3600)
            stamp[mkey] = a.meta_per_dir
        with open(stamp_path, "w") as f:
            json.dump(stamp, f)
        r = kv(run([self.io, "verify", self.big, str(DATA_SEED)]).stdout)
        if not r.get("ok"):
            raise BenchError("the data file %s does not match its generator" % self.big)
        self.disk = Disk(self.big)

    # -- mounts ---------------------------------------------------------------------

    def mount(self, t):
        if t.native:
            t.mnt = self.a.data
            return
        if t.proc:
            self.unmount(t)
        t.mnt = os.path.join(self.a.mnt_root, t.name)
        os.makedirs(t.mnt, exist_ok=True)
        cmd = [c.replace("{src}", self.a.data).replace("{mnt}", t.mnt) for c in t.cmd]
        t.log = open(os.path.join(self.a.mnt_root, t.name + ".log"), "a")
        t.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=t.log, stderr=t.log)
        self.started.append(t.proc.pid)
        with open(self.a.pidfile, "a") as f:
            f.write("%d %s\n" % (t.proc.pid, t.mnt))
        deadline = time.monotonic() + 15
        while t.mnt not in mounts():
            if t.proc.poll() is not None:
                t.proc = None
                raise BenchError("%s exited before mounting: %s" % (
                    " ".join(cmd), self.tail_log(t)))
            if time.monotonic() > deadline:
                raise BenchError("%s did not mount within 15 s" % " ".join(cmd))
            time.sleep(0.01)
        major, minor = (int(x) for x in mounts()[t.mnt][0].split(":"))
        t.conn = (major << 20) | minor

    def tail_log(self, t):
        try:
            with open(os.path.join(self.a.mnt_root, t.name + ".log")) as f:
                return f.read().strip()[-400:]
        except OSError:
            return ""

    def unmount(self, t):
        if t.native or not t.proc:
            return
        ok = False
        for attempt in range(10):
            if t.mnt not in mounts():
                ok = True
                break
            if run(["fusermount3", "-u", t.mnt], check=False).returncode == 0:
                ok = True
                break
            time.sleep(0.2 * (attempt + 1))
        if not ok:
            log("%s is busy; detaching it lazily" % t.mnt)
            run(["fusermount3", "-u", "-z", t.mnt], check=False)
        try:
            t.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            log("%s (pid %d) did not exit; sending SIGTERM" % (t.name, t.proc.pid))
            t.proc.terminate()
            try:
                t.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                t.proc.kill()
                t.proc.wait()
        if t.proc.pid in self.started:
            self.started.remove(t.proc.pid)
        t.proc = None
        if t.log:
            t.log.close()
            t.log = None

    def cleanup(self):
        for t in self.targets.values():
            try:
                self.unmount(t)
            except Exception as e:  # keep cleaning the others
                log("cleanup of %s: %s" % (t.name, e))

    # -- cache states -----------------------------------------------------------------

    def path_of(self, t, path):
        return os.path.join(t.mnt, os.path.relpath(path, self.a.data))

    def make_warm(self, t):
        """Re-read through the target and the backing file; verify with fincore."""
        size = self.a.size
        files = [self.big]
        if not t.native and t.keeps_cache:
            files.append(self.path_of(t, self.big))
        for attempt in range(3):
            if not t.native and t.keeps_cache:
                run([self.io, "warm", self.path_of(t, self.big)])
            if not t.drops_backing:
                run([self.io, "warm", self.big])
            res = fincore(files)
            if all(r >= size for r in res[1 if t.drops_backing else 0:]):
                return True, res
        log("warning: %s: could not make the file fully resident (fincore: %s)" % (
            t.name, res))
        return False, res

    def make_first(self, t):
        self.unmount(t)
        for attempt in range(3):
            run([self.io, "warm", self.big])
            res = fincore([self.big])
            if res[0] >= self.a.size:
                break
        self.mount(t)
        return res[0] >= self.a.size, res

    def make_cold(self, t):
        self.unmount(t)
        for attempt in range(3):
            run([self.io, "evict", self.big])
            res = fincore([self.big])
            if res[0] <= self.a.size // 100:
                break
            time.sleep(0.2)
        self.mount(t)
        if not t.native:
            run([self.io, "evict", self.path_of(t, self.big)])
        return res[0] <= self.a.size // 100, res

    # -- measuring ----------------------------------------------------------------------

    def mmstat_reads(self, t):
        if not t.mmstat or t.native:
            return None
        try:
            with open(os.path.join(t.mnt, ".mmstat", "summary")) as f:
                s = dict(line.split(": ", 1) for line in f.read().splitlines() if ": " in line)
            return int(s["reads"]), int(s["read_bytes"])
        except (OSError, KeyError, ValueError):
            return None

    def measure(self, state, workload, t, run_no, prepared):
        a = self.a
        ops = {"warm": a.ops, "first": a.touch_ops, "cold": a.cold_ops}[state]
        path = self.path_of(t, self.big)
        w = WORKLOADS[workload]
        cmd = w["cmd"](self, path, ops)
        before_stat = proc_stat(t.pid) if t.pid else None
        before_reads = self.mmstat_reads(t)
        if self.trace and not t.native:
            self.trace.clear()
        disk0 = self.disk.read_bytes()
        psi0, wall0 = cpu_pressure_us(), time.monotonic()
        p = run(cmd, check=False, timeout=a.cell_timeout)
        wall = time.monotonic() - wall0
        psi1, disk1 = cpu_pressure_us(), self.disk.read_bytes()
        after_stat = proc_stat(t.pid) if t.pid else None
        reqs = self.trace.counts(t.conn) if self.trace and not t.native else None
        after_reads = self.mmstat_reads(t)  # after counting: it is a FUSE open + read
        r = kv(p.stdout.strip().splitlines()[-1]) if p.stdout.strip() else {}
        row = {
            "state": state, "workload": workload, "target": t.name, "run": run_no,
            "ok": int(p.returncode == 0 and r.get("ok") == 1 and "secs" in r),
            "prepared": int(prepared[0]), "backing_res_before": prepared[1][0],
            "secs": r.get("secs"), "bytes": r.get("bytes"), "ops": r.get("ops"),
            "unique_bytes": r.get("unique_bytes"),
            "mnt_res_open": r.get("resident_at_open"), "mnt_res_end": r.get("resident_at_end"),
            "client_minflt": r.get("client_minflt"), "client_majflt": r.get("client_majflt"),
            "client_cpu": r.get("client_cpu"),
        }
        if p.returncode != 0:
            row["error"] = (p.stderr or p.stdout).strip()[-300:]
        if before_stat and after_stat:
            row["daemon_cpu"] = after_stat[0] - before_stat[0]
            row["daemon_minflt"] = after_stat[1] - before_stat[1]
            row["daemon_majflt"] = after_stat[2] - before_stat[2]
        for op, n in (reqs or {}).items():
            row["req_" + op] = n
        if before_reads and after_reads:
            row["fuse_reads"] = after_reads[0] - before_reads[0]
            row["fuse_read_bytes"] = after_reads[1] - before_reads[1]
        if disk0 is not None and disk1 is not None:
            row["disk_bytes"] = disk1 - disk0
        if psi0 is not None and psi1 is not None and wall > 0:
            row["cpu_pressure"] = (psi1 - psi0) / 1e6 / wall
        backing_end = fincore([self.big])[0] if row["ok"] else None
        row["backing_res_end"] = backing_end
        if backing_end is not None:
            row["backing_fill"] = max(0, backing_end - prepared[1][0])
        if row["ok"] and backing_end is not None:
            cache = backing_end + (0 if t.native else (row["mnt_res_end"] or 0))
            row["cache_bytes"] = cache
        if row["ok"]:
            row["value"] = w["value"](row)
        self.results.append(row)
        status = "ok" if row["ok"] else "FAILED " + row.get("error", "(checksum mismatch)")
        extra = ""
        if "daemon_cpu" in row:
            extra += "  daemon %.2fs cpu" % row["daemon_cpu"]
        if row.get("fuse_reads"):
            extra += "  %d reads of %.0f KiB" % (
                row["fuse_reads"], row["fuse_read_bytes"] / row["fuse_reads"] / 1024)
        log("%-5s %-12s %-22s run %d: %s %s%s  [%s]" % (
            state, workload, t.name, run_no,
            ("%.4g" % row["value"]) if row.get("value") is not None else "-", w["unit"],
            extra, status))
        if not row["ok"]:
            self.fail(t, "%s/%s/%s run %d: %s" % (state, workload, t.name, run_no, status))
        return row

    def run_state(self, state, cells):
        """cells: {target name: [workloads]}; round-robin over targets each run."""
        names = [n for n in cells if n in self.targets and cells[n]]
        if not names:
            return
        log("=== %s: %s" % (state, ", ".join("%s (%s)" % (n, " ".join(cells[n]))
                                             for n in names)))
        for run_no in range(1, self.a.runs + 1):
            k = (run_no - 1) % len(names)
            order = names[k:] + names[:k]
            for name in order:
                t = self.targets[name]
                try:
                    if state == "warm":
                        self.mount(t)
                    for workload in cells[name]:
                        if state == "warm":
                            prepared = self.make_warm(t)
                        elif state == "first":
                            prepared = self.make_first(t)
                        else:
                            prepared = self.make_cold(t)
                        self.measure(state, workload, t, run_no, prepared)
                except BenchError as e:
                    self.fail(t, "%s/%s: %s" % (state, name, e))
                    log("error: %s/%s: %s" % (state, name, e))
                finally:
                    self.unmount(t)

    def run_meta(self, names):
        """Warm walks: per target one untimed walk, then --runs timed ones, of the whole
        tree (meta) and of its first directories (meta-small)."""
        names = [n for n in names if n in self.targets]
        if not names:
            return
        a = self.a
        ndirs = max(1, min(a.meta_small // a.meta_per_dir, a.meta_files // a.meta_per_dir))
        small = ["d%03d" % i for i in range(ndirs)]
        log("=== metadata: readdir + lstat of %d files, and of %d, warm" % (
            a.meta_files, ndirs * a.meta_per_dir))
        for name in names:
            t = self.targets[name]
            # the small walk first and on its own mount: the big one may exhaust the
            # daemon's fds, and the kernel's cached inodes keep them taken
            for workload, want in (("meta-small", ndirs * a.meta_per_dir),
                                   ("meta", a.meta_files)):
                try:
                    self.mount(t)
                    tree = self.path_of(t, self.meta)
                    dirs = [os.path.join(tree, d) for d in small] \
                        if workload == "meta-small" else [tree]
                    run([self.io, "meta"] + dirs)  # warm the dentry/attr caches
                    for run_no in range(1, a.runs + 1):
                        self.measure_meta(t, workload, dirs, want, run_no)
                except BenchError as e:
                    self.fail(t, "%s/%s: %s" % (workload, name, e))
                finally:
                    self.unmount(t)

    def measure_meta(self, t, workload, dirs, want, run_no):
        before = proc_stat(t.pid) if t.pid else None
        if self.trace and not t.native:
            self.trace.clear()
        psi0, wall0 = cpu_pressure_us(), time.monotonic()
        r = kv(run([self.io, "meta"] + dirs).stdout)
        wall = time.monotonic() - wall0
        psi1 = cpu_pressure_us()
        reqs = self.trace.counts(t.conn) if self.trace and not t.native else None
        after = proc_stat(t.pid) if t.pid else None
        ok = int(r.get("ok") == 1 and r.get("files") == want)
        row = {"state": "warm", "workload": workload, "target": t.name, "run": run_no,
               "ok": ok, "secs": r.get("secs"), "ops": r.get("files"), "value": r.get("secs"),
               "prepared": 1, "meta_errors": r.get("errors"), "error_name": r.get("first_error")}
        if t.pid:
            row["daemon_fds"] = len(os.listdir("/proc/%d/fd" % t.pid))
        if before and after:
            row["daemon_cpu"] = after[0] - before[0]
        for op, n in (reqs or {}).items():
            row["req_" + op] = n
        if psi0 is not None and psi1 is not None:
            row["cpu_pressure"] = (psi1 - psi0) / 1e6 / wall
        self.results.append(row)
        log("warm  %-12s %-22s run %d: %.3f s for %s files%s%s  [%s]" % (
            workload, t.name, run_no, r.get("secs", float("nan")), r.get("files"),
            ("  daemon %.2fs cpu, %d fds" % (row["daemon_cpu"], row["daemon_fds"]))
            if "daemon_cpu" in row else "",
            ("  %s lstat errors (%s)" % (r.get("errors"), r.get("first_error")))
            if r.get("errors") else "", "ok" if ok else "FAILED"))
        if not ok:
            self.fail(t, "%s/%s run %d: %d of %d entries, %s errors (first: %s)" % (
                workload, t.name, run_no, r.get("files", 0), want, r.get("errors"),
                r.get("first_error")))

    def fail(self, t, text):
        """A failure of mmapfs fails the run; one of a peer is only reported."""
        if t.mmstat:
            self.failures.append(text)
        else:
            self.peer_failures.append(text)

    def run_openfiles(self, names):
        names = [n for n in names if n in self.targets and not self.targets[n].native]
        if not names:
            return
        n = min(self.a.open_files, self.a.meta_files)
        log("=== memory: daemon RssAnon while %d files are held open" % n)
        for name in names:
            t = self.targets[name]
            try:
                self.mount(t)
                idle = proc_status(t.pid)
                holder = subprocess.Popen(
                    [self.io, "holdopen", self.path_of(t, self.meta), str(n),
                     str(self.a.meta_per_dir)],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                line = holder.stdout.readline()
                held = proc_status(t.pid)
                fds = len(os.listdir("/proc/%d/fd" % t.pid))
                holder.stdin.close()
                holder.wait(timeout=300)
                r = kv(line)
                anon = kib_field(held, "RssAnon")
                # Running out of fds (the daemon needs some per open file) is a finding
                # reported with the number, not a broken measurement.
                ok = int(line.startswith("ready") and anon is not None and (
                    r.get("failed") == 0 or r.get("first_error") in ("EMFILE", "ENFILE")))
                row = {"state": "open", "workload": "openfiles", "target": name, "run": 1,
                       "ok": ok, "value": anon / 2**20 if anon is not None else None,
                       "ops": r.get("opened"), "prepared": 1,
                       "rss_anon_idle": kib_field(idle, "RssAnon"), "rss_anon": anon,
                       "rss_file": kib_field(held, "RssFile"),
                       "vm_rss": kib_field(held, "VmRSS"), "daemon_fds": fds,
                       "threads": held.get("Threads"), "open_failed": r.get("failed"),
                       "error_name": r.get("first_error"),
                       "daemon_nofile": nofile_limit(t.pid)}
                self.results.append(row)
                log("open  openfiles    %-22s: RssAnon %.1f MiB (idle %.1f), RssFile %.1f "
                    "MiB, %d fds, %s threads, %s opened, %s failed (%s)  [%s]" % (
                        name, (anon or 0) / 2**20, (row["rss_anon_idle"] or 0) / 2**20,
                        (row["rss_file"] or 0) / 2**20, fds, row["threads"], r.get("opened"),
                        r.get("failed"), r.get("first_error"), "ok" if ok else "FAILED"))
                if not ok:
                    self.fail(t, "openfiles/%s: %s" % (name, line.strip()))
            except (BenchError, OSError, subprocess.TimeoutExpired) as e:
                self.fail(t, "openfiles/%s: %s" % (name, e))
                log("error: openfiles/%s: %s" % (name, e))
            finally:
                self.unmount(t)

    def check_mmapfs_data(self):
        """Exact comparison of a few whole blocks read through every mmapfs target."""
        for t in self.targets.values():
            if not t.mmstat:
                continue
            try:
                self.mount(t)
                r = kv(run([self.io, "verify", self.path_of(t, self.big),
                            str(DATA_SEED)]).stdout)
                if not r.get("ok"):
                    self.failures.append("verify/%s: %s" % (t.name, r))
                log("verify %s: %d words of 10 blocks, %d bad" % (t.name, r.get("words", 0),
                                                                    r.get("bad", -1)))
            except BenchError as e:
                self.failures.append("verify/%s: %s" % (t.name, e))
            finally:
                self.unmount(t)


# --- workloads -------------------------------------------------------------------------

def c_cmd(mode, *extra):
    return lambda b, path, ops: [b.io, mode, path, str(DATA_SEED)] + [
        str(ops) if x == "OPS" else str(x) for x in extra]


def py_cmd(variant):
    return lambda b, path, ops: [PY, b.seed_py, variant, path, str(DATA_SEED), str(ops),
                                 str(RAND_SEED)]


def gbps(row):
    return row["bytes"] / row["secs"] / 1e9


def us_per_op(row):
    return row["secs"] / row["ops"] * 1e6


WORKLOADS = {
    "seq": dict(cmd=c_cmd("seq"), value=gbps, unit="GB/s", higher=True,
                desc="read(2) of the whole file in 1 MiB blocks"),
    "pread": dict(cmd=c_cmd("pread", "OPS", RAND_SEED), value=us_per_op, unit="us/op",
                  desc="random 4 KiB pread(2)"),
    "mmap": dict(cmd=c_cmd("mmap", "OPS", RAND_SEED, "none"), value=us_per_op, unit="us/op",
                 desc="random 4 KiB memcpy out of an mmap, no madvise"),
    "mmap-rand": dict(cmd=c_cmd("mmap", "OPS", RAND_SEED, "random"), value=us_per_op,
                      unit="us/op", desc="random 4 KiB memcpy out of an mmap, MADV_RANDOM"),
    "mscan": dict(cmd=c_cmd("mscan", "none"), value=gbps, unit="GB/s", higher=True,
                  desc="memcpy of the whole mmap in 1 MiB chunks, no madvise"),
    "mscan-seq": dict(cmd=c_cmd("mscan", "sequential"), value=gbps, unit="GB/s", higher=True,
                      desc="memcpy of the whole mmap in 1 MiB chunks, MADV_SEQUENTIAL"),
    "py-seekread": dict(cmd=py_cmd("seekread"), value=us_per_op, unit="us/op",
                        desc="Python: f.seek(off); f.read(4096)"),
    "py-mmap": dict(cmd=py_cmd("mmap"), value=us_per_op, unit="us/op",
                    desc="Python: mm[off:off+4096] of mmap.mmap"),
    "py-mmap-rand": dict(cmd=py_cmd("mmap-rand"), value=us_per_op, unit="us/op",
                         desc="Python: the same after mm.madvise(MADV_RANDOM)"),
    "py-fullread": dict(cmd=py_cmd("fullread"), value=us_per_op, unit="us/op",
                        desc="Python: data = f.read() of the whole file, then "
                             "data[off:off+4096] (the full read is timed)"),
    "meta": dict(value=None, unit="s", desc="walk the tree: readdir + lstat of every entry"),
    "meta-small": dict(value=None, unit="s", desc="the same over the first directories only"),
    "openfiles": dict(value=None, unit="MiB RssAnon", desc="daemon RssAnon with N files open"),
}


# --- the plan --------------------------------------------------------------------------

C_RANDOM = ["pread", "mmap", "mmap-rand"]
PY_ALL = ["py-seekread", "py-mmap", "py-mmap-rand", "py-fullread"]
PEERS = ["bindfs", "passthrough_ll", "passthrough_ll-always"]
MMAPFS = ["mmapfs-normal", "mmapfs-random", "mmapfs-sequential"]
TARGET_ORDER = ["native"] + MMAPFS + PEERS + ["mmapfs-ra128", "mmapfs-ra8m", "mmapfs-st",
                                              "mmapfs-1copy", "mmapfs-t60"]


def plan_full():
    warm = {n: ["seq"] + C_RANDOM for n in ["native"] + MMAPFS + PEERS}
    for n in ["native", "mmapfs-normal"]:
        warm[n] = warm[n] + PY_ALL
    first = {n: ["seq"] + C_RANDOM for n in ["native"] + MMAPFS + PEERS}
    first["mmapfs-ra128"] = ["seq"]
    first["mmapfs-ra8m"] = ["seq"]
    first["mmapfs-st"] = ["seq", "pread", "mmap-rand"]
    first["mmapfs-1copy"] = ["seq", "pread"]
    warm["mmapfs-1copy"] = ["seq", "pread"]
    cold = {n: ["seq"] + C_RANDOM for n in ["native"] + MMAPFS + PEERS}
    for n in ["native", "mmapfs-normal", "mmapfs-sequential"]:
        cold[n] = cold[n] + ["mscan", "mscan-seq"]
    for n in ["native", "mmapfs-normal"]:
        cold[n] = cold[n] + ["py-seekread", "py-mmap", "py-mmap-rand"]
    cold["mmapfs-ra128"] = ["seq"]
    cold["mmapfs-ra8m"] = ["seq"]
    cold["mmapfs-st"] = ["seq", "pread"]
    cold["mmapfs-1copy"] = ["seq", "pread"]
    meta = ["native", "mmapfs-normal", "mmapfs-t60", "bindfs", "passthrough_ll"]
    openfiles = ["mmapfs-normal"] + PEERS
    return {"warm": warm, "first": first, "cold": cold, "meta": meta, "openfiles": openfiles}


def plan_quick():
    base = ["native", "mmapfs-normal", "mmapfs-random", "passthrough_ll"]
    warm = {n: ["seq", "pread", "mmap-rand"] for n in base}
    warm["native"] = warm["native"] + ["py-seekread"]
    warm["mmapfs-normal"] = warm["mmapfs-normal"] + ["py-seekread"]
    first = {n: ["seq", "pread"] for n in base}
    cold = {n: ["seq", "pread", "mmap"] for n in base}
    return {"warm": warm, "first": first, "cold": cold,
            "meta": ["native", "mmapfs-normal"], "openfiles": ["mmapfs-normal"]}


def restrict(plan, targets, workloads, states):
    """Keep the states, targets and workloads asked for (None: all)."""
    out = {}
    for state, cells in plan.items():
        if states and state not in states:
            continue
        if isinstance(cells, dict):
            sub = {}
            for n, ws in cells.items():
                ws = [w for w in ws if not workloads or w in workloads]
                if ws and (not targets or n in targets):
                    sub[n] = ws
            if sub:
                out[state] = sub
        else:
            if workloads and state not in workloads and not (
                    state == "meta" and "meta-small" in workloads):
                continue
            names = [n for n in cells if not targets or n in targets]
            if names:
                out[state] = names
    return out


# --- reporting -------------------------------------------------------------------------

def summarize(results):
    """One dict per cell: medians over its runs."""
    cells = {}
    for r in results:
        cells.setdefault((r["state"], r["workload"], r["target"]), []).append(r)
    out = []
    for (state, workload, target), rows in cells.items():
        good = [r for r in rows if r.get("ok") and r.get("value") is not None]
        # a walk with lstat errors still has a time: show it, flagged
        vals = [r["value"] for r in rows if r.get("value") is not None]
        if not good:
            good = [r for r in rows if r.get("value") is not None]

        def med(key, rows=good):
            v = [r[key] for r in rows if r.get(key) is not None]
            return median(v)
        c = {"state": state, "workload": workload, "target": target, "runs": len(rows),
             "good_runs": sum(1 for r in rows if r.get("ok")),
             "ok": int(all(r.get("ok") for r in rows) and bool(rows)),
             "value": median(vals), "min": min(vals) if vals else None,
             "max": max(vals) if vals else None,
             "unit": WORKLOADS[workload]["unit"],
             "prepared": int(all(r.get("prepared") for r in rows))}
        for key in ("daemon_cpu", "daemon_majflt", "daemon_minflt", "fuse_reads",
                    "fuse_read_bytes", "disk_bytes", "cache_bytes", "unique_bytes", "bytes",
                    "mnt_res_open", "backing_res_before", "cpu_pressure", "secs",
                    "rss_anon", "rss_anon_idle", "rss_file", "daemon_fds", "ops",
                    "backing_fill", "client_minflt", "client_majflt", "client_cpu", "meta_errors",
                    "open_failed", "daemon_nofile"):
            c[key] = med(key)
        c["error_name"] = next((r["error_name"] for r in rows
                                if r.get("error_name") not in (None, "none")), None)
        for key in sorted({k for r in rows for k in r if k.startswith("req_")}):
            c[key] = med(key, rows)
        if c["daemon_cpu"] is not None and c["bytes"]:
            c["cpu_s_per_gb"] = c["daemon_cpu"] / (c["bytes"] / 1e9)
        if c["cache_bytes"] is not None and c["unique_bytes"]:
            c["cache_per_byte"] = c["cache_bytes"] / c["unique_bytes"]
        if c["disk_bytes"] is not None and c["unique_bytes"]:
            c["disk_per_byte"] = c["disk_bytes"] / c["unique_bytes"]
        if c["backing_fill"] is not None and c["unique_bytes"]:
            c["fill_per_byte"] = c["backing_fill"] / c["unique_bytes"]
        if c["fuse_reads"]:
            c["req_kib"] = c["fuse_read_bytes"] / c["fuse_reads"] / 1024
        out.append(c)
    by_key = {(c["state"], c["workload"], c["target"]): c for c in out}
    for c in out:
        ref_state = c["state"]
        nat = by_key.get((ref_state, c["workload"], "native"))
        if c["workload"] == "openfiles" or not nat or not nat["value"] or c["value"] is None:
            continue
        c["ratio"] = c["value"] / nat["value"]  # throughput ratio or latency ratio
    return out, by_key


STATE_ORDER = {"warm": 0, "first": 1, "cold": 2, "open": 3}
WL_ORDER = {w: i for i, w in enumerate(WORKLOADS)}


def fmt(v, spec="%.3g"):
    if v is None:
        return "-"
    if isinstance(v, float) and v >= 1000:
        return "%.0f" % v
    return spec % v


def table_rows(cells, target_order):
    t_ord = {n: i for i, n in enumerate(target_order)}
    rows = sorted(cells, key=lambda c: (STATE_ORDER.get(c["state"], 9),
                                        WL_ORDER.get(c["workload"], 99),
                                        t_ord.get(c["target"], 99)))
    header = ["state", "workload", "target", "median", "unit", "x native", "runs",
              "client CPU s", "daemon CPU s", "CPU s/GB", "cache B/B", "backing fill B/B",
              "FUSE requests", "client faults", "mnt res at open", "notes"]
    out = []
    for c in rows:
        notes = []
        if not c["ok"]:
            notes.insert(0, "FAILED %d/%d runs" % (c["runs"] - c["good_runs"], c["runs"]))
        if not c["prepared"]:
            notes.append("state not verified")
        if c.get("cpu_pressure") is not None and c["cpu_pressure"] > 0.2:
            notes.append("cpu contention %.0f%%" % (100 * c["cpu_pressure"]))
        if c["workload"] == "openfiles":
            notes.append("RssAnon idle %s MiB, RssFile %s MiB, %s daemon fds (limit %s)" % (
                fmt((c["rss_anon_idle"] or 0) / 2**20), fmt((c["rss_file"] or 0) / 2**20),
                fmt(c["daemon_fds"], "%d"), fmt(c.get("daemon_nofile"), "%d")))
            if c.get("open_failed"):
                notes.append("%d of %d opens failed (%s)" % (
                    c["open_failed"], c["open_failed"] + (c["ops"] or 0), c["error_name"]))
        if c["workload"].startswith("meta"):
            if c.get("daemon_fds"):
                notes.append("%d daemon fds after" % c["daemon_fds"])
            if c.get("meta_errors"):
                notes.append("%d lstat errors (%s)" % (c["meta_errors"], c["error_name"]))
        reads = fuse_requests(c)
        faults = "-"
        if c.get("client_minflt") is not None:
            faults = "%d/%d" % (c["client_minflt"], c["client_majflt"] or 0)
        mres = "-"
        if c.get("mnt_res_open") is not None and c["target"] != "native" and \
                c["workload"] not in ("meta", "openfiles"):
            mres = "%.0f%%" % (100.0 * c["mnt_res_open"] / max(1, SIZE[0]))
        spread = ""
        if c["value"] is not None and c["runs"] > 1 and c["min"] is not None:
            spread = " (%s-%s)" % (fmt(c["min"]), fmt(c["max"]))
        out.append([c["state"], c["workload"], c["target"], fmt(c["value"]) + spread,
                    c["unit"], fmt(c.get("ratio"), "%.2f"), str(c["good_runs"]),
                    fmt(c.get("client_cpu"), "%.2f"), fmt(c.get("daemon_cpu"), "%.2f"), fmt(c.get("cpu_s_per_gb"), "%.2f"),
                    fmt(c.get("cache_per_byte"), "%.2f"), fmt(c.get("fill_per_byte"), "%.2f"),
                    reads, faults, mres, "; ".join(notes)])
    return header, out


SIZE = [0]
REQ_ABBREV = [("READ", "R"), ("LOOKUP", "L"), ("GETATTR", "G"), ("STATX", "SX"),
              ("READDIRPLUS", "D+"), ("READDIR", "D"), ("OPEN", "O"), ("ACCESS", "A")]


def fuse_requests(c):
    """'R 1024 @1024K, L 2': FUSE requests of a cell (median per run), by opcode."""
    parts = []
    for op, short in REQ_ABBREV:
        n = c.get("req_" + op)
        if n:
            text = "%s %d" % (short, n)
            if op == "READ" and c.get("req_kib"):
                text += " @%.0fK" % c["req_kib"]
            parts.append(text)
    if not parts and c.get("fuse_reads"):
        parts.append("R %d @%.0fK" % (c["fuse_reads"], c["req_kib"]))
    if c.get("req_lost"):
        parts.append("(trace lost some)")
    return ", ".join(parts) if parts else ("0" if any(k.startswith("req_") for k in c)
                                          else "-")


def print_table(header, rows, stream):
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    print(line, file=stream)
    print("-" * len(line), file=stream)
    last = None
    for r in rows:
        if last and (r[0], r[1]) != last:
            print("", file=stream)
        last = (r[0], r[1])
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)), file=stream)


def markdown_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        out.append("| " + " | ".join(v.replace("|", "/") for v in r) + " |")
    return "\n".join(out)


def num(x):
    return "%.0f" % x if x >= 100 else "%.3g" % x


def get(by_key, state, workload, target):
    c = by_key.get((state, workload, target))
    return c["value"] if c and c["value"] is not None else None


def verdicts(by_key, a):
    """The issue's targets, each as (name, met: True/False/None, figures)."""
    out = []
    mm = "mmapfs-normal"

    def v(name, met, text):
        out.append((name, met, text))

    def ratio_text(state, w, t, ref="native"):
        x, y = get(by_key, state, w, t), get(by_key, state, w, ref)
        if x is None or y is None:
            return None, "not measured"
        return x / y, "%s %s vs %s %s %s (%.2fx)" % (t, num(x), ref, num(y),
                                                     WORKLOADS[w]["unit"], x / y)

    # warm
    r, t = ratio_text("warm", "seq", mm)
    v("warm: sequential throughput >= 0.9x native", None if r is None else r >= 0.9, t)
    for w in C_RANDOM:
        r, t = ratio_text("warm", w, mm)
        v("warm: %s latency <= 1.5x native" % w, None if r is None else r <= 1.5, t)
    # first touch
    r, t = ratio_text("first", "seq", mm, "passthrough_ll")
    v("first touch: sequential throughput >= 2x passthrough_ll",
      None if r is None else r >= 2, t)
    for w in C_RANDOM:
        r, t = ratio_text("first", w, mm, "passthrough_ll")
        v("first touch: %s latency <= 0.5x passthrough_ll" % w, None if r is None
          else r <= 0.5, t)
    # cold
    r, t = ratio_text("cold", "seq", mm)
    v("cold: sequential time <= 1.1x native (throughput >= 0.91x)",
      None if r is None else 1 / r <= 1.1, t)
    r, t = ratio_text("cold", "pread", mm)
    v("cold: random pread latency <= 1.1x native", None if r is None else r <= 1.1, t)
    for w in ("mmap", "mmap-rand"):
        r, t = ratio_text("cold", w, mm)
        v("cold: random %s latency <= 1.5x native" % w, None if r is None else r <= 1.5, t)
    # normal reads around each fault by design (the policy's meaning, and what the
    # "random reads fewer pages" target below measures): sparse work is random's
    for w, bound in (("pread", 1.1), ("mmap-rand", 1.5)):
        r, t = ratio_text("cold", w, "mmapfs-random")
        if r is not None:
            v("cold: random %s latency <= %gx native, random policy" % (w, bound),
              r <= bound, t)
    # single copy: page-cache bytes per byte read
    for state in ("first", "cold"):
        c = by_key.get((state, "seq", "mmapfs-1copy"))
        if c and c.get("cache_per_byte") is not None:
            v("single_copy: page-cache bytes per byte read <= 1.1 (%s sequential)" % state,
              c["cache_per_byte"] <= 1.1, "%.2f B/B (mmapfs-normal %s)" % (
                  c["cache_per_byte"], fmt((by_key.get((state, "seq", mm)) or {}).get("cache_per_byte"),
                                      "%.2f")))
    # policies
    r, t = ratio_text("cold", "seq", "mmapfs-sequential", mm)
    v("sequential policy >= 1.5x normal on cold read(2) scans",
      None if r is None else r >= 1.5, t)
    r, t = ratio_text("cold", "mscan", "mmapfs-sequential", mm)
    if r is not None:
        v("sequential policy >= 1.5x normal on cold mmap scans", r >= 1.5, t)
    for w in ("pread", "mmap-rand"):
        cn = by_key.get(("cold", w, mm))
        cr = by_key.get(("cold", w, "mmapfs-random"))
        if cn and cr and cn.get("backing_fill") is not None and cr.get("backing_fill"):
            f = cn["backing_fill"] / cr["backing_fill"]
            v("random policy reads >= 10x fewer backing pages than normal (cold sparse 4 KiB "
              "%s)" % w, f >= 10, "backing file pages read in: normal %s, random %s (%.1fx "
              "fewer) for %s of distinct 4 KiB blocks" % (
                  human_bytes(cn["backing_fill"]), human_bytes(cr["backing_fill"]), f,
                  human_bytes(cn["unique_bytes"] or 0)))
        elif w == "pread":
            v("random policy reads >= 10x fewer backing pages than normal", None,
              "not measured")
    # memory
    c = by_key.get(("open", "openfiles", mm))
    if c and c["value"] is not None:
        failed = c.get("open_failed") or 0
        v("memory: daemon RssAnon < 32 MiB with %d files open" % a.open_files,
          c["value"] < 32 and c["ok"] == 1 and not failed,
          "RssAnon %.1f MiB (idle %.1f MiB) with %s files open%s; %s daemon fds, limit %s" % (
              c["value"], (c["rss_anon_idle"] or 0) / 2**20, fmt(c["ops"], "%d"),
              (" (%d more failed to open: %s)" % (failed, c.get("error_name")))
              if failed else "", fmt(c["daemon_fds"], "%d"), fmt(c.get("daemon_nofile"), "%d")))
    else:
        v("memory: daemon RssAnon < 32 MiB with many files open", None, "not measured")
    # metadata
    for w in ("meta", "meta-small"):
        r, t = ratio_text("warm", w, mm)
        c = by_key.get(("warm", w, mm))
        if c and c.get("meta_errors"):
            t += "; %d lstat errors (%s), %s daemon fds" % (
                c["meta_errors"], c.get("error_name"), fmt(c.get("daemon_fds"), "%d"))
        files = a.meta_files if w == "meta" else \
            max(1, min(a.meta_small, a.meta_files) // a.meta_per_dir) * a.meta_per_dir
        v("metadata: readdir + lstat of %d files <= 2x native, warm" % files,
          None if r is None else (r <= 2 and not (c and c.get("meta_errors"))), t)
    # seed claims: 100k random 4 KiB reads of a 4 GiB file take 4.2 s with seek+read,
    # 1.8 s through mmap (2.3x faster), 1.6 s with mmap+MADV_RANDOM (1.1x faster still)
    for state in ("warm", "cold"):
        for tgt in ("native", mm):
            d = {w: get(by_key, state, w, tgt) for w in PY_ALL}
            if any(d[w] is None for w in PY_ALL[:3]):
                continue
            ops = {"warm": a.ops, "cold": a.cold_ops}[state]
            text = ", ".join("%s %.2f s" % (w[3:], d[w] * 1e-6 * 100000) for w in PY_ALL
                             if d[w] is not None)
            text += " per 100k reads" + ("" if ops == 100000 else
                                         " (scaled from %d reads)" % ops)
            v("seed (%s, %s): mmap >= 2x faster than seek+read (seed 4.2 / 1.8 s = 2.3x)" % (
                state, tgt), d["py-seekread"] / d["py-mmap"] >= 2,
              "%.2fx; %s" % (d["py-seekread"] / d["py-mmap"], text))
            v("seed (%s, %s): MADV_RANDOM makes mmap faster (seed 1.8 / 1.6 s = 1.1x)" % (
                state, tgt), d["py-mmap"] / d["py-mmap-rand"] > 1,
              "%.2fx" % (d["py-mmap"] / d["py-mmap-rand"]))
    for tgt in ("native", mm):
        x, y = get(by_key, "cold", "mscan-seq", tgt), get(by_key, "cold", "mscan", tgt)
        if x is not None and y is not None:
            v("seed (%s): MADV_SEQUENTIAL speeds cold mmap scans 2-3x" % tgt,
              x / y >= 2, "%s vs %s GB/s (%.2fx)" % (num(x), num(y), x / y))
    return out


def machine_info(a):
    info = {"nproc": os.cpu_count(), "kernel": platform.release()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            info["mem"] = human_bytes(int(f.readline().split()[1]) * 1024)
    except OSError:
        pass
    dev = os.stat(a.data).st_dev
    src = run(["findmnt", "-n", "-o", "SOURCE,FSTYPE", "--target", a.data], check=False)
    info["data_fs"] = src.stdout.strip()
    blk = os.path.basename(os.path.realpath("/sys/dev/block/%d:%d" % (os.major(dev),
                                                                      os.minor(dev))))
    disk = blk
    if os.path.exists("/sys/class/block/%s/partition" % blk):
        disk = os.path.basename(os.path.dirname(os.path.realpath("/sys/class/block/" + blk)))
    q = "/sys/block/%s/queue/" % disk

    def rd(p):
        try:
            with open(p) as f:
                return f.read().strip()
        except OSError:
            return "?"
    info["disk"] = "%s (%s, rotational=%s, read_ahead_kb=%s, scheduler=%s)" % (
        disk, rd("/sys/block/%s/device/model" % disk) if os.path.exists(
            "/sys/block/%s/device/model" % disk) else "virtual", rd(q + "rotational"),
        rd(q + "read_ahead_kb"), rd(q + "scheduler"))
    info["load"] = rd("/proc/loadavg")
    info["fuse"] = run(["pkg-config", "--modversion", "fuse3"], check=False).stdout.strip()
    head = run(["git", "-C", a.repo, "rev-parse", "--short", "HEAD"], check=False)
    dirty = run(["git", "-C", a.repo, "status", "--porcelain", "--", "core", "fs",
                 "meson.build"], check=False)
    info["commit"] = (head.stdout.strip() or "?") + (
        " + uncommitted changes in core/ fs/" if dirty.stdout.strip() else "")
    info["bindfs"] = (run(["bindfs", "--version"], check=False).stdout.strip()
                      if shutil.which("bindfs") else "absent")
    return info


def write_outputs(b, cells, by_key, header, rows, info, wall):
    a = b.a
    os.makedirs(a.out, exist_ok=True)
    csv_path = os.path.join(a.out, "bench.csv")
    keys = ["state", "workload", "target", "value", "unit", "ratio", "runs", "good_runs",
            "min", "max", "ok", "prepared", "daemon_cpu", "cpu_s_per_gb", "daemon_majflt",
            "daemon_minflt", "fuse_reads", "req_kib", "disk_bytes", "disk_per_byte",
            "cache_bytes", "cache_per_byte", "unique_bytes", "bytes", "ops", "mnt_res_open",
            "backing_res_before", "cpu_pressure", "rss_anon", "rss_anon_idle", "rss_file",
            "daemon_fds", "backing_fill", "fill_per_byte", "client_minflt", "client_majflt",
            "client_cpu"]
    keys += sorted({k for c in cells for k in c if k.startswith("req_")})
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        for c in sorted(cells, key=lambda c: (STATE_ORDER.get(c["state"], 9),
                                              WL_ORDER.get(c["workload"], 99), c["target"])):
            w.writerow(c)
    runs_path = os.path.join(a.out, "bench-runs.csv")
    rkeys = sorted({k for r in b.results for k in r})
    with open(runs_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=rkeys)
        w.writeheader()
        for r in b.results:
            w.writerow(r)
    with open(os.path.join(a.out, "info.json"), "w") as f:
        json.dump({"info": info, "wall": wall, "command": a.command,
                   "skipped": b.skipped}, f)
    md = [markdown_report(b, header, rows, info, wall, by_key)]
    md_path = os.path.join(a.out, "bench.md")
    with open(md_path, "w") as f:
        f.write("\n".join(md) + "\n")
    log("wrote %s, %s, %s" % (csv_path, runs_path, md_path))
    return md_path


def markdown_report(b, header, rows, info, wall, by_key):
    a = b.a
    lines = []
    lines.append("Command: `%s`" % a.command)
    lines.append("")
    lines.append("Daemon: mmapfs at commit %s." % info.get("commit", "?"))
    lines.append("")
    lines.append("Machine: %s CPUs (%s), %s RAM, kernel %s; data on %s; disk %s; libfuse %s; "
                 "%s. Load average at the end: %s. Run took %.0f s." % (
                     info["nproc"], info.get("cpu", "?"), info.get("mem", "?"),
                     info["kernel"], info["data_fs"], info["disk"], info["fuse"],
                     info["bindfs"], info["load"], wall))
    lines.append("")
    lines.append("Data: one %s file of generated data (every cell checks its checksum), "
                 "%d small files for the metadata test. Runs per cell: %d (median shown, "
                 "min-max in brackets). Random reads: %d per run warm, %d first touch, %d "
                 "cold." % (human_bytes(a.size), a.meta_files, a.runs, a.ops, a.touch_ops,
                            a.cold_ops))
    lines.append("")
    lines.append("### Targets")
    lines.append("")
    for name, met, text in verdicts(by_key, a):
        mark = {True: "met", False: "NOT met", None: "not measured"}[met]
        lines.append("- **%s** — %s: %s" % (mark, name, text))
    lines.append("")
    lines.append("### Results")
    lines.append("")
    lines.append(markdown_table(header, rows))
    lines.append("")
    if b.skipped:
        lines.append("Skipped: " + "; ".join("%s (%s)" % s for s in b.skipped))
        lines.append("")
    for t in b.targets.values():
        if t.note:
            lines.append("- `%s`: %s" % (t.name, t.note))
    return "\n".join(lines)


def record(md_path, bench_md):
    begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
    with open(md_path) as f:
        body = f.read().strip()
    text = ""
    if os.path.exists(bench_md):
        with open(bench_md) as f:
            text = f.read()
    block = "%s\n%s\n%s" % (begin, body, end)
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n## Latest run\n\n" + block + "\n"
    with open(bench_md, "w") as f:
        f.write(text)
    log("recorded the table in %s" % bench_md)


def number(text):
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text if text != "" else None


def rerender(b, a):
    """Table, CSV and markdown again from a bench-runs.csv, without measuring."""
    with open(a.from_csv) as f:
        b.results = [{k: number(v) for k, v in r.items()} for r in csv.DictReader(f)]
    saved = os.path.join(os.path.dirname(os.path.abspath(a.from_csv)), "info.json")
    info, wall = machine_info(a), 0.0
    if os.path.exists(saved):
        with open(saved) as f:
            s = json.load(f)
        info, wall, a.command = s["info"], s["wall"], s["command"]
        b.skipped = [tuple(x) for x in s.get("skipped", [])]
    b.define_targets()
    b.skipped = list(dict.fromkeys(b.skipped))
    cells, by_key = summarize(b.results)
    header, rows = table_rows(cells, TARGET_ORDER)
    print_table(header, rows, sys.stdout)
    md_path = write_outputs(b, cells, by_key, header, rows, info, wall)
    if a.record:
        record(md_path, os.path.join(a.repo, "BENCHMARKS.md"))
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--repo", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--mmapfs", required=True)
    p.add_argument("--mnt-root", required=True)
    p.add_argument("--pidfile", required=True)
    p.add_argument("--command", default="scripts/bench")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--size", type=parse_size)
    p.add_argument("--runs", type=int)
    p.add_argument("--ops", type=int)
    p.add_argument("--touch-ops", type=int)
    p.add_argument("--cold-ops", type=int)
    p.add_argument("--meta-files", type=int)
    p.add_argument("--meta-small", type=int)
    p.add_argument("--open-files", type=int)
    p.add_argument("--targets")
    p.add_argument("--workloads")
    p.add_argument("--states")
    p.add_argument("--data")
    p.add_argument("--out")
    p.add_argument("--record", action="store_true")
    p.add_argument("--from-csv", help="re-render the table of an earlier run from its "
                   "bench-runs.csv (and info.json next to it) instead of measuring")
    p.add_argument("--cell-timeout", type=int, default=600)
    p.add_argument("--trace-instance", default="mmapfs-bench-%d" % os.getpid())
    a = p.parse_args()
    q = a.quick
    defaults = dict(size=(64 << 20) if q else (1 << 30), runs=1 if q else 5,
                    ops=5000 if q else 100000, touch_ops=1000 if q else 10000,
                    cold_ops=500 if q else 2000, meta_files=2000 if q else 100000,
                    meta_small=1000 if q else 10000,
                    open_files=500 if q else 10000)
    for k, v in defaults.items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    a.meta_per_dir = 1000
    if a.runs < 1 or a.ops < 1 or a.cold_ops < 1 or a.touch_ops < 1:
        p.error("--runs and the op counts must be >= 1")
    a.data = os.path.abspath(a.data or os.path.join(a.work, "data"))
    a.out = os.path.abspath(a.out or os.path.join(a.work, "results-quick" if q
                                                  else "results"))
    SIZE[0] = a.size
    split = (lambda s: [x for x in s.split(",") if x] if s else None)
    targets, workloads, states = split(a.targets), split(a.workloads), split(a.states)
    for s in states or []:
        if s not in ("warm", "first", "cold", "meta", "openfiles"):
            p.error("unknown state %s (warm, first, cold, meta, openfiles)" % s)
    for w in workloads or []:
        if w not in WORKLOADS:
            p.error("unknown workload %s (%s)" % (w, ", ".join(WORKLOADS)))

    # 10,000 files held open through the mount need about 20,000 fds in the daemon and
    # 10,000 in the holder: raise the limit the daemons inherit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(hard, 1 << 20) if os.geteuid() == 0 else hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    b = Bench(a)
    if a.from_csv:
        return rerender(b, a)
    stop = {"sig": None}

    def on_signal(sig, frame):
        stop["sig"] = sig
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        b.define_targets()
        if "mmapfs-normal" not in b.targets:
            raise BenchError("mmapfs was not built")
        for name in targets or []:
            if name not in b.targets and name not in dict(b.skipped):
                p.error("unknown target %s (%s)" % (name, ", ".join(b.targets)))
        plan = restrict(plan_quick() if q else plan_full(), targets, workloads, states)
        b.prepare_data("meta" in plan or "openfiles" in plan)
        if b.is_root:
            b.trace = FuseTrace(a.trace_instance)
            if b.trace.why:
                log("not counting FUSE requests: %s" % b.trace.why)
                b.trace = None
        b.check_mmapfs_data()
        if "openfiles" in plan:
            b.run_openfiles(plan["openfiles"])
        if "meta" in plan:
            b.run_meta(plan["meta"])
        for state in ("warm", "first", "cold"):
            if state in plan:
                b.run_state(state, plan[state])
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        b.cleanup()
        return 130
    except BenchError as e:
        log("error: %s" % e)
        b.cleanup()
        return 1
    finally:
        b.cleanup()
        if b.trace:
            b.trace.close()

    cells, by_key = summarize(b.results)
    header, rows = table_rows(cells, TARGET_ORDER)
    info = machine_info(a)
    wall = time.monotonic() - T0
    print_table(header, rows, sys.stdout)
    print("", file=sys.stdout)
    for name, met, text in verdicts(by_key, a):
        print("%-8s %s: %s" % ({True: "met", False: "NOT met", None: "n/a"}[met], name, text))
    md_path = write_outputs(b, cells, by_key, header, rows, info, wall)
    if a.record:
        record(md_path, os.path.join(a.repo, "BENCHMARKS.md"))
    mm_targets = {n for n, t in b.targets.items() if t.mmstat}
    missing = [c for c in cells if c["value"] is None]
    for f in b.peer_failures:
        log("note (peer, not a failure of the run): %s" % f)
    for c in missing:
        log("no number for %s/%s/%s" % (c["state"], c["workload"], c["target"]))
    missing_mm = [c for c in missing if c["target"] in mm_targets or c["target"] == "native"]
    if missing_mm or b.failures:
        for f in b.failures:
            log("failure: %s" % f)
        log("FAILED: %d mmapfs failures, %d mmapfs/native cells without a number" % (
            len(b.failures), len(missing_mm)))
        return 1
    log("done in %.0f s: %d cells; every mmapfs cell produced a number and correct data" % (
        wall, len(cells)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
