# shellcheck shell=bash
# Sourced by tests/tool/t_*.sh: tests/mount/lib.sh (mount_fs, umount_fs, fail, check_eq,
# $BACKING, $MNT, ...) plus helpers to run scripts/mmstat (always under dash, the shell it
# promises to run under) and to read the truth from fincore(1) on the backing files.
#
#   mm ARGS...            run mmstat; sets OUT (stdout), ERR (stderr), RC; never fails
#   mm_ok ARGS...         mm, and fail unless it exits 0 with nothing on stderr
#   mm_err RC PATTERN ARGS...  mm, and fail unless it exits RC and stderr matches the
#                         extended regular expression PATTERN
#   fincore_bytes FILE    resident bytes of BACKING/FILE by fincore(1)
#   make_file FILE MIB    BACKING/FILE with MIB MiB of random data, written back to disk
#   expect_res FILE BYTES fail unless fincore says BYTES of BACKING/FILE are resident
#
# This VM reclaims idle page cache by itself within ~30 s, so the tests mount with
# -o advice=random (no readahead past what is asked) and make residency stable by
# locking pages ('mmstat lock') or evicting them ('mmstat evict'): locked pages cannot
# be reclaimed and evicted ones stay out while nothing reads them.

# shellcheck source=tests/mount/lib.sh
. "$(dirname "$0")/../mount/lib.sh"

MMSTAT_SCRIPT=${MMSTAT_SCRIPT:-}
if [ -z "$MMSTAT_SCRIPT" ] || [ ! -r "$MMSTAT_SCRIPT" ]; then
	echo "FAIL $TEST_NAME: MMSTAT_SCRIPT='$MMSTAT_SCRIPT' is not readable (meson sets it)" >&2
	exit 1
fi
DASH=$(command -v dash) || fail "dash is missing: mmstat must run under dash"
command -v fincore >/dev/null 2>&1 || skip "fincore is missing (apt-get install util-linux)"

# shellcheck disable=SC2034 # used by the t_*.sh
PAGE=$(getconf PAGESIZE)
MIB=$((1 << 20))

mm()
{
	RC=0
	OUT=$(timeout -k 5 "$STEP_TIMEOUT" "$DASH" "$MMSTAT_SCRIPT" "$@" 2>"$T/mm.err") || RC=$?
	ERR=$(cat "$T/mm.err")
}

mm_ok()
{
	mm "$@"
	[ "$RC" -eq 0 ] || fail "mmstat $*: exit $RC, stderr: $ERR"
	[ -z "$ERR" ] || fail "mmstat $*: exit 0 but stderr: $ERR"
}

mm_err()
{
	local want=$1 pattern=$2

	shift 2
	mm "$@"
	[ "$RC" -eq "$want" ] || fail "mmstat $*: exit $RC, want $want (stderr: $ERR)"
	grep -Eq -- "$pattern" <<<"$ERR" || fail "mmstat $*: stderr '$ERR' does not match '$pattern'"
	ok "mmstat $* -> exit $want, '$ERR'"
}

fincore_bytes()
{
	local out

	out=$(fincore --bytes --noheadings --output RES "$BACKING/$1") || fail "fincore $1 failed"
	echo "${out//[[:space:]]/}"
}

make_file()
{
	mkdir -p "$(dirname "$BACKING/$1")"
	head -c $(($2 * MIB)) /dev/urandom >"$BACKING/$1"
	sync "$BACKING/$1"
}

expect_res()
{
	local got

	got=$(fincore_bytes "$1")
	[ "$got" = "$2" ] || fail "fincore $1: $got bytes resident, want $2"
}

# row PATH: the first table line of OUT whose PATH column is exactly PATH (a literal).
# Prints "SIZE RESIDENT PERCENT POLICY".
row()
{
	awk -v want="$1" 'NR > 1 {
		line = $0
		n = split(line, f, " ")
		# PATH starts after the fourth column; it may hold spaces
		p = line
		for (i = 1; i <= 4; i++) {
			sub(/^ +/, "", p)
			sub(/^[^ ]+/, "", p)
		}
		sub(/^ +/, "", p)
		if (p == want) { print f[1], f[2], f[3], f[4]; found = 1; exit }
	} END { exit !found }' <<<"$OUT"
}

# total_line: the last line of OUT with runs of blanks squeezed and no leading blank.
total_line()
{
	tail -n 1 <<<"$OUT" | tr -s ' ' | sed 's/^ //'
}
