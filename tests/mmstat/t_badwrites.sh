#!/usr/bin/env bash
# Bad writes to .mmstat/files/F/policy and ctl: each one write(2) that must fail with
# EINVAL (EFBIG also accepted for 1 MiB), leave the policy as it was, and leave the daemon
# serving. Valid writes around them must still work.
# shellcheck disable=SC2016,SC2119
# shellcheck source=tests/mount/lib.sh
. "$(dirname "$0")/../mount/lib.sh"
# shellcheck source=tests/mmstat/mmlib.sh
. "$(dirname "$0")/mmlib.sh"

MMTOOL=$(cd "$(dirname "$0")" && pwd -P)/mmtool.py
MIB=$((1 << 20))

# wr ENTRY BYTES_LITERAL: one write(2) to .mmstat/files/f.bin/ENTRY; prints OK, SHORT:N or
# the errno name.
wr()
{
	bounded "$PY" "$MMTOOL" write "$MNT/.mmstat/files/f.bin/$1" "$2" || fail "mmtool write $1 $2 exited $?"
}

policy_now()
{
	bounded cat "$MNT/.mmstat/files/f.bin/policy" || fail "cat f.bin/policy failed"
}

alive()
{
	if ! is_mounted "$MNT" || ! pid_alive "$DAEMON_PID"; then
		fail "after $1: the daemon is gone"
	fi
	bounded cat "$MNT/.mmstat/summary" >/dev/null || fail "after $1: .mmstat/summary is unreadable"
}

# policy_ok BYTES_LITERAL WANT: the write succeeds and the policy reads back as WANT.
policy_ok()
{
	local got

	got=$(wr policy "$1")
	[ "$got" = OK ] || { bad "policy write $1: want success, got $got"; return 0; }
	got=$(policy_now)
	if [ "$got" = "$2" ]; then ok "policy write $1 -> $2"; else bad "policy write $1: reads back '$got', want '$2'"; fi
}

# policy_bad BYTES_LITERAL [ALSO_OK_ERRNO]: the write fails with EINVAL (or ALSO_OK_ERRNO)
# and changes nothing.
policy_bad()
{
	local before got after

	before=$(policy_now)
	got=$(wr policy "$1")
	alive "policy write ${1:0:40}"
	after=$(policy_now)
	if [ "$got" != EINVAL ] && [ "$got" != "${2:-EINVAL}" ]; then
		bad "policy write ${1:0:60}: want EINVAL${2:+ or $2}, got $got"
	elif [ "$after" != "$before" ]; then
		bad "policy write ${1:0:60}: failed ($got) but the policy changed from '$before' to '$after'"
	else
		ok "policy write ${1:0:60} -> $got, policy still '$after'"
	fi
}

ctl_ok()
{
	local got

	got=$(wr ctl "$1")
	if [ "$got" = OK ]; then ok "ctl write $1 -> OK"; else bad "ctl write $1: want success, got $got"; fi
}

ctl_bad()
{
	local got

	got=$(wr ctl "$1")
	alive "ctl write ${1:0:40}"
	if [ "$got" = EINVAL ] || [ "$got" = "${2:-EINVAL}" ]; then
		ok "ctl write ${1:0:60} -> $got"
	else
		bad "ctl write ${1:0:60}: want EINVAL${2:+ or $2}, got $got"
	fi
}

head -c "$MIB" /dev/urandom >"$BACKING/f.bin"
mount_fs

# --- policy --------------------------------------------------------------------------------------
check_eq "$(policy_now)" normal "f.bin starts with the default policy"
policy_ok "b'random\\n'" random
policy_ok "b'sequential+hugepage'" sequential+hugepage # no newline
policy_ok "b'random\\n'" random
# The shell's way: open with O_TRUNC, then write.
bounded bash -c 'echo normal+willneed >"$1"' _ "$MNT/.mmstat/files/f.bin/policy" || bad "echo normal+willneed > policy failed"
check_eq "$(policy_now)" normal+willneed "echo normal+willneed > policy (O_TRUNC first)"
policy_ok "b'random\\n'" random

policy_bad "b'bogus\\n'"
policy_bad "b'\\n'"
policy_bad "b'   \\n'"
policy_bad "b'+\\n'"
policy_bad "b'random+\\n'"
policy_bad "b'+random\\n'"
policy_bad "b'random++willneed\\n'"
policy_bad "b'Random\\n'"
policy_bad "b'random bogus\\n'"
policy_bad "b'random\\nsequential\\n'"
policy_bad "b'sequential+random\\n'"
policy_bad "b'random+willneed+willneed\\n'"
policy_bad "b'normal+hugepage+nohugepage\\n'"
policy_bad "b'\\x00\\xff\\xfe\\x01garbage'"
policy_bad "b'sequential\\x00'"
policy_bad "b'\\x00sequential'"
policy_bad "b'\\xff\\xfe\\xfd\\n'"
policy_bad "b'sequential\\xff\\n'"
policy_bad "b'a' * 1048576" EFBIG
policy_bad "b'sequential\\n' + b' ' * (1048576 - 11)" EFBIG
policy_bad "b'sequential+' * 100000" EFBIG
check_eq "$(policy_now)" random "after every refused write the policy is still random"
check_eq "$(bounded awk '/^policy: / { print $2 }' "$MNT/.mmstat/files/f.bin/stats")" random "stats agrees"

# --- ctl -------------------------------------------------------------------------------------------
ctl_ok "b'touch\\n'"
ctl_ok "b'evict\\n'"
ctl_ok "b'touch 0 4K\\n'"
ctl_ok "b'touch 4096 4096\\n'"
ctl_ok "b'evict 0 4K\\n'"
ctl_ok "b'touch 512K 2M'" # a length past EOF is clipped; no newline
ctl_ok "b'lock 0 4K\\n'"
ctl_ok "b'unlock 0 4K\\n'"
ctl_ok "b'lock\\n'"
ctl_ok "b'unlock\\n'"

ctl_bad "b'foo\\n'"
ctl_bad "b'touch 1\\n'"
ctl_bad "b'touch -1 5\\n'"
ctl_bad "b'touch 0 -5\\n'"
ctl_bad "b'touch 0 0\\n'"
ctl_bad "b'lock 999999999999 10\\n'"
ctl_bad "b'touch 2M 10\\n'" # offset past EOF (the file is 1 MiB)
ctl_bad "b'\\n'"
ctl_bad "b'TOUCH\\n'"
ctl_bad "b'touch 0 5 6\\n'"
ctl_bad "b'touch 0 1X\\n'"
ctl_bad "b'touch 0x10 10\\n'"
ctl_bad "b'touch 1.5 10\\n'"
ctl_bad "b'touch 18446744073709551616 1\\n'"
ctl_bad "b'touch 0 99999999999T\\n'"
ctl_bad "b'evict 1M\\n'"
ctl_bad "b'touch\\x00'"
ctl_bad "b'\\x00touch'"
ctl_bad "b'\\xff\\xfe garbage'"
ctl_bad "b'touch ' + b'1' * 200 + b' 1'"
ctl_bad "b'a' * 1048576" EFBIG

# --- the daemon still serves, and the file is untouched ---------------------------------------------
alive "all the bad writes"
check_eq "$(bounded cmp "$MNT/f.bin" "$BACKING/f.bin" && echo same)" same "f.bin still reads right through the mount"
check_eq "$(policy_now)" random "policy still random at the end"
umount_fs
finish
