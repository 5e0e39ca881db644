#!/usr/bin/env bats
# cce-register's file store under faults: two writers at once, kill -9 in
# the middle of apply, a torn log, a full disk, compaction, a missing store.

load lib/common

setup() {
	common_setup
	export CCE_STORE="file:$CCE_HOME/registry"
	run_cce cce-register init
}

lines_at_least() {
	[ "$(wc -l <"$1")" -ge "$2" ]
}

# slowly FILE: the file's lines one write at a time (apply then commits
# small batches as it would from a network peer)
slowly() {
	while IFS= read -r l; do printf '%s\n' "$l"; done <"$1"
}

# ops FILE OP N [PREFIX]: N op records for nodes PREFIX1..PREFIXN, with tokens
ops() {
	local file=$1 op=$2 n=$3 prefix=${4:-n}
	cce-register token $(seq -f "$prefix%g" 1 "$n") |
		jq -c --arg op "$op" '{op: $op, node, token, addr: "10.1.0.1"}' >"$file"
}

@test "two apply processes deciding on the same nodes lose no update" {
	local d=$BATS_TEST_TMPDIR
	mkfifo "$d/a" "$d/b"
	cce-register apply -v <"$d/a" >"$d/out.a" 2>"$d/err.a" &
	local pa=$!
	cce-register apply -v <"$d/b" >"$d/out.b" 2>"$d/err.b" &
	local pb=$!
	exec 7>"$d/a" 8>"$d/b"
	local i t
	for i in $(seq 1 15); do
		t=$(cce-register token "n$i" | jq -r .token)
		# A joins, B (which has not seen it) must see the join...
		echo "{\"op\":\"join\",\"node\":\"n$i\",\"token\":\"$t\",\"addr\":\"10.1.0.$i\"}" >&7
		wait_for 10 grep -q "\"joined\",\"node\":\"n$i\"" "$d/out.a"
		echo "{\"op\":\"cordon\",\"node\":\"n$i\"}" >&8
		wait_for 10 grep -q "\"cordoned\",\"node\":\"n$i\"" "$d/out.b"
		# ...and A's update must not undo B's cordon
		echo "{\"op\":\"join\",\"node\":\"n$i\",\"token\":\"$t\",\"addr\":\"10.2.0.$i\"}" >&7
		wait_for 10 grep -q "\"updated\",\"node\":\"n$i\"" "$d/out.a"
	done
	exec 7>&- 8>&-
	wait "$pa"
	wait "$pb"
	run grep -c rejected "$d/out.a" "$d/out.b"
	assert_output "$d/out.a:0
$d/out.b:0"
	run_cce cce-register list
	run jq -r '"\(.state) \(.addr | startswith("10.2.0."))"' <<<"$output"
	assert_equal "$(sort -u <<<"$output")" "cordoned true"
	assert_equal "${#lines[@]}" 15
}

@test "two apply processes at full speed: every op lands, no line is torn" {
	local d=$BATS_TEST_TMPDIR
	ops "$d/ja" join 3000 a
	ops "$d/jb" join 3000 b
	jq -c '.op = "heartbeat"' "$d/ja" >"$d/hb"
	jq -c '{op: "cordon", node}' "$d/jb" >"$d/cordon"
	cat "$d/hb" >>"$d/ja"
	cat "$d/cordon" >>"$d/jb"
	cce-register apply "$d/ja" >"$d/out.a" &
	local pa=$!
	cce-register apply "$d/jb" >"$d/out.b" &
	local pb=$!
	wait "$pa"
	wait "$pb"
	run_cce cce-register list
	assert_equal "${#lines[@]}" 6000
	run jq -r .state <<<"$output"
	assert_equal "$(sort <<<"$output" | uniq -c | tr -s ' ')" " 3000 cordoned
 3000 ready"
	# every log line is whole JSON
	run jq -c . "$CCE_HOME/registry/log.0"
	assert_success
	assert_equal "${#lines[@]}" 12000
}

@test "kill -9 during apply: the store opens and holds every acknowledged op" {
	local d=$BATS_TEST_TMPDIR
	ops "$d/ops" join 20000
	# a slow producer, so that apply is killed in the middle of its work
	slowly "$d/ops" | cce-register apply >"$d/acked" 2>"$d/err" &
	local pid=$!
	wait_for 20 lines_at_least "$d/acked" 200
	kill -9 "$pid"
	wait "$pid" || true
	local acked
	acked=$(jq -r .node "$d/acked" | sort)
	[ "$(wc -l <<<"$acked")" -ge 200 ]
	run_cce cce-register list
	local stored
	stored=$(jq -r .node <<<"$output" | sort)
	# every node whose join was acknowledged is there
	run comm -23 <(echo "$acked") <(echo "$stored")
	assert_output ""
	# and the store takes more ops
	run_cce cce-register cordon n1
}

@test "a torn last log line is ignored on open and cut by the next writer" {
	local t
	t=$(cce-register token edge-1 | jq -r .token)
	run_cce cce-register join edge-1 --token "$t" --addr 10.0.0.1
	run_cce cce-register list
	local before=$output
	printf '{"ev":"heartbeat","ts":1,"node":"edge-1","last_se' >>"$CCE_HOME/registry/log.0"
	run_cce cce-register list
	assert_output "$before"
	run_cce cce-register cordon edge-1
	[[ "$stderr" == *"cut off a torn last line"* ]]
	run jq -c . "$CCE_HOME/registry/log.0"
	assert_success
	run jq -r .ev "$CCE_HOME/registry/log.0"
	assert_output "joined
cordoned"
	run_cce cce-register list
	run jq -r .state <<<"$output"
	assert_output cordoned
}

@test "heartbeat log lines replay alike however they are spelled" {
	# list reads the heartbeats apply writes without a full parse; other
	# spellings of the same line take the full parse, and a line that
	# looks like a heartbeat but is not JSON is skipped like any other
	local t1 t2 log=$CCE_HOME/registry/log.0 now
	t1=$(cce-register token edge-1 | jq -r .token)
	t2=$(cce-register token edge-2 | jq -r .token)
	run_cce cce-register join edge-1 --token "$t1" --addr 10.0.0.1 --load cpu=1
	run_cce cce-register join edge-2 --token "$t2" --addr 10.0.0.2 --load cpu=1
	now=$(($(date +%s) * 1000))
	{
		printf '{"ev":"heartbeat","ts":1,"node":"edge-1","last_seen":%d,"load":{"cpu":2.5,"x":1e2}}\n' "$now"
		printf '{"ev":"heartbeat","ts":1,"node":"edge-1","last_seen":%d,"load":{"cpu":}}\n' "$((now + 5))"
		printf '{ "node": "edge-2", "last_seen": %d, "ev": "heartbeat", "load": {"cpu": 3.5}, "ts": 1 }\n' "$((now + 1))"
		printf '{"ev":"heartbeat","ts":1,"node":"edge-9","last_seen":%d,"load":{}}\n' "$now"
		printf '{"ev":"heartbeat","ts":1,"node":"edge-2","last_seen":%d,"load":{"cpu":4.5}} \n' "$((now + 2))"
	} >>"$log"
	run_cce cce-register list --all
	[[ "$stderr" == *"skipping a malformed log line"* ]]
	# the load as it was written
	[[ "$output" == *'"load":{"cpu":2.5,"x":1e2}'* ]]
	run jq -c '[.node, .last_seen - '"$now"', .load]' <<<"$output"
	assert_output '["edge-1",0,{"cpu":2.5,"x":100}]
["edge-2",2,{"cpu":4.5}]'
	# an empty load goes back to the default
	printf '{"ev":"heartbeat","ts":1,"node":"edge-1","last_seen":%d,"load":{}}\n' "$((now + 3))" >>"$log"
	run_cce cce-register list --all
	run jq -c '[.node, .last_seen - '"$now"', .load]' <<<"$output"
	assert_output '["edge-1",3,{}]
["edge-2",2,{"cpu":4.5}]'
}

@test "a full disk: apply exits 74, acknowledged ops are kept, the store still opens" {
	local d=$BATS_TEST_TMPDIR/small
	mkdir -p "$d"
	mount -t tmpfs -o size=256k tmpfs "$d" 2>/dev/null || skip "cannot mount a tmpfs (needs root)"
	export CCE_STORE="file:$d/registry"
	run_cce cce-register init
	local addr
	addr=$(head -c 200 /dev/zero | tr '\0' a)
	cce-register token $(seq -f "n%g" 1 3000) |
		jq -c --arg a "$addr" '{op: "join", node, token, addr: $a, labels: {k: $a}}' \
		>"$BATS_TEST_TMPDIR/ops"
	# the first ops land; then the disk fills up
	head -n 5 "$BATS_TEST_TMPDIR/ops" >"$BATS_TEST_TMPDIR/first"
	run --separate-stderr cce-register apply "$BATS_TEST_TMPDIR/first"
	local out=$output
	umount_small() { umount "$d"; }
	[ "$status" -eq 0 ] || { umount_small; echo "status $status: $stderr"; false; }
	run --separate-stderr bash -c "$(declare -f slowly); slowly \"\$1\" | cce-register apply" _ \
		"$BATS_TEST_TMPDIR/ops"
	out+=$'\n'$output
	[ "$status" -eq 74 ] || { umount_small; echo "status $status"; false; }
	[[ "$stderr" == *"cannot append to '$d/registry/log.0': No space left on device"* ]] ||
		{ umount_small; echo "stderr: $stderr"; false; }
	local acked
	acked=$(grep -o '"joined","node":"[^"]*"' <<<"$out" | cut -d'"' -f6 | sort)
	run cce-register list
	local listed_status=$status stored
	stored=$(jq -r .node <<<"$output" | sort)
	umount_small
	[ "$listed_status" -eq 0 ]
	[ -n "$acked" ]
	run comm -23 <(echo "$acked") <(echo "$stored")
	assert_output ""
}

@test "compact folds the log into a new snapshot and changes nothing visible" {
	local d=$BATS_TEST_TMPDIR
	ops "$d/ops" join 50
	jq -c '.op = "heartbeat"' "$d/ops" >"$d/hb"
	cat "$d/hb" >>"$d/ops"
	echo '{"op":"cordon","node":"n7"}' >>"$d/ops"
	echo '{"op":"leave","node":"n9","force":true}' >>"$d/ops"
	run_cce cce-register apply "$d/ops"
	run_cce cce-register list --all
	local before=$output
	run_cce cce-register compact
	assert_file_not_exists "$CCE_HOME/registry/log.0"
	assert_file_exists "$CCE_HOME/registry/log.1"
	run head -n1 "$CCE_HOME/registry/snapshot"
	assert_output '{"registry":1,"gen":1}'
	run_cce cce-register list --all
	assert_output "$before"
	assert_equal "${#lines[@]}" 49
	run_cce cce-register uncordon n7
	run_cce cce-register list --all
	run jq -r 'select(.node == "n7") | .state' <<<"$output"
	assert_output ready
}

@test "a missing store is unavailable (69), not created by readers" {
	export CCE_STORE="file:$BATS_TEST_TMPDIR/nowhere"
	run_cce -69 cce-register list
	assert_equal "$stderr" "cce-register: no registry at '$BATS_TEST_TMPDIR/nowhere' (run 'cce-register init')"
	run_cce -69 cce-register cordon edge-1
	run_cce -69 cce-register expire
	assert_file_not_exists "$BATS_TEST_TMPDIR/nowhere"
}
