#!/usr/bin/env bats
# cce-rule: checkpointed state, restarts, kill -9, --status, SIGUSR1, SIGHUP.

load lib/common
load rule/helpers

MIXED_RULES="$BATS_TEST_DIRNAME/rule/mixed-rules.json"
MIXED="$BATS_TEST_DIRNAME/rule/mixed.jsonl"

teardown() {
	[ -z "${PID:-}" ] || kill -9 "$PID" 2>/dev/null || true
}

@test "rule: a run split in batches over --state gives the alerts of one uninterrupted run" {
	run_cce cce_rule -r "$MIXED_RULES" "$MIXED"
	whole="$output"
	[ "$(printf '%s\n' "$whole" | jq -r .rule | sort -u | wc -l)" -eq 8 ] # every kind of rule fired
	S="$BATS_TEST_TMPDIR/state"
	split -l 97 "$MIXED" "$BATS_TEST_TMPDIR/part."
	: >"$BATS_TEST_TMPDIR/batches"
	for p in "$BATS_TEST_TMPDIR"/part.*; do
		run_cce cce_rule -r "$MIXED_RULES" --state "$S" "$p"
		[ -z "$output" ] || printf '%s\n' "$output" >>"$BATS_TEST_TMPDIR/batches"
	done
	assert_equal "$(cat "$BATS_TEST_TMPDIR/batches")" "$whole"
	assert_equal "$(stat -c %a "$S")" 600
	jq -e '.format == "cce-rule-state"' "$S"
}

@test "rule: kill -9 after a checkpoint, then a restart, gives the alerts of one uninterrupted run" {
	run_cce cce_rule -r "$MIXED_RULES" "$MIXED"
	whole="$output"
	S="$BATS_TEST_TMPDIR/state"
	head -n 230 "$MIXED" >"$BATS_TEST_TMPDIR/a"
	tail -n +231 "$MIXED" >"$BATS_TEST_TMPDIR/b"
	last=$(tail -1 "$BATS_TEST_TMPDIR/a" | jq .ts)
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	cce-rule -r "$MIXED_RULES" --state "$S" --checkpoint 100ms <"$BATS_TEST_TMPDIR/fifo" >"$BATS_TEST_TMPDIR/out1" &
	PID=$!
	exec 5>"$BATS_TEST_TMPDIR/fifo"
	cat "$BATS_TEST_TMPDIR/a" >&5
	# idle now: the checkpoint that covers every record sent comes within a second or two
	wait_for 10 bash -c "[ \"\$(jq .watermark '$S' 2>/dev/null)\" = '$last' ]"
	kill -9 "$PID"
	wait "$PID" || true
	exec 5>&-
	PID=
	run_cce cce_rule -r "$MIXED_RULES" --state "$S" "$BATS_TEST_TMPDIR/b"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out1"; printf '%s\n' "$output")" "$whole"
}

@test "rule: kill -9 at any moment leaves a whole state file" {
	S="$BATS_TEST_TMPDIR/state"
	for i in $(seq 1 40); do cat "$MIXED"; done >"$BATS_TEST_TMPDIR/big"
	for delay in 0.05 0.1 0.15 0.2 0.3; do
		cce-rule -r "$MIXED_RULES" --state "$S" --checkpoint 1ms "$BATS_TEST_TMPDIR/big" >/dev/null 2>&1 &
		PID=$!
		sleep "$delay"
		kill -9 "$PID" 2>/dev/null || true
		wait "$PID" || true
		PID=
		[ ! -e "$S" ] || jq -e '.format == "cce-rule-state"' "$S" >/dev/null
	done
	# and a run picks it up
	run_cce cce_rule -r "$MIXED_RULES" --state "$S" /dev/null
}

@test "rule: a changed rule starts afresh, an unchanged one keeps its state" {
	S="$BATS_TEST_TMPDIR/state"
	rules '[{"name":"a","when":".t > 1"},{"name":"b","when":".t > 1"}]'
	input '{"ts":1,"t":2}'
	run_cce cce_rule -r "$R" --state "$S" "$IN"
	assert_equal "$(alerts '[.rule,.state]' | tr -d '\n')" '["a","firing"]["b","firing"]'
	rules '[{"name":"a","when":".t > 1"},{"name":"b","when":".t > 0"}]'
	input '{"ts":2,"t":2}'
	run_cce cce_rule -r "$R" --state "$S" "$IN"
	# a was firing already; b changed, so it fires anew
	assert_equal "$(alerts '[.rule,.state]' | tr -d '\n')" '["b","firing"]'
}

@test "rule: a state file that is not ours is refused, exit 74" {
	rules '{"name":"a","when":".t > 1"}'
	echo '{"ts":1,' >"$BATS_TEST_TMPDIR/state"
	run_cce -74 cce_rule -r "$R" --state "$BATS_TEST_TMPDIR/state" /dev/null
	assert_err "cannot restore state: '$BATS_TEST_TMPDIR/state' is not a state file"
	echo '{"a":1}' >"$BATS_TEST_TMPDIR/state"
	run_cce -74 cce_rule -r "$R" --state "$BATS_TEST_TMPDIR/state" /dev/null
	assert_err "is not a cce-rule state file"
}

@test "rule: two runs over one state are refused, not interleaved" {
	rules '{"name":"a","when":".t > 1"}'
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	cce-rule -r "$R" --state "$BATS_TEST_TMPDIR/state" <"$BATS_TEST_TMPDIR/fifo" &
	PID=$!
	exec 5>"$BATS_TEST_TMPDIR/fifo"
	wait_for 5 test -e "$BATS_TEST_TMPDIR/state.lock"
	sleep 0.2
	run_cce -75 cce_rule -r "$R" --state "$BATS_TEST_TMPDIR/state" /dev/null
	assert_err "is locked by pid $PID"
	exec 5>&-
	wait "$PID"
	PID=
}

@test "rule: state that cannot be written is an I/O error after the alerts went out" {
	[ "$(id -u)" = 0 ] || skip "needs root to mount a small tmpfs"
	D="$BATS_TEST_TMPDIR/full"
	mkdir "$D"
	mount -t tmpfs -o size=8k tmpfs "$D" 2>/dev/null || skip "cannot mount tmpfs here"
	rules '{"name":"a","key":".k","when":".t > 1"}'
	seq 1 3000 | jq -c '{ts:., k:("key-number-" + tostring), t:2}' >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr cce-rule -r "$R" --state "$D/state" "$BATS_TEST_TMPDIR/in"
	umount "$D"
	assert_equal "$status" 74
	assert_equal "$(printf '%s\n' "$output" | wc -l)" 3000
	assert_err "cannot checkpoint state: "
	assert_err "No space left on device"
}

@test "rule: --status writes one record per rule with the counters" {
	rules '[{"name":"a","key":".k","when":".t > 1","limit":{"max":1,"per":"1h"}},{"name":"b","match":".k == \"x\"","when":".t.u"}]'
	input '{"ts":1,"k":"x","t":2}' '{"ts":2,"k":"y","t":2}' '{"ts":3,"k":"x","t":0}' '{"ts":4,"k":"z","t":0}' '{"ts":5,"k":"w","t":3}'
	run_cce cce_rule -r "$R" --status "$BATS_TEST_TMPDIR/st" "$IN"
	assert_equal "$(jq -c 'select(.rule=="a") | [.evaluated,.matched,.fired,.resolved,.suppressed,.errors,.late,.firing_keys,.last_fired,.disabled]' "$BATS_TEST_TMPDIR/st")" \
		'[5,5,3,1,3,0,0,2,5,false]'
	assert_equal "$(jq -c 'select(.rule=="b") | [.evaluated,.matched,.errors]' "$BATS_TEST_TMPDIR/st")" '[5,2,2]'
	# the one alert that went out
	assert_equal "$(alerts '[.rule,.key,.state]')" '["a","x","firing"]'
}

@test "rule: SIGUSR1 prints the status records on stderr, SIGTERM checkpoints and stops" {
	rules '{"name":"a","when":".t > 1"}'
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	cce-rule -r "$R" --state "$BATS_TEST_TMPDIR/state" <"$BATS_TEST_TMPDIR/fifo" >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
	PID=$!
	exec 5>"$BATS_TEST_TMPDIR/fifo"
	echo '{"ts":1,"t":2}' >&5
	wait_for 5 grep -q firing "$BATS_TEST_TMPDIR/out"
	kill -USR1 "$PID"
	wait_for 5 grep -q '"rule":"a","evaluated":1' "$BATS_TEST_TMPDIR/err"
	kill -TERM "$PID"
	st=0
	wait "$PID" || st=$?
	PID=
	exec 5>&-
	assert_equal "$st" 143
	jq -e '.watermark == 1' "$BATS_TEST_TMPDIR/state"
}

@test "rule: SIGHUP reloads the rules, keeping the state of unchanged ones; a broken file keeps the old rules" {
	R="$BATS_TEST_TMPDIR/rules.json"
	echo '[{"name":"a","when":".t > 1"}]' >"$R"
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	cce-rule -r "$R" <"$BATS_TEST_TMPDIR/fifo" >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
	PID=$!
	exec 5>"$BATS_TEST_TMPDIR/fifo"
	echo '{"ts":1,"t":2}' >&5
	wait_for 5 grep -q '"state":"firing"' "$BATS_TEST_TMPDIR/out"
	echo '[{"name":"a","when":".t > 1"},{"name":"b","when":".t > 5"}]' >"$R"
	kill -HUP "$PID"
	wait_for 5 grep -q 'rules reloaded' "$BATS_TEST_TMPDIR/err"
	echo '{"ts":2,"t":6}' >&5
	wait_for 5 grep -q '"rule":"b"' "$BATS_TEST_TMPDIR/out"
	echo '[{"name":"a","when":".t >>> 1"}]' >"$R"
	kill -HUP "$PID"
	wait_for 5 grep -q 'reload failed: keeping the rules in use' "$BATS_TEST_TMPDIR/err"
	echo '{"ts":3,"t":0}' >&5
	exec 5>&-
	wait "$PID"
	PID=
	run jq -c '[.rule,.state,.ts,.since]' "$BATS_TEST_TMPDIR/out"
	# a kept its firing episode over the reload: no second firing, one resolution
	assert_equal "$(printf '%s\n' "$output" | tr -d '\n')" \
		'["a","firing",1,1]["b","firing",2,2]["a","resolved",3,1]["b","resolved",3,2]'
	grep -q "rule 'a': when: jq: error" "$BATS_TEST_TMPDIR/err"
}

@test "rule: --status and --state are written every --checkpoint while the run goes on" {
	rules '{"name":"a","when":".t > 1"}'
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	cce-rule -r "$R" --checkpoint 200ms --status "$BATS_TEST_TMPDIR/st" --state "$BATS_TEST_TMPDIR/state" \
		<"$BATS_TEST_TMPDIR/fifo" >/dev/null &
	PID=$!
	exec 5>"$BATS_TEST_TMPDIR/fifo"
	echo '{"ts":1,"t":2}' >&5
	wait_for 10 grep -q '"evaluated":1,' "$BATS_TEST_TMPDIR/st"
	jq -e '.watermark == 1' "$BATS_TEST_TMPDIR/state"
	echo '{"ts":2,"t":2}' >&5
	wait_for 10 grep -q '"evaluated":2,' "$BATS_TEST_TMPDIR/st"
	exec 5>&-
	wait "$PID"
	PID=
}
