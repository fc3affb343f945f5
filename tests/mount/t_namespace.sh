#!/usr/bin/env bash
# Names and metadata through the mount: rename (plain, NOREPLACE, EXCHANGE), symlinks,
# hard links, chmod/chown/times, deep trees, long names, readdir, df, xattrs, and the
# backing filesystem's errno values passed through unchanged.
# SC2015: "A && B || fail" means fail unless both hold. SC2016: single-quoted scripts for
# bash -c and python. SC2119: mount_fs takes optional arguments.
# shellcheck disable=SC2015,SC2016,SC2119
# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# stat_of FORMAT PATH: stat -c FORMAT, bounded (PATH may be on the mount).
stat_of()
{
	bounded stat -c "$1" -- "$2"
}

# both FORMAT RELPATH WANT WHAT: the mount and the backing dir agree on stat -c FORMAT.
both()
{
	local got_mnt got_backing

	got_mnt=$(stat_of "$1" "$MNT/$2") || fail "$4: stat $MNT/$2 failed"
	got_backing=$(stat_of "$1" "$BACKING/$2") || fail "$4: stat $BACKING/$2 failed"
	[ "$got_mnt" = "$3" ] || fail "$4: through the mount got '$got_mnt', want '$3'"
	[ "$got_backing" = "$3" ] || fail "$4: in the backing dir got '$got_backing', want '$3'"
	ok "$4"
}

mount_fs
# Files are often made straight in the backing dir, under names the mount has not looked
# up yet, so no cached attribute of the kernel's can be stale.

# --- rename ----------------------------------------------------------------------------------
echo alpha >"$BACKING/a"
check mv "$MNT/a" "$MNT/b"
check_eq "$(bounded cat "$MNT/b")" alpha "mv a b: b has a's data"
[ ! -e "$BACKING/a" ] && [ -f "$BACKING/b" ] || fail "mv a b: the backing dir does not follow"
expect_errno ENOENT stat "$MNT/a"

echo beta >"$BACKING/c"
check mv -f "$MNT/c" "$MNT/b"
check_eq "$(cat "$BACKING/b")" beta "mv over an existing file replaces it"
expect_errno ENOENT stat "$MNT/c"

check mkdir -p "$MNT/d1/sub" "$MNT/d2"
put "$MNT/d1/sub/f" gamma
check mv "$MNT/d1/sub" "$MNT/d2/moved"
check_eq "$(bounded cat "$MNT/d2/moved/f")" gamma "mv of a directory to another directory"
[ -f "$BACKING/d2/moved/f" ] && [ ! -e "$BACKING/d1/sub" ] || fail "mv of a directory: backing dir"

# A descriptor open across a rename keeps writing to the same file, under its new name.
bounded "$PY" - "$MNT" <<-'EOF' || fail "write through a descriptor open across a rename"
	import os, sys
	mnt = sys.argv[1]
	fd = os.open(mnt + "/before", os.O_WRONLY | os.O_CREAT, 0o644)
	os.write(fd, b"one ")
	os.rename(mnt + "/before", mnt + "/d2/after")
	os.write(fd, b"two")
	os.close(fd)
EOF
check_eq "$(cat "$BACKING/d2/after")" "one two" "a write after rename lands in the renamed backing file"

echo keep >"$BACKING/nr_src"
echo other >"$BACKING/nr_dst"
expect_errno EEXIST rename_noreplace "$MNT/nr_src" "$MNT/nr_dst"
check_eq "$(cat "$BACKING/nr_src") $(cat "$BACKING/nr_dst")" "keep other" "RENAME_NOREPLACE onto a file changes nothing"
expect_ok rename_noreplace "$MNT/nr_src" "$MNT/nr_new"
check_eq "$(bounded cat "$MNT/nr_new")" keep "RENAME_NOREPLACE onto a free name renames"

echo left >"$BACKING/ex1"
echo right >"$BACKING/ex2"
expect_ok rename_exchange "$MNT/ex1" "$MNT/ex2"
check_eq "$(bounded cat "$MNT/ex1") $(bounded cat "$MNT/ex2")" "right left" "RENAME_EXCHANGE swaps two files (mount)"
check_eq "$(cat "$BACKING/ex1") $(cat "$BACKING/ex2")" "right left" "RENAME_EXCHANGE swaps two files (backing)"
# coreutils 9.5 and later can do the same with mv --exchange.
if mv --help 2>/dev/null | grep -q -e '--exchange'; then
	check mv --exchange "$MNT/ex1" "$MNT/ex2"
	check_eq "$(bounded cat "$MNT/ex1") $(bounded cat "$MNT/ex2")" "left right" "mv --exchange swaps them back"
	check mv --exchange "$MNT/ex1" "$MNT/ex2"
fi
mkdir "$BACKING/exdir"
expect_ok rename_exchange "$MNT/ex1" "$MNT/exdir"
[ -d "$BACKING/ex1" ] && [ -f "$BACKING/exdir" ] || fail "RENAME_EXCHANGE of a file and a directory"
check_eq "$(stat_of %F "$MNT/ex1"),$(stat_of %F "$MNT/exdir")" "directory,regular file" "RENAME_EXCHANGE of a file and a directory: types through the mount"
expect_errno ENOENT rename_exchange "$MNT/ex2" "$MNT/no-such"

# --- symbolic links ----------------------------------------------------------------------------
echo target-data >"$BACKING/target"
check ln -s target "$MNT/sym"
check_eq "$(bounded readlink "$MNT/sym")" target "readlink through the mount"
check_eq "$(readlink "$BACKING/sym")" target "the backing symlink holds the same target"
check_eq "$(bounded cat "$MNT/sym")" target-data "reading through a symlink"
check_eq "$(stat_of %F "$MNT/sym")" "symbolic link" "lstat type of a symlink"
check ln -s "no-such-target" "$MNT/dangling"
expect_errno ENOENT stat "$MNT/dangling"
expect_ok lstat "$MNT/dangling"
long_target=$(printf 'x%.0s' $(seq 1 1000))
check ln -s "$long_target" "$MNT/longsym"
check_eq "$(bounded readlink "$MNT/longsym")" "$long_target" "readlink of a 1000-byte target"

# --- hard links --------------------------------------------------------------------------------
echo linked >"$BACKING/h1"
check ln "$MNT/h1" "$MNT/h2"
both %h h1 2 "ln: h1 has 2 links"
both %h h2 2 "ln: h2 has 2 links"
check_eq "$(stat_of %i "$MNT/h1")" "$(stat_of %i "$MNT/h2")" "hard links share an inode number through the mount"
bounded bash -c 'echo more >>"$1"' _ "$MNT/h2"
check_eq "$(bounded cat "$MNT/h1")" "$(printf 'linked\nmore')" "a write by one name is read by the other"
check rm "$MNT/h1"
both %h h2 1 "rm h1: h2 has 1 link"
expect_errno EEXIST link "$MNT/h2" "$MNT/target"

# --- permissions, owners, times ------------------------------------------------------------------
echo perms >"$BACKING/p"
check chmod 0640 "$MNT/p"
both %a p 640 "chmod 0640"
check chmod u+x,g+w "$MNT/p"
both %a p 760 "chmod u+x,g+w"
check chmod 1777 "$MNT/d2"
both %a d2 1777 "chmod 1777 of a directory"
check chown 1234:5678 "$MNT/p"
both %u:%g p 1234:5678 "chown 1234:5678"
check chown -h 4321:8765 "$MNT/sym"
both %u:%g sym 4321:8765 "chown -h of a symlink"
check_eq "$(stat -c %u:%g "$BACKING/target")" "$(id -u):$(id -g)" "chown -h leaves the symlink's target alone"

export TZ=UTC
check touch -d '2001-02-03 04:05:06.123456789' "$MNT/p"
both %x p '2001-02-03 04:05:06.123456789 +0000' "touch -d: atime to the nanosecond"
both %y p '2001-02-03 04:05:06.123456789 +0000' "touch -d: mtime to the nanosecond"
check touch -m -d '1999-12-31 23:59:59' "$MNT/p"
both %Y p 946684799 "touch -m -d: mtime"
both %X p 981173106 "touch -m -d leaves atime"
check touch -a -d '2010-01-01 00:00:00' "$MNT/p"
both %X p 1262304000 "touch -a -d: atime"
both %Y p 946684799 "touch -a -d leaves mtime"
before=$(date +%s)
check touch "$MNT/p"
mtime=$(stat_of %Y "$MNT/p")
[ "$mtime" -ge "$before" ] && [ "$mtime" -le $((before + 5)) ] ||
	fail "touch (now): mtime $mtime, want about $before"
ok "touch without -d sets the current time"

# --- trees, readdir, long names ----------------------------------------------------------------
deep=$MNT
for level in $(seq 1 40); do
	deep=$deep/level$level
done
check mkdir -p "$deep"
put "$deep/file" bottom
check_eq "$(find "$BACKING/level1" -type d | wc -l)" 40 "mkdir -p of 40 levels"
check_eq "$(bounded cat "$deep/file")" bottom "a file at the bottom of the tree"
check rm -r "$MNT/level1"
[ ! -e "$BACKING/level1" ] || fail "rm -r left the tree in the backing dir"
ok "rm -r of the deep tree"

mkdir "$BACKING/many"
for i in $(seq 1 1500); do
	: >"$BACKING/many/entry-with-a-longish-name-$i"
done
mkdir "$BACKING/many/subdir"
bounded ls -A "$MNT/many" >"$T/ls-mnt"
ls -A "$BACKING/many" >"$T/ls-backing"
bounded cmp -s "$T/ls-mnt" "$T/ls-backing" ||
	fail "ls -A of a 1501-entry directory differs: $(diff "$T/ls-mnt" "$T/ls-backing" | head -n 5)"
ok "readdir of 1501 entries matches the backing dir"
check_eq "$(bounded find "$MNT/many" -maxdepth 1 -type f | wc -l)" 1500 "find -type f (readdirplus types) counts 1500 files"
both %h many 3 "a directory with one subdirectory has 3 links"
check rm -r "$MNT/many"

# A tree of files, symlinks and directories copied in with cp -a compares equal.
mkdir -p "$T/tree/x/y" "$T/tree/z"
head -c 10000 /dev/urandom >"$T/tree/x/y/data"
echo small >"$T/tree/z/s"
ln -s ../z/s "$T/tree/x/link"
check cp -a "$T/tree" "$MNT/tree"
bounded diff -r "$T/tree" "$MNT/tree" >/dev/null || fail "diff -r after cp -a into the mount"
ok "cp -a of a tree; diff -r finds no difference"
check_eq "$(bounded readlink "$MNT/tree/x/link")" ../z/s "cp -a keeps a symlink"

name255=$(printf 'n%.0s' $(seq 1 255))
name256=${name255}n
check touch "$MNT/$name255"
[ -f "$BACKING/$name255" ] || fail "a 255-byte name was not created in the backing dir"
check_eq "$(bounded ls "$MNT" | grep -c -x "$name255")" 1 "ls lists a 255-byte name"
check mkdir "$MNT/d${name255:1}"
check rmdir "$MNT/d${name255:1}"
check rm "$MNT/$name255"
# multi-byte characters: 51 * (2 + 3) bytes = 255
name_utf8=$(printf 'é€%.0s' $(seq 1 51))
check_eq "$(printf %s "$name_utf8" | wc -c)" 255 "a 255-byte UTF-8 name is 255 bytes"
check touch "$MNT/$name_utf8"
[ -f "$BACKING/$name_utf8" ] || fail "a 255-byte UTF-8 name was not created in the backing dir"
ok "a 255-byte UTF-8 name"
expect_errno ENAMETOOLONG create "$MNT/$name256"
expect_errno ENAMETOOLONG stat "$MNT/$name256"
expect_errno ENAMETOOLONG mkdir "$MNT/$name256"
expect_errno ENAMETOOLONG rename "$MNT/b" "$MNT/$name256"

# --- errno values of the backing filesystem ----------------------------------------------------
mkdir -p "$BACKING/full/inner" "$BACKING/emptydir"
echo x >"$BACKING/file"
expect_errno ENOENT stat "$MNT/no-such"
expect_errno ENOENT read "$MNT/no-such"
expect_errno ENOENT unlink "$MNT/no-such"
expect_errno ENOENT rmdir "$MNT/no-such"
expect_errno ENOENT stat "$MNT/no-such-dir/file"
expect_errno ENOENT rename "$MNT/no-such" "$MNT/whatever"
expect_errno EEXIST mkdir "$MNT/full"
expect_errno EEXIST mkdir "$MNT/file"
expect_errno EEXIST create_excl "$MNT/file"
expect_errno EEXIST symlink x "$MNT/file"
expect_errno ENOTEMPTY rmdir "$MNT/full"
expect_errno ENOTEMPTY rename "$MNT/emptydir" "$MNT/full"
expect_errno ENOTDIR stat "$MNT/file/x"
expect_errno ENOTDIR rmdir "$MNT/file"
expect_errno ENOTDIR rename "$MNT/full" "$MNT/file"
expect_errno EISDIR rename "$MNT/file" "$MNT/full"
expect_errno EISDIR open_wronly "$MNT/full"
expect_errno EISDIR unlink "$MNT/full"
expect_errno EINVAL rename "$MNT/full" "$MNT/full/inner/x"
expect_ok rmdir "$MNT/emptydir"
[ ! -e "$BACKING/emptydir" ] || fail "rmdir did not remove the backing directory"

# --- stat fields -------------------------------------------------------------------------------
head -c 12345 /dev/urandom >"$BACKING/sized"
both %s sized 12345 "stat size"
both %F sized "regular file" "stat type of a file"
both %F full "directory" "stat type of a directory"
both %h full 3 "directory nlink (2 + one subdirectory)"
check_eq "$(stat_of %b:%B "$MNT/sized")" "$(stat -c %b:%B "$BACKING/sized")" "stat blocks match the backing file"

# --- df --------------------------------------------------------------------------------------------
bounded df -P "$MNT" >"$T/df" || fail "df -P $MNT failed"
check_eq "$(wc -l <"$T/df")" 2 "df prints one line for the mount"
bounded "$PY" - "$MNT" "$BACKING" <<-'EOF' || fail "statvfs of the mount does not describe the backing filesystem"
	import os, sys
	m, b = os.statvfs(sys.argv[1]), os.statvfs(sys.argv[2])
	total_m, total_b = m.f_blocks * m.f_frsize, b.f_blocks * b.f_frsize
	if total_m <= 0 or abs(total_m - total_b) > total_b // 100:
	    sys.exit("total bytes: mount %d, backing %d" % (total_m, total_b))
	free_m, free_b = m.f_bavail * m.f_frsize, b.f_bavail * b.f_frsize
	if abs(free_m - free_b) > total_b // 100:
	    sys.exit("available bytes: mount %d, backing %d" % (free_m, free_b))
	if m.f_namemax < 255:
	    sys.exit("f_namemax %d" % m.f_namemax)
EOF
ok "df/statvfs of the mount reports the backing filesystem's size and free space"

# --- extended attributes -------------------------------------------------------------------------
# xattr_of PATH NAME: the value, read with python (works where getfattr is missing).
xattr_of()
{
	bounded "$PY" -c 'import os, sys; sys.stdout.buffer.write(os.getxattr(sys.argv[1], sys.argv[2]))' "$1" "$2"
}
xattr_names()
{
	bounded "$PY" -c 'import os, sys; print(" ".join(sorted(os.listxattr(sys.argv[1]))))' "$1"
}

echo x >"$BACKING/xa"
if command -v setfattr >/dev/null && command -v getfattr >/dev/null; then
	check setfattr -n user.colour -v blue "$MNT/xa"
	check_eq "$(bounded getfattr --absolute-names --only-values -n user.colour "$MNT/xa")" blue "getfattr through the mount"
	setfattr -n user.shape -v round "$BACKING/xa"
	bounded getfattr --absolute-names -d -m '^user\.' "$MNT/xa" >"$T/xattrs"
	grep -q '^user.shape="round"$' "$T/xattrs" && grep -q '^user.colour="blue"$' "$T/xattrs" ||
		fail "getfattr -d through the mount: $(cat "$T/xattrs")"
	ok "getfattr -d lists both attributes"
	check setfattr -x user.shape "$MNT/xa"
else
	echo "# setfattr/getfattr not installed (package attr): xattrs checked with python only"
	expect_ok setxattr "$MNT/xa" user.colour blue
fi
check_eq "$(xattr_of "$BACKING/xa" user.colour)" blue "setxattr reached the backing file"
check_eq "$(xattr_names "$MNT/xa")" user.colour "listxattr through the mount"
check_eq "$(xattr_names "$BACKING/xa")" user.colour "removexattr reached the backing file"
expect_errno ENODATA getxattr "$MNT/xa" user.never-set
expect_errno ENODATA removexattr "$MNT/xa" user.never-set
expect_ok setxattr "$MNT/full" user.on-a-dir yes
check_eq "$(xattr_of "$BACKING/full" user.on-a-dir)" yes "setxattr on a directory reached the backing dir"
big_value=$(head -c 3000 /dev/zero | tr '\0' v)
expect_ok setxattr "$MNT/xa" user.big "$big_value"
check_eq "$(xattr_of "$MNT/xa" user.big)" "$big_value" "a 3000-byte xattr value reads back"
expect_ok removexattr "$MNT/xa" user.big
check_eq "$(xattr_names "$BACKING/xa")" user.colour "removexattr through python reached the backing file"

umount_fs
