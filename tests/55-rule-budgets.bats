#!/usr/bin/env bats
# cce-rule: what one expression may cost on one record: time
# (--eval-timeout) and memory (--eval-memory). A rule past a budget is
# disabled, said on stderr and in status; the other rules go on, the
# process never aborts and its state is saved.

load lib/common
load rule/helpers

# The binary under test is an AddressSanitizer build (its allocator keeps
# freed memory in quarantine: peak RSS says nothing about cce-rule then).
sanitized() {
	ldd "$(command -v cce-rule)" 2>/dev/null | grep -q libasan
}

# peak_rss_kib CMD...: run natively (never under valgrind), print the peak
# resident set in KiB
peak_rss_kib() {
	/usr/bin/time -f %M -o "$BATS_TEST_TMPDIR/rss" "$@" >/dev/null 2>&1 || true
	tail -n1 "$BATS_TEST_TMPDIR/rss"
}

DOUBLE='reduce range(40) as $i (\"x\"; .+.) | length>0'

@test "rule: a rule past --eval-memory is disabled, the others go on, the state is saved" {
	rules '[{"name":"dbl","when":"'"$DOUBLE"'"},
	        {"name":"ok","key":".d","when":".t > 1"}]'
	input '{"ts":1,"d":"a","t":2}' '{"ts":2,"d":"a","t":0}' '{"ts":3,"d":"b","t":5}' '{"ts":4,"d":"b","t":6}'
	S="$BATS_TEST_TMPDIR/state" ST="$BATS_TEST_TMPDIR/st"
	# exits 0: no "cannot allocate memory", no SIGABRT (134)
	run_cce cce_rule -r "$R" --state "$S" --status "$ST" "$IN"
	assert_equal "$(alerts '[.rule,.key,.state]' | tr -d '\n')" \
		'["ok","a","firing"]["ok","a","resolved"]["ok","b","firing"]'
	why='when: evaluation ran past the memory budget (--eval-memory 64MiB)'
	assert_err "in.jsonl:1: rule 'dbl' disabled: $why"
	assert_equal "$(jq -c 'select(.rule=="dbl") | [.evaluated,.errors,.disabled]' "$ST")" "[1,1,\"$why\"]"
	assert_equal "$(jq -c 'select(.rule=="ok") | [.evaluated,.fired,.disabled]' "$ST")" '[4,2,false]'
	# the state was saved: the next run knows b is firing and a is not
	assert_equal "$(jq -r .format "$S")" cce-rule-state
	input '{"ts":5,"d":"b","t":7}' '{"ts":6,"d":"a","t":3}'
	run_cce cce_rule -r "$R" --state "$S" "$IN"
	assert_equal "$(alerts '[.rule,.key,.state]' | tr -d '\n')" '["ok","a","firing"]'
}

@test "rule: a rule past --eval-memory costs no more than the budget (peak RSS under 200MiB)" {
	if sanitized; then
		skip "AddressSanitizer build: its allocator's RSS says nothing of cce-rule's"
	fi
	rules '[{"name":"dbl","when":"'"$DOUBLE"'"},{"name":"ok","when":".t > 1"}]'
	input '{"ts":1,"t":2}' '{"ts":2,"t":0}'
	kib=$(peak_rss_kib cce-rule -r "$R" "$IN")
	echo "peak RSS: $kib KiB" >&2
	[ "$kib" -lt $((200 * 1024)) ]
	kib=$(peak_rss_kib cce-rule -r "$R" --eval-memory 1MiB "$IN")
	echo "peak RSS with --eval-memory 1MiB: $kib KiB" >&2
	[ "$kib" -lt $((64 * 1024)) ]
}

@test "rule: --eval-memory bounds what one evaluation holds at once, not what it allocates in all" {
	rules '[{"name":"big","when":"[range(100000)] | length > 0"},
	        {"name":"small","when":"[range(1000)] | length > 0"},
	        {"name":"churn","when":"reduce range(30000) as $i (0; . + ($i | tostring | length)) > 0"},
	        {"name":"ok","when":".t > 1"}]'
	input '{"ts":1,"t":2}' '{"ts":2,"t":0}'
	# the record an abandoned evaluation ran on is never freed: the
	# references the evaluation took cannot be given back
	no_leak_check
	# time is no matter here (valgrind is slow)
	run_cce cce_rule -r "$R" --eval-memory 1MiB --eval-timeout 1h --status "$BATS_TEST_TMPDIR/st" "$IN"
	assert_err "in.jsonl:1: rule 'big' disabled: when: evaluation ran past the memory budget (--eval-memory 1MiB)"
	refute_err "'small'"
	refute_err "'churn'"
	assert_equal "$(jq -c '[.rule,.fired,(.disabled|type)]' "$BATS_TEST_TMPDIR/st" | tr -d '\n')" \
		'["big",0,"string"]["small",1,"boolean"]["churn",1,"boolean"]["ok",1,"boolean"]'
}

@test "rule: --eval-memory takes a size of at least 64KiB; other values are usage errors" {
	rules '{"name":"a","when":".x"}'
	for bad in 0 abc -1 10q 65535 63KiB ''; do
		run_cce -64 cce-rule -r "$R" --eval-memory "$bad"
		assert_equal "$output" ""
		assert_err "--eval-memory"
	done
	input '{"ts":1,"x":true}'
	run_cce cce_rule -r "$R" --eval-memory 64KiB "$IN"
	assert_equal "$(alerts .state)" '"firing"'
	run_cce cce_rule -r "$R" --eval-memory=1GiB "$IN"
	assert_equal "$(alerts .state)" '"firing"'
}
