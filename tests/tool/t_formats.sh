#!/usr/bin/env bash
# mmstat's machine formats and charts: --json (valid per python3 -m json.tool, every field
# checked against fincore(1) and os.stat of the backing files, names with quotes,
# backslashes, tabs, control characters, newlines and UTF-8 decoded exactly), --kv (parsed
# as documented: split on spaces, split on the first '=', %XX decoded; the same data as
# --json), -v (a half-resident file's chart: left half 'O', right half blank; partial
# columns 'o'; --width), and --top (order by resident bytes, count, totals over all).
# shellcheck source=tests/tool/common.sh
. "$(dirname "$0")/common.sh"

mount_fs -o advice=random

make_file f/half.bin 8
make_file f/full.bin 2
make_file f/cold.bin 1
make_file f/quarter.bin 4
NAMES=(
	'q"uote'
	'back\slash'
	$'tab\there'
	$'new\nline'
	$'ctl\001char\177'
	'sp ace'
	'per%cent=x'
	$'\xc3\xbcn\xc3\xaf'
	$'trailing\n'
)
mkdir "$BACKING/f/w"
for n in "${NAMES[@]}"; do
	head -c $((3 * PAGE)) /dev/urandom >"$BACKING/f/w/$n"
done
ln "$BACKING/f/half.bin" "$BACKING/f/w/half.link"
sync -f "$BACKING/f/half.bin"
F=$MNT/f

mm_ok evict -r "$F"
mm_ok lock --length 4M "$F/half.bin"
mm_ok lock "$F/full.bin"
mm_ok lock --length 1M "$F/quarter.bin"
for n in "${NAMES[@]}"; do mm_ok lock --length "$PAGE" "$F/w/$n"; done
expect_res f/half.bin $((4 * MIB))
expect_res f/full.bin $((2 * MIB))
expect_res f/cold.bin 0
expect_res f/quarter.bin $((1 * MIB))
for n in "${NAMES[@]}"; do expect_res "f/w/$n" "$PAGE"; done
ok "a known residency: locked ranges resident, the rest evicted (fincore)"

# The checker: one JSON document on stdin, checked against the backing files.
cat >"$T/check.py" <<'EOF'
import json, os, subprocess, sys

backing, mnt, disp_prefix, want_files, verbose = sys.argv[1:6]
doc = json.load(sys.stdin)
errors = []

def err(msg):
    errors.append(msg)

def fincore(path):
    out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", path],
                         check=True, capture_output=True, text=True).stdout
    return int(out.strip())

files = doc["files"]
seen = set()
size_sum = pages_sum = res_sum = rpages_sum = 0
for f in files:
    rel = f["relpath"]
    real = os.path.join(backing, rel)
    st = os.stat(real)
    if f["mount"] != mnt:
        err(f"{rel!r}: mount {f['mount']!r}, want {mnt!r}")
    if f["path"] != disp_prefix + rel[len("f"):]:
        err(f"{rel!r}: path {f['path']!r}")
    if f["inode"] != st.st_ino:
        err(f"{rel!r}: inode {f['inode']}, want {st.st_ino}")
    if f["size"] != st.st_size:
        err(f"{rel!r}: size {f['size']}, want {st.st_size}")
    if f["resident_bytes"] != fincore(real):
        err(f"{rel!r}: resident_bytes {f['resident_bytes']}, fincore {fincore(real)}")
    page = f["page_size"]
    if page != os.sysconf("SC_PAGE_SIZE"):
        err(f"{rel!r}: page_size {page}")
    if f["pages"] != (st.st_size + page - 1) // page:
        err(f"{rel!r}: pages {f['pages']}")
    if f["resident_pages"] * page != f["resident_bytes"] and f["resident_bytes"] != st.st_size:
        err(f"{rel!r}: resident_pages {f['resident_pages']} vs bytes {f['resident_bytes']}")
    want_pct = (f["resident_pages"] * 1000 // f["pages"]) / 10 if f["pages"] else 0.0
    if abs(f["resident_percent"] - want_pct) > 1e-9:
        err(f"{rel!r}: resident_percent {f['resident_percent']}, want {want_pct}")
    if f["policy"] != "random":
        err(f"{rel!r}: policy {f['policy']!r}")
    for key in ("mapped", "accurate"):
        if not isinstance(f[key], bool):
            err(f"{rel!r}: {key} is not a boolean")
    if not isinstance(f["method"], str):
        err(f"{rel!r}: method")
    if verbose == "1":
        chart = f["chart"]
        if len(chart) != 62 or chart[0] != "[" or chart[-1] != "]":
            err(f"{rel!r}: chart {chart!r}")
        covered = sum(e - s for s, e in f["extents"])
        if covered != f["resident_bytes"]:
            err(f"{rel!r}: extents cover {covered}, resident_bytes {f['resident_bytes']}")
    elif "chart" in f or "extents" in f:
        err(f"{rel!r}: chart/extents without -v")
    if (st.st_dev, st.st_ino) in seen:
        err(f"{rel!r}: a hard link listed twice")
    seen.add((st.st_dev, st.st_ino))
    size_sum += f["size"]; pages_sum += f["pages"]
    res_sum += f["resident_bytes"]; rpages_sum += f["resident_pages"]

got = sorted(f["relpath"] for f in files)
want = sorted(json.loads(want_files))
if got != want:
    err(f"relpaths {got!r}, want {want!r}")
t = doc["total"]
if (t["files"], t["shown"], t["hardlinks_skipped"]) != (len(files), len(files), 1):
    err(f"total counts {t!r}")
if (t["size"], t["pages"], t["resident_bytes"], t["resident_pages"]) != \
        (size_sum, pages_sum, res_sum, rpages_sum):
    err(f"total sums {t!r}")
if abs(t["resident_percent"] - (rpages_sum * 1000 // pages_sum) / 10) > 1e-9:
    err(f"total percent {t['resident_percent']}")
if doc["errors"] != 0:
    err("errors != 0")
print("\n".join(errors))
sys.exit(1 if errors else 0)
EOF

want_rel=$("$PY" -c 'import json, sys; print(json.dumps(["f/" + n for n in sys.argv[1:]]))' \
	half.bin full.bin cold.bin quarter.bin "${NAMES[@]/#/w/}")

# --- --json ----------------------------------------------------------------------------------
mm_ok -r --json "$F"
printf '%s\n' "$OUT" >"$T/out.json"
bounded "$PY" -m json.tool "$T/out.json" >/dev/null || fail "--json is not valid JSON: $OUT"
ok "--json passes python3 -m json.tool"
res=$(bounded "$PY" "$T/check.py" "$BACKING" "$MNT" "$F" "$want_rel" 0 <"$T/out.json") ||
	fail "--json fields: $res"
ok "--json: every field against os.stat and fincore; names decoded exactly; totals"
mm_ok -r -v --json "$F"
res=$(bounded "$PY" "$T/check.py" "$BACKING" "$MNT" "$F" "$want_rel" 1 <<<"$OUT") ||
	fail "--json -v fields: $res"
ok "--json -v: charts and extents cover resident_bytes"
got=$("$PY" -c '
import json, sys
d = json.load(sys.stdin)
f = [f for f in d["files"] if f["relpath"] == "f/half.bin"][0]
print(f["extents"], f["chart"])' <<<"$OUT")
check_eq "$got" "[[0, 4194304]] [$(printf 'O%.0s' {1..30})$(printf ' %.0s' {1..30})]" \
	"--json -v half.bin: extents and chart"

# --- --kv --------------------------------------------------------------------------------------
mm_ok -r --kv "$F"
grep -q $'\t' <<<"$OUT" && fail "--kv output holds a tab"
check_eq "$(wc -l <<<"$OUT")" $((${#NAMES[@]} + 5)) "--kv: one line a file and a total line"
printf '%s\n' "$OUT" >"$T/out.kv"
mm_ok -r --json "$F"
cat >"$T/check_kv.py" <<'EOF'
import json, sys, urllib.parse
doc = json.load(sys.stdin)
recs = []
for line in open(sys.argv[1], encoding="utf-8"):
    fields = dict(kv.split("=", 1) for kv in line.rstrip("\n").split(" "))
    recs.append(fields)
total = recs.pop()
errors = []
if "total" not in total or total["total"] != str(doc["total"]["files"]):
    errors.append(f"total record {total!r}")
for key in ("size", "resident_bytes", "resident_pages", "pages", "hardlinks_skipped"):
    if total[key] != str(doc["total"][key]):
        errors.append(f"total {key}: {total[key]} vs {doc['total'][key]}")
byrel = {f["relpath"]: f for f in doc["files"]}
for r in recs:
    rel = urllib.parse.unquote(r["relpath"], errors="strict")
    f = byrel.pop(rel, None)
    if f is None:
        errors.append(f"kv relpath {rel!r} not in the JSON")
        continue
    if urllib.parse.unquote(r["path"]) != f["path"] or urllib.parse.unquote(r["mount"]) != f["mount"]:
        errors.append(f"{rel!r}: path/mount differ")
    for key in ("size", "resident_bytes", "pages", "resident_pages", "page_size", "inode"):
        if r[key] != str(f[key]):
            errors.append(f"{rel!r}: {key} {r[key]} vs {f[key]}")
    if float(r["resident_percent"]) != f["resident_percent"] or r["policy"] != f["policy"]:
        errors.append(f"{rel!r}: percent/policy differ")
if byrel:
    errors.append(f"missing from --kv: {list(byrel)!r}")
print("\n".join(errors))
sys.exit(1 if errors else 0)
EOF
res=$(bounded "$PY" "$T/check_kv.py" "$T/out.kv" <<<"$OUT" 2>&1) || fail "--kv against --json: $res"
ok "--kv parsed as documented (space, first '=', %XX) holds the same data as --json"
got=$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^path=/) p = substr($i, 6); else if ($i ~ /^resident_bytes=/) r = substr($i, 16) }
	p ~ /half\.bin$/ { print r }' "$T/out.kv")
check_eq "$got" $((4 * MIB)) "--kv read by awk: half.bin resident_bytes"
grep -q "^path=$F/w/new%0Aline size=$((3 * PAGE)) resident_bytes=$PAGE resident_percent=33.3 policy=random " \
	"$T/out.kv" || fail "--kv: no record for 'new\\nline' as documented: $(cat "$T/out.kv")"
grep -q "relpath=f/w/sp%20ace$" "$T/out.kv" || fail "--kv: space not %20"
grep -q "relpath=f/w/per%25cent=x$" "$T/out.kv" || fail "--kv: % not %25"
ok "--kv: newline %0A, space %20, percent %25"
mm_ok --kv -v "$F/half.bin"
grep -q " extents=0-4194304\$" <<<"$OUT" || fail "--kv -v: extents: $OUT"
ok "--kv -v: extents"

# --- table names: C escapes, one line a file ---------------------------------------------------------
mm_ok -r -b "$F/w"
check_eq "$(wc -l <<<"$OUT")" $((${#NAMES[@]} + 3)) "table: a line per file even with newlines in names"
grep -qF "$F/w/new\\nline" <<<"$OUT" || fail "table: newline not shown as \\n: $OUT"
grep -qF "$F/w/back\\\\slash" <<<"$OUT" || fail "table: backslash not doubled: $OUT"
grep -qF "$F/w/ctl\\001char\\177" <<<"$OUT" || fail "table: control characters not \\ooo: $OUT"
ok "table: names C-escaped like ls -b"

# --- -v charts ----------------------------------------------------------------------------------------
mm_ok -v "$F/half.bin"
half="[$(printf 'O%.0s' {1..30})$(printf ' %.0s' {1..30})]"
check_eq "$(sed -n 3p <<<"$OUT")" "  $half 1024/2048 pages" "-v: half.bin's chart: left half full, right half empty"
check_eq "$(wc -l <<<"$OUT")" 3 "-v: header, row, chart"
[[ $OUT != *$'\r'* && $OUT != *$'\e'* ]] || fail "-v output holds \\r or an escape"
ok "-v: no carriage returns or escapes when not on a terminal"
mm_ok -v --width 8 "$F/half.bin" "$F/cold.bin" "$F/full.bin"
check_eq "$(grep -F '[' <<<"$OUT")" "  [OOOO    ] 1024/2048 pages
  [        ] 0/256 pages
  [OOOOOOOO] 512/512 pages" "--width 8: half, none, full"
# A partial column: 8 columns of 1 MiB, 1.5 MiB locked.
mm_ok unlock "$F/half.bin"
mm_ok evict "$F/half.bin"
mm_ok lock --length 1536K "$F/half.bin"
expect_res f/half.bin $((1536 * 1024))
mm_ok -v --width 8 "$F/half.bin"
check_eq "$(sed -n 3p <<<"$OUT")" "  [Oo      ] 384/2048 pages" "--width 8: a partly resident column is 'o'"
mm_ok -v --width 8 "$F/w/sp ace"
check_eq "$(sed -n 3p <<<"$OUT")" "  [OOo     ] 1/3 pages" "a 3-page file, first page resident"
mm_ok unlock "$F/half.bin"
mm_ok lock --length 4M "$F/half.bin"

# --- --top ---------------------------------------------------------------------------------------------
mm_ok -r -b --top 3 "$F"
check_eq "$(awk 'NR > 1 { print $2, $NF }' <<<"$OUT" | sed '$d')" "$((4 * MIB)) $F/half.bin
$((2 * MIB)) $F/full.bin
$((1 * MIB)) $F/quarter.bin" "--top 3: by resident bytes, largest first"
check_eq "$(total_line)" \
	"$((15 * MIB + ${#NAMES[@]} * 3 * PAGE)) $((7 * MIB + ${#NAMES[@]} * PAGE)) 46.5 total: 13 files, top 3 shown, 1 hard link counted once" \
	"--top: totals over every file"
mm_ok -r -b --top=100 "$F"
check_eq "$(awk 'NR > 1 { print $2 }' <<<"$OUT" | sed '$d' | sort -rn -c && echo sorted)" sorted \
	"--top larger than the count: all files, sorted"
check_eq "$(awk 'NR > 1' <<<"$OUT" | sed '$d' | wc -l)" 13 "--top=100: 13 rows"
mm_ok -r --json --top 1 "$F"
check_eq "$("$PY" -c 'import json,sys; d=json.load(sys.stdin); print(len(d["files"]), d["files"][0]["relpath"], d["total"]["files"], d["total"]["shown"])' <<<"$OUT")" \
	"1 f/half.bin 13 1" "--json --top 1"
umount_fs
