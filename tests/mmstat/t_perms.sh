#!/usr/bin/env bash
# Permissions of .mmstat entries with -o allow_other (which implies default_permissions):
# entries carry the file's owner; read-only entries get its read bits, policy its read and
# write bits, ctl its write bits; mirror directories r-x where the file is readable. So user
# nobody may read the entries of a 0644 root file but not write its policy or ctl, and may
# touch nothing of a 0600 root file.
# shellcheck source=tests/mount/lib.sh
. "$(dirname "$0")/../mount/lib.sh"
# shellcheck source=tests/mmstat/mmlib.sh
. "$(dirname "$0")/mmlib.sh"

MMTOOL=$(cd "$(dirname "$0")" && pwd -P)/mmtool.py
FSOP=$TESTS_DIR/fsop.py
NOBODY_UID=65534

command -v setpriv >/dev/null || skip "setpriv is missing"
[ "$(id -u)" -eq 0 ] || skip "needs root (files of other owners, -o allow_other)"
cd /
# nobody must be able to reach the mount point: mktemp made $T 0700.
chmod 755 "$T"

# nobody_op WANT OP PATH [ARGS]: fsop.py OP as nobody gives WANT (OK or an errno name).
nobody_op()
{
	local want=$1 got

	shift
	got=$(as_nobody "$PY" "$FSOP" "$@") || fail "fsop.py $* as nobody exited $?"
	if [ "$got" = "$want" ]; then ok "as nobody: $1 ${2#"$MNT"/} -> $want"; else bad "as nobody: $1 ${2#"$MNT"/}: want $want, got $got"; fi
}

# nobody_write WANT PATH TEXT: one write(2) of TEXT + newline as nobody gives WANT.
nobody_write()
{
	local want=$1 got

	got=$(as_nobody "$PY" "$MMTOOL" write "$2" "b'$3\\n'") || fail "mmtool write as nobody exited $?"
	if [ "$got" = "$want" ]; then ok "as nobody: echo $3 > ${2#"$MNT"/} -> $want"; else bad "as nobody: echo $3 > ${2#"$MNT"/}: want $want, got $got"; fi
}

# mode_of PATH: "%A %u" of PATH (as root).
mode_of()
{
	bounded stat -c '%A %u' "$1" || fail "stat $1 failed"
}

want_mode()
{
	local got

	got=$(mode_of "$1")
	if [ "$got" = "$2" ]; then ok "mode of ${1#"$MNT"/}: $2"; else bad "mode of ${1#"$MNT"/}: got '$got', want '$2'"; fi
}

E=$MNT/.mmstat/files
for f in pub.bin priv.bin grp.bin ww.bin nobody.bin; do
	head -c 65536 /dev/urandom >"$BACKING/$f"
done
chmod 644 "$BACKING/pub.bin"
chmod 600 "$BACKING/priv.bin"
chmod 640 "$BACKING/grp.bin"
chmod 666 "$BACKING/ww.bin"
chmod 644 "$BACKING/nobody.bin"
chown "$NOBODY_UID:$NOBODY_UID" "$BACKING/nobody.bin"
mkdir -m 700 "$BACKING/secret"
echo inner >"$BACKING/secret/inner.bin"
chmod 644 "$BACKING/secret/inner.bin"

mount_fs -o allow_other

# --- the modes and owners the entries carry -----------------------------------------------------
want_mode "$E/pub.bin" "dr-xr-xr-x 0"
want_mode "$E/pub.bin/policy" "-rw-r--r-- 0"
want_mode "$E/pub.bin/residency" "-r--r--r-- 0"
want_mode "$E/pub.bin/map" "-r--r--r-- 0"
want_mode "$E/pub.bin/stats" "-r--r--r-- 0"
want_mode "$E/pub.bin/ctl" "--w------- 0"
want_mode "$E/priv.bin" "dr-x------ 0"
want_mode "$E/priv.bin/policy" "-rw------- 0"
want_mode "$E/priv.bin/residency" "-r-------- 0"
want_mode "$E/priv.bin/ctl" "--w------- 0"
want_mode "$E/grp.bin" "dr-xr-x--- 0"
want_mode "$E/grp.bin/policy" "-rw-r----- 0"
want_mode "$E/ww.bin/policy" "-rw-rw-rw- 0"
want_mode "$E/ww.bin/ctl" "--w--w--w- 0"
want_mode "$E/nobody.bin" "dr-xr-xr-x $NOBODY_UID"
want_mode "$E/nobody.bin/policy" "-rw-r--r-- $NOBODY_UID"
want_mode "$E/nobody.bin/ctl" "--w------- $NOBODY_UID"
want_mode "$E/secret" "dr-x------ 0"

# --- nobody and a 0644 root file: read yes, write no -------------------------------------------------
nobody_op OK read "$MNT/.mmstat/summary"
nobody_op OK read "$MNT/.mmstat/rules"
nobody_op OK stat "$E/pub.bin"
for f in residency map stats policy; do
	nobody_op OK read "$E/pub.bin/$f"
done
got=$(as_nobody cat "$E/pub.bin/residency") || got="cat failed: $got"
if grep -q '^size: 65536$' <<<"$got"; then
	ok "as nobody: cat pub.bin/residency shows the file"
else
	bad "as nobody: pub.bin/residency does not show size 65536: $got"
fi
nobody_write EACCES "$E/pub.bin/policy" random
nobody_write EACCES "$E/pub.bin/ctl" touch
nobody_write EACCES "$E/pub.bin/ctl" evict
nobody_op EACCES open_rdwr "$E/pub.bin/policy"
nobody_op EACCES read "$E/pub.bin/ctl"
check_eq "$(bounded cat "$E/pub.bin/policy")" normal "pub.bin's policy unchanged by nobody"

# --- nobody and a 0600 root file: nothing -------------------------------------------------------------
for f in residency map stats policy; do
	nobody_op EACCES read "$E/priv.bin/$f"
done
nobody_write EACCES "$E/priv.bin/policy" random
nobody_write EACCES "$E/priv.bin/ctl" touch
if got=$(as_nobody ls "$E/priv.bin" 2>&1); then
	bad "as nobody: ls .mmstat/files/priv.bin succeeded: $got"
else
	ok "as nobody: ls .mmstat/files/priv.bin fails"
fi
for f in residency map stats policy; do
	nobody_op EACCES read "$E/grp.bin/$f"
done
check_eq "$(bounded cat "$E/priv.bin/policy")" normal "priv.bin's policy unchanged by nobody"
# The file itself gives nobody the same answers.
nobody_op OK read "$MNT/pub.bin"
nobody_op EACCES read "$MNT/priv.bin"

# --- a directory nobody cannot enter ------------------------------------------------------------------
if got=$(as_nobody ls "$E/secret" 2>&1); then
	bad "as nobody: ls .mmstat/files/secret (a 0700 root directory) succeeded: $got"
else
	ok "as nobody: ls .mmstat/files/secret fails"
fi
nobody_op EACCES stat "$E/secret/inner.bin"
nobody_op EACCES read "$E/secret/inner.bin/residency"

# --- what nobody may write ------------------------------------------------------------------------------
nobody_write OK "$E/nobody.bin/policy" random
check_eq "$(bounded cat "$E/nobody.bin/policy")" random "nobody set the policy of its own file"
nobody_write OK "$E/nobody.bin/ctl" touch
nobody_write OK "$E/nobody.bin/ctl" evict
nobody_write OK "$E/ww.bin/policy" sequential
check_eq "$(bounded cat "$E/ww.bin/policy")" sequential "nobody set the policy of a 0666 file"
nobody_write OK "$E/ww.bin/ctl" touch

# --- root still sees everything -------------------------------------------------------------------------
check_eq "$(bounded cat "$E/priv.bin/residency" | grep -c '^size: 65536$')" 1 "root reads priv.bin/residency"
check_eq "$(bounded "$PY" "$MMTOOL" write "$E/priv.bin/policy" "b'random\\n'")" OK "root writes priv.bin/policy"
check_eq "$(bounded cat "$E/secret/inner.bin/policy")" normal "root reads secret/inner.bin/policy"
umount_fs

finish
