#!/usr/bin/env bats
# The task loop end to end on two hosts that each run a real systemd as
# PID 1 (lib/systemd), reached by an "ssh" that enters them: cce-deploy
# ships and starts the tasks, each host reports its units with
# `cce-register heartbeat --tasks`, a crash-looping replica is moved by
# `cce-sched --reschedule --max-restarts` (through cce-deploy) and runs on
# the other host, and a host that dies has its replicas moved and running
# elsewhere. Tests run in order and build on each other.

load ../lib/common
load ../lib/systemd

setup_file() {
	if ! systemd_usable; then
		export E2E_SKIP="no systemd test host: $SYSTEMD_UNUSABLE"
		return 0
	fi
	local h
	for h in h1 h2; do
		systemd_start "$BATS_FILE_TMPDIR/$h"
	done
	export STORE="file:$BATS_FILE_TMPDIR/store"
	# the registry's secret is the cloud's, shared by every test
	export CCE_HOME="$BATS_FILE_TMPDIR/home"
	mkdir -p "$CCE_HOME"
	cce-register --store "$STORE" init >/dev/null
	for h in h1 h2; do
		cce-register --store "$STORE" token "$h" | jq -r .token >"$BATS_FILE_TMPDIR/$h/token"
		cce-register --store "$STORE" join "$h" --token-file "$BATS_FILE_TMPDIR/$h/token" \
			--addr "$h" --cpu 2 --mem-mb 1024 >/dev/null
	done
}

teardown_file() {
	local h
	for h in h1 h2; do
		[ -f "$BATS_FILE_TMPDIR/$h/pid" ] || continue
		systemd_load "$BATS_FILE_TMPDIR/$h"
		systemd_stop
	done
}

setup() {
	[ -z "${E2E_SKIP:-}" ] || skip "$E2E_SKIP"
	common_setup
	D=$BATS_FILE_TMPDIR
	export CCE_HOME="$D/home"
	# an "ssh" into the host named by the address
	systemd_ssh "$D/ssh" "$D/{host}/pid"
	cd "$D"
}

# on HOST CMD...: CMD inside the host
on() {
	SYSTEMD_PID=$(cat "$D/$1/pid")
	shift
	systemd_exec "$@"
}

# beat HOST: the host's heartbeat with its units' summaries
beat() {
	on "$1" "$CCE_BUILD/bin/cce-task" status |
		cce-register --store "$STORE" heartbeat "$1" --token-file "$D/$1/token" --tasks - >/dev/null
}

pool() {
	cce-register --store "$STORE" list --all --ttl 2s >"$D/nodes.jsonl"
}

deploy() {
	cce-deploy --nodes "$D/nodes.jsonl" --ssh "$D/ssh" --state "$D/state.jsonl" --remote-dir /opt/app \
		--remote-sync "$CCE_BUILD/bin/cce-sync" --remote-task "$CCE_BUILD/bin/cce-task" "$@" \
		"$D/app" "$D/tasks.jsonl"
}

# the host where task $1 runs, from the state
where() {
	jq -r --arg t "$1" 'select(.task == $t) | .node' "$D/state.jsonl"
}

# active HOST TASK: the task's unit is active on the host
active() {
	[ "$(on "$1" "$CCE_BUILD/bin/cce-task" status "$2" | jq -r .state)" = active ]
}

# reported HOST TASK STATE: after a heartbeat of HOST, the registry has
# TASK's unit in STATE there
reported() {
	beat "$1"
	[ "$(cce-register --store "$STORE" list --all |
		jq -r --arg h "$1" --arg t "$2" 'select(.node == $h) | .tasks[] | select(.task == $t) | .state')" = "$3" ]
}

# dead_while DEAD LIVE: LIVE beats, and DEAD is listed dead
dead_while() {
	beat "$2"
	cce-register --store "$STORE" list --all --ttl 2s | jq -e --arg h "$1" 'select(.node == $h) | .state == "dead"' >/dev/null
}

@test "e2e tasks: deploy ships and starts one task on each host" {
	mkdir -p app/bin
	# crashes on a host that has /etc/broken
	printf '#!/bin/sh\n[ -e /etc/broken ] && exit 3\nexec sleep 1000\n' >app/bin/serve
	chmod +x app/bin/serve
	printf '%s\n' '{"task":"a","replicas":1,"cpu":1,"run":"exec ./bin/serve"}' \
		'{"task":"b","replicas":1,"cpu":1,"run":"exec ./bin/serve"}' >tasks.jsonl
	beat h1
	beat h2
	pool
	run_cce -0 deploy
	assert_equal "$(jq -r .status <<<"$output" | sort -u)" deployed
	[ "$(where a)" != "$(where b)" ]
	active "$(where a)" a
	active "$(where b)" b
}

@test "e2e tasks: a crash-looping task is reported failed by heartbeat, moved by deploy --max-restarts (cce-sched --reschedule), and runs on the other host" {
	local from to
	from=$(where a)
	to=$(where b)
	# the host breaks under the running task: systemd restarts it until it gives up
	on "$from" touch /etc/broken
	on "$from" systemctl kill -s KILL cce-a@0.service
	wait_for 60 reported "$from" a failed
	run_cce -0 cce-register --store "$STORE" list
	assert_output --partial '"task":"a","replica":0,"state":"failed"'
	beat "$to"
	pool
	run_cce -0 deploy --max-restarts 3
	assert_equal "$(where a)" "$to"
	assert_equal "$(jq -c .failed_on "$D/state.jsonl" | grep -v null)" "[\"$from\"]"
	wait_for 30 active "$to" a
	active "$to" b
	# the host it left runs it no more: its unit is gone
	assert_equal "$(jq -c --arg h "$from" 'select(.node == $h) | [.tasks, .units]' <<<"$output")" \
		'[[],[{"task":"a","replica":0,"action":"stopped"}]]'
	assert_equal "$(on "$from" "$CCE_BUILD/bin/cce-task" status)" ""
}

@test "e2e tasks: a host that dies has its replicas moved and running elsewhere; none goes back where it failed" {
	local dead live
	dead=$(where b)
	live=$(cd "$D" && jq -r --arg d "$dead" 'select(.node != $d) | .node' nodes.jsonl)
	# the broken host is mended; then the other one dies
	on "$live" rm -f /etc/broken
	SYSTEMD_PID=$(cat "$D/$dead/pid")
	systemd_stop
	rm "$D/$dead/pid"
	# three ttls without a heartbeat: dead; the live host keeps beating
	wait_for 60 dead_while "$dead" "$live"
	beat "$live"
	pool
	run_cce -1 deploy
	# b moves and runs on the live host; a failed there before, so it stays
	assert_equal "$(jq -r 'select(.task == "a") | [.status, .reason] | join(" ")' <<<"$output")" \
		"unschedulable 0/2 nodes available: 1 not ready, 1 failed this replica before"
	assert_equal "$(jq -c --arg h "$live" 'select(.node == $h) | [.status, .tasks, (.units | map(.task + " " + .state))]' <<<"$output")" \
		'["deployed",["b"],["b active"]]'
	wait_for 30 active "$live" b
}
