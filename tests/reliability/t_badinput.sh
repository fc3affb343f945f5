#!/usr/bin/env bash
# Bad input: each case gets its defined result or errno, never a crash, a hang or a leak
# (the daemon must be alive after each group, exit 0 with a clean log, and under ASan
# report no leak at exit).
#   names: 255 bytes (256 is ENAMETOOLONG), newlines, spaces, tabs, invalid UTF-8, through
#          the mount and from the backing dir, and in .mmstat/files
#   a tree 200 deep whose path is longer than PATH_MAX; hard links; dangling and looping
#   symlinks; a FIFO (a writer and a reader through the mount); a socket (ENXIO,
#   ECONNREFUSED); char devices 1:3 and 1:5 (EACCES under the default nodev; with -o dev
#   they read as /dev/null and /dev/zero)
#   files the daemon may not change although it runs as root: chattr +i (EPERM) and a
#   read-only bind mount inside the backing dir (EROFS)
#   .mmstat/files/X/policy and ctl: binary garbage, megabytes, ranges past EOF, negative
#   or zero lengths, overflowing numbers (EINVAL); valid commands still work after them
# SC2119: mount_fs takes optional arguments. SC2015: "A && B || fail" fails unless both
# hold. SC2016: single-quoted scripts for sh -c.
# shellcheck disable=SC2119,SC2015,SC2016
# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../mount/lib.sh"
# shellcheck source=tests/reliability/rel.sh
. "$(dirname "${BASH_SOURCE[0]}")/rel.sh"

[ "$(id -u)" -eq 0 ] || skip "needs root (mknod, chattr, bind mounts)"

mount_fs

# --- names ---------------------------------------------------------------------------------------
out=$(bounded "$PY" - "$MNT" "$BACKING" <<-'PYEOF'
	import errno, os, sys
	mnt, back = (os.fsencode(a) for a in sys.argv[1:3])
	names = [b"n" * 255, b"with\nnewline", b"with space ", b" lead", b"tab\there",
	         b"bad-utf8-\xff\xfe\xc3", b"-dash", b"star*?[x]", b"back\\slash", b"\xe2\x82\xac-euro"]
	fails = []
	for i, name in enumerate(names):
	    via_mnt = name if i % 2 else name + b".m"
	    via_back = name + b".b" if i % 2 else name
	    if len(via_mnt) > 255:
	        via_mnt = name
	        via_back = name[:-1] + b"B"
	    # made through the mount, seen in the backing dir
	    with open(os.path.join(mnt, via_mnt), "wb") as f:
	        f.write(b"via mount " + via_mnt)
	    if open(os.path.join(back, via_mnt), "rb").read() != b"via mount " + via_mnt:
	        fails.append("mount->backing %r" % via_mnt)
	    # made in the backing dir, read through the mount
	    with open(os.path.join(back, via_back), "wb") as f:
	        f.write(b"via backing " + via_back)
	    if open(os.path.join(mnt, via_back), "rb").read() != b"via backing " + via_back:
	        fails.append("backing->mount %r" % via_back)
	    # and its .mmstat entry
	    stats = open(os.path.join(mnt, b".mmstat/files", via_back, b"stats"), "rb").read()
	    if b"opens:" not in stats:
	        fails.append(".mmstat stats of %r" % via_back)
	if sorted(os.listdir(mnt)) != sorted(os.listdir(back)):
	    fails.append("listings differ: %r" % (set(os.listdir(mnt)) ^ set(os.listdir(back)),))
	os.rename(os.path.join(mnt, b"with\nnewline"), os.path.join(mnt, b"renamed\n\xff"))
	if not os.path.exists(os.path.join(back, b"renamed\n\xff")):
	    fails.append("rename to a name with a newline and 0xff")
	try:
	    open(os.path.join(mnt, b"x" * 256), "wb")
	    fails.append("a 256-byte name was accepted")
	except OSError as e:
	    if e.errno != errno.ENAMETOOLONG:
	        fails.append("256-byte name: %s" % errno.errorcode[e.errno])
	print("; ".join(fails) if fails else "OK %d names" % len(names))
PYEOF
) || fail "the names check failed to run: $out"
check_eq "$out" "OK 10 names" "255-byte, newline, space, tab, invalid UTF-8 names both ways, .mmstat, rename, 256 -> ENAMETOOLONG"

# --- a tree 200 deep, longer than PATH_MAX ----------------------------------------------------------
out=$(bounded "$PY" - "$MNT" "$BACKING" <<-'PYEOF'
	import os, sys
	mnt, back = sys.argv[1:3]
	comp = "d" * 40
	def walk(root, create):
	    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
	    for _ in range(200):
	        if create:
	            os.mkdir(comp, dir_fd=fd)
	        nfd = os.open(comp, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
	        os.close(fd)
	        fd = nfd
	    return fd
	fd = walk(mnt, True)
	with os.fdopen(os.open("bottom", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as f:
	    f.write("at depth 200\n")
	bfd = walk(back, False)
	got = open(os.open("bottom", os.O_RDONLY, dir_fd=bfd)).read()
	with os.fdopen(os.open("from-backing", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=bfd), "w") as f:
	    f.write("made outside\n")
	mfd = walk(mnt, False)
	got2 = open(os.open("from-backing", os.O_RDONLY, dir_fd=mfd)).read()
	print("OK" if got == "at depth 200\n" and got2 == "made outside\n" else "bad: %r %r" % (got, got2))
PYEOF
) || fail "the deep tree check failed to run: $out"
check_eq "$out" OK "a file 200 directories deep (path > PATH_MAX) written through the mount and from outside"
depth=$(cd "$MNT" && bounded find "d$(printf 'd%.0s' $(seq 39))" | wc -l)
check_eq "$depth" 202 "find walks the 200-deep tree through the mount (200 dirs, 2 files)"
rel_alive "after names and the deep tree"

# --- hard links --------------------------------------------------------------------------------------
printf 'linked\n' >"$BACKING/hl1"
ln "$BACKING/hl1" "$BACKING/hl2"
check_eq "$(bounded stat -c %i "$MNT/hl1")" "$(bounded stat -c %i "$MNT/hl2")" "hard links share an inode number through the mount"
check_eq "$(bounded stat -c %h "$MNT/hl2")" 2 "link count through the mount"
put "$MNT/hl1" "written through hl1"
check_eq "$(bounded cat "$MNT/hl2")" "written through hl1" "a write through one link reads through the other"
expect_ok link "$MNT/hl2" "$MNT/hl3"
check_eq "$(stat -c %h "$BACKING/hl1")" 3 "a link made through the mount is a link in the backing dir"
expect_ok unlink "$MNT/hl1"
check_eq "$(bounded cat "$MNT/hl3")" "written through hl1" "the other links still read after unlinking one"

# --- symlinks ----------------------------------------------------------------------------------------
ln -s /nonexistent/target "$BACKING/dangling"
ln -s loop2 "$BACKING/loop1"
ln -s loop1 "$BACKING/loop2"
expect_ok lstat "$MNT/dangling"
check_eq "$(bounded readlink "$MNT/dangling")" /nonexistent/target "readlink of a dangling symlink"
expect_errno ENOENT stat "$MNT/dangling"
expect_errno ENOENT open_rdonly "$MNT/dangling"
expect_errno ELOOP stat "$MNT/loop1"
expect_errno ELOOP open_rdonly "$MNT/loop1"

# --- FIFO, socket, devices ----------------------------------------------------------------------------
mkfifo "$BACKING/fifo"
expect_py "OK:True" "the FIFO is a FIFO through the mount" "stat.S_ISFIFO(os.stat('$MNT/fifo').st_mode)"
timeout 20 sh -c 'printf "through the fifo\n" >"$1"' sh "$MNT/fifo" &
fifo_writer=$!
check_eq "$(timeout 20 cat "$MNT/fifo")" "through the fifo" "a FIFO carries data between two clients of the mount"
rel_wait "$fifo_writer" "the FIFO writer"

"$PY" -c "import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])" "$BACKING/sock"
expect_py "OK:True" "the socket is a socket through the mount" "stat.S_ISSOCK(os.stat('$MNT/sock').st_mode)"
expect_py ENXIO "open of a socket through the mount" "os.open('$MNT/sock', os.O_RDONLY)"
expect_py ECONNREFUSED "connect to a socket inode through the mount" \
	"socket.socket(socket.AF_UNIX).connect('$MNT/sock')"

mknod "$BACKING/null" c 1 3
mknod "$BACKING/zero" c 1 5
check_eq "$(bounded stat -c '%F %t:%T' "$MNT/null")" "character special file 1:3" "a char device 1:3 through the mount"
expect_errno EACCES open_rdonly "$MNT/null"
expect_errno EACCES open_rdonly "$MNT/zero"
rel_alive "after links, FIFO, socket and devices"
umount_fs

mount_fs -o dev
expect_py "OK:b''" "reading device 1:3 through a -o dev mount reads /dev/null" "open('$MNT/null', 'rb').read(100)"
expect_py "OK:True" "reading device 1:5 through a -o dev mount reads /dev/zero" \
	"open('$MNT/zero', 'rb').read(8192) == bytes(8192)"
expect_py "OK:5" "writing device 1:3 through a -o dev mount" "os.write(os.open('$MNT/null', os.O_WRONLY), b'12345')"
umount_fs

# --- files the daemon may not change -------------------------------------------------------------------
printf 'immutable\n' >"$BACKING/imm"
if chattr +i "$BACKING/imm" 2>/dev/null; then
	rel_undo "chattr -i '$BACKING/imm'"
	imm=1
else
	echo "# note: chattr +i is not supported on $BACKING's filesystem; immutable case skipped"
	imm=0
fi
mkdir "$BACKING/rodir"
printf 'read-only bind\n' >"$BACKING/rodir/file"
mount --bind "$BACKING/rodir" "$BACKING/rodir" || fail "mount --bind failed"
rel_undo "umount -l '$BACKING/rodir'"
mount -o remount,bind,ro "$BACKING/rodir" || fail "remounting the bind mount read-only failed"

mount_fs
if [ "$imm" = 1 ]; then
	check_eq "$(bounded cat "$MNT/imm")" immutable "an immutable file reads through the mount"
	expect_errno EPERM open_wronly "$MNT/imm"
	expect_errno EPERM open_trunc "$MNT/imm"
	expect_errno EPERM truncate "$MNT/imm" 0
	expect_errno EPERM append "$MNT/imm" more
	expect_errno EPERM unlink "$MNT/imm"
	expect_errno EPERM rename "$MNT/imm" "$MNT/imm2"
	expect_errno EPERM chmod "$MNT/imm" 600
	expect_py EPERM "a client MAP_SHARED writable mapping of an immutable file" \
		"mmap.mmap(os.open('$MNT/imm', os.O_RDWR), 0)"
	check_eq "$(cat "$BACKING/imm")" immutable "the immutable file is unchanged"
fi
check_eq "$(bounded cat "$MNT/rodir/file")" "read-only bind" "a file on a read-only bind mount reads"
expect_errno EROFS open_wronly "$MNT/rodir/file"
expect_errno EROFS truncate "$MNT/rodir/file" 0
expect_errno EROFS create "$MNT/rodir/new"
expect_errno EROFS mkdir "$MNT/rodir/newdir"
expect_errno EROFS unlink "$MNT/rodir/file"
rel_alive "after denied changes"

# --- .mmstat policy and ctl: bad writes --------------------------------------------------------------
head -c 65536 /dev/urandom >"$BACKING/target"
P=$MNT/.mmstat/files/target
w()
{
	echo "os.write(os.open('$1', os.O_WRONLY), $2)"
}
expect_py EINVAL "binary garbage into policy" "$(w "$P/policy" "os.urandom(4096)")"
expect_py EINVAL "binary garbage with NULs into policy" "$(w "$P/policy" "b'random\\0garbage'")"
expect_py EINVAL "4 MiB into policy" "$(w "$P/policy" "b'a' * (4 << 20)")"
expect_py EINVAL "an unknown policy word" "$(w "$P/policy" "b'sideways\\n'")"
expect_py "OK:7" "a valid policy after the garbage" "$(w "$P/policy" "b'random\\n'")"
check_eq "$(bounded cat "$P/policy")" random "the policy reads back"
expect_py EINVAL "binary garbage into ctl" "$(w "$P/ctl" "os.urandom(4096)")"
expect_py EINVAL "8 MiB into ctl" "$(w "$P/ctl" "b'touch ' * ((8 << 20) // 6)")"
expect_py EINVAL "ctl: a range starting past EOF" "$(w "$P/ctl" "b'touch 1G 4K'")"
expect_py EINVAL "ctl: an offset just past EOF" "$(w "$P/ctl" "b'evict 65536 1'")"
expect_py EINVAL "ctl: a negative offset" "$(w "$P/ctl" "b'touch -1 4K'")"
expect_py EINVAL "ctl: a negative length" "$(w "$P/ctl" "b'touch 0 -4096'")"
expect_py EINVAL "ctl: a zero length" "$(w "$P/ctl" "b'touch 0 0'")"
expect_py EINVAL "ctl: an overflowing number" "$(w "$P/ctl" "b'touch 0 99999999999999999999999'")"
expect_py EINVAL "ctl: an overflowing suffix" "$(w "$P/ctl" "b'touch 0 17179869184T'")"
expect_py EINVAL "ctl: too many words" "$(w "$P/ctl" "b'lock 0 4K extra'")"
expect_py EINVAL "ctl: an unknown command" "$(w "$P/ctl" "b'explode'")"
expect_py EINVAL "ctl: an empty write" "$(w "$P/ctl" "b'\\n'")"
expect_py "OK:5" "a valid ctl command after the garbage" "$(w "$P/ctl" "b'touch'")"
expect_py "OK:10" "a valid ctl range after the garbage" "$(w "$P/ctl" "b'touch 0 4K'")"
rel_alive "after bad .mmstat writes"
rel_serving "after bad .mmstat writes"
umount_fs
