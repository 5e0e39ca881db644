#!/usr/bin/env bats
# make demo where systemd is PID 1 (a test host, lib/systemd): the
# detector's replicas run under cce-task, move with the reschedule, and are
# stopped and removed at the end. (Without systemd, 63 runs the demo and
# checks the line that says so.)

load lib/common
load lib/systemd

setup_file() {
	systemd_file_setup
	# the demo's scripts at their own path inside (the build is bound there)
	systemd_exec mkdir -p "$CCE_ROOT"
	tar -C "$CCE_ROOT" -c scripts | systemd_exec tar -C "$CCE_ROOT" -x
}

teardown_file() { systemd_file_teardown; }
setup() { systemd_test_setup; }

# journal UNIT: the lines of UNIT's own program in the host's journal
journal_has() {
	systemd_exec journalctl -q -o cat _SYSTEMD_UNIT="$1" | grep -q "^detector: release "
}

@test "under systemd the demo runs its replicas with cce-task and removes them at the end" {
	systemd_exec mkdir -p /tmp/demo
	run_cce -0 systemd_exec env CCE_BUILD="$CCE_BUILD" TMPDIR=/tmp/demo CCE_DEMO_PAGE=/tmp/page/fleet.html \
		"$CCE_ROOT/scripts/demo"
	assert_equal "${lines[0]}" "systemd: the detector's replicas run under cce-task, and are removed at the end"
	# step 3: both replicas started in their nodes' directories
	assert_line "   systemd: cce-detector@0.service started"
	assert_line "   systemd: cce-detector@1.service started"
	local r
	for r in 0 1; do
		assert_line --regexp "^   systemd: cce-detector@$r.service on edge-[123]: active \\(running\\), pid [1-9][0-9]*, release [^ ]+\$"
	done
	# step 7: the moved replica restarts in its new node's directory, the
	# other one is left alone
	local moved kept
	moved=$(sed -nE 's/^   replica ([01]) of detector: .*/\1/p' <<<"$output")
	kept=$((1 - moved))
	assert_line "   systemd: cce-detector@$moved.service restarted"
	local to
	to=$(sed -nE 's/^   replica [01] of detector: edge-[123] -> (edge-[123])$/\1/p' <<<"$output")
	assert_line --regexp "^   systemd: cce-detector@$moved.service on $to: active \\(running\\), pid [1-9][0-9]*, release [^ ]+\$"
	assert_line "   systemd: cce-detector@$kept.service unchanged"
	assert_line --regexp '^   placements: 2, moves: 1$'
	# the end: both stopped and removed
	assert_line "   systemd: cce-detector@0.service stopped and removed"
	assert_line "   systemd: cce-detector@1.service stopped and removed"
	# they ran: each replica's program wrote to the journal
	wait_for 30 journal_has cce-detector@0.service
	wait_for 30 journal_has cce-detector@1.service
	# and nothing is left: no unit, no unit file, no node directory, no
	# temporary file
	run_cce -0 systemd_exec systemctl list-units --all --plain --no-legend 'cce-*'
	assert_output ""
	run_cce -0 systemd_exec find /etc/systemd/system /run -maxdepth 2 -name 'cce-*' ! -path /run/cce-task
	assert_output ""
	run_cce -0 systemd_exec ls -A /tmp/demo
	assert_output ""
}

@test "a demo interrupted while its replicas run removes them too" {
	# the interrupt path is the demo script's own: the plain pass checks it
	[ -z "${CCE_SAN_PASS:-}" ] || skip "the sanitizer pass: no binary runs here that the first test does not run"
	systemd_exec mkdir -p /tmp/demo2
	# the demo's pid inside the host, to signal that process alone
	systemd_exec sh -c 'echo $$ >/tmp/demo2.pid; exec "$@"' _ \
		env CCE_BUILD="$CCE_BUILD" TMPDIR=/tmp/demo2 CCE_DEMO_PAGE=/tmp/page2/fleet.html \
		"$CCE_ROOT/scripts/demo" >out 2>err &
	local bg=$!
	wait_for 120 grep -q "^   systemd: cce-detector@1.service on " out
	run_cce -0 systemd_exec systemctl is-active cce-detector@0.service cce-detector@1.service
	# shellcheck disable=SC2016 # expanded inside the host
	systemd_exec sh -c 'kill -TERM "$(cat /tmp/demo2.pid)"'
	local rc=0
	wait "$bg" || rc=$?
	assert_equal "$rc" 143
	run_cce -0 systemd_exec systemctl list-units --all --plain --no-legend 'cce-*'
	assert_output ""
	run_cce -0 systemd_exec find /etc/systemd/system /run -maxdepth 2 -name 'cce-*' ! -path /run/cce-task
	assert_output ""
	run_cce -0 systemd_exec ls -A /tmp/demo2
	assert_output ""
}
