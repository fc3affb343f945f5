#!/usr/bin/env bash
# Every recipe of tests/tool/cookbook.md (the README's Cookbook section), run as written:
# the first ```sh block under each '### ' heading, with /mnt/data replaced by the test
# mount and 'mmstat' on PATH (scripts/mmstat under dash). Each recipe's effect is checked
# against fincore(1): the hot list and its order, an evicted tree, a pinned index that
# survives evict, a watched scan (rounds, Ctrl-C status 0, residency growing), policies
# compared (random reads exactly the pages asked for), the JSON filter's output. A recipe
# heading without a check here fails the test, so the two cannot drift apart; nor can the
# README's "## Cookbook" section and cookbook.md, once the README has one.
# shellcheck disable=SC2015,SC2010,SC2119 # 'A && B || fail' is meant; ls | grep on plain names
# shellcheck source=tests/tool/common.sh
. "$(dirname "$0")/common.sh"

COOKBOOK=$(cd "$(dirname "$0")" && pwd -P)/cookbook.md
TITLES=(
	"Which files are hot"
	"Evict a tree"
	"Pin an index"
	"Watch a scan progress"
	"Compare policies"
	"Files more than half resident, for scripts"
)
check_eq "$(sed -n 's/^### //p' "$COOKBOOK")" "$(printf '%s\n' "${TITLES[@]}")" \
	"cookbook.md has exactly the recipes this test runs"

# README.md carries a copy of cookbook.md as its "## Cookbook" section: the two must agree.
README=$(cd "$(dirname "$0")/../.." && pwd -P)/README.md
if grep -qx '## Cookbook' "$README" 2>/dev/null; then
	section=$(awk '$0 == "## Cookbook" { s = 1 } s && /^## / && $0 != "## Cookbook" { exit } s' "$README")
	check_eq "$section" "$(cat "$COOKBOOK")" \
		"README.md's Cookbook section is cookbook.md"
else
	echo "# README.md has no '## Cookbook' section yet: nothing to compare"
fi

mkdir "$T/bin"
printf '#!/bin/sh\nexec %q %q "$@"\n' "$DASH" "$MMSTAT_SCRIPT" >"$T/bin/mmstat"
chmod +x "$T/bin/mmstat"

# recipe TITLE: the recipe's shell text, for the test mount.
recipe()
{
	local text

	text=$(awk -v title="### $1" '
		$0 == title { in_section = 1; next }
		in_section && /^### / { exit }
		in_section && !in_block && $0 == "```sh" { in_block = 1; next }
		in_block && $0 == "```" { found = 1; exit }
		in_block { print }
		END { exit !found }' "$COOKBOOK") || fail "cookbook.md: no sh block under '### $1'"
	printf '%s\n' "${text//\/mnt\/data/$MNT}"
}

# run_recipe TITLE [SHELL]: run it (dash by default) with mmstat on PATH; sets OUT and RC.
run_recipe()
{
	local shell=${2:-$DASH}

	RC=0
	OUT=$(cd "$T" && PATH="$T/bin:$PATH" timeout -k 5 60 "$shell" -c "$(recipe "$1")" 2>&1) || RC=$?
}

mount_fs
make_file big.bin 64
make_file index.db 8
for f in a b c; do make_file "logs/$f.log" 1; done
mkdir "$BACKING/misc"
for i in 1 2 3 4 5 6 7 8; do head -c 65536 /dev/urandom >"$BACKING/misc/f0$i"; done
mm_ok evict -r "$MNT"
for f in big.bin index.db logs/a.log misc/f01; do expect_res "$f" 0; done
ok "a cold start: nothing resident"

# --- Which files are hot --------------------------------------------------------------------------
mm_ok policy random "$MNT/big.bin" "$MNT/index.db" # no read-around: exact residency
mm_ok lock "$MNT/index.db"
mm_ok lock --length 2M "$MNT/big.bin"
mm_ok lock "$MNT/logs/a.log"
run_recipe "Which files are hot"
check_eq "$RC" 0 "hot: exit 0"
check_eq "$(awk 'NR >= 2 && NR <= 4 { print $2, $NF }' <<<"$OUT")" "8.0M $MNT/index.db
2.0M $MNT/big.bin
1.0M $MNT/logs/a.log" "hot: the hottest files first"
check_eq "$(awk 'NR > 1' <<<"$OUT" | sed '$d' | wc -l)" 10 "hot: ten rows"
check_eq "$(awk 'NR >= 5 { print $2 }' <<<"$OUT" | sed '$d' | sort -u)" 0 "hot: the rest are cold"
sum=0
for f in big.bin index.db logs/{a,b,c}.log misc/f0{1,2,3,4,5,6,7,8}; do
	sum=$((sum + $(fincore_bytes "$f")))
done
check_eq "$sum" $((11 * MIB)) "hot: fincore agrees: 11 MiB resident in all"
check_eq "$(total_line)" "76M 11M 14.5 total: 13 files, top 10 shown" "hot: totals over all 13 files"
mm_ok unlock -r "$MNT"

# --- Evict a tree -----------------------------------------------------------------------------------
mm_ok touch -r "$MNT/logs"
for f in a b c; do [ "$(fincore_bytes "logs/$f.log")" -gt 0 ] || fail "touch -r: logs/$f.log not resident"; done
run_recipe "Evict a tree"
check_eq "$RC" 0 "evict a tree: exit 0"
check_eq "$OUT" "3.0M         0    0.0          total: 3 files" "evict a tree: the total shows nothing resident"
for f in a b c; do expect_res "logs/$f.log" 0; done
ok "evict a tree: fincore agrees"

# --- Pin an index ----------------------------------------------------------------------------------------
mm_ok evict "$MNT/index.db"
mm_ok policy normal "$MNT/index.db"
run_recipe "Pin an index"
check_eq "$RC" 0 "pin: exit 0"
pin_out=$OUT
check_eq "$OUT" "SIZE  RESIDENT   RES%  POLICY  PATH
8.0M      8.0M  100.0  random  $MNT/index.db
  [$(printf 'O%.0s' {1..60})] 2048/2048 pages" "pin: the listing and an all-O chart"
expect_res index.db $((8 * MIB))
mm_ok evict "$MNT/index.db"
expect_res index.db $((8 * MIB))
ok "pin: resident (fincore), and evict cannot drop it"
check_eq "$(cat "$MNT/.mmstat/files/index.db/policy")" random "pin: the policy is random"
example=$(awk '$0 == "### Pin an index" { s = 1; next } s && /^### / { exit }
	s && $0 == "```" && !b { b = 1; n++; next } s && $0 == "```" && b { b = 0; next }
	s && $0 == "```sh" { b = 1; next } s && b && n == 1 { print }' "$COOKBOOK")
check_eq "$example" "${pin_out//$MNT//mnt/data}" "pin: cookbook.md shows exactly this output"

# --- Watch a scan progress ----------------------------------------------------------------------------------
# As written: a background cat and a watch, stopped by SIGINT as Ctrl-C would. bash, like an
# interactive shell, reports the status of a child that handled SIGINT itself.
mm_ok evict "$MNT/big.bin"
expect_res big.bin 0
RC=0
OUT=$(cd "$T" && PATH="$T/bin:$PATH" timeout -s INT --preserve-status 3.5 bash -c "$(recipe "Watch a scan progress")" 2>&1) ||
	RC=$?
check_eq "$RC" 0 "watch: Ctrl-C (SIGINT) stops it with status 0"
rounds=$(grep -c '^--- mmstat round [0-9]*, ' <<<"$OUT")
[ "$rounds" -ge 3 ] && [ "$rounds" -le 5 ] || fail "watch: $rounds rounds in 3.5 s at 1 s: $OUT"
check_eq "$(grep -c '^  \[[Oo ]\{60\}\] [0-9]*/16384 pages$' <<<"$OUT")" "$rounds" "watch: a chart a round"
res=$(awk '$NF == "'"$MNT"'/big.bin" { print $2 }' <<<"$OUT")
first=$(head -n 1 <<<"$res")
last=$(tail -n 1 <<<"$res")
[ "$last" = 64M ] || [ "$(fincore_bytes big.bin)" -ge $((32 * MIB)) ] ||
	fail "watch: the scan did not fill the cache (first round $first, last $last): $OUT"
ok "watch: $rounds rounds, resident $first in the first, $last in the last"

# The rounds follow a slow scan: 1 MiB every 0.3 s with O_DIRECT (each read reaches the daemon).
mm_ok policy random "$MNT/big.bin"
mm_ok evict "$MNT/big.bin"
(
	for i in 0 1 2 3 4 5 6 7; do
		dd if="$MNT/big.bin" of=/dev/null bs=1M count=1 skip="$i" iflag=direct status=none
		sleep 0.3
	done
) &
scan=$!
mm_ok --watch 0.25 --count 14 -b "$MNT/big.bin"
wait "$scan" || fail "the slow scan failed"
values=$(awk '$NF == "'"$MNT"'/big.bin" { print $2 }' <<<"$OUT")
distinct=$(sort -un <<<"$values" | wc -l)
max=$(sort -n <<<"$values" | tail -n 1)
[ "$distinct" -ge 3 ] && [ "$max" -ge $((4 * MIB)) ] && [ "$(head -n 1 <<<"$values")" -le $((2 * MIB)) ] ||
	fail "watch: the rounds did not follow the scan: $(tr '\n' ' ' <<<"$values")"
ok "watch: the rounds follow a slow scan ($(tr '\n' ' ' <<<"$values"))"

# --- Compare policies ----------------------------------------------------------------------------------------
run_recipe "Compare policies"
check_eq "$RC" 0 "compare: exit 0"
check_eq "$(awk '{ print $1, $4, $5 }' <<<"$OUT")" "$((64 * MIB)) normal $MNT/big.bin
$((64 * MIB)) random $MNT/big.bin
$((64 * MIB)) sequential $MNT/big.bin" "compare: a row per policy"
read -r normal random sequential <<<"$(awk '{ print $2 }' <<<"$OUT" | tr '\n' ' ')"
check_eq "$random" $((4 * PAGE)) "compare: random reads exactly the four pages"
[ "$normal" -gt "$random" ] && [ "$sequential" -gt "$random" ] ||
	fail "compare: normal ($normal) and sequential ($sequential) should read around, random read $random"
ok "compare: normal ($normal) and sequential ($sequential) read around each fault"

# --- Files more than half resident, for scripts ------------------------------------------------------------------
mm_ok unlock -r "$MNT"
mm_ok policy random "$MNT/big.bin" "$MNT/misc/f01"
mm_ok evict -r "$MNT"
mm_ok lock "$MNT/index.db"
mm_ok lock "$MNT/logs/a.log"
mm_ok lock --length 16M "$MNT/big.bin"
mm_ok lock --length 32K "$MNT/misc/f01"
expect_res big.bin $((16 * MIB))
expect_res misc/f01 32768
run_recipe "Files more than half resident, for scripts"
check_eq "$RC" 0 "json filter: exit 0"
check_eq "$OUT" "$MNT/index.db
$MNT/logs/a.log" "json filter: exactly the files over 50% (big.bin 25%, misc/f01 50% are not)"
mm_ok unlock -r "$MNT"
umount_fs
