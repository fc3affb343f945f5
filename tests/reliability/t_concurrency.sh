#!/usr/bin/env bash
# Concurrency. Many clients on one file: writers (pwrite) and mappers (MAP_SHARED stores
# and msync) each own a stripe and rewrite it for seconds while readers (pread and client
# mappings) check that every byte is a valid generation for its offset; at the end every
# stripe holds its owner's last generation, through the mount and in the backing file.
# Many files at once: 5,000 files held open simultaneously by one client, each read and
# checked, while other clients read all of them through new opens; the daemon's RssAnon
# stays below 64 MiB with all of them open (128 MiB in an ASan build). Every step is bounded:
# a deadlock fails the test through the helpers' watchdogs or timeouts.
# SC2119: mount_fs takes optional arguments. SC2015: "A && B || fail" fails unless both
# hold. SC2016: single-quoted scripts for sh -c.
# shellcheck disable=SC2119,SC2015,SC2016
# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../mount/lib.sh"
# shellcheck source=tests/reliability/rel.sh
. "$(dirname "${BASH_SOURCE[0]}")/rel.sh"

NFILES=${NFILES:-5000}
# An ASan build pays shadow memory and allocator quarantine: twice the bound there.
RSS_LIMIT_KIB=$((64 * 1024))
rel_is_asan && RSS_LIMIT_KIB=$((128 * 1024))

# The daemon holds two descriptors per open file (its node and its mapping).
ulimit -n 16384 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge $((2 * NFILES + 200)) ] ||
	fail "RLIMIT_NOFILE is $(ulimit -n) (hard $(ulimit -Hn)): need $((2 * NFILES + 200)) for $NFILES open files"

mount_fs

# --- one file, many clients -------------------------------------------------------------------
check "$RELHELPER" stripes "$MNT/shared" 3 3 4 4
ok "3 writers, 3 mappers and 4 readers on one file for 4 s: every read valid, every stripe final"
check_eq "$(sha "$BACKING/shared")" "$(sha "$MNT/shared")" "the backing file equals what the mount shows"

# fsx threads on one file next to a reader of another: no deadlock between files
timeout -k 5 120 "$FSX_BIN" -q -t 4 -m same -N 400 -S 99 -B "$BACKING/fsx" "$MNT/fsx" >"$T/fsx.out" 2>&1 &
fsx=$!
check "$RELHELPER" stripes "$MNT/shared2" 2 2 2 2
rel_wait "$fsx" "fsx with 4 threads beside the stripes clients" "$T/fsx.out"
ok "fsx (4 threads, one file) and stripes clients on another file ran side by side"

# --- many files at once ------------------------------------------------------------------------
"$PY" - "$BACKING/many" "$NFILES" <<-'PYEOF'
	import os, sys
	d, n = sys.argv[1], int(sys.argv[2])
	os.mkdir(d)
	for i in range(n):
	    with open("%s/f%05d" % (d, i), "w") as f:
	        f.write("file %d of the many-open test\n" % i)
PYEOF
rss_before=$(rel_rss_kib)

# While the helper holds all of them open: other clients read every file through new
# opens, and the daemon's anonymous memory is measured.
cat >"$T/while-open.sh" <<-SHEOF
	set -e
	pids=
	for part in 0 1 2 3 4; do
	    timeout 60 sh -c 'cat "$MNT"/many/f0\${1}* | wc -l' sh "\$part" >"$T/count.\$part" &
	    pids="\$pids \$!"
	done
	for p in \$pids; do wait "\$p"; done
	awk '/^RssAnon:/ { print \$2 }' /proc/$DAEMON_PID/status >"$T/rss"
	grep -E '^open_handles:' "$MNT/.mmstat/summary" >"$T/handles"
SHEOF
check "$RELHELPER" manyopen "$MNT/many" "$NFILES" "timeout -k 5 50 sh $T/while-open.sh"
ok "$NFILES files held open at once by one client, each read right before and after"
total=$(cat "$T"/count.* | awk '{ s += $1 } END { print s }')
check_eq "$total" "$NFILES" "lines read by 5 other clients through new opens while $NFILES were held open"
check_eq "$(cat "$T/handles")" "open_handles: $NFILES" ".mmstat/summary while the helper held them open"
rss=$(cat "$T/rss")
echo "# daemon RssAnon: ${rss_before} KiB before, ${rss} KiB with $NFILES files open"
[ "$rss" -lt "$RSS_LIMIT_KIB" ] ||
	fail "daemon RssAnon is $rss KiB with $NFILES files open (limit $RSS_LIMIT_KIB KiB)"
ok "daemon RssAnon $rss KiB < $RSS_LIMIT_KIB KiB with $NFILES files open"
check_eq "$(grep -E '^open_handles:' "$MNT/.mmstat/summary")" "open_handles: 0" "after the helper closed them all"
rel_alive "after $NFILES open files"
rel_serving "after $NFILES open files"
umount_fs
