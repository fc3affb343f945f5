#!/usr/bin/env bash
# cow over a backing tree the daemon cannot write at all: a read-only bind mount
# (mount --bind; mount -o remount,bind,ro) is the BACKING_DIR. Writes, truncates, growth,
# shrinking, python mmap ACCESS_WRITE, numpy.memmap r+, fsync, .mmstat ctl (touch, evict,
# discard) and residency all still work and show exactly the model; the daemon's fds into
# the tree are read-only (fdinfo) and it has no shared writable mapping of it; the files
# under the bind mount are unchanged. The bind mount is always removed.
# SC2016: single-quoted scripts for bash -c. SC2119: mount_fs takes optional arguments.
# shellcheck disable=SC2016,SC2119
# shellcheck source=tests/cow/cowlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/cowlib.sh"

command -v mount >/dev/null || skip "mount(8) is missing"

SRC=$BACKING # the real files; the daemon only sees them through RO
RO=$T/ro
MODEL=$T/model
PAT=$T/pattern

# Stop the daemon, then remove the bind mount (busy while the daemon holds fds in it),
# then let lib.sh's cleanup report and remove $T.
robind_exit()
{
	local rc=$?

	set +e
	trap - ERR
	if [ -n "$DAEMON_PID" ] && ! stop_daemon; then
		echo "FAIL $TEST_NAME: at exit: $(short "$STOP_PROBLEMS")" >&2
		show_log
		[ "$rc" -ne 0 ] || rc=1
	fi
	if is_mounted "$RO"; then
		timeout 10 umount "$RO" || { sleep 1 && timeout 10 umount "$RO"; } || umount -l "$RO"
	fi
	if is_mounted "$RO"; then
		echo "FAIL $TEST_NAME: the bind mount $RO is still mounted" >&2
		[ "$rc" -ne 0 ] || rc=1
	fi
	(exit "$rc")
	cleanup
}
trap robind_exit EXIT

head -c $((2 * MIB)) /dev/urandom >"$PAT"
head -c $((3 * MIB)) /dev/urandom >"$SRC/a.bin"
head -c 100000 /dev/urandom >"$SRC/b.bin"
mkdir "$SRC/sub"
head -c 20000 /dev/urandom >"$SRC/sub/c.bin"
: >"$SRC/empty"
"$PY" -c 'import numpy, sys; numpy.arange(1 << 18, dtype=numpy.float32).tofile(sys.argv[1])' "$SRC/arr.f32"
cp -a "$SRC" "$MODEL"
fingerprint "$SRC" >"$T/before"

mkdir "$RO"
check mount --bind "$SRC" "$RO"
check mount -o remount,bind,ro "$RO"
check_eq "$(findmnt -n -o OPTIONS --target "$RO" | cut -d, -f1)" ro "the bind mount is read-only"
if bounded touch "$RO/a.bin" 2>"$T/err" || ! grep -q 'Read-only file system' "$T/err"; then
	fail "touch through the read-only bind mount: want 'Read-only file system', got: $(cat "$T/err")"
fi
ok "the read-only bind mount refuses writes itself"

BACKING=$RO
mount_fs -o access=cow

cowpy compare "$MNT" "$MODEL" >/dev/null || fail "before any change, the mount differs from the files"
ok "the mount shows the files of the read-only bind mount"

# op WHAT CMD...: run CMD on the model, then on the mount, with @D@ standing for the directory.
op()
{
	local what=$1 d out

	shift
	for d in "$MODEL" "$MNT"; do
		out=$(bounded "${@//@D@/$d}" 2>&1) || fail "$what: '${*//@D@/$d}' failed: $out"
	done
	ok "$what"
}

op "dd conv=notrunc into a.bin" dd if="$PAT" of=@D@/a.bin bs=4096 seek=3 count=5 conv=notrunc status=none
op "dd past the end of b.bin" dd if="$PAT" of=@D@/b.bin bs=1000 count=3 seek=$((100000 + MIB)) oflag=seek_bytes conv=notrunc status=none
op "truncate sub/c.bin down, then up" bash -c 'truncate -s 777 "$1" && truncate -s 30000 "$1"' _ @D@/sub/c.bin
op "write into the empty file" bash -c 'printf "not empty" >>"$1"' _ @D@/empty
op "pwrite patches" "$PY" "$COWPY" op pwrite @D@/a.bin
op "mmap ACCESS_WRITE patches" "$PY" "$COWPY" op mmap_patch @D@/a.bin
op "numpy.memmap r+" "$PY" "$COWPY" op numpy @D@/arr.f32
op "write + fsync + fdatasync" "$PY" "$COWPY" op fsync @D@/b.bin
op "O_TRUNC rewrite" bash -c 'printf "rewritten\n" >"$1"' _ @D@/sub/c.bin

out=$(cowpy compare "$MNT" "$MODEL" 2>&1) || fail "the mount differs from the model: $out"
ok "the mount shows exactly the model: $out"
[ "$(private_pages a.bin)" -gt 0 ] || fail "a.bin: no private pages after writes"
ok "a.bin: residency private_pages $(private_pages a.bin)"

# .mmstat ctl on the read-only tree
mmctl a.bin touch
mmctl a.bin evict
out=$(cowpy same "$MNT/a.bin" "$MODEL/a.bin" 2>&1) || fail "a.bin after ctl touch and evict: $out"
ok "ctl touch and evict work and keep the private changes"
mmctl b.bin discard
out=$(cowpy same "$MNT/b.bin" "$SRC/b.bin" 2>&1) || fail "b.bin after discard: $out"
ok "ctl discard brings back the backing b.bin"
cp "$SRC/b.bin" "$MODEL/b.bin"

no_write_fds "$RO" 4
check_eq "$(grep -c 'mmapfs: error' "$LOG" || true)" 0 "no error lines in the daemon log"
daemon_alive "after the session over the read-only bind mount"
umount_fs

fingerprint "$SRC" >"$T/after"
diff "$T/before" "$T/after" >"$T/diff" || fail "the files under the read-only bind mount changed: $(head -n 20 "$T/diff")"
ok "the files under the bind mount are unchanged"
