#!/usr/bin/env bash
# .mmstat/files/F/residency and map against fincore(1) on the backing file, and ctl's
# touch / evict / lock / unlock. This VM reclaims idle page cache by itself within ~30 s,
# so every residency is read right after the action that set it, with a tolerance of a
# few percent (or with locked pages, which reclaim cannot take).
# shellcheck disable=SC2119
# shellcheck source=tests/mount/lib.sh
. "$(dirname "$0")/../mount/lib.sh"
# shellcheck source=tests/mmstat/mmlib.sh
. "$(dirname "$0")/mmlib.sh"

MMTOOL=$(cd "$(dirname "$0")" && pwd -P)/mmtool.py
PAGE=$(getconf PAGESIZE)
MIB=$((1 << 20))
SIZE_MIB=64
SIZE=$((SIZE_MIB * MIB))
PAGES=$((SIZE / PAGE))
# Tolerance between two residency readings taken a moment apart: 2% of the file.
TOL=$((PAGES / 50))

# le A B / ge A B: numeric comparisons, also for one-decimal percentages.
le()
{
	awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }'
}

ge()
{
	le "$2" "$1"
}

# res FILE KEY: KEY of MNT/.mmstat/files/FILE/residency.
res()
{
	local text

	text=$(bounded cat "$MNT/.mmstat/files/$1/residency") || fail "cat $1/residency failed"
	kv "$2" <<<"$text" || fail "$1/residency has no '$2' (got: $text)"
}

# fincore_pages FILE: resident pages of the backing FILE by fincore(1).
fincore_pages()
{
	local bytes

	bytes=$(fincore --bytes --noheadings --output RES "$BACKING/$1") || fail "fincore $1 failed"
	bytes=${bytes//[[:space:]]/}
	echo $((bytes / PAGE))
}

# ctl FILE COMMAND: write COMMAND to FILE's ctl; must succeed.
ctl()
{
	local got

	got=$(bounded "$PY" "$MMTOOL" write "$MNT/.mmstat/files/$1/ctl" "b'$2\\n'") ||
		fail "mmtool write $1/ctl exited $?"
	[ "$got" = OK ] || fail "echo '$2' > $1/ctl: want success, got $got"
	ok "echo '$2' > $1/ctl"
}

# agree FILE WHAT: residency's resident_pages and fincore's agree within TOL. fincore is
# read between two residency readings, so drift between the readings widens the window.
agree()
{
	local r1 f r2 lo hi

	r1=$(res "$1" resident_pages)
	f=$(fincore_pages "$1")
	r2=$(res "$1" resident_pages)
	lo=$((r1 < r2 ? r1 : r2))
	hi=$((r1 > r2 ? r1 : r2))
	if [ "$f" -ge $((lo - TOL)) ] && [ "$f" -le $((hi + TOL)) ]; then
		ok "$2: residency ($r1, $r2 pages) agrees with fincore ($f pages) within $TOL"
	else
		bad "$2: residency says $r1 then $r2 resident pages, fincore says $f (tolerance $TOL)"
	fi
	AGREED=$f
}

# settle FILE: wait (up to 5 s) until FILE's resident_pages stops changing; readahead
# started by a read goes on after the read returns.
settle()
{
	local prev=-1 cur tries=0

	cur=$(res "$1" resident_pages)
	while [ "$cur" != "$prev" ] && [ "$tries" -lt 25 ]; do
		sleep 0.2
		prev=$cur
		cur=$(res "$1" resident_pages)
		tries=$((tries + 1))
	done
}

# extents FILE: check the map format (START-END, END exclusive, page-aligned starts,
# sorted, merged, inside the file; a violation fails the test at once) and print
# "START END" lines. Call it as ext=$(extents FILE) so that failure stops the test.
extents()
{
	local map size prev_end=-1 start end line

	map=$(bounded cat "$MNT/.mmstat/files/$1/map") || fail "cat $1/map failed"
	size=$(stat -c %s "$BACKING/$1")
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		[[ "$line" =~ ^([0-9]+)-([0-9]+)$ ]] || fail "$1/map: bad line '$line'"
		start=${BASH_REMATCH[1]} end=${BASH_REMATCH[2]}
		[ "$start" -lt "$end" ] || fail "$1/map: empty or reversed extent $line"
		[ $((start % PAGE)) -eq 0 ] || fail "$1/map: extent $line does not start on a page"
		[ "$end" -le "$size" ] || fail "$1/map: extent $line ends past the file size $size"
		[ "$start" -gt "$prev_end" ] || fail "$1/map: extent $line overlaps or touches the previous one (not merged, or unsorted)"
		prev_end=$end
		echo "$start $end"
	done <<<"$map"
}

# covered EXTENTS START END: one of EXTENTS (from extents) covers [START, END).
covered()
{
	awk -v s="$2" -v e="$3" '$1 <= s && $2 >= e { f = 1 } END { exit !f }' <<<"$1"
}

check "$PY" "$MMTOOL" make "$BACKING/big.bin" "$SIZE_MIB"
check "$PY" "$MMTOOL" make "$BACKING/map.bin" "$SIZE_MIB"
check "$PY" "$MMTOOL" make "$BACKING/lock.bin" 8
printf 'tail' >>"$BACKING/lock.bin" # not a page multiple: the last page is partial

mount_fs

# --- the fields of residency ---------------------------------------------------------------
check_eq "$(res big.bin size)" "$SIZE" "residency size"
check_eq "$(res big.bin page_size)" "$PAGE" "residency page_size"
check_eq "$(res big.bin pages)" "$PAGES" "residency pages"
check_eq "$(res lock.bin pages)" $(((8 * MIB + 4 + PAGE - 1) / PAGE)) "residency pages of a file with a partial last page"
check_eq "$(res big.bin accurate)" 1 "residency accurate (the daemon runs as root)"
m=$(res big.bin method)
WHY="got '$m'" expect "residency method names a method" test -n "$m" -a "$m" != none
check "$PY" "$MMTOOL" read_range "$MNT/big.bin" 0 $((16 * MIB))
text=$(bounded cat "$MNT/.mmstat/files/big.bin/residency")
rp=$(kv resident_pages <<<"$text")
rb=$(kv resident_bytes <<<"$text")
pct=$(kv resident_percent <<<"$text")
check_eq "$rb" $((rp * PAGE > SIZE ? SIZE : rp * PAGE)) "resident_bytes = resident_pages * page_size"
x10=$((rp * 1000 / PAGES))
check_eq "$pct" "$((x10 / 10)).$((x10 % 10))" "resident_percent has one decimal and matches resident_pages"
m=$(kv mapped <<<"$text")
WHY="got '$m'" expect "residency mapped is 0 or 1" test "$m" = 0 -o "$m" = 1
for key in dirty_pages writeback_pages evicted_pages recently_evicted_pages; do
	m=$(kv "$key" <<<"$text") || m=missing
	WHY="got '$m'" expect "residency $key is a number" test -n "${m##*[!0-9]*}"
done
WHY="got $rp" expect "after reading 16 MiB of 64 through the mount, about 16 MiB is resident" \
	ge "$rp" $((16 * MIB / PAGE - TOL))

# --- residency against fincore, after evict and after touch ---------------------------------------
agree big.bin "after reading 16 MiB of 64"
ctl big.bin evict
pct=$(res big.bin resident_percent)
WHY="got $pct" expect "after evict, resident_percent <= 3.0" le "$pct" 3.0
agree big.bin "after evict"
WHY="fincore: $AGREED of $PAGES" expect "after evict, fincore shows <= 3% resident" le "$AGREED" $((PAGES * 3 / 100))
ctl big.bin touch
pct=$(res big.bin resident_percent)
WHY="got $pct" expect "after touch, resident_percent >= 97.0" ge "$pct" 97.0
agree big.bin "after touch"
WHY="fincore: $AGREED of $PAGES" expect "after touch, fincore shows >= 97% resident" ge "$AGREED" $((PAGES * 97 / 100))
ctl big.bin evict
check "$PY" "$MMTOOL" evict "$BACKING/big.bin"
ctl big.bin "touch 8M 8M"
agree big.bin "after touch 8M 8M"
ext=$(extents big.bin)
WHY="map: $(tr '\n' ',' <<<"$ext")" expect "after 'touch 8M 8M', a map extent covers 8M-16M" \
	covered "$ext" $((8 * MIB)) $((16 * MIB))
WHY="fincore: $AGREED of $PAGES" expect "touch 8M 8M does not make the whole file resident" \
	le "$AGREED" $((PAGES / 2))
ctl big.bin evict

# --- map after evict, then a dd through the mount --------------------------------------------------
# map.bin was never read through the mount: the kernel's cache of the mount file is empty, so
# dd must reach the daemon's mapping.
ctl map.bin evict
check "$PY" "$MMTOOL" evict "$BACKING/map.bin"
m=$(bounded cat "$MNT/.mmstat/files/map.bin/map")
WHY="map: $(tr '\n' ',' <<<"$m")" expect "map of an evicted file is empty" test -z "$m"
check dd if="$MNT/map.bin" of=/dev/null bs=1M skip=20 count=4 status=none
settle map.bin
ext=$(extents map.bin)
WHY="map: $(tr '\n' ',' <<<"$ext")" expect "after dd bs=1M skip=20 count=4 through the mount, a map extent covers 20M-24M" \
	covered "$ext" $((20 * MIB)) $((24 * MIB))
WHY="map: $(tr '\n' ',' <<<"$ext")" expect "after evict and a read of 20M-24M, the map does not start at 0" \
	test "$(head -n1 <<<"$ext" | cut -d' ' -f1)" -gt 0
# map between two fincore readings: its pages must lie between them (within TOL).
f1=$(fincore_pages map.bin)
ext=$(extents map.bin)
f2=$(fincore_pages map.bin)
sum=$(awk -v p="$PAGE" '{ s += int(($2 - $1 + p - 1) / p) } END { print s + 0 }' <<<"$ext")
WHY="map: $sum pages, fincore: $f1 then $f2" expect "the map extents hold as many pages as fincore shows" \
	test "$sum" -ge $(((f1 < f2 ? f1 : f2) - TOL)) -a "$sum" -le $(((f1 > f2 ? f1 : f2) + TOL))
agree map.bin "after dd of 20M-24M"

# --- lock and unlock --------------------------------------------------------------------------------
# Sanitizer runtimes make mlock(2) a no-op (their shadow memory cannot be locked), so an
# instrumented daemon cannot pin pages: the lock checks need a plain build.
if grep -qa -e __asan_init -e __tsan_init -e __msan_init "$MMAPFS_BIN"; then
	echo "# $MMAPFS_BIN is built with a sanitizer (mlock is a no-op there): residency after lock not checked"
	ctl lock.bin "lock 0 1M"
	ctl lock.bin unlock
else
	ctl lock.bin evict
	check "$PY" "$MMTOOL" evict "$BACKING/lock.bin"
	ctl lock.bin "lock 0 1M"
	rp=$(res lock.bin resident_pages)
	WHY="got $rp" expect "after 'lock 0 1M', resident_pages >= 256" ge "$rp" 256
	ext=$(extents lock.bin)
	WHY="map: $(tr '\n' ',' <<<"$ext")" expect "after 'lock 0 1M', a map extent covers 0-1M" covered "$ext" 0 "$MIB"
	ctl lock.bin evict
	rp=$(res lock.bin resident_pages)
	WHY="got $rp" expect "locked pages survive evict: resident_pages >= 256" ge "$rp" 256
	ext=$(extents lock.bin)
	WHY="map: $(tr '\n' ',' <<<"$ext")" expect "after 'lock 0 1M' and evict, a map extent still covers 0-1M" \
		covered "$ext" 0 "$MIB"
	ctl lock.bin "lock 4M 1M"
	ext=$(extents lock.bin)
	WHY="map: $(tr '\n' ',' <<<"$ext")" expect "after 'lock 4M 1M', a map extent covers 4M-5M" \
		covered "$ext" $((4 * MIB)) $((5 * MIB))
	ctl lock.bin "unlock 0 1M"
	ctl lock.bin unlock
	ctl lock.bin evict
	check "$PY" "$MMTOOL" evict "$BACKING/lock.bin"
	rp=$(res lock.bin resident_pages)
	WHY="got $rp" expect "after unlock and evict, <= 3% of the pages are resident" le "$rp" $((8 * MIB * 3 / 100 / PAGE))
	ctl lock.bin "lock 8M 4K" # the partial last page
	ext=$(extents lock.bin)
	WHY="map: $(tr '\n' ',' <<<"$ext")" expect "after 'lock 8M 4K', the map covers the file's partial last page" \
		covered "$ext" $((8 * MIB)) $((8 * MIB + 4))
	ctl lock.bin unlock
fi

umount_fs
finish
