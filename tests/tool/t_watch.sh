#!/usr/bin/env bash
# mmstat --watch / --count: off a terminal, a '--- mmstat round N, DATE TIME ---' separator
# before each table and no screen control at all; --json gives one document a round
# (with time and round), --kv a '# DATE TIME round N' line a round; on a terminal (script(1)
# gives one) the screen is cleared once a round; the rounds see residency change; Ctrl-C
# (SIGINT) ends the loop with status 0; --count alone implies a 2 s interval.
# shellcheck disable=SC2015,SC2010,SC2119 # 'A && B || fail' is meant; ls | grep on plain names
# shellcheck source=tests/tool/common.sh
. "$(dirname "$0")/common.sh"

mount_fs -o advice=random
make_file w.bin 4
mm_ok evict "$MNT/w.bin"
mm_ok lock --length 1M "$MNT/w.bin"
expect_res w.bin $((1 * MIB))

# --- off a terminal --------------------------------------------------------------------------
start=$(date +%s)
mm_ok --watch 0.2 --count 3 -b "$MNT/w.bin"
elapsed=$(($(date +%s) - start))
[ "$elapsed" -le 10 ] || fail "--watch 0.2 --count 3 took $elapsed s"
check_eq "$(grep -c '^--- mmstat round [123], [0-9]\{4\}-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9] ---$' <<<"$OUT")" 3 \
	"three rounds, each with a separator and a timestamp"
check_eq "$(grep -c '^   SIZE  RESIDENT   RES%  POLICY  PATH$' <<<"$OUT")" 3 "three tables"
check_eq "$(grep -c "^$((4 * MIB))   $((1 * MIB))   25.0  random  $MNT/w.bin\$" <<<"$OUT")" 3 \
	"each round: the file's row"
check_eq "$(sed -n '1p;4p;7p' <<<"$OUT" | sed 's/, .*//')" "--- mmstat round 1
--- mmstat round 2
--- mmstat round 3" "rounds numbered in order"
[[ $OUT != *$'\r'* && $OUT != *$'\e'* ]] || fail "--watch off a terminal printed \\r or an escape"
ok "no screen control off a terminal"

mm_ok --watch 0.2 --count 2 --json "$MNT/w.bin"
got=$("$PY" -c '
import json, sys, re
text = sys.stdin.read()
dec = json.JSONDecoder()
pos, docs = 0, []
while pos < len(text):
    while pos < len(text) and text[pos].isspace():
        pos += 1
    if pos == len(text):
        break
    doc, pos = dec.raw_decode(text, pos)
    docs.append(doc)
for d in docs:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", d["time"]), d["time"]
print(len(docs), [d["round"] for d in docs], [d["files"][0]["resident_bytes"] for d in docs])' <<<"$OUT") ||
	fail "--watch --json: $OUT"
check_eq "$got" "2 [1, 2] [1048576, 1048576]" "--watch --json: a document a round, with time and round"

mm_ok --watch 0.2 --count 2 --kv "$MNT/w.bin"
check_eq "$(grep -c '^# [0-9-]* [0-9:]* round [12]$' <<<"$OUT")" 2 "--watch --kv: a '#' line a round"
check_eq "$(grep -c '^total=1 ' <<<"$OUT")" 2 "--watch --kv: a total record a round"

# --count alone: rounds 2 s apart.
start=$(date +%s)
mm_ok --count 2 -b "$MNT/w.bin"
elapsed=$(($(date +%s) - start))
[ "$elapsed" -ge 1 ] && [ "$elapsed" -le 8 ] || fail "--count 2 alone took $elapsed s, want about 2"
check_eq "$(grep -c '^--- mmstat round' <<<"$OUT")" 2 "--count alone implies --watch 2"

# --- the rounds follow residency ---------------------------------------------------------------
out=$T/rounds.txt
timeout 30 "$DASH" "$MMSTAT_SCRIPT" --watch 0.5 --count 8 -b "$MNT/w.bin" >"$out" 2>&1 &
pid=$!
sleep 1
mm_ok lock "$MNT/w.bin"
wait "$pid" || fail "--watch exited $?: $(cat "$out")"
grep -q "^$((4 * MIB))   $((1 * MIB))   25.0 " "$out" || fail "no round before the lock: $(cat "$out")"
grep -q "^$((4 * MIB))   $((4 * MIB))  100.0 " "$out" || fail "no round after the lock: $(cat "$out")"
ok "a later round shows what changed in between"

# --- on a terminal ---------------------------------------------------------------------------------
got=$(timeout 30 script -qec "'$DASH' '$MMSTAT_SCRIPT' --watch 0.2 --count 3 '$MNT/w.bin'" /dev/null) ||
	fail "--watch under script(1) failed: $got"
check_eq "$(grep -o $'\e\\[H\e\\[2J' <<<"$got" | wc -l)" 3 "on a terminal: the screen is cleared once a round"
check_eq "$(grep -c $'\e\\[2JEvery 0.2s: mmstat --watch 0.2 --count 3 ' <<<"$got")" 3 "on a terminal: a watch(1)-like header"
grep -q '^--- mmstat round' <<<"$got" && fail "on a terminal: separators printed"
ok "on a terminal: no separators"

# --- Ctrl-C ------------------------------------------------------------------------------------------
# Job control gives the background job its own process group with SIGINT not ignored, as
# a foreground command on a terminal has.
rc=0
(
	set -m
	"$DASH" "$MMSTAT_SCRIPT" --watch 0.3 "$MNT/w.bin" >"$T/int.txt" 2>&1 &
	pid=$!
	sleep 1
	kill -INT "$pid"
	wait "$pid"
) || rc=$?
check_eq "$rc" 0 "SIGINT ends --watch with status 0"
grep -q '^--- mmstat round 1,' "$T/int.txt" || fail "nothing printed before SIGINT: $(cat "$T/int.txt")"
ok "the rounds before SIGINT were printed"

mm_ok unlock "$MNT/w.bin"
umount_fs
