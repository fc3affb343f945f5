#!/usr/bin/env bash
# cow refuses every namespace and metadata change with EROFS (create, mkdir, mknod, unlink,
# rmdir, rename in all its forms, link, symlink, chmod, chown, utimens, setxattr,
# removexattr), by system call and by the usual programs, while data changes to existing
# files (open for writing, O_TRUNC, O_CREAT on an existing name, write, truncate, a shared
# writable mapping, fsync) are allowed. The backing tree stays exactly as it was.
# SC2016: single-quoted scripts for bash -c. SC2119: mount_fs takes optional arguments.
# shellcheck disable=SC2016,SC2119
# shellcheck source=tests/cow/cowlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/cowlib.sh"

head -c 100000 /dev/urandom >"$BACKING/file"
head -c 100 /dev/urandom >"$BACKING/other"
mkdir -p "$BACKING/dir/sub" "$BACKING/emptydir"
echo inner >"$BACKING/dir/inner"
ln -s file "$BACKING/link"
mkfifo "$BACKING/fifo"
setfattr -n user.tag -v cow-test "$BACKING/file"
setfattr -n user.dirtag -v d "$BACKING/dir"
fingerprint "$BACKING" >"$T/before"

mount_fs -o access=cow

# --- namespace and metadata: EROFS ------------------------------------------------------------------
expect_errno EROFS create "$MNT/new"
expect_errno EROFS create_excl "$MNT/new"
expect_errno EROFS create "$MNT/dir/sub/new"
expect_errno EROFS mkdir "$MNT/newdir"
expect_errno EROFS mkdir "$MNT/dir/sub/newdir"
expect_errno EROFS mknod_fifo "$MNT/newfifo"
expect_errno EROFS unlink "$MNT/file"
expect_errno EROFS unlink "$MNT/dir/inner"
expect_errno EROFS unlink "$MNT/link"
expect_errno EROFS unlink "$MNT/fifo"
expect_errno EROFS rmdir "$MNT/emptydir"
expect_errno EROFS rename "$MNT/file" "$MNT/renamed"
expect_errno EROFS rename "$MNT/file" "$MNT/other"
expect_errno EROFS rename "$MNT/dir/inner" "$MNT/inner"
expect_errno EROFS rename "$MNT/emptydir" "$MNT/dir/moved"
expect_errno EROFS rename_noreplace "$MNT/file" "$MNT/renamed"
expect_errno EROFS rename_exchange "$MNT/file" "$MNT/other"
expect_errno EROFS link "$MNT/file" "$MNT/hardlink"
expect_errno EROFS link "$MNT/file" "$MNT/dir/hardlink"
expect_errno EROFS symlink file "$MNT/newlink"
expect_errno EROFS chmod "$MNT/file" 600
expect_errno EROFS chmod "$MNT/dir" 700
expect_errno EROFS chown "$MNT/file" 1 1
expect_errno EROFS chown "$MNT/dir" 1 1
expect_errno EROFS utime "$MNT/file"
expect_errno EROFS utime "$MNT/dir"
expect_errno EROFS setxattr "$MNT/file" user.tag changed
expect_errno EROFS setxattr "$MNT/file" user.new value
expect_errno EROFS setxattr "$MNT/dir" user.new value
expect_errno EROFS removexattr "$MNT/file" user.tag
expect_errno EROFS removexattr "$MNT/dir" user.dirtag

# The usual programs say so.
# prog WHAT CMD...: CMD must fail with "Read-only file system".
prog()
{
	local what=$1

	shift
	if bounded "$@" 2>"$T/err"; then
		fail "$what succeeded on the cow mount"
	fi
	grep -q 'Read-only file system' "$T/err" || fail "$what: want 'Read-only file system', got: $(cat "$T/err")"
	ok "$what: Read-only file system"
}
prog "touch a new file" touch "$MNT/new"
prog "touch an existing file (utimens)" touch "$MNT/file"
prog "mkdir" mkdir "$MNT/newdir"
prog "mkfifo" mkfifo "$MNT/newfifo"
prog "mknod" mknod "$MNT/newnode" p
prog "rm" rm -f "$MNT/file"
prog "rmdir" rmdir "$MNT/emptydir"
prog "mv" mv "$MNT/file" "$MNT/moved"
prog "ln" ln "$MNT/file" "$MNT/hardlink"
prog "ln -s" ln -s file "$MNT/newlink"
prog "chmod" chmod 600 "$MNT/file"
prog "chown" chown 1:1 "$MNT/file"
prog "setfattr -n" setfattr -n user.tag -v changed "$MNT/file"
prog "setfattr -x" setfattr -x user.tag "$MNT/file"
prog "cp to a new name" cp "$BACKING/other" "$MNT/copied"
prog "shell redirection to a new name" bash -c 'echo x >"$1"' _ "$MNT/dir/created"

# --- reading the namespace still works ---------------------------------------------------------------
check_eq "$(bounded getfattr --absolute-names --only-values -n user.tag "$MNT/file")" cow-test "getxattr"
check_eq "$(bounded readlink "$MNT/link")" file "readlink"
check_eq "$(bounded ls "$MNT" | xargs)" "dir emptydir fifo file link other" "readdir of the root"

# --- data changes to existing files: allowed --------------------------------------------------------
expect_ok open_wronly "$MNT/file"
expect_ok open_rdwr "$MNT/file"
expect_ok create "$MNT/other"                     # O_CREAT without O_EXCL on an existing name
expect_ok write "$MNT/other" "written"
expect_ok append "$MNT/other" "+appended"
expect_ok truncate "$MNT/file" 4096
expect_ok truncate "$MNT/file" 200000
expect_ok open_trunc "$MNT/dir/inner"
check_eq "$(cowpy mmap_write "$MNT/file" 5000 MAPPED)" OK "a MAP_SHARED mapping of a file opened r+b takes writes"
bounded "$PY" - "$MNT/file" <<-'EOF' || fail "write + fsync + fdatasync on the cow mount"
	import os, sys
	fd = os.open(sys.argv[1], os.O_RDWR)
	os.pwrite(fd, b"sync", 10)
	os.fsync(fd)
	os.fdatasync(fd)
	assert os.pread(fd, 4, 10) == b"sync"
	os.close(fd)
EOF
ok "fsync and fdatasync succeed"
{ printf written; tail -c +8 "$BACKING/other"; printf +appended; } >"$T/other.want"
bounded cmp "$MNT/other" "$T/other.want" || fail "other does not show its write and append"
ok "other shows the write at 0 and the append"
check_eq "$(bounded stat -c %s "$MNT/file")" 200000 "file shows its truncates"
check_eq "$(bounded stat -c %s "$MNT/dir/inner")" 0 "dir/inner shows its O_TRUNC"
check_eq "$(bounded ls "$MNT" | xargs)" "dir emptydir fifo file link other" "readdir of the root after the changes"
[ "$(bounded stat -c %a "$MNT/file")" = "$(stat -c %a "$BACKING/file")" ] || fail "file: the mode changed"
ok "file keeps its mode through the refused chmod"

daemon_alive "after the refused changes"
umount_fs
fingerprint "$BACKING" >"$T/after"
diff "$T/before" "$T/after" >"$T/diff" || fail "the backing tree changed under the cow mount: $(head -n 20 "$T/diff")"
ok "the backing tree is unchanged (names, modes, owners, times, xattrs, data)"
