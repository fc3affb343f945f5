#!/usr/bin/env bash
# mmstat's commands against fincore(1): touch, evict, lock, unlock (whole files, --offset /
# --length ranges, trees with -r) and policy (read back from .mmstat and the listing); and
# every error path: a bad policy (each file named, with the errno text), a directory without
# -r, a range past the end, paths that do not exist or are not on an mmapfs mount (also a
# mount of another type inside the mmapfs mount, and .mmstat itself), a mix of good and bad
# paths, a read-only mount, and usage errors (exit 2) and -h. Last, discard on a cow mount
# (private changes dropped; --json/--kv show private_pages) and refused on an rw mount.
# shellcheck disable=SC2015,SC2010,SC2119 # 'A && B || fail' is meant; ls | grep on plain names
# shellcheck source=tests/tool/common.sh
. "$(dirname "$0")/common.sh"

mount_fs -o advice=random

make_file one.bin 4
make_file tree/a.bin 2
make_file tree/b.bin 1
make_file tree/deep/c.bin 3
ln -s ../one.bin "$BACKING/tree/link-to-one"
TREE=(tree/a.bin tree/b.bin tree/deep/c.bin)

# --- touch / evict ---------------------------------------------------------------------------------
mm_ok evict "$MNT/one.bin"
expect_res one.bin 0
ok "evict: nothing resident"
mm_ok touch "$MNT/one.bin"
got=$(fincore_bytes one.bin)
# Read right after the touch; the VM's own reclaim may already have taken a little.
[ "$got" -ge $((4 * MIB * 9 / 10)) ] || fail "touch: fincore says $got of $((4 * MIB)) bytes"
ok "touch: the whole file resident ($got bytes)"
mm_ok evict "$MNT/one.bin"
expect_res one.bin 0
ok "evict after touch: nothing resident"
mm_ok touch --offset 1M --length 512K "$MNT/one.bin"
got=$(fincore_bytes one.bin)
[ "$got" -le $((512 * 1024)) ] && [ "$got" -ge $((512 * 1024 * 9 / 10)) ] ||
	fail "touch --offset 1M --length 512K: fincore $got bytes"
ok "touch a range: only the range ($got bytes)"
mm_ok evict "$MNT/one.bin"

# --- lock / unlock, ranges ------------------------------------------------------------------------------
mm_ok lock --offset 1M --length 2M "$MNT/one.bin"
expect_res one.bin $((2 * MIB))
ok "lock --offset 1M --length 2M: exactly 2 MiB resident"
mm_ok -v --width 4 -b "$MNT/one.bin"
check_eq "$(sed -n 3p <<<"$OUT")" "  [ OO ] 512/1024 pages" "the listing shows the locked range"
mm_ok evict "$MNT/one.bin"
expect_res one.bin $((2 * MIB))
ok "evict cannot drop locked pages"
mm_ok lock --offset 3M "$MNT/one.bin"
expect_res one.bin $((3 * MIB))
ok "lock --offset 3M: to the end of the file"
mm_ok unlock "$MNT/one.bin"
mm_ok evict "$MNT/one.bin"
expect_res one.bin 0
ok "unlock, evict: nothing resident"
mm_ok lock --length 1M "$MNT/one.bin"
expect_res one.bin $((1 * MIB))
mm_ok unlock --length 1M "$MNT/one.bin"
mm_ok evict "$MNT/one.bin"
expect_res one.bin 0
ok "lock/unlock --length 1M"

# --- -r over a tree ------------------------------------------------------------------------------------
mm_ok lock -r "$MNT/tree/"
for f in "${TREE[@]}"; do expect_res "$f" "$(stat -c %s "$BACKING/$f")"; done
expect_res one.bin 0
ok "lock -r: every file of the tree resident, the symlink's target untouched"
mm_ok unlock -r "$MNT/tree"
mm_ok evict -r "$MNT/tree"
for f in "${TREE[@]}"; do expect_res "$f" 0; done
ok "unlock -r, evict -r: the tree is out of the cache"
mm_ok touch -r "$MNT/tree"
for f in "${TREE[@]}"; do
	got=$(fincore_bytes "$f")
	[ "$got" -gt 0 ] || fail "touch -r: $f not resident"
done
ok "touch -r: every file resident"
mm_ok evict -r "$MNT/tree"

# --- policy ---------------------------------------------------------------------------------------------
mm_ok policy sequential+willneed "$MNT/one.bin"
check_eq "$(cat "$MNT/.mmstat/files/one.bin/policy")" sequential+willneed "policy: .mmstat shows it"
mm_ok -b "$MNT/one.bin"
check_eq "$(row "$MNT/one.bin" | cut -d' ' -f4)" sequential+willneed "policy: the listing shows it"
mm_ok policy normal -r "$MNT/tree"
for f in "${TREE[@]}"; do
	check_eq "$(cat "$MNT/.mmstat/files/$f/policy")" normal "policy -r: $f"
done
mm_ok -r "$MNT"
check_eq "$(awk 'NR > 1 { print $4 }' <<<"$OUT" | sed '$d' | sort | uniq -c | tr -s ' ')" \
	" 3 normal
 1 sequential+willneed" "listing: policies of every file"
mm_ok policy random -r "$MNT/tree"

# --- errors --------------------------------------------------------------------------------------------
mm_err 1 "^mmstat: policy: $MNT/one.bin: Invalid argument\$" policy bogus "$MNT/one.bin"
check_eq "$(cat "$MNT/.mmstat/files/one.bin/policy")" sequential+willneed "a refused policy leaves the old one"
mm_err 1 "^mmstat: policy: $MNT/one.bin: Invalid argument\$" policy random+hugepage+nohugepage "$MNT/one.bin"
mm policy normal+ "$MNT/tree"
check_eq "$RC" 1 "bad policy on a directory without -r: exit 1"
check_eq "$ERR" "mmstat: policy: $MNT/tree: Is a directory (use -r)" "a directory without -r"
mm policy random+bogus -r "$MNT/tree"
check_eq "$RC" 1 "bad policy over a tree: exit 1"
check_eq "$(sort <<<"$ERR")" "mmstat: policy: $MNT/tree/a.bin: Invalid argument
mmstat: policy: $MNT/tree/b.bin: Invalid argument
mmstat: policy: $MNT/tree/deep/c.bin: Invalid argument" "bad policy over a tree: every file named"
OUT=$(cd "$MNT" && timeout 30 "$DASH" "$MMSTAT_SCRIPT" policy bogus tree/a.bin 2>&1) && fail "bad policy exited 0"
check_eq "$OUT" "mmstat: policy: tree/a.bin: Invalid argument" "the file is named as given (relative)"
mm_err 1 "^mmstat: lock: $MNT/one.bin: Invalid argument\$" lock --offset 4M "$MNT/one.bin"
mm_err 1 "^mmstat: evict: $MNT/tree: Is a directory \\(use -r\\)\$" evict "$MNT/tree"
mm_err 1 "^mmstat: $MNT/nope: No such file or directory\$" "$MNT/nope"
mm_err 1 "^mmstat: $MNT/nope: No such file or directory\$" evict "$MNT/nope"
ln -s nowhere "$BACKING/dangling"
mm_err 1 "^mmstat: $MNT/dangling: dangling symbolic link\$" "$MNT/dangling"
mm_err 1 "^mmstat: $T: not on an mmapfs mount\$" -r "$T"
mm_err 1 "^mmstat: /proc/self/status: not on an mmapfs mount\$" /proc/self/status
mm_err 1 "^mmstat: $BACKING/one.bin: not on an mmapfs mount\$" touch "$BACKING/one.bin"
mm_err 1 "inside \\.mmstat" "$MNT/.mmstat/files/one.bin"
mkfifo "$BACKING/fifo"
mm_err 1 "^mmstat: $MNT/fifo: not a regular file or directory\$" "$MNT/fifo"
[ -z "$OUT" ] || fail "nothing listed, yet output: $OUT"
ok "all paths failed: no table at all"

# A mount of another type inside the mmapfs mount is not mmapfs.
mkdir "$BACKING/inner"
if mount -t tmpfs -o size=1m tmpfs "$MNT/inner" 2>/dev/null; then
	echo x >"$MNT/inner/f"
	mm_err 1 "^mmstat: $MNT/inner/f: not on an mmapfs mount\$" "$MNT/inner/f"
	mm_ok -r -b "$MNT"
	grep -q inner <<<"$OUT" && fail "-r crossed into the tmpfs mounted inside: $OUT"
	ok "-r does not cross into another mount"
	umount "$MNT/inner"
else
	echo "# no tmpfs mount here: inner-mount checks skipped"
fi

# Good and bad paths together: the good ones are done and listed, exit 1.
mm_ok evict "$MNT/one.bin"
mm lock "$MNT/nope" "$MNT/tree/b.bin"
check_eq "$RC" 1 "lock good+bad: exit 1"
check_eq "$ERR" "mmstat: $MNT/nope: No such file or directory" "lock good+bad: the bad one named"
expect_res tree/b.bin $((1 * MIB))
ok "lock good+bad: the good one locked"
mm -b "$MNT/tree/b.bin" "$MNT/nope"
check_eq "$RC" 1 "list good+bad: exit 1"
check_eq "$(row "$MNT/tree/b.bin")" "$((1 * MIB)) $((1 * MIB)) 100.0 random" "list good+bad: the good one listed"
mm_ok unlock "$MNT/tree/b.bin"

# Usage errors: exit 2, a hint, nothing done.
mm_err 2 "unknown option '--bogus'" --bogus "$MNT"
mm_err 2 "unknown option '-x'" -rx "$MNT"
mm_err 2 "no PATH given"
mm_err 2 "no PATH given" evict
mm_err 2 "policy: no POLICY given" policy
mm_err 2 "--top needs a count > 0" --top 0 "$MNT"
mm_err 2 "--top needs a count > 0" --top x "$MNT"
mm_err 2 "option '--top' needs an argument" "$MNT" --top
mm_err 2 "--watch needs seconds > 0" --watch 0 "$MNT"
mm_err 2 "--width needs a count" --width 0 "$MNT"
mm_err 2 "for the listing, not 'evict'" evict -v "$MNT/one.bin"
mm_err 2 "for the listing, not 'lock'" lock --json "$MNT/one.bin"
mm_err 2 "--offset and --length are for touch" --offset 4K "$MNT/one.bin"
mm_err 2 "policy: --offset and --length are for touch" policy random --length 4K "$MNT/one.bin"
mm_err 2 "--offset needs a byte count" touch --offset -1 "$MNT/one.bin"
mm_err 2 "--length needs a byte count > 0" touch --length 0 "$MNT/one.bin"
mm_err 2 "Try 'mmstat --help'" --kv --nope
mm_ok -h
grep -q '^usage: mmstat \[OPTIONS\] PATH' <<<"$OUT" || fail "-h: $OUT"
mm_ok --help
grep -q -- '--watch SECONDS' <<<"$OUT" || fail "--help: $OUT"
ok "-h and --help print the usage, exit 0"
# '--' ends options; a file named like a command is a PATH after it.
make_file evict 1
mm_ok evict "$MNT/evict"
OUT=$(cd "$MNT" && timeout 30 "$DASH" "$MMSTAT_SCRIPT" -b -- evict) || fail "mmstat -- evict failed"
check_eq "$(row evict)" "$((1 * MIB)) 0 0.0 random" "'--': a file named 'evict' is listed"
umount_fs

# --- a read-only mount: listing works and it can still be steered (ctl and policy) -----------------------------
mount_fs -o access=ro,advice=random
mm_ok -b "$MNT/one.bin"
check_eq "$(row "$MNT/one.bin" | cut -d' ' -f1)" $((4 * MIB)) "access=ro: the listing works"
mm_ok evict "$MNT/one.bin"
mm_ok policy sequential "$MNT/one.bin"
mm_ok -b "$MNT/one.bin"
check_eq "$(row "$MNT/one.bin" | cut -d' ' -f4)" sequential "access=ro: the policy can be changed"
mm_err 1 "^mmstat: discard: $MNT/one.bin: Invalid argument\$" discard "$MNT/one.bin"
umount_fs

# --- discard on a cow mount: private changes dropped; refused elsewhere -----------------------------------
printf 'backing\n' >"$BACKING/cow.txt"
mount_fs -o access=cow
printf 'private\n' >"$MNT/cow.txt"
mm_ok --kv "$MNT/cow.txt"
grep -q ' private_pages=1 ' <<<"$OUT" || fail "cow: --kv has no private_pages=1: $OUT"
ok "cow: --kv shows private_pages"
mm_ok discard "$MNT/cow.txt"
sleep 1.2 # the kernel may keep the old size for attr_timeout
check_eq "$(cat "$MNT/cow.txt")" backing "discard: the backing content is back"
mm_ok --json "$MNT/cow.txt"
check_eq "$("$PY" -c 'import json,sys; print(json.load(sys.stdin)["files"][0]["private_pages"])' <<<"$OUT")" 0 \
	"discard: private_pages 0 in --json"
mm_err 2 "discard: --offset and --length are for touch" discard --length 4K "$MNT/cow.txt"
umount_fs
mount_fs
mm_err 1 "^mmstat: discard: $MNT/cow.txt: Invalid argument\$" discard "$MNT/cow.txt"
umount_fs
