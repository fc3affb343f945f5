#!/usr/bin/env bash
# Durability. Data followed by fsync through the mount, or by msync(MS_SYNC) of a client
# MAP_SHARED mapping, is in the backing file and no longer dirty in its page cache (so on
# disk: cachestat(2) counts the dirty and writeback pages) before the call returns, and
# stays there when the daemon is then SIGKILLed. The mmap ring buffer pattern: a writer
# appends 64-byte records through a mapped mount file and msyncs each one; whether the
# writer or the daemon is SIGKILLed, after a remount every record it reported synced is
# there.
# SC2119: mount_fs takes optional arguments. SC2015: "A && B || fail" fails unless both
# hold. SC2016: single-quoted scripts for sh -c.
# shellcheck disable=SC2119,SC2015,SC2016
# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../mount/lib.sh"
# shellcheck source=tests/reliability/rel.sh
. "$(dirname "${BASH_SOURCE[0]}")/rel.sh"

SLOTS=256
RING_SECONDS=${RING_SECONDS:-1.5}

# dirty FILE: "dirty+writeback" page count of FILE's page cache
dirty()
{
	local d w

	read -r _ d w < <("$RELHELPER" cachestat "$1") || fail "cachestat $1 failed"
	echo $((d + w))
}

mount_fs
head -c $((1 << 20)) /dev/urandom >"$T/a.src"

# --- write(2) + fsync --------------------------------------------------------------------
check dd if="$T/a.src" of="$MNT/a" bs=64k status=none
before=$(dirty "$BACKING/a")
if [ "$before" -gt 0 ]; then
	ok "after write(2) without fsync the backing file has $before dirty pages"
else
	echo "# note: the backing file was already clean before fsync (early writeback)"
fi
check sync "$MNT/a" # fsync(2) of the mount file
check_eq "$(dirty "$BACKING/a")" 0 "after fsync through the mount, dirty+writeback pages of the backing file"
check_eq "$(sha "$BACKING/a")" "$(sha "$T/a.src")" "after fsync the backing file holds the data"

# --- client mapping + msync(MS_SYNC) ---------------------------------------------------------
out=$(bounded "$PY" - "$MNT/b" "$BACKING/b" "$T/a.src" "$RELHELPER" <<-'EOF'
	import mmap, os, subprocess, sys
	mnt, backing, src, helper = sys.argv[1:5]
	data = open(src, "rb").read()
	fd = os.open(mnt, os.O_RDWR | os.O_CREAT, 0o644)
	os.ftruncate(fd, len(data))
	m = mmap.mmap(fd, len(data), mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
	m[:] = data
	m.flush()  # msync(MS_SYNC)
	# still mapped and open: only the msync can have put the data in the backing file
	cached, dirty, writeback = subprocess.check_output([helper, "cachestat", backing]).split()
	same = open(backing, "rb").read() == data
	print(int(dirty) + int(writeback), "same" if same else "different")
EOF
) || fail "the msync client failed: $out"
check_eq "$out" "0 same" "after a client msync(MS_SYNC): dirty pages of the backing file, and its content"

# --- SIGKILL of the daemon: what was synced stays ---------------------------------------------
rel_kill_daemon
check_eq "$(sha "$BACKING/a")" "$(sha "$T/a.src")" "the fsynced file is whole after the daemon was SIGKILLed"
check_eq "$(sha "$BACKING/b")" "$(sha "$T/a.src")" "the msynced file is whole after the daemon was SIGKILLed"
check fusermount3 -u "$MNT"
mount_fs
check_eq "$(sha "$MNT/a")" "$(sha "$T/a.src")" "after a remount the fsynced file reads back"
check_eq "$(sha "$MNT/b")" "$(sha "$T/a.src")" "after a remount the msynced file reads back"

# --- the ring buffer, writer SIGKILLed ----------------------------------------------------------
# (no timeout(1) around it: the kill must reach the writer itself; MAX bounds it)
"$RELHELPER" ring-writer "$MNT/ring1" "$SLOTS" "$T/status1" 100000 >"$T/ring1.out" 2>&1 &
writer=$!
sleep "$RING_SECONDS"
kill -KILL "$writer" 2>/dev/null || fail "the ring writer ended before it was killed: $(cat "$T/ring1.out")"
rc=0
wait "$writer" || rc=$?
check_eq "$rc" 137 "the ring writer was SIGKILLed mid-stream"
synced=$(tr -dc 0-9 <"$T/status1" | sed 's/^0*//')
[ "${synced:-0}" -ge 50 ] || fail "the ring writer synced only ${synced:-0} records in $RING_SECONDS s"
ok "the ring writer synced $synced records before it was killed"
umount_fs
mount_fs
check "$RELHELPER" ring-check "$MNT/ring1" "$SLOTS" "$T/status1"
check "$RELHELPER" ring-check "$BACKING/ring1" "$SLOTS" "$T/status1"
ok "after the writer's SIGKILL and a remount, all synced records are there (mount and backing)"

# --- the ring buffer, daemon SIGKILLed under the writer --------------------------------------
"$RELHELPER" ring-writer "$MNT/ring2" "$SLOTS" "$T/status2" 100000 >"$T/ring2.out" 2>&1 &
writer=$!
sleep "$RING_SECONDS"
kill -0 "$writer" 2>/dev/null || fail "the ring writer ended early: $(cat "$T/ring2.out")"
rel_kill_daemon
rc=0
wait "$writer" || rc=$?
# 3: its msync failed (ENOTCONN); 135: SIGBUS touching a page the dead daemon cannot serve
case "$rc" in
3 | 135) ok "the ring writer stopped when the daemon died (status $rc)" ;;
*) fail "the ring writer exited $rc after the daemon died: $(cat "$T/ring2.out")" ;;
esac
synced=$(tr -dc 0-9 <"$T/status2" | sed 's/^0*//')
[ "${synced:-0}" -ge 50 ] || fail "the ring writer synced only ${synced:-0} records in $RING_SECONDS s"
check "$RELHELPER" ring-check "$BACKING/ring2" "$SLOTS" "$T/status2"
ok "with the daemon SIGKILLed, all $synced synced records are in the backing file"
check fusermount3 -u "$MNT"
mount_fs
check "$RELHELPER" ring-check "$MNT/ring2" "$SLOTS" "$T/status2"
ok "after a remount all synced records read back through the mount"
umount_fs
