#!/usr/bin/env bash
# Policies change behaviour: two cold 256 MiB files, one under -o advise=rand.bin=random and
# one under the default (normal); touching one byte per MiB through the mount must leave
# many times fewer backing pages resident under random (the daemon's mapping faults with
# MADV_RANDOM: no read-around) than under normal. Writing .mmstat/.../policy switches a
# file's policy for the life of the mount, and the behaviour follows.
# shellcheck source=tests/mount/lib.sh
. "$(dirname "$0")/../mount/lib.sh"
# shellcheck source=tests/mmstat/mmlib.sh
. "$(dirname "$0")/mmlib.sh"

MMTOOL=$(cd "$(dirname "$0")" && pwd -P)/mmtool.py
PAGE=$(getconf PAGESIZE)
SIZE_MIB=256
PAGES=$((SIZE_MIB * 1048576 / PAGE))
RATIO=8

fincore_pages()
{
	local bytes

	bytes=$(fincore --bytes --noheadings --output RES "$BACKING/$1") || fail "fincore $1 failed"
	bytes=${bytes//[[:space:]]/}
	echo $((bytes / PAGE))
}

# mmwrite FILE ENTRY TEXT: write TEXT + newline to .mmstat/files/FILE/ENTRY; must succeed.
mmwrite()
{
	local got

	got=$(bounded "$PY" "$MMTOOL" write "$MNT/.mmstat/files/$1/$2" "b'$3\\n'") ||
		fail "mmtool write $1/$2 exited $?"
	[ "$got" = OK ] || fail "echo '$3' > $1/$2: want success, got $got"
	ok "echo '$3' > $1/$2"
}

policy_of()
{
	bounded cat "$MNT/.mmstat/files/$1/policy" || fail "cat $1/policy failed"
}

stat_of()
{
	local text

	text=$(bounded cat "$MNT/.mmstat/files/$1/stats") || fail "cat $1/stats failed"
	kv "$2" <<<"$text" || fail "$1/stats has no '$2'"
}

# cold FILE: nothing of FILE in the page cache, through the daemon (ctl evict drops the
# daemon's own page-table entries first) and directly on the backing file.
cold()
{
	mmwrite "$1" ctl evict
	check "$PY" "$MMTOOL" evict "$BACKING/$1"
	local n
	n=$(fincore_pages "$1")
	[ "$n" -le $((PAGES / 100)) ] || fail "could not evict $1: $n pages still resident"
}

# touch_pages FILE: touch one byte per MiB of FILE through the mount (the mount file's own
# cache dropped first), then print how many backing pages are resident.
touch_pages()
{
	check "$PY" "$MMTOOL" touch_mib "$MNT/$1"
	fincore_pages "$1"
}

check "$PY" "$MMTOOL" make "$BACKING/rand.bin" "$SIZE_MIB"
check "$PY" "$MMTOOL" make "$BACKING/norm.bin" "$SIZE_MIB"

mount_fs -o advise=rand.bin=random

check_eq "$(policy_of rand.bin)" random "rand.bin's policy (-o advise=rand.bin=random)"
check_eq "$(policy_of norm.bin)" normal "norm.bin's policy (default)"
cold rand.bin
cold norm.bin

# --- random against normal --------------------------------------------------------------------
rand1=$(touch_pages rand.bin)
norm1=$(touch_pages norm.bin)
echo "# one byte per MiB of $SIZE_MIB MiB: random $rand1 pages resident, normal $norm1"
check_eq "$(stat_of rand.bin policy)" random "rand.bin's stats policy"
check_eq "$(stat_of norm.bin policy)" normal "norm.bin's stats policy"
check_eq "$(stat_of rand.bin madvise_error)" none "rand.bin: madvise_error none"
check_eq "$(stat_of norm.bin madvise_error)" none "norm.bin: madvise_error none"
WHY="random: $rand1 pages, normal: $norm1 pages" expect "random leaves >= ${RATIO}x fewer resident pages than normal" \
	test "$norm1" -ge $((RATIO * (rand1 > 0 ? rand1 : 1)))
WHY="random: $rand1 pages" expect "random touched every MiB: >= $SIZE_MIB pages resident" test "$rand1" -ge "$SIZE_MIB"

# --- writing policy changes the policy and the behaviour --------------------------------------
mmwrite norm.bin policy random
check_eq "$(policy_of norm.bin)" random "norm.bin's policy after writing random"
check_eq "$(stat_of norm.bin policy)" random "norm.bin's stats policy after writing random"
cold norm.bin
norm2=$(touch_pages norm.bin)
echo "# norm.bin after writing random: $norm2 pages (was $norm1 under normal)"
WHY="normal: $norm1 pages, after writing random: $norm2" expect "norm.bin under a written 'random' has >= ${RATIO}x fewer resident pages" \
	test "$norm1" -ge $((RATIO * (norm2 > 0 ? norm2 : 1)))

mmwrite rand.bin policy normal
check_eq "$(policy_of rand.bin)" normal "rand.bin's policy after writing normal"
cold rand.bin
rand2=$(touch_pages rand.bin)
echo "# rand.bin after writing normal: $rand2 pages (was $rand1 under random)"
WHY="random: $rand1 pages, after writing normal: $rand2" expect "rand.bin under a written 'normal' has >= ${RATIO}x more resident pages" \
	test "$rand2" -ge $((RATIO * (rand1 > 0 ? rand1 : 1)))
check_eq "$(stat_of rand.bin madvise_error)" none "rand.bin: madvise_error none after the policy write"

# Extras are applied too: normal+dontneed etc. must parse, show, and not break reads.
mmwrite rand.bin policy "sequential+willneed+nohugepage"
check_eq "$(policy_of rand.bin)" "sequential+willneed+nohugepage" "policy with extras reads back"
check_eq "$(bounded cmp "$MNT/rand.bin" "$BACKING/rand.bin" && echo same)" same "rand.bin reads right under sequential+willneed+nohugepage"
check_eq "$(stat_of rand.bin madvise_error)" none "sequential+willneed+nohugepage: madvise_error none"

# The written policy lasts the mount's life: still there after every handle closed and the
# mapping went idle; gone after a remount.
check_eq "$(policy_of norm.bin)" random "norm.bin keeps the written policy after its handles closed"
umount_fs
mount_fs -o advise=rand.bin=random
check_eq "$(policy_of norm.bin)" normal "after a remount norm.bin is back to the default"
check_eq "$(policy_of rand.bin)" random "after a remount rand.bin is back to its rule"
umount_fs

# With no idle mappings kept at all, a written policy must still survive the close.
mount_fs -o max_idle_maps=0
mmwrite norm.bin policy random+cold
check "$PY" "$MMTOOL" read_range "$MNT/norm.bin" 0 4096
check_eq "$(policy_of norm.bin)" random+cold "-o max_idle_maps=0: the written policy survives open/read/close"
check_eq "$(stat_of norm.bin policy)" random+cold "-o max_idle_maps=0: stats shows the written policy"
umount_fs

finish
