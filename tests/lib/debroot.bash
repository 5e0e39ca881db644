# Cached Debian roots for the tests (load after lib/common): a root built
# once by debootstrap (minbase plus a list of packages, from the mirror this
# machine's apt uses) and kept outside the tree, in $CCE_TEST_CACHE (default
# /var/cache/cce-test). Tests work on throwaway overlays of it, never on
# the cache itself.
#
#   debroot_mirror                      the Debian mirror for $DEBROOT_SUITE
#   debroot_cache RECIPE INCLUDE MIRROR the cached root's path
#   debroot_build CACHE MIRROR INCLUDE  build it unless it is there

DEBROOT_SUITE=bookworm
DEBROOT_CACHE_DIR=${CCE_TEST_CACHE:-/var/cache/cce-test}

# debroot_mirror: the first Debian mirror this machine's apt has for
# $DEBROOT_SUITE itself (not -updates or -security), from one-line and deb822
# sources (apt reads only *.list and *.sources under sources.list.d)
debroot_mirror() {
	local f
	{
		for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
			[ -f "$f" ] || continue
			# deb [ options ] URI SUITE COMPONENTS...
			awk -v s="$DEBROOT_SUITE" '$1 == "deb" {
				i = 2
				if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
				if ($(i + 1) == s) print $i
			}' "$f"
		done
		for f in /etc/apt/sources.list.d/*.sources; do
			[ -f "$f" ] || continue
			awk -v s="$DEBROOT_SUITE" 'BEGIN { RS = ""; FS = "\n" }
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

# debroot_cache RECIPE INCLUDE MIRROR: the cached root's path; the name
# changes with the recipe (a number the caller bumps when its recipe changes
# in a way the arguments do not show), the packages and the mirror, so that
# a changed recipe builds a new root
debroot_cache() {
	local id
	id=$(printf '%s\n' "$1" "$DEBROOT_SUITE" minbase "$2" "$3" | sha256sum | cut -c1-12)
	echo "$DEBROOT_CACHE_DIR/$DEBROOT_SUITE-minbase-$id"
}

# debroot_build CACHE MIRROR INCLUDE: build the cached root unless it is
# there. Built in a temporary directory and renamed into place only when
# debootstrap succeeded (a killed build leaves no half cache), under a lock
# (two runs never build it at once), in a mount namespace of its own (a
# killed debootstrap leaves no /proc or /sys mounted in it). Progress goes
# to fd 3 (bats' TAP stream) when it is open.
debroot_build() {
	local cache=$1 mirror=$2 include=$3 lock tmp start
	mkdir -p "$DEBROOT_CACHE_DIR" || return 1
	exec {lock}>"$cache.lock"
	flock -w 1800 "$lock" || { echo "cannot lock $cache.lock within 30 minutes" >&2; return 1; }
	if [ ! -d "$cache" ]; then
		# what a killed build left; nobody else builds while we hold the lock
		rm -rf --one-file-system "$cache".tmp.*
		tmp=$(mktemp -d "$cache.tmp.XXXXXX")
		chmod 0755 "$tmp" # the root directory of the root, for apt's _apt user
		echo "# building the Debian $DEBROOT_SUITE root in $cache from $mirror (once, a few minutes)" >&3
		start=$SECONDS
		if ! unshare --mount --propagation private \
			debootstrap --variant=minbase --include="$include" "$DEBROOT_SUITE" "$tmp" "$mirror" \
			</dev/null >"$tmp.log" 2>&1; then
			tail -n 30 "$tmp.log" >&2
			echo "debootstrap --variant=minbase --include=$include $DEBROOT_SUITE from $mirror failed (log above)" >&2
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
