#!/usr/bin/env bash
# Files open across an outside change: with -o attr_timeout=30 (so the kernel would trust
# its cache for 30 s), a file held open through the mount and mapped by a client must show
# another process's rewrite, shrink and regrow within 3 s: the daemon watches open files
# and invalidates the kernel's cache. The held client mapping is checked first after a
# same-size rewrite, before any read could make the kernel ask for attributes, so only
# the daemon's invalidation can make it pass.
# SC2119: mount_fs takes optional arguments. SC2015: "A && B || fail" fails unless both
# hold. SC2016: single-quoted scripts for sh -c.
# shellcheck disable=SC2119,SC2015,SC2016
# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../mount/lib.sh"
# shellcheck source=tests/reliability/rel.sh
. "$(dirname "${BASH_SOURCE[0]}")/rel.sh"

mount_fs -o attr_timeout=30,entry_timeout=30
check "$RELHELPER" shrink-regrow "$MNT/held" "$BACKING/held" 24 3
ok "24 rounds: a held fd and a held client mapping followed outside rewrites, shrinks and regrows within 3 s"
rel_alive "after the invalidation rounds"
umount_fs
