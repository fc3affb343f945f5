#!/usr/bin/env bash
# -o single_copy: after a read is replied, the backing file's pages leave the page cache,
# so reading through the mount keeps one copy (the kernel's of the mount file), not two.
source "$(dirname "$0")/lib.sh"

MIB=$((1024 * 1024))
head -c $((32 * MIB)) /dev/urandom >"$BACKING/data.bin"

# evict FILE: write back and drop FILE's pages from the page cache.
evict()
{
	"$PY" -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.fdatasync(fd)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$1"
}

resident_bytes()
{
	bounded fincore --bytes --noheadings --output RES "$1" | tr -d ' '
}

# resident_after_release FILE LIMIT: FILE's resident bytes once at most LIMIT, or after 3 s.
# The last close's sweep runs on RELEASE, which the kernel sends after close(2) returned.
resident_after_release()
{
	local tries=30 bytes

	while bytes=$(resident_bytes "$1") && [ "$bytes" -gt "$2" ] && [ "$tries" -gt 0 ]; do
		tries=$((tries - 1))
		sleep 0.1
	done
	echo "$bytes"
}

mount_fs -o single_copy
evict "$BACKING/data.bin"
check_eq "$(sha "$MNT/data.bin")" "$(sha "$BACKING/data.bin")" "single_copy: the data reads right"
# the sha of the backing file above read it again: measure after a fresh read instead
evict "$BACKING/data.bin"
bounded cat "$MNT/data.bin" >/dev/null
backing=$(resident_after_release "$BACKING/data.bin" $((2 * MIB)))
# Readahead may leave a little past the last reply; the whole file would be 32 MiB.
[ "$backing" -le $((2 * MIB)) ] ||
	fail "single_copy: $backing bytes of the backing file stay cached after a full read"
ok "single_copy: the backing file keeps $backing bytes cached after reading 32 MiB"
mount_file=$(resident_bytes "$MNT/data.bin")
[ "$mount_file" -ge $((24 * MIB)) ] ||
	fail "single_copy: the mount file holds only $mount_file bytes in the kernel's cache"
ok "single_copy: the kernel's copy of the mount file is cached ($mount_file bytes)"

# Replies out of order (the thread pool, two readers at once, 8 MiB readahead) must not
# leave blocks behind: the engine drops each 2 MiB block once all its pages were replied
# (45 MiB stayed before it did), and the last close drops what the daemon's fault
# read-around brought back into blocks already dropped (8-10 MiB before it did).
head -c $((96 * MIB)) /dev/urandom >"$BACKING/big.bin"
evict "$BACKING/big.bin"
bounded dd if="$MNT/big.bin" of=/dev/null bs=1M count=48 status=none &
reader=$!
bounded dd if="$MNT/big.bin" of=/dev/null bs=1M skip=48 status=none
wait "$reader" || fail "single_copy: the first reader failed"
backing=$(resident_after_release "$BACKING/big.bin" $((2 * MIB)))
[ "$backing" -le $((2 * MIB)) ] ||
	fail "single_copy: $backing bytes of 96 MiB stay cached after two concurrent readers"
ok "single_copy: two concurrent readers of 96 MiB leave $backing bytes of the backing file"
umount_fs

# Without the option both copies stay (the contrast that makes the check above mean something).
mount_fs
evict "$BACKING/data.bin"
bounded cat "$MNT/data.bin" >/dev/null
backing=$(resident_bytes "$BACKING/data.bin")
[ "$backing" -ge $((24 * MIB)) ] || fail "default: only $backing bytes of the backing file cached"
ok "default: the backing file stays cached too ($backing bytes)"
umount_fs
