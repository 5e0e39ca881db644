#!/usr/bin/env bats
# cce-rule: what one expression may cost on one record: time
# (--eval-timeout), memory (--eval-memory) and, for regular expressions,
# oniguruma's limits (--max-overruns). A rule past a budget is disabled,
# said on stderr and in status; the other rules go on, the process never
# aborts and its state is saved.

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

# forty a's and a b: ^(a|a)*$ would take 2^40 steps to fail
BACKTRACK='.s | test(\"^(a|a)*$\")'
A40B=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab

@test "rule: a backtracking regular expression fails each record and its rule is disabled at the third overrun" {
	rules '[{"name":"re","when":"'"$BACKTRACK"'"},{"name":"ok","when":".t > 1"}]'
	for i in 1 2 3 4 5 6; do echo "{\"ts\":$i,\"t\":$((i % 2 * 5)),\"s\":\"$A40B\"}"; done >"$BATS_TEST_TMPDIR/in.jsonl"
	ST="$BATS_TEST_TMPDIR/st"
	# the time budget is out of the way (valgrind is slow): the limits
	# stop oniguruma well before any budget would
	run_cce cce_rule -r "$R" --eval-timeout 1h --status "$ST" "$BATS_TEST_TMPDIR/in.jsonl"
	assert_err "in.jsonl:1: rule 're': when: Regex failure: retry-limit-in-match over (overrun 1 of --max-overruns 3)"
	assert_err "in.jsonl:2: rule 're': when: Regex failure: retry-limit-in-match over (overrun 2 of --max-overruns 3)"
	why='when: regular expression ran past its budget 3 times (--max-overruns): Regex failure: retry-limit-in-match over'
	assert_err "in.jsonl:3: rule 're' disabled: $why"
	refute_err "in.jsonl:4"
	assert_equal "$(jq -c 'select(.rule=="re") | [.evaluated,.errors,.overruns,.disabled]' "$ST")" "[3,3,3,\"$why\"]"
	# the other rule saw every record
	assert_equal "$(alerts '[.rule,.state,.ts]' | tr -d '\n')" \
		'["ok","firing",1]["ok","resolved",2]["ok","firing",3]["ok","resolved",4]["ok","firing",5]["ok","resolved",6]'
	assert_equal "$(jq -c 'select(.rule=="ok") | [.evaluated,.overruns,.disabled]' "$ST")" '[6,0,false]'
}

@test "rule: --max-overruns 1 disables a rule at its first overrun; regular expressions within their limits run" {
	rules '[{"name":"re","when":"'"$BACKTRACK"'"},{"name":"fine","when":".s | test(\"^(a|a)*b$\")"}]'
	input "{\"ts\":1,\"s\":\"$A40B\"}" "{\"ts\":2,\"s\":\"ab\"}"
	run_cce cce_rule -r "$R" --max-overruns 1 --eval-timeout 1h --status "$BATS_TEST_TMPDIR/st" "$IN"
	assert_err "in.jsonl:1: rule 're' disabled: when: regular expression ran past its budget 1 times (--max-overruns)"
	assert_equal "$(alerts '[.rule,.state]' | tr -d '\n')" '["fine","firing"]'
}

@test "rule: a regular expression's backtracking stack is bounded by --eval-memory" {
	rules '[{"name":"st","when":".s | test(\"^(a|b)*$\")"}]'
	printf '{"ts":1,"s":"%s"}\n' "$(head -c 100000 /dev/zero | tr '\0' a)" >"$BATS_TEST_TMPDIR/in.jsonl"
	run_cce cce_rule -r "$R" --eval-memory 1MiB --eval-timeout 1h "$BATS_TEST_TMPDIR/in.jsonl"
	assert_err "rule 'st': when: Regex failure: match-stack limit over (overrun 1 of --max-overruns 3)"
	assert_equal "$output" ""
	run_cce cce_rule -r "$R" --eval-timeout 1h "$BATS_TEST_TMPDIR/in.jsonl"
	assert_equal "$(alerts .state)" '"firing"'
}

@test "rule: --max-overruns takes a count from 1; other values are usage errors" {
	rules '{"name":"a","when":".x"}'
	for bad in 0 -1 abc 1.5 ''; do
		run_cce -64 cce-rule -r "$R" --max-overruns "$bad"
		assert_equal "$output" ""
		assert_err "--max-overruns"
	done
	input '{"ts":1,"x":true}'
	run_cce cce_rule -r "$R" --max-overruns 1000 "$IN"
	assert_equal "$(alerts .state)" '"firing"'
}

@test "rule: SIGTERM during a long evaluation waits for it; a second SIGTERM exits at once with 143" {
	rules '[{"name":"slow","when":"(reduce range(0; 100000000000) as $i (0; .+1)) > 0"}]'
	mkfifo "$BATS_TEST_TMPDIR/in"
	# the writer keeps the input open: only a signal can end the run
	(echo '{"ts":1}'; sleep 60) >"$BATS_TEST_TMPDIR/in" &
	writer=$!
	cce-rule --eval-timeout 1h -r "$R" <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
	pid=$!
	# the evaluation has started once cce-rule has burnt some processor time
	for _ in $(seq 200); do
		[ "$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)" -ge 20 ] && break
		sleep 0.05
	done
	kill -TERM "$pid"
	sleep 0.5
	kill -0 "$pid"   # still finishing the record
	kill -TERM "$pid"
	st=0
	for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	wait "$pid" || st=$?
	kill "$writer" 2>/dev/null || true
	assert_equal "$st" 143
}
