#!/usr/bin/env bats
# cce-sched: the record formats, every filter and its reason string, bad
# input per the contract, determinism and --explain.

load lib/common

POOL="$BATS_TEST_DIRNAME/sched/pool.jsonl"
GEN="$BATS_TEST_DIRNAME/sched/gen.py"

# sched TASK-JSON [options]: place one task line on the fixture pool
sched() {
	local task=$1
	shift
	run_cce cce-sched --nodes "$POOL" "$@" <<<"$task"
}

@test "sched: a placement has task, replica, node, addr, score and the task's fields" {
	sched '{"task":"detector","cpu":0.5,"mem_mb":256,"image":"det:1","region":"bj","selector":{"arch":"amd64"}}'
	# b1 (8 cpu) is less allocated after placement than b2 (2 cpu):
	# 1 - (0.5/8 + 256/8192 + 0/20000) / 3
	assert_output '{"task":"detector","replica":0,"node":"b1","addr":"10.0.2.1","score":0.9688,"cpu":0.5,"mem_mb":256,"image":"det:1","region":"bj","selector":{"arch":"amd64"}}'
}

@test "sched: one record per replica, numbered from 0; replicas 0 prints nothing" {
	sched '{"task":"web","replicas":3}'
	assert_equal "${#lines[@]}" 3
	for i in 0 1 2; do
		assert_line --index "$i" --partial "{\"task\":\"web\",\"replica\":$i,\"node\":"
	done
	sched '{"task":"none","replicas":0}'
	assert_output ''
}

@test "sched: capacity filter counts cpu, mem and disk separately" {
	sched '{"task":"t","cpu":10}'
	assert_output '{"task":"t","replica":0,"error":"unschedulable","reason":"0/7 nodes available: 2 not ready, 1 cordoned, 4 insufficient cpu"}'
	sched '{"task":"t","mem_mb":9000}'
	assert_output --partial '"reason":"0/7 nodes available: 2 not ready, 1 cordoned, 4 insufficient mem"'
	# b2 reports no disk at all
	sched '{"task":"t","disk_mb":15000}'
	assert_output --partial '"node":"b1"'
	sched '{"task":"t","disk_mb":30000}'
	assert_output --partial '"reason":"0/7 nodes available: 2 not ready, 1 cordoned, 4 insufficient disk"'
}

@test "sched: reasons are counted per filter in filter order, each node once" {
	sched '{"task":"t","cpu":6,"selector":{"arch":"arm64"}}'
	assert_output --partial '"reason":"0/7 nodes available: 2 not ready, 1 cordoned, 3 insufficient cpu, 1 did not match selector arch=arm64"'
	sched '{"task":"t","cpu":6,"region":"sh"}'
	assert_output --partial '"reason":"0/7 nodes available: 2 not ready, 1 cordoned, 3 insufficient cpu, 1 not in region sh"'
	sched '{"task":"t","selector":{"arch":"arm64","gpu":"yes"}}'
	assert_output --partial '"reason":"0/7 nodes available: 2 not ready, 1 cordoned, 4 did not match selector arch=arm64,gpu=yes"'
}

@test "sched: region and selector filters place only on matching nodes" {
	sched '{"task":"t","replicas":6,"region":"sh"}'
	assert_equal "${#lines[@]}" 6
	refute_output --partial '"node":"b'
	sched '{"task":"t","replicas":6,"selector":{"arch":"amd64"}}'
	assert_equal "${#lines[@]}" 6
	refute_output --partial '"node":"a'
}

@test "sched: anti-affinity spreads replicas over nodes, zones or regions" {
	sched '{"task":"t","replicas":5,"spread":"node"}'
	assert_equal "$(grep -o '"node":"[a-z0-9]*"' <<<"$output" | sort -u | wc -l)" 4
	assert_line --index 4 '{"task":"t","replica":4,"error":"unschedulable","reason":"0/7 nodes available: 2 not ready, 1 cordoned, 4 conflict with spread node"}'
	sched '{"task":"t","replicas":5,"spread":"zone"}'
	assert_line --index 4 --partial '"reason":"0/7 nodes available: 2 not ready, 1 cordoned, 4 conflict with spread zone"'
	sched '{"task":"t","replicas":3,"spread":"region"}'
	assert_line --index 0 --partial '"node":"a1"'
	assert_line --index 1 --partial '"node":"b2"'
	assert_line --index 2 '{"task":"t","replica":2,"error":"unschedulable","reason":"0/7 nodes available: 2 not ready, 1 cordoned, 4 conflict with spread region"}'
}

@test "sched: burstable and besteffort tasks also count reported load" {
	# a1 has 3 of 4 cpu in use by its own load
	sched '{"task":"t","replicas":2,"cpu":2,"selector":{"arch":"arm64"},"spread":"node"}'
	assert_line --index 0 --partial '"node":"a1"'
	assert_line --index 1 --partial '"node":"a2"'
	for q in burstable besteffort; do
		sched "{\"task\":\"t\",\"replicas\":2,\"cpu\":2,\"qos\":\"$q\",\"selector\":{\"arch\":\"arm64\"},\"spread\":\"node\"}"
		assert_line --index 0 --partial '"node":"a2"'
		assert_line --index 1 --partial '"reason":"0/7 nodes available: 2 not ready, 1 cordoned, 2 insufficient cpu, 2 did not match selector arch=arm64"'
	done
}

@test "sched: cordoned, suspect and dead nodes never receive work" {
	local tasks
	tasks=$(for i in $(seq 1 40); do echo "{\"task\":\"t$i\",\"cpu\":0.1}"; done)
	run_cce cce-sched --nodes "$POOL" <<<"$tasks"
	assert_equal "${#lines[@]}" 40
	refute_output --regexp '"node":"(c1|d1|s1)"'
}

@test "sched: an empty node file or one without a ready node explains every replica" {
	: >"$BATS_TEST_TMPDIR/empty.jsonl"
	run_cce cce-sched --nodes "$BATS_TEST_TMPDIR/empty.jsonl" <<<'{"task":"t","replicas":2}'
	assert_line --index 0 '{"task":"t","replica":0,"error":"unschedulable","reason":"0/0 nodes available: no nodes in the pool"}'
	assert_line --index 1 '{"task":"t","replica":1,"error":"unschedulable","reason":"0/0 nodes available: no nodes in the pool"}'
	grep -v '"ready"' "$POOL" >"$BATS_TEST_TMPDIR/down.jsonl"
	run_cce cce-sched --nodes "$BATS_TEST_TMPDIR/down.jsonl" <<<'{"task":"t"}'
	assert_output '{"task":"t","replica":0,"error":"unschedulable","reason":"0/3 nodes available: 2 not ready, 1 cordoned"}'
}

@test "sched: bad task lines are rejected with the field named, the rest placed, exit 65" {
	printf '%s\n' '{"task":"a","cpu":-1}' '{"replicas":2}' '{"task":"b","cpu":"1"}' \
		'{"task":"c","spread":"rack"}' '{"task":"d","strategy":"fastest"}' '{"task":"e"}' \
		'{"task":"e"}' 'nope' '{"task":"f","selector":{"arch":1}}' '{"task":"g","replicas":1.5}' \
		'{"task":"h","qos":"gold"}' '{"task":"i","priority":"high"}' '[1]' '{"task":"ok"}' \
		>"$BATS_TEST_TMPDIR/tasks.jsonl"
	run_cce -65 cce-sched --nodes "$POOL" --rejects "$BATS_TEST_TMPDIR/rej" <"$BATS_TEST_TMPDIR/tasks.jsonl"
	assert_equal "${#lines[@]}" 2
	assert_line --index 0 --partial '{"task":"e","replica":0,"node":'
	assert_line --index 1 --partial '{"task":"ok","replica":0,"node":'
	assert_equal "$stderr" "cce-sched: stdin:1: cpu: negative value -1
cce-sched: stdin:2: task: missing
cce-sched: stdin:3: cpu: expected a number, got string
cce-sched: stdin:4: spread: unknown value 'rack' (use node, zone or region)
cce-sched: stdin:5: strategy: unknown strategy 'fastest'
cce-sched: stdin:7: task: duplicate task 'e'
cce-sched: stdin:8: invalid JSON at byte 1: invalid literal 'nope'
cce-sched: stdin:9: selector.arch: expected a string, got number
cce-sched: stdin:10: replicas: expected an integer from 0 to 1000000
cce-sched: stdin:11: qos: unknown value 'gold' (use guaranteed, burstable or besteffort)
cce-sched: stdin:12: priority: expected an integer, got string
cce-sched: stdin:13: expected a JSON object, found array"
	# every rejected line kept byte for byte
	assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/rej")" 12
	assert_equal "$(sed -n 7p "$BATS_TEST_TMPDIR/rej")" nope
}

@test "sched: bad node lines are rejected with the field named; good nodes still used" {
	local f="$BATS_TEST_TMPDIR/nodes.jsonl"
	printf '%s\n' '{"node":"x","capacity":{"cpu":-1,"mem_mb":1}}' '{"node":"y"}' \
		'{"node":"z1","capacity":{"cpu":"4","mem_mb":1}}' '{"capacity":{"cpu":4,"mem_mb":1}}' \
		'{"node":"ok","capacity":{"cpu":4,"mem_mb":1024},"labels":{"arch":"arm64"}}' \
		'{"node":"ok","capacity":{"cpu":4,"mem_mb":1024}}' \
		'{"node":"l","capacity":{"cpu":4,"mem_mb":1024},"labels":{"arch":true}}' \
		'{"node":"m","capacity":{"cpu":4,"mem_mb":1024},"load":{"cpu":-2}}' \
		'{"node":"n","capacity":{"cpu":4}}' '{"node":"s","capacity":{"cpu":4,"mem_mb":1},"state":7}' >"$f"
	run_cce -65 cce-sched --nodes "$f" <<<'{"task":"t"}'
	assert_output '{"task":"t","replica":0,"node":"ok","score":1}'
	assert_equal "$stderr" "cce-sched: $f:1: capacity.cpu: negative value -1
cce-sched: $f:2: capacity: missing
cce-sched: $f:3: capacity.cpu: expected a number, got string
cce-sched: $f:4: node: missing
cce-sched: $f:6: node: duplicate node 'ok'
cce-sched: $f:7: labels.arch: expected a string, got boolean
cce-sched: $f:8: load.cpu: negative value -2
cce-sched: $f:9: capacity.mem_mb: missing
cce-sched: $f:10: state: expected a string, got number"
}

@test "sched: a node or task name, a label or a selector holding U+0000 is rejected, not cut short" {
	local f="$BATS_TEST_TMPDIR/nodes.jsonl"
	printf '%s\n' '{"node":"a\u0000b","capacity":{"cpu":4,"mem_mb":1024}}' \
		'{"node":"c","capacity":{"cpu":4,"mem_mb":1024},"labels":{"k\u0000x":"v"}}' \
		'{"node":"d","capacity":{"cpu":4,"mem_mb":1024},"labels":{"k":"v\u0000w"}}' \
		'{"node":"a","capacity":{"cpu":4,"mem_mb":1024},"labels":{"k":"v"}}' >"$f"
	run_cce -65 cce-sched --nodes "$f" --rejects "$BATS_TEST_TMPDIR/rej" <<<'{"task":"t\u0000x"}
{"task":"u","selector":{"k":"v\u0000"}}
{"task":"t","selector":{"k":"v"}}'
	# the real "a" is placed, not refused as a duplicate of "a\u0000b"
	assert_output '{"task":"t","replica":0,"node":"a","score":1,"selector":{"k":"v"}}'
	assert_equal "$stderr" "cce-sched: $f:1: node: contains a NUL character
cce-sched: $f:2: labels: a key contains a NUL character
cce-sched: $f:3: labels.k: contains a NUL character
cce-sched: stdin:1: task: contains a NUL character
cce-sched: stdin:2: selector.k: contains a NUL character"
	assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/rej")" 5
}

@test "sched: --strict stops at the first bad line; --max-line rejects long lines" {
	run_cce -65 cce-sched --nodes "$POOL" --strict <<<'{"task":"a"}
{"task":"b","cpu":-1}
{"task":"c"}'
	assert_output --partial '"task":"a"'
	refute_output --partial '"task":"c"'
	[[ "$stderr" == *"stdin:2: cpu: negative value -1"* ]]
	local long
	long="{\"task\":\"long\",\"pad\":\"$(head -c 300 /dev/zero | tr '\0' x)\"}"
	run_cce -65 cce-sched --nodes "$POOL" --max-line 200 <<<"$long
{\"task\":\"short\"}"
	assert_output --partial '"task":"short"'
	refute_output --partial '"task":"long"'
}

@test "sched: a --rejects file that cannot be written names itself and the error, exit 74" {
	# a task line rejected for a field, an invalid line, a bad node line
	run_cce -74 cce-sched --nodes "$POOL" --rejects /dev/full <<<'{"task":"a","cpu":-1}
{"task":"b"}'
	assert_output ''
	assert_equal "$stderr" "cce-sched: stdin:1: cpu: negative value -1
cce-sched: cannot write rejects file '/dev/full': No space left on device"
	run_cce -74 cce-sched --nodes "$POOL" --rejects /dev/full <<<'nope
{"task":"b"}'
	assert_output ''
	assert_equal "$stderr" "cce-sched: stdin:1: invalid JSON at byte 1: invalid literal 'nope'
cce-sched: cannot write rejects file '/dev/full': No space left on device"
	printf '%s\n' '{"node":"x"}' >"$BATS_TEST_TMPDIR/nodes.jsonl"
	run_cce -74 cce-sched --nodes "$BATS_TEST_TMPDIR/nodes.jsonl" --rejects /dev/full <<<'{"task":"b"}'
	assert_equal "$stderr" "cce-sched: $BATS_TEST_TMPDIR/nodes.jsonl:1: capacity: missing
cce-sched: cannot write rejects file '/dev/full': No space left on device"
	# --strict stops with its own words, and keeps the line
	run_cce -65 cce-sched --nodes "$POOL" --strict --rejects "$BATS_TEST_TMPDIR/rej" <<<'{"task":"a","cpu":-1}'
	assert_equal "$stderr" "cce-sched: stdin:1: cpu: negative value -1
cce-sched: stopping at the first rejected line (--strict)"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/rej")" '{"task":"a","cpu":-1}'
}

@test "sched: usage errors exit 64 without output" {
	run_cce -64 cce-sched <<<'{"task":"a"}'
	assert_output ''
	assert_equal "$stderr" "cce-sched: missing --nodes FILE
Try 'cce-sched --help' for more information."
	run_cce -64 cce-sched --nodes "$POOL" --strategy fastest <<<'{"task":"a"}'
	assert_output ''
	[[ "$stderr" == *"--strategy: unknown strategy 'fastest'"* ]]
	run_cce -64 cce-sched --nodes "$POOL" --balance 0.5 </dev/null
	run_cce -64 cce-sched --nodes "$POOL" --seed -1 </dev/null
	run_cce -64 cce-sched --nodes "$POOL" --reschedule </dev/null
	[[ "$stderr" == *"--reschedule needs --state FILE"* ]]
	run_cce -64 cce-sched --nodes "$POOL" --bogus </dev/null
}

@test "sched: a missing node file is an I/O error (74); so is a full stdout" {
	run_cce -74 cce-sched --nodes "$BATS_TEST_TMPDIR/nope.jsonl" <<<'{"task":"a"}'
	assert_output ''
	[[ "$stderr" == *"cannot open '$BATS_TEST_TMPDIR/nope.jsonl'"* ]]
	run_cce -74 bash -c "cce-sched --nodes '$POOL' <<<'{\"task\":\"a\"}' >/dev/full"
}

@test "sched: a closed stdout stops quietly with status 0" {
	seq 1 50000 | sed 's/.*/{"task":"t&"}/' >"$BATS_TEST_TMPDIR/t.jsonl"
	run_cce bash -c "cce-sched --nodes '$POOL' '$BATS_TEST_TMPDIR/t.jsonl' | head -1; exit \${PIPESTATUS[0]}"
	assert_output --partial '"task":"t1"'
}

@test "sched: same input gives the same bytes; --seed only changes ties" {
	python3 "$GEN" tasks 200 --seed 7 --constraints >"$BATS_TEST_TMPDIR/t.jsonl"
	python3 "$GEN" nodes 60 --seed 7 >"$BATS_TEST_TMPDIR/n.jsonl"
	local a b
	a=$(cce-sched --nodes "$BATS_TEST_TMPDIR/n.jsonl" <"$BATS_TEST_TMPDIR/t.jsonl" | sha256sum)
	b=$(cce-sched --nodes "$BATS_TEST_TMPDIR/n.jsonl" <"$BATS_TEST_TMPDIR/t.jsonl" | sha256sum)
	assert_equal "$a" "$b"
	# identical empty nodes: every choice is a tie, so the seed picks
	python3 "$GEN" nodes 20 --uniform >"$BATS_TEST_TMPDIR/u.jsonl"
	local seen=() s
	for s in 1 2 3 4 5; do
		seen+=("$(cce-sched --nodes "$BATS_TEST_TMPDIR/u.jsonl" --seed "$s" <<<'{"task":"x"}')")
		assert_equal "${seen[-1]}" "$(cce-sched --nodes "$BATS_TEST_TMPDIR/u.jsonl" --seed "$s" <<<'{"task":"x"}')"
	done
	[ "$(printf '%s\n' "${seen[@]}" | sort -u | wc -l)" -gt 1 ]
}

@test "sched: --explain adds candidates, rejections and the top three scores" {
	sched '{"task":"t","cpu":1,"region":"sh"}' --explain
	# a1 and a2 tie (load does not count for a guaranteed task): the seed decides
	assert_output '{"task":"t","replica":0,"node":"a1","addr":"10.0.1.1","score":0.9167,"candidates":2,"rejected":{"not ready":2,"cordoned":1,"not in region sh":2},"top":[{"node":"a1","score":0.9167},{"node":"a2","score":0.9167}],"cpu":1,"region":"sh"}'
	sched '{"task":"t","cpu":0.5}' --explain --strategy cost
	assert_output --partial '"candidates":4,"rejected":{"not ready":2,"cordoned":1},"top":[{"node":"b2","score":0.6667},{"node":"a1","score":0.5},{"node":"a2","score":0.3333}]'
}

@test "sched: --help lists every option; -V prints the version" {
	run_cce cce-sched --help
	assert_line --index 0 'usage: cce-sched --nodes FILE [options] [TASKS...]'
	for o in --nodes --strategy --balance --batch --state --reschedule --preempt --explain --seed --exhaustive --rejects --strict --max-line; do
		assert_output --partial -- "$o"
	done
	run_cce cce-sched -V
	assert_output --regexp '^cce-sched [0-9]'
}

@test "sched: a placement is written while the input is idle; SIGTERM ends the run" {
	mkfifo "$BATS_TEST_TMPDIR/in"
	cce-sched --nodes "$POOL" <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/out" &
	local pid=$! rc=0
	exec 7>"$BATS_TEST_TMPDIR/in"
	echo '{"task":"a"}' >&7
	wait_for 5 grep -q '"task":"a"' "$BATS_TEST_TMPDIR/out"
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	exec 7>&-
	assert_equal "$rc" 143
	assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/out")" 1
}
