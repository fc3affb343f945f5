#!/usr/bin/env bash
# One valgrind memcheck pass of the daemon: mmapfs -f under valgrind --leak-check=full
# --error-exitcode=99 serves a short fsx run (one thread and two threads on one file),
# namespace operations and .mmstat reads and writes, is unmounted, and must exit 0 with
# "ERROR SUMMARY: 0 errors". Release tree only: an ASan build cannot run under valgrind
# (skipped there).
# SC2119: mount_fs takes optional arguments. SC2015: "A && B || fail" fails unless both
# hold. SC2016: single-quoted scripts for sh -c.
# shellcheck disable=SC2119,SC2015,SC2016
# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../mount/lib.sh"
# shellcheck source=tests/reliability/rel.sh
. "$(dirname "${BASH_SOURCE[0]}")/rel.sh"

command -v valgrind >/dev/null 2>&1 || fail "valgrind is missing (apt-get install valgrind)"
rel_is_asan && skip "an ASan build does not run under valgrind (the release tree runs this test)"

OPS=${VALGRIND_FSX_OPS:-900}
VG_LOG=$T/valgrind.log
REAL_BIN=$MMAPFS_BIN
# lib.sh's mount_fs starts $MMAPFS_BIN; a wrapper that execs valgrind keeps its pid, so
# umount_fs checks valgrind's exit status (99 on any error or leak).
cat >"$T/mmapfs-under-valgrind" <<EOF
#!/bin/sh
exec valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite,possible \
	--error-exitcode=99 --track-origins=yes --log-file="$VG_LOG" "$REAL_BIN" "\$@"
EOF
chmod +x "$T/mmapfs-under-valgrind"
MMAPFS_BIN=$T/mmapfs-under-valgrind
MOUNT_TIMEOUT=60

show_valgrind()
{
	echo "--- valgrind log ($VG_LOG):" >&2
	grep -v '^==[0-9]*== *$' "$VG_LOG" | head -n 120 >&2
}

mkdir "$BACKING/dir"
head -c 300000 /dev/urandom >"$BACKING/dir/data"
mount_fs

check "$FSX_BIN" -q -N "$OPS" -S 7 -B "$BACKING/fsx1" "$MNT/fsx1"
ok "fsx, $OPS ops, under valgrind"
check "$FSX_BIN" -q -t 2 -m same -N $((OPS / 2)) -S 8 -B "$BACKING/fsx2" "$MNT/fsx2"
ok "fsx, 2 threads on one file, under valgrind"
check "$FSX_BIN" -q -r -N $((OPS / 2)) -S 9 -B "$BACKING/dir/data" "$MNT/dir/data"
ok "fsx read-only ops under valgrind"
check mkdir -p "$MNT/a/b/c"
put "$MNT/a/b/c/f" "namespace"
check mv "$MNT/a/b/c/f" "$MNT/a/g"
check ln "$MNT/a/g" "$MNT/a/h"
check ln -s g "$MNT/a/s"
check ls -laR "$MNT/a" >/dev/null
check rm -r "$MNT/a"
check cat "$MNT/.mmstat/summary" "$MNT/.mmstat/files/dir/data/stats" "$MNT/.mmstat/files/dir/data/residency" \
	"$MNT/.mmstat/files/dir/data/map" "$MNT/.mmstat/files/dir/data/policy" >/dev/null
put "$MNT/.mmstat/files/dir/data/policy" "sequential+willneed"
put "$MNT/.mmstat/files/dir/data/ctl" "touch 0 64K"
put "$MNT/.mmstat/files/dir/data/ctl" "evict"
expect_errno EINVAL write "$MNT/.mmstat/files/dir/data/ctl" "bogus"
ok "namespace operations and .mmstat under valgrind"

if ! stop_daemon; then
	show_valgrind
	fail "under valgrind: $STOP_PROBLEMS"
fi
summary=$(grep -E 'ERROR SUMMARY' "$VG_LOG" | tail -n 1)
case "$summary" in
*"ERROR SUMMARY: 0 errors"*) ok "valgrind: ${summary#*== }" ;;
*)
	show_valgrind
	fail "valgrind found errors: $summary"
	;;
esac
grep -q 'definitely lost: [1-9]' "$VG_LOG" && {
	show_valgrind
	fail "valgrind: memory definitely lost"
}
sed -n 's/^==[0-9]*== *//p' "$VG_LOG" |
	grep -E 'in use at exit|heap blocks were freed|definitely lost|possibly lost' | sed 's/^/# /'
ok "valgrind memcheck: no errors, no leaks, exit status 0"
