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
load lib/debroot

FRESH_SUITE=$DEBROOT_SUITE
FRESH_INCLUDE=build-essential,git,ca-certificates
# bump when the recipe below changes in a way the variables do not show
FRESH_RECIPE=2
FRESH_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

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
	mirror=$(debroot_mirror)
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
	cache=$(debroot_cache "$FRESH_RECIPE" "$FRESH_INCLUDE" "$mirror")
	debroot_build "$cache" "$mirror" "$FRESH_INCLUDE"

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
