#!/usr/bin/env bats
# cce-sched strategies: spread, binpack, leastloaded, roundrobin, cost and
# hash; prefer; --batch order; and the index giving the same placements as
# scoring every node.

load lib/common

GEN="$BATS_TEST_DIRNAME/sched/gen.py"

setup() {
	common_setup
	# three equal nodes: n1 busiest and dearest, n2 idlest and cheapest
	printf '%s\n' \
		'{"node":"n1","capacity":{"cpu":4,"mem_mb":4096},"load":{"cpu":2,"mem_mb":0},"cost":3,"state":"ready"}' \
		'{"node":"n2","capacity":{"cpu":4,"mem_mb":4096},"load":{"cpu":0.5,"mem_mb":0},"cost":1,"state":"ready"}' \
		'{"node":"n3","capacity":{"cpu":4,"mem_mb":4096},"load":{"cpu":1,"mem_mb":0},"cost":2,"state":"ready"}' \
		>"$BATS_TEST_TMPDIR/three.jsonl"
	THREE="$BATS_TEST_TMPDIR/three.jsonl"
	SIX=$(for i in 1 2 3 4 5 6; do echo "{\"task\":\"t$i\",\"cpu\":1}"; done)
}

# the nodes chosen, in output order, on one line
nodes_of() {
	grep -o '"node":"[^"]*"' <<<"$output" | cut -d'"' -f4 | tr '\n' ' ' | sed 's/ $//'
}

@test "strategies: spread keeps nodes balanced" {
	run_cce cce-sched --nodes "$THREE" <<<"$SIX"
	assert_equal "$(nodes_of | tr ' ' '\n' | sort | uniq -c | awk '{print $1}' | tr '\n' ' ')" "2 2 2 "
	# a bigger node takes proportionally more: spread is by share, not count
	printf '%s\n' '{"node":"big","capacity":{"cpu":8,"mem_mb":8192}}' \
		'{"node":"small","capacity":{"cpu":2,"mem_mb":2048}}' >"$BATS_TEST_TMPDIR/two.jsonl"
	run_cce cce-sched --nodes "$BATS_TEST_TMPDIR/two.jsonl" <<<"$SIX"
	assert_equal "$(nodes_of | tr ' ' '\n' | grep -c big)" 5
}

@test "strategies: binpack fills the fullest node that fits first" {
	run_cce cce-sched --nodes "$THREE" --strategy binpack <<<"$SIX"
	local n
	n=$(nodes_of)
	local first=${n%% *}
	# four on the first node (its capacity), then the next one
	assert_equal "$(tr ' ' '\n' <<<"$n" | grep -c "^$first$")" 4
	assert_equal "$(tr ' ' '\n' <<<"$n" | sort -u | wc -l)" 2
	assert_equal "$(tr ' ' '\n' <<<"$n" | head -4 | sort -u)" "$first"
}

@test "strategies: leastloaded follows reported load plus what it placed" {
	run_cce cce-sched --nodes "$THREE" --strategy leastloaded <<<"$SIX"
	# loads 2, 0.5, 1: n2 (0.5), n3 (1), n2 (1.5), then n1/n3 tie at 2;
	# score 1 - ((0.5 + 1) / 4 + 0 / 4096) / 2
	assert_equal "$(nodes_of | cut -d' ' -f1-3)" "n2 n3 n2"
	assert_line --index 0 '{"task":"t1","replica":0,"node":"n2","score":0.8125,"cpu":1}'
}

@test "strategies: roundrobin rotates in name order and skips nodes that do not fit" {
	run_cce cce-sched --nodes "$THREE" --strategy roundrobin <<<"$SIX"
	assert_equal "$(nodes_of)" "n1 n2 n3 n1 n2 n3"
	run_cce cce-sched --nodes "$THREE" --strategy roundrobin <<<'{"task":"a","cpu":1}
{"task":"big","cpu":4}
{"task":"b","cpu":1}
{"task":"c","cpu":1}'
	# the rotation goes on from the node after the last one used
	assert_equal "$(nodes_of)" "n1 n2 n3 n1"
	run_cce cce-sched --nodes "$THREE" --strategy roundrobin <<<'{"task":"a","cpu":4}
{"task":"b","cpu":4}
{"task":"c","cpu":1}
{"task":"d","cpu":1}'
	# c would be n3's turn; d skips the full n1 and n2
	assert_equal "$(nodes_of)" "n1 n2 n3 n3"
}

@test "strategies: cost picks the cheapest node that fits" {
	run_cce cce-sched --nodes "$THREE" --strategy cost <<<"$SIX"
	assert_equal "$(nodes_of)" "n2 n2 n2 n2 n3 n3"
	assert_line --index 0 '{"task":"t1","replica":0,"node":"n2","score":0.5,"cpu":1}'
}

@test "strategies: a task's own strategy field overrides --strategy" {
	run_cce cce-sched --nodes "$THREE" --strategy cost <<<'{"task":"a","cpu":1,"strategy":"roundrobin"}
{"task":"b","cpu":1}'
	assert_line --index 0 --partial '"node":"n1"'
	assert_line --index 1 --partial '"node":"n2"'
}

@test "strategies: hash keeps a key on its node whatever the task name or order" {
	run_cce cce-sched --nodes "$THREE" --strategy hash <<<'{"task":"a","key":"line-4"}'
	local home
	home=$(nodes_of)
	for name in b c d e; do
		run_cce cce-sched --nodes "$THREE" --strategy hash --balance 100 <<<"{\"task\":\"$name\",\"key\":\"line-4\"}"
		assert_equal "$(nodes_of)" "$home"
	done
	# without a key the task name is the key
	run_cce cce-sched --nodes "$THREE" --strategy hash <<<'{"task":"line-4"}'
	assert_equal "$(nodes_of)" "$home"
}

@test "strategies: hash moves only the keys of a node that dies or the keys a new node takes" {
	python3 "$GEN" nodes 50 --uniform >"$BATS_TEST_TMPDIR/n.jsonl"
	seq 1 2000 | sed 's/.*/{"task":"k&","cpu":0.001}/' >"$BATS_TEST_TMPDIR/t.jsonl"
	run_cce cce-sched --nodes "$BATS_TEST_TMPDIR/n.jsonl" --strategy hash --batch "$BATS_TEST_TMPDIR/t.jsonl"
	sort <<<"$output" | cut -d, -f1,3 >"$BATS_TEST_TMPDIR/before"
	# n00007 dies
	sed 's/"node":"n00007"\(.*\)"state":"ready"/"node":"n00007"\1"state":"dead"/' \
		"$BATS_TEST_TMPDIR/n.jsonl" >"$BATS_TEST_TMPDIR/dead.jsonl"
	run_cce cce-sched --nodes "$BATS_TEST_TMPDIR/dead.jsonl" --strategy hash --batch "$BATS_TEST_TMPDIR/t.jsonl"
	sort <<<"$output" | cut -d, -f1,3 >"$BATS_TEST_TMPDIR/after"
	local on_dead moved
	on_dead=$(grep -c '"n00007"' "$BATS_TEST_TMPDIR/before")
	moved=$(diff "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/after" | grep -c '^<')
	[ "$on_dead" -gt 0 ]
	# every key of the dead node moved; the load bound may push a few more
	[ "$moved" -ge "$on_dead" ]
	[ "$moved" -le $((on_dead * 12 / 10 + 2)) ] || { echo "moved $moved for $on_dead"; false; }
	# a node joins: the keys that move all go to it
	python3 "$GEN" nodes 51 --uniform >"$BATS_TEST_TMPDIR/more.jsonl"
	run_cce cce-sched --nodes "$BATS_TEST_TMPDIR/more.jsonl" --strategy hash --batch "$BATS_TEST_TMPDIR/t.jsonl"
	sort <<<"$output" | cut -d, -f1,3 >"$BATS_TEST_TMPDIR/added"
	local to_new
	moved=$(diff "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/added" | grep -c '^>')
	to_new=$(diff "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/added" | grep '^>' | grep -c '"n00050"')
	[ "$to_new" -gt 0 ]
	[ "$moved" -le $((to_new * 12 / 10 + 2)) ] || { echo "moved $moved, $to_new to the new node"; false; }
}

@test "strategies: hash --balance bounds the keys per node" {
	python3 "$GEN" nodes 20 --uniform >"$BATS_TEST_TMPDIR/n.jsonl"
	seq 1 2000 | sed 's/.*/{"task":"k&","cpu":0.001}/' >"$BATS_TEST_TMPDIR/t.jsonl"
	local b max
	for b in 1.1 1.25 2; do
		max=$(cce-sched --nodes "$BATS_TEST_TMPDIR/n.jsonl" --strategy hash --batch --balance "$b" \
			"$BATS_TEST_TMPDIR/t.jsonl" | grep -o '"node":"[^"]*"' | sort | uniq -c | sort -rn | awk 'NR==1{print $1}')
		# mean is 100 keys per node
		python3 -c "import math,sys; sys.exit(0 if $max <= math.ceil($b * 100) else 1)" ||
			{ echo "balance $b: max $max"; false; }
	done
	# streaming too, with the bound taken over the keys placed so far
	max=$(cce-sched --nodes "$BATS_TEST_TMPDIR/n.jsonl" --strategy hash \
		"$BATS_TEST_TMPDIR/t.jsonl" | grep -o '"node":"[^"]*"' | sort | uniq -c | sort -rn | awk 'NR==1{print $1}')
	[ "$max" -le 125 ]
}

@test "strategies: prefer is honoured when it can be, ignored when not" {
	run_cce cce-sched --nodes "$BATS_TEST_DIRNAME/sched/pool.jsonl" <<<'{"task":"p","replicas":3,"cpu":1,"prefer":{"zone":"bj-b"}}'
	# b2 (2 cpu) takes two, then the rest go where spread says
	assert_equal "$(nodes_of)" "b2 b2 b1"
	run_cce cce-sched --nodes "$BATS_TEST_DIRNAME/sched/pool.jsonl" <<<'{"task":"p","prefer":{"arch":"arm64","region":"sh"}}'
	assert_output --regexp '"node":"a[12]"'
	run_cce cce-sched --nodes "$BATS_TEST_DIRNAME/sched/pool.jsonl" <<<'{"task":"p","prefer":{"zone":"mars"}}'
	assert_output --partial '"node":'
}

@test "strategies: --batch places by priority, then size, then input order" {
	printf '%s\n' '{"node":"only","capacity":{"cpu":4,"mem_mb":4096}}' >"$BATS_TEST_TMPDIR/one.jsonl"
	run_cce cce-sched --nodes "$BATS_TEST_TMPDIR/one.jsonl" --batch <<<'{"task":"small","cpu":1}
{"task":"large","cpu":3}
{"task":"urgent","cpu":2,"priority":10}
{"task":"small2","cpu":1}'
	assert_line --index 0 --partial '"task":"urgent","replica":0,"node":"only"'
	assert_line --index 1 --partial '"task":"large","replica":0,"error":"unschedulable"'
	assert_line --index 2 --partial '"task":"small","replica":0,"node":"only"'
	assert_line --index 3 --partial '"task":"small2","replica":0,"node":"only"'
	# streaming takes them as they come
	run_cce cce-sched --nodes "$BATS_TEST_TMPDIR/one.jsonl" <<<'{"task":"small","cpu":1}
{"task":"large","cpu":3}
{"task":"urgent","cpu":2,"priority":10}'
	assert_line --index 2 --partial '"task":"urgent","replica":0,"error":"unschedulable"'
}

@test "strategies: binpack --batch uses few nodes (first fit decreasing)" {
	python3 "$GEN" nodes 100 --uniform >"$BATS_TEST_TMPDIR/n.jsonl"
	# 40 x (2 + 3 + 0.5 + 1.5 + 1.125) = 325 cpu: 41 nodes of 8 at best
	for i in $(seq 1 40); do
		echo "{\"task\":\"a$i\",\"cpu\":2}"; echo "{\"task\":\"b$i\",\"cpu\":3}"; echo "{\"task\":\"c$i\",\"cpu\":0.5}"
		echo "{\"task\":\"d$i\",\"cpu\":1.5}"; echo "{\"task\":\"e$i\",\"cpu\":1.125}"
	done >"$BATS_TEST_TMPDIR/t.jsonl"
	run_cce cce-sched --nodes "$BATS_TEST_TMPDIR/n.jsonl" --strategy binpack --batch "$BATS_TEST_TMPDIR/t.jsonl"
	refute_output --partial unschedulable
	local used
	used=$(grep -o '"node":"[^"]*"' <<<"$output" | sort -u | wc -l)
	[ "$used" -le 43 ] || { echo "binpack used $used nodes, bound 41"; false; }
	run_cce cce-sched --nodes "$BATS_TEST_TMPDIR/n.jsonl" --strategy spread "$BATS_TEST_TMPDIR/t.jsonl"
	[ "$(grep -o '"node":"[^"]*"' <<<"$output" | sort -u | wc -l)" -gt 90 ]
}

@test "strategies: the index places exactly as scoring every node does" {
	local seed s mode
	for seed in 1 2 3; do
		python3 "$GEN" nodes 120 --seed "$seed" --shapes 30 >"$BATS_TEST_TMPDIR/n.jsonl"
		python3 "$GEN" tasks 400 --seed "$seed" --constraints >"$BATS_TEST_TMPDIR/t.jsonl"
		for s in spread binpack leastloaded cost hash roundrobin; do
			for mode in "" --batch --preempt; do
				cce-sched --nodes "$BATS_TEST_TMPDIR/n.jsonl" -s "$s" --seed "$seed" $mode \
					"$BATS_TEST_TMPDIR/t.jsonl" >"$BATS_TEST_TMPDIR/fast"
				cce-sched --nodes "$BATS_TEST_TMPDIR/n.jsonl" -s "$s" --seed "$seed" $mode --exhaustive \
					"$BATS_TEST_TMPDIR/t.jsonl" >"$BATS_TEST_TMPDIR/slow"
				[ -s "$BATS_TEST_TMPDIR/fast" ]
				cmp "$BATS_TEST_TMPDIR/fast" "$BATS_TEST_TMPDIR/slow" ||
					{ echo "seed $seed strategy $s $mode differs"; diff "$BATS_TEST_TMPDIR/fast" "$BATS_TEST_TMPDIR/slow" | head; false; }
			done
		done
	done
}
