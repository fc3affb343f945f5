#!/usr/bin/env bash
# Security. A root daemon with -o allow_other (which implies default_permissions): other
# users get exactly the access the file modes give them. As nobody: a 0600 root file is
# EACCES to read, a 0644 root file reads but is EACCES to write, truncate, chmod or unlink,
# a root 0755 directory is EACCES to create, mkdir, rename or symlink in, the .mmstat
# entries of the 0600 file are EACCES and those of the 0644 one are read-only; nobody's own
# file in a 1777 directory is fully nobody's. Without allow_other nobody gets nothing.
# A daemon the backing files deny: a second daemon runs as root without CAP_DAC_OVERRIDE
# and CAP_DAC_READ_SEARCH (a root daemon is otherwise never denied; a daemon running as
# nobody cannot open the 0600 /dev/fuse of this machine), so a 0600 file of nobody's and
# a 0700 directory of nobody's deny it: EACCES, and the daemon lives.
# SC2119: mount_fs takes optional arguments. SC2015: "A && B || fail" fails unless both
# hold. SC2016: single-quoted scripts for sh -c.
# shellcheck disable=SC2119,SC2015,SC2016
# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../mount/lib.sh"
# shellcheck source=tests/reliability/rel.sh
. "$(dirname "${BASH_SOURCE[0]}")/rel.sh"

[ "$(id -u)" -eq 0 ] || skip "needs root (allow_other as root, switching to nobody)"
id nobody >/dev/null 2>&1 || fail "no user nobody"
# mktemp -d made the test dir 0700; nobody must reach the mount point
chmod 0755 "$T"
"${REL_NOBODY[@]}" test -x "$MNT" ||
	fail "nobody cannot reach $MNT: every directory above it must be searchable (set TMPDIR)"

echo secret >"$BACKING/secret"
chmod 0600 "$BACKING/secret"
echo public >"$BACKING/public"
chmod 0644 "$BACKING/public"
mkdir "$BACKING/rootdir" "$BACKING/tmp"
chmod 0755 "$BACKING/rootdir"
chmod 1777 "$BACKING/tmp"

# --- without allow_other: nothing for nobody ---------------------------------------------------
mount_fs
as_nobody_fsop expect_errno EACCES stat "$MNT/public"
umount_fs

# --- allow_other --------------------------------------------------------------------------------
mount_fs -o allow_other
REL_AS=("${REL_NOBODY[@]}")
as_nobody_fsop expect_errno EACCES read "$MNT/secret"
as_nobody_fsop expect_errno EACCES open_rdonly "$MNT/secret"
expect_py EACCES "as nobody: mmap of a 0600 root file" "mmap.mmap(os.open('$MNT/secret', os.O_RDONLY), 0, prot=mmap.PROT_READ)"
check_eq "$(as_nobody cat "$MNT/public")" public "as nobody: a 0644 root file reads"
expect_py "OK:b'publ'" "as nobody: a read-only mapping of a 0644 root file" \
	"mmap.mmap(os.open('$MNT/public', os.O_RDONLY), 0, prot=mmap.PROT_READ)[:4]"
as_nobody_fsop expect_errno EACCES open_wronly "$MNT/public"
as_nobody_fsop expect_errno EACCES open_rdwr "$MNT/public"
as_nobody_fsop expect_errno EACCES truncate "$MNT/public" 0
as_nobody_fsop expect_errno EACCES append "$MNT/public" more
as_nobody_fsop expect_errno EPERM chmod "$MNT/public" 666
as_nobody_fsop expect_errno EPERM chown "$MNT/public" 65534 65534
as_nobody_fsop expect_errno EACCES unlink "$MNT/public"
as_nobody_fsop expect_errno EACCES create "$MNT/rootdir/new"
as_nobody_fsop expect_errno EACCES mkdir "$MNT/rootdir/newdir"
as_nobody_fsop expect_errno EACCES symlink target "$MNT/rootdir/link"
as_nobody_fsop expect_errno EACCES rename "$MNT/public" "$MNT/rootdir/public"
as_nobody_fsop expect_errno EACCES create "$MNT/new-in-root"
as_nobody_fsop expect_errno EACCES read "$MNT/.mmstat/files/secret/stats"
as_nobody_fsop expect_errno EACCES read "$MNT/.mmstat/files/secret/residency"
as_nobody_fsop expect_errno EACCES write "$MNT/.mmstat/files/secret/ctl" touch
as_nobody_fsop expect_ok read "$MNT/.mmstat/files/public/stats"
as_nobody_fsop expect_errno EACCES write "$MNT/.mmstat/files/public/policy" random
as_nobody_fsop expect_errno EACCES write "$MNT/.mmstat/files/public/ctl" evict
check_eq "$(cat "$BACKING/public")" public "the 0644 root file is unchanged"
check_eq "$(stat -c %a "$BACKING/public")" 644 "its mode is unchanged"
# nobody's own file: nobody may do everything with it
as_nobody_fsop expect_ok create "$MNT/tmp/mine"
as_nobody_fsop expect_ok write "$MNT/tmp/mine" "nobody's"
check_eq "$(stat -c %U "$BACKING/tmp/mine")" nobody "a file nobody creates is nobody's"
as_nobody_fsop expect_ok chmod "$MNT/tmp/mine" 600
as_nobody_fsop expect_ok write "$MNT/.mmstat/files/tmp/mine/policy" random
as_nobody_fsop expect_ok unlink "$MNT/tmp/mine"
# a root file in the sticky directory: nobody may not remove it
echo root >"$BACKING/tmp/roots"
as_nobody_fsop expect_errno EPERM unlink "$MNT/tmp/roots"
REL_AS=()
rel_alive "after nobody's attempts"
umount_fs

# --- a daemon the backing files deny -------------------------------------------------------------
B2=$T/backing2
M2=$T/mnt2
mkdir "$B2" "$M2"
echo "nobody's secret" >"$B2/private"
chown 65534:65534 "$B2/private"
chmod 0600 "$B2/private"
echo "nobody's public" >"$B2/open"
chown 65534:65534 "$B2/open"
chmod 0644 "$B2/open"
mkdir "$B2/locked"
chown 65534:65534 "$B2/locked"
chmod 0700 "$B2/locked"
echo "# mount: setpriv -dac_override,-dac_read_search $MMAPFS_BIN -f $B2 $M2" >>"$LOG"
setpriv --bounding-set=-dac_override,-dac_read_search --inh-caps=-dac_override,-dac_read_search \
	-- "$MMAPFS_BIN" -f "$B2" "$M2" </dev/null >>"$LOG" 2>&1 &
denied=$!
rel_undo "fusermount3 -u -z '$M2'; kill $denied; wait $denied"
for _ in $(seq 200); do
	grep -q " $M2 " /proc/self/mountinfo && break
	kill -0 "$denied" 2>/dev/null || fail "the capability-less daemon exited before mounting"
	sleep 0.05
done
grep -q " $M2 " /proc/self/mountinfo || fail "the capability-less daemon did not mount"
ok "a root daemon without DAC override capabilities mounted"
expect_py EACCES "reading a 0600 file the daemon may not read" "open('$M2/private', 'rb').read()"
expect_py "OK:True" "reading a 0644 file the daemon may read" "open('$M2/open', 'rb').read() == b'nobody\\'s public\\n'"
expect_py EACCES "writing a 0644 file the daemon may not write" "os.open('$M2/open', os.O_WRONLY)"
expect_py EACCES "listing a 0700 directory the daemon may not read" "os.listdir('$M2/locked')"
expect_py EACCES "creating in a 0700 directory the daemon may not write" \
	"os.open('$M2/locked/new', os.O_WRONLY | os.O_CREAT, 0o644)"
expect_py EACCES ".mmstat residency of a file the daemon may not read" "open('$M2/.mmstat/files/private/residency').read()"
expect_py EACCES ".mmstat ctl touch of a file the daemon may not read" \
	"os.write(os.open('$M2/.mmstat/files/private/ctl', os.O_WRONLY), b'touch')"
kill -0 "$denied" 2>/dev/null || fail "the capability-less daemon died"
ok "the denied daemon is alive"
check fusermount3 -u "$M2"
rc=0
wait "$denied" || rc=$?
check_eq "$rc" 0 "the denied daemon exit status"
