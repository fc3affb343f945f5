#!/usr/bin/env bash
# -o access=ro: everything reads; every change fails with EROFS; a shared writable mapping
# is refused and a private one works without touching the file. The backing tree is
# compared before and after, so nothing may change underneath either.
# SC2015: "A && B || fail" means fail unless both hold. SC2016: single-quoted scripts for
# bash -c and python. SC2119: mount_fs takes optional arguments.
# shellcheck disable=SC2015,SC2016,SC2119
# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

head -c 100000 /dev/urandom >"$BACKING/file"
mkdir -p "$BACKING/dir/sub" "$BACKING/emptydir"
echo inner >"$BACKING/dir/inner"
ln -s file "$BACKING/link"
"$PY" -c 'import os, sys; os.setxattr(sys.argv[1], "user.tag", b"ro-test")' "$BACKING/file"

# A fingerprint of the backing tree: names, types, modes, owners, sizes, mtimes, data.
fingerprint()
{
	(cd "$BACKING" && find . -printf '%p %y %m %U:%G %s %T@\n' | sort &&
		find . -type f -exec sha256sum {} + | sort)
}
fingerprint >"$T/before"

mount_fs -o access=ro

# --- reads ---------------------------------------------------------------------------------------
bounded cmp "$MNT/file" "$BACKING/file" || fail "reading a file through the ro mount"
ok "read a 100000-byte file"
check_eq "$(bounded cat "$MNT/dir/inner")" inner "read a file in a subdirectory"
check_eq "$(bounded ls "$MNT/dir" | xargs)" "inner sub" "readdir"
check_eq "$(bounded readlink "$MNT/link")" file "readlink"
check_eq "$(bounded "$PY" -c 'import os, sys; print(os.getxattr(sys.argv[1], "user.tag").decode())' "$MNT/file")" ro-test "getxattr"
bounded "$PY" - "$MNT/file" "$BACKING/file" <<-'EOF' || fail "mmap ACCESS_READ on the ro mount"
	import mmap, sys
	with open(sys.argv[1], "rb") as f, open(sys.argv[2], "rb") as b:
	    m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
	    assert m[:] == b.read(), "the mapping differs from the backing file"
EOF
ok "mmap ACCESS_READ of a file"

# --- changes -------------------------------------------------------------------------------------
expect_errno EROFS open_wronly "$MNT/file"
expect_errno EROFS open_rdwr "$MNT/file"
expect_errno EROFS open_trunc "$MNT/file"
expect_errno EROFS append "$MNT/file" more
expect_errno EROFS create "$MNT/new"
expect_errno EROFS create_excl "$MNT/new"
expect_errno EROFS truncate "$MNT/file" 10
expect_errno EROFS truncate "$MNT/file" 200000
expect_errno EROFS mkdir "$MNT/newdir"
expect_errno EROFS rmdir "$MNT/emptydir"
expect_errno EROFS unlink "$MNT/file"
expect_errno EROFS unlink "$MNT/link"
expect_errno EROFS rename "$MNT/file" "$MNT/renamed"
expect_errno EROFS rename "$MNT/dir/inner" "$MNT/inner"
expect_errno EROFS link "$MNT/file" "$MNT/hardlink"
expect_errno EROFS symlink file "$MNT/newlink"
expect_errno EROFS chmod "$MNT/file" 600
expect_errno EROFS chown "$MNT/file" 1 1
expect_errno EROFS utime "$MNT/file"
expect_errno EROFS setxattr "$MNT/file" user.tag changed
expect_errno EROFS setxattr "$MNT/dir" user.new value
expect_errno EROFS removexattr "$MNT/file" user.tag
# A shared writable mapping needs a descriptor open for writing, which ro cannot give:
# open(O_RDWR) fails above, and mapping a read-only descriptor so is refused.
expect_errno EACCES mmap_shared_write "$MNT/file"
# A private writable mapping is the process's own copy; the file must not change.
expect_ok mmap_private_write "$MNT/file"

# Real programs see the same.
if bounded bash -c 'echo x >"$1"' _ "$MNT/file" 2>"$T/err"; then
	fail "echo x > file succeeded on the ro mount"
fi
grep -q 'Read-only file system' "$T/err" || fail "echo x > file: $(cat "$T/err")"
ok "shell redirection: Read-only file system"
if bounded cp "$BACKING/dir/inner" "$MNT/copied" 2>"$T/err"; then
	fail "cp into the ro mount succeeded"
fi
grep -q 'Read-only file system' "$T/err" || fail "cp into the ro mount: $(cat "$T/err")"
ok "cp into the mount: Read-only file system"

bounded cmp "$MNT/file" "$BACKING/file" || fail "the file reads differently after the failed changes"
umount_fs

fingerprint >"$T/after"
diff "$T/before" "$T/after" >"$T/diff" || fail "the backing tree changed under the ro mount: $(head -n 20 "$T/diff")"
ok "the backing tree is unchanged"
