#!/usr/bin/env bats
# cce-sched properties over generated pools and workloads, checked by an
# independent replay (tests/sched/check.py): no node over capacity, every
# constraint honoured, every replica placed or explained with a reason that
# counts every node once, and an unschedulable replica really had no node.

load lib/common

GEN="$BATS_TEST_DIRNAME/sched/gen.py"
CHECK="$BATS_TEST_DIRNAME/sched/check.py"

# prop SEED NODES TASKS OPTIONS...: generate, place, check
prop() {
	local seed=$1 nn=$2 nt=$3
	shift 3
	python3 "$GEN" nodes "$nn" --seed "$seed" --shapes 40 >"$BATS_TEST_TMPDIR/n.jsonl"
	python3 "$GEN" tasks "$nt" --seed "$seed" --constraints >"$BATS_TEST_TMPDIR/t.jsonl"
	run_cce cce-sched --nodes "$BATS_TEST_TMPDIR/n.jsonl" --seed "$seed" "$@" "$BATS_TEST_TMPDIR/t.jsonl"
	echo "$output" >"$BATS_TEST_TMPDIR/out.jsonl"
	local extra=()
	# with --batch or --preempt the order or evictions change what "fit at
	# that moment" means; the other properties still hold
	case " $* " in *" --batch "* | *" --preempt "*) extra=(--no-feasible) ;; esac
	python3 "$CHECK" "$BATS_TEST_TMPDIR/n.jsonl" "$BATS_TEST_TMPDIR/t.jsonl" "$BATS_TEST_TMPDIR/out.jsonl" "${extra[@]}"
}

@test "properties: streaming, every strategy, a tight pool" {
	local seed s seeds=(11 12 13)
	# the sanitizer pass looks for memory errors, not more of the space
	[ -n "${CCE_SAN_PASS:-}" ] && seeds=(11)
	for seed in "${seeds[@]}"; do
		for s in spread binpack leastloaded roundrobin hash cost; do
			prop "$seed" 30 120 --strategy "$s"
		done
	done
}

@test "properties: --batch and --preempt, every strategy" {
	local seed s seeds=(21 22)
	[ -n "${CCE_SAN_PASS:-}" ] && seeds=(21)
	for seed in "${seeds[@]}"; do
		for s in spread binpack leastloaded roundrobin hash cost; do
			prop "$seed" 30 120 --strategy "$s" --batch
			prop "$seed" 30 120 --strategy "$s" --preempt
			grep -q '"event":"evicted"' "$BATS_TEST_TMPDIR/out.jsonl"
		done
	done
}

@test "properties: a roomy pool places everything but what its constraints forbid" {
	prop 31 200 300
	# capacity is plentiful: an unschedulable replica is one whose region
	# no node has, or whose spread ran out of zones or regions
	run grep unschedulable "$BATS_TEST_TMPDIR/out.jsonl"
	[ "${#lines[@]}" -gt 0 ]
	local l
	for l in "${lines[@]}"; do
		[[ "$l" == *"not in region"* || "$l" == *"conflict with spread"* ]] || { echo "$l"; false; }
	done
}

@test "properties: reschedule after nodes die keeps every constraint" {
	local seed
	for seed in 41 42; do
		python3 "$GEN" nodes 40 --seed "$seed" --shapes 40 >"$BATS_TEST_TMPDIR/n.jsonl"
		python3 "$GEN" tasks 80 --seed "$seed" --constraints >"$BATS_TEST_TMPDIR/t.jsonl"
		cce-sched --nodes "$BATS_TEST_TMPDIR/n.jsonl" "$BATS_TEST_TMPDIR/t.jsonl" >"$BATS_TEST_TMPDIR/state" || true
		# every fifth ready node dies
		awk '/"state":"ready"/ && ++n % 5 == 0 { sub(/"state":"ready"/, "\"state\":\"dead\"") } 1' \
			"$BATS_TEST_TMPDIR/n.jsonl" >"$BATS_TEST_TMPDIR/n2.jsonl"
		run_cce cce-sched --nodes "$BATS_TEST_TMPDIR/n2.jsonl" --state "$BATS_TEST_TMPDIR/state" --reschedule </dev/null
		echo "$output" >"$BATS_TEST_TMPDIR/moves"
		grep -q '"event":"moved"' "$BATS_TEST_TMPDIR/moves"
		python3 "$CHECK" "$BATS_TEST_TMPDIR/n2.jsonl" "$BATS_TEST_TMPDIR/t.jsonl" "$BATS_TEST_TMPDIR/moves" \
			--state "$BATS_TEST_TMPDIR/state"
	done
}
