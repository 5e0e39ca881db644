#!/usr/bin/env bats
# cce-rule: limit with exact suppressed counts, absent (deadman) firing and
# resolving, anomaly scores against series computed by hand.

load lib/common
load rule/helpers

teardown() {
	[ -z "${PID:-}" ] || kill -9 "$PID" 2>/dev/null || true
}

@test "rule: limit lets max alerts per span out and carries the suppressed count on the next one" {
	rules '{"name":"l","key":".k","when":".t > 1","limit":{"max":2,"per":"1m"}}'
	input '{"ts":0,"k":1,"t":2}' '{"ts":1000,"k":2,"t":2}' '{"ts":2000,"k":3,"t":2}' '{"ts":3000,"k":4,"t":2}' \
	      '{"ts":59999,"k":5,"t":2}' '{"ts":60000,"k":6,"t":2}' '{"ts":61000,"k":7,"t":2}' '{"ts":62000,"k":8,"t":2}'
	run_cce cce_rule -r "$R" --status "$BATS_TEST_TMPDIR/st" "$IN"
	assert_equal "$(alerts '[.key,.ts,.suppressed]' | tr -d '\n')" '[1,0,null][2,1000,null][6,60000,3][7,61000,null]'
	assert_equal "$(jq -c '[.fired,.suppressed]' "$BATS_TEST_TMPDIR/st")" '[8,4]'
}

@test "rule: limit counts repeats too" {
	rules '{"name":"l","when":".t > 1","repeat":"1s","limit":{"max":3,"per":"10s"}}'
	input $(for i in $(seq 0 12); do echo "{\"ts\":$((i * 1000)),\"t\":2}"; done)
	run_cce cce_rule -r "$R" "$IN"
	assert_equal "$(alerts '[.ts,.suppressed]' | tr -d '\n')" '[0,null][1000,null][2000,null][10000,7][11000,null][12000,null]'
}

@test "rule: absent fires when a known key went quiet for the span, and resolves when it speaks again" {
	rules '{"name":"dead","key":".d","absent":"2m","severity":"warning","message":"\"\\(.key) silent since \\(.last_seen)\""}'
	input '{"ts":0,"d":"a"}' '{"ts":0,"d":"b"}' '{"ts":100000,"d":"a"}' '{"ts":119999,"d":"a"}' \
	      '{"ts":120000,"d":"a"}' '{"ts":130000,"d":"a"}' '{"ts":140000,"d":"b"}' '{"ts":245000,"d":"a"}'
	run_cce cce_rule -r "$R" "$IN"
	assert_equal "$(alerts '[.key,.state,.ts,.since,.message]' | tr -d '\n')" \
		'["b","firing",120000,120000,"b silent since 0"]["b","resolved",140000,120000,"b silent since 140000"]'
	# there is no record to show: the alerts carry the key and when it was last seen
	assert_equal "$(alerts '.record' | tr -d '\n')" '{"key":"b","last_seen":0}{"key":"b","last_seen":140000}'
}

@test "rule: absent with a when counts only the records where it holds as signs of life" {
	rules '{"name":"dead","key":".d","absent":"1m","when":".ok"}'
	input '{"ts":0,"d":"a","ok":true}' '{"ts":30000,"d":"a","ok":false}' '{"ts":60000,"d":"a","ok":false}'
	run_cce cce_rule -r "$R" "$IN"
	assert_equal "$(alerts '[.state,.ts]')" '["firing",60000]'
}

@test "rule: absent repeats while the key stays quiet" {
	rules '{"name":"dead","key":".d","absent":"1m","repeat":"1m"}'
	input '{"ts":0,"d":"a"}' '{"ts":0,"d":"b"}' '{"ts":100000,"d":"b"}' '{"ts":185000,"d":"b"}'
	run_cce cce_rule -r "$R" "$IN"
	assert_equal "$(alerts 'select(.key=="a") | [.state,.ts]' | tr -d '\n')" '["firing",60000]["firing",120000]["firing",180000]'
	assert_equal "$(alerts 'select(.key=="b") | [.state,.ts]' | tr -d '\n')" '["firing",60000]["resolved",100000]["firing",160000]["resolved",185000]'
}

@test "rule: absent fires on the wall clock while the input is idle" {
	rules '{"name":"dead","key":".d","absent":"1s"}'
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	cce-rule -r "$R" <"$BATS_TEST_TMPDIR/fifo" >"$BATS_TEST_TMPDIR/out" &
	PID=$!
	exec 5>"$BATS_TEST_TMPDIR/fifo"
	echo "{\"ts\":$(($(date +%s%N) / 1000000)),\"d\":\"a\"}" >&5
	wait_for 10 grep -q '"state":"firing"' "$BATS_TEST_TMPDIR/out"
	exec 5>&-
	wait "$PID"
	PID=
	assert_equal "$(jq -c '[.key,.state]' "$BATS_TEST_TMPDIR/out")" '["a","firing"]'
}

@test "rule: zscore against the last n values, population standard deviation" {
	rules '{"name":"z","key":".d","anomaly":{"method":"zscore","value":".v","n":5,"threshold":2,"warmup":5}}'
	input '{"ts":1,"d":"a","v":10}' '{"ts":2,"d":"a","v":11}' '{"ts":3,"d":"a","v":9}' '{"ts":4,"d":"a","v":10}' \
	      '{"ts":5,"d":"a","v":10}' '{"ts":6,"d":"a","v":20}' '{"ts":7,"d":"a","v":10}'
	run_cce cce_rule -r "$R" "$IN"
	# by hand: history 10 11 9 10 10, mean 10, sd sqrt(0.4): (20-10)/sqrt(0.4);
	# then history 11 9 10 10 20, mean 12, sd sqrt(16.4): |10-12|/sqrt(16.4)
	assert_equal "$(alerts '[.state,.ts,.value]' | tr -d '\n')" '["firing",6,20]["resolved",7,10]'
	assert_equal "$(alerts '(.score - (if .state == "firing" then 10/(0.4|sqrt) else 2/(16.4|sqrt) end)) | fabs < 1e-9' | tr -d '\n')" 'truetrue'
}

@test "rule: no anomaly is reported during warmup" {
	rules '{"name":"z","anomaly":{"method":"zscore","value":".v","n":10,"threshold":2,"warmup":6}}'
	input '{"ts":1,"v":10}' '{"ts":2,"v":11}' '{"ts":3,"v":9}' '{"ts":4,"v":10}' '{"ts":5,"v":10}' '{"ts":6,"v":100}'
	run_cce cce_rule -r "$R" "$IN"
	assert_equal "$output" ""
}

@test "rule: mad uses the modified z-score 0.6745 |x - median| / MAD" {
	rules '{"name":"m","anomaly":{"method":"mad","value":".v","n":5,"threshold":3.5,"warmup":5}}'
	input '{"ts":1,"v":10}' '{"ts":2,"v":12}' '{"ts":3,"v":9}' '{"ts":4,"v":11}' '{"ts":5,"v":8}' '{"ts":6,"v":20}' '{"ts":7,"v":15}'
	run_cce cce_rule -r "$R" "$IN"
	# median 10, deviations 0 2 1 1 2, MAD 1: 0.6745*10 = 6.745 > 3.5;
	# then history 12 9 11 8 20: median 11, deviations 1 2 0 3 9, MAD 2: 0.6745*4/2 = 1.349
	assert_equal "$(alerts '[.state,.ts,.value]' | tr -d '\n')" '["firing",6,20]["resolved",7,15]'
	assert_equal "$(alerts '(.score - (if .state == "firing" then 6.745 else 1.349 end)) | fabs < 1e-9' | tr -d '\n')" 'truetrue'
}

@test "rule: ewma scores against the exponentially weighted mean and variance" {
	rules '{"name":"e","anomaly":{"method":"ewma","value":".v","alpha":0.5,"threshold":3,"warmup":3}}'
	input '{"ts":1,"v":10}' '{"ts":2,"v":12}' '{"ts":3,"v":10}' '{"ts":4,"v":14}'
	run_cce cce_rule -r "$R" "$IN"
	# mean 10 -> 11 -> 10.5, variance 0 -> 1 -> 0.75: |14-10.5|/sqrt(0.75)
	assert_equal "$(alerts '[.state,.ts,.value]')" '["firing",4,14]'
	assert_equal "$(alerts '(.score - (3.5/(0.75|sqrt))) | fabs < 1e-9')" true
}

@test "rule: an anomaly history bounded by time forgets older values" {
	rules '{"name":"z","anomaly":{"method":"zscore","value":".v","window":"10s","threshold":2,"warmup":3}}'
	input '{"ts":0,"v":10}' '{"ts":1000,"v":11}' '{"ts":2000,"v":9}' '{"ts":20000,"v":50}'
	run_cce cce_rule -r "$R" "$IN"
	# at 20000 the three earlier values are older than 10s: warming up again
	assert_equal "$output" ""
}

@test "rule: anomaly with a when needs both" {
	rules '{"name":"z","anomaly":{"method":"zscore","value":".v","n":5,"threshold":2,"warmup":5},"when":".armed"}'
	input '{"ts":1,"v":10}' '{"ts":2,"v":11}' '{"ts":3,"v":9}' '{"ts":4,"v":10}' '{"ts":5,"v":10}' '{"ts":6,"v":20}'
	run_cce cce_rule -r "$R" "$IN"
	assert_equal "$output" ""
}

@test "rule: after a file, an idle pipe moves event time on from the moment it went idle" {
	rules '{"name":"dead","key":".d","absent":"5s"}'
	echo "{\"ts\":$(($(date +%s%N) / 1000000)),\"d\":\"a\"}" >"$BATS_TEST_TMPDIR/first.jsonl"
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	cce-rule -r "$R" "$BATS_TEST_TMPDIR/first.jsonl" - <"$BATS_TEST_TMPDIR/fifo" >"$BATS_TEST_TMPDIR/out" &
	PID=$!
	exec 5>"$BATS_TEST_TMPDIR/fifo"
	sleep 2
	# not at once: the file's last record is the watermark, not the epoch
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" ""
	wait_for 15 grep -q '"state":"firing"' "$BATS_TEST_TMPDIR/out"
	exec 5>&-
	wait "$PID"
	PID=
}
