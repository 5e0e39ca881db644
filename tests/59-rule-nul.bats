#!/usr/bin/env bats
# cce-rule and U+0000 (issue 12): the toolkit's NUL policy (json.h,
# json_cstr) is that a string a tool uses as a C string is refused when it
# holds U+0000, instead of being cut short at it ("a\u0000b" read as "a",
# another name). cce-rule's keys keep every byte; its rule names,
# aggregate names, jq expressions and durations go through json_cstr.

load lib/common

# rule_file JSON: the rules in $BATS_TEST_TMPDIR/r.json
rule_file() {
	printf '%s\n' "$1" >"$BATS_TEST_TMPDIR/r.json"
}

# refused FIELD RULES-JSON: --check refuses the rules, naming FIELD
refused() {
	rule_file "$2"
	run_cce -64 cce-rule --check -r "$BATS_TEST_TMPDIR/r.json"
	assert_output ""
	[[ "$stderr" == *"$1: contains a NUL character"* ]] || {
		echo "stderr: $stderr"
		false
	}
}

@test "rule nul: key values holding U+0000 are keys of their own, in alerts and in --state" {
	rule_file '[{"name":"hot","key":".d","when":".t > 1","count":{"n":2,"within":"5m"}}]'
	# "a\u0000b" and "a" are two devices: neither reaches the count of 2
	run_cce cce-rule -r "$BATS_TEST_TMPDIR/r.json" <<<'{"d":"a\u0000b","t":5}
{"d":"a","t":5}'
	assert_output ""
	rule_file '[{"name":"hot","key":".d","when":".t > 1"}]'
	run_cce cce-rule -r "$BATS_TEST_TMPDIR/r.json" --state st <<<'{"d":"a\u0000b","t":5}
{"d":"a","t":5}'
	run jq -c '.key' <<<"$output"
	assert_output '"a\u0000b"
"a"'
	run jq -c '[.rules[0].keys[][0]]' st
	assert_output '["a\u0000b","a"]'
}

@test "rule nul: a rule name holding U+0000 is refused, not read as another name" {
	refused name '[{"name":"hot\u0000x","key":".d","when":".t > 1"}]'
	# nor taken for a second rule of the same name
	refused name '[{"name":"hot","when":".t > 1"},{"name":"hot\u0000x","when":".t > 2"}]'
}

@test "rule nul: an aggregate name, an expression or a duration holding U+0000 is refused" {
	refused aggregate '[{"name":"w","key":".d","window":{"size":"1m"},"aggregate":{"n\u0000x":"count"},"when":".n > 0"}]'
	refused when '[{"name":"hot","when":".t > 1\u0000 and false"}]'
	refused for '[{"name":"hot","when":".t > 1","for":"1m\u0000x"}]'
	refused "aggregate 'n'" '[{"name":"w","key":".d","window":{"size":"1m"},"aggregate":{"n":"count(.t)\u0000x"},"when":".n > 0"}]'
}
