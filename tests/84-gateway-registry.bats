#!/usr/bin/env bats
# shellcheck disable=SC2154,SC2016 # output comes from bats' run; wait_for evaluates its conditions
# cce-gateway --registry: edge nodes authenticate with the tokens that
# cce-register issued them, against a real registry made by cce-register
# in the test (its file store and cluster secret): each token may use its
# node's devices only, a revoked or expired token is refused, and
# cce-push delivers with its node's token.

load lib/common
load gateway/helpers

setup() {
	export CCE_HOME="$BATS_TEST_TMPDIR/home"
	mkdir -p "$CCE_HOME"
	cce-register init >/dev/null
	cce-register token edge-1 | jq -r .token >"$BATS_TEST_TMPDIR/edge-1.token"
	cce-register token edge-2 | jq -r .token >"$BATS_TEST_TMPDIR/edge-2.token"
	cce-register join edge-1 --token-file "$BATS_TEST_TMPDIR/edge-1.token" --addr 10.0.0.1 >/dev/null
	printf 'operator-secret\n' >"$BATS_TEST_TMPDIR/tokens"
}

# post TOKEN-FILE DEVICE BODY: the answer, then the status
post() {
	gw_curl -H "Authorization: Bearer $(cat "$1")" --data-binary "$3" "$GW_URL/data/$2"
}

@test "registry: a node's token may send to and query its node's devices, no other's" {
	gw_start --auto-connect --registry "file:$CCE_HOME/registry" --token-file "$BATS_TEST_TMPDIR/tokens"
	local t1="$BATS_TEST_TMPDIR/edge-1.token" t2="$BATS_TEST_TMPDIR/edge-2.token"
	run post "$t1" edge-1 '{"seq":1}'
	assert_line --index 1 200
	run post "$t1" 'edge-1:temp-3' '{"seq":2}'
	assert_line --index 1 200
	# a token not joined yet is still the node's: the registry issued it
	run post "$t2" edge-2 '{"seq":3}'
	assert_line --index 1 200
	run post "$t1" edge-2 '{"seq":4}'
	assert_line --index 1 401
	assert_line --index 0 '{"error":"bad token"}'
	run post "$t1" 'edge-10' '{"seq":5}'
	assert_line --index 1 401
	run gw_curl -H "Authorization: Bearer $(cat "$t1")" "$GW_URL/data/edge-1"
	assert_line --index 0 --partial '"seq":1'
	assert_line --index 1 200
	run gw_curl -H "Authorization: Bearer $(cat "$t1")" "$GW_URL/data/list"
	assert_line --index 1 401
	run gw_curl -H "Authorization: Bearer $(cat "$t1")x" "$GW_URL/data/edge-1"
	assert_line --index 1 401
	run gw_curl "$GW_URL/data/edge-1"
	assert_line --index 1 401
	# the --token-file tokens still work beside the registry's
	run gw_curl -H 'Authorization: Bearer operator-secret' "$GW_URL/data/list"
	assert_equal "${lines[-1]}" 200
	assert_equal "${#lines[@]}" 4
	gw_stop
}

@test "registry: cce-register revoke voids a node's token while the gateway runs; a new token works" {
	gw_start --auto-connect --registry "$CCE_HOME/registry"
	local t1="$BATS_TEST_TMPDIR/edge-1.token"
	run post "$t1" edge-1 '{"seq":1}'
	assert_line --index 1 200
	cce-register revoke edge-1 >/dev/null
	# wait by asking (a GET stores nothing): a record posted before the
	# gateway saw the revocation would be stored, rightly
	wait_for 10 eval '[ "$(gw_curl -H "Authorization: Bearer $(cat "$t1")" "$GW_URL/data/edge-1" | tail -1)" = 401 ]'
	run post "$t1" edge-1 '{"seq":3}'
	assert_line --index 0 '{"error":"revoked token"}'
	sleep 0.01   # a token issued after the revocation (ms) is good again
	cce-register token edge-1 | jq -r .token >"$BATS_TEST_TMPDIR/new.token"
	run post "$BATS_TEST_TMPDIR/new.token" edge-1 '{"seq":4}'
	assert_line --index 1 200
	# a compaction of the registry (a new snapshot) keeps the revocation
	cce-register compact >/dev/null 2>&1 || true
	run post "$t1" edge-1 '{"seq":5}'
	assert_line --index 1 401
	run curl -sf -H "Authorization: Bearer $(cat "$BATS_TEST_TMPDIR/new.token")" "$GW_URL/data/edge-1"
	assert_equal "$(jq -c .seq <<<"$output" | tr '\n' ' ')" "1 4 "
	gw_stop
}

@test "registry: an expired token is refused; cce-push delivers with its node's token" {
	cce-register token edge-3 --ttl 1s | jq -r .token >"$BATS_TEST_TMPDIR/short.token"
	gw_start --auto-connect --registry "$CCE_HOME/registry"
	wait_for 10 eval '[ "$(post "$BATS_TEST_TMPDIR/short.token" edge-3 "{}" | tail -1)" = 401 ]'
	run post "$BATS_TEST_TMPDIR/short.token" edge-3 '{}'
	assert_line --index 0 '{"error":"expired token"}'
	seq 1 50 | jq -c '{seq: .}' | cce-push --bearer-file "$BATS_TEST_TMPDIR/edge-1.token" \
		--spool "$BATS_TEST_TMPDIR/spool" "$GW_URL/data/edge-1"
	run curl -sf -H "Authorization: Bearer $(cat "$BATS_TEST_TMPDIR/edge-1.token")" "$GW_URL/data/edge-1"
	assert_equal "$(jq .seq <<<"$output" | sort -n | uniq | wc -l)" 50
	gw_stop
}

@test "registry: no registry there, or no secret: exit 69 with the reason; --registry-secret alone is a usage error" {
	run -69 cce-gateway --listen "127.0.0.1:$(free_port)" --store "$BATS_TEST_TMPDIR/s" --registry "$BATS_TEST_TMPDIR/none"
	assert_output --partial "no registry here"
	run -69 cce-gateway --listen "127.0.0.1:$(free_port)" --store "$BATS_TEST_TMPDIR/s" --registry "$CCE_HOME/registry" --registry-secret "$BATS_TEST_TMPDIR/none"
	assert_output --partial "$BATS_TEST_TMPDIR/none"
	run -69 cce-gateway --listen "127.0.0.1:$(free_port)" --store "$BATS_TEST_TMPDIR/s" --registry etcd://127.0.0.1:2379
	assert_output --partial "only the file store"
	run -64 cce-gateway --registry-secret x
	assert_output --partial "needs --registry"
}

@test "registry: --rate is per node token: one node past its rate gets 429, another node is not held back" {
	gw_start --auto-connect --registry "$CCE_HOME/registry" --rate 10
	local t1="$BATS_TEST_TMPDIR/edge-1.token" t2="$BATS_TEST_TMPDIR/edge-2.token"
	local body
	body=$(seq 1 20 | jq -c '{seq: .}')
	run post "$t1" edge-1 "$body"
	assert_line --index 1 200
	run post "$t1" 'edge-1:b' '{"seq":21}'
	assert_line --index 1 429
	run post "$t2" edge-2 '{"seq":22}'
	assert_line --index 1 200
	gw_stop
}
