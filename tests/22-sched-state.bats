#!/usr/bin/env bats
# cce-sched with placements made before: --state, --reschedule, --preempt.

load lib/common

POOL="$BATS_TEST_DIRNAME/sched/pool.jsonl"
GEN="$BATS_TEST_DIRNAME/sched/gen.py"
CHECK="$BATS_TEST_DIRNAME/sched/check.py"

# the pool with node $1's state set to $2
pool_with() {
	sed "s/\"node\":\"$1\",\\(.*\\)\"state\":\"[a-z]*\"/\"node\":\"$1\",\\1\"state\":\"$2\"/" "$POOL"
}

@test "state: placed replicas use capacity and stay where they are" {
	run_cce cce-sched --nodes "$POOL" <<<'{"task":"web","replicas":2,"cpu":1,"selector":{"arch":"arm64"},"spread":"node"}'
	echo "$output" >"$BATS_TEST_TMPDIR/state"
	# a1 and a2 have 3 cpu left each: a 3.5 cpu arm64 task no longer fits
	run_cce cce-sched --nodes "$POOL" --state "$BATS_TEST_TMPDIR/state" <<<'{"task":"big","cpu":3.5,"selector":{"arch":"arm64"}}'
	assert_output '{"task":"big","replica":0,"error":"unschedulable","reason":"0/7 nodes available: 2 not ready, 1 cordoned, 3 insufficient cpu, 1 did not match selector arch=arm64"}'
	run_cce cce-sched --nodes "$POOL" <<<'{"task":"big","cpu":3.5,"selector":{"arch":"arm64"}}'
	assert_output --partial '"node":"a'
	# the same task again: its two replicas stay (printed again as they
	# were, so the output is the task's whole placement), only the new third
	# is placed, away from its siblings
	run_cce cce-sched --nodes "$POOL" --state "$BATS_TEST_TMPDIR/state" <<<'{"task":"web","replicas":3,"cpu":1,"spread":"node"}'
	assert_equal "${#lines[@]}" 3
	assert_line --index 0 "$(sed -n 1p "$BATS_TEST_TMPDIR/state")"
	assert_line --index 1 "$(sed -n 2p "$BATS_TEST_TMPDIR/state")"
	assert_line --index 2 --regexp '^\{"task":"web","replica":2,"node":"b[12]","addr":"[0-9.]*","score":[0-9.]*,"cpu":1,"spread":"node"\}$'
	run_cce cce-sched --nodes "$POOL" --state "$BATS_TEST_TMPDIR/state" <<<'{"task":"web","replicas":2,"cpu":1}'
	assert_output "$(cat "$BATS_TEST_TMPDIR/state")"
}

@test "state: a task scaled down removes its replicas over the count, and their room is free" {
	# b1 (8 cpu) and b2 (2 cpu) are bj's ready nodes: one replica each
	run_cce cce-sched --nodes "$POOL" <<<'{"task":"web","replicas":2,"cpu":2,"region":"bj","spread":"node"}'
	echo "$output" >"$BATS_TEST_TMPDIR/state"
	local gone
	gone=$(sed -n 2p "$BATS_TEST_TMPDIR/state" | jq -c '{event: "removed", task, replica, node, addr}')
	run_cce cce-sched --nodes "$POOL" --state "$BATS_TEST_TMPDIR/state" <<<'{"task":"web","replicas":1,"cpu":2,"region":"bj","spread":"node"}'
	# first what goes, then the whole placement that stays
	assert_equal "${#lines[@]}" 2
	assert_line --index 0 "$gone"
	assert_line --index 1 "$(sed -n 1p "$BATS_TEST_TMPDIR/state")"
	# the removed replica's cpu serves the next task at once: without it
	# one node of bj would be full and "more" could not spread over two
	run_cce cce-sched --nodes "$POOL" --state "$BATS_TEST_TMPDIR/state" \
		<<<'{"task":"more","replicas":2,"cpu":2,"region":"bj","spread":"node"}'
	assert_output --partial '"error"'
	run_cce cce-sched --nodes "$POOL" --state "$BATS_TEST_TMPDIR/state" \
		<<<$'{"task":"web","replicas":1,"cpu":2,"region":"bj"}\n{"task":"more","replicas":2,"cpu":2,"region":"bj","spread":"node"}'
	refute_output --partial '"error"'
	# the state with the removal appended reads as one replica: scaling up
	# again places a new one
	{ cat "$BATS_TEST_TMPDIR/state"; printf '%s\n' "$gone"; } >"$BATS_TEST_TMPDIR/log"
	run_cce cce-sched --nodes "$POOL" --state "$BATS_TEST_TMPDIR/log" <<<'{"task":"web","replicas":2,"cpu":2,"region":"bj","spread":"node"}'
	refute_output --partial '"event"'
	assert_equal "${#lines[@]}" 2
}

@test "state: with --batch, a replica removed by a scale-down is not rescheduled first" {
	run_cce cce-sched --nodes "$POOL" <<<'{"task":"web","replicas":2,"cpu":2,"region":"bj","spread":"node"}'
	echo "$output" >"$BATS_TEST_TMPDIR/state"
	local on
	on=$(sed -n 2p "$BATS_TEST_TMPDIR/state" | jq -r .node)
	pool_with "$on" dead >"$BATS_TEST_TMPDIR/pool"
	run_cce cce-sched --batch --nodes "$BATS_TEST_TMPDIR/pool" --state "$BATS_TEST_TMPDIR/state" --reschedule \
		<<<'{"task":"web","replicas":1,"cpu":2,"region":"bj","spread":"node"}'
	assert_equal "${#lines[@]}" 2
	assert_line --index 0 "$(sed -n 2p "$BATS_TEST_TMPDIR/state" | jq -c '{event: "removed", task, replica, node, addr}')"
	assert_line --index 1 "$(sed -n 1p "$BATS_TEST_TMPDIR/state")"
	refute_output --partial '"moved"'
	refute_output --partial '"error"'
}

@test "state: hash --batch with kept replicas holds --balance over all of them" {
	local d=$BATS_TEST_TMPDIR
	python3 "$GEN" nodes 10 --uniform >"$d/nodes"
	python3 -c "
for i in range(200): print('{\"task\":\"k%d\",\"cpu\":0.001,\"mem_mb\":1}' % i)" >"$d/k200"
	head -100 "$d/k200" >"$d/k100"
	cce-sched --nodes "$d/nodes" --strategy hash --batch "$d/k100" >"$d/state"
	run_cce cce-sched --nodes "$d/nodes" --strategy hash --batch --state "$d/state" "$d/k200"
	refute_output --partial '"error"'
	# 200 keys on 10 nodes: at most 1.25 x 20 on any node (kept keys were
	# counted twice in the bound before, which allowed 37)
	run bash -c "jq -r .node <<<'$output' | sort | uniq -c | sort -n | tail -1 | awk '{ print \$1 }'"
	[ "$output" -le 25 ]
}

@test "state: moved and evicted events in the state file are applied" {
	printf '%s\n' '{"task":"a","replica":0,"node":"b2","cpu":2}' \
		'{"event":"moved","task":"a","replica":0,"from":"b2","node":"b1"}' \
		'{"task":"b","replica":0,"node":"b2","cpu":2}' \
		'{"event":"evicted","task":"b","replica":0,"node":"b2","by":"x"}' \
		'{"task":"c","replica":0,"error":"unschedulable","reason":"whatever"}' \
		'{"event":"deployed","task":"a","replica":0}' >"$BATS_TEST_TMPDIR/state"
	# b2 (2 cpu) is free again: a moved away, b was evicted
	run_cce cce-sched --nodes "$POOL" --state "$BATS_TEST_TMPDIR/state" <<<'{"task":"x","cpu":2,"region":"bj","strategy":"cost"}'
	assert_output --partial '"node":"b2"'
}

@test "state: bad state lines are rejected with the field named" {
	printf '%s\n' '{"task":"a","replica":0,"node":"b2","cpu":-2}' '{"task":"a","node":"b2"}' \
		'{"event":"moved","task":"zz","replica":0,"node":"b1"}' 'oops' \
		'{"task":"ok","replica":0,"node":"b2","cpu":2}' >"$BATS_TEST_TMPDIR/state"
	run_cce -65 cce-sched --nodes "$POOL" --state "$BATS_TEST_TMPDIR/state" <<<'{"task":"x","cpu":1,"region":"bj","strategy":"cost"}'
	# the good line still counts: b2 is full, so x goes to b1
	assert_output --partial '"node":"b1"'
	assert_equal "$stderr" "cce-sched: $BATS_TEST_TMPDIR/state:1: cpu: negative value -2
cce-sched: $BATS_TEST_TMPDIR/state:2: replica: missing
cce-sched: $BATS_TEST_TMPDIR/state:3: task: no placement of 'zz' replica 0 before this moved event
cce-sched: $BATS_TEST_TMPDIR/state:4: invalid JSON at byte 1: invalid literal 'oops'"
}

@test "reschedule: exactly the dead node's replicas move, nothing else" {
	python3 "$GEN" nodes 40 --uniform >"$BATS_TEST_TMPDIR/n.jsonl"
	python3 "$GEN" tasks 100 --seed 3 >"$BATS_TEST_TMPDIR/t.jsonl"
	cce-sched --nodes "$BATS_TEST_TMPDIR/n.jsonl" "$BATS_TEST_TMPDIR/t.jsonl" >"$BATS_TEST_TMPDIR/state"
	local victim=n00013
	[ "$(grep -c "\"node\":\"$victim\"" "$BATS_TEST_TMPDIR/state")" -gt 3 ]
	sed "s/\"node\":\"$victim\"\\(.*\\)\"state\":\"ready\"/\"node\":\"$victim\"\\1\"state\":\"dead\"/" \
		"$BATS_TEST_TMPDIR/n.jsonl" >"$BATS_TEST_TMPDIR/n2.jsonl"
	run_cce cce-sched --nodes "$BATS_TEST_TMPDIR/n2.jsonl" --state "$BATS_TEST_TMPDIR/state" --reschedule </dev/null
	# the set of (task, replica) moved is the set that was on the victim
	diff <(grep "\"node\":\"$victim\"" "$BATS_TEST_TMPDIR/state" | grep -o '"task":"[^"]*","replica":[0-9]*' | sort) \
		<(grep -o '"task":"[^"]*","replica":[0-9]*' <<<"$output" | sort)
	refute_output --regexp '"from":"n000(0[0-9]|1[0-24-9]|[23][0-9])"'
	assert_equal "$(grep -c '"event":"moved"' <<<"$output")" "${#lines[@]}"
	refute_output --partial "\"node\":\"$victim\""
	# the moves honour every constraint, and with them appended to the
	# state a second run moves nothing
	echo "$output" >"$BATS_TEST_TMPDIR/moves"
	python3 "$CHECK" "$BATS_TEST_TMPDIR/n2.jsonl" "$BATS_TEST_TMPDIR/t.jsonl" "$BATS_TEST_TMPDIR/moves" \
		--state "$BATS_TEST_TMPDIR/state"
	cat "$BATS_TEST_TMPDIR/state" "$BATS_TEST_TMPDIR/moves" >"$BATS_TEST_TMPDIR/log"
	run_cce cce-sched --nodes "$BATS_TEST_TMPDIR/n2.jsonl" --state "$BATS_TEST_TMPDIR/log" --reschedule </dev/null
	assert_output ''
	# without --reschedule nothing moves at all
	run_cce cce-sched --nodes "$BATS_TEST_TMPDIR/n2.jsonl" --state "$BATS_TEST_TMPDIR/state" </dev/null
	assert_output ''
}

@test "reschedule: a gone node's replicas move; one that cannot move is explained" {
	run_cce cce-sched --nodes "$POOL" <<<'{"task":"web","replicas":4,"cpu":0.5,"spread":"node"}
{"task":"job","replicas":3,"cpu":0.25,"selector":{"arch":"arm64"}}'
	echo "$output" >"$BATS_TEST_TMPDIR/state"
	local gone
	gone=$(grep '"task":"job"' "$BATS_TEST_TMPDIR/state" | head -1 | grep -o '"node":"a[12]"' | cut -d'"' -f4)
	grep -v "\"node\":\"$gone\"" "$POOL" >"$BATS_TEST_TMPDIR/pool"
	run_cce cce-sched --nodes "$BATS_TEST_TMPDIR/pool" --state "$BATS_TEST_TMPDIR/state" --reschedule </dev/null
	# web's replica there has nowhere to go: its siblings hold every other ready node
	assert_output --regexp "\"task\":\"web\",\"replica\":[0-3],\"from\":\"$gone\",\"error\":\"unschedulable\",\"reason\":\"0/6 nodes available: 2 not ready, 1 cordoned, 3 conflict with spread node\""
	assert_output --regexp "\\{\"event\":\"moved\",\"task\":\"job\",\"replica\":[0-2],\"from\":\"$gone\",\"node\":\"a[12]\""
	refute_output --regexp "\"node\":\"$gone\""
}

@test "reschedule: a node that shrank sheds its lowest priorities; a relabelled node its mismatches" {
	printf '%s\n' '{"task":"hi","replica":0,"node":"b1","cpu":3,"priority":50}' \
		'{"task":"lo","replica":0,"node":"b1","cpu":3,"priority":1}' \
		'{"task":"mid","replica":0,"node":"b1","cpu":2,"priority":20}' \
		'{"task":"arm","replica":0,"node":"a2","cpu":1,"selector":{"arch":"arm64"}}' >"$BATS_TEST_TMPDIR/state"
	# b1 down to 6 cpu and a2 relabelled amd64
	sed -e '/"node":"b1"/s/"cpu":8,/"cpu":6,/' -e '/"node":"a2"/s/"arch":"arm64"/"arch":"amd64"/' \
		"$POOL" >"$BATS_TEST_TMPDIR/pool"
	run_cce cce-sched --nodes "$BATS_TEST_TMPDIR/pool" --state "$BATS_TEST_TMPDIR/state" --reschedule </dev/null
	assert_equal "${#lines[@]}" 2
	assert_line --index 0 --regexp '^\{"event":"moved","task":"lo","replica":0,"from":"b1","node":"(a1|a2|b2)"'
	assert_line --index 1 --regexp '^\{"event":"moved","task":"arm","replica":0,"from":"a2","node":"a1"'
}

@test "preempt: evicts only priorities at least 10 lower, and prints what it did" {
	printf '%s\n' '{"node":"p1","capacity":{"cpu":4,"mem_mb":1000}}' >"$BATS_TEST_TMPDIR/one.jsonl"
	local fill='{"task":"low","replicas":4,"cpu":1,"priority":6}'
	run_cce cce-sched --nodes "$BATS_TEST_TMPDIR/one.jsonl" --preempt <<<"$fill
{\"task\":\"hi\",\"cpu\":1,\"priority\":15}"
	assert_line --index 4 '{"task":"hi","replica":0,"error":"unschedulable","reason":"0/1 nodes available: 1 insufficient cpu"}'
	run_cce cce-sched --nodes "$BATS_TEST_TMPDIR/one.jsonl" --preempt <<<"$fill
{\"task\":\"hi\",\"cpu\":1,\"priority\":16}"
	assert_line --index 4 '{"event":"evicted","task":"low","replica":3,"node":"p1","by":"hi"}'
	assert_line --index 5 '{"task":"hi","replica":0,"node":"p1","score":0.5,"cpu":1,"priority":16}'
	assert_line --index 6 '{"task":"low","replica":3,"error":"unschedulable","reason":"0/1 nodes available: 1 insufficient cpu"}'
	# without --preempt nothing is evicted
	run_cce cce-sched --nodes "$BATS_TEST_TMPDIR/one.jsonl" <<<"$fill
{\"task\":\"hi\",\"cpu\":1,\"priority\":100}"
	refute_output --partial evicted
}

@test "preempt: lowest priority first, fewest evictions, evicted replicas placed elsewhere" {
	printf '%s\n' '{"node":"p1","capacity":{"cpu":4,"mem_mb":1000}}' \
		'{"node":"p2","capacity":{"cpu":4,"mem_mb":1000}}' >"$BATS_TEST_TMPDIR/two.jsonl"
	printf '%s\n' '{"task":"s","replica":0,"node":"p1","cpu":1,"priority":0}' \
		'{"task":"s","replica":1,"node":"p1","cpu":1,"priority":0}' \
		'{"task":"m","replica":0,"node":"p1","cpu":2,"priority":5}' \
		'{"task":"big","replica":0,"node":"p2","cpu":3,"priority":1}' \
		'{"task":"pad","replica":0,"node":"p2","cpu":1,"priority":90}' >"$BATS_TEST_TMPDIR/state"
	# needs 3 cpu: p1 would lose two (s, s: lowest first, then m is not needed),
	# p2 only one (big)
	run_cce cce-sched --nodes "$BATS_TEST_TMPDIR/two.jsonl" --state "$BATS_TEST_TMPDIR/state" --preempt <<<'{"task":"urgent","cpu":3,"priority":50}'
	assert_line --index 0 '{"event":"evicted","task":"big","replica":0,"node":"p2","by":"urgent"}'
	assert_line --index 1 --partial '{"task":"urgent","replica":0,"node":"p2"'
	assert_line --index 2 '{"task":"big","replica":0,"error":"unschedulable","reason":"0/2 nodes available: 2 insufficient cpu"}'
	# on p1 alone: s and s go (priority 0), m (5) stays
	head -1 "$BATS_TEST_TMPDIR/two.jsonl" >"$BATS_TEST_TMPDIR/one.jsonl"
	run_cce cce-sched --nodes "$BATS_TEST_TMPDIR/one.jsonl" --state "$BATS_TEST_TMPDIR/state" --preempt <<<'{"task":"u2","cpu":2,"priority":50}'
	assert_line --index 0 --regexp '^\{"event":"evicted","task":"s","replica":[01],"node":"p1","by":"u2"\}$'
	assert_line --index 1 --regexp '^\{"event":"evicted","task":"s","replica":[01],"node":"p1","by":"u2"\}$'
	assert_line --index 2 --partial '{"task":"u2","replica":0,"node":"p1"'
	refute_output --partial '"task":"m"'
	# needing 3: s, s, then m are taken lowest first, but with m out one s
	# is enough, so the other s is given back: two evictions, not three
	run_cce cce-sched --nodes "$BATS_TEST_TMPDIR/one.jsonl" --state "$BATS_TEST_TMPDIR/state" --preempt <<<'{"task":"u3","cpu":3,"priority":50}'
	assert_equal "$(grep -c '"event":"evicted"' <<<"$output")" 2
	assert_line --index 0 --regexp '^\{"event":"evicted","task":"s","replica":[01],"node":"p1"'
	assert_line --index 1 '{"event":"evicted","task":"m","replica":0,"node":"p1","by":"u3"}'
	# an evicted replica that fits elsewhere is placed there
	printf '%s\n' '{"task":"x","replica":0,"node":"p1","cpu":4,"priority":0}' >"$BATS_TEST_TMPDIR/s2"
	run_cce cce-sched --nodes "$BATS_TEST_TMPDIR/two.jsonl" --state "$BATS_TEST_TMPDIR/s2" --preempt <<<'{"task":"y","cpu":4,"priority":10,"prefer":{"zone":"none"}}
{"task":"z","cpu":4,"priority":20}'
	assert_line --index 0 --partial '{"task":"y","replica":0,"node":"p2"'
	assert_line --index 1 '{"event":"evicted","task":"x","replica":0,"node":"p1","by":"z"}'
	assert_line --index 2 --partial '{"task":"z","replica":0,"node":"p1"'
	assert_line --index 3 '{"task":"x","replica":0,"error":"unschedulable","reason":"0/2 nodes available: 2 insufficient cpu"}'
}

@test "--state-out: the placement the run leaves, each replica as printed, by task then replica" {
	local d=$BATS_TEST_TMPDIR
	run_cce cce-sched --nodes "$POOL" --state-out "$d/out" <<<'{"task":"web","replicas":2,"cpu":1,"spread":"node"}
{"task":"api","cpu":1,"image":"api:2"}
{"task":"huge","cpu":1000}'
	assert_equal "${#lines[@]}" 4
	# the unschedulable replica runs nowhere
	assert_equal "$(cat "$d/out")" "${lines[2]}
${lines[0]}
${lines[1]}"
	# read back as --state it is the same placement: printed again as it
	# is, and written again byte for byte
	run_cce cce-sched --nodes "$POOL" --state "$d/out" --state-out "$d/out2" <<<'{"task":"api","cpu":1,"image":"api:2"}
{"task":"web","replicas":2,"cpu":1,"spread":"node"}'
	assert_output "$(cat "$d/out")"
	cmp "$d/out" "$d/out2"
	# --state and --state-out may be one file; a run placing nothing keeps it
	cce-sched --nodes "$POOL" --state "$d/out" --state-out "$d/out" </dev/null
	cmp "$d/out" "$d/out2"
}

@test "--state-out applies the run's scale-downs and moves, as the appended log would" {
	local d=$BATS_TEST_TMPDIR
	cce-sched --nodes "$POOL" >"$d/state" <<<'{"task":"web","replicas":2,"cpu":2,"region":"bj","spread":"node"}
{"task":"job","replicas":3,"cpu":0.25,"selector":{"arch":"arm64"}}'
	local dead
	dead=$(grep -m1 '"task":"job"' "$d/state" | jq -r .node)
	pool_with "$dead" dead >"$d/pool"
	run_cce cce-sched --batch --nodes "$d/pool" --state "$d/state" --reschedule --state-out "$d/out" <<<'{"task":"web","replicas":1,"cpu":2,"region":"bj","spread":"node"}'
	assert_output --partial '"event":"removed","task":"web","replica":1'
	assert_output --partial "\"event\":\"moved\",\"task\":\"job\",\"replica\":0,\"from\":\"$dead\""
	# job's three replicas and web's first, none on the dead node, each
	# with the address of the node it is on now
	run jq -r '"\(.task)/\(.replica)"' "$d/out"
	assert_output $'job/0\njob/1\njob/2\nweb/0'
	run jq -r --arg d "$dead" 'select(.node == $d)' "$d/out"
	assert_output ''
	run jq -r -s --slurpfile p "$d/pool" '($p | map({key: .node, value: .addr}) | from_entries) as $a | all(.[]; .addr == $a[.node])' "$d/out"
	assert_output true
	# the same as what the state with this run's events appended gives
	cat "$d/state" >"$d/log"
	cce-sched --batch --nodes "$d/pool" --state "$d/state" --reschedule <<<'{"task":"web","replicas":1,"cpu":2,"region":"bj","spread":"node"}' >>"$d/log"
	cce-sched --nodes "$d/pool" --state "$d/log" --state-out "$d/from-log" </dev/null
	cmp "$d/out" "$d/from-log"
}

@test "--state-out leaves out an evicted replica that found no place, keeps the one that took it" {
	printf '%s\n' '{"node":"p1","capacity":{"cpu":4,"mem_mb":1000}}' >"$BATS_TEST_TMPDIR/one.jsonl"
	run_cce cce-sched --nodes "$BATS_TEST_TMPDIR/one.jsonl" --preempt --state-out "$BATS_TEST_TMPDIR/out" \
		<<<'{"task":"low","replicas":4,"cpu":1,"priority":6}
{"task":"hi","cpu":1,"priority":16}'
	assert_line --index 4 '{"event":"evicted","task":"low","replica":3,"node":"p1","by":"hi"}'
	run jq -r '"\(.task)/\(.replica)"' "$BATS_TEST_TMPDIR/out"
	assert_output $'hi/0\nlow/0\nlow/1\nlow/2'
	assert_equal "$(head -n1 "$BATS_TEST_TMPDIR/out")" '{"task":"hi","replica":0,"node":"p1","score":0.5,"cpu":1,"priority":16}'
}

@test "--state-out: written after rejected lines (65), not after a failed run; 74 when it cannot be written" {
	local d=$BATS_TEST_TMPDIR
	echo keep >"$d/out"
	run_cce -74 cce-sched --nodes "$d/no-pool" --state-out "$d/out" <<<'{"task":"web"}'
	assert_equal "$(cat "$d/out")" keep
	run_cce -65 cce-sched --nodes "$POOL" --state-out "$d/out" <<<'{"task":"web"}
{"task":"bad","cpu":-1}'
	assert_equal "$(cat "$d/out")" "$output"
	run_cce -74 cce-sched --nodes "$POOL" --state-out "$d/no-dir/out" <<<'{"task":"web"}'
	assert_line --partial '"task":"web","replica":0,"node":'
	assert_regex "$stderr" "^cce-sched: cannot create '.*/no-dir/out\\.tmp\\.[0-9]+': No such file or directory\$"
	refute_output --partial '"error"'
}
