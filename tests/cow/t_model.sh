#!/usr/bin/env bash
# -o access=cow against a model: one session of writes (dd conv=notrunc, pwrite, O_APPEND,
# O_TRUNC), truncates (down, up, down then up), python mmap ACCESS_WRITE over files opened
# r+b (MAP_SHARED) and numpy.memmap r+ goes to the mount and, identically, to a scratch copy
# of the files outside it. The mount must then show exactly the model (size and bytes, by
# read(2), O_DIRECT and mmap), while every backing file keeps its sha256, size, mode and
# times; fsync succeeds; the daemon holds no backing fd open for writing.
# SC2016: single-quoted scripts for bash -c. SC2119: mount_fs takes optional arguments.
# shellcheck disable=SC2016,SC2119
# shellcheck source=tests/cow/cowlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/cowlib.sh"

MODEL=$T/model
PAT=$T/pattern
head -c $((2 * MIB)) /dev/urandom >"$PAT"

# --- the backing tree --------------------------------------------------------------------------
head -c $((3 * MIB)) /dev/urandom >"$BACKING/a.bin"
head -c 100000 /dev/urandom >"$BACKING/b.bin"
mkdir -p "$BACKING/sub/deeper"
head -c 30000 /dev/urandom | base64 >"$BACKING/sub/c.txt"
printf 'old content of c2\n' >"$BACKING/sub/c2.txt"
head -c 5000 /dev/urandom >"$BACKING/sub/deeper/d.bin"
head -c 10 /dev/urandom >"$BACKING/small"
: >"$BACKING/empty"
head -c 70000 /dev/urandom >"$BACKING/zeroed"
"$PY" -c 'import numpy, sys; numpy.arange(1 << 20, dtype=numpy.float32).tofile(sys.argv[1])' \
	"$BACKING/arr.f32"
# sparse: 8 MiB with data only at 4 MiB
truncate -s $((8 * MIB)) "$BACKING/sparse.bin"
dd if="$PAT" of="$BACKING/sparse.bin" bs=64K count=2 seek=64 conv=notrunc status=none
head -c 200000 /dev/urandom >"$BACKING/untouched"
chmod 640 "$BACKING/b.bin"

cp -a "$BACKING" "$MODEL"
fingerprint "$BACKING" >"$T/before"
[ "$(grep -c ' f ' "$T/before")" -eq 11 ] || fail "fingerprint: expected 11 regular files"

mount_fs -o access=cow

check_eq "$(mmkey "$(bounded cat "$MNT/.mmstat/summary")" access)" cow ".mmstat/summary says access: cow"
cowpy compare "$MNT" "$MODEL" >/dev/null || fail "before any change, the mount differs from the backing tree"
ok "before any change the mount shows the backing files"

# op WHAT CMD...: run CMD on the model, then on the mount, with @D@ standing for the directory.
op()
{
	local what=$1 d out

	shift
	for d in "$MODEL" "$MNT"; do
		out=$(bounded "${@//@D@/$d}" 2>&1) ||
			fail "$what: '${*//@D@/$d}' failed: $out"
	done
	ok "session: $what"
}

# --- the session -------------------------------------------------------------------------------
op "dd conv=notrunc, 3 pages at page 10 of a.bin" \
	dd if="$PAT" of=@D@/a.bin bs=4096 seek=10 count=3 conv=notrunc status=none
op "dd conv=notrunc, 2331 unaligned bytes across a page boundary of b.bin" \
	dd if="$PAT" of=@D@/b.bin bs=777 skip=1 seek=4000 count=3 oflag=seek_bytes conv=notrunc status=none
op "dd conv=notrunc past the end of a.bin (1 MiB gap)" \
	dd if="$PAT" of=@D@/a.bin bs=64K count=4 seek=$((4 * MIB)) oflag=seek_bytes conv=notrunc status=none
op "truncate b.bin down to 50000" truncate -s 50000 @D@/b.bin
op "truncate b.bin up to 70001" truncate -s 70001 @D@/b.bin
op "O_APPEND to small" bash -c 'printf "appended" >>"$1"' _ @D@/small
op "pwrite at six offsets of sub/c.txt, one past its end" "$PY" "$COWPY" op pwrite @D@/sub/c.txt
op "mmap ACCESS_WRITE patches of a.bin, flush" "$PY" "$COWPY" op mmap_patch @D@/a.bin
op "numpy.memmap r+ of arr.f32, flush" "$PY" "$COWPY" op numpy @D@/arr.f32
op "write into an empty file" bash -c 'printf "hello" >>"$1"' _ @D@/empty
op "O_TRUNC rewrite of sub/c2.txt" bash -c 'printf "new\n" >"$1"' _ @D@/sub/c2.txt
op "dd into a hole of sparse.bin" \
	dd if="$PAT" of=@D@/sparse.bin bs=4096 count=3 seek=300 conv=notrunc status=none
op "dd over the data of sparse.bin" \
	dd if="$PAT" of=@D@/sparse.bin bs=1000 count=2 seek=$((4 * MIB + 5000)) oflag=seek_bytes conv=notrunc status=none
op "write + fsync + fdatasync of sub/deeper/d.bin" "$PY" "$COWPY" op fsync @D@/sub/deeper/d.bin
op "truncate zeroed to 0, then a byte at 10000" \
	bash -c 'truncate -s 0 "$1" && printf x | dd of="$1" bs=1 seek=10000 conv=notrunc status=none' _ @D@/zeroed
op "ftruncate a.bin to an unaligned size, patch its last page by mmap" \
	"$PY" "$COWPY" op mmap_tail @D@/a.bin
op "mmap ACCESS_WRITE again over the patched a.bin" "$PY" "$COWPY" op mmap_patch @D@/a.bin
op "dd over data written earlier in the session (b.bin)" \
	dd if="$PAT" of=@D@/b.bin bs=512 skip=7 seek=9 count=20 conv=notrunc status=none

# --- the mount shows the model -------------------------------------------------------------------
out=$(cowpy compare "$MNT" "$MODEL" 2>&1) || fail "the mount differs from the model: $out"
ok "the mount shows exactly the model: $out"
check_eq "$(stat -c %s "$MNT/a.bin")" "$(stat -c %s "$MODEL/a.bin")" "a.bin reports its private size"
[ "$(stat -c %s "$MNT/a.bin")" != "$(stat -c %s "$BACKING/a.bin")" ] ||
	fail "a.bin: the mount's size equals the backing size; the session should have changed it"

# Private pages are counted per file and in the summary.
pp=$(private_pages a.bin)
[ "$pp" -gt 0 ] || fail "a.bin: residency private_pages is $pp after writes"
ok "a.bin: residency private_pages $pp"
check_eq "$(mmkey "$(mm a.bin stats)" private_pages)" "$pp" "a.bin: stats private_pages equals residency's"
check_eq "$(private_pages untouched)" 0 "a file never written has private_pages 0"
pb=$(private_bytes)
[ "$pb" -ge $((pp * PAGE)) ] || fail "summary private_bytes $pb < a.bin's $pp pages"
ok "summary private_bytes $pb covers a.bin's pages"

# The daemon never opened a backing file for writing.
no_write_fds "$BACKING" 5
daemon_alive "after the session"

umount_fs

# --- the backing tree is untouched ---------------------------------------------------------------
fingerprint "$BACKING" >"$T/after"
diff "$T/before" "$T/after" >"$T/diff" ||
	fail "the backing tree changed under the cow mount: $(head -n 20 "$T/diff")"
ok "every backing file has its sha256, size, mode, owner and times of before the session"
