# shellcheck shell=bash
# Sourced by every tests/mount/t_*.sh: a private temporary directory with backing/ and mnt/,
# a daemon started and always stopped, and small assertion helpers.
#
#   mount_fs [MMAPFS_ARGS...]   start "$MMAPFS_BIN -f ARGS... $BACKING $MNT" in the background,
#                               wait for the mount; sets DAEMON_PID
#   umount_fs                   unmount, wait for the daemon, check its exit status and log
#   fail MSG                    print MSG (and the daemon log) and exit 1
#   flunk MSG                   print MSG, count a failure and go on (the test fails at exit)
#   check CMD...                run CMD (bounded); fail when it fails
#   check_eq GOT WANT WHAT      fail unless GOT = WANT
#   expect_errno ERRNO OP ARGS  run one system call with fsop.py; fail unless it fails with ERRNO
#   expect_ok OP ARGS           run one system call with fsop.py; fail unless it succeeds
#   put FILE TEXT               write TEXT and a newline to FILE (bounded)
#   bounded CMD...              CMD under timeout(1); anything touching the mount may block
#   as_nobody CMD...            CMD as uid/gid 65534 with no supplementary groups (bounded)
#   as_nobody_fsop expect_errno|expect_ok ARGS...   the same check, made as nobody
#
# Exit status: 0 pass, 1 fail, 77 skip (only when FUSE is not usable here).

set -Eeuo pipefail

TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
TEST_NAME=$(basename "$0" .sh)
# Debian's python has numpy (python3-numpy); the first python3 on PATH may not.
PY=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1
# Seconds a single command may take; the meson timeout bounds the whole file.
STEP_TIMEOUT=${STEP_TIMEOUT:-60}
MOUNT_TIMEOUT=10

# The daemon installs its own SIGBUS handler, so ASan must leave SIGBUS alone.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:handle_sigbus=0:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

skip()
{
	echo "SKIP $TEST_NAME: $*"
	exit 77
}

[ -c /dev/fuse ] || skip "/dev/fuse is missing"
command -v fusermount3 >/dev/null 2>&1 || skip "fusermount3 is missing (apt-get install fuse3)"

MMAPFS_BIN=${MMAPFS_BIN:-}
if [ -z "$MMAPFS_BIN" ] || [ ! -x "$MMAPFS_BIN" ]; then
	echo "FAIL $TEST_NAME: MMAPFS_BIN='$MMAPFS_BIN' is not an executable (meson sets it)" >&2
	exit 1
fi
[ -x "$PY" ] || { echo "FAIL $TEST_NAME: $PY is missing" >&2; exit 1; }

# pwd -P: mountinfo shows the canonical path, and so does /proc/PID/maps.
T=$(mktemp -d "${TMPDIR:-/tmp}/mmapfs-$TEST_NAME.XXXXXX")
T=$(cd "$T" && pwd -P)
BACKING=$T/backing
MNT=$T/mnt
LOG=$T/daemon.log
mkdir "$BACKING" "$MNT"

# Daemon log lines that fail a test.
SAN_PATTERN='AddressSanitizer|LeakSanitizer|runtime error:|UndefinedBehaviorSanitizer'
ERROR_PATTERN="$SAN_PATTERN|Segmentation fault|Bus error|mmapfs: error"

DAEMON_PID=
CHECKS=0
FAILURES=0

# --- reporting ---------------------------------------------------------------------------

show_log()
{
	local first

	[ -s "$LOG" ] || return 0
	# A sanitizer report matters from its first line (what, where); else the end matters.
	first=$(grep -n -m 1 -E "$SAN_PATTERN" "$LOG" | cut -d: -f1) || true
	if [ -n "$first" ]; then
		echo "--- daemon log ($LOG), from line $first:" >&2
		tail -n "+$first" "$LOG" | head -n 80 >&2
	else
		echo "--- daemon log ($LOG), last 60 lines:" >&2
		tail -n 60 "$LOG" >&2
	fi
	echo "--- end of daemon log" >&2
}

# A message for the output: paths relative to the test dir (mnt/x, backing/x), and long
# runs of one character (the 255-byte names) cut short.
short()
{
	local msg="$*"

	printf '%s\n' "${msg//$T\//}" | sed -E 's/(([^/])\2{11})\2+/\1.../g'
}

fail()
{
	echo "FAIL $TEST_NAME: $(short "$@")" >&2
	show_log
	exit 1
}

# For independent cases (t_cli): report and go on; the EXIT trap fails the test.
flunk()
{
	FAILURES=$((FAILURES + 1))
	echo "FAIL $TEST_NAME: $(short "$@")" >&2
}

# An unexpected non-zero status under set -e: say where, then the EXIT trap cleans up.
on_err()
{
	local rc=$? line=$1 cmd=$2

	trap - ERR
	echo "FAIL $TEST_NAME: line $line: '$cmd' exited $rc" >&2
	show_log
	exit 1
}
trap 'on_err "$LINENO" "$BASH_COMMAND"' ERR

ok()
{
	CHECKS=$((CHECKS + 1))
	echo "ok $CHECKS - $(short "$@")"
}

# --- commands ------------------------------------------------------------------------------

bounded()
{
	timeout -k 5 "$STEP_TIMEOUT" "$@"
}

NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
# Prefix for the fsop.py runs of expect_errno/expect_ok; as_nobody_fsop sets it.
FSOP_AS=()

as_nobody()
{
	timeout -k 5 "$STEP_TIMEOUT" "${NOBODY[@]}" "$@"
}

# as_nobody_fsop expect_errno|expect_ok ARGS...: the same check, run as nobody.
as_nobody_fsop()
{
	local FSOP_AS=("${NOBODY[@]}")

	"$@"
}

check()
{
	local rc=0

	timeout -k 5 "$STEP_TIMEOUT" "$@" || rc=$?
	[ "$rc" -eq 0 ] || fail "'$*' exited $rc"
}

check_eq()
{
	[ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"
	ok "$3"
}

# fsop.py prints OK or the errno name of the one call it makes.
fsop()
{
	local out rc=0

	out=$(timeout -k 5 "$STEP_TIMEOUT" "${FSOP_AS[@]}" "$PY" "$TESTS_DIR/fsop.py" "$@") || rc=$?
	[ "$rc" -eq 0 ] || fail "fsop.py $* exited $rc (output: $out)"
	printf '%s\n' "$out"
}

expect_errno()
{
	local want=$1 got

	shift
	got=$(fsop "$@")
	[ "$got" = "$want" ] || fail "${FSOP_AS[*]:+as nobody: }$*: want $want, got $got"
	ok "${FSOP_AS[*]:+as nobody: }$* -> $want"
}

expect_ok()
{
	local got

	got=$(fsop "$@")
	[ "$got" = OK ] || fail "${FSOP_AS[*]:+as nobody: }$*: want success, got $got"
	ok "${FSOP_AS[*]:+as nobody: }$* -> OK"
}

# put FILE TEXT: write TEXT and a newline to FILE, replacing it (bounded, unlike a redirect).
put()
{
	printf '%s\n' "$2" | timeout -k 5 "$STEP_TIMEOUT" dd of="$1" status=none ||
		fail "writing $1 failed"
}

# sha256 of a file (bounded, since the file may be on the mount).
sha()
{
	local out

	out=$(timeout -k 5 "$STEP_TIMEOUT" sha256sum -- "$1") || fail "sha256sum $1 failed"
	printf '%s\n' "${out%% *}"
}

# --- mounting ------------------------------------------------------------------------------

# Whether PATH is a mount point, from mountinfo: never stats PATH, which a hung FUSE
# daemon would block. Paths here have no characters mountinfo escapes.
is_mounted()
{
	awk -v mnt="$1" '$5 == mnt { found = 1 } END { exit !found }' /proc/self/mountinfo
}

# Whether PID is still running (a zombie has exited, and stays until we wait for it).
pid_alive()
{
	local state

	[ -r "/proc/$1/stat" ] || return 1
	state=$(sed 's/^.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# wait_exit PID SECONDS: poll until PID has exited; 1 if it is still running then.
wait_exit()
{
	local deadline=$((SECONDS + $2))

	while pid_alive "$1"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.05
	done
	return 0
}

mount_fs()
{
	local deadline=$((SECONDS + MOUNT_TIMEOUT)) rc=0

	[ -z "$DAEMON_PID" ] || fail "mount_fs: a daemon is already running (pid $DAEMON_PID)"
	echo "# mount: $MMAPFS_BIN -f $* $BACKING $MNT" >>"$LOG"
	"$MMAPFS_BIN" -f "$@" "$BACKING" "$MNT" </dev/null >>"$LOG" 2>&1 &
	DAEMON_PID=$!
	until is_mounted "$MNT"; do
		if ! pid_alive "$DAEMON_PID"; then
			wait "$DAEMON_PID" || rc=$?
			DAEMON_PID=
			fail "mmapfs $* exited with status $rc before mounting"
		fi
		[ "$SECONDS" -lt "$deadline" ] ||
			fail "mmapfs $* did not mount $MNT within $MOUNT_TIMEOUT s"
		sleep 0.05
	done
	ok "mounted with options: ${*:-(none)}"
}

# stop_daemon: unmount, wait for our daemon (killing only it if it lingers) and set
# STOP_PROBLEMS to what went wrong: a failed unmount, a non-zero exit status, error,
# crash or sanitizer lines in its log. Never exits, so the EXIT trap can use it.
stop_daemon()
{
	local pid=$DAEMON_PID rc=0 lines

	STOP_PROBLEMS=
	[ -n "$pid" ] || return 0
	if is_mounted "$MNT"; then
		# EBUSY right after a close is possible while the kernel drops its references.
		timeout 10 fusermount3 -u "$MNT" 2>>"$LOG" ||
			{ sleep 1 && timeout 10 fusermount3 -u "$MNT" 2>>"$LOG"; } ||
			STOP_PROBLEMS="fusermount3 -u $MNT failed; "
	fi
	if ! wait_exit "$pid" 10; then
		STOP_PROBLEMS+="daemon $pid still running 10 s after unmount, killed; "
		kill -TERM "$pid" 2>/dev/null || true
		wait_exit "$pid" 5 || kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || rc=$?
	DAEMON_PID=
	if is_mounted "$MNT"; then
		STOP_PROBLEMS+="$MNT still mounted after the daemon exited; "
		fusermount3 -u -z "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
	fi
	[ "$rc" -eq 0 ] || STOP_PROBLEMS+="daemon exited with status $rc; "
	lines=$(grep -E -m 3 "$ERROR_PATTERN" "$LOG" 2>/dev/null) || true
	[ -z "$lines" ] || STOP_PROBLEMS+="the daemon log has error lines: $lines; "
	[ -z "$STOP_PROBLEMS" ]
}

umount_fs()
{
	[ -n "$DAEMON_PID" ] || fail "umount_fs: no daemon running"
	stop_daemon || fail "after unmount: $STOP_PROBLEMS"
	ok "unmounted; daemon exited 0 with a clean log"
}

cleanup()
{
	local rc=$?

	set +e
	trap - ERR
	if [ -n "$DAEMON_PID" ] && ! stop_daemon; then
		# An earlier failure showed the log before this unmount; show what came since.
		echo "FAIL $TEST_NAME: at exit: $(short "$STOP_PROBLEMS")" >&2
		show_log
		[ "$rc" -ne 0 ] || rc=1
	fi
	if is_mounted "$MNT"; then
		fusermount3 -u -z "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
	fi
	if is_mounted "$MNT"; then
		echo "FAIL $TEST_NAME: $MNT is still mounted; leaving $T" >&2
		rc=1
	else
		rm -rf --one-file-system "$T"
	fi
	if [ "$FAILURES" -gt 0 ]; then
		echo "FAIL $TEST_NAME: $FAILURES failed checks, $CHECKS passed" >&2
		[ "$rc" -ne 0 ] || rc=1
	fi
	[ "$rc" -ne 0 ] || echo "PASS $TEST_NAME: $CHECKS checks"
	exit "$rc"
}
trap cleanup EXIT
# Make a kill by meson's timeout run the EXIT trap too.
trap 'exit 143' TERM INT HUP
