#!/usr/bin/env bash
# Clients mapping files of the mount: python mmap in each access mode, a new file grown
# with ftruncate and mapped, numpy.memmap of 128 MiB, and two processes sharing one
# MAP_SHARED page as a counter and its acknowledgement (mmap_check.py does the work).
# SC2015: "A && B || fail" means fail unless both hold. SC2016: single-quoted scripts for
# bash -c and python. SC2119: mount_fs takes optional arguments.
# shellcheck disable=SC2015,SC2016,SC2119
# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CHECK=$TESTS_DIR/mmap_check.py

mount_fs

head -c $((3 * 4096 + 100)) /dev/urandom >"$BACKING/acc"
check "$PY" "$CHECK" access "$MNT/acc" "$BACKING/acc"
ok "mmap ACCESS_READ matches; ACCESS_WRITE reaches the backing file at flush(); ACCESS_COPY changes nothing"

check "$PY" "$CHECK" create "$MNT/created" "$BACKING/created"
ok "open(O_CREAT) + ftruncate + mmap of a new file; the backing file holds what was mapped"

check "$PY" "$CHECK" numpy "$MNT/array.f32" "$BACKING/array.f32"
ok "numpy.memmap read-modify-flush of 128 MiB float32 matches numpy on the backing file"
rm -f "$BACKING/array.f32"

# Writer and reader, separate processes, both through the mount: every one of N updates
# must be seen and acknowledged (a stale page stalls one of them until its timeout).
n=2000
check truncate -s 4096 "$MNT/counter"
check "$PY" "$CHECK" counter "$MNT/counter" "$n"
ok "shared counter: the reader saw and acknowledged all $n updates"
check_eq "$(od -An -t u8 -N 16 "$BACKING/counter" | xargs)" "$n $n" "shared counter: the backing file holds the last value and ack"

umount_fs
