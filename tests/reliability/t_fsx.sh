#!/usr/bin/env bash
# fsx through the mount, a fixed number of operations with fixed seeds (FSX_OPS, FSX_SEED
# change them), each result checked against fsx's in-memory model:
#   rw: one thread; four threads on one file (a lock around each op and its model
#       update); four threads on four files; then the backing files must equal the models
#   ro: read, mapped read, fsync and reopen over prepared files (the reference is the
#       backing file): one thread, three threads on one file, three on three files
#   cow: read-write operations (the backing file must be left as it was)
# After each run the daemon is alive and unmounts cleanly.
# SC2119: mount_fs takes optional arguments. SC2015: "A && B || fail" fails unless both
# hold. SC2016: single-quoted scripts for sh -c.
# shellcheck disable=SC2119,SC2015,SC2016
# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../mount/lib.sh"
# shellcheck source=tests/reliability/rel.sh
. "$(dirname "${BASH_SOURCE[0]}")/rel.sh"

OPS=${FSX_OPS:-2500}
SEED=${FSX_SEED:-20240}

# run_fsx WHAT ARGS...: fsx must pass
run_fsx()
{
	local what=$1 rc=0

	shift
	echo "# fsx $*"
	timeout -k 5 150 "$FSX_BIN" -q "$@" >"$T/fsx.out" 2>&1 || rc=$?
	cat "$T/fsx.out"
	[ "$rc" -eq 0 ] || fail "fsx $what failed (status $rc): fsx $* (output above)"
	ok "fsx $what"
}

# --- rw ------------------------------------------------------------------------------------------
mount_fs
run_fsx "rw, 1 thread, $OPS ops" -N "$OPS" -S "$SEED" -B "$BACKING/one" "$MNT/one"
run_fsx "rw, 4 threads on one file, $((OPS / 4)) ops each" -t 4 -m same -N $((OPS / 4)) \
	-S $((SEED + 1)) -B "$BACKING/same" "$MNT/same"
run_fsx "rw, 4 threads on 4 files, $((OPS / 4)) ops each" -t 4 -m diff -N $((OPS / 4)) \
	-S $((SEED + 2)) -B "$BACKING/diff" "$MNT/diff"
run_fsx "rw, small files across page boundaries" -N $((OPS / 2)) -S $((SEED + 3)) -l 12288 \
	-o 5000 -B "$BACKING/small" "$MNT/small"
rel_alive "after the rw runs"
umount_fs

# --- ro ------------------------------------------------------------------------------------------
for name in ro ro.0 ro.1 ro.2; do
	head -c $((200000 + RANDOM)) /dev/urandom >"$BACKING/$name"
done
mount_fs -o access=ro
run_fsx "ro, 1 thread, $OPS ops" -r -N "$OPS" -S $((SEED + 4)) -B "$BACKING/ro" "$MNT/ro"
run_fsx "ro, 3 threads on one file" -r -t 3 -m same -N $((OPS / 3)) -S $((SEED + 5)) \
	-B "$BACKING/ro" "$MNT/ro"
run_fsx "ro, 3 threads on 3 files" -r -t 3 -m diff -N $((OPS / 3)) -S $((SEED + 6)) \
	-B "$BACKING/ro" "$MNT/ro"
expect_errno EROFS open_wronly "$MNT/ro"
rel_alive "after the ro runs"
umount_fs

# --- cow -----------------------------------------------------------------------------------------
before=$(sha "$BACKING/ro")
cp "$BACKING/ro" "$BACKING/cow"
mount_fs -o access=cow
# fsx opens with O_TRUNC: in cow mode that truncates the daemon's private view only
run_fsx "cow, 1 thread, $((OPS / 2)) ops" -N $((OPS / 2)) -S $((SEED + 7)) "$MNT/cow"
rel_alive "after the cow run"
umount_fs
check_eq "$(sha "$BACKING/cow")" "$before" "cow: the backing file is untouched after fsx wrote through the mount"
