# Helpers for the cce-rule bats files.
#
# CCE_RULE_VALGRIND=1 runs every cce-rule under
# `valgrind --error-exitcode=99 --leak-check=full`. The one test that makes
# cce-rule abandon runaway jq evaluations on purpose (their memory cannot be
# freed safely) turns leak checking off for itself with no_leak_check.

cce_rule() {
	if [ -n "${CCE_RULE_VALGRIND:-}" ]; then
		local leaks=full
		[ -z "${CCE_RULE_NO_LEAK_CHECK:-}" ] || leaks=no
		valgrind -q --error-exitcode=99 --leak-check=$leaks --errors-for-leak-kinds=definite,possible \
			cce-rule "$@"
	else
		cce-rule "$@"
	fi
}

no_leak_check() {
	export CCE_RULE_NO_LEAK_CHECK=1
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
}

# rules TEXT: write the rules file $R
rules() {
	R="$BATS_TEST_TMPDIR/rules.json"
	printf '%s\n' "$1" >"$R"
}

# input LINE...: write the input file $IN
input() {
	IN="$BATS_TEST_TMPDIR/in.jsonl"
	printf '%s\n' "$@" >"$IN"
}

# alerts FILTER: the lines of $output through a jq filter, compact
alerts() {
	printf '%s\n' "$output" | jq -c "$1"
}

# assert_err TEXT / refute_err TEXT: stderr (of run --separate-stderr) has a
# line containing TEXT, or has none
assert_err() {
	if ! grep -qF -- "$1" <<<"$stderr"; then
		echo "no stderr line contains: $1" >&2
		echo "stderr: $stderr" >&2
		return 1
	fi
}
refute_err() {
	if grep -qF -- "$1" <<<"$stderr"; then
		echo "a stderr line contains: $1" >&2
		echo "stderr: $stderr" >&2
		return 1
	fi
}
