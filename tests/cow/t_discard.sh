#!/usr/bin/env bash
# Private changes live until `echo discard > .mmstat/files/PATH/ctl` or the unmount: discard
# brings back the backing size, bytes and mtime of a written, grown, shrunk, emptied or
# regrown file, also through a handle opened before it, and takes private_pages (file,
# stats, summary) back to 0; after discard the file takes changes again; after a remount
# every change is gone and the backing files never changed.
# SC2119: mount_fs takes optional arguments.
# shellcheck disable=SC2119
# shellcheck source=tests/cow/cowlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/cowlib.sh"

head -c 300000 /dev/urandom >"$BACKING/written"
head -c 5000 /dev/urandom >"$BACKING/grown"
head -c 20000 /dev/urandom >"$BACKING/shrunk"
head -c 20000 /dev/urandom >"$BACKING/regrown"
head -c 9000 /dev/urandom >"$BACKING/mapped"
head -c 50000 /dev/urandom >"$BACKING/held"
: >"$BACKING/empty"
mkdir "$BACKING/dir"
head -c 7000 /dev/urandom >"$BACKING/dir/nested"
head -c 7000 /dev/urandom >"$BACKING/clean"
touch -d '2001-02-03 04:05:06' "$BACKING"/* "$BACKING/dir/nested"
FILES="written grown shrunk regrown mapped held empty dir/nested"
fingerprint "$BACKING" >"$T/before"

# back_to_backing FILE: size, bytes (read, O_DIRECT, mmap), mtime and private pages of the backing.
back_to_backing()
{
	local out

	out=$(cowpy same "$MNT/$1" "$BACKING/$1" 2>&1) || fail "$1 after discard: $out"
	check_eq "$(bounded stat -c %Y "$MNT/$1")" "$(stat -c %Y "$BACKING/$1")" "$1: mtime is the backing file's again"
	check_eq "$(private_pages "$1")" 0 "$1: residency private_pages 0 after discard"
	check_eq "$(mmkey "$(mm "$1" stats)" private_pages)" 0 "$1: stats private_pages 0 after discard"
}

# change_all: one kind of change per file
change_all()
{
	printf 'WRITTEN' | bounded dd of="$MNT/written" bs=7 seek=$((50 * PAGE - 3)) oflag=seek_bytes conv=notrunc status=none ||
		fail "write to written"
	printf 'GROWN' | bounded dd of="$MNT/grown" bs=5 seek=$((3 * MIB)) oflag=seek_bytes conv=notrunc status=none ||
		fail "write past the end of grown"
	bounded truncate -s 100 "$MNT/shrunk" || fail "truncate shrunk"
	bounded truncate -s 10 "$MNT/regrown" || fail "truncate regrown down"
	bounded truncate -s 40000 "$MNT/regrown" || fail "truncate regrown up"
	bounded "$PY" -c '
import mmap, sys
with open(sys.argv[1], "r+b") as f:
    m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_WRITE)
    m[5000:5006] = b"MAPPED"
    m.flush()
    m.close()' "$MNT/mapped" || fail "mmap write to mapped"
	printf 'HELD' | bounded dd of="$MNT/held" bs=4 seek=7 conv=notrunc status=none || fail "write to held"
	printf 'was empty' | bounded dd of="$MNT/empty" status=none || fail "write to empty"
	printf 'NESTED' | bounded dd of="$MNT/dir/nested" bs=6 seek=1 conv=notrunc status=none ||
		fail "write to dir/nested"
}

mount_fs -o access=cow
check_eq "$(private_bytes)" 0 "a fresh cow mount: summary private_bytes 0"
change_all
for f in $FILES; do
	if cmp -s "$MNT/$f" "$BACKING/$f"; then
		fail "$f reads as the backing file after its change"
	fi
	pp=$(private_pages "$f")
	[ "$pp" -gt 0 ] || fail "$f: residency private_pages $pp after its change"
done
ok "every changed file differs from its backing file and has private pages"
check_eq "$(bounded stat -c %s "$MNT/grown")" $((3 * MIB + 5)) "grown reports its private size"
check_eq "$(bounded stat -c %s "$MNT/shrunk")" 100 "shrunk reports its private size"
[ "$(bounded stat -c %Y "$MNT/written")" != "$(stat -c %Y "$BACKING/written")" ] ||
	fail "written: the mount reports the backing mtime after a change"
ok "written: the mount reports a new mtime after a change"
[ "$(private_bytes)" -gt 0 ] || fail "summary private_bytes is 0 after changes"
ok "summary private_bytes $(private_bytes)"

# --- discard through a handle opened before it ------------------------------------------------------
out=$(cowpy discard_open "$MNT" held "$BACKING/held" 2>&1) || fail "$out"
ok "held: a handle opened before discard reads the backing bytes after it"
back_to_backing held

# --- discard each file ----------------------------------------------------------------------------
for f in written grown shrunk regrown mapped empty dir/nested; do
	mmctl "$f" discard
	back_to_backing "$f"
done
check_eq "$(private_bytes)" 0 "every file discarded: summary private_bytes 0"
mmctl clean discard
out=$(cowpy same "$MNT/clean" "$BACKING/clean" 2>&1) || fail "clean after a discard with nothing to drop: $out"
ok "discard of a file with no changes succeeds and changes nothing"

# After discard the file takes changes again, and a second discard drops them too.
printf 'AGAIN' | bounded dd of="$MNT/written" bs=5 seek=3 oflag=seek_bytes conv=notrunc status=none || fail "write after discard"
check_eq "$(bounded head -c 8 "$MNT/written" | tail -c 5)" AGAIN "written: changed again after discard"
check_eq "$(private_pages written)" 1 "written: one private page again"
mmctl written discard
back_to_backing written

# --- the unmount drops everything ------------------------------------------------------------------
change_all
umount_fs
fingerprint "$BACKING" >"$T/after"
diff "$T/before" "$T/after" >"$T/diff" || fail "the backing tree changed under the cow mount: $(head -n 20 "$T/diff")"
ok "after changes and unmount the backing tree is unchanged"
mount_fs -o access=cow
check_eq "$(private_bytes)" 0 "remounted: summary private_bytes 0"
for f in $FILES; do
	out=$(cowpy same "$MNT/$f" "$BACKING/$f" 2>&1) || fail "$f after remount: $out"
	check_eq "$(bounded stat -c %Y "$MNT/$f")" "$(stat -c %Y "$BACKING/$f")" "$f after remount: the backing mtime"
done
ok "after a remount every file shows its backing content: the changes are gone"
umount_fs
