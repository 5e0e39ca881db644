#!/usr/bin/env bats
# cce-sched --reschedule with what the nodes report about their replicas
# (the "tasks" of cce-register list, from `heartbeat --tasks`): a failed
# or crash-looping replica moves, and never back to a node it failed on.

load lib/common

# node NAME TASKS_JSON: a node record as cce-register list prints it
node() {
	local n=${1#e}
	printf '{"node":"%s","addr":"10.0.0.%s","region":"r1","zone":"z%s","labels":{},"capacity":{"cpu":4,"mem_mb":4096,"disk_mb":10000},"load":null,"tasks":%s,"services":[],"cost":1,"state":"ready","joined":1,"last_seen":1}\n' \
		"$1" "$n" "$n" "${2:-[]}"
}

# unit TASK REPLICA STATE RESTARTS: one unit summary
unit() {
	printf '{"task":"%s","replica":%s,"state":"%s","restarts":%s,"oom":false}' "$1" "$2" "$3" "$4"
}

setup() {
	common_setup
	{ node e1; node e2; node e3; } >nodes.jsonl
	printf '%s\n' '{"task":"web","replicas":1,"cpu":1,"run":["web"]}' \
		'{"task":"db","replicas":1,"cpu":1,"run":["db"]}' >tasks.jsonl
	cce-sched --nodes nodes.jsonl --state-out state.jsonl tasks.jsonl >/dev/null
	WEB=$(jq -r 'select(.task == "web") | .node' state.jsonl)
	DB=$(jq -r 'select(.task == "db") | .node' state.jsonl)
}

# the pool where node $1 reports $2 (a JSON array), the others nothing
pool() {
	local n
	for n in e1 e2 e3; do
		if [ "$n" = "$1" ]; then node "$n" "$2"; else node "$n"; fi
	done
}

resched() {
	cce-sched --nodes pool.jsonl --state state.jsonl --reschedule --state-out state.jsonl "$@" </dev/null
}

@test "a replica its node reports failed moves, with the reason; the others stay" {
	pool "$WEB" "[$(unit web 0 failed 5),$(unit db 0 active 0)]" >pool.jsonl
	run_cce -0 resched
	assert_equal "${#lines[@]}" 1
	assert_equal "$(jq -c '[.event, .task, .from, .reason, .failed_on]' <<<"$output")" \
		"[\"moved\",\"web\",\"$WEB\",\"failed on $WEB after 5 restarts\",[\"$WEB\"]]"
	[ "$(jq -r .node <<<"$output")" != "$WEB" ]
	# the state holds where it runs now, and where it failed
	assert_equal "$(jq -c 'select(.task == "web") | [.node != "'"$WEB"'", .failed_on, .run]' state.jsonl)" \
		"[true,[\"$WEB\"],[\"web\"]]"
	assert_equal "$(jq -r 'select(.task == "db") | .node' state.jsonl)" "$DB"
	# the old node still reporting it (it has not applied yet) moves nothing
	run_cce -0 resched
	assert_output ""
}

@test "restarts past --max-restarts move it; up to the limit, or without the option, it stays" {
	pool "$WEB" "[$(unit web 0 activating 4)]" >pool.jsonl
	run_cce -0 resched
	assert_output ""
	run_cce -0 resched --max-restarts 4
	assert_output ""
	run_cce -0 resched --max-restarts 3
	assert_equal "$(jq -r .reason <<<"$output")" "4 restarts on $WEB, more than --max-restarts 3"
	# without --reschedule the reports move nothing, and the option is refused
	run_cce -64 cce-sched --nodes pool.jsonl --state state.jsonl --max-restarts 3 </dev/null
	assert_equal "${stderr%%$'\n'*}" "cce-sched: --max-restarts needs --reschedule"
	run_cce -64 cce-sched --nodes pool.jsonl --state state.jsonl --reschedule --max-restarts x </dev/null
}

@test "a replica that fails everywhere visits each node once, then stays failed where it is" {
	local seen=("$WEB") i at
	for i in 1 2; do
		at=$(jq -r 'select(.task == "web") | .node' state.jsonl)
		pool "$at" "[$(unit web 0 failed 5)]" >pool.jsonl
		run_cce -0 resched
		assert_equal "$(jq -r .event <<<"$output")" moved
		at=$(jq -r .node <<<"$output")
		# never back to a node it failed on
		[[ " ${seen[*]} " != *" $at "* ]]
		seen+=("$at")
	done
	assert_equal "$(jq -r 'select(.task == "web") | .failed_on | length' state.jsonl)" 2
	# failed on the last node too: it has nowhere left, and stays
	pool "$at" "[$(unit web 0 failed 5)]" >pool.jsonl
	run_cce -0 resched
	assert_output "{\"task\":\"web\",\"replica\":0,\"from\":\"$at\",\"error\":\"unschedulable\",\"reason\":\"0/3 nodes available: 1 is the node being left, 2 failed this replica before\"}"
	assert_equal "$(jq -r 'select(.task == "web") | [.node, (.failed_on | length)] | join(" ")' state.jsonl)" "$at 3"
	# a dead node's replica goes elsewhere, but not where it failed either
	jq -c 'if .node == "'"$at"'" then .state = "dead" else . end' pool.jsonl >pool2.jsonl
	mv pool2.jsonl pool.jsonl
	run_cce -0 resched
	assert_output --partial '"error":"unschedulable"'
	# the operator lets it try again (a fixed release): it moves to a node it left
	jq -c 'del(.failed_on)' state.jsonl >s2 && mv s2 state.jsonl
	run_cce -0 resched
	assert_equal "$(jq -r .event <<<"$output")" moved
}

@test "failed_on in a moved event of a --state log counts, as in a state record" {
	pool "$WEB" "[$(unit web 0 failed 2)]" >pool.jsonl
	cp state.jsonl log.jsonl
	cce-sched --nodes pool.jsonl --state log.jsonl --reschedule </dev/null >>log.jsonl
	local now
	now=$(jq -r 'select(.event == "moved") | .node' log.jsonl)
	pool "$now" "[$(unit web 0 failed 2)]" >pool.jsonl
	run_cce -0 cce-sched --nodes pool.jsonl --state log.jsonl --reschedule </dev/null
	assert_equal "$(jq -c .failed_on <<<"$output")" "[\"$WEB\",\"$now\"]"
	[ "$(jq -r .node <<<"$output")" != "$WEB" ]
}

@test "bad reports reject the node line with the field named; without --reschedule they are not read" {
	{ node e1 '[{"task":"web","state":"failed"}]'; node e2 '"x"'; node e3 '[{"task":"web","replica":0,"state":"failed","restarts":-1}]'; } >pool.jsonl
	run_cce -65 cce-sched --nodes pool.jsonl --state state.jsonl --reschedule </dev/null
	assert_equal "$stderr" "cce-sched: pool.jsonl:1: tasks[0].replica: missing
cce-sched: pool.jsonl:2: tasks: expected an array, got string
cce-sched: pool.jsonl:3: tasks[0].restarts: expected an integer from 0 to 2147483647"
	run_cce -0 cce-sched --nodes pool.jsonl --state state.jsonl </dev/null
	echo '{"task":"web","replica":0,"node":"e1","failed_on":"e2"}' >bad-state.jsonl
	run_cce -65 cce-sched --nodes nodes.jsonl --state bad-state.jsonl </dev/null
	assert_equal "$stderr" "cce-sched: bad-state.jsonl:1: failed_on: expected an array, got string"
}
