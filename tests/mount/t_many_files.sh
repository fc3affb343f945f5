#!/usr/bin/env bash
# More files than the daemon may keep descriptors for: with RLIMIT_NOFILE at 256 the
# daemon keeps O_PATH fds for 64 nodes and reopens the others from file handles.
# Everything must keep working on the nodes past that budget.
source "$(dirname "$0")/lib.sh"

command -v prlimit >/dev/null || skip "prlimit (util-linux) is missing"
real_bin=$MMAPFS_BIN
MMAPFS_BIN=$T/mmapfs-lowfd
printf '#!/bin/sh\nexec prlimit --nofile=256:256 "%s" "$@"\n' "$real_bin" >"$MMAPFS_BIN"
chmod +x "$MMAPFS_BIN"

for d in $(seq 0 9); do
	mkdir "$BACKING/d$d"
	for f in $(seq 0 99); do
		printf 'file %s/%s\n' "$d" "$f" >"$BACKING/d$d/f$f"
	done
done

mount_fs
count=$(bounded find "$MNT" -type f | wc -l)
check_eq "$count" 1000 "find sees all 1000 files"
(cd "$MNT" && bounded find . -type f -printf '%p %s\n' | sort) >"$T/mount-sizes"
(cd "$BACKING" && find . -type f -printf '%p %s\n' | sort) >"$T/backing-sizes"
cmp -s "$T/mount-sizes" "$T/backing-sizes" || fail "stat sizes differ: $(diff "$T/mount-sizes" "$T/backing-sizes" | head)"
ok "every file stats with its backing size"
wrong=0
for d in 0 5 9; do
	for f in 0 37 99; do
		[ "$(bounded cat "$MNT/d$d/f$f")" = "file $d/$f" ] || wrong=$((wrong + 1))
	done
done
check_eq "$wrong" 0 "files past the descriptor budget read right"
put "$MNT/d9/new" "new data"
check_eq "$(cat "$BACKING/d9/new")" "new data" "create and write in a directory past the budget"
bounded mv "$MNT/d9/new" "$MNT/d8/moved"
check_eq "$(cat "$MNT/d8/moved")" "new data" "rename between directories past the budget"
bounded chmod 600 "$MNT/d7/f7"
check_eq "$(stat -c %a "$BACKING/d7/f7")" 600 "chmod past the budget"
check_eq "$(grep -c '' "$MNT/.mmstat/files/d6/f6/residency")" "$(grep -c '' "$MNT/.mmstat/files/d0/f0/residency")" \
	".mmstat of a file past the budget"
bounded rm "$MNT/d8/moved"
[ ! -e "$BACKING/d8/moved" ] || fail "unlink past the budget left the file"
ok "unlink past the budget"
fds=$(ls "/proc/$DAEMON_PID/fd" | wc -l)
[ "$fds" -lt 256 ] || fail "the daemon holds $fds fds, its limit is 256"
ok "the daemon stays under its fd limit ($fds fds)"
umount_fs
