#!/usr/bin/env bats
# cce-deploy: register -> sched -> sync over ssh, per node, with rollback.
# Hosts are directories that a fake ssh mounts as /opt (lib/fakehosts);
# the real-network version of this flow is tests/e2e/fleet.bats.

load lib/common
load lib/fakehosts

node() { # name addr zone
	printf '{"node":"%s","addr":"%s","region":"r1","zone":"%s","labels":{"arch":"arm64"},"capacity":{"cpu":4,"mem_mb":4096,"disk_mb":10000},"load":{"cpu":0.1,"mem_mb":100},"services":[],"cost":1,"state":"ready","joined":1,"last_seen":1}\n' "$1" "$2" "$3"
}

setup() {
	common_setup
	fakehosts_setup
	for h in 10.0.0.1 10.0.0.2 10.0.0.3; do fakehost_add "$h"; done
	{ node e1 10.0.0.1 a; node e2 10.0.0.2 b; node e3 10.0.0.3 c; } >nodes.jsonl
	mkdir -p app/bin
	printf '#!/bin/sh\necho selftest ok\n' >app/bin/selftest
	chmod +x app/bin/selftest
	echo v1 >app/VERSION
	echo '{"task":"detector","replicas":2,"cpu":1,"mem_mb":256,"spread":"zone"}' >tasks.jsonl
}

deploy() {
	cce-deploy --nodes nodes.jsonl --ssh "$FAKE_SSH" --remote-dir /opt/detector "$@"
}

@test "--dry-run prints the placements and the plan and ships nothing" {
	run_cce -0 deploy --dry-run app tasks.jsonl
	assert_equal "$(grep -c '"replica"' <<<"$output")" 2
	assert_equal "$(grep -c '"action":"deploy"' <<<"$output")" 2
	run find "$HOSTS" -path '*/opt/detector*'
	assert_output ""
}

@test "deploys the release on every placed node and reports each" {
	run_cce -0 deploy --check ./bin/selftest app tasks.jsonl
	assert_equal "${#lines[@]}" 2
	run jq -s -c 'map(.status) | unique' <<<"$output"
	assert_output '["deployed"]'
	local n=0 h
	for h in "$HOSTS"/*; do
		if [ -L "$h/opt/detector/current" ]; then
			n=$((n + 1))
			assert_equal "$(cat "$h/opt/detector/current/VERSION")" v1
		fi
	done
	assert_equal "$n" 2
}

@test "a second deploy ships only what changed" {
	run_cce -0 deploy app tasks.jsonl
	echo v2 >app/VERSION
	run_cce -0 deploy app tasks.jsonl
	run jq -s -c 'map(.report | {added, modified}) | unique' <<<"$output"
	assert_output '[{"added":0,"modified":1}]'
}

@test "a failing --check leaves current untouched and fails the run; --rollback restores the others" {
	run_cce -0 deploy app tasks.jsonl
	echo v2 >app/VERSION
	# the check fails on one host only
	local bad
	bad=$(jq -r 'select(.node == "e1" or .node == "e2" or .node == "e3") | .addr' nodes.jsonl | head -n1)
	touch "$HOSTS/$bad/opt/fail-check"
	run_cce -1 deploy --rollback --check 'test ! -e /opt/fail-check' app tasks.jsonl
	assert_line --partial '"status":"failed"'
	local h
	for h in "$HOSTS"/*; do
		[ -L "$h/opt/detector/current" ] || continue
		# every host runs v1 again: the failed one never switched, the other rolled back
		assert_equal "$(cat "$h/opt/detector/current/VERSION")" v1
	done
	if grep -q '"status":"deployed"' <<<"$output"; then
		assert_line --partial '"status":"rolled-back"'
	fi
}

@test "an unreachable node is reported with the reason, the others are deployed" {
	touch "$HOSTS/10.0.0.1/down" "$HOSTS/10.0.0.2/down"
	echo '{"task":"detector","replicas":3,"cpu":1,"mem_mb":256}' >tasks.jsonl
	run_cce -1 deploy app tasks.jsonl
	assert_equal "$(grep -c '"status":"failed"' <<<"$output")" 2
	assert_equal "$(grep -c '"status":"deployed"' <<<"$output")" 1
	assert_line --partial "cannot read the node's manifest: ssh: connect to host 10.0.0.1 port 22: Connection refused"
}

@test "--state keeps placements, and after a node dies only its replicas move" {
	run_cce -0 deploy --state state.jsonl app tasks.jsonl
	assert_equal "$(wc -l <state.jsonl)" 2
	local dead
	dead=$(jq -r -s '.[0].node' state.jsonl)
	local kept
	kept=$(jq -c -s '.[1]' state.jsonl)
	# the dead node leaves the pool
	jq -c --arg d "$dead" 'if .node == $d then .state = "dead" else . end' nodes.jsonl >nodes2.jsonl
	mv nodes2.jsonl nodes.jsonl
	run_cce -0 deploy --state state.jsonl app tasks.jsonl
	assert_equal "$(jq -c -s '.[1]' state.jsonl | jq -c '{task,replica,node}')" "$(jq -c '{task,replica,node}' <<<"$kept")"
	run jq -r -s --arg d "$dead" 'map(select(.node == $d)) | length' state.jsonl
	assert_output 0
}

@test "--state after a scale-down keeps only the replicas that remain" {
	run_cce -0 deploy --state state.jsonl app tasks.jsonl
	assert_equal "$(wc -l <state.jsonl)" 2
	local first
	first=$(jq -c -s '.[0] | {task,replica,node}' state.jsonl)
	echo '{"task":"detector","replicas":1,"cpu":1,"mem_mb":256,"spread":"zone"}' >tasks.jsonl
	run_cce -0 deploy --state state.jsonl app tasks.jsonl
	assert_equal "$(wc -l <state.jsonl)" 1
	assert_equal "$(jq -c '{task,replica,node}' state.jsonl)" "$first"
}

@test "--state holds each replica at the node it runs on now, with that node's address" {
	# agent is placed once, then left out of the tasks file: it keeps running
	echo '{"task":"agent","cpu":1,"mem_mb":64}' >>tasks.jsonl
	run_cce -0 deploy --state state.jsonl app tasks.jsonl
	local dead
	dead=$(jq -r 'select(.task == "agent") | .node' state.jsonl)
	jq -c --arg d "$dead" 'if .node == $d then .state = "dead" else . end' nodes.jsonl >nodes2.jsonl
	mv nodes2.jsonl nodes.jsonl
	grep -v agent tasks.jsonl >tasks2.jsonl
	run_cce -0 deploy --state state.jsonl app tasks2.jsonl
	run jq -r '"\(.task)/\(.replica)"' state.jsonl
	assert_output $'agent/0\ndetector/0\ndetector/1'
	# agent moved off the dead node: its record names the new node and
	# that node's address, not the dead one's
	run jq -r -s --slurpfile p nodes.jsonl --arg d "$dead" \
		'($p | map({key: .node, value: .addr}) | from_entries) as $a | [.[] | select(.node == $d or .addr != $a[.node])] | length' state.jsonl
	assert_output 0
}

@test "a node's bw_limit label caps the pack sent to it; a bad one fails that node and says why" {
	# cce-sync as deploy runs it, its arguments logged
	mkdir wrap
	printf '#!/bin/sh\necho "$*" >>%s/sync-args\nexec %s "$@"\n' "$PWD" "$CCE_BUILD/bin/cce-sync" >wrap/cce-sync
	chmod +x wrap/cce-sync
	jq -c 'if .node == "e1" then .labels.bw_limit = "2MiB" elif .node == "e2" then .labels.bw_limit = "fast" else . end' \
		nodes.jsonl >n && mv n nodes.jsonl
	echo '{"task":"detector","replicas":3,"cpu":1,"mem_mb":256,"spread":"zone"}' >tasks.jsonl
	PATH="$PWD/wrap:$PATH" run_cce -1 deploy app tasks.jsonl
	run jq -r -s 'sort_by(.node) | map("\(.node) \(.status) \(.error // "")") | .[]' <<<"$output"
	assert_output "e1 deployed 
e2 failed pack failed: cce-sync: --rate-limit: invalid rate 'fast' (use e.g. 500K, 10MiB or 1MB/s)
e3 deployed "
	run grep -c -- '^pack .* --rate-limit 2MiB$' sync-args
	assert_output 1
	run grep -c -- '^pack ' sync-args
	assert_output 3
}

@test "a malformed task line is named and the run exits 65; the good tasks are deployed" {
	{ cat tasks.jsonl; echo '{"task":"broken","replicas":'; echo '{"task":"","replicas":1}'; } >bad.jsonl
	run_cce -65 deploy app bad.jsonl
	assert_equal "$(jq -s -c 'map(select(.status == "deployed")) | length' <<<"$output")" 2
	[[ "$stderr" == *"bad.jsonl:2:"* ]]
	[[ "$stderr" == *"bad.jsonl:3:"* ]]
}

@test "usage errors exit 64; a missing app directory is named" {
	run_cce -64 cce-deploy app
	assert_equal "${stderr%%$'\n'*}" "cce-deploy: expected APP_DIR and TASKS_FILE"
	run_cce -64 cce-deploy --jobs x app tasks.jsonl
	run_cce ! cce-deploy --nodes nodes.jsonl nope tasks.jsonl
	assert_equal "$stderr" "cce-deploy: cannot read app directory 'nope': not a directory"
}

@test "inputs that cannot be read exit 74, a key that cannot be read 64: codes of cce(7) only" {
	# 74, as cce-sync pack and cce-sched give for the same files
	run_cce -74 deploy nope tasks.jsonl
	assert_equal "$stderr" "cce-deploy: cannot read app directory 'nope': not a directory"
	run_cce -74 deploy app no-tasks.jsonl
	assert_equal "$stderr" "cce-deploy: cannot read tasks file 'no-tasks.jsonl'"
	run_cce -74 cce-deploy --nodes no-nodes.jsonl --ssh "$FAKE_SSH" app tasks.jsonl
	assert_equal "${stderr##*$'\n'}" "cce-deploy: cannot read node file 'no-nodes.jsonl'"
	# 64, as cce-sync pack --sign gives
	run_cce -64 deploy --sign no-key app tasks.jsonl
	assert_equal "${stderr%%$'\n'*}" "cce-deploy: cannot read signing key 'no-key'"
	# and no path of the script exits with a code cce(7) does not list
	run grep -nE '(exit|die[^(]*) ("?[0-9]+"?)$|\<die .* [0-9]+$' "$CCE_ROOT/scripts/cce-deploy"
	local line bad=()
	while IFS= read -r line; do
		[[ "$line" =~ [^0-9]([0-9]+)\"?$ ]] || continue
		case "${BASH_REMATCH[1]}" in 0|1|64|65|69|74|75) ;; *) bad+=("$line") ;; esac
	done <<<"$output"
	[ "${#bad[@]}" -eq 0 ] || { printf 'exit code not in cce(7): %s\n' "${bad[@]}"; false; }
	# the man page lists the same codes
	run bash -c "mandoc -Tascii '$CCE_ROOT/man/cce-deploy.1' | col -b | sed -n '/^EXIT STATUS/,/^EXAMPLES/p' | grep -oE '^ +[0-9]+' | tr -d ' ' | tr '\n' ' '"
	assert_output "0 1 64 65 69 74 "
}
