#!/usr/bin/env bash
# Data through the mount: whole-file copies both ways, dd at odd offsets and sizes against
# a plain reference copy, truncate, append, empty and sparse files, and the daemon's mmap
# of an open file showing in /proc/PID/maps.
# SC2015: "A && B || fail" means fail unless both hold. SC2016: single-quoted scripts for
# bash -c and python. SC2119: mount_fs takes optional arguments.
# shellcheck disable=SC2015,SC2016,SC2119
# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REF=$T/ref
mkdir "$REF"

# same_file A B WHAT: fail unless A and B are byte-identical.
same_file()
{
	bounded cmp -- "$1" "$2" || fail "$3: $1 and $2 differ"
	ok "$3"
}

mount_fs

# --- 64 MiB in and out -----------------------------------------------------------------------
head -c 64M /dev/urandom >"$REF/big"
big_sha=$(sha "$REF/big")
check cp "$REF/big" "$MNT/big"
same_file "$MNT/big" "$REF/big" "cp into the mount: cmp through the mount"
same_file "$BACKING/big" "$REF/big" "cp into the mount: the backing file holds the data"
check_eq "$(sha "$MNT/big")" "$big_sha" "sha256 through the mount after cp in"

# Written straight into the backing dir, so no page of it is in the mount's cache.
head -c 64M /dev/urandom >"$BACKING/big2"
check cp "$MNT/big2" "$REF/big2"
same_file "$REF/big2" "$BACKING/big2" "cp out of the mount"
check_eq "$(sha "$MNT/big2")" "$(sha "$BACKING/big2")" "sha256 through the mount of a backing file"

# --- the daemon maps what is open ------------------------------------------------------------
# Files the mount has never opened, so no idle mapping from earlier can stand in: while
# one is open (read-only, then read-write), its backing path is in the daemon's maps.
for mode in rb r+b; do
	head -c 100000 /dev/urandom >"$BACKING/fresh-$mode"
	bounded "$PY" - "$MNT/fresh-$mode" "$BACKING/fresh-$mode" "$DAEMON_PID" "$mode" <<-'EOF' ||
		import sys
		mnt_path, backing_path, pid, mode = sys.argv[1:]
		with open(mnt_path, mode, buffering=0) as f:
		    f.read(4096)
		    with open("/proc/%s/maps" % pid) as maps:
		        paths = [fields[5].strip() for fields in (line.split(None, 5) for line in maps)
		                 if len(fields) == 6]
		    if backing_path not in paths:
		        sys.exit("%s is not in /proc/%s/maps while %s is open (mode %s)"
		                 % (backing_path, pid, mnt_path, mode))
	EOF
		fail "open mode $mode: the backing file is not mapped by the daemon"
	ok "open ($mode): backing/fresh-$mode is in /proc/$DAEMON_PID/maps while open"
done

# --- remount: reads now come from the daemon, not the kernel's cache of our writes ---------
umount_fs
mount_fs
check_eq "$(sha "$MNT/big")" "$big_sha" "sha256 of the copied file after a remount"
rm -f "$MNT/big2" "$REF/big2"

# --- dd at odd offsets and sizes, on the mount and on a plain file alike -------------------
head -c 3M /dev/urandom >"$T/src"
head -c $((1024 * 1024 + 123)) /dev/urandom >"$REF/dd"
check cp "$REF/dd" "$MNT/dd"
# Each line: dd operands; applied to both files with if=$T/src.
dd_ops=(
	"bs=1 seek=4095 count=3 conv=notrunc"
	"bs=1 seek=0 skip=17 count=1 conv=notrunc"
	"bs=7 seek=1000 skip=3 count=100 conv=notrunc"
	"bs=4097 seek=17 skip=1 count=5 conv=notrunc"
	"bs=1M seek=1 skip=2 count=1 conv=notrunc"
	"bs=4097 seek=600 count=1 conv=notrunc"
	"bs=7 seek=3 count=1"
	"bs=4097 seek=100 count=2"
	"bs=1M seek=0 skip=1 count=1 conv=notrunc"
)
for op in "${dd_ops[@]}"; do
	# shellcheck disable=SC2086 # $op is a list of dd operands
	check dd if="$T/src" of="$MNT/dd" $op status=none
	# shellcheck disable=SC2086
	dd if="$T/src" of="$REF/dd" $op status=none
	check_eq "$(bounded stat -c %s "$MNT/dd")" "$(stat -c %s "$REF/dd")" "dd $op: size"
	same_file "$MNT/dd" "$REF/dd" "dd $op: content through the mount"
done
same_file "$BACKING/dd" "$REF/dd" "dd: the backing file matches the reference"

# Odd-sized reads at odd offsets.
for op in "bs=1 skip=4093 count=10" "bs=7 skip=123 count=50" "bs=4097 skip=3 count=9" \
	"bs=1M skip=0" "bs=65536 skip=1 count=3" "bs=3 skip=136000"; do
	# shellcheck disable=SC2086
	bounded dd if="$MNT/dd" $op status=none >"$T/got"
	# shellcheck disable=SC2086
	dd if="$REF/dd" $op status=none >"$T/want"
	same_file "$T/got" "$T/want" "dd read $op"
done

# --- truncate --------------------------------------------------------------------------------
head -c 10000 /dev/urandom >"$REF/tr"
check cp "$REF/tr" "$MNT/tr"
check truncate -s 5000 "$MNT/tr"
check_eq "$(bounded stat -c %s "$MNT/tr")" 5000 "truncate shrink: size through the mount"
check_eq "$(stat -c %s "$BACKING/tr")" 5000 "truncate shrink: backing size"
head -c 5000 "$REF/tr" >"$T/want"
same_file "$MNT/tr" "$T/want" "truncate shrink: the first 5000 bytes are kept"
check truncate -s 20000 "$MNT/tr"
check_eq "$(bounded stat -c %s "$MNT/tr")" 20000 "truncate grow: size"
{ head -c 5000 "$REF/tr"; head -c 15000 /dev/zero; } >"$T/want"
same_file "$MNT/tr" "$T/want" "truncate grow: zeros after the old end, not the old bytes"
same_file "$BACKING/tr" "$T/want" "truncate grow: backing file"
check truncate -s 0 "$MNT/tr"
check_eq "$(bounded stat -c %s "$MNT/tr")" 0 "truncate to 0"
check_eq "$(bounded cat "$MNT/tr" | wc -c)" 0 "reads nothing after truncate to 0"
check truncate -s 4096 "$MNT/tr"
check_eq "$(bounded cat "$MNT/tr" | tr -d '\0' | wc -c)" 0 "regrown to 4096: all zeros"
# Shrink and grow while another descriptor has the file open and mapped in the daemon.
printf 'abcdefghij' >"$REF/tr2"
check cp "$REF/tr2" "$MNT/tr2"
bounded "$PY" - "$MNT/tr2" <<-'EOF' || fail "truncate while open: see above"
	import os, sys
	path = sys.argv[1]
	fd = os.open(path, os.O_RDWR)
	assert os.pread(fd, 10, 0) == b"abcdefghij"
	os.ftruncate(fd, 3)
	got = os.pread(fd, 10, 0)
	assert got == b"abc", "after ftruncate(3): %r" % got
	os.ftruncate(fd, 8)
	got = os.pread(fd, 10, 0)
	assert got == b"abc" + b"\0" * 5, "after ftruncate(8): %r" % got
	os.truncate(path, 2)  # by path, while open
	got = os.pread(fd, 10, 0)
	assert got == b"ab", "after truncate(path, 2): %r" % got
	os.pwrite(fd, b"Z", 5)
	os.close(fd)
	with open(path, "rb") as f:
	    got = f.read()
	assert got == b"ab\0\0\0Z", "after pwrite past the end: %r" % got
EOF
ok "ftruncate/truncate while open: sizes and contents"
check_eq "$(od -An -c "$BACKING/tr2" | tr -d ' \n')" 'ab\0\0\0Z' "backing file after truncates while open"

# --- appending ---------------------------------------------------------------------------------
bounded bash -c 'echo one >>"$1" && echo two >>"$1" && echo three >>"$1"' _ "$MNT/app"
check_eq "$(cat "$BACKING/app")" "$(printf 'one\ntwo\nthree')" ">> appends, backing file"
bounded "$PY" - "$MNT/app2" <<-'EOF' || fail "O_APPEND: see above"
	import os, sys
	path = sys.argv[1]
	with open(path, "wb") as f:
	    f.write(b"start\n")
	# Two descriptors appending in turn: each write lands at the current end, whatever
	# the descriptor's own offset.
	a = os.open(path, os.O_WRONLY | os.O_APPEND)
	b = os.open(path, os.O_WRONLY | os.O_APPEND)
	want = b"start\n"
	for i in range(50):
	    chunk = (b"a%d" % i) * (i * 97 % 5000 + 1)
	    os.write(a, chunk)
	    want += chunk
	    os.write(b, b"B\n")
	    want += b"B\n"
	    # pwrite with O_APPEND also appends on Linux
	if os.lseek(a, 0, os.SEEK_CUR) != len(want) - 2:
	    raise SystemExit("offset of a after its last append: %d, want %d" % (os.lseek(a, 0, os.SEEK_CUR), len(want) - 2))
	os.close(a)
	os.close(b)
	with open(path, "rb") as f:
	    got = f.read()
	if got != want:
	    raise SystemExit("O_APPEND: %d bytes read back, want %d (first difference at %s)"
	                     % (len(got), len(want), next((i for i, (x, y) in enumerate(zip(got, want)) if x != y), "the end")))
	open(path + ".want", "wb").write(want)
EOF
ok "O_APPEND from two descriptors, read back through the mount"
same_file "$BACKING/app2" "$MNT/app2.want" "O_APPEND: backing file"
bounded dd if=/dev/zero of="$MNT/app2" bs=4097 count=1 oflag=append conv=notrunc status=none
check_eq "$(bounded stat -c %s "$MNT/app2")" $(($(bounded stat -c %s "$MNT/app2.want") + 4097)) "dd oflag=append grows the file by 4097"

# --- empty files -------------------------------------------------------------------------------
check touch "$MNT/empty"
check_eq "$(bounded stat -c %s "$MNT/empty")" 0 "touch: size 0 through the mount"
[ -f "$BACKING/empty" ] && [ ! -s "$BACKING/empty" ] || fail "touch: no empty backing file"
check_eq "$(bounded cat "$MNT/empty" | wc -c)" 0 "reading an empty file gives nothing"
: >"$REF/empty"
check cp "$REF/empty" "$MNT/empty2"
check cp "$MNT/empty2" "$T/empty-out"
check_eq "$(stat -c %s "$T/empty-out"):$(stat -c %s "$BACKING/empty2")" 0:0 "cp of an empty file in and out"
# An empty file, then written: the first write must map (or remap) it.
printf 'now not empty' | bounded dd of="$MNT/empty" conv=notrunc status=none
check_eq "$(bounded cat "$MNT/empty")" "now not empty" "write to a file that was empty"

# --- sparse ----------------------------------------------------------------------------------
size=$((64 * 1024 * 1024 * 1024))
check truncate -s 64G "$MNT/sparse"
check_eq "$(bounded stat -c %s "$MNT/sparse")" "$size" "truncate -s 64G: size"
blocks=$(stat -c %b "$BACKING/sparse")
[ "$blocks" -lt 2048 ] || fail "truncate -s 64G allocated $blocks blocks of 512 in the backing file"
ok "truncate -s 64G: the backing file stays sparse ($blocks blocks)"
printf 'TAIL' | check dd of="$MNT/sparse" bs=1 seek=$((size - 4)) conv=notrunc status=none
check_eq "$(bounded tail -c 4 "$MNT/sparse")" TAIL "the last 4 bytes of the 64 GiB file, through the mount"
check_eq "$(tail -c 4 "$BACKING/sparse")" TAIL "the last 4 bytes in the backing file"
check_eq "$(bounded stat -c %s "$MNT/sparse")" "$size" "writing the last bytes keeps the size"
bounded dd if="$MNT/sparse" bs=1M skip=40000 count=1 status=none | cmp -s -n 1048576 - /dev/zero ||
	fail "a hole in the middle of the sparse file does not read as zeros"
ok "a hole reads as zeros"
bounded dd if="$MNT/sparse" bs=4096 skip=$((size / 4096 - 1)) count=1 status=none >"$T/lastpage"
{ head -c 4092 /dev/zero; printf TAIL; } >"$T/want"
same_file "$T/lastpage" "$T/want" "the last page: zeros then TAIL"
blocks=$(stat -c %b "$BACKING/sparse")
[ "$blocks" -lt 2048 ] || fail "after writing 4 bytes the backing file has $blocks blocks of 512"
kib=$(bounded du -k "$MNT/sparse" | cut -f1)
[ "$kib" -lt 1024 ] || fail "du through the mount: $kib KiB for a sparse file with 4 bytes of data"
ok "sparse allocation stays small: $blocks blocks in the backing file, du $kib KiB through the mount"
check rm "$MNT/sparse"
[ ! -e "$BACKING/sparse" ] || fail "rm through the mount left the backing sparse file"

umount_fs

# --- -o max_idle_maps=0: a mapping goes with the last close ------------------------------------
# Many short open-read-close rounds also race each read's reply against the release.
mount_fs -o max_idle_maps=0
for round in $(seq 1 100); do
	bounded cat "$MNT/dd" "$MNT/tr2" "$MNT/app2" >/dev/null || fail "open-read-close round $round failed (did the daemon die?)"
done
same_file "$MNT/dd" "$REF/dd" "max_idle_maps=0: content after 100 open-read-close rounds"
bounded "$PY" - "$MNT/dd" "$BACKING/dd" "$DAEMON_PID" <<-'EOF' || fail "max_idle_maps=0: see above"
	import sys, time
	mnt_path, backing_path, pid = sys.argv[1:]

	def mapped():
	    with open("/proc/%s/maps" % pid) as maps:
	        return any(line.rstrip("\n").endswith(" " + backing_path) for line in maps)

	with open(mnt_path, "rb") as f:
	    f.read(10)
	    if not mapped():
	        sys.exit("not mapped while open")
	# The kernel sends RELEASE after close() returns: give it a moment.
	deadline = time.monotonic() + 5
	while mapped():
	    if time.monotonic() > deadline:
	        sys.exit("%s is still in /proc/%s/maps 5 s after the last close" % (backing_path, pid))
	    time.sleep(0.05)
EOF
ok "max_idle_maps=0: mapped while open, unmapped after the last close"
umount_fs
