#!/usr/bin/env bash
# Names and attributes changed by another process, under the default timeouts: the kernel
# may keep what a watched directory reports for 60 s, so each outside change below must
# reach the mount through the daemon's directory watches (inotify), within 3 s, after
# the mount's cache was primed: creation, removal, rename, chmod, append to a closed file,
# a new directory, listings (kept across opens with cache_readdir). An event about a name
# someone has mounted over must not detach that mount.
# SC2119: mount_fs takes optional arguments.
# shellcheck disable=SC2119
# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../mount/lib.sh"

# within SECONDS 'SHELL TEST': the test (evaluated afresh each time) holds within SECONDS,
# polled every 0.1 s, else fail
within()
{
	local tries=$(($1 * 10))

	until eval "$2" >/dev/null 2>&1; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || fail "not within $1 s: $2"
		sleep 0.1
	done
}

listing() { bounded ls -A "$1" | tr '\n' ' '; }
mode_of() { bounded stat -c %a "$1"; }
size_of() { bounded stat -c %s "$1"; }

mkdir "$BACKING/d" "$BACKING/inner"
put "$BACKING/d/keep" keep
put "$BACKING/d/gone" gone
put "$BACKING/d/old" renamed
put "$BACKING/d/log" one
mount_fs

# prime the kernel's cache: listings, names, attributes, data
for pass in 1 2; do
	listing "$MNT/d" >/dev/null
	bounded stat "$MNT"/d/* >/dev/null
	bounded cat "$MNT/d/log" >/dev/null
done
check_eq "$(listing "$MNT/d")" "gone keep log old " "primed listing"

# Primed, a listing and stats of every name send no request at all: the kernel keeps
# them (counted on the fuse:fuse_request_send tracepoint, in a tracefs instance of ours).
TRACE=/sys/kernel/tracing/instances/mmapfs-$TEST_NAME-$$
CONN=$(mountpoint -d "$MNT" | cut -d: -f2)
if [ -d /sys/kernel/tracing/events/fuse/fuse_request_send ] && mkdir "$TRACE" 2>/dev/null; then
	echo 1 >"$TRACE/events/fuse/fuse_request_send/enable"
	listing "$MNT/d" >/dev/null
	bounded stat "$MNT"/d/* >/dev/null
	echo 0 >"$TRACE/events/fuse/fuse_request_send/enable"
	requests=$(grep -c "connection $CONN .*opcode [0-9]* (FUSE_\(READDIR\|LOOKUP\|GETATTR\)" \
		"$TRACE/trace" || true)
	rmdir "$TRACE"
	check_eq "$requests" 0 "a primed listing + stat sent no READDIR(PLUS), LOOKUP or GETATTR"
else
	echo "# no fuse tracepoint or tracefs instance here: request count not checked"
fi

put "$BACKING/d/new" new
within 3 'test "$(listing "$MNT/d")" = "gone keep log new old "'
within 3 'test "$(bounded cat "$MNT/d/new")" = new'
ok "an outside creation shows in the listing and by name"

rm "$BACKING/d/gone"
within 3 'test ! -e "$MNT/d/gone"'
within 3 'test "$(listing "$MNT/d")" = "keep log new old "'
ok "an outside removal shows: the name is gone, the listing too"

mv "$BACKING/d/old" "$BACKING/d/moved"
within 3 'test ! -e "$MNT/d/old"'
within 3 'test "$(bounded cat "$MNT/d/moved")" = renamed'
ok "an outside rename shows under the new name only"

chmod 600 "$BACKING/d/keep"
within 3 'test "$(mode_of "$MNT/d/keep")" = 600'
ok "an outside chmod shows in stat"

echo two >>"$BACKING/d/log"
within 3 'test "$(size_of "$MNT/d/log")" = 8'
within 3 'test "$(bounded cat "$MNT/d/log" | tr '\''\n'\'' '\'' '\'')" = "one two "'
ok "an outside append to a closed file shows in stat and in the data"

mkdir "$BACKING/d/sub"
put "$BACKING/d/sub/f" deep
within 3 'test "$(bounded cat "$MNT/d/sub/f")" = deep'
rm -r "$BACKING/d/sub"
within 3 'test ! -e "$MNT/d/sub"'
ok "an outside directory with a file appears, then goes"

# the kernel keeps listings across opens: still the same after no change at all
check_eq "$(listing "$MNT/d")" "keep log moved new " "an unchanged listing is unchanged"

if mount -t tmpfs -o size=1m tmpfs "$MNT/inner" 2>/dev/null; then
	put "$MNT/inner/f" x
	touch "$BACKING/inner" # events about the name mounted over and its directory
	put "$BACKING/sibling" y
	rm "$BACKING/sibling"
	sleep 1
	if ! findmnt -n "$MNT/inner" >/dev/null || [ "$(bounded cat "$MNT/inner/f")" != x ]; then
		umount -l "$MNT/inner" 2>/dev/null || true
		fail "the tmpfs mounted on $MNT/inner was detached by an outside change"
	fi
	umount "$MNT/inner" || umount -l "$MNT/inner"
	ok "a mount over a watched name survives outside changes to that name"
else
	echo "# no tmpfs mount here: submount check skipped"
fi
umount_fs
