#!/usr/bin/env bash
# cow growth and shrinking: a write at size + 1 MiB and a truncate up grow a file past its
# backing size with zeros in between; a shrink hides the tail and a regrow reads zeros
# (unaligned, aligned, to 0, over private pages); the mount reports the private size and a
# new mtime; cp (which asks SEEK_DATA/SEEK_HOLE) copies what read(2) shows; growth is bounded
# per file (EFBIG); the backing files never change.
# SC2119: mount_fs takes optional arguments.
# shellcheck disable=SC2119
# shellcheck source=tests/cow/cowlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/cowlib.sh"

MODEL=$T/model
head -c 100000 /dev/urandom >"$BACKING/g.bin"      # unaligned
head -c $((3 * PAGE)) /dev/urandom >"$BACKING/h.bin" # aligned
head -c 50000 /dev/urandom >"$BACKING/s.bin"
head -c $((16 * PAGE)) /dev/urandom >"$BACKING/p.bin"
head -c 30000 /dev/urandom >"$BACKING/z.bin"
head -c 20000 /dev/urandom >"$BACKING/t.bin"
: >"$BACKING/e.bin"
cp -a "$BACKING" "$MODEL"
fingerprint "$BACKING" >"$T/before"

mount_fs -o access=cow

# same FILE: the mount's FILE equals the model's (size; read, O_DIRECT and mmap bytes).
same()
{
	local out

	out=$(cowpy same "$MNT/$1" "$MODEL/$1" 2>&1) || fail "$out"
}

size_is()
{
	check_eq "$(bounded stat -c %s "$MNT/$1")" "$2" "$1 reports size $2"
}

# --- a write at size + 1 MiB ---------------------------------------------------------------------
end=$((100000 + MIB))
before_write=$(date +%s.%N)
for d in "$MODEL" "$MNT"; do
	printf 'END' | bounded dd of="$d/g.bin" bs=3 seek=$end oflag=seek_bytes conv=notrunc status=none ||
		fail "writing 3 bytes at $end of $d/g.bin failed"
done
size_is g.bin $((end + 3))
same g.bin
cowpy zeros "$MNT/g.bin" 100000 "$MIB" || fail "g.bin: the 1 MiB gap is not zeros"
ok "g.bin: backing bytes, then 1 MiB of zeros, then END"
check_eq "$(bounded tail -c 3 "$MNT/g.bin")" END "g.bin ends with the bytes written past its end"
check_eq "$(private_pages g.bin)" 1 "g.bin: one 3-byte write, one private page"
check_eq "$(private_bytes)" "$PAGE" "summary private_bytes: one page"
mtime=$(bounded stat -c %Y "$MNT/g.bin")
[ "$mtime" -ge "${before_write%%.*}" ] ||
	fail "g.bin: mtime $mtime through the mount is older than the write (${before_write%%.*})"
ok "g.bin: the mount reports the time of the last change as mtime"
check_eq "$(stat -c %s "$BACKING/g.bin")" 100000 "the backing g.bin keeps its size"

# Programs that copy sparse files ask the filesystem where the data is.
if out=$(cowpy seek "$MNT/g.bin" 2>&1); then
	ok "g.bin: SEEK_DATA/SEEK_HOLE see the bytes written past the backing end"
else
	flunk "g.bin: $out"
fi
bounded cp "$MNT/g.bin" "$T/g.copy" || fail "cp of g.bin failed"
if cmp -s "$T/g.copy" "$MODEL/g.bin"; then
	ok "cp of the grown g.bin copies what the mount shows"
else
	flunk "cp $MNT/g.bin: the copy differs from what read(2) shows: $(cmp "$T/g.copy" "$MODEL/g.bin" 2>&1 || true)"
fi

# --- truncate up ---------------------------------------------------------------------------------
for d in "$MODEL" "$MNT"; do
	bounded truncate -s $((3 * PAGE + MIB)) "$d/h.bin" || fail "truncate -s +1M $d/h.bin failed"
done
size_is h.bin $((3 * PAGE + MIB))
same h.bin
cowpy zeros "$MNT/h.bin" $((3 * PAGE)) "$MIB" || fail "h.bin: the part grown by truncate is not zeros"
ok "h.bin: truncate up by 1 MiB reads the backing bytes, then zeros"
# truncate(2) by path (python os.truncate), not only ftruncate (coreutils)
for d in "$MODEL" "$MNT"; do
	bounded "$PY" -c 'import os, sys; os.truncate(sys.argv[1], 333333)' "$d/t.bin" ||
		fail "os.truncate($d/t.bin, 333333) failed"
done
same t.bin
ok "t.bin: truncate(2) by path grows it to 333333, zeros past 20000"
# growth of an empty backing file
for d in "$MODEL" "$MNT"; do
	printf 'x' | bounded dd of="$d/e.bin" bs=1 seek=$((2 * MIB)) conv=notrunc status=none ||
		fail "writing at 2 MiB of the empty $d/e.bin failed"
done
same e.bin
ok "e.bin: an empty backing file grows to 2 MiB + 1 through a write"

# --- shrink, then regrow ---------------------------------------------------------------------------
# unaligned: the rest of the last page must read as zeros after the regrow
for d in "$MODEL" "$MNT"; do
	bounded truncate -s 1000 "$d/s.bin" || fail "truncate -s 1000 $d/s.bin failed"
done
size_is s.bin 1000
same s.bin
for d in "$MODEL" "$MNT"; do
	bounded truncate -s 50000 "$d/s.bin" || fail "truncate -s 50000 $d/s.bin failed"
done
size_is s.bin 50000
same s.bin
cowpy zeros "$MNT/s.bin" 1000 49000 || fail "s.bin: shrunk to 1000 and regrown, bytes past 1000 are not zeros"
ok "s.bin: shrink to 1000 then regrow to 50000: the old tail reads as zeros"
# aligned, over pages written privately before the shrink
for d in "$MODEL" "$MNT"; do
	printf 'PRIVATE-PAGE-10' | bounded dd of="$d/p.bin" bs=15 seek=$((10 * PAGE + 100)) oflag=seek_bytes \
		conv=notrunc status=none || fail "writing page 10 of $d/p.bin failed"
	printf 'PRIVATE-PAGE-1' | bounded dd of="$d/p.bin" bs=14 seek=$((PAGE + 5)) oflag=seek_bytes \
		conv=notrunc status=none || fail "writing page 1 of $d/p.bin failed"
done
same p.bin
check_eq "$(private_pages p.bin)" 2 "p.bin: two private pages"
for d in "$MODEL" "$MNT"; do
	bounded truncate -s $((4 * PAGE)) "$d/p.bin" || fail "truncate -s 4 pages $d/p.bin failed"
done
size_is p.bin $((4 * PAGE))
same p.bin
pp=$(private_pages p.bin)
if [ "$pp" -eq 1 ]; then
	ok "p.bin: shrunk to 4 pages, only page 1 is still private"
else
	flunk "p.bin: shrunk to 4 pages (page 10 gone, page 1 kept), residency private_pages is $pp, want 1"
fi
for d in "$MODEL" "$MNT"; do
	bounded truncate -s $((12 * PAGE)) "$d/p.bin" || fail "truncate -s 12 pages $d/p.bin failed"
done
size_is p.bin $((12 * PAGE))
same p.bin
cowpy zeros "$MNT/p.bin" $((4 * PAGE)) $((8 * PAGE)) ||
	fail "p.bin: regrown past a privately written page, it does not read as zeros"
ok "p.bin: page 10 written, shrink to 4 pages, regrow to 12: pages 4-11 are zeros, page 1 kept"
# to zero, then regrow
for d in "$MODEL" "$MNT"; do
	bounded truncate -s 0 "$d/z.bin" || fail "truncate -s 0 $d/z.bin failed"
done
size_is z.bin 0
check_eq "$(bounded cat "$MNT/z.bin" | wc -c)" 0 "z.bin: truncated to 0, reads nothing"
for d in "$MODEL" "$MNT"; do
	bounded truncate -s 30000 "$d/z.bin" || fail "truncate -s 30000 $d/z.bin failed"
done
same z.bin
cowpy zeros "$MNT/z.bin" 0 30000 || fail "z.bin: truncated to 0 and regrown, it is not all zeros"
ok "z.bin: truncate to 0, regrow to 30000: all zeros"
# a shrink followed by a write past the new end: zeros in the gap
for d in "$MODEL" "$MNT"; do
	bounded truncate -s 5000 "$d/g.bin" || fail "truncate -s 5000 $d/g.bin failed"
	printf 'again' | bounded dd of="$d/g.bin" bs=5 seek=90000 oflag=seek_bytes conv=notrunc status=none ||
		fail "writing at 90000 of $d/g.bin failed"
done
same g.bin
cowpy zeros "$MNT/g.bin" 5000 85000 || fail "g.bin: shrunk to 5000 then written at 90000, the gap is not zeros"
ok "g.bin: shrink to 5000, write at 90000: zeros in between"

# --- bounds --------------------------------------------------------------------------------------
# README: growth up to the size again, at least 1 GiB, at most 64 GiB more per file; else EFBIG.
expect_ok truncate "$MNT/h.bin" $((3 * PAGE + (1 << 30)))
size_is h.bin $((3 * PAGE + (1 << 30)))
expect_errno EFBIG truncate "$MNT/h.bin" $((3 * PAGE + (1 << 31)))
bounded "$PY" - "$MNT/h.bin" <<-'EOF' || fail "write near the end of h.bin grown by 1 GiB"
	import os, sys
	fd = os.open(sys.argv[1], os.O_RDWR)
	end = os.fstat(fd).st_size
	os.pwrite(fd, b"far", end - 3)
	assert os.pread(fd, 3, end - 3) == b"far"
	os.close(fd)
EOF
ok "h.bin: written 3 bytes before its end at 1 GiB + 3 pages"
for d in "$MODEL" "$MNT"; do
	bounded truncate -s $((3 * PAGE + MIB)) "$d/h.bin" || fail "truncate back $d/h.bin failed"
done
same h.bin
ok "h.bin: truncated back to 3 pages + 1 MiB: the model again"

out=$(cowpy compare "$MNT" "$MODEL" 2>&1) || fail "the mount differs from the model: $out"
ok "the mount shows the model: $out"
sum=0
for f in g.bin h.bin s.bin p.bin z.bin t.bin e.bin; do
	sum=$((sum + $(private_pages "$f")))
done
check_eq "$(private_bytes)" $((sum * PAGE)) "summary private_bytes is the sum of the files' private_pages"
no_write_fds "$BACKING" 3
daemon_alive "after growing and shrinking"
umount_fs

fingerprint "$BACKING" >"$T/after"
diff "$T/before" "$T/after" >"$T/diff" ||
	fail "the backing tree changed under the cow mount: $(head -n 20 "$T/diff")"
ok "the backing files are unchanged"
