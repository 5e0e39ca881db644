#!/usr/bin/env bats
# cce-rule: predict rules (linear and holt_winters forecasts) on series whose
# crossing time is known exactly, bad predict specs, and their --state.

load lib/common
load rule/helpers

LINEAR='{"name":"disk","key":".d","predict":{"value":".v","window":"10m","horizon":"1h","method":"linear"},"when_forecast":"> 95"}'

# ramp FROM TO: v = t/1min + 0.5 for key "a", a record every 7s: 95 at
# 5,670,000ms, within an hour from the first record past 2,070,000
ramp() {
	jq -nc --argjson a "$1" --argjson b "$2" \
		'range($a; $b) | (. * 7000) as $t | {ts: $t, d: "a", v: ($t / 60000 + 0.5)}'
}

@test "rule: predict linear fires when the line crosses within the horizon, with the forecast and the crossing to the ms" {
	rules "$LINEAR"
	ramp 0 320 >"$BATS_TEST_TMPDIR/in.jsonl"
	run_cce cce_rule -r "$R" "$BATS_TEST_TMPDIR/in.jsonl"
	assert_equal "$(alerts '[.state,.ts,.crosses_at]')" '["firing",2072000,5670000]'
	assert_equal "$(alerts '(.forecast - (5672000 / 60000 + 0.5)) | fabs < 1e-9')" true
}

@test "rule: predict holt_winters forecasts a line plus a season exactly" {
	rules '{"name":"hw","predict":{"method":"holt_winters","value":".v","season":"4h","step":"1h","horizon":"5h"},"when_forecast":"> 40"}'
	# 10 + 2j + [3,-1,-3,1][j % 4] each hour: 35 at 14h, 41 at 15h
	jq -nc 'range(0; 12) | {ts: (. * 3600000), v: (10 + 2 * . + [3, -1, -3, 1][. % 4])}' >"$BATS_TEST_TMPDIR/in.jsonl"
	run_cce cce_rule -r "$R" "$BATS_TEST_TMPDIR/in.jsonl"
	assert_equal "$(alerts '[.state,.ts,.forecast,.crosses_at]' | tr -d '\n')" '["firing",36000000,41,53400000]'
	run_cce cce_rule --check -r "$R"
	assert_equal "$(alerts '[.predict.step,.predict.alpha,.predict.beta,.predict.gamma,.when_forecast]')" '["1h",0.3,0.05,0.2,"> 40"]'
}

@test "rule: predict honours for and when, and resolves when the forecast no longer passes" {
	rules '{"name":"low","predict":{"value":".v","window":"5m","horizon":"10m"},"when_forecast":"< 0","when":".armed","for":"1m"}'
	# falls 1 a minute from 30 (0 at 30m, within 10m after 20m), armed from
	# 22m, 4 from 26m; by hand, the line through the minutes of the window:
	# at 28m through 6 5 4 4 4 (24m..28m), 3.6 falling 0.5 a minute, -1.4 at
	# 38m; at 29m through 5 4 4 4 4, 3.8 falling 0.2 a minute, 1.8 at 39m
	jq -nc 'range(0; 50) | (. * 60000) as $t |
		{ts: $t, v: (if . < 26 then 30 - . else 4 end), armed: (. >= 22)}' >"$BATS_TEST_TMPDIR/in.jsonl"
	run_cce cce_rule -r "$R" "$BATS_TEST_TMPDIR/in.jsonl"
	assert_equal "$(alerts '[.state,.ts,.since,.crosses_at]' | tr -d '\n')" \
		'["firing",1380000,1320000,1800000]["resolved",1740000,1320000,null]'
}

@test "rule: bad predict specs are usage errors that name the culprit" {
	rules '[{"name":"m","predict":{"value":".v","window":"1h","horizon":"1h","method":"arima"},"when_forecast":"> 1"},
	        {"name":"h","predict":{"value":".v","window":"1h","horizon":"soon"},"when_forecast":"> 1"},
	        {"name":"v","predict":{"window":"1h","horizon":"1h"},"when_forecast":"> 1"},
	        {"name":"w","predict":{"value":".v","window":"1h","horizon":"1h"},"when_forecast":"== 1"},
	        {"name":"n","predict":{"value":".v","window":"1h","horizon":"1h"}},
	        {"name":"s","predict":{"method":"holt_winters","value":".v","horizon":"1h","season":"1d","step":"7h"},"when_forecast":"> 1"},
	        {"name":"x","predict":{"value":".v","window":"1h","horizon":"1h"},"when_forecast":"> 1","absent":"1m"}]'
	run_cce -64 cce_rule --check -r "$R"
	assert_equal "$output" ""
	assert_err "rule 'm': predict.method: expected \"linear\" or \"holt_winters\""
	assert_err "rule 'h': predict.horizon: invalid duration 'soon'"
	assert_err "rule 'v': predict: value is required"
	assert_err "rule 'w': when_forecast: expected a comparison with a number"
	assert_err "rule 'n': predict: needs a when_forecast"
	assert_err "rule 's': predict.step: must divide the season"
	assert_err "rule 'x': window, count, absent, anomaly and predict cannot be combined"
	assert_err "Try 'cce-rule --help'"
	[ "$(grep -c "rule '" <<<"$stderr")" -eq 7 ] # one line each
}

@test "rule: predict state goes through --state: a split run gives the alerts of a whole one" {
	rules "$LINEAR"
	ramp 0 320 >"$BATS_TEST_TMPDIR/in.jsonl"
	run_cce cce_rule -r "$R" "$BATS_TEST_TMPDIR/in.jsonl"
	whole="$output"
	S="$BATS_TEST_TMPDIR/state"
	# split just before the record that fires: alone, it is one point
	ramp 0 296 >"$BATS_TEST_TMPDIR/a.jsonl"
	ramp 296 320 >"$BATS_TEST_TMPDIR/b.jsonl"
	run_cce cce_rule -r "$R" --state "$S" "$BATS_TEST_TMPDIR/a.jsonl"
	assert_equal "$output" ""
	# the key's 32 buckets of five sums, whole
	assert_equal "$(jq '.rules[0].keys[0][7][9] | length' "$S")" 160
	run_cce cce_rule -r "$R" --state "$S" "$BATS_TEST_TMPDIR/b.jsonl"
	assert_equal "$output" "$whole"
	# without the state, the second part has no line until its second record
	run_cce cce_rule -r "$R" "$BATS_TEST_TMPDIR/b.jsonl"
	assert_equal "$(alerts '[.ts,.crosses_at]')" '[2079000,5670000]'
}

@test "rule: predict holt_winters starts again after values that overflow it, rather than forecasting NaN for good" {
	rules '{"name":"hw","predict":{"method":"holt_winters","value":".v","season":"4h","step":"1h","horizon":"5h"},"when_forecast":"> 40"}'
	# the series of the test above for 30 hours, with two values at 9h
	# whose sum is infinite: two seasons after, the model forecasts again
	jq -nc 'range(0; 30) | {ts: (. * 3600000), v: (10 + 2 * . + [3, -1, -3, 1][. % 4])} |
		if .ts == 32400000 then (., {ts: (.ts + 1), v: 1.5e308}, {ts: (.ts + 2), v: 1.5e308}) else . end' \
		>"$BATS_TEST_TMPDIR/in.jsonl"
	run_cce cce_rule -r "$R" "$BATS_TEST_TMPDIR/in.jsonl"
	assert_equal "$(alerts 'select(.state == "firing" and .forecast != null) | .forecast > 40' | tail -1)" true
	assert_equal "$(alerts '.state' | tail -1)" '"firing"'
}

@test "rule: predict passes over infinite values as it does null ones" {
	rules '{"name":"disk","key":".d","predict":{"value":"if .inf then infinite else .v end","window":"10m","horizon":"1h"},"when_forecast":"> 95"}'
	ramp 0 320 | jq -c 'if .ts == 2030000 then (., {ts: 2030001, d: "a", inf: true}) else . end' >"$BATS_TEST_TMPDIR/in.jsonl"
	run_cce cce_rule -r "$R" "$BATS_TEST_TMPDIR/in.jsonl"
	assert_equal "$(alerts '[.state,.ts,.crosses_at]')" '["firing",2072000,5670000]'
}

@test "rule: predict starts a key again whose restored step is ahead of its records or at the end of time" {
	rules "$LINEAR"
	S="$BATS_TEST_TMPDIR/state"
	ramp 0 296 >"$BATS_TEST_TMPDIR/a.jsonl"
	ramp 296 320 >"$BATS_TEST_TMPDIR/b.jsonl"
	run_cce cce_rule -r "$R" --state "$S" "$BATS_TEST_TMPDIR/a.jsonl"
	# a damaged x->wstart: as if the second part ran alone (not stuck on
	# its old bucket, nor walking 2^63 buckets; KILL: it waits out TERM)
	for w in 1e15 -9223372036854775808; do
		jq --argjson w "$w" '.rules[0].keys[0][7][0] = $w' "$S" >"$S.bad"
		run_cce timeout -s KILL 60 cce-rule -r "$R" --state "$S.bad" "$BATS_TEST_TMPDIR/b.jsonl"
		assert_equal "$(alerts '[.ts,.crosses_at]')" '[2079000,5670000]'
	done
	rules '{"name":"hw","predict":{"method":"holt_winters","value":".v","season":"4h","step":"1h","horizon":"5h"},"when_forecast":"> 40"}'
	jq -nc 'range(0; 6) | {ts: (. * 3600000), v: .}' >"$BATS_TEST_TMPDIR/a.jsonl"
	rm -f "$S"
	run_cce cce_rule -r "$R" --state "$S" "$BATS_TEST_TMPDIR/a.jsonl"
	jq '.rules[0].keys[0][7][0] = -9223372036854775808' "$S" >"$S.bad"
	run_cce timeout -s KILL 60 cce-rule -r "$R" --state "$S.bad" "$BATS_TEST_TMPDIR/a.jsonl"
	assert_equal "$output" ""
}
