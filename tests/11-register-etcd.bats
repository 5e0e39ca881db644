#!/usr/bin/env bats
# cce-register on etcd: the same functional suite as on the file store
# (tests/register/functional.bash), against a one-member etcd started on
# loopback ports for this file; each test works under its own key prefix.

load lib/common
load register/etcd

setup_file() {
	local c p
	c=$(free_port)
	p=$(free_port)
	etcd_start one "$c" "$p" "one=http://127.0.0.1:$p"
	echo "$c" >"$BATS_FILE_TMPDIR/port"
	wait_for 30 etcd_healthy "$c" || {
		cat "$BATS_FILE_TMPDIR/etcd-one.log" >&3
		return 1
	}
}

teardown_file() {
	etcd_stop_all
}

store_setup() {
	export CCE_STORE="etcd://127.0.0.1:$(cat "$BATS_FILE_TMPDIR/port")/cce-t$BATS_TEST_NUMBER"
}

load register/functional
@test "init makes a 0600 secret and token prints node, token and expiry" { t_init_makes_a_0600; }
@test "join then list prints exactly the issue's fields" { t_join_then_list_prints; }
@test "apply reads op records and prints one event per op, heartbeats with -v only" { t_apply_reads_op_records; }
@test "heartbeat --print builds the op without touching the store" { t_heartbeat_print_builds_the; }
@test "bad, expired and revoked tokens are rejected and change nothing" { t_bad_expired_and_revoked; }
@test "bad names, unknown nodes, mistyped fields and oversize records are rejected" { t_bad_names_unknown_nodes; }
@test "leave, leave --force, cordon and uncordon change the state" { t_leave_leave_force_cordon; }
@test "list filters by selector, region and service" { t_list_filters_by_selector; }
@test "liveness: suspect after one ttl, dead after three; expire reports transitions once" { t_liveness; }
@test "watch streams changes as they are applied" { t_watch_streams_changes_as; }
@test "watch -v shows heartbeats with the load they reported" { t_watch_verbose_carries_load; }
@test "usage errors exit 64 and name the culprit" { t_usage_errors_exit_64; }
@test "heartbeat --tasks carries cce-task status lines; list shows them, kept until replaced" { t_heartbeat_tasks_carried_and; }
@test "bad tasks arrays are rejected with the field's reason and change nothing" { t_bad_tasks_arrays_are; }

# What only etcd does: leases, compare-and-swap between writers, no server.

registry_empty() {
	[ -z "$(cce-register list --all)" ]
}

@test "etcd: two apply processes on the same nodes lose no update" {
	local d=$BATS_TEST_TMPDIR
	cce-register token $(seq -f "n%g" 1 40) | jq -c '{op: "join", node, token, addr: "10.1.0.1"}' >"$d/join"
	run_cce cce-register apply "$d/join"
	# A heartbeats every node over and over while B cordons each of them
	for i in 1 2 3 4 5 6 7 8 9 10; do jq -c '.op = "heartbeat" | .load = {cpu: 1}' "$d/join"; done >"$d/hb"
	jq -c '{op: "cordon", node}' "$d/join" >"$d/cordon"
	(while IFS= read -r l; do printf '%s\n' "$l"; done <"$d/hb") | cce-register apply -v >"$d/out.a" &
	local pa=$!
	(while IFS= read -r l; do printf '%s\n' "$l"; done <"$d/cordon") | cce-register apply >"$d/out.b" &
	local pb=$!
	wait "$pa"
	wait "$pb"
	assert_equal "$(grep -c '"heartbeat"' "$d/out.a")" 400
	assert_equal "$(grep -c '"cordoned"' "$d/out.b")" 40
	run_cce cce-register list
	run jq -r '"\(.state) \(.load.cpu)"' <<<"$output"
	assert_equal "$(sort -u <<<"$output")" "cordoned 1"
}

@test "etcd: a node that falls silent disappears with its lease, and expire says dead" {
	run_cce cce-register join edge-1 --token "$(token edge-1)" --addr 10.0.0.1 --ttl 1s
	run_cce cce-register expire --ttl 1s
	assert_output ""
	# the lease is 3 ttls (etcd may round it up): wait for the key to go
	wait_for 15 registry_empty
	run_cce cce-register expire --ttl 1s
	run jq -r '"\(.event) \(.node)"' <<<"$output"
	assert_output "dead edge-1"
}

@test "etcd: a store nobody answers for is unavailable (69)" {
	local p
	p=$(free_port)
	run_cce -69 cce-register --store "etcd://127.0.0.1:$p/x" list
	[[ "$stderr" == *"etcd unavailable at http://127.0.0.1:$p/v3/kv/range"* ]]
	run_cce -69 cce-register --store "etcd://127.0.0.1:$(cat "$BATS_FILE_TMPDIR/port")/not-initialised" list
	[[ "$stderr" == *"no registry under 'not-initialised/'"* ]]
}
