#!/usr/bin/env bash
# Daemon death. After SIGKILL of the daemon the mount answers ENOTCONN at once (stat,
# open, create, readdir, and a read on a file that was open; nothing hangs), it stays in
# the mount table until fusermount3 -u clears it, and a new daemon on the same mount point
# serves the synced data and new writes. The same holds when the daemon is killed in the
# middle of an fsx run: fsx fails with an error, not a hang.
# SC2119: mount_fs takes optional arguments. SC2015: "A && B || fail" fails unless both
# hold. SC2016: single-quoted scripts for sh -c.
# shellcheck disable=SC2119,SC2015,SC2016
# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../mount/lib.sh"
# shellcheck source=tests/reliability/rel.sh
. "$(dirname "${BASH_SOURCE[0]}")/rel.sh"

mount_fs
check mkdir "$MNT/dir"
put "$MNT/dir/file" "synced before the kill"
check sync "$MNT/dir/file"
head -c $((64 << 20)) /dev/urandom >"$BACKING/dir/big"

# A client with a file open and its first page mapped across the kill; afterwards it
# reads at 60 MiB, which nothing has cached (readahead windows reach 8 MiB at most).
timeout -k 5 60 "$PY" - "$MNT/dir/big" "$T/client.out" <<-'PYEOF' &
	import errno, mmap, os, sys, time
	path, out = sys.argv[1:3]
	fd = os.open(path, os.O_RDONLY)
	m = mmap.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ)
	first = m[:5]
	open(out + ".ready", "w").close()
	while not os.path.exists(out + ".go"):
	    time.sleep(0.02)
	try:
	    os.pread(fd, 10, 60 << 20)
	    result = "read OK"
	except OSError as e:
	    result = errno.errorcode[e.errno]
	open(out, "w").write(result + "\n")
PYEOF
client=$!
for _ in $(seq 100); do
	[ -e "$T/client.out.ready" ] && break
	sleep 0.05
done
[ -e "$T/client.out.ready" ] || fail "the client did not open the file"

rel_kill_daemon
is_mounted "$MNT" || fail "the mount vanished from the mount table when the daemon died"
ok "the dead mount stays in the mount table"
started=$SECONDS
expect_errno ENOTCONN stat "$MNT"
expect_errno ENOTCONN stat "$MNT/dir/file"
expect_errno ENOTCONN open_rdonly "$MNT/dir/file"
expect_errno ENOTCONN create "$MNT/new"
expect_py ENOTCONN "listing the dead mount" "os.listdir('$MNT')"
touch "$T/client.out.go"
rel_wait "$client" "the client that had the file open"
got=$(cat "$T/client.out")
case "$got" in
ENOTCONN | ECONNABORTED | EIO) ok "a read on a file open across the daemon's death: $got" ;;
*) fail "a read on a file open across the daemon's death: want ENOTCONN, ECONNABORTED or EIO, got $got" ;;
esac
[ $((SECONDS - started)) -lt 10 ] || fail "the calls on the dead mount took $((SECONDS - started)) s"
ok "every call on the dead mount failed at once"

check fusermount3 -u "$MNT"
if is_mounted "$MNT"; then
	fail "fusermount3 -u left the dead mount in place"
fi
ok "fusermount3 -u cleared the dead mount"

mount_fs
check_eq "$(bounded cat "$MNT/dir/file")" "synced before the kill" "a new daemon serves the synced file"
put "$MNT/dir/after" "written after the restart"
check_eq "$(cat "$BACKING/dir/after")" "written after the restart" "a new daemon takes writes"

# Killed in the middle of fsx: fsx reports an error (no hang), and a remount works.
timeout -k 5 60 "$FSX_BIN" -q -N 0 -T 30 -S 5 "$MNT/fsx" >"$T/fsx.out" 2>&1 &
fsx=$!
sleep 1
kill -0 "$fsx" 2>/dev/null || fail "fsx ended before the kill: $(cat "$T/fsx.out")"
rel_kill_daemon
rc=0
wait "$fsx" || rc=$?
check_eq "$rc" 1 "fsx running when the daemon was killed exits with a failure, not a hang (status)"
grep -Eq 'Transport endpoint is not connected|Software caused connection abort' "$T/fsx.out" ||
	fail "fsx did not report ENOTCONN/ECONNABORTED: $(tail -n 5 "$T/fsx.out")"
ok "fsx saw the connection go: $(grep -Eo 'Transport endpoint is not connected|Software caused connection abort' "$T/fsx.out" | head -n 1)"
check fusermount3 -u "$MNT"
mount_fs
rel_serving "after the second restart"
umount_fs
