#!/usr/bin/env bats
# cce-sched --strategy hash at the scale of a fleet (issue 18): every key
# placed within capacity and the --balance bound, and a node leaving or
# joining moves few keys beyond its own share, from scratch and with
# --state. Counts on a fixed pool and key set, never times.

load lib/common

GEN="$BATS_TEST_DIRNAME/sched/gen.py"

setup() {
	common_setup
	# 200 equal nodes and 20,000 keys: 100 keys per node, as in the issue's
	# 1,000 nodes and 100,000 keys, at a fifth of the cost
	python3 "$GEN" nodes 201 --uniform >"$BATS_TEST_TMPDIR/n201"
	head -200 "$BATS_TEST_TMPDIR/n201" >"$BATS_TEST_TMPDIR/n200"
	grep -v '"node":"n00100"' "$BATS_TEST_TMPDIR/n200" >"$BATS_TEST_TMPDIR/n199"
	python3 -c '
for i in range(20000): print("{\"task\":\"t%d\",\"key\":\"line-%d\",\"cpu\":0.05,\"mem_mb\":64}" % (i, i))' \
		>"$BATS_TEST_TMPDIR/keys"
}

# check NODES TASKS OUT BALANCE: every task placed once, no node over its
# capacity, none over ceil(BALANCE * keys / ready nodes) (equal cpu: equal
# weights); prints the keys per node, most first
check() {
	python3 - "$@" <<'EOF'
import collections, json, math, sys
nodes = {n["node"]: n for n in map(json.loads, open(sys.argv[1]))}
tasks = {t["task"]: t for t in map(json.loads, open(sys.argv[2]))}
out = [json.loads(l) for l in open(sys.argv[3])]
balance = float(sys.argv[4])
assert sorted(r["task"] for r in out) == sorted(tasks), "not every task placed once"
assert all("node" in r for r in out), "unplaced: %s" % [r for r in out if "node" not in r][:3]
used = collections.defaultdict(lambda: [0.0, 0.0])
for r in out:
    used[r["node"]][0] += tasks[r["task"]]["cpu"]
    used[r["node"]][1] += tasks[r["task"]]["mem_mb"]
for name, (cpu, mem) in used.items():
    cap = nodes[name]["capacity"]
    assert cpu <= cap["cpu"] + 1e-9 and mem <= cap["mem_mb"], \
        "%s over capacity: %g cpu %g MiB" % (name, cpu, mem)
count = collections.Counter(r["node"] for r in out)
ready = sum(1 for n in nodes.values() if n.get("state", "ready") == "ready")
bound = math.ceil(balance * len(out) / ready)
assert max(count.values()) <= bound, "a node holds %d keys, bound %d" % (max(count.values()), bound)
print(" ".join(str(c) for _, c in count.most_common()))
EOF
}

# moved A B: how many tasks are on another node in placements B than in A
moved() {
	python3 - "$1" "$2" <<'EOF'
import json, sys
def load(p):
    return {r["task"]: r.get("node") for r in map(json.loads, open(p))
            if r.get("event") in (None, "moved")}
a, b = load(sys.argv[1]), load(sys.argv[2])
print(sum(1 for k in a if a[k] != b.get(k)))
EOF
}

@test "hash: every key placed once, within capacity and the --balance bound" {
	# a tenth of the nodes have half the memory: full at 64 keys, the
	# hash must pass over them, cpu (the weight) being the same
	sed '0~10s/"mem_mb":8192/"mem_mb":4096/' "$BATS_TEST_TMPDIR/n200" >"$BATS_TEST_TMPDIR/mixed"
	local mode b
	for mode in "" --batch; do
		for b in 1.1 1.25; do
			cce-sched --nodes "$BATS_TEST_TMPDIR/mixed" --strategy hash --balance "$b" $mode \
				"$BATS_TEST_TMPDIR/keys" >"$BATS_TEST_TMPDIR/out"
			run check "$BATS_TEST_TMPDIR/mixed" "$BATS_TEST_TMPDIR/keys" "$BATS_TEST_TMPDIR/out" "$b"
			assert_success
			# the small nodes (the tenth, twentieth... line) fill up to 64
			# keys, and no further
			grep -o '"node":"n00[0-9]*9"' "$BATS_TEST_TMPDIR/out" | sort | uniq -c |
				awk '$1 > m { m = $1 } END { exit m != 64 }'
		done
	done
}

@test "hash --batch from scratch: a node leaving or joining moves at most 1.25x its share" {
	local on_gone n
	cce-sched --nodes "$BATS_TEST_TMPDIR/n200" --strategy hash --batch "$BATS_TEST_TMPDIR/keys" >"$BATS_TEST_TMPDIR/a"
	run check "$BATS_TEST_TMPDIR/n200" "$BATS_TEST_TMPDIR/keys" "$BATS_TEST_TMPDIR/a" 1.25
	assert_success
	on_gone=$(grep -c '"node":"n00100"' "$BATS_TEST_TMPDIR/a")
	[ "$on_gone" -gt 50 ]
	# the ideal share is 1/200 of the keys for a leave, 1/201 for a join
	cce-sched --nodes "$BATS_TEST_TMPDIR/n199" --strategy hash --batch "$BATS_TEST_TMPDIR/keys" >"$BATS_TEST_TMPDIR/b"
	run check "$BATS_TEST_TMPDIR/n199" "$BATS_TEST_TMPDIR/keys" "$BATS_TEST_TMPDIR/b" 1.25
	assert_success
	n=$(moved "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b")
	[ "$n" -ge "$on_gone" ] && [ "$n" -le 125 ] ||
		{ echo "leave: $n keys moved, $on_gone on the node gone, bound 125"; false; }
	cce-sched --nodes "$BATS_TEST_TMPDIR/n201" --strategy hash --batch "$BATS_TEST_TMPDIR/keys" >"$BATS_TEST_TMPDIR/c"
	run check "$BATS_TEST_TMPDIR/n201" "$BATS_TEST_TMPDIR/keys" "$BATS_TEST_TMPDIR/c" 1.25
	assert_success
	n=$(moved "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/c")
	[ "$n" -le 124 ] || { echo "join: $n keys moved, bound 124"; false; }
}

@test "hash with --state: a leave moves only the keys of the node gone, a join none" {
	local on_gone n
	cce-sched --nodes "$BATS_TEST_TMPDIR/n200" --strategy hash --state-out "$BATS_TEST_TMPDIR/state" \
		"$BATS_TEST_TMPDIR/keys" >"$BATS_TEST_TMPDIR/a"
	on_gone=$(grep -c '"node":"n00100"' "$BATS_TEST_TMPDIR/a")
	cce-sched --nodes "$BATS_TEST_TMPDIR/n199" --strategy hash --state "$BATS_TEST_TMPDIR/state" --reschedule \
		"$BATS_TEST_TMPDIR/keys" >"$BATS_TEST_TMPDIR/b"
	n=$(moved "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b")
	assert_equal "$n" "$on_gone"
	cce-sched --nodes "$BATS_TEST_TMPDIR/n201" --strategy hash --state "$BATS_TEST_TMPDIR/state" \
		"$BATS_TEST_TMPDIR/keys" >"$BATS_TEST_TMPDIR/c"
	assert_equal "$(moved "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/c")" 0
}
