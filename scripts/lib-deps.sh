# shellcheck shell=bash
# Debian packages mmapfs needs to build, test and run. Sourced by scripts/test and
# scripts/run; defines functions only and changes no shell options.

MMAPFS_DEB_PACKAGES=(
	libfuse3-dev	# fuse_lowlevel.h, libfuse3.so
	fuse3		# fusermount3
	libcmocka-dev	# unit tests
	meson
	ninja-build
	pkg-config
	python3-numpy	# for Debian's /usr/bin/python3, used by tests and benchmarks
	util-linux	# fincore, mountpoint
	clang-format	# scripts/check-format (clang-format 14 on Debian 12)
	attr		# getfattr/setfattr for xattr tests
	scdoc		# renders the man page (fs/mmapfs.1.scd)
	dash		# scripts/mmstat is POSIX sh; its tests run it under dash
	valgrind	# one memcheck pass of the daemon (tests/reliability)
	bindfs		# a peer in scripts/bench (skipped with a note when absent)
)

# deps_missing: print the packages of MMAPFS_DEB_PACKAGES that are not installed, one a line.
# Needs dpkg-query.
deps_missing()
{
	local pkg status

	for pkg in "${MMAPFS_DEB_PACKAGES[@]}"; do
		status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) || status=
		[ "$status" = "install ok installed" ] || printf '%s\n' "$pkg"
	done
}

# deps_ensure [--install|--no-install]: make sure the packages are installed. As root,
# installs the missing ones with apt-get (apt-get update only when something is missing).
# Not root, or with --no-install, says what to install. Returns 0 when all are there.
deps_ensure()
{
	local no_install=0 missing log

	[ "${1:-}" = "--no-install" ] && no_install=1

	if ! command -v dpkg-query >/dev/null 2>&1; then
		echo "deps: dpkg-query not found (not Debian?); make sure these are installed:" \
			"${MMAPFS_DEB_PACKAGES[*]}" >&2
		return 0
	fi
	missing=$(deps_missing | tr '\n' ' ')
	missing=${missing% }
	[ -z "$missing" ] && return 0

	if [ "$no_install" -eq 1 ] || [ "$(id -u)" -ne 0 ]; then
		echo "deps: missing Debian packages: $missing" >&2
		echo "deps: install them with: sudo apt-get install -y $missing" >&2
		return 1
	fi

	echo "deps: installing $missing"
	log=$(mktemp "${TMPDIR:-/tmp}/mmapfs-apt.XXXXXX") || return 1
	# shellcheck disable=SC2086 # one package name a word
	if ! {
		DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 update &&
			DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300 \
				--no-install-recommends install $missing
	} </dev/null >"$log" 2>&1; then
		echo "deps: apt-get failed; its last output:" >&2
		tail -n 40 "$log" >&2
		rm -f "$log"
		return 1
	fi
	rm -f "$log"

	missing=$(deps_missing | tr '\n' ' ')
	missing=${missing% }
	if [ -n "$missing" ]; then
		echo "deps: still missing after apt-get: $missing" >&2
		return 1
	fi
	return 0
}
