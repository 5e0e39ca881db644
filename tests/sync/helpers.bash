# Helpers for the cce-sync tests: load with `load sync/helpers`.

HOSTILE="$BATS_TEST_DIRNAME/sync/hostile.py"

# snap DIR: every entry's path, type, mode, size and link target, and every
# file's sha256, sorted: two equal snaps mean byte-identical trees.
snap() {
	(cd "$1" && find . -printf '%p %y %m %s %l\n' | LC_ALL=C sort &&
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum)
}

# mktree DIR: a small application tree
mktree() {
	mkdir -p "$1/bin" "$1/lib/sub" "$1/share"
	printf 'hello\n' >"$1/README"
	printf '#!/bin/sh\ntest -f "$(dirname "$0")/../lib/sub/data" || exit 3\necho selftest ok\n' >"$1/bin/selftest"
	chmod 0755 "$1/bin/selftest"
	head -c 100000 /dev/urandom >"$1/lib/sub/data"
	printf 'a line\n' >"$1/share/log"
	ln -s ../README "$1/share/readme"
	ln -s sub/data "$1/lib/data"
	printf 'with space\n' >"$1/share/a file"
	mkdir "$1/empty"
}

# assert_stderr TEXT: $stderr (from run_cce) contains TEXT
assert_stderr() {
	[[ "$stderr" == *"$1"* ]] && return 0
	echo "stderr does not contain: $1" >&2
	echo "stderr: $stderr" >&2
	return 1
}

# flip_byte FILE OFFSET: change the byte at OFFSET to another value (a fixed
# byte written over random data changes nothing one time in 256)
flip_byte() {
	local b
	b=$(od -An -tu1 -j"$2" -N1 "$1" | tr -d ' ')
	# shellcheck disable=SC2059
	printf "\\$(printf '%03o' $(((b + 1) % 256)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
