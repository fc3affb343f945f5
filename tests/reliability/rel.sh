# shellcheck shell=bash
# SC2015: "A && B || fail" fails unless both hold. SC2034: REL_NOBODY is for the tests.
# shellcheck disable=SC2015,SC2034
# Sourced by tests/reliability/t_*.sh right after tests/mount/lib.sh (whose header lists
# mount_fs, umount_fs, fail, check, check_eq, expect_errno, bounded, as_nobody...).
# Adds what the reliability tests share:
#
#   RELHELPER, FSX_BIN          the helper programs (meson sets both)
#   rel_undo CMD                run shell CMD at exit, before lib.sh's cleanup (last added
#                               first): lazy unmounts of tmpfs/bind mounts, chattr -i...
#   rel_kill_daemon             SIGKILL our daemon (by its pid), check it died of it
#   rel_alive WHAT              fail unless our daemon is still running
#   rel_serving WHAT            fail unless the mount still answers: a write and a read back
#   rel_wait PID WHAT [OUT]     wait for PID, fail unless it exited 0 (showing file OUT)
#   rel_is_asan                 whether MMAPFS_BIN is built with AddressSanitizer
#   rel_rss_kib                 RssAnon of our daemon in KiB
#   rel_errno EXPR              evaluate one python expression (os, errno, mmap, socket,
#                               stat imported) and print OK, OK:value or the errno name;
#                               as nobody when REL_AS=("${REL_NOBODY[@]}")
#   expect_py WANT WHAT EXPR    fail unless rel_errno EXPR prints WANT

RELHELPER=${RELHELPER:-}
FSX_BIN=${FSX_BIN:-}
[ -n "$RELHELPER" ] && [ -x "$RELHELPER" ] ||
	fail "RELHELPER='$RELHELPER' is not an executable (meson sets it)"
[ -n "$FSX_BIN" ] && [ -x "$FSX_BIN" ] || fail "FSX_BIN='$FSX_BIN' is not an executable (meson sets it)"

REL_UNDO=()
REL_AS=()
REL_NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups --)

rel_undo()
{
	REL_UNDO+=("$1")
}

rel_exit()
{
	local rc=$? i

	set +e
	trap - ERR
	for ((i = ${#REL_UNDO[@]} - 1; i >= 0; i--)); do
		eval "${REL_UNDO[i]}" >/dev/null 2>&1
	done
	# lib.sh's cleanup reads the status from $?
	(exit "$rc")
	cleanup
}
trap rel_exit EXIT

rel_alive()
{
	local state

	state=$(sed 's/^.*) \(.\).*/\1/' "/proc/$DAEMON_PID/stat" 2>/dev/null) || state=gone
	case "$state" in
	Z | X | gone) fail "$1: the daemon (pid $DAEMON_PID) died" ;;
	esac
	ok "$1: the daemon is alive"
}

rel_serving()
{
	local probe=$MNT/.rel-probe-$RANDOM got

	printf 'probe %s\n' "$probe" | bounded dd of="$probe" status=none 2>/dev/null ||
		fail "$1: a write through the mount failed"
	got=$(bounded cat "$probe") || fail "$1: a read through the mount failed"
	[ "$got" = "probe $probe" ] || fail "$1: read back '$got'"
	rm -f "$probe"
	ok "$1: the mount still serves writes and reads"
}

rel_wait()
{
	local rc=0 why

	wait "$1" || rc=$?
	[ "$rc" -ne 0 ] || return 0
	[ -z "${3:-}" ] || cat "$3" >&2
	case "$rc" in
	3) why="stalled: its watchdog fired (an operation through the mount hung)" ;;
	124 | 137) why="timed out (status $rc)" ;;
	*) why="exited with status $rc" ;;
	esac
	fail "$2: $why"
}

rel_kill_daemon()
{
	local rc=0

	[ -n "$DAEMON_PID" ] || fail "rel_kill_daemon: no daemon"
	kill -KILL "$DAEMON_PID"
	wait "$DAEMON_PID" || rc=$?
	DAEMON_PID=
	[ "$rc" -eq 137 ] || fail "the SIGKILLed daemon exited with status $rc, not 137"
	ok "daemon killed with SIGKILL"
}

rel_is_asan()
{
	LC_ALL=C grep -aq 'libasan\.so' "$MMAPFS_BIN"
}

rel_rss_kib()
{
	awk '/^RssAnon:/ { print $2 }' "/proc/$DAEMON_PID/status"
}

rel_errno()
{
	timeout -k 5 "$STEP_TIMEOUT" "${REL_AS[@]}" "$PY" - "$@" <<-'EOF'
		import errno, mmap, os, socket, stat, sys
		try:
		    value = eval(sys.argv[1])
		except OSError as e:
		    print(errno.errorcode.get(e.errno, "errno%d" % e.errno))
		else:
		    print("OK" if value is None else "OK:%r" % (value,))
	EOF
}

expect_py()
{
	local want=$1 what=$2 got

	got=$(rel_errno "$3") || fail "$what: python exited with an error"
	[ "$got" = "$want" ] || fail "$what: want $want, got $got"
	ok "$what -> $want"
}
