# shellcheck shell=bash
# Sourced by tests/mmstat/t_*.sh after tests/mount/lib.sh: violations are gathered
# (bad), reported together at the end (finish), so one run shows every broken case.

BAD=

# bad MSG: record a contract violation and go on.
bad()
{
	BAD+="  - $*"$'\n'
	echo "not ok - $*" >&2
}

# finish: fail the test when any violation was recorded.
finish()
{
	[ -z "$BAD" ] || fail "contract violations:"$'\n'"$BAD"
}

# expect WHAT CMD...: ok when CMD succeeds, else a violation "WHAT (WHY)".
expect()
{
	local what=$1

	shift
	if "$@"; then ok "$what"; else bad "$what${WHY:+ ($WHY)}"; fi
}

# kv KEY: the value of "KEY: value" on stdin; fails when the key is absent.
kv()
{
	awk -v k="$1" 'index($0, k ": ") == 1 { print substr($0, length(k) + 3); f = 1 } END { exit !f }'
}
