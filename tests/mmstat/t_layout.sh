#!/usr/bin/env bash
# The shape of /.mmstat: hidden from the root's readdir yet reachable, listed with
# -o mmstat_visible, a backing '.mmstat' shadowed (with a warning in the log), every
# virtual file readable for awkward names (spaces, newlines, UTF-8, invalid UTF-8) in
# subdirectories, symlinks and FIFOs not mirrored, summary/rules contents, and no way to
# write read-only entries or change the namespace inside .mmstat.
# shellcheck disable=SC2119
# shellcheck source=tests/mount/lib.sh
. "$(dirname "$0")/../mount/lib.sh"
# shellcheck source=tests/mmstat/mmlib.sh
. "$(dirname "$0")/mmlib.sh"

MMTOOL=$(cd "$(dirname "$0")" && pwd -P)/mmtool.py
PAGE=$(getconf PAGESIZE)

# write_errno WANT PATH BYTES_LITERAL WHAT: one write(2) fails with errno WANT.
write_errno()
{
	local got

	got=$(bounded "$PY" "$MMTOOL" write "$2" "$3") || fail "mmtool write $2 exited $?"
	if [ "$got" = "$1" ]; then ok "$4 -> $1"; else bad "$4: want $1, got $got"; fi
}

# --- a backing tree with awkward names, a symlink and a FIFO -----------------------------
SPACE_DIR="dir with space"
SPACE_FILE="$SPACE_DIR/file with space"
NL_DIR=$'new\nline dir'
NL_FILE="$NL_DIR"$'/new\nline'
UTF_DIR=$'utf8 d\xc3\xa9j\xc3\xa0'
UTF_FILE="$UTF_DIR"$'/\xe6\x96\x87\xe4\xbb\xb6 \xc3\xa9.txt'
RAW_DIR=$'raw\xff\xfe'
RAW_FILE="$RAW_DIR"$'/\x80\xfe name\xc3'
DEEP_FILE="a/b/c/deep file"
NAMES=("plain" "$SPACE_FILE" "$NL_FILE" "$UTF_FILE" "$RAW_FILE" "$DEEP_FILE")

mkdir -p "$BACKING/$SPACE_DIR" "$BACKING/$NL_DIR" "$BACKING/$UTF_DIR" "$BACKING/$RAW_DIR" \
	"$BACKING/a/b/c" "$BACKING/empty dir"
i=0
for name in "${NAMES[@]}"; do
	i=$((i + 1))
	head -c $((10000 + i)) /dev/zero | tr '\0' 'x' >"$BACKING/$name"
done
ln -s plain "$BACKING/link"
ln -s "$SPACE_DIR" "$BACKING/dirlink"
mkfifo "$BACKING/fifo"
mkfifo "$BACKING/$SPACE_DIR/fifo2"

mount_fs

# --- hidden but reachable -------------------------------------------------------------------
listing=$(bounded ls -a "$MNT") || fail "ls -a $MNT failed"
if grep -qx '.mmstat' <<<"$listing"; then bad "ls -a MNT lists .mmstat without -o mmstat_visible"; else ok "ls -a MNT does not list .mmstat"; fi
grep -qx 'plain' <<<"$listing" || fail "ls -a MNT does not list 'plain' (listing: $listing)"
n=$(bounded find "$MNT" -name '.mmstat' -print0 | tr -cd '\0' | wc -c) || fail "find $MNT failed"
check_eq "$n" 0 "find MNT finds no .mmstat"
n=$(bounded find "$MNT" -path '*mmstat*' -print0 | tr -cd '\0' | wc -c)
check_eq "$n" 0 "find MNT descends into nothing under .mmstat"
check_eq "$(bounded stat -c %F "$MNT/.mmstat")" directory "stat MNT/.mmstat: a directory"
check_eq "$(bounded stat -c %F "$MNT/.mmstat/files")" directory "stat MNT/.mmstat/files: a directory"
check ls "$MNT/.mmstat/files" >/dev/null
ok "ls MNT/.mmstat/files works"
check_eq "$(bounded ls "$MNT/.mmstat" | tr '\n' ' ')" "files rules summary " "ls MNT/.mmstat"
check test -d "$MNT/.mmstat/."
ok "MNT/.mmstat/. resolves"

# --- the mirror: directories and regular files only, same names -------------------------------
# Each backing directory or regular file is a directory in the mirror; symlinks and FIFOs are not.
want=$(cd "$BACKING" && find . -mindepth 1 \( -type d -o -type f \) -printf '%P\0' | sort -z | od -An -c)
got=$(cd "$MNT/.mmstat/files" && bounded find . -mindepth 1 -type d -printf '%P\0' | sort -z | od -An -c) ||
	fail "find in MNT/.mmstat/files failed"
if [ "$got" = "$want" ]; then
	ok "the mirror tree has exactly the backing directories and regular files (awkward names included)"
else
	bad "the mirror tree differs from the backing directories and files: got [$got], want [$want]"
fi
for gone in link dirlink fifo "$SPACE_DIR/fifo2"; do
	expect_errno ENOENT stat "$MNT/.mmstat/files/$gone"
done
n=$(cd "$MNT/.mmstat/files" && bounded find . -mindepth 1 -type f -printf '%f\n' | sort | uniq -c | awk '{ printf "%s:%s ", $2, $1 }')
check_eq "$n" "ctl:6 map:6 policy:6 residency:6 stats:6 " "every mirrored file holds exactly ctl, map, policy, residency, stats"
check_eq "$(bounded ls "$MNT/.mmstat/files/empty dir" | wc -l)" 0 "an empty directory mirrors as an empty directory"

# --- every virtual file of every awkward name -------------------------------------------------
i=0
for name in "${NAMES[@]}"; do
	i=$((i + 1))
	size=$((10000 + i))
	d="$MNT/.mmstat/files/$name"
	shown=$(printf '%q' "$name")
	check_eq "$(bounded ls "$d" | tr '\n' ' ')" "ctl map policy residency stats " "ls of the mirror of $shown"
	for f in policy residency map stats; do
		bounded cat "$d/$f" >/dev/null || fail "cat $shown/$f failed"
		check_eq "$(bounded stat -c %s "$d/$f")" 0 "$shown/$f has size 0"
	done
	ok "cat of policy, residency, map and stats of $shown"
	check_eq "$(bounded cat "$d/policy")" normal "policy of $shown (no rules: normal)"
	res=$(bounded cat "$d/residency")
	check_eq "$(kv size <<<"$res")" "$size" "residency size of $shown"
	check_eq "$(kv pages <<<"$res")" $(((size + PAGE - 1) / PAGE)) "residency pages of $shown"
	stats=$(bounded cat "$d/stats")
	check_eq "$(kv policy <<<"$stats")" normal "stats policy of $shown"
	check_eq "$(bounded "$PY" "$MMTOOL" write "$d/ctl" "b'touch\\n'")" OK "echo touch > $shown/ctl"
	res=$(bounded cat "$d/residency")
	check_eq "$(kv resident_percent <<<"$res")" "100.0" "after touch, $shown is 100.0% resident"
	check_eq "$(bounded cat "$d/map")" "0-$size" "after touch, map of $shown is one extent 0-$size"
	check_eq "$(bounded cat "$MNT/$name" | wc -c)" "$size" "$shown reads through the mount"
done

# --- summary and rules ------------------------------------------------------------------------
summary=$(bounded cat "$MNT/.mmstat/summary")
check_eq "$(bounded stat -c %s "$MNT/.mmstat/summary")" 0 "summary has size 0"
for key in access page_size files_known files_mapped bytes_mapped resident_bytes idle_mappings \
	idle_evictions open_handles reads read_bytes writes write_bytes remaps daemon_rss_bytes \
	daemon_minor_faults daemon_major_faults uptime_seconds; do
	value=$(kv "$key" <<<"$summary") || { bad "summary has no '$key: ' line"; continue; }
	if [ "$key" = access ]; then
		check_eq "$value" rw "summary access"
	elif [[ ! "$value" =~ ^[0-9]+$ ]]; then
		bad "summary $key is not a whole number: '$value'"
	fi
done
ok "summary has every key"
check_eq "$(kv page_size <<<"$summary")" "$PAGE" "summary page_size"
[ "$(kv daemon_rss_bytes <<<"$summary")" -gt 0 ] || bad "summary daemon_rss_bytes is 0"
reads0=$(kv reads <<<"$summary")
check cat "$MNT/plain" >/dev/null
check "$PY" "$MMTOOL" read_range "$MNT/${NAMES[1]}" 0 4096
reads1=$(bounded cat "$MNT/.mmstat/summary" | kv reads)
[ "$reads1" -gt "$reads0" ] || bad "summary reads did not grow after reads through the mount ($reads0 -> $reads1)"
ok "summary reads grows with reads ($reads0 -> $reads1)"
check_eq "$(bounded cat "$MNT/.mmstat/rules")" "* normal # default (built-in default)" ".mmstat/rules without rule options"

# --- nothing in .mmstat can be written, created or removed ---------------------------------------
for f in summary rules files/plain/residency files/plain/map files/plain/stats; do
	write_errno EACCES "$MNT/.mmstat/$f" "b'x\\n'" "write to read-only .mmstat/$f"
done
check_eq "$(bounded cat "$MNT/.mmstat/summary" | cut -d: -f1 | tr '\n' ' ')" "$(cut -d: -f1 <<<"$summary" | tr '\n' ' ')" \
	"summary has the same keys after the refused writes"
check_eq "$(bounded cat "$MNT/.mmstat/rules")" "* normal # default (built-in default)" "rules unchanged after the refused writes"
expect_errno EPERM unlink "$MNT/.mmstat/summary"
expect_errno EPERM unlink "$MNT/.mmstat/files/plain/policy"
expect_errno EPERM unlink "$MNT/.mmstat/files/a/b/c/deep file/ctl"
expect_errno EPERM mkdir "$MNT/.mmstat/newdir"
expect_errno EPERM mkdir "$MNT/.mmstat/files/newdir"
expect_errno EPERM mkdir "$MNT/.mmstat/files/$SPACE_DIR/newdir"
expect_errno EPERM mkdir "$MNT/.mmstat/files/plain/newdir"
expect_errno EPERM rmdir "$MNT/.mmstat/files/empty dir"
expect_errno EPERM rmdir "$MNT/.mmstat/files"
expect_errno EPERM create "$MNT/.mmstat/files/newfile"
expect_errno EPERM rename "$MNT/.mmstat/files/plain" "$MNT/.mmstat/files/plain2"
expect_errno EPERM symlink plain "$MNT/.mmstat/files/sym"
expect_errno EPERM rmdir "$MNT/.mmstat"
expect_errno EPERM rename "$MNT/.mmstat" "$MNT/renamed"
expect_errno EPERM rename "$MNT/empty dir" "$MNT/.mmstat"
check_eq "$(find "$BACKING" -maxdepth 1 \( -name newdir -o -name newfile -o -name plain2 -o -name sym -o -name .mmstat \) | wc -l)" 0 \
	"the refused changes left the backing directory alone"
if [ ! -d "$BACKING/empty dir" ] || [ ! -f "$BACKING/plain" ]; then
	fail "a refused change removed a backing entry"
fi
umount_fs

# --- -o mmstat_visible --------------------------------------------------------------------------
mount_fs -o mmstat_visible
listing=$(bounded ls -a "$MNT")
if grep -qx '.mmstat' <<<"$listing"; then ok "-o mmstat_visible: ls -a MNT lists .mmstat"; else bad "-o mmstat_visible: ls -a MNT does not list .mmstat"; fi
check_eq "$(grep -cx '.mmstat' <<<"$listing" || true)" 1 "-o mmstat_visible: .mmstat listed once"
check_eq "$(bounded ls "$MNT" | grep -c mmstat || true)" 0 "-o mmstat_visible: ls without -a hides the dot name"
check_eq "$(bounded find "$MNT" -maxdepth 1 -name .mmstat -type d | wc -l)" 1 "-o mmstat_visible: find -maxdepth 1 finds .mmstat as a directory"
check_eq "$(bounded ls "$MNT/.mmstat" | tr '\n' ' ')" "files rules summary " "-o mmstat_visible: ls MNT/.mmstat"
umount_fs

# --- a backing entry named .mmstat is shadowed ------------------------------------------------
mkdir "$BACKING/.mmstat"
echo secret >"$BACKING/.mmstat/backing-only"
echo summary-in-backing >"$BACKING/.mmstat/summary"
: >"$LOG"
mount_fs
check_eq "$(bounded ls "$MNT/.mmstat" | tr '\n' ' ')" "files rules summary " "MNT/.mmstat is the virtual tree, not the backing directory"
expect_errno ENOENT stat "$MNT/.mmstat/backing-only"
kv page_size < <(bounded cat "$MNT/.mmstat/summary") >/dev/null || bad "MNT/.mmstat/summary is not the virtual summary"
listing=$(bounded ls -a "$MNT")
check_eq "$(grep -cx '.mmstat' <<<"$listing" || true)" 0 "a shadowed backing .mmstat is not listed by ls -a MNT"
expect_errno ENOENT stat "$MNT/.mmstat/files/.mmstat"
check_eq "$(bounded ls -a "$MNT/.mmstat/files" | grep -cx '.mmstat' || true)" 0 "the mirror does not list the shadowed .mmstat"
if grep -q 'mmapfs: warning:.*\.mmstat' "$LOG"; then
	ok "the daemon log warns about the shadowed backing .mmstat"
else
	bad "no 'mmapfs: warning:' line naming .mmstat in the daemon log with a backing .mmstat (log: $(tr '\n' '|' <"$LOG"))"
fi
umount_fs
check_eq "$(cat "$BACKING/.mmstat/backing-only")" secret "the shadowed backing .mmstat is untouched"

finish
