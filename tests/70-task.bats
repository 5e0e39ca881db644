#!/usr/bin/env bats
# cce-task against a real systemd: PID 1 of a test host (lib/systemd), a
# Debian 12 root with systemd, cgroup v1 or v2 as this machine has it.
# Every apply gives the whole set of this node's placements, so each test
# starts from the units it applies itself.

load lib/common
load lib/systemd

setup_file() { systemd_file_setup; }
teardown_file() { systemd_file_teardown; }
setup() { systemd_test_setup; }

# cce-task inside the test host
task() {
	systemd_exec "$CCE_BUILD/bin/cce-task" "$@"
}

# field UNIT KEY: a field of the unit's status line
field() {
	task status | jq -r --arg u "$1" --arg k "$2" 'select(.unit == $u) | .[$k]'
}

state_is() {
	[ "$(field "$1" state)" = "$2" ]
}

@test "without systemd as PID 1: a clear error and exit 69" {
	# a private, empty /run: what a machine without systemd has
	run_cce -69 unshare --mount --propagation private sh -c \
		'mount -t tmpfs tmpfs /run && exec "$1" status' _ "$CCE_BUILD/bin/cce-task"
	assert_equal "$stderr" "cce-task: systemd is not running as PID 1 here; cce-task needs it"
	assert_output ""
}

@test "usage errors exit 64: an option that does not apply, a missing subcommand or operand" {
	run_cce -64 cce-task --since 1h apply
	assert_equal "$stderr" $'cce-task: --since does not apply to \'apply\'\nTry \'cce-task --help\' for more information.'
	run_cce -64 cce-task -f status
	assert_equal "${stderr_lines[0]}" "cce-task: --follow does not apply to 'status'"
	run_cce -64 cce-task --mem-mb 10 stop web
	assert_equal "${stderr_lines[0]}" "cce-task: --mem-mb does not apply to 'stop'"
	run_cce -64 cce-task
	assert_equal "${stderr_lines[0]}" "cce-task: missing subcommand (apply, status, run, logs, stop or restart)"
	run_cce -64 cce-task run --cpu 1
	assert_equal "${stderr_lines[0]}" "cce-task: 'run' needs a command (after --)"
	run_cce -0 cce-task --help
	assert_line "  -f, --follow          logs: keep printing new entries"
}

@test "apply starts, restarts what changed, stops what is gone; twice changes nothing" {
	printf '%s\n' '{"task":"web","replica":0,"node":"n1","run":["sleep","1000"],"mem_mb":64,"cpu":0.5}' \
		'{"task":"api","replica":1,"node":"n1","run":"sleep 1001"}' \
		'{"event":"removed","task":"old","replica":3,"node":"n1"}' >p1
	run_cce -0 task apply <p1
	assert_line '{"task":"api","replica":1,"unit":"cce-api@1.service","action":"started"}'
	assert_line '{"task":"web","replica":0,"unit":"cce-web@0.service","action":"started"}'
	assert_equal "${#lines[@]}" 2
	state_is cce-web@0.service active
	local pid
	pid=$(field cce-web@0.service pid)
	run_cce -0 task apply <p1
	assert_line '{"task":"api","replica":1,"unit":"cce-api@1.service","action":"unchanged"}'
	assert_line '{"task":"web","replica":0,"unit":"cce-web@0.service","action":"unchanged"}'
	assert_equal "$(field cce-web@0.service pid)" "$pid"
	# the limits are systemd's
	run_cce -0 systemd_exec systemctl show -p MemoryMax -p CPUQuotaPerSecUSec -p TasksMax cce-web@0.service
	assert_line MemoryMax=67108864
	assert_line CPUQuotaPerSecUSec=500ms
	assert_line TasksMax=512
	# web changes, api goes
	echo '{"task":"web","replica":0,"node":"n1","run":["sleep","1002"],"mem_mb":64}' >p2
	run_cce -0 task apply <p2
	assert_line '{"task":"api","replica":1,"unit":"cce-api@1.service","action":"stopped"}'
	assert_line '{"task":"web","replica":0,"unit":"cce-web@0.service","action":"restarted"}'
	[ "$(field cce-web@0.service pid)" != "$pid" ]
	run_cce -0 task status
	assert_equal "${#lines[@]}" 1
	run_cce -1 systemd_exec test -e /etc/systemd/system/cce-api@1.service
	run_cce -0 task apply </dev/null
	assert_output '{"task":"web","replica":0,"unit":"cce-web@0.service","action":"stopped"}'
	run_cce -0 task status
	assert_output ""
}

@test "a new release behind current restarts the task; status names it" {
	systemd_exec mkdir -p /opt/rel/releases/r1 /opt/rel/releases/r2
	systemd_exec ln -sfn releases/r1 /opt/rel/current
	echo '{"task":"rel","replica":0,"run":["sleep","1000"]}' >p
	run_cce -0 task apply <p
	assert_equal "$(field cce-rel@0.service release)" r1
	systemd_exec ln -sfn releases/r2 /opt/rel/current
	run_cce -0 task apply <p
	assert_output '{"task":"rel","replica":0,"unit":"cce-rel@0.service","action":"restarted"}'
	assert_equal "$(field cce-rel@0.service release)" r2
	task apply </dev/null
}

@test "bad placement lines are rejected with the contract's messages and change nothing" {
	echo '{"task":"keep","replica":0,"run":["sleep","1000"]}' >good
	run_cce -0 task apply <good
	cat good >bad
	printf '%s\n' '{"task":"a","replica":0}' \
		'{"task":"b","replica":0,"run":"true","restart":"sometimes"}' \
		'{"task":"c","replica":0,"run":"true","user":"no-such-user"}' \
		'{"task":"d","replica":0,"run":["-x"]}' 'not json' >>bad
	run_cce -65 task apply <bad
	assert_output ""
	assert_equal "$stderr" "cce-task: stdin:2: run: missing
cce-task: stdin:3: restart: 'sometimes' is not always, on-failure or never
cce-task: stdin:4: user: 'no-such-user' does not exist
cce-task: stdin:5: run[0]: '-x' is not a program name systemd can run
cce-task: stdin:6: $(sed -n 's/^cce-task: stdin:6: //p' <<<"$stderr")
cce-task: nothing applied: the placements had bad lines"
	run_cce -0 task status
	assert_equal "${#lines[@]}" 1
	state_is cce-keep@0.service active
	run_cce -1 systemd_exec sh -c 'ls /etc/systemd/system | grep -v keep | grep "^cce-"'
	task apply </dev/null
}

@test "arguments reach the program as given: \$, %, quotes, spaces" {
	# shellcheck disable=SC2016
	printf '%s\n' '{"task":"echo","replica":0,"run":["/bin/sh","-c","echo \"[$0] [$1] [$A]\"; sleep 1000","$HOME 100%","a\"b"],"env":{"A":"x$y %z"}}' >p
	run_cce -0 task apply <p
	local msg
	for _ in $(seq 100); do
		msg=$(task logs echo | jq -r 'select(.message | startswith("[")) | .message')
		[ -n "$msg" ] && break
		sleep 0.1
	done
	# shellcheck disable=SC2016
	assert_equal "$msg" '[$HOME 100%] [a"b] [x$y %z]'
	task apply </dev/null
}

@test "a task that allocates past mem_mb is OOM-killed and reported so" {
	echo '{"task":"hog","replica":0,"run":"head -c 200M /dev/zero | tail","mem_mb":32,"restart":"never"}' >p
	run_cce -0 task apply <p
	wait_for 60 state_is cce-hog@0.service failed
	run_cce -0 task status hog
	assert_equal "$(jq -r .oom <<<"$output")" true
	assert_equal "$(jq -r .mem_peak_mb <<<"$output")" 32
	task apply </dev/null
}

@test "kill -9 of a task's process: systemd restarts it and status counts it" {
	echo '{"task":"kill","replica":0,"run":["sleep","1000"]}' >p
	run_cce -0 task apply <p
	local pid
	pid=$(field cce-kill@0.service pid)
	systemd_exec kill -9 "$pid"
	for _ in $(seq 300); do
		[ "$(field cce-kill@0.service restarts)" = 1 ] && state_is cce-kill@0.service active && break
		sleep 0.1
	done
	assert_equal "$(field cce-kill@0.service restarts)" 1
	assert_equal "$(field cce-kill@0.service state)" active
	[ "$(field cce-kill@0.service pid)" != "$pid" ]
	task apply </dev/null
}

@test "a crash-looping task is reported failed" {
	echo '{"task":"loop","replica":0,"run":"echo crash; exit 3"}' >p
	# systemd ends the start job once sh is executed (Type=exec); when sh
	# has exited before it noticed (a loaded machine), the job fails and
	# apply says so: both are the truth
	run --separate-stderr task apply <p
	case "$status" in
	0) assert_output '{"task":"loop","replica":0,"unit":"cce-loop@0.service","action":"started"}' ;;
	1) assert_output --partial '{"task":"loop","replica":0,"unit":"cce-loop@0.service","action":"failed","error":"job failed, unit '
	   assert_output --partial 'result exit-code"}' ;;
	*) fail "task apply exited $status: $output $stderr" ;;
	esac
	wait_for 60 state_is cce-loop@0.service failed
	run_cce -0 task status loop
	assert_equal "$(jq -r '[.state, .restarts, .exit, .oom] | join(" ")' <<<"$output")" "failed 5 3 false"
	# a second apply leaves the failed unit alone: it ran its spec
	run_cce -0 task apply <p
	assert_output '{"task":"loop","replica":0,"unit":"cce-loop@0.service","action":"unchanged"}'
	run_cce -0 task logs loop
	assert_line --partial '"message":"crash"'
	task apply </dev/null
}

@test "kill -9 of apply in the middle: a second run fixes it" {
	local i
	for i in $(seq 0 29); do
		printf '{"task":"many","replica":%d,"run":["sleep","100%d"]}\n' "$i" "$i"
	done >p
	systemd_exec "$CCE_BUILD/bin/cce-task" apply <p >/dev/null 2>&1 &
	local bg=$!
	# killed once it has begun writing unit files
	wait_for 30 systemd_exec test -e /etc/systemd/system/cce-many@0.service
	systemd_exec sh -c 'kill -9 $(pidof cce-task)' || true
	wait "$bg" || true
	run_cce -0 task apply <p
	run_cce -0 task status many
	assert_equal "$(jq -r .state <<<"$output" | sort | uniq -c | sed 's/^ *//')" "30 active"
	assert_equal "$(jq -r .restarts <<<"$output" | sort -u)" 0
	run_cce -0 task apply <p
	assert_equal "$(jq -r .action <<<"$output" | sort -u)" unchanged
	task apply </dev/null
}

@test "restarting systemd brings the enabled units back" {
	echo '{"task":"boot","replica":0,"run":["sleep","1000"]}' >p
	run_cce -0 task apply <p
	systemd_exec systemctl daemon-reexec
	wait_for 30 state_is cce-boot@0.service active
	# a new PID 1 on the same root: the machine booting again
	systemd_stop
	systemd_start "$SD_DIR"
	wait_for 30 state_is cce-boot@0.service active
	run_cce -0 task apply <p
	assert_output '{"task":"boot","replica":0,"unit":"cce-boot@0.service","action":"unchanged"}'
	task apply </dev/null
}

@test "run: a job to completion with its result, limits and output" {
	# shellcheck disable=SC2016
	run_cce -1 task run --task j1 --env X=1 -- sh -c 'echo "$X $HOME%"; exit 4'
	assert_equal "$(jq -c '[.task, .exit, .signal, .oom, .output]' <<<"$output")" '["j1",4,null,false,"1 %\n"]'
	run_cce -1 task run --mem-mb 32 -- sh -c 'head -c 200M /dev/zero | tail'
	assert_equal "$(jq -r .oom <<<"$output")" true
	run_cce -0 task run --output-max 4 -- echo 123456789
	assert_equal "$(jq -c '[.exit, .output]' <<<"$output")" '[0,"789\n"]'
	run_cce -1 task run --timeout 1s -- sleep 100
	assert_equal "$(jq -c '[.signal, .result]' <<<"$output")" '["TERM","timeout"]'
	run_cce -64 task run --user no-such-user -- true
}

@test "stop and restart name tasks; an unknown task is an error" {
	echo '{"task":"sr","replica":0,"run":["sleep","1000"]}' >p
	run_cce -0 task apply <p
	run_cce -0 task stop sr
	assert_output '{"task":"sr","replica":0,"unit":"cce-sr@0.service","action":"stopped"}'
	state_is cce-sr@0.service inactive
	run_cce -0 task restart sr
	assert_output '{"task":"sr","replica":0,"unit":"cce-sr@0.service","action":"restarted"}'
	state_is cce-sr@0.service active
	run_cce -1 task stop nope
	assert_equal "$stderr" "cce-task: no unit of nope on this node"
	task apply </dev/null
}
