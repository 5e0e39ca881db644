#!/usr/bin/env bats
# cce-rule: the default anomaly rule, anomaly scores on records passed
# through (--anomaly-score), the episode's peak score on alerts, bad methods
# and options refused, the new methods' state across runs.

load lib/common
load rule/helpers

@test "rule: an anomaly rule with only a value is a context rule with defaults that need no tuning" {
	rules '{"name":"x","anomaly":{"value":".value"}}'
	run_cce cce_rule --check -r "$R"
	assert_equal "$(alerts '.anomaly')" '{"method":"context","value":".value","n":1000,"threshold":0.5,"warmup":100}'
}

@test "rule: --anomaly-score puts each scored record's score on it, alerts after it with the episode's peak" {
	rules '{"name":"c","anomaly":{"value":".v","warmup":2}}'
	input '{"ts":0,"v":0}' '{"ts":1,"v":10}' '{"ts":2,"v":0}' '{"ts":3,"v":10 }' '{"ts":4,"x":1}' '{}'
	run_cce cce_rule -r "$R" --pass --anomaly-score "$IN"
	# warming up: 0; then a transition never seen with one deviation,
	# 0.5 + 0.5/8; then sqrt(2) deviations, sqrt(2)/(sqrt(2)+7)
	assert_equal "$(alerts 'if .rule then [.state,.ts,.score,.peak_score] else . end' | tr -d '\n')" \
		'{"ts":0,"v":0,"anomaly_score":0}{"ts":1,"v":10,"anomaly_score":0}{"ts":2,"v":0,"anomaly_score":0.5625}["firing",2,0.5625,0.5625]{"ts":3,"v":10,"anomaly_score":0.16807436035343964}["resolved",3,0.16807436035343964,0.5625]{"ts":4,"x":1}{}'
	# records no anomaly rule scored pass byte for byte
	assert_equal "${lines[6]}" '{"ts":4,"x":1}'
	assert_equal "${lines[7]}" '{}'
	# without the option, records pass untouched, alerts unchanged
	run_cce cce_rule -r "$R" --pass "$IN"
	assert_equal "$(alerts 'select(.rule == null) | has("anomaly_score")' | sort -u)" 'false'
	assert_equal "$(alerts 'select(.rule) | .peak_score' | tr -d '\n')" '0.56250.5625'
}

@test "rule: an episode that starts mild and peaks later resolves with its peak score" {
	rules '{"name":"z","anomaly":{"method":"zscore","value":".v","n":5,"threshold":2,"warmup":5}}'
	input '{"ts":1,"v":10}' '{"ts":2,"v":12}' '{"ts":3,"v":10}' '{"ts":4,"v":12}' '{"ts":5,"v":10}' \
	      '{"ts":6,"v":15}' '{"ts":7,"v":40}' '{"ts":8,"v":11}'
	run_cce cce_rule -r "$R" --pass --anomaly-score "$IN"
	local peak
	peak=$(alerts 'select(.rule == null and .ts >= 6 and .ts <= 7) | .anomaly_score' | sort -g | tail -1)
	assert_equal "$(alerts 'select(.rule) | [.state,.ts]' | tr -d '\n')" '["firing",6]["resolved",8]'
	# the peak is the later record's, higher than the one that fired
	assert_equal "$(alerts 'select(.rule and .state == "resolved") | .peak_score')" "$peak"
	assert_equal "$(alerts "select(.rule and .state == \"firing\") | .peak_score < $peak")" 'true'
	# zscore's score stays in deviations; its 0..1 score is z/(z+threshold)
	assert_equal "$(alerts 'select(.rule and .state == "firing") | (.peak_score - .score/(.score+2)) | fabs < 1e-12')" 'true'
}

@test "rule: bad anomaly methods and options are refused with the rule and the field named, exit 64" {
	rules '[{"name":"m","anomaly":{"method":"cad","value":".v"}},
	        {"name":"t","anomaly":{"value":".v","threshold":3}},
	        {"name":"s","anomaly":{"method":"seasonal","value":".v","threshold":0}},
	        {"name":"w","anomaly":{"value":".v","warmup":1}},
	        {"name":"u","anomaly":{"value":".v","level":6}},
	        {"name":"h","anomaly":{"method":"seasonal","value":".v","window":"1h"}}]'
	run_cce -64 cce_rule --check -r "$R"
	assert_equal "$output" ""
	assert_err "rule 'm': anomaly.method: expected \"context\", \"seasonal\", \"zscore\", \"ewma\", \"mad\" or \"entropy\""
	assert_err "rule 't': anomaly.threshold: expected a number in (0, 1) for method context"
	assert_err "rule 's': anomaly.threshold: expected a positive number"
	assert_err "rule 'w': anomaly.warmup"
	assert_err "rule 'u': anomaly: unknown field 'level'"
	assert_err "rule 'h': anomaly.window: only for methods zscore and mad (seasonal keeps no history)"
	# one message per broken rule
	assert_equal "$(printf '%s\n' "$stderr" | grep -c "rule 'm'")" 1
	rules '{"name":"x","anomaly":{"value":".v"}}'
	run_cce -64 cce_rule -r "$R" --anomaly-score /dev/null
	assert_equal "$output" ""
	assert_err "cce-rule: --anomaly-score: only with --pass"
}

@test "rule: context and seasonal state across runs with --state: two runs give what one gives" {
	rules '[{"name":"c","key":".k","anomaly":{"value":".v","warmup":20}},
	        {"name":"s","key":".k","anomaly":{"method":"seasonal","value":".v","warmup":20}}]'
	# two keys, a daily wave in half hours, a spike and a drop
	awk 'BEGIN { for (i = 0; i < 400; i++) for (k = 0; k < 2; k++) {
		v = (i % 48 < 24 ? 10 : 30) + (i * 7 + k) % 3
		if (i == 300 && k == 0) v = 90
		if (i == 350 && k == 1) v = 20
		printf "{\"ts\":%d,\"k\":%d,\"v\":%d}\n", i * 1800000, k, v } }' >"$BATS_TEST_TMPDIR/all"
	head -n 500 "$BATS_TEST_TMPDIR/all" >"$BATS_TEST_TMPDIR/a"
	tail -n +501 "$BATS_TEST_TMPDIR/all" >"$BATS_TEST_TMPDIR/b"
	run_cce cce_rule -r "$R" --pass --anomaly-score "$BATS_TEST_TMPDIR/all"
	local one=$output
	assert [ "$(alerts 'select(.rule and .state == "firing") | .key' | wc -l)" -ge 2 ]
	run_cce cce_rule -r "$R" --pass --anomaly-score --state "$BATS_TEST_TMPDIR/st" "$BATS_TEST_TMPDIR/a"
	local first=$output
	run_cce cce_rule -r "$R" --pass --anomaly-score --state "$BATS_TEST_TMPDIR/st" "$BATS_TEST_TMPDIR/b"
	assert_equal "$first"$'\n'"$output" "$one"
	# constant state per key: 102 numbers, whatever the history
	assert_equal "$(jq -c '[.rules[].keys[][7][9] | length] | unique' "$BATS_TEST_TMPDIR/st")" '[102]'
}

@test "rule: entropy and ewma state across runs with --state: two runs give what one gives" {
	rules '[{"name":"e","key":".k","anomaly":{"method":"entropy","value":".v","warmup":60}},
	        {"name":"w","key":".k","anomaly":{"method":"ewma","value":".v","warmup":20}}]'
	# two keys, a cycle whose distribution changes for a while on each
	awk 'BEGIN { for (i = 0; i < 400; i++) for (k = 0; k < 2; k++) {
		v = i % 10 + k
		if (i >= 250 + 50 * k && i < 290 + 50 * k) v = 5
		printf "{\"ts\":%d,\"k\":%d,\"v\":%d}\n", i * 60000, k, v } }' >"$BATS_TEST_TMPDIR/all"
	head -n 560 "$BATS_TEST_TMPDIR/all" >"$BATS_TEST_TMPDIR/a"
	tail -n +561 "$BATS_TEST_TMPDIR/all" >"$BATS_TEST_TMPDIR/b"
	run_cce cce_rule -r "$R" --pass --anomaly-score "$BATS_TEST_TMPDIR/all"
	local one=$output
	# the run of 5s is a change of distribution on both keys
	assert_equal "$(alerts 'select(.rule == "e" and .state == "firing") | .key' | sort -u | tr -d '\n')" '01'
	run_cce cce_rule -r "$R" --pass --anomaly-score --state "$BATS_TEST_TMPDIR/st" "$BATS_TEST_TMPDIR/a"
	local first=$output
	run_cce cce_rule -r "$R" --pass --anomaly-score --state "$BATS_TEST_TMPDIR/st" "$BATS_TEST_TMPDIR/b"
	assert_equal "$first"$'\n'"$output" "$one"
	# constant state per key: entropy 249 numbers, ewma one (its largest
	# recent deviation) beside its mean and variance
	assert_equal "$(jq -c '[.rules[] | [.keys[][7][9] | length] | unique]' "$BATS_TEST_TMPDIR/st")" '[[249],[1]]'
}
