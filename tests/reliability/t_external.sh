#!/usr/bin/env bash
# Backing files changed by another process: close-to-open. After an outside write
# (in place, same size; an append; a shrink; a replacement by rename; a new file; an
# unlink), the next open through the mount sees exactly the new bytes: at once with
# -o attr_timeout=0,entry_timeout=0, and after the 1 s default timeouts without them.
# Each file is read through the mount first, so the kernel has it cached when it changes.
# SC2119: mount_fs takes optional arguments. SC2015: "A && B || fail" fails unless both
# hold. SC2016: single-quoted scripts for sh -c.
# shellcheck disable=SC2119,SC2015,SC2016
# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../mount/lib.sh"
# shellcheck source=tests/reliability/rel.sh
. "$(dirname "${BASH_SOURCE[0]}")/rel.sh"

# same_bytes WHAT: the mount file and the backing file have the same bytes and size
same_bytes()
{
	local name=$1 what=$2

	check_eq "$(sha "$MNT/$name")" "$(sha "$BACKING/$name")" "$what: $name reads the new bytes"
	check_eq "$(bounded stat -c %s "$MNT/$name")" "$(stat -c %s "$BACKING/$name")" \
		"$what: $name has the new size"
}

# one_pass WAIT LABEL: cache five files through the mount, change them outside, wait
# WAIT seconds, then every fresh open must show the new state.
one_pass()
{
	local wait=$1 label=$2 name

	for name in inplace append shrink replace unlinked; do
		check "$RELHELPER" pattern "$BACKING/$name" 200000 1
		sha "$MNT/$name" >/dev/null # cached by the kernel now
	done
	if bounded test -e "$MNT/new"; then
		fail "$label: $MNT/new exists before it was made"
	fi

	# in place: same size, new bytes (only the mtime tells)
	"$PY" - "$BACKING/inplace" <<-'EOF'
		import os, sys
		fd = os.open(sys.argv[1], os.O_WRONLY)
		os.pwrite(fd, b"NEW-BYTES-IN-PLACE" * 100, 4000)
		os.close(fd)
	EOF
	head -c 12345 /dev/urandom >>"$BACKING/append"
	truncate -s 777 "$BACKING/shrink"
	check "$RELHELPER" pattern "$BACKING/replace.tmp" 150000 9
	mv "$BACKING/replace.tmp" "$BACKING/replace"
	printf 'made outside\n' >"$BACKING/new"
	rm "$BACKING/unlinked"

	[ "$wait" = 0 ] || sleep "$wait"
	same_bytes inplace "$label: a rewrite in place"
	same_bytes append "$label: an append"
	same_bytes shrink "$label: a shrink"
	same_bytes replace "$label: a replacement by rename"
	same_bytes new "$label: a new file"
	expect_errno ENOENT open_rdonly "$MNT/unlinked"
	rm -f "$BACKING"/inplace "$BACKING"/append "$BACKING"/shrink "$BACKING"/replace "$BACKING"/new
}

mount_fs -o attr_timeout=0,entry_timeout=0
one_pass 0 "attr_timeout=0"
rel_alive "after outside changes"
umount_fs

mount_fs
one_pass 1.3 "default timeouts, after 1.3 s"
rel_alive "after outside changes"
umount_fs
