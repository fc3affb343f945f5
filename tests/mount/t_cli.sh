#!/usr/bin/env bash
# The command line: -h, -V, options that mount, and every bad invocation failing before
# it mounts anything, with a non-zero status and exactly one line on stderr.
# SC2015: "A && B || fail" means fail unless both hold. SC2016: single-quoted scripts for
# bash -c and python. SC2119: mount_fs takes optional arguments.
# shellcheck disable=SC2015,SC2016,SC2119
# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OUT=$T/stdout
ERR=$T/stderr

mounts_of_mnt()
{
	awk -v mnt="$MNT" '$5 == mnt { n++ } END { print n + 0 }' /proc/self/mountinfo
}

# run_cli ARGS...: run the daemon in the foreground, bounded; sets CLI_RC.
run_cli()
{
	CLI_RC=0
	timeout -k 2 5 "$MMAPFS_BIN" "$@" </dev/null >"$OUT" 2>"$ERR" || CLI_RC=$?
}

# bad WHAT GREP_PATTERN ARGS...: the invocation must fail (not by timeout), with one
# line on stderr that matches GREP_PATTERN (grep -E, case-insensitive; empty
# for any), leaving the number of mounts on $MNT unchanged. -f keeps a daemon that
# wrongly mounts in the foreground, where timeout ends it.
bad()
{
	local what=$1 pattern=$2 before lines

	shift 2
	before=$(mounts_of_mnt)
	run_cli -f "$@"
	if [ "$CLI_RC" -eq 124 ] || [ "$CLI_RC" -eq 137 ]; then
		flunk "$what: mmapfs -f $* was still running after 5 s (it mounted?)"
	elif [ "$CLI_RC" -eq 0 ]; then
		flunk "$what: mmapfs -f $* exited 0"
	elif lines=$(awk 'END { print NR }' "$ERR") && [ "$lines" -ne 1 ]; then
		flunk "$what: mmapfs -f $*: want one line on stderr, got $lines: $(head -c 2000 "$ERR")"
	elif [ -n "$pattern" ] && ! grep -E -i -q -- "$pattern" "$ERR"; then
		flunk "$what: the message does not match /$pattern/: $(cat "$ERR")"
	else
		ok "$what: exit $CLI_RC, $(cat "$ERR")"
	fi
	[ "$(mounts_of_mnt)" = "$before" ] || fail "$what: mmapfs -f $* left a mount on $MNT"
}

# --- -h and -V -----------------------------------------------------------------------------
run_cli -h
[ "$CLI_RC" -eq 0 ] || fail "mmapfs -h exited $CLI_RC: $(cat "$ERR")"
cat "$OUT" "$ERR" >"$T/help"
access_line=$(grep -n -m 1 'access=' "$T/help" | cut -d: -f1) ||
	fail "mmapfs -h does not mention access=: $(cat "$T/help")"
fuse_line=$(grep -n -m 1 'allow_other' "$T/help" | cut -d: -f1) ||
	fail "mmapfs -h does not list libfuse's options (allow_other): $(cat "$T/help")"
[ "$access_line" -lt "$fuse_line" ] ||
	fail "mmapfs -h: our options (access= on line $access_line) must come before libfuse's (allow_other on line $fuse_line)"
ok "-h: exit 0, access= on line $access_line, libfuse's allow_other on line $fuse_line"
for opt in max_idle_maps= attr_timeout= entry_timeout=; do
	grep -q -- "$opt" "$T/help" || fail "mmapfs -h does not mention $opt"
done
grep -E -q '(^|[^a-z])rw([^a-z]|$)' "$T/help" && grep -E -q '(^|[^a-z])ro([^a-z]|$)' "$T/help" ||
	fail "mmapfs -h does not name the access values rw and ro"
ok "-h mentions max_idle_maps=, attr_timeout=, entry_timeout= and the access values rw, ro"

run_cli -V
[ "$CLI_RC" -eq 0 ] || fail "mmapfs -V exited $CLI_RC: $(cat "$ERR")"
cat "$OUT" "$ERR" >"$T/version"
[ -s "$T/version" ] || fail "mmapfs -V printed nothing"
if [ -n "${MMAPFS_VERSION:-}" ]; then
	grep -q -F -- "$MMAPFS_VERSION" "$T/version" ||
		fail "mmapfs -V does not print the project version $MMAPFS_VERSION: $(cat "$T/version")"
fi
ok "-V: exit 0, $(head -n 1 "$T/version")"
[ "$(mounts_of_mnt)" = 0 ] || fail "-h or -V mounted something on $MNT"

# --- bad invocations -------------------------------------------------------------------------
echo data >"$T/afile"
bad "backing dir missing" "" "$T/no-such-dir" "$MNT"
bad "backing dir is a file" "" "$T/afile" "$MNT"
bad "mountpoint missing" "" "$BACKING" "$T/no-such-mnt"
bad "mountpoint is a file" "" "$BACKING" "$T/afile"
bad "unknown -o option" "bogus_option" -o bogus_option "$BACKING" "$MNT"
bad "unknown -o option=value" "bogus_option" -o bogus_option=1 "$BACKING" "$MNT"
bad "unknown option among good ones" "no_such_thing" -o access=rw,no_such_thing "$BACKING" "$MNT"
# The message names the option, then the allowed values rw and ro as words (and cow).
rw='(^|[^a-z])rw([^a-z]|$)'
ro='(^|[^a-z])ro([^a-z]|$)'
for value in COW xyz RW ""; do
	bad "access=$value" "access.*($rw.*$ro|$ro.*$rw)" -o "access=$value" "$BACKING" "$MNT"
done
for opt in max_idle_maps attr_timeout entry_timeout read_ahead_kb cow_limit; do
	bad "$opt=abc" "$opt" -o "$opt=abc" "$BACKING" "$MNT"
done
bad "max_idle_maps=-1" "max_idle_maps" -o max_idle_maps=-1 "$BACKING" "$MNT"

# Missing operands: only a failure and no mount are required of these.
for args in "" "$BACKING"; do
	# shellcheck disable=SC2086 # an empty $args is no argument
	run_cli -f $args
	[ "$CLI_RC" -ne 0 ] && [ "$CLI_RC" -ne 124 ] && [ "$CLI_RC" -ne 137 ] ||
		fail "mmapfs -f $args: want a quick failure, got exit $CLI_RC"
	[ "$(mounts_of_mnt)" = 0 ] || fail "mmapfs -f $args mounted something"
	ok "mmapfs -f ${args:-(no operands)}: exit $CLI_RC"
done

# --- good invocations --------------------------------------------------------------------
# All the daemon's own options plus pass-through ones; fsname shows in mountinfo.
echo hello >"$BACKING/hello"
mount_fs -o access=rw,max_idle_maps=4,attr_timeout=0.5,entry_timeout=0.5 -o fsname=mmapfs-cli-test
fields=$(awk -v mnt="$MNT" '$5 == mnt { for (i = 6; i <= NF; i++) if ($i == "-") { print $(i + 1), $(i + 2); exit } }' /proc/self/mountinfo)
case "$fields" in
fuse*" mmapfs-cli-test") ok "mountinfo: type and source '$fields'" ;;
*) fail "mountinfo: want type fuse* and source mmapfs-cli-test, got '$fields'" ;;
esac
check_eq "$(bounded cat "$MNT/hello")" hello "read through a mount with every option"

# A second daemon on the same mount point must refuse before mounting over it.
bad "mountpoint already a mount point" "" "$BACKING" "$MNT"
check_eq "$(bounded cat "$MNT/hello")" hello "the first mount still serves after the refusal"
umount_fs

# -s (single-threaded) and -d (debug: libfuse traces requests to stderr).
mount_fs -s -d
check_eq "$(bounded cat "$MNT/hello")" hello "read through a -s -d mount"
umount_fs
grep -q 'INIT: ' "$LOG" || fail "-d: no libfuse debug trace (INIT:) in the daemon log"
ok "-d traces requests to stderr"
