#!/usr/bin/env bats
# make install / uninstall put and remove exactly what a packager expects.

load lib/common

@test "make install DESTDIR PREFIX=/usr installs binaries, scripts, man pages and completions" {
	local d="$BATS_TEST_TMPDIR/pkg"
	run make -s -C "$CCE_ROOT" BUILD="$CCE_BUILD" install DESTDIR="$d" PREFIX=/usr
	assert_success
	assert_file_exists "$d/usr/share/man/man7/cce.7"
	local t
	for t in "$CCE_BUILD"/bin/cce-*; do
		[ -e "$t" ] || continue
		t=${t##*/}
		assert_file_executable "$d/usr/bin/$t"
		assert_file_exists "$d/usr/share/man/man1/$t.1"
		assert_file_exists "$d/usr/share/bash-completion/completions/$t"
		assert_file_exists "$d/usr/share/zsh/vendor-completions/_$t"
	done
	for t in "$CCE_ROOT"/scripts/cce-*; do
		[ -e "$t" ] || continue
		[ "${t##*/}" = cce-lib.sh ] && continue
		assert_file_executable "$d/usr/bin/${t##*/}"
	done
	# the scripts' shell library is not a command: it goes to lib/cce,
	# where the installed scripts find it
	assert_file_not_exists "$d/usr/bin/cce-lib.sh"
	assert_file_exists "$d/usr/lib/cce/cce-lib.sh"
	run "$d/usr/bin/cce-fleet" --timeout 1.5s --help
	assert_success
	run "$d/usr/bin/cce-fleet" --timeout 1x --help
	assert_failure 64
	# helper scripts of the build are not installed
	assert_file_not_exists "$d/usr/bin/install-deps"
	assert_file_not_exists "$d/usr/bin/check"
	run make -s -C "$CCE_ROOT" BUILD="$CCE_BUILD" uninstall DESTDIR="$d" PREFIX=/usr
	assert_success
	run find "$d" -type f
	assert_output ""
}
