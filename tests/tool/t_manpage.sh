#!/usr/bin/env bash
# fs/mmapfs.1.scd against the daemon it documents: every option 'mmapfs -h' lists (ours and
# libfuse's), every key of a live mount's .mmstat summary, residency and stats files, every
# ctl command and policy word appear in the man page; and it renders with scdoc(1) and
# man(1) without warnings (those two checks are skipped when scdoc is not installed).
# shellcheck source=tests/tool/common.sh
. "$(dirname "$0")/common.sh"

SCD=$(cd "$(dirname "$0")/../../fs" && pwd -P)/mmapfs.1.scd
[ -r "$SCD" ] || fail "$SCD is missing"

# mentioned WORD WHAT: fail unless WORD appears in the man page source as a whole word.
mentioned()
{
	grep -qF -- "$1" "$SCD" || fail "the man page does not mention $2 '$1'"
}

help=$("$MMAPFS_BIN" -h 2>&1) || fail "mmapfs -h exited $?"
opts=$(sed -n 's/^ *-o \([a-z_]*\).*/\1/p' <<<"$help" | sort -u)
[ "$(wc -l <<<"$opts")" -ge 15 ] || fail "too few -o options found in mmapfs -h: $opts"
for o in $opts; do
	grep -qE -- "-o $o([=*]|\\*|$| )" "$SCD" || fail "the man page does not document -o $o"
done
ok "every -o option of mmapfs -h is documented: $(tr '\n' ' ' <<<"$opts")"
for flag in -h --help -V --version -d -f -s; do
	grep -qF -- "*$flag*" "$SCD" || fail "the man page does not document $flag"
done
ok "-h --help -V --version -d -f -s are documented"
words=$(sed -n 's/.*normal|random|sequential, then .+.-joined extras: \(.*\)/\1/p;/^ *populate,/p' <<<"$help" |
	tr ',' '\n' | sed 's/^ *//;s/ *$//' | grep -v '^$')
for w in normal random sequential $words; do
	grep -qF -- "*$w*" "$SCD" || fail "the man page does not describe the policy word '$w'"
done
ok "every policy word is described: normal random sequential $(tr '\n' ' ' <<<"$words")"

# .mmstat keys from a live mount (cow too, for its private_* keys).
printf 'x\n' >"$BACKING/f"
for mode in rw cow; do
	mount_fs -o access=$mode
	for file in summary files/f/residency files/f/stats; do
		keys=$(sed -n 's/^\([a-z_]*\): .*/\1/p' "$MNT/.mmstat/$file")
		[ -n "$keys" ] || fail "no keys in .mmstat/$file"
		for k in $keys; do
			grep -qF -- "*$k*" "$SCD" || fail "the man page does not describe $file key '$k'"
		done
	done
	umount_fs
done
ok "every key of summary, residency and stats (rw and cow) is described"
for c in touch evict lock unlock discard; do
	grep -qF -- "*$c*" "$SCD" || fail "the man page does not describe ctl '$c'"
done
ok "every ctl command is described"
for s in NAME SYNOPSIS DESCRIPTION OPTIONS POLICIES "EXIT STATUS" FILES EXAMPLES "SEE ALSO"; do
	grep -qx "# $s" "$SCD" || fail "the man page has no $s section"
done
for ref in 'fusermount3*(1)' 'mincore*(2)' 'madvise*(2)' 'fincore*(1)' 'vmtouch*(8)'; do
	mentioned "$ref" "the reference"
done
ok "sections and SEE ALSO references"

if ! command -v scdoc >/dev/null 2>&1; then
	echo "# scdoc is not installed (apt-get install scdoc): rendering not checked"
	exit 0
fi
scdoc <"$SCD" >"$T/mmapfs.1" || fail "scdoc failed on $SCD"
ok "scdoc renders it"
if command -v man >/dev/null 2>&1; then
	warnings=$(MANWIDTH=80 man --warnings -l "$T/mmapfs.1" 2>&1 >/dev/null) || true
	[ -z "$warnings" ] || fail "man reports: $warnings"
	text=$(MANWIDTH=80 man -l "$T/mmapfs.1" 2>/dev/null | col -b)
	grep -q '^NAME' <<<"$text" || fail "the rendered page has no NAME: $text"
	grep -q 'fuse.mmapfs' <<<"$text" || fail "the rendered page lacks its text: $text"
	ok "man renders it without warnings"
fi
