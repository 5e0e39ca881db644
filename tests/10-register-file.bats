#!/usr/bin/env bats
# cce-register on the file store: the functional suite (tests/register/
# functional.bash), then what only a file store has to survive: concurrent
# writers, kill -9, torn logs, a full disk, compaction.

load lib/common

store_setup() {
	export CCE_STORE="file:$CCE_HOME/registry"
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

@test "an option that does not apply to the subcommand is refused, exit 64, as cce-sync does" {
	run_cce -64 cce-register list --addr 10.0.0.1
	assert_output ""
	assert_equal "$stderr" "cce-register: --addr does not apply to 'list'
Try 'cce-register --help' for more information."
	run_cce -64 cce-register token edge-1 --alive
	assert_equal "${stderr%%$'\n'*}" "cce-register: --alive does not apply to 'token'"
	run_cce -64 cce-register join edge-1 --token x --tasks status.jsonl
	assert_equal "${stderr%%$'\n'*}" "cce-register: --tasks does not apply to 'join'"
	run_cce -64 cce-register list -v
	assert_equal "${stderr%%$'\n'*}" "cce-register: --verbose does not apply to 'list'"
}

@test "apply: a --rejects file that cannot be written names itself and the error, exit 74" {
	# a line the parser refuses, and an op the store refuses
	for bad in '{"op":"reboot","node":"edge-1"}' '{"op":"cordon","node":"nope"}'; do
		run_cce -74 cce-register apply --rejects /dev/full <<<"$bad"
		[[ "$stderr" == *"cce-register: stdin:1: "* ]]
		[[ "$stderr" == *"
cce-register: cannot write rejects file '/dev/full': No space left on device" ]]
		[[ "$stderr" != *"--strict"* ]]
	done
	# --strict stops with the words every tool uses, and keeps the line
	run_cce -65 cce-register apply --strict --rejects rej <<<'{"op":"cordon","node":"nope"}
{"op":"cordon","node":"nope2"}'
	assert_equal "$stderr" "cce-register: stdin:1: nope: unknown node
cce-register: stopping at the first rejected line (--strict)"
	assert_equal "$(cat rej)" '{"op":"cordon","node":"nope"}'
}

@test "tokens: only the exact text of a token is valid, not another spelling of its numbers" {
	join edge-1
	local good issued expires mac t
	good=$(token edge-1)
	IFS=. read -r _ issued expires mac <<<"$good"
	for t in "1.0$issued.$expires.$mac" "1.$issued.0$expires.$mac" "1.+$issued.$expires.$mac" \
		"01.$issued.$expires.$mac" "1.$issued.$expires.${mac^^}" "$good " " $good" '\n'"$good" \
		"$good\\n" "$good.x" "${good}0"; do
		# after the good token in the same run, so that its cached check is tried too
		printf '{"op":"heartbeat","node":"edge-1","token":"%s"}\n' "$good" "$t" >ops.jsonl
		run_cce -65 cce-register apply -v --rejects rej ops.jsonl
		run jq -r '"\(.event) \(.reason)"' <<<"$output"
		assert_output "heartbeat null
rejected bad token"
		assert_equal "$(tail -n1 rej)" "$(tail -n1 ops.jsonl)"
	done
}

@test "apply: a node name, label, token or address holding U+0000 is rejected, naming the field" {
	join edge-1
	local t
	t=$(token edge-1)
	reject 'node: contains a NUL character' '{"op":"cordon","node":"edge-1\u0000x"}'
	reject 'labels.arch: contains a NUL character' "{\"op\":\"join\",\"node\":\"edge-1\",\"token\":\"$t\",\"labels\":{\"arch\":\"arm\\u0000x\"}}"
	reject 'labels: a key contains a NUL character' "{\"op\":\"join\",\"node\":\"edge-1\",\"token\":\"$t\",\"labels\":{\"ar\\u0000ch\":\"arm\"}}"
	reject 'token: contains a NUL character' "{\"op\":\"heartbeat\",\"node\":\"edge-1\",\"token\":\"$t\\u0000x\"}"
	reject 'addr: contains a NUL character' "{\"op\":\"join\",\"node\":\"edge-1\",\"token\":\"$t\",\"addr\":\"10.0.0.1\\u0000x\"}"
}

# what bash offers for the words given (the last one is being completed)
complete_words() {
	bash -c '
		source /usr/share/bash-completion/bash_completion
		source "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
		_cce_register cce-register "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
		printf "%s\n" "${COMPREPLY[@]}"
	' _ "$CCE_ROOT/completions/cce-register.bash" "$@"
}

@test "bash completes subcommands, node names from list, and option values" {
	join edge-1
	join edge-2
	run complete_words cce-register co
	assert_output "cordon
compact"
	run complete_words cce-register --ttl 5s cordon e
	assert_output "edge-1
edge-2"
	run complete_words cce-register list -o a
	assert_output addr
	run complete_words cce-register heartbeat edge-1 --lo
	assert_output --load
}
