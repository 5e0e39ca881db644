#!/usr/bin/env bats
# cce-deploy runs the placed tasks: after switching a node's release it
# runs cce-task apply there and waits for the units, on a host with a
# real systemd as PID 1 (lib/systemd) that an "ssh" enters (systemd_ssh).

load lib/common
load lib/systemd

setup_file() { systemd_file_setup; }
teardown_file() { systemd_file_teardown; }

setup() {
	systemd_test_setup
	# an "ssh" into the test host, whatever the address
	SD_SSH="$BATS_TEST_TMPDIR/sd-ssh"
	systemd_ssh "$SD_SSH" "$SD_DIR/pid"
	printf '{"node":"n1","addr":"10.0.0.1","capacity":{"cpu":4,"mem_mb":4096},"state":"ready"}\n' >nodes.jsonl
	mkdir -p app/bin
	# the release's program: says which release it is, then runs (or, in
	# a release whose FAIL file exists, crashes at once)
	printf '#!/bin/sh\ncat VERSION\n[ -e FAIL ] && exit 3\nexec sleep 1000\n' >app/bin/serve
	chmod +x app/bin/serve
	echo v1 >app/VERSION
	echo '{"task":"web","replicas":1,"cpu":1,"mem_mb":64,"run":"exec ./bin/serve"}' >tasks.jsonl
}

teardown() {
	# every test starts from a node without units
	[ -n "${SYSTEMD_PID:-}" ] && systemd_exec "$CCE_BUILD/bin/cce-task" apply </dev/null >/dev/null 2>&1
	return 0
}

deploy() {
	cce-deploy --nodes nodes.jsonl --ssh "$SD_SSH" --remote-dir /opt/web \
		--remote-sync "$CCE_BUILD/bin/cce-sync" --remote-task "$CCE_BUILD/bin/cce-task" "$@"
}

# status KEY: the web unit's field in the host's cce-task status
status() {
	systemd_exec "$CCE_BUILD/bin/cce-task" status web | jq -r --arg k "$1" '.[$k]'
}

web_active() {
	[ "$(status state)" = active ]
}

@test "deploy starts the placed task under systemd and reports its unit; a new release restarts it" {
	run_cce -0 deploy --state state.jsonl app tasks.jsonl
	assert_equal "$(jq -c '[.status, .units]' <<<"$output")" \
		'["deployed",[{"task":"web","replica":0,"action":"started","state":"active","restarts":0}]]'
	assert_equal "$(status state)" active
	assert_equal "$(status release)" "$(jq -r .release <<<"$output")"
	# its data directory is there, the one place it may write
	systemd_exec test -d /opt/web/data
	# the unit runs in the release, limited as placed
	assert_equal "$(systemd_exec systemctl show -p MemoryMax --value cce-web@0.service)" 67108864
	assert_equal "$(systemd_exec "$CCE_BUILD/bin/cce-task" logs web | jq -r .message | grep -c '^v1$')" 1
	echo v2 >app/VERSION
	run_cce -0 deploy --state state.jsonl app tasks.jsonl
	assert_equal "$(jq -r '.units[0] | "\(.action) \(.state)"' <<<"$output")" "restarted active"
}

@test "a unit that does not stay active fails the node; --rollback restores the release and the unit" {
	run_cce -0 deploy --state state.jsonl app tasks.jsonl
	local r1
	r1=$(status release)
	echo v2 >app/VERSION
	touch app/FAIL
	run_cce -1 deploy --state state.jsonl --task-check 60s --rollback app tasks.jsonl
	assert_line --index 0 --partial '"status":"failed"'
	assert_equal "$(jq -r 'select(.status == "failed") | .error' <<<"$output")" \
		"units not active within 60s: web/0 failed (exit 3)"
	assert_equal "$(jq -c 'select(.status == "failed") | .units[0] | [.action, .state]' <<<"$output")" \
		'["restarted","failed"]'
	assert_line --partial '"status":"rolled-back"'
	assert_equal "$(jq -c 'select(.status == "rolled-back") | .units' <<<"$output")" \
		'[{"task":"web","replica":0,"action":"started"}]'
	# the node runs the release before, and its unit again
	assert_equal "$(status release)" "$r1"
	wait_for 30 web_active
	assert_equal "$(systemd_exec cat /opt/web/current/VERSION)" v1
}

@test "a unit that is not up within --task-check fails the node; a bad --task-check is a usage error" {
	# its program is not in the release: systemd never gets it running
	echo '{"task":"web","replicas":1,"cpu":1,"run":["/opt/web/current/bin/nope"],"restart":"always"}' >tasks.jsonl
	run_cce -1 deploy --task-check 3s app tasks.jsonl
	assert_equal "$(jq -r .status <<<"$output")" failed
	assert_equal "$(jq -r .error <<<"$output")" "cce-task apply failed: web/0: $(jq -r '.units[0].error' <<<"$output")"
	assert_equal "$(jq -r '.units[0].action' <<<"$output")" failed
	run_cce -64 deploy --task-check soon app tasks.jsonl
	assert_equal "${stderr%%$'\n'*}" "cce-deploy: --task-check: invalid duration 'soon' (use e.g. 250ms, 30s, 5m, 2h, 7d)"
}
