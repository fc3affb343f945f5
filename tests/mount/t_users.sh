#!/usr/bin/env bash
# A root daemon mounted with -o allow_other, used by nobody (65534:65534): what nobody
# creates is owned by nobody in the backing dir, and nobody gets no more access than the
# backing files' permissions give (the daemon itself runs as root and could do anything).
# SC2015: "A && B || fail" means fail unless both hold. SC2016: single-quoted scripts for
# bash -c and python. SC2119: mount_fs takes optional arguments.
# shellcheck disable=SC2015,SC2016,SC2119
# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "$(id -u)" -eq 0 ] || fail "t_users needs root (it mounts with allow_other and switches to nobody)"
id nobody >/dev/null 2>&1 || fail "no user nobody"

# mktemp -d made the test dir 0700; nobody must be able to reach the mount point.
chmod 0755 "$T"
as_nobody test -x "$T" ||
	fail "nobody cannot reach $T: every directory above it must be searchable by others (set TMPDIR)"
as_nobody test -r "$TESTS_DIR/fsop.py" || fail "nobody cannot read $TESTS_DIR/fsop.py"

mkdir "$BACKING/pub" "$BACKING/rootdir"
chmod 1777 "$BACKING/pub"
echo secret >"$BACKING/secret"
chmod 0600 "$BACKING/secret"
echo public >"$BACKING/public"
chmod 0644 "$BACKING/public"
echo mine >"$BACKING/pub/roots-file"
chmod 0644 "$BACKING/pub/roots-file"

mount_fs -o allow_other

as_nobody stat "$MNT" >/dev/null || fail "nobody cannot stat the allow_other mount"
ok "nobody can use an allow_other mount"

# --- what nobody creates is nobody's ---------------------------------------------------------
as_nobody_fsop expect_ok create "$MNT/pub/nf"
check_eq "$(stat -c %u:%g "$BACKING/pub/nf")" 65534:65534 "a file nobody created is 65534:65534 in the backing dir"
check_eq "$(stat -c %a "$BACKING/pub/nf")" 644 "created with mode 0644 (umask 022)"
as_nobody_fsop expect_ok write "$MNT/pub/nf" "written by nobody"
check_eq "$(cat "$BACKING/pub/nf")" "written by nobody" "nobody's write reached the backing file"
as_nobody_fsop expect_ok mkdir "$MNT/pub/nd"
check_eq "$(stat -c %u:%g "$BACKING/pub/nd")" 65534:65534 "a directory nobody made is 65534:65534"
as_nobody_fsop expect_ok create "$MNT/pub/nd/deeper"
check_eq "$(stat -c %u:%g "$BACKING/pub/nd/deeper")" 65534:65534 "a file in nobody's directory is 65534:65534"
as_nobody_fsop expect_ok symlink target "$MNT/pub/nl"
check_eq "$(stat -c %u:%g "$BACKING/pub/nl")" 65534:65534 "a symlink nobody made is 65534:65534"
check_eq "$(as_nobody cat "$MNT/pub/nf")" "written by nobody" "nobody reads its own file back"
as_nobody_fsop expect_ok chmod "$MNT/pub/nf" 600
check_eq "$(stat -c %a "$BACKING/pub/nf")" 600 "nobody can chmod its own file"

# Root through the same mount still creates root's files.
check touch "$MNT/pub/rf"
check_eq "$(stat -c %u:%g "$BACKING/pub/rf")" 0:0 "a file root created is 0:0"

# --- and nobody gets no more than the permissions give -----------------------------------------
as_nobody_fsop expect_errno EACCES read "$MNT/secret"
as_nobody_fsop expect_errno EACCES open_rdonly "$MNT/secret"
if as_nobody cat "$MNT/secret" >"$T/out" 2>&1; then
	fail "nobody read a 0600 root file: $(cat "$T/out")"
fi
ok "cat of a 0600 root file fails as nobody"
check_eq "$(as_nobody cat "$MNT/public")" public "nobody reads a 0644 root file"
as_nobody_fsop expect_errno EACCES open_wronly "$MNT/public"
as_nobody_fsop expect_errno EACCES truncate "$MNT/public" 0
as_nobody_fsop expect_errno EACCES create "$MNT/rootdir/nope"
as_nobody_fsop expect_errno EACCES mkdir "$MNT/rootdir/nope"
as_nobody_fsop expect_errno EACCES unlink "$MNT/public"
as_nobody_fsop expect_errno EPERM chmod "$MNT/public" 666
as_nobody_fsop expect_errno EPERM chown "$MNT/pub/nd" 0 0
as_nobody_fsop expect_errno EPERM utime "$MNT/public"
# The sticky bit on pub: nobody may not remove or rename root's file there.
as_nobody_fsop expect_errno EPERM unlink "$MNT/pub/roots-file"
as_nobody_fsop expect_errno EPERM rename "$MNT/pub/roots-file" "$MNT/pub/stolen"
check_eq "$(cat "$BACKING/secret") $(cat "$BACKING/public") $(cat "$BACKING/pub/roots-file")" \
	"secret public mine" "root's files are unchanged"
check_eq "$(stat -c %a "$BACKING/public")" 644 "root's file mode is unchanged"

umount_fs
