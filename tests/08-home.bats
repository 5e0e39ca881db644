#!/usr/bin/env bats
# The state directory, one rule for every tool that keeps state there
# (cce(7), ENVIRONMENT): $CCE_HOME is used as is and, when missing, made
# only if its parent exists; the default, $XDG_STATE_HOME/cce or
# ~/.local/state/cce, is made as needed; what is made is 0700. Anything
# else stops the tool with exit 64 and the directory named, before it
# writes anything.

load lib/common

# cce-push follows the rule through tool_home once cmd/cce-push.c calls it
# (issue 12); until then it makes the whole path itself
@test "home: a CCE_HOME whose parent is missing is refused by cce-register, exit 64, nothing made" {
	export CCE_HOME="$BATS_TEST_TMPDIR/missing/zz"
	local want="cannot create CCE_HOME '$CCE_HOME': '$BATS_TEST_TMPDIR/missing' does not exist"
	for sub in init list expire "token edge-1"; do
		# shellcheck disable=SC2086
		run_cce -64 cce-register $sub
		assert_output ""
		assert_equal "$stderr" "cce-register: $want"
	done
	run_cce -64 cce-register apply <<<'{"op":"cordon","node":"edge-1"}'
	assert_equal "$stderr" "cce-register: $want"
	assert_file_not_exists "$BATS_TEST_TMPDIR/missing"
}

@test "home: a CCE_HOME whose parent is missing is refused by cce-push, exit 64, nothing made" {
	export CCE_HOME="$BATS_TEST_TMPDIR/missing/zz"
	run_cce -64 cce-push "file:$BATS_TEST_TMPDIR/out.jsonl" <<<'{"n":1}'
	assert_equal "$stderr" "cce-push: cannot create CCE_HOME '$CCE_HOME': '$BATS_TEST_TMPDIR/missing' does not exist"
	assert_file_not_exists "$BATS_TEST_TMPDIR/missing"
	assert_file_not_exists "$BATS_TEST_TMPDIR/out.jsonl"
}

@test "home: a missing CCE_HOME whose parent exists is made 0700, by cce-register and cce-push" {
	export CCE_HOME="$BATS_TEST_TMPDIR/reg/"
	run_cce cce-register init
	run stat -c %a "$CCE_HOME"
	assert_output 700
	assert_file_exists "$CCE_HOME/secret"
	export CCE_HOME="$BATS_TEST_TMPDIR/push"
	run_cce cce-push "file:$BATS_TEST_TMPDIR/out.jsonl" <<<'{"n":1}'
	run stat -c %a "$CCE_HOME"
	assert_output 700
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out.jsonl")" '{"n":1}'
}

@test "home: the default under \$XDG_STATE_HOME or ~/.local/state is made as needed, 0700" {
	unset CCE_HOME
	mkdir h
	HOME="$BATS_TEST_TMPDIR/h" run_cce cce-register init
	run find h/.local -type d -printf '%m %p\n'
	assert_output "700 h/.local
700 h/.local/state
700 h/.local/state/cce
700 h/.local/state/cce/registry"
	HOME="$BATS_TEST_TMPDIR/h2" XDG_STATE_HOME="$BATS_TEST_TMPDIR/xdg" run_cce cce-register init
	run find xdg -type d -printf '%m %p\n'
	assert_output "700 xdg
700 xdg/cce
700 xdg/cce/registry"
	assert_file_not_exists h2
	HOME="$BATS_TEST_TMPDIR/h3" XDG_STATE_HOME="$BATS_TEST_TMPDIR/xdg3" \
		run_cce cce-push "file:$BATS_TEST_TMPDIR/out.jsonl" <<<'{"n":1}'
	run stat -c %a xdg3 xdg3/cce
	assert_output "700
700"
}

@test "home: no HOME, a missing HOME or XDG_STATE_HOME parent, a file as CCE_HOME: exit 64, named" {
	unset CCE_HOME
	run_cce -64 env -u HOME cce-register list
	assert_equal "$stderr" "cce-register: cannot find a state directory: set CCE_HOME or HOME"
	HOME="$BATS_TEST_TMPDIR/nohome" run_cce -64 cce-register init
	assert_equal "$stderr" "cce-register: cannot use HOME '$BATS_TEST_TMPDIR/nohome': No such file or directory"
	assert_file_not_exists nohome
	XDG_STATE_HOME="$BATS_TEST_TMPDIR/x/state" run_cce -64 cce-register init
	assert_equal "$stderr" "cce-register: cannot create XDG_STATE_HOME '$BATS_TEST_TMPDIR/x/state': '$BATS_TEST_TMPDIR/x' does not exist"
	assert_file_not_exists x
	touch file
	CCE_HOME="$BATS_TEST_TMPDIR/file" run_cce -64 cce-register init
	assert_equal "$stderr" "cce-register: cannot use CCE_HOME '$BATS_TEST_TMPDIR/file': Not a directory"
}

@test "home: an explicit --store and --secret need no home" {
	export CCE_HOME="$BATS_TEST_TMPDIR/missing/zz"
	run_cce cce-register --store "file:$BATS_TEST_TMPDIR/reg" init --secret "$BATS_TEST_TMPDIR/secret"
	run_cce cce-register --store "file:$BATS_TEST_TMPDIR/reg" list
	assert_file_not_exists "$BATS_TEST_TMPDIR/missing"
}
