#!/usr/bin/env bats
# cce-register -> cce-sched: the pool as the registry lists it.

load lib/common

setup() {
	common_setup
	command -v cce-register >/dev/null || skip "cce-register is not built"
	STORE="file:$BATS_TEST_TMPDIR/store"
	cce-register --store "$STORE" init >/dev/null
}

# join NODE ARGS...: a node joins with a fresh token
join() {
	local node=$1 tok
	shift
	tok=$(cce-register --store "$STORE" token "$node" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
	cce-register --store "$STORE" join "$node" --token "$tok" "$@" >/dev/null
}

@test "register: the live pool from cce-register list places and explains" {
	join e1 --addr 10.0.0.1 --region sh --zone sh-a --label arch=arm64 --cpu 4 --mem-mb 4096 --disk-mb 10000
	join e2 --addr 10.0.0.2 --region sh --zone sh-b --label arch=amd64 --cpu 8 --mem-mb 8192
	join e3 --addr 10.0.0.3 --region bj --zone bj-a --cpu 2 --mem-mb 2048
	cce-register --store "$STORE" cordon e3 >/dev/null
	cce-register --store "$STORE" list --all >"$BATS_TEST_TMPDIR/nodes.jsonl"
	run_cce cce-sched --nodes "$BATS_TEST_TMPDIR/nodes.jsonl" <<<'{"task":"det","replicas":3,"cpu":1,"spread":"node"}
{"task":"arm","cpu":1,"selector":{"arch":"arm64"}}'
	assert_line --index 0 '{"task":"det","replica":0,"node":"e2","addr":"10.0.0.2","score":0.9375,"cpu":1,"spread":"node"}'
	assert_line --index 1 --partial '{"task":"det","replica":1,"node":"e1","addr":"10.0.0.1"'
	assert_line --index 2 '{"task":"det","replica":2,"error":"unschedulable","reason":"0/3 nodes available: 1 cordoned, 2 conflict with spread node"}'
	assert_line --index 3 --partial '{"task":"arm","replica":0,"node":"e1"'
}
