# shellcheck shell=bash
# Sourced by every tests/cow/t_*.sh: tests/mount/lib.sh (the mount, the daemon, fail/ok/
# check/expect_errno...) plus what the cow tests share:
#
#   cowpy CMD ARGS...        cowcheck.py CMD ARGS... (bounded); see its docstring
#   fingerprint DIR          every entry under DIR: name, type, mode, owner, size, mtime,
#                            ctime, xattrs and sha256 of the data, one line each
#   mm FILE KIND             MNT/.mmstat/files/FILE/KIND (residency, stats, ...)
#   mmkey TEXT KEY           the value of "KEY: value" in TEXT
#   private_pages FILE       private_pages of FILE's residency
#   private_bytes            private_bytes of the summary
#   mmctl FILE COMMAND       write COMMAND to FILE's ctl
#   no_write_fds DIR MIN     the daemon has no fd into DIR open for writing, at least MIN
#                            real opens, and no shared writable mapping of DIR's files
#   daemon_alive WHAT        fail unless the daemon still runs and answers a stat
#
# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../mount/lib.sh"

COW_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
COWPY=$COW_DIR/cowcheck.py
# shellcheck disable=SC2034 # used by the t_*.sh that source this
PAGE=$(getconf PAGESIZE)
# shellcheck disable=SC2034
MIB=$((1 << 20))

cowpy()
{
	bounded "$PY" "$COWPY" "$@"
}

fingerprint()
{
	(
		cd "$1" &&
			find . -printf '%p %y %m %U:%G %s %T@ %C@ -> %l\n' | LC_ALL=C sort &&
			find . -type f -exec sha256sum {} + | LC_ALL=C sort &&
			{ getfattr -R -d -m - --absolute-names . 2>/dev/null || true; }
	)
}

mm()
{
	local out

	out=$(bounded cat "$MNT/.mmstat/files/$1/$2") || fail "reading .mmstat/files/$1/$2 failed"
	printf '%s\n' "$out"
}

mmkey()
{
	local value

	value=$(awk -v k="$2" 'index($0, k ": ") == 1 { print substr($0, length(k) + 3); f = 1 }
		END { exit !f }' <<<"$1") || fail "no '$2:' line in: $1"
	printf '%s\n' "${value%% *}"
}

private_pages()
{
	mmkey "$(mm "$1" residency)" private_pages
}

private_bytes()
{
	local out

	out=$(bounded cat "$MNT/.mmstat/summary") || fail "reading .mmstat/summary failed"
	mmkey "$out" private_bytes
}

mmctl()
{
	printf '%s\n' "$2" | bounded dd of="$MNT/.mmstat/files/$1/ctl" status=none 2>"$T/ctl.err" ||
		fail "echo $2 > .mmstat/files/$1/ctl failed: $(cat "$T/ctl.err")"
}

no_write_fds()
{
	local out

	out=$(cowpy fds "$DAEMON_PID" "$1" "$2" 2>&1) || fail "$out"
	ok "fdinfo/maps: $out"
}

daemon_alive()
{
	pid_alive "$DAEMON_PID" || fail "$1: the daemon (pid $DAEMON_PID) is gone"
	bounded stat "$MNT" >/dev/null || fail "$1: stat of the mount root failed or hung"
	bounded cat "$MNT/.mmstat/summary" >/dev/null || fail "$1: .mmstat/summary unreadable"
	ok "$1: the daemon is alive and answers"
}
