#!/usr/bin/env bats
# `make demo` works on a fresh Debian 12 machine: a minimal Debian 12 root
# (debootstrap --variant=minbase with build-essential, git and
# ca-certificates, from the mirror this machine's apt uses) gets a clean
# clone of the commit under test, and `cd /src && make demo` runs in it as
# root with a clean environment. install-deps must install everything the
# build and the demo need from the Debian archive.
#
# The root is built once (a few minutes) and cached outside the tree, in
# $CCE_TEST_CACHE (default /var/cache/cce-test); every run works on a
# throwaway overlay of it, in its own mount and PID namespaces, so that no
# mount and no process outlives the run. This test never skips: without
# root, debootstrap or a mirror it fails and says what is missing.

load lib/common

FRESH_SUITE=bookworm
FRESH_INCLUDE=build-essential,git,ca-certificates
FRESH_CACHE_DIR=${CCE_TEST_CACHE:-/var/cache/cce-test}
# bump when the recipe below changes in a way the variables do not show
FRESH_RECIPE=2
FRESH_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# fresh_mirror: the first Debian mirror this machine's apt has for
# $FRESH_SUITE itself (not -updates or -security), from one-line and deb822
# sources (apt reads only *.list and *.sources under sources.list.d)
fresh_mirror() {
	local f
	{
		for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
			[ -f "$f" ] || continue
			# deb [ options ] URI SUITE COMPONENTS...
			awk -v s="$FRESH_SUITE" '$1 == "deb" {
				i = 2
				if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
				if ($(i + 1) == s) print $i
			}' "$f"
		done
		for f in /etc/apt/sources.list.d/*.sources; do
			[ -f "$f" ] || continue
			awk -v s="$FRESH_SUITE" 'BEGIN { RS = ""; FS = "\n" }
			{
				types = ""; uris = ""; suites = ""; enabled = "yes"
				for (i = 1; i <= NF; i++) {
					if ($i ~ /^#/) continue
					k = tolower($i); sub(/:.*/, "", k)
					v = $i; sub(/^[^:]*:[ \t]*/, "", v)
					if (k == "types") types = " " v " "
					else if (k == "uris") uris = v
					else if (k == "suites") suites = " " v " "
					else if (k == "enabled") enabled = tolower(v)
				}
				if (enabled != "no" && types ~ / deb / && suites ~ (" " s " ")) {
					split(uris, u, /[ \t]+/); print u[1]
				}
			}' "$f"
		done
	} | head -n1
}

# fresh_cache MIRROR: the cached root's path; the name changes with the
# recipe, so that a changed recipe builds a new root
fresh_cache() {
	local id
	id=$(printf '%s\n' "$FRESH_RECIPE" "$FRESH_SUITE" minbase "$FRESH_INCLUDE" "$1" | sha256sum | cut -c1-12)
	echo "$FRESH_CACHE_DIR/$FRESH_SUITE-minbase-$id"
}

# fresh_build CACHE MIRROR: build the cached root unless it is there. Built
# in a temporary directory and renamed into place only when debootstrap
# succeeded (a killed build leaves no half cache), under a lock (two runs
# never build it at once), in a mount namespace of its own (a killed
# debootstrap leaves no /proc or /sys mounted in it).
fresh_build() {
	local cache=$1 mirror=$2 lock tmp start
	mkdir -p "$FRESH_CACHE_DIR" || return 1
	exec {lock}>"$cache.lock"
	flock -w 1800 "$lock" || { echo "cannot lock $cache.lock within 30 minutes" >&2; return 1; }
	if [ ! -d "$cache" ]; then
		# what a killed build left; nobody else builds while we hold the lock
		rm -rf --one-file-system "$cache".tmp.*
		tmp=$(mktemp -d "$cache.tmp.XXXXXX")
		chmod 0755 "$tmp" # the root directory of the root, for apt's _apt user
		echo "# building the Debian $FRESH_SUITE root in $cache from $mirror (once, a few minutes)" >&3
		start=$SECONDS
		if ! unshare --mount --propagation private \
			debootstrap --variant=minbase --include="$FRESH_INCLUDE" "$FRESH_SUITE" "$tmp" "$mirror" \
			</dev/null >"$tmp.log" 2>&1; then
			tail -n 30 "$tmp.log" >&2
			echo "debootstrap --variant=minbase --include=$FRESH_INCLUDE $FRESH_SUITE from $mirror failed (log above)" >&2
			rm -rf --one-file-system "$tmp" "$tmp.log"
			exec {lock}>&-
			return 1
		fi
		rm -f "$tmp"/var/cache/apt/archives/*.deb "$tmp.log"
		mv -T "$tmp" "$cache" || { exec {lock}>&-; return 1; }
		echo "# built $cache in $((SECONDS - start))s" >&3
	fi
	exec {lock}>&-
}

# fresh_run CACHE DIR: a throwaway root in DIR over CACHE, with a clone of
# the commit under test in /src, where `make demo` runs; its stdout and
# stderr are make demo's (and what the set-up reports on stderr).
fresh_run() {
	# The clone is of HEAD: a dirty work tree is not what is tested, its
	# last commit is (commit first to test a change here).
	local rev
	rev=$(git -c safe.directory='*' -C "$CCE_ROOT" rev-parse HEAD) || return 1
	# PID 1 of the new PID namespace is this bash: when it exits, every
	# process left in the root dies and every mount made here goes
	unshare --mount --pid --fork --propagation private bash -euo pipefail -c '
		cache=$1 d=$2 root=$2/root src=$3 rev=$4 path=$5 upload_pack=$6
		mkdir -p "$d/upper" "$d/work" "$root"
		if ! mount -t overlay overlay -o "lowerdir=$cache,upperdir=$d/upper,workdir=$d/work" "$root" 2>"$d/overlay.err"; then
			echo "fresh-root: overlay cannot mount ($(cat "$d/overlay.err")); copying the root" >&2
			cp -a "$cache/." "$root/"
			mount --bind "$root" "$root"
		fi
		mount -t proc proc "$root/proc"
		mount --rbind /dev "$root/dev"
		mount --rbind /sys "$root/sys"
		# never write through a link the root may have
		rm -f "$root/etc/hosts" "$root/etc/resolv.conf"
		printf "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" >"$root/etc/hosts"
		cat /etc/resolv.conf >"$root/etc/resolv.conf"
		# a tree of another user (sudo make check) is cloned all the same
		git clone -q --no-local --no-checkout -u "$upload_pack" "$src" "$root/src"
		git -C "$root/src" checkout -q --detach "$rev"
		exec chroot "$root" /usr/bin/env -i PATH="$path" HOME=/root LANG=C.UTF-8 TERM=dumb \
			/bin/sh -c "cd /src && make demo"
	' _ "$1" "$2" "$CCE_ROOT" "$rev" "$FRESH_PATH" "git -c safe.directory='*' upload-pack" </dev/null
}

@test "make demo on a fresh Debian 12 root: install-deps, build, the whole loop" {
	local missing=() p
	[ "$(id -u)" -eq 0 ] || missing+=("root (debootstrap, chroot and mounts need it)")
	for p in debootstrap unshare chroot mount flock git curl; do
		command -v "$p" >/dev/null || missing+=("$p")
	done
	local mirror
	mirror=$(fresh_mirror)
	[ -n "$mirror" ] ||
		missing+=("a Debian mirror for $FRESH_SUITE in /etc/apt/sources.list or /etc/apt/sources.list.d/*.list|*.sources")
	if [ "${#missing[@]}" -gt 0 ]; then
		echo "fresh-root: missing: ${missing[*]} (scripts/install-deps --test installs the programs)" >&2
		false
	fi
	local err
	err=$(curl -fsS -o /dev/null --max-time 30 "${mirror%/}/dists/$FRESH_SUITE/Release" 2>&1) || {
		echo "fresh-root: the mirror $mirror does not answer: $err" >&2
		false
	}
	local cache
	cache=$(fresh_cache "$mirror")
	fresh_build "$cache" "$mirror"

	local start=$SECONDS
	echo "# make demo in a fresh Debian $FRESH_SUITE root at $(git -c safe.directory='*' -C "$CCE_ROOT" rev-parse --short HEAD)" >&3
	run_cce -0 fresh_run "$cache" "$BATS_TEST_TMPDIR/fresh"
	echo "# make demo in the fresh root took $((SECONDS - start))s" >&3
	# the root lacked the build dependencies: install-deps installed them
	[[ "$stderr" == *"install-deps: installing "* ]] || { echo "stderr: $stderr" >&2; false; }
	# the demo's summary, as tests/63-demo.bats checks it
	assert_line --partial "== 7. rescheduling"
	assert_line --regexp '^   records in: 20000, rejected: [1-9][0-9]*, alerts: [1-9][0-9]*, delivered: [0-9]+ data \+ [1-9][0-9]* alerts$'
	assert_line --regexp '^   placements: 2, moves: 1$'
	local rejected delivered
	rejected=$(sed -nE 's/.*rejected: ([0-9]+),.*/\1/p' <<<"$output")
	delivered=$(sed -nE 's/.*delivered: ([0-9]+) data.*/\1/p' <<<"$output")
	assert_equal "$((rejected + delivered))" 20000
}
