#!/usr/bin/env bash
# mmstat's table: per-file SIZE, RESIDENT, RES% and POLICY checked against fincore(1) and
# stat(1) on the backing files, in bytes (-b) and human-readable; -r with totals where a
# hard link counts once; a directory without -r; relative, symlinked, trailing-slash and
# mount-root paths; and -o mmstat_visible, where -r must not descend into /.mmstat.
# shellcheck disable=SC2015,SC2010,SC2119 # 'A && B || fail' is meant; ls | grep on plain names
# shellcheck source=tests/tool/common.sh
. "$(dirname "$0")/common.sh"

mount_fs -o advice=random

make_file data/a.bin 8
make_file data/b.bin 4
make_file data/c.bin 1
make_file data/sub/d.bin 2
: >"$BACKING/data/empty"
ln "$BACKING/data/a.bin" "$BACKING/data/sub/a.link"
ln -s a.bin "$BACKING/data/sym"
D=$MNT/data

# A known state: nothing resident, then locked ranges (random advice: no readahead).
mm_ok evict -r "$D"
for f in a.bin b.bin c.bin sub/d.bin; do expect_res "data/$f" 0; done
ok "evict -r left nothing resident (fincore)"
mm_ok lock --length 4M "$D/a.bin"
mm_ok lock "$D/b.bin"
mm_ok lock --offset 1M --length 1M "$D/sub/d.bin"
expect_res data/a.bin $((4 * MIB))
expect_res data/b.bin $((4 * MIB))
expect_res data/c.bin 0
expect_res data/sub/d.bin $((1 * MIB))
ok "locked ranges are resident (fincore)"

# --- one file, bytes -------------------------------------------------------------------------
mm_ok -b "$D/a.bin"
check_eq "$(head -n 1 <<<"$OUT")" "   SIZE  RESIDENT   RES%  POLICY  PATH" "-b header"
check_eq "$(wc -l <<<"$OUT")" 2 "one file: a header and one row, no total"
check_eq "$(row "$D/a.bin")" "$(stat -c %s "$BACKING/data/a.bin") $(fincore_bytes data/a.bin) 50.0 random" \
	"-b a.bin: size (stat), resident (fincore), percent, policy"

# --- human-readable -------------------------------------------------------------------------
mm_ok "$D/a.bin" "$D/c.bin" "$D/sub/d.bin"
check_eq "$(row "$D/a.bin")" "8.0M 4.0M 50.0 random" "human a.bin"
check_eq "$(row "$D/c.bin")" "1.0M 0 0.0 random" "human c.bin"
check_eq "$(row "$D/sub/d.bin")" "2.0M 1.0M 50.0 random" "human sub/d.bin"
check_eq "$(total_line)" "11M 5.0M 45.4 total: 3 files" "human total of three files"

# --- -r: every file once, totals with the hard link counted once -------------------------------
mm_ok -r -b "$D"
want_rows="$D/a.bin
$D/b.bin
$D/c.bin
$D/empty
$D/sub/d.bin"
got_rows=$(awk 'NR > 1 { print $NF }' <<<"$OUT" | sed '$d')
check_eq "$got_rows" "$want_rows" "-r rows: sorted, sub/a.link (hard link) and sym (symlink) not listed"
sum_size=0
sum_res=0
for f in a.bin b.bin c.bin empty sub/d.bin; do
	size=$(stat -c %s "$BACKING/data/$f")
	res=$(fincore_bytes "data/$f")
	check_eq "$(row "$D/$f" | cut -d' ' -f1-2)" "$size $res" "-r row $f matches stat and fincore"
	sum_size=$((sum_size + size))
	sum_res=$((sum_res + res))
done
total=$(total_line)
check_eq "$total" "$sum_size $sum_res 60.0 total: 5 files, 1 hard link counted once" \
	"-r total: sizes and fincore bytes of distinct files, the link counted once"
check_eq "$sum_size" $((15 * MIB)) "the distinct files add up to 15 MiB"

# The link is listed when it sorts first, and both names given still count once.
mm_ok -b "$D/sub/a.link" "$D/a.bin"
check_eq "$(awk 'NR > 1 { print $NF }' <<<"$OUT" | head -n 1)" "$D/sub/a.link" \
	"first name in argument order is the one listed"
check_eq "$(total_line)" \
	"$((8 * MIB)) $((4 * MIB)) 50.0 total: 1 file, 1 hard link counted once" "two names of one file: one row"

# --- a directory without -r: its own regular files only ------------------------------------------
mm_ok -b "$D/"
got_rows=$(awk 'NR > 1 { print $NF }' <<<"$OUT" | sed '$d')
check_eq "$got_rows" "$D/a.bin
$D/b.bin
$D/c.bin
$D/empty" "a directory without -r: its files, no subdirectory, no double slash"

# --- relative, symlinked and mount-root paths -------------------------------------------------------
OUT=$(cd "$D/sub" && timeout 30 "$DASH" "$MMSTAT_SCRIPT" -b d.bin ../c.bin)
check_eq "$(row d.bin)" "$((2 * MIB)) $((1 * MIB)) 50.0 random" "relative path from a cwd on the mount"
check_eq "$(row ../c.bin)" "$((1 * MIB)) 0 0.0 random" "relative path with .."
mm_ok -b "$D/sym"
check_eq "$(row "$D/sym")" "$((8 * MIB)) $((4 * MIB)) 50.0 random" "a symlink argument shows its target's numbers"
mm_ok -r -b "$MNT"
check_eq "$(total_line)" \
	"$sum_size $sum_res 60.0 total: 5 files, 1 hard link counted once" "the mount root with -r"
mm_ok -r "$MNT/"
grep -q "^ *8.0M  *4.0M  *50.0  random  *$MNT/data/a.bin\$" <<<"$OUT" || fail "mount root listing: $OUT"
ok "mount root with a trailing slash: paths without //"

# --- an empty listing ------------------------------------------------------------------------------
mkdir "$BACKING/nothing"
mm_ok -r -b "$MNT/nothing"
check_eq "$(total_line)" "0 0 0.0 total: 0 files" "an empty directory"

# --- unlock, evict: the listing follows ----------------------------------------------------------------
mm_ok unlock -r "$D"
mm_ok evict -r "$D"
mm_ok -r -b "$D"
check_eq "$(total_line)" \
	"$sum_size 0 0.0 total: 5 files, 1 hard link counted once" "after unlock and evict nothing is resident"
umount_fs

# --- -o mmstat_visible: .mmstat is listed by ls, and -r still skips it ----------------------------------
mount_fs -o advice=random,mmstat_visible
ls -a "$MNT" | grep -qx .mmstat || fail "mmstat_visible: ls -a does not list .mmstat"
mm_ok lock "$D/b.bin"
mm_ok -r -b "$MNT"
check_eq "$(total_line)" \
	"$sum_size $((4 * MIB)) 26.6 total: 5 files, 1 hard link counted once" \
	"-r on the root with a visible .mmstat lists the files only"
grep -q '\.mmstat' <<<"$OUT" && fail "a .mmstat path in the listing: $OUT"
ok "no .mmstat rows"
umount_fs
