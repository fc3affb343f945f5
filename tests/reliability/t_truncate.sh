#!/usr/bin/env bash
# Truncation under our feet (the SIGBUS case). While clients read, map and write files
# through the mount, another process shrinks, regrows, rewrites and replaces the backing
# files for several seconds. The daemon must not die; every read returns bytes the file
# held (checked byte by byte against the pattern for that offset), a short read or EIO,
# never garbage, and never hangs (each client has a watchdog); a client mapping may get
# SIGBUS (normal Linux behaviour). Afterwards the mount serves the files' new content, and
# a deterministic loop checks that after an outside shrink no byte past the new end and,
# after a regrow, none of the old bytes come back (through a held fd, a fresh open and a
# held client mapping).
# SC2119: mount_fs takes optional arguments. SC2015: "A && B || fail" fails unless both
# hold. SC2016: single-quoted scripts for sh -c.
# shellcheck disable=SC2119,SC2015,SC2016
# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../mount/lib.sh"
# shellcheck source=tests/reliability/rel.sh
. "$(dirname "${BASH_SOURCE[0]}")/rel.sh"

STORM_SECONDS=${STORM_SECONDS:-6}
NFILES=4

for i in $(seq 0 $((NFILES - 1))); do
	check "$RELHELPER" pattern "$BACKING/f$i" 100000 1
done

# attr/entry timeouts 0: the kernel asks for the size and the name on every call, so the
# daemon's own answers are what is tested, not the kernel's cache.
mount_fs -o attr_timeout=0,entry_timeout=0

pids=()
names=()
start_client()
{
	timeout -k 5 $((STORM_SECONDS + 40)) "$RELHELPER" storm-client "$MNT" "$STORM_SECONDS" \
		"$NFILES" "$1" "$2" >>"$T/storm.out" 2>&1 &
	pids+=($!)
	names+=("storm-client $1 (seed $2)")
}

timeout -k 5 $((STORM_SECONDS + 40)) "$RELHELPER" storm-mutate "$BACKING" "$STORM_SECONDS" \
	"$NFILES" 7 >>"$T/storm.out" 2>&1 &
mutator=$!
start_client read 11
start_client read 12
start_client mmap 13
start_client mmap 14
start_client write 15
rel_wait "$mutator" "the outside mutator" "$T/storm.out"
for i in "${!pids[@]}"; do
	rel_wait "${pids[i]}" "${names[i]} during the truncation storm" "$T/storm.out"
done
cat "$T/storm.out"
ok "${#pids[@]} clients read, mapped and wrote through a ${STORM_SECONDS} s truncation storm: every byte checked"
rel_alive "after the storm"

# (informational: whether a shrink cut a client mapping short this time)
grep -q '^storm-client mmap: .* sigbus [1-9]' "$T/storm.out" ||
	echo "# note: no client mapping was cut short by a shrink this time"

# The mount serves the files' current content: new bytes from outside, read at once.
for i in $(seq 0 $((NFILES - 1))); do
	check "$RELHELPER" pattern "$BACKING/f$i" $((50000 + i * 4099)) $((100 + i))
	check_eq "$(sha "$MNT/f$i")" "$(sha "$BACKING/f$i")" "f$i after the storm: the mount shows the new content"
done
rel_serving "after the storm"

# Deterministic: shrink and regrow outside, read through the mount at once.
check "$RELHELPER" shrink-regrow "$MNT/sr" "$BACKING/sr" 100
ok "100 rounds of outside rewrite/shrink/regrow: no byte past the new end, no old byte in a regrown range"
rel_alive "after shrink-regrow"

umount_fs
