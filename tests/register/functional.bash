# The functional suite of cce-register, run against every store. bats finds
# @test only in the .bats file itself, so each .bats file that loads this
# one names every t_* function below in a one-line @test, and defines
# store_setup (called per test, exporting CCE_STORE); it may start a
# server in setup_file.

setup() {
	common_setup
	store_setup
	run_cce cce-register init
}

# token NODE [--ttl DUR]: a fresh token for NODE on stdout
token() {
	cce-register token "$@" | jq -r .token
}

join() {
	local n=$1
	shift
	cce-register join "$n" --token "$(token "$n")" --addr "10.0.0.${n##*-}" "$@" >/dev/null
}

# the store's content as list prints it, without the clock-dependent fields
snapshot() {
	cce-register list --all | jq -c 'del(.state, .last_seen, .joined)'
}

# init makes a 0600 secret and token prints node, token and expiry
t_init_makes_a_0600() {
	assert_file_exists "$CCE_HOME/secret"
	run stat -c %a "$CCE_HOME/secret"
	assert_output 600
	run_cce cce-register token edge-1 edge-2 --ttl 1h
	assert_equal "${#lines[@]}" 2
	run jq -r '"\(.node) \(.expires - now*1000 | . > 3590000 and . < 3610000) \(.token|length > 60)"' <<<"$output"
	assert_line -n 0 "edge-1 true true"
	assert_line -n 1 "edge-2 true true"
	# init twice keeps the secret: tokens stay valid
	local before
	before=$(cat "$CCE_HOME/secret")
	run_cce cce-register init
	assert_equal "$(cat "$CCE_HOME/secret")" "$before"
}

# join then list prints exactly the issue's fields
t_join_then_list_prints() {
	run_cce cce-register join edge-17 --token "$(token edge-17)" --addr 10.0.0.17 \
		--region sh --zone sh-a --label arch=arm64 --cpu 4 --mem-mb 4096 --disk-mb 32768 \
		--service mqtt:1883 --cost 0.02
	run jq -r .event <<<"$output"
	assert_output joined
	run_cce cce-register list
	run jq -c 'keys_unsorted' <<<"$output"
	assert_output '["node","addr","region","zone","labels","capacity","load","tasks","services","cost","state","joined","last_seen"]'
	run_cce cce-register list
	run jq -c 'del(.joined, .last_seen)' <<<"$output"
	assert_output '{"node":"edge-17","addr":"10.0.0.17","region":"sh","zone":"sh-a","labels":{"arch":"arm64"},"capacity":{"cpu":4,"mem_mb":4096,"disk_mb":32768},"load":{},"tasks":[],"services":[{"name":"mqtt","port":1883}],"cost":0.02,"state":"ready"}'
	# joining again updates the record and keeps the join time
	local joined
	joined=$(cce-register list | jq .joined)
	run_cce cce-register join edge-17 --token "$(token edge-17)" --addr 10.0.0.99
	run jq -r .event <<<"$output"
	assert_output updated
	run_cce cce-register list
	run jq -r '"\(.addr) \(.joined)"' <<<"$output"
	assert_output "10.0.0.99 $joined"
}

# apply reads op records and prints one event per op, heartbeats with -v only
t_apply_reads_op_records() {
	local t1 t2
	t1=$(token edge-1)
	t2=$(token edge-2)
	cat >"$BATS_TEST_TMPDIR/ops" <<-END
	{"op":"join","node":"edge-1","token":"$t1","addr":"10.0.0.1","labels":{"arch":"arm64"}}
	{"op":"join","node":"edge-2","token":"$t2","addr":"10.0.0.2","labels":{"arch":"x86_64"}}
	{"op":"heartbeat","node":"edge-1","token":"$t1","load":{"cpu":1.5,"mem_mb":1200}}
	{"op":"cordon","node":"edge-2"}
	{"op":"uncordon","node":"edge-2"}
	{"op":"leave","node":"edge-2","token":"$t2"}
	END
	run_cce cce-register apply "$BATS_TEST_TMPDIR/ops"
	run jq -r '"\(.event) \(.node) \(.ts > 0)"' <<<"$output"
	assert_output "joined edge-1 true
joined edge-2 true
cordoned edge-2 true
uncordoned edge-2 true
left edge-2 true"
	run_cce cce-register list
	run jq -c '[.node, .load]' <<<"$output"
	assert_output '["edge-1",{"cpu":1.5,"mem_mb":1200}]'
	echo "{\"op\":\"heartbeat\",\"node\":\"edge-1\",\"token\":\"$t1\"}" >"$BATS_TEST_TMPDIR/hb"
	run_cce cce-register apply -v <"$BATS_TEST_TMPDIR/hb"
	run jq -r .event <<<"$output"
	assert_output heartbeat
}

# heartbeat --print builds the op without touching the store
t_heartbeat_print_builds_the() {
	local t
	t=$(token edge-3)
	run_cce cce-register heartbeat edge-3 --token "$t" --load auto --print
	run jq -r '"\(.op) \(.node) \(.token == "'"$t"'") \(.load.cpu >= 0) \(.load.mem_mb > 0) \(.ts > 0)"' <<<"$output"
	assert_output "heartbeat edge-3 true true true true"
	run_cce cce-register list --all
	assert_output ""
	# the printed join, applied elsewhere, joins
	echo "$t" >"$BATS_TEST_TMPDIR/tok"
	cce-register join edge-3 --token-file "$BATS_TEST_TMPDIR/tok" --addr 10.0.0.3 --print \
		>"$BATS_TEST_TMPDIR/op"
	run_cce cce-register apply "$BATS_TEST_TMPDIR/op"
	run jq -r .event <<<"$output"
	assert_output joined
	run_cce cce-register heartbeat edge-3 --load cpu=0.5,mem_mb=100 --token-file "$BATS_TEST_TMPDIR/tok"
	run_cce cce-register list
	run jq -c .load <<<"$output"
	assert_output '{"cpu":0.5,"mem_mb":100}'
}

# reject REASON OPLINE: the op is refused with a reason event and a stderr
# line, the exit is 65 and the store is unchanged
reject() {
	local want=$1 line=$2 before
	before=$(snapshot)
	printf '%s\n' "$line" >"$BATS_TEST_TMPDIR/bad"
	run_cce -65 cce-register apply --rejects "$BATS_TEST_TMPDIR/rej" "$BATS_TEST_TMPDIR/bad"
	run jq -r '"\(.event): \(.reason)"' <<<"$output"
	assert_output "rejected: $want"
	assert_equal "$(tail -n1 "$BATS_TEST_TMPDIR/rej")" "$line"
	[[ "$stderr" == *"cce-register: "*"bad:1: "*"$want"* ]] || {
		echo "stderr: $stderr"
		false
	}
	assert_equal "$(snapshot)" "$before"
}

# bad, expired and revoked tokens are rejected and change nothing
t_bad_expired_and_revoked() {
	join edge-1
	local good expired
	good=$(token edge-1)
	expired=$(token edge-1 --ttl 1ms)
	sleep 0.01
	reject "bad token" '{"op":"heartbeat","node":"edge-1","token":"1.2.3.abc","load":{"cpu":9}}'
	# the good token with its last MAC digit changed
	local flipped=${good%?}0
	[ "$flipped" != "$good" ] || flipped=${good%?}1
	reject "bad token" "{\"op\":\"heartbeat\",\"node\":\"edge-1\",\"token\":\"$flipped\",\"load\":{\"cpu\":9}}"
	reject "bad token" "{\"op\":\"leave\",\"node\":\"edge-1\",\"token\":\"$(token edge-2)\"}"
	reject "missing token" '{"op":"leave","node":"edge-1"}'
	reject "expired token" "{\"op\":\"heartbeat\",\"node\":\"edge-1\",\"token\":\"$expired\",\"load\":{\"cpu\":9}}"
	run_cce cce-register revoke edge-1
	run jq -r .event <<<"$output"
	assert_output revoked
	reject "revoked token" "{\"op\":\"heartbeat\",\"node\":\"edge-1\",\"token\":\"$good\",\"load\":{\"cpu\":9}}"
	# a token issued after the revocation works
	run_cce cce-register heartbeat edge-1 --token "$(token edge-1)"
}

# bad names, unknown nodes, mistyped fields and oversize records are rejected
t_bad_names_unknown_nodes() {
	join edge-1
	local t
	t=$(token edge-1)
	reject "bad node name (1-63 of A-Z a-z 0-9 . _ -)" '{"op":"cordon","node":"edge 1"}'
	reject "bad node name (1-63 of A-Z a-z 0-9 . _ -)" "{\"op\":\"cordon\",\"node\":\"$(printf 'a%.0s' {1..64})\"}"
	reject "bad node name (1-63 of A-Z a-z 0-9 . _ -)" '{"op":"cordon","node":""}'
	reject "node: expected a string, got number" '{"op":"cordon","node":17}'
	reject "node: missing" '{"op":"cordon"}'
	reject "\"op\" must be one of join, heartbeat, leave, cordon, uncordon" '{"op":"reboot","node":"edge-1"}'
	reject "unknown node" '{"op":"cordon","node":"edge-9"}'
	reject "addr: expected a string, got number" "{\"op\":\"join\",\"node\":\"edge-1\",\"token\":\"$t\",\"addr\":10}"
	reject "capacity.cpu: expected a non-negative number, got string" "{\"op\":\"join\",\"node\":\"edge-1\",\"token\":\"$t\",\"capacity\":{\"cpu\":\"4\"}}"
	reject "label values must be strings" "{\"op\":\"join\",\"node\":\"edge-1\",\"token\":\"$t\",\"labels\":{\"a\":1}}"
	reject "a service needs a \"port\" from 1 to 65535" "{\"op\":\"join\",\"node\":\"edge-1\",\"token\":\"$t\",\"services\":[{\"name\":\"x\",\"port\":70000}]}"
	reject "load values must be numbers" "{\"op\":\"heartbeat\",\"node\":\"edge-1\",\"token\":\"$t\",\"load\":{\"cpu\":\"high\"}}"
	reject "\"ts\" is not an RFC 3339 time" "{\"op\":\"heartbeat\",\"node\":\"edge-1\",\"token\":\"$t\",\"ts\":\"yesterday\"}"
	local big
	big=$(head -c 70000 /dev/zero | tr '\0' x)
	reject "record too large (70039 bytes, at most 65536)" "{\"op\":\"join\",\"node\":\"edge-1\",\"addr\":\"$big\"}"
	# --strict: the first rejection ends the run
	printf '%s\n' '{"op":"cordon","node":"nope"}' '{"op":"cordon","node":"edge-1"}' \
		>"$BATS_TEST_TMPDIR/strict"
	run_cce -65 cce-register apply --strict -u <"$BATS_TEST_TMPDIR/strict"
	[[ "$stderr" == *"stopping at the first rejected line (--strict)"* ]]
	# the state --strict left, not liveness: under a sanitizer on a loaded
	# machine the rejections above took more than the default 30s ttl
	run_cce cce-register list --ttl 1h
	run jq -r .state <<<"$output"
	assert_output ready
	# good lines around a bad one are applied, the bad one is not
	printf '%s\n' '{"op":"cordon","node":"edge-1"}' 'not json' '{"op":"cordon","node":"nope"}' \
		'{"op":"uncordon","node":"edge-1"}' >"$BATS_TEST_TMPDIR/mixed"
	run_cce -65 cce-register apply "$BATS_TEST_TMPDIR/mixed"
	run jq -r .event <<<"$output"
	assert_output "cordoned
rejected
uncordoned"
}

# leave, leave --force, cordon and uncordon change the state
t_leave_leave_force_cordon() {
	join edge-1
	join edge-2
	join edge-3
	run_cce cce-register cordon edge-2
	run_cce cce-register list --alive -o addr
	assert_output "10.0.0.1
10.0.0.3"
	run_cce cce-register list
	run jq -r '"\(.node) \(.state)"' <<<"$output"
	assert_output "edge-1 ready
edge-2 cordoned
edge-3 ready"
	run_cce cce-register uncordon edge-2
	run_cce cce-register leave edge-1 --token "$(token edge-1)"
	run_cce -64 cce-register leave edge-3
	run_cce cce-register leave edge-3 --force
	run_cce cce-register list -o addr
	assert_output "10.0.0.2"
	run_cce -65 cce-register leave edge-3 --force
	run jq -r '"\(.event) \(.reason)"' <<<"$output"
	assert_output "rejected unknown node"
	assert_equal "$stderr" "cce-register: edge-3: unknown node"
}

# list filters by selector, region and service
t_list_filters_by_selector() {
	join edge-1 --region sh --label arch=arm64 --label gpu=yes --service mqtt:1883
	join edge-2 --region sh --label arch=x86_64 --service http:80
	join edge-3 --region bj --label arch=arm64 --service mqtt:8883
	run_cce cce-register list --selector arch=arm64 -o addr
	assert_output "10.0.0.1
10.0.0.3"
	run_cce cce-register list --selector arch=arm64,gpu=yes -o addr
	assert_output "10.0.0.1"
	run_cce cce-register list --region sh -o addr
	assert_output "10.0.0.1
10.0.0.2"
	run_cce cce-register list --service mqtt -o addr
	assert_output "10.0.0.1:1883
10.0.0.3:8883"
	run_cce cce-register list --region bj -o text
	assert_line -n 0 --regexp '^NODE +STATE +ADDR +REGION +ZONE +LAST_SEEN +TASKS$'
	assert_line -n 1 --regexp '^edge-3 +ready +10\.0\.0\.3 +bj +- +20[0-9-]+T[0-9:.]+Z +-$'
	run_cce -64 cce-register list -o yaml
	run_cce -64 cce-register list --alive --all
}

# liveness: suspect after one ttl, dead after three; expire reports transitions once
t_liveness() {
	join edge-1
	join edge-2
	join edge-3
	run_cce cce-register list --ttl 30s
	run jq -r .state <<<"$output"
	assert_output "ready
ready
ready"
	run_cce cce-register expire --ttl 30s
	assert_output ""
	# 10.5s of silence: suspect under a 10s ttl until 30s of silence, so
	# the checks below have 19.5s (with a 4s ttl, 7.5s, a sanitizer run on
	# a machine at load 14 saw edge-2 dead); dead under a 3s ttl. edge-1
	# speaks again; the checks after the first two look at edge-2 and
	# edge-3 only, as edge-1 may itself fall silent for 3s on a slow machine.
	# A node that speaks is alive under the 3s ttl if the two commands
	# between its heartbeat and the expire take less than 3s.
	sleep 10.5
	run_cce cce-register heartbeat edge-1 --token "$(token edge-1)"
	run_cce cce-register list --ttl 10s --alive -o addr
	assert_output 10.0.0.1
	run_cce cce-register list --ttl 10s --all
	run jq -r '"\(.node) \(.state)"' <<<"$output"
	assert_output "edge-1 ready
edge-2 suspect
edge-3 suspect"
	run_cce cce-register list --ttl 3s --all
	run jq -r 'select(.node != "edge-1") | "\(.node) \(.state)"' <<<"$output"
	assert_output "edge-2 dead
edge-3 dead"
	# dead nodes are listed with --all only
	run_cce cce-register list --ttl 3s
	run jq -r 'select(.node != "edge-1") | .node' <<<"$output"
	assert_output ""
	run_cce cce-register expire --ttl 10s
	run jq -r 'select(.node != "edge-1") | "\(.event) \(.node)"' <<<"$output"
	assert_equal "$(sort <<<"$output")" "suspect edge-2
suspect edge-3"
	run_cce cce-register expire --ttl 10s
	run jq -r 'select(.node != "edge-1") | "\(.event) \(.node)"' <<<"$output"
	assert_output ""
	run_cce cce-register expire --ttl 3s
	run jq -r 'select(.node != "edge-1") | "\(.event) \(.node)"' <<<"$output"
	assert_equal "$(sort <<<"$output")" "dead edge-2
dead edge-3"
	run_cce cce-register heartbeat edge-3 --token "$(token edge-3)"
	run_cce cce-register expire --ttl 3s
	run jq -r 'select(.node != "edge-1") | "\(.event) \(.node)"' <<<"$output"
	assert_output "alive edge-3"
}

# watch streams changes as they are applied
t_watch_streams_changes_as() {
	join edge-1
	cce-register watch >"$BATS_TEST_TMPDIR/watch" 2>"$BATS_TEST_TMPDIR/watch.err" &
	local pid=$! i
	# watch shows what happens once it runs: cordon until it has seen one
	for i in $(seq 1 50); do
		cce-register cordon edge-1 >/dev/null
		grep -q cordoned "$BATS_TEST_TMPDIR/watch" && break
		sleep 0.2
	done
	run_cce cce-register uncordon edge-1
	run_cce cce-register heartbeat edge-1 --token "$(token edge-1)"
	run_cce cce-register leave edge-1 --force
	wait_for 10 grep -q left "$BATS_TEST_TMPDIR/watch"
	kill "$pid"
	wait "$pid" || true
	run jq -r '"\(.event) \(.node)"' "$BATS_TEST_TMPDIR/watch"
	assert_equal "$(grep -v '^cordoned' <<<"$output")" "uncordoned edge-1
left edge-1"
	assert_equal "$(tail -n 2 <<<"$output")" "uncordoned edge-1
left edge-1"
}

# watch -v shows heartbeats too, each with the load it reported: the log is
# the fleet's history (cce-report --history reads it)
t_watch_verbose_carries_load() {
	join edge-1
	cce-register watch -v >"$BATS_TEST_TMPDIR/watch" 2>"$BATS_TEST_TMPDIR/watch.err" &
	local pid=$! i
	for i in $(seq 1 50); do
		cce-register heartbeat edge-1 --token "$(token edge-1)" --load cpu=1.5,mem_mb=300 >/dev/null
		grep -q heartbeat "$BATS_TEST_TMPDIR/watch" && break
		sleep 0.2
	done
	kill "$pid"
	wait "$pid" || true
	run jq -c 'select(.event == "heartbeat") | [.node, .load, (.ts | type)]' "$BATS_TEST_TMPDIR/watch"
	assert_line --index 0 '["edge-1",{"cpu":1.5,"mem_mb":300},"number"]'
}

# status_lines: three units as `cce-task status` prints them (cce-task(1))
status_lines() {
	cat <<'EOF'
{"task":"web","replica":0,"unit":"cce-web@0.service","state":"active","sub":"running","since":1733300000000,"restarts":1,"pid":812,"mem_mb":12.5,"mem_peak_mb":20.1,"cpu_ms":350,"exit":null,"signal":"KILL","result":"success","oom":false,"release":"20261204T101010Z-1a2b"}
{"task":"web","replica":1,"unit":"cce-web@1.service","state":"active","sub":"running","since":1733300000000,"restarts":0,"pid":813,"mem_mb":11,"mem_peak_mb":19,"cpu_ms":300,"exit":null,"signal":null,"result":"success","oom":false,"release":"20261204T101010Z-1a2b"}
{"task":"det ector","replica":2,"unit":"cce-det\\x20ector@2.service","state":"failed","sub":"failed","since":1733300000000,"restarts":7,"pid":0,"mem_mb":0,"mem_peak_mb":64,"cpu_ms":90,"exit":null,"signal":"KILL","result":"oom-kill","oom":true,"release":"r1"}
EOF
}

TASKS3='[{"task":"web","replica":0,"state":"active","restarts":1,"oom":false},{"task":"web","replica":1,"state":"active","restarts":0,"oom":false},{"task":"det ector","replica":2,"state":"failed","restarts":7,"oom":true}]'

# heartbeat --tasks carries cce-task status lines; list shows them, kept
# by a heartbeat without --tasks, replaced by the next, cleared by an empty one
t_heartbeat_tasks_carried_and() {
	join edge-1
	join edge-2
	local t
	t=$(token edge-1)
	status_lines >status.jsonl
	run_cce cce-register heartbeat edge-1 --token "$t" --tasks status.jsonl
	run jq -r .event <<<"$output"
	assert_output heartbeat
	run_cce cce-register list
	run jq -c '[.node, .tasks]' <<<"$output"
	assert_output "[\"edge-1\",$TASKS3]
[\"edge-2\",[]]"
	run_cce cce-register list -o text
	assert_line -n 1 --regexp '^edge-1 +ready .* 2/3 up$'
	assert_line -n 2 --regexp '^edge-2 +ready .* -$'
	# a heartbeat with only its load keeps the summary
	run_cce cce-register heartbeat edge-1 --token "$t" --load cpu=2
	run_cce cce-register list
	run jq -c 'select(.node == "edge-1") | [.load, .tasks]' <<<"$output"
	assert_output "[{\"cpu\":2},$TASKS3]"
	# from a pipe, as cron runs it: the newest summary replaces the last
	head -n1 status.jsonl | cce-register heartbeat edge-1 --token "$t" --tasks - >/dev/null
	run_cce cce-register list
	run jq -c 'select(.node == "edge-1") | .tasks' <<<"$output"
	assert_output '[{"task":"web","replica":0,"state":"active","restarts":1,"oom":false}]'
	# through apply, and kept across a compaction (the file store folds
	# its log into the snapshot; etcd's values hold it already)
	cce-register heartbeat edge-2 --token "$(token edge-2)" --tasks status.jsonl --print >op
	run_cce cce-register apply op
	run_cce cce-register compact
	run_cce cce-register list
	run jq -c '[.node, .tasks]' <<<"$output"
	assert_output "[\"edge-1\",[{\"task\":\"web\",\"replica\":0,\"state\":\"active\",\"restarts\":1,\"oom\":false}]]
[\"edge-2\",$TASKS3]"
	run_cce cce-register list
	run jq -r 'select(any(.tasks[]; .state == "failed" or .oom)) | .node' <<<"$output"
	assert_output edge-2
	# an empty file: the node runs no tasks
	run_cce cce-register heartbeat edge-2 --token "$(token edge-2)" --tasks /dev/null
	run_cce cce-register list -o text
	assert_line -n 2 --regexp '^edge-2 +ready .* -$'
	run_cce cce-register list
	run jq -c 'select(.node == "edge-2") | .tasks' <<<"$output"
	assert_output '[]'
}

# bad tasks arrays are rejected with the field's reason and change nothing
t_bad_tasks_arrays_are() {
	join edge-1
	local t long many u='"replica":0,"state":"active","restarts":0,"oom":false'
	t=$(token edge-1)
	status_lines >status.jsonl
	cce-register heartbeat edge-1 --token "$t" --tasks status.jsonl >/dev/null
	long=$(printf 'x%.0s' {1..256})
	many=$(jq -nc '[range(257) | {task:"t",replica:.,state:"active",restarts:0,oom:false}]')
	local -a cases=(
		'tasks: expected an array, got object' '{}'
		'tasks: expected an array, got null' 'null'
		'tasks[0]: expected an object' '[1]'
		'tasks[0].state: missing' '[{"task":"w","replica":0,"restarts":0,"oom":false}]'
		'tasks[0].task: missing' '[{"replica":0,"state":"active","restarts":0,"oom":false}]'
		'tasks[0].replica: expected an integer from 0 to 999999999' '[{"task":"w","replica":-1,"state":"active","restarts":0,"oom":false}]'
		'tasks[0].restarts: expected an integer from 0 to 2147483647' '[{"task":"w","replica":0,"state":"active","restarts":1.5,"oom":false}]'
		'tasks[0].oom: expected a boolean, got string' '[{"task":"w","replica":0,"state":"active","restarts":0,"oom":"no"}]'
		'tasks[0].task: empty' "[{\"task\":\"\",$u}]"
		'tasks[0].task: longer than 255 bytes' "[{\"task\":\"$long\",$u}]"
		'tasks[0].task: name starts with a control character' "[{\"task\":\"\\u0001x\",$u}]"
		'tasks[0].task: contains a NUL character' "[{\"task\":\"w\\u0000\",$u}]"
		'tasks[0].state: expected a unit state such as active or failed' '[{"task":"w","replica":0,"state":"Active","restarts":0,"oom":false}]'
		'tasks[1]: the same task and replica as tasks[0]' "[{\"task\":\"w\",$u},{\"task\":\"w\",$u}]"
		'tasks: at most 256 units' "$many"
	)
	# (positional parameters: reject's helpers may set a global i)
	set -- "${cases[@]}"
	while (($#)); do
		reject "$1" "{\"op\":\"heartbeat\",\"node\":\"edge-1\",\"token\":\"$t\",\"tasks\":$2}"
		shift 2
	done
	run_cce cce-register list
	run jq -c .tasks <<<"$output"
	assert_output "$TASKS3"
	# --tasks: a line that is not a JSON object sends nothing (65), a file
	# that cannot be read neither (74)
	local before
	before=$(snapshot)
	printf '%s\nnope\n' "$(head -n1 status.jsonl)" >bad.jsonl
	run_cce -65 cce-register heartbeat edge-1 --token "$t" --tasks bad.jsonl
	assert_equal "$stderr" "cce-register: --tasks: bad.jsonl:2: invalid literal 'nope'"
	run_cce -65 cce-register heartbeat edge-1 --token "$t" --tasks - <<<'[]'
	assert_equal "$stderr" "cce-register: --tasks: stdin:1: not a JSON object"
	run_cce -74 cce-register heartbeat edge-1 --token "$t" --tasks missing.jsonl
	assert_equal "$stderr" "cce-register: --tasks: cannot open 'missing.jsonl': No such file or directory"
	# a summary op_parse refuses, built from the command line: 64, named
	run_cce -64 cce-register heartbeat edge-1 --token "$t" --tasks - <<<'{"task":"w","replica":0}'
	assert_equal "$stderr" "cce-register: edge-1: tasks[0].state: missing"
	assert_equal "$(snapshot)" "$before"
}

# usage errors exit 64 and name the culprit
t_usage_errors_exit_64() {
	run_cce -64 cce-register
	assert_output ""
	[[ "$stderr" == *"no subcommand"* ]]
	run_cce -64 cce-register frobnicate
	[[ "$stderr" == *"unknown subcommand 'frobnicate'"* ]]
	run_cce -64 cce-register list --ttl abc
	[[ "$stderr" == *"--ttl: invalid duration 'abc'"* ]]
	run_cce -64 cce-register token 'bad name'
	run_cce -64 cce-register join edge-1
	[[ "$stderr" == *"needs --token"* ]]
	run_cce -64 cce-register join edge-1 --token x --service mqtt
	run_cce -64 cce-register join edge-1 --token x --cpu lots
	run_cce -64 cce-register heartbeat edge-1 --token x --load cpu
	run_cce -64 cce-register list extra
	run_cce cce-register --help
	[[ "$output" == "usage: cce-register "* ]]
}
