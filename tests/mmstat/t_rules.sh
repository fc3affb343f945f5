#!/usr/bin/env bash
# Policy rules: -o advice (the default), -o advise (GLOB=POLICY, ':'-separated) and
# -o rules=FILE (GLOB POLICY lines, comments, blank lines). .mmstat/rules shows them in
# match order with their sources; each file's policy is its first match (a name glob at
# any depth, a path glob from the mount root, '**', '**/', '?', the default). Bad rules
# refuse the mount: exit != 0, one stderr line naming the bad token, its source and the
# valid words, and nothing mounted.
# shellcheck source=tests/mount/lib.sh
. "$(dirname "$0")/../mount/lib.sh"
# shellcheck source=tests/mmstat/mmlib.sh
. "$(dirname "$0")/mmlib.sh"

REFUSE_PID=

# A daemon that should have refused to start but did: stop it before lib.sh's cleanup.
stop_refused()
{
	if [ -n "$REFUSE_PID" ]; then
		! is_mounted "$MNT" || timeout 10 fusermount3 -u "$MNT" || fusermount3 -u -z "$MNT" || true
		wait_exit "$REFUSE_PID" 10 || kill -KILL "$REFUSE_PID" 2>/dev/null || true
		wait "$REFUSE_PID" 2>/dev/null || true
		REFUSE_PID=
	fi
}
# lib.sh's cleanup takes the exit status from $?: hand it on.
trap 'rc=$?; set +e; trap - ERR; stop_refused; (exit $rc); cleanup' EXIT

policy_of()
{
	bounded cat "$MNT/.mmstat/files/$1/policy" || fail "cat .mmstat/files/$1/policy failed"
}

stats_policy()
{
	bounded cat "$MNT/.mmstat/files/$1/stats" | awk '/^policy: / { print $2 }'
}

# --- the rules and the files they match ----------------------------------------------------------
RULES=$T/rules.conf
cat >"$RULES" <<-'EOF'
	# rules for the mmstat rules test

	*.log   normal+cold
	   # an indented comment
	docs/*.txt	random+hugepage
	**/tmp/*.t random+pageout
	v?.dat normal+nohugepage
EOF

# relpath -> the policy it must get
declare -A WANT=(
	["a.idx"]=random                          # *.idx at the root
	["deep/x/y/b.idx"]=random                 # *.idx (a name glob) at depth
	["data/c.bin"]=sequential+willneed        # data/**
	["data/sub/deep/d.bin"]=sequential+willneed # data/** crosses directories
	["data/e.idx"]=random                     # *.idx comes first
	["other/data/f.bin"]=sequential           # data/** is anchored at the mount root
	["datafile.bin"]=sequential               # data/** needs the directory
	["x.log"]=normal+cold                     # rules file, line 3
	["deep/z.log"]=normal+cold
	["docs/g.txt"]=random+hugepage            # docs/*.txt
	["docs/sub/h.txt"]=sequential             # '*' does not cross '/'
	["g.txt"]=sequential
	["tmp/a.t"]=random+pageout                # '**/' matches zero directories
	["x/y/tmp/b.t"]=random+pageout            # ... or several
	["tmpx/c.t"]=sequential
	["tmp/sub/d.t"]=sequential
	["v1.dat"]=normal+nohugepage              # '?' is one character
	["sub/v2.dat"]=normal+nohugepage
	["v12.dat"]=sequential
	["plain.bin"]=sequential                  # the default from -o advice
)
for rel in "${!WANT[@]}"; do
	mkdir -p "$BACKING/$(dirname "$rel")"
	printf 'data of %s\n' "$rel" >"$BACKING/$rel"
done

mount_fs -o advice=sequential -o 'advise=*.idx=random:data/**=sequential+willneed' -o "rules=$RULES"

want_rules="*.idx random # -o advise
data/** sequential+willneed # -o advise
*.log normal+cold # $RULES:3
docs/*.txt random+hugepage # $RULES:5
**/tmp/*.t random+pageout # $RULES:6
v?.dat normal+nohugepage # $RULES:7
* sequential # default (-o advice)"
got=$(bounded cat "$MNT/.mmstat/rules")
if [ "$got" = "$want_rules" ]; then
	ok ".mmstat/rules lists the rules in match order with their sources"
else
	bad ".mmstat/rules: got"$'\n'"$got"$'\n'"want"$'\n'"$want_rules"
fi

for rel in $(printf '%s\n' "${!WANT[@]}" | sort); do
	got=$(policy_of "$rel")
	if [ "$got" = "${WANT[$rel]}" ]; then ok "policy of $rel: $got"; else bad "policy of $rel: got '$got', want '${WANT[$rel]}'"; fi
done

# Opening a file maps it; the mapping must carry the same policy.
for rel in $(printf '%s\n' "${!WANT[@]}" | sort); do
	check_eq "$(bounded cat "$MNT/$rel")" "data of $rel" "$rel reads through the mount"
	got=$(policy_of "$rel")
	[ "$got" = "${WANT[$rel]}" ] || bad "policy of $rel after a read: got '$got', want '${WANT[$rel]}'"
	got=$(stats_policy "$rel")
	[ "$got" = "${WANT[$rel]}" ] || bad "stats policy of $rel after a read: got '$got', want '${WANT[$rel]}'"
done
ok "policies unchanged once the files are mapped"

# A file created through the mount gets its rule too.
echo new >"$MNT/data/new.idx"
check_eq "$(policy_of data/new.idx)" random "a file created through the mount matches its rule"
umount_fs

# --- bad rules refuse the mount -----------------------------------------------------------------
VALID_WORDS="normal random sequential willneed populate hugepage nohugepage cold pageout dontneed"

# refuse WHAT TOKEN SOURCE MMAPFS_ARGS...: the daemon refuses to mount.
refuse()
{
	local what=$1 token=$2 source=$3 rc=0 err lines word missing='' deadline
	local out=$T/refuse.out errf=$T/refuse.err before=$BAD

	shift 3
	"$MMAPFS_BIN" -f "$@" "$BACKING" "$MNT" </dev/null >"$out" 2>"$errf" &
	REFUSE_PID=$!
	deadline=$((SECONDS + 10))
	while pid_alive "$REFUSE_PID" && ! is_mounted "$MNT" && [ "$SECONDS" -lt "$deadline" ]; do
		sleep 0.05
	done
	if pid_alive "$REFUSE_PID" || is_mounted "$MNT"; then
		bad "$what: the daemon did not refuse (it mounted, or still ran after 10 s)"
		stop_refused
		return 0
	fi
	wait "$REFUSE_PID" || rc=$?
	REFUSE_PID=
	err=$(cat "$errf")
	lines=$(wc -l <"$errf")
	[ "$rc" -ne 0 ] || bad "$what: exit status 0"
	is_mounted "$MNT" && bad "$what: $MNT is mounted"
	grep -qF " $MNT " /proc/self/mountinfo && bad "$what: a mount at $MNT appears"
	[ "$lines" -eq 1 ] || bad "$what: want one stderr line, got $lines: $err"
	grep -qF -- "$token" <<<"$err" || bad "$what: stderr does not name the bad token '$token': $err"
	grep -qF -- "$source" <<<"$err" || bad "$what: stderr does not name the source '$source': $err"
	for word in $VALID_WORDS; do
		grep -qw -- "$word" <<<"$err" || missing+=" $word"
	done
	[ -z "$missing" ] || bad "$what: stderr does not list the valid words (missing:$missing): $err"
	[ "$BAD" != "$before" ] || ok "$what: refused with exit $rc: $err"
}

refuse "-o advise missing '='" '*.idx' '-o advise' -o 'advise=*.idx'
refuse "-o advise second rule missing '='" 'data/**' '-o advise' -o 'advise=*.idx=random:data/**'
refuse "-o advise bad word" randum '-o advise' -o 'advise=*.idx=randum'
refuse "-o advise bad extra" willneeds '-o advise' -o 'advise=*.idx=random+willneeds'
refuse "-o advise two modes" sequential '-o advise' -o 'advise=*.idx=random+sequential'
refuse "-o advise hugepage+nohugepage" nohugepage '-o advise' -o 'advise=*.idx=normal+hugepage+nohugepage'
refuse "-o advise bad word in the second rule" bogus '-o advise' -o 'advise=*.idx=random:*.log=bogus'
refuse "-o advice bad word" bogus '-o advice' -o advice=bogus

printf '# comment\n*.ok random\n*.idx randum\n' >"$T/bad-word.rules"
refuse "rules file bad word" randum "$T/bad-word.rules:3" -o "rules=$T/bad-word.rules"
printf '# comment\n\n*.idx\n' >"$T/no-policy.rules"
refuse "rules file line without a policy" '*.idx' "$T/no-policy.rules:3" -o "rules=$T/no-policy.rules"
printf '*.a random\n*.b normal\n*.idx random+sequential\n' >"$T/two-modes.rules"
refuse "rules file two modes" sequential "$T/two-modes.rules:3" -o "rules=$T/two-modes.rules"
printf '\n# x\n*.idx hugepage+nohugepage\n' >"$T/huge.rules"
refuse "rules file hugepage+nohugepage" nohugepage "$T/huge.rules:3" -o "rules=$T/huge.rules"
refuse "missing rules file" "$T/no-such.rules" "$T/no-such.rules" -o "rules=$T/no-such.rules"

# After all that, a good mount still works (and nothing was left mounted).
mount_fs -o "rules=$RULES"
check_eq "$(policy_of x.log)" normal+cold "a good rules file mounts after the refusals"
check_eq "$(policy_of plain.bin)" normal "without -o advice the default is normal"
check_eq "$(bounded tail -n1 "$MNT/.mmstat/rules")" "* normal # default (built-in default)" "default rule line without -o advice"
umount_fs

finish
