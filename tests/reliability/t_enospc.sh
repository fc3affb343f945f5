#!/usr/bin/env bash
# Full disk: the backing dir is a 16 MiB tmpfs. Writes through the mount past the free
# space fail with ENOSPC (the daemon reserves blocks with fallocate before it copies into
# the mapping, so it never takes a SIGBUS), the daemon lives, the data written before is
# intact, the file written up to the error holds exactly what was accepted, and freeing
# space makes writes work again. Reading a sparse file's hole while the disk is full reads
# zeros, as it does on the tmpfs itself, and reading a sparse file does not allocate its
# holes in the backing tmpfs. A client storing into a mapping of a sparse file
# on the full disk may get SIGBUS (that is Linux's answer on a local full disk too), or an
# error from msync; the daemon lives either way.
# SC2119: mount_fs takes optional arguments. SC2015: "A && B || fail" fails unless both
# hold. SC2016: single-quoted scripts for sh -c.
# shellcheck disable=SC2119,SC2015,SC2016
# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../mount/lib.sh"
# shellcheck source=tests/reliability/rel.sh
. "$(dirname "${BASH_SOURCE[0]}")/rel.sh"

[ "$(id -u)" -eq 0 ] || skip "mounting a tmpfs needs root"
mount -t tmpfs -o size=16m,mode=0755 mmapfs-rel-tmpfs "$BACKING" ||
	skip "cannot mount a tmpfs on $BACKING"
rel_undo "umount -l '$BACKING'"
truncate -s 2M "$BACKING/sparse" # no blocks: a hole of 2 MiB
head -c $((4 << 20)) /dev/urandom >"$T/keep.src"

mount_fs
check dd if="$T/keep.src" of="$MNT/keep" bs=1M conv=fsync status=none
check_eq "$(sha "$MNT/keep")" "$(sha "$T/keep.src")" "4 MiB written and fsynced before the disk fills"

out=$(bounded "$RELHELPER" fill "$MNT/big" $((32 << 20))) || fail "fill exited $?: $out"
echo "# fill: $out"
read -r _ wrote _ err <<<"$out"
check_eq "$err" ENOSPC "a 32 MiB write(2) stream onto 12 MiB of free space fails with"
[ "$wrote" -gt $((8 << 20)) ] && [ "$wrote" -le $((12 << 20)) ] ||
	fail "ENOSPC came after $wrote bytes; about 12 MiB were free"
ok "ENOSPC after $wrote bytes"
check "$RELHELPER" verify "$BACKING/big" "$wrote" 7
ok "the backing file holds exactly the $wrote bytes accepted, each one right"
rel_alive "after ENOSPC from write(2)"
check_eq "$(sha "$MNT/keep")" "$(sha "$T/keep.src")" "the data written before the disk filled is intact (mount)"
check_eq "$(sha "$BACKING/keep")" "$(sha "$T/keep.src")" "the data written before the disk filled is intact (backing)"
check_eq "$(df --output=avail "$BACKING" | tail -n 1 | tr -d ' ')" 0 "the backing disk is full"

# More writes on the full disk: each one ENOSPC, never a hang or a dead daemon.
for i in 1 2 3; do
	expect_py ENOSPC "a 3000-byte write to a new file on the full disk" \
		"os.write(os.open('$MNT/more$i', os.O_WRONLY | os.O_CREAT, 0o644), b'x' * 3000)"
done
expect_errno ENOSPC append "$MNT/keep" "one more line"
check_eq "$(sha "$MNT/keep")" "$(sha "$T/keep.src")" "an append refused with ENOSPC left the file as it was"

# A client mapping of a sparse file on the full disk: SIGBUS in the client or an error
# from msync, never a dead daemon.
out=$(bounded "$RELHELPER" mapfill "$MNT/mapped" $((4 << 20))) || fail "mapfill exited $?: $out"
echo "# mapfill: $out"
case "$out" in
"SIGBUS at "* | "msync errno ENOSPC" | "msync errno EIO") ok "client mapping on a full disk: $out" ;;
*) fail "client mapping on a full disk: want SIGBUS or an msync error, got '$out'" ;;
esac
rel_alive "after client mapping stores on a full disk"

# The hole of a sparse file reads as zeros on the full disk, as on the tmpfs itself.
check_eq "$(bounded cmp -n $((1 << 20)) "$BACKING/sparse" /dev/zero && echo zeros)" zeros \
	"the tmpfs itself reads the sparse file's hole as zeros"
# (flunk, not fail: the checks after it still run)
got=$(rel_errno "sorted(set(open('$MNT/sparse', 'rb').read(1 << 20)))") || fail "python failed"
if [ "$got" = "OK:[0]" ]; then
	ok "a sparse file's hole reads as zeros through the mount on a full disk"
else
	flunk "reading a sparse file's hole through the mount on a full disk: want zeros (OK:[0]), got $got"
fi

# Free space: writing works again.
check rm "$MNT/big" "$MNT/mapped"
check dd if="$T/keep.src" of="$MNT/after" bs=1M conv=fsync status=none
check_eq "$(sha "$BACKING/after")" "$(sha "$T/keep.src")" "after freeing space, a 4 MiB write lands whole"
rel_serving "after the disk was full"

# Reading a sparse file must not allocate its holes: on the tmpfs itself a read of a hole
# allocates nothing, so a read through the mount must leave the backing file's blocks as
# they were (else reading a large sparse file fills the disk, and the memory behind it).
check rm -f "$MNT/after" "$MNT/keep"
truncate -s 8M "$BACKING/sparse2"
before=$(du -k "$BACKING/sparse2" | cut -f1)
check_eq "$(bounded cmp "$MNT/sparse2" <(head -c $((8 << 20)) /dev/zero) && echo zeros)" zeros \
	"an 8 MiB sparse file reads as zeros through the mount"
after=$(du -k "$BACKING/sparse2" | cut -f1)
if [ "$after" = "$before" ]; then
	ok "reading the sparse file through the mount left its allocation at $before KiB"
else
	flunk "reading an 8 MiB sparse file through the mount allocated its holes in the backing tmpfs: ${before} KiB before, ${after} KiB after"
fi
umount_fs
