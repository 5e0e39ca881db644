#!/usr/bin/env bats
# cce-rule: bounded memory for keys. A rule keeps state for at most
# --max-keys keys (or its own max_keys); past it the longest idle key is
# forgotten, once warned, counted in status, and the state file keeps the
# same bound and the keys' idle order.

load lib/common
load rule/helpers

# The binary under test is an AddressSanitizer build (its allocator keeps
# freed memory in quarantine: peak RSS says nothing about cce-rule then).
sanitized() {
	ldd "$(command -v cce-rule)" 2>/dev/null | grep -q libasan
}

# keys_of RULE FILE: the keys a state file holds for a rule, sorted, on a line
keys_of() {
	jq -r --arg r "$1" '.rules[] | select(.name == $r) | [.keys[][0]] | sort | join(" ")' "$2"
}

# A million records, each with a key of its own (.ts, by mistake)
million() {
	M="$BATS_TEST_TMPDIR/million.jsonl"
	awk 'BEGIN { for (i = 0; i < 1000000; i++) printf "{\"ts\":%.0f,\"t\":%d}\n", 1700000000000 + i, 50 + i % 50 }' >"$M"
	rules '[{"name":"pending","key":".ts","when":".t > 0","for":"1h"},
	        {"name":"spike","key":".ts","anomaly":{"method":"zscore","value":".t"}}]'
}

@test "rule: past --max-keys a rule forgets its longest idle key, warns once, counts it in status" {
	rules '[{"name":"p","key":".d","when":".v > 0","for":"1h"},
	        {"name":"f","key":".d","when":".v > 0","max_keys":2}]'
	input '{"ts":1,"d":"a","v":1}' '{"ts":2,"d":"b","v":1}' '{"ts":3,"d":"c","v":1}' \
	      '{"ts":4,"d":"a","v":1}' '{"ts":5,"d":"d","v":1}' '{"ts":6,"d":"e","v":1}'
	S="$BATS_TEST_TMPDIR/state" ST="$BATS_TEST_TMPDIR/st"
	run_cce cce_rule -r "$R" --max-keys 3 --state "$S" --status "$ST" "$IN"
	# p: a was seen again at 4, so b then c went
	assert_equal "$(keys_of p "$S")" 'a d e'
	assert_equal "$(jq -c 'select(.rule=="p") | [.keys,.max_keys,.evicted]' "$ST")" '[3,3,2]'
	# f keeps 2 (its own max_keys): a firing key forgotten fires again
	assert_equal "$(keys_of f "$S")" 'd e'
	assert_equal "$(jq -c 'select(.rule=="f") | [.keys,.max_keys,.evicted,.fired]' "$ST")" '[2,2,4,6]'
	assert_equal "$(alerts 'select(.rule=="f") | .key' | tr -d '\n')" '"a""b""c""a""d""e"'
	assert_equal "$(grep -c "max_keys" <<<"$stderr")" 2
	assert_err "cce-rule: rule 'p': more than 3 keys (max_keys): the longest idle are forgotten, counted in status as evicted"
	assert_err "cce-rule: rule 'f': more than 2 keys (max_keys)"
}

@test "rule: a rule's max_keys wins over --max-keys, shows in --check, and is no part of its definition" {
	rules '[{"name":"own","key":".d","when":".v > 0","for":"1h","max_keys":2},
	        {"name":"dflt","key":".d","when":".v > 0","for":"1h"}]'
	run_cce cce_rule --check -r "$R" --max-keys 7
	assert_equal "$(alerts '[.name,.max_keys]' | tr -d '\n')" '["own",2]["dflt",7]'
	run_cce cce_rule --check -r "$R"
	assert_equal "$(alerts '.max_keys' | tr -d '\n')" '2100000'
	# a changed max_keys keeps the state, cut to size
	input '{"ts":1,"d":"a","v":1}' '{"ts":2,"d":"b","v":1}' '{"ts":3,"d":"c","v":1}'
	S="$BATS_TEST_TMPDIR/state"
	run_cce cce_rule -r "$R" --max-keys 7 --state "$S" "$IN"
	assert_equal "$(keys_of dflt "$S")" 'a b c'
	rules '[{"name":"own","key":".d","when":".v > 0","for":"1h","max_keys":2},
	        {"name":"dflt","key":".d","when":".v > 0","for":"1h","max_keys":1}]'
	: >"$IN"
	run_cce cce_rule -r "$R" --state "$S" --status "$BATS_TEST_TMPDIR/st" "$IN"
	assert_err "rule 'dflt': the state holds more than 1 keys (max_keys)"
	assert_equal "$(keys_of dflt "$S")" 'c'
	assert_equal "$(jq -c 'select(.rule=="dflt") | [.keys,.evicted]' "$BATS_TEST_TMPDIR/st")" '[1,2]'
}

@test "rule: --max-keys and max_keys take a count from 1; other values are usage errors" {
	rules '{"name":"a","key":".d","when":".x"}'
	for bad in 0 -1 abc 1.5 4294967296 ''; do
		run_cce -64 cce-rule -r "$R" --max-keys "$bad"
		assert_equal "$output" ""
		assert_err "--max-keys"
	done
	for bad in 0 -1 1.5 '"10"' null; do
		rules '{"name":"a","key":".d","when":".x","max_keys":'"$bad"'}'
		run_cce -64 cce-rule --check -r "$R"
		assert_err "rule 'a': max_keys: expected an integer of at least 1"
	done
	rules '{"name":"a","key":".d","when":".x","max_keys":4294967295}'
	run_cce cce_rule --check -r "$R" --max-keys 4294967295
}

@test "rule: the state file keeps the keys' idle order: a restart with a lower --max-keys keeps the last seen" {
	rules '{"name":"p","key":".d","when":".v > 0","for":"1h"}'
	input '{"ts":1,"d":"a","v":1}' '{"ts":2,"d":"b","v":1}' '{"ts":3,"d":"c","v":1}' \
	      '{"ts":4,"d":"d","v":1}' '{"ts":5,"d":"e","v":1}' '{"ts":6,"d":"a","v":1}'
	S="$BATS_TEST_TMPDIR/state" ST="$BATS_TEST_TMPDIR/st"
	run_cce cce_rule -r "$R" --max-keys 10 --state "$S" "$IN"
	assert_equal "$(keys_of p "$S")" 'a b c d e'
	: >"$IN"
	run_cce cce_rule -r "$R" --max-keys 2 --state "$S" --status "$ST" "$IN"
	assert_err "rule 'p': the state holds more than 2 keys (max_keys)"
	assert_equal "$(keys_of p "$S")" 'a e'
	assert_equal "$(jq -c '[.keys,.evicted]' "$ST")" '[2,3]'
	# e is idle longer than a: a new key makes e go
	input '{"ts":7,"d":"f","v":1}'
	run_cce cce_rule -r "$R" --max-keys 2 --state "$S" --status "$ST" "$IN"
	assert_equal "$(keys_of p "$S")" 'a f'
	assert_equal "$(jq -c '[.keys,.evicted]' "$ST")" '[2,4]'
	# pending since its first record: a's for keeps running across the runs
	assert_equal "$(jq -c '.rules[0].keys[] | select(.[0] == "a") | .[2]' "$S")" 1
}

@test "rule: a million distinct keys: each rule keeps 100000, the state file stays under 24MB" {
	million
	S="$BATS_TEST_TMPDIR/state" ST="$BATS_TEST_TMPDIR/st"
	# natively even under CCE_RULE_VALGRIND: a million records are too
	# many for valgrind; the small cases above run under it
	run_cce cce-rule -r "$R" --state "$S" --status "$ST" "$M"
	assert_equal "$(jq -c '[.rule,.keys,.max_keys,.evicted]' "$ST" | tr -d '\n')" \
		'["pending",100000,100000,900000]["spike",100000,100000,900000]'
	assert_equal "$(grep -c "max_keys" <<<"$stderr")" 2
	# the most recent keys are the ones kept
	assert_equal "$(jq -c '[.rules[].keys | map(.[0]) | min]' "$S")" '[1700000900000,1700000900000]'
	size=$(stat -c %s "$S")
	echo "state file: $size bytes" >&2
	[ "$size" -lt $((24 * 1000 * 1000)) ]
}

@test "rule: a million distinct keys stay under 128MiB of peak RSS (two rules, one an anomaly rule)" {
	if sanitized; then
		skip "AddressSanitizer build: its allocator's RSS says nothing of cce-rule's"
	fi
	million
	/usr/bin/time -f %M -o "$BATS_TEST_TMPDIR/rss" cce-rule -r "$R" --state "$BATS_TEST_TMPDIR/state" "$M" >/dev/null 2>&1
	kib=$(tail -n1 "$BATS_TEST_TMPDIR/rss")
	echo "peak RSS: $kib KiB" >&2
	[ "$kib" -lt $((128 * 1024)) ]
}
