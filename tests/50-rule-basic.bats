#!/usr/bin/env bats
# cce-rule: the core: match, key, when, for, repeat, clear, value, message,
# alert ids, --check, --pass, bad rules and bad input.

load lib/common
load rule/helpers

@test "rule: --help lists the options and the common ones, --version" {
	run_cce cce-rule --help
	assert_line --index 0 --regexp '^usage: cce-rule '
	assert_output --partial '--rules FILE'
	assert_output --partial '--eval-timeout'
	assert_output --partial '--max-line'
	run_cce cce-rule --version
	assert_output --regexp '^cce-rule [0-9]'
}

@test "rule: usage errors exit 64 without output" {
	run_cce -64 cce-rule
	assert_equal "$output" ""
	assert_equal "$stderr" "$(printf "cce-rule: no rules: give -r RULES\nTry 'cce-rule --help' for more information.")"
	rules '[{"name":"a","when":".x"}]'
	run_cce -64 cce-rule -r "$R" --checkpoint 5q
	assert_err "invalid duration '5q'"
	run_cce -64 cce-rule -r "$R" --bogus
	run_cce -64 cce-rule -r "$BATS_TEST_TMPDIR/none.json"
	assert_err "none.json"
	run_cce -64 cce-rule -r "$R" --time '.ts |||'
	assert_err "--time"
}

@test "rule: --check prints each rule with defaults and which expressions take the fast path" {
	rules '[{"name":"hot","key":".device","when":".temp > 80","for":"30s","repeat":60},
	        {"name":"odd","when":".temp % 2 == 1","severity":"warning","labels":{"team":"ops"}}]'
	run_cce cce_rule --check -r "$R"
	assert_equal "${#lines[@]}" 2
	assert_equal "$(alerts 'select(.name=="hot") | [.match,.key,.when,.for,.repeat,.clear,.keep_firing_for,.fast]')" \
		'[".",".device",".temp > 80","30s","1m",null,"0ms",["key","when"]]'
	assert_equal "$(alerts 'select(.name=="odd") | [.severity,.labels,.fast]')" '["warning",{"team":"ops"},[]]'
}

@test "rule: --check reports every broken rule by name with jq's message, exit 64" {
	rules '[{"name":"syntax","when":".a |||"},
	        {"name":"good","when":".a"},
	        {"name":"halts","when":"halt_error"},
	        {"name":"mod","when":"import \"x\" as x; .a"},
	        {"name":"typo","when":".a","fro":"1m"},
	        {"name":"dur","when":".a","for":"soon"},
	        {"name":"good","when":".b"},
	        {"when":".c"},
	        {"name":"nowhen"}]'
	run_cce -64 cce_rule --check -r "$R"
	assert_equal "$output" ""
	assert_err "rule 'syntax': when: jq: error: syntax error"
	assert_err "rule 'halts': when: 'halt_error' is not allowed in rules"
	assert_err "rule 'mod': when: 'import' is not allowed in rules"
	assert_err "rule 'typo': unknown field 'fro'"
	assert_err "rule 'dur': for: invalid duration 'soon'"
	assert_err "rule 'good': name: a rule of this name is already defined"
	assert_err "rule 8: name: a non-empty string is required"
	assert_err "rule 'nowhen': when: required"
	refute_err "rule 'good': when"
}

@test "rule: 'halt' inside a string or as a field name is fine, a call is not" {
	rules '{"name":"s","when":".halt == \"halt\"","message":"\"halt at \\(.input)\""}'
	run_cce cce_rule --check -r "$R"
	rules '{"name":"s","when":".a | input"}'
	run_cce -64 cce_rule --check -r "$R"
	assert_err "'input' is not allowed"
}

@test "rule: rules files may be JSON lines, and several -r files add up" {
	printf '%s\n' '{"name":"a","when":".x > 1"}' '' '{"name":"b","when":".x > 2"}' >"$BATS_TEST_TMPDIR/r1.jsonl"
	printf '%s\n' '{"name":"c","when":".x > 3"}' >"$BATS_TEST_TMPDIR/r2.json"
	run_cce cce_rule --check -r "$BATS_TEST_TMPDIR/r1.jsonl" -r "$BATS_TEST_TMPDIR/r2.json"
	assert_equal "$(alerts '.name' | tr -d '\n')" '"a""b""c"'
	printf '%s\n' '{"name":"a","when":".x > 1"}' '{"name":"b",' >"$BATS_TEST_TMPDIR/r3.jsonl"
	run_cce -64 cce_rule --check -r "$BATS_TEST_TMPDIR/r3.jsonl"
	assert_err "r3.jsonl:2: line 2: invalid JSON"
}

@test "rule: a threshold alert fires and resolves once per episode, with its fields" {
	rules '{"name":"overheat","key":".device","when":".temp > 80","value":".temp",
	        "severity":"critical","labels":{"site":"plant-1"},"message":"\"\\(.device) at \\(.temp)C\""}'
	input '{"ts":1000,"device":"d1","temp":70}' \
	      '{"ts":2000,"device":"d1","temp":83.2}' \
	      '{"ts":3000,"device":"d1","temp":90}' \
	      '{"ts":4000,"device":"d2","temp":81}' \
	      '{"ts":5000,"device":"d1","temp":80}'
	run_cce cce_rule -r "$R" "$IN"
	assert_equal "${#lines[@]}" 3
	assert_equal "$(alerts '[.rule,.key,.state,.ts,.since,.value,.severity,.labels.site,.message,.record.temp]' | head -1)" \
		'["overheat","d1","firing",2000,2000,83.2,"critical","plant-1","d1 at 83.2C",83.2]'
	assert_equal "$(alerts '[.key,.state,.ts,.since]' | sed -n 2p)" '["d2","firing",4000,4000]'
	assert_equal "$(alerts '[.key,.state,.ts,.since,.value]' | sed -n 3p)" '["d1","resolved",5000,2000,80]'
	# one id per episode: the firing and its resolution share it
	id1=$(alerts 'select(.key=="d1") | .id' | sort -u)
	assert_equal "$(printf '%s\n' "$id1" | wc -l)" 1
	assert_regex "$id1" '^"[0-9a-f]{32}"$'
	# and it is stable across runs
	run_cce cce_rule -r "$R" "$IN"
	assert_equal "$(alerts 'select(.key=="d1") | .id' | sort -u)" "$id1"
}

@test "rule: match chooses the records a rule looks at" {
	rules '[{"name":"boiler","match":".stream == \"boiler\"","when":".temp > 80"},
	        {"name":"all","when":".temp > 80"}]'
	input '{"ts":1,"stream":"room","temp":90}' '{"ts":2,"stream":"boiler","temp":95}'
	run_cce cce_rule -r "$R" "$IN"
	assert_equal "$(alerts '[.rule,.ts]' | tr -d '\n')" '["all",1]["boiler",2]'
}

@test "rule: for fires only after the condition held that long; interrupted one record before, it starts again" {
	rules '{"name":"f","key":".d","when":".v > 10","for":"30s"}'
	input '{"ts":0,"d":"a","v":11}' '{"ts":29999,"d":"a","v":12}' '{"ts":30000,"d":"a","v":9}' \
	      '{"ts":31000,"d":"a","v":11}' '{"ts":60999,"d":"a","v":11}' '{"ts":61000,"d":"a","v":11}' \
	      '{"ts":0,"d":"b","v":11}' '{"ts":30000,"d":"b","v":11}'
	run_cce cce_rule -r "$R" "$IN"
	assert_equal "$(alerts '[.key,.state,.ts,.since]' | tr -d '\n')" \
		'["a","firing",61000,31000]["b","firing",30000,0]'
}

@test "rule: --emit-pending also reports pending transitions" {
	rules '{"name":"f","when":".v > 10","for":"10s"}'
	input '{"ts":0,"v":11}' '{"ts":5000,"v":11}' '{"ts":10000,"v":11}'
	run_cce cce_rule --emit-pending -r "$R" "$IN"
	assert_equal "$(alerts '[.state,.ts,.since]' | tr -d '\n')" '["pending",0,0]["firing",10000,0]'
	pid=$(alerts 'select(.state=="pending").id'); fid=$(alerts 'select(.state=="firing").id')
	assert_equal "$pid" "$fid"
}

@test "rule: repeat re-emits a firing alert with the same id at its interval" {
	rules '{"name":"r","when":".v > 10","repeat":"1m"}'
	input '{"ts":0,"v":11}' '{"ts":59999,"v":11}' '{"ts":60000,"v":11}' '{"ts":90000,"v":11}' \
	      '{"ts":120000,"v":12}' '{"ts":130000,"v":1}'
	run_cce cce_rule -r "$R" "$IN"
	assert_equal "$(alerts '[.state,.ts,.since]' | tr -d '\n')" \
		'["firing",0,0]["firing",60000,0]["firing",120000,0]["resolved",130000,0]'
	assert_equal "$(alerts .id | sort -u | wc -l)" 1
}

@test "rule: clear gives hysteresis: fire above 80, resolve only below 70" {
	rules '{"name":"h","when":".t > 80","clear":".t < 70"}'
	input '{"ts":1,"t":85}' '{"ts":2,"t":75}' '{"ts":3,"t":79}' '{"ts":4,"t":69}' '{"ts":5,"t":75}' '{"ts":6,"t":81}'
	run_cce cce_rule -r "$R" "$IN"
	assert_equal "$(alerts '[.state,.ts]' | tr -d '\n')" '["firing",1]["resolved",4]["firing",6]'
	# a new episode gets a new id
	assert_equal "$(alerts .id | sort -u | wc -l)" 2
}

@test "rule: keep_firing_for holds a firing alert after the condition last held" {
	rules '{"name":"k","when":".t > 80","keep_firing_for":"10s"}'
	input '{"ts":0,"t":85}' '{"ts":5000,"t":50}' '{"ts":9999,"t":50}' '{"ts":10000,"t":50}' \
	      '{"ts":20000,"t":90}' '{"ts":25000,"t":91}' '{"ts":30000,"t":1}' '{"ts":35000,"t":1}'
	run_cce cce_rule -r "$R" "$IN"
	assert_equal "$(alerts '[.state,.ts,.since]' | tr -d '\n')" \
		'["firing",0,0]["resolved",10000,0]["firing",20000,20000]["resolved",35000,20000]'
}

@test "rule: --pass copies every record in order with the alerts it caused right after it" {
	rules '{"name":"p","when":".t > 80"}'
	input '{"ts":1,"t":1}' '{"ts":2,"t":81}' '{"ts":3,"t":82}' '{"ts":4,"t":2}'
	run_cce cce_rule --pass -r "$R" "$IN"
	assert_equal "${#lines[@]}" 6
	assert_equal "${lines[0]}" '{"ts":1,"t":1}'
	assert_equal "${lines[1]}" '{"ts":2,"t":81}'
	assert_equal "$(printf '%s\n' "${lines[2]}" | jq -c '[.rule,.state]')" '["p","firing"]'
	assert_equal "${lines[3]}" '{"ts":3,"t":82}'
	assert_equal "${lines[4]}" '{"ts":4,"t":2}'
	assert_equal "$(printf '%s\n' "${lines[5]}" | jq -c '.state')" '"resolved"'
}

@test "rule: event time may be RFC 3339 or come from --time; records without it use arrival time" {
	rules '{"name":"f","when":".v > 1","for":"1m"}'
	input '{"at":"2024-05-01T12:00:00Z","v":2}' '{"at":"2024-05-01T12:01:00.000+00:00","v":2}'
	run_cce cce_rule --time .at -r "$R" "$IN"
	assert_equal "$(alerts '[.since,.ts]')" '[1714564800000,1714564860000]'
	input '{"v":2}'
	before=$(($(date +%s) * 1000))
	run_cce cce_rule -r "$(printf '%s' "$R")" "$IN" --time .nope
	run_cce cce_rule -r "$BATS_TEST_TMPDIR/rules.json" "$IN"
	rules '{"name":"now","when":".v > 1"}'
	run_cce cce_rule -r "$R" "$IN"
	ts=$(alerts .ts)
	[ "$ts" -ge "$before" ] && [ "$ts" -le $(( $(date +%s) * 1000 + 1000 )) ]
}

@test "rule: malformed lines and bad times are reported, skipped, kept in --rejects; exit 65" {
	rules '{"name":"p","when":".t > 80"}'
	printf '%s\n' '{"ts":1,"t":81}' '{"ts":2,"t":' '{"ts":3,"t":NaN}' '[1,2]' \
		'{"ts":"yesterday","t":1}' '{"ts":true,"t":1}' '{"ts":4,"t":1}' >"$BATS_TEST_TMPDIR/in.jsonl"
	run_cce -65 cce_rule -r "$R" --rejects "$BATS_TEST_TMPDIR/rej" "$BATS_TEST_TMPDIR/in.jsonl"
	assert_equal "$(alerts '[.state,.ts]' | tr -d '\n')" '["firing",1]["resolved",4]'
	assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/rej")" 5
	assert_equal "$(sed -n 4p "$BATS_TEST_TMPDIR/rej")" '{"ts":"yesterday","t":1}'
	assert_err "in.jsonl:2: "
	assert_err "in.jsonl:5: .ts: not an RFC 3339 time: 'yesterday'"
	assert_err "in.jsonl:6: .ts: expected epoch milliseconds or an RFC 3339 string, got boolean"
	run_cce -65 cce_rule -r "$R" --strict "$BATS_TEST_TMPDIR/in.jsonl"
	assert_equal "$(alerts '.state')" '"firing"'
}

@test "rule: a run-time error counts against its rule only; other rules still see the record" {
	rules '[{"name":"bad","when":".a.b > 1"},{"name":"good","when":".c > 1"}]'
	input '{"ts":1,"a":5,"c":2}' '{"ts":2,"a":{"b":2},"c":2}'
	run_cce cce_rule -r "$R" --status "$BATS_TEST_TMPDIR/st" "$IN"
	assert_equal "$(alerts '[.rule,.ts]' | tr -d '\n')" '["good",1]["bad",2]'
	assert_err 'in.jsonl:1: rule '"'bad'"': when: Cannot index number with string "b"'
	assert_equal "$(jq -c 'select(.rule=="bad") | [.evaluated,.matched,.errors,.fired]' "$BATS_TEST_TMPDIR/st")" '[2,2,1,1]'
}

@test "rule: only the first few errors of a rule are printed, all are counted" {
	rules '{"name":"bad","when":".a.b"}'
	for i in $(seq 1 20); do echo "{\"ts\":$i,\"a\":1}"; done >"$BATS_TEST_TMPDIR/in.jsonl"
	run_cce cce_rule -r "$R" --status "$BATS_TEST_TMPDIR/st" "$BATS_TEST_TMPDIR/in.jsonl"
	assert_equal "$(printf '%s\n' "$stderr" | grep -c 'Cannot index')" 5
	assert_equal "$(jq .errors "$BATS_TEST_TMPDIR/st")" 20
}

@test "rule: runaway expressions are cut by --eval-timeout and disable their rule only" {
	rules '[{"name":"range","when":"[range(1e12)] | length > 0"},
	        {"name":"rep","when":"[repeat(.)] | length > 0"},
	        {"name":"gsub","when":".s | gsub(\"\";\"x\") | length > 0"},
	        {"name":"loop","when":"last(range(1e15)) > 0"},
	        {"name":"ok","when":".t > 1"}]'
	input '{"ts":1,"t":2,"s":"abc"}' '{"ts":2,"t":0,"s":"abc"}'
	# the record an abandoned evaluation ran on is never freed: the
	# references the evaluation took cannot be given back
	no_leak_check
	run_cce cce_rule -r "$R" --eval-timeout 50ms --status "$BATS_TEST_TMPDIR/st" "$IN"
	assert_equal "$(alerts '[.rule,.state]' | tr -d '\n')" '["ok","firing"]["ok","resolved"]'
	for r in range rep gsub loop; do
		assert_err "in.jsonl:1: rule '$r' disabled: when: evaluation ran past the time budget (--eval-timeout 50ms)"
		assert_equal "$(jq -r "select(.rule==\"$r\") | .disabled | type" "$BATS_TEST_TMPDIR/st")" string
	done
	assert_equal "$(jq -r 'select(.rule=="ok") | .disabled' "$BATS_TEST_TMPDIR/st")" false
}

@test "rule: a huge line is rejected without stopping the rules" {
	rules '{"name":"p","when":".t > 80"}'
	{ echo '{"ts":1,"t":81}'; printf '{"ts":2,"pad":"%s"}\n' "$(head -c 3000 /dev/zero | tr '\0' x)"; echo '{"ts":3,"t":1}'; } >"$BATS_TEST_TMPDIR/in.jsonl"
	run_cce -65 cce_rule -r "$R" --max-line 1KiB "$BATS_TEST_TMPDIR/in.jsonl"
	assert_equal "$(alerts '.state' | tr -d '\n')" '"firing""resolved"'
	assert_err "longer than --max-line"
}

@test "rule: a key may be any JSON value; no key means one group" {
	rules '[{"name":"k","key":".k","when":".t > 1"},{"name":"one","when":".t > 1"}]'
	input '{"ts":1,"k":1,"t":2}' '{"ts":2,"k":"1","t":2}' '{"ts":3,"k":[1],"t":2}' '{"ts":4,"t":2}' '{"ts":5,"k":1.0,"t":2}'
	run_cce cce_rule -r "$R" "$IN"
	assert_equal "$(alerts 'select(.rule=="k") | .key' | tr '\n' ' ')" '1 "1" [1] null '
	assert_equal "$(alerts 'select(.rule=="one") | .key' | tr '\n' ' ')" 'null '
}

@test "rule: stdout closed early is not an error" {
	rules '{"name":"k","key":".i","when":".t > 1"}'
	for i in $(seq 1 20000); do echo "{\"ts\":$i,\"i\":$i,\"t\":2}"; done >"$BATS_TEST_TMPDIR/in.jsonl"
	run bash -c "set -o pipefail; cce-rule -r '$R' '$BATS_TEST_TMPDIR/in.jsonl' | head -1 >/dev/null"
	assert_success
}

@test "rule: a failed write on stdout is an I/O error, exit 74" {
	rules '{"name":"k","key":".i","when":".t > 1"}'
	input '{"ts":1,"i":1,"t":2}'
	run --separate-stderr bash -c "cce-rule -r '$R' '$IN' >/dev/full"
	assert_equal "$status" 74
	assert_err "cannot write to stdout: No space left on device"
}
