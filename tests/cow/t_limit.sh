#!/usr/bin/env bash
# -o cow_limit=8M bounds the private pages of all files together: a dd past it fails with
# "No space left on device" (ENOSPC), the daemon survives, the changes made before stay
# visible and exactly what dd reported written is there; the limit can be used to the last
# page and no further; rewriting a private page still works at the limit; a client mapping's
# writeback past it fails at msync; discard frees room again; concurrent writers to several
# files never pass it together; the backing files never change.
# SC2119: mount_fs takes optional arguments.
# shellcheck disable=SC2119
# shellcheck source=tests/cow/cowlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/cowlib.sh"

LIMIT=$((8 * MIB))
MODEL=$T/model
SRC=$T/src
head -c $((16 * MIB)) /dev/urandom >"$SRC"
head -c $((2 * MIB)) /dev/urandom >"$BACKING/a.bin"
: >"$BACKING/big"
for i in 1 2 3 4 5 6 7 8; do
	: >"$BACKING/par$i"
done
head -c $((4 * MIB)) /dev/urandom >"$BACKING/fill"
head -c $((64 * PAGE)) /dev/urandom >"$BACKING/c.bin"
head -c $((64 * PAGE)) /dev/urandom >"$BACKING/m.bin"
cp -a "$BACKING" "$MODEL"
fingerprint "$BACKING" >"$T/before"

mount_fs -o access=cow,cow_limit=8M

# 1 MiB + 3 pages of private pages in a.bin (from 256 KiB on), well within the limit; the
# odd count leaves the dd below a remainder for the page-by-page fill.
A_PAGES=259
for d in "$MODEL" "$MNT"; do
	bounded dd if="$SRC" of="$d/a.bin" bs="$PAGE" count=$A_PAGES seek=64 conv=notrunc status=none ||
		fail "$A_PAGES pages into $d/a.bin under the limit failed"
done
check_eq "$(private_bytes)" $((A_PAGES * PAGE)) "$A_PAGES pages written: summary private_bytes"
LEFT=$((LIMIT - A_PAGES * PAGE))

# --- dd past the limit ---------------------------------------------------------------------------
rc=0
bounded dd if="$SRC" of="$MNT/big" bs=1M count=16 conv=notrunc 2>"$T/dd.err" || rc=$?
[ "$rc" -ne 0 ] || fail "dd of 16 MiB under cow_limit=8M ($A_PAGES pages already private) succeeded"
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then fail "dd past the limit timed out (status $rc)"; fi
grep -q 'No space left on device' "$T/dd.err" ||
	fail "dd past the limit: want 'No space left on device', got: $(cat "$T/dd.err")"
ok "dd of 16 MiB past cow_limit: No space left on device"
copied=$(sed -n 's/^\([0-9][0-9]*\) bytes.*copied.*/\1/p' "$T/dd.err")
[ -n "$copied" ] || fail "no 'N bytes copied' line from dd: $(cat "$T/dd.err")"
[ "$copied" -le "$LEFT" ] || fail "dd copied $copied bytes, more than the $LEFT left under the limit"
[ "$copied" -ge $((LEFT - MIB)) ] || fail "dd copied only $copied bytes of the $LEFT left under the limit"
ok "dd copied $copied bytes, within the $LEFT left"
daemon_alive "after ENOSPC"

# what dd reported written is there, and nothing else
head -c "$copied" "$SRC" >"$MODEL/big"
out=$(cowpy same "$MNT/big" "$MODEL/big" 2>&1) || fail "big after the failed dd: $out"
ok "big shows exactly the $copied bytes dd reported"
out=$(cowpy same "$MNT/a.bin" "$MODEL/a.bin" 2>&1) || fail "a.bin after the ENOSPC: $out"
ok "a.bin: the changes made before the ENOSPC are still visible"
pb=$(private_bytes)
[ "$pb" -le "$LIMIT" ] || fail "summary private_bytes $pb is past cow_limit $LIMIT"
check_eq "$(mmkey "$(mm big stats)" private_pages)" $(((copied + PAGE - 1) / PAGE)) \
	"big: stats private_pages covers what dd wrote"

# --- the limit is usable to its last page, and no further -----------------------------------------
pages=$(cowpy fill "$MNT/fill") || fail "fill: $pages"
check_eq "$pages" $(((LEFT - copied) / PAGE)) "page-by-page writes: ENOSPC after the $(((LEFT - copied) / PAGE)) pages left"
check_eq "$(private_bytes)" "$LIMIT" "page-by-page writes stop with ENOSPC exactly at the limit"
expect_errno ENOSPC write "$MNT/c.bin" "x"
expect_errno ENOSPC append "$MNT/a.bin" "more"
# a page that is already private costs nothing more
for d in "$MODEL" "$MNT"; do
	printf 'x' | bounded dd of="$d/a.bin" bs=1 seek=$((64 * PAGE + 7)) conv=notrunc status=none ||
		fail "rewriting a byte of a private page of $d/a.bin at the limit failed"
	bounded dd if="$SRC" of="$d/a.bin" bs=64K count=4 skip=9 seek=5 conv=notrunc status=none ||
		fail "rewriting private pages of $d/a.bin at the limit failed"
done
out=$(cowpy same "$MNT/a.bin" "$MODEL/a.bin" 2>&1) || fail "a.bin after rewrites at the limit: $out"
ok "at the limit, rewriting private pages of a.bin works"
out=$(cowpy same "$MNT/c.bin" "$MODEL/c.bin" 2>&1) || fail "c.bin after its refused write: $out"
ok "c.bin: the refused write left nothing behind"

# A client MAP_SHARED mapping: the writeback past the limit is refused; msync reports it.
got=$(cowpy mmap_write "$MNT/m.bin" 100 PATCH) || fail "mmap_write: $got"
case $got in
OK) flunk "a MAP_SHARED write past cow_limit: flush() succeeded (private_bytes $(private_bytes), limit $LIMIT)" ;;
*) ok "a MAP_SHARED write past cow_limit: flush() fails with $got" ;;
esac
daemon_alive "after the refused writeback"
[ "$(private_bytes)" -le "$LIMIT" ] || fail "private_bytes past the limit after a mapped write"

# --- discard frees room ----------------------------------------------------------------------------
mmctl big discard
check_eq "$(private_pages big)" 0 "big: discard drops its private pages"
check_eq "$(private_bytes)" $((LIMIT - (copied + PAGE - 1) / PAGE * PAGE)) "summary private_bytes falls by big's pages"
check_eq "$(bounded stat -c %s "$MNT/big")" 0 "big: back to its backing size 0"
expect_ok write "$MNT/c.bin" "x"
printf 'x' | dd of="$MODEL/c.bin" conv=notrunc status=none
out=$(cowpy same "$MNT/c.bin" "$MODEL/c.bin" 2>&1) || fail "c.bin after discard made room: $out"
ok "after the discard, a new page can be written again"
out=$(cowpy same "$MNT/a.bin" "$MODEL/a.bin" 2>&1) || fail "a.bin at the end: $out"
ok "a.bin still shows its changes"

# --- concurrent writers: the bound holds for all files together ------------------------------------
# Eight writers of 2 MiB each (16 MiB) into eight files, in rounds, each round discarded.
for f in big a.bin fill c.bin m.bin; do
	mmctl "$f" discard
done
check_eq "$(private_bytes)" 0 "everything discarded: summary private_bytes 0"
over=
for round in 1 2 3 4 5 6 7 8; do
	pids=()
	for i in 1 2 3 4 5 6 7 8; do
		bounded dd if="$SRC" of="$MNT/par$i" bs=1M count=2 conv=notrunc status=none 2>/dev/null &
		pids+=($!)
	done
	for pid in "${pids[@]}"; do
		rc=0
		wait "$pid" || rc=$?
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then fail "round $round: a concurrent dd hung"; fi
	done
	pb=$(private_bytes)
	sum=0
	for i in 1 2 3 4 5 6 7 8; do
		sum=$((sum + $(private_pages "par$i")))
	done
	[ "$pb" -eq $((sum * PAGE)) ] || fail "round $round: summary private_bytes $pb, files' private_pages sum to $((sum * PAGE))"
	if [ "$pb" -gt "$LIMIT" ]; then
		over+=" round $round: $pb;"
	fi
	for i in 1 2 3 4 5 6 7 8; do
		mmctl "par$i" discard
	done
done
if [ -z "$over" ]; then
	ok "8 rounds of 8 concurrent 2 MiB writers: private_bytes never past cow_limit"
else
	flunk "concurrent writers passed cow_limit=$LIMIT:$over"
fi
daemon_alive "after the concurrent writers"

no_write_fds "$BACKING" 3
umount_fs
fingerprint "$BACKING" >"$T/after"
diff "$T/before" "$T/after" >"$T/diff" ||
	fail "the backing tree changed under the cow mount: $(head -n 20 "$T/diff")"
ok "the backing files are unchanged"
