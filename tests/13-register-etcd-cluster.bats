#!/usr/bin/env bats
# cce-register on a 3-member etcd cluster: a member dies (kill -9 by pid)
# during a stream of heartbeats and the registry keeps working through the
# other two.

load lib/common
load register/etcd

setup_file() {
	local i c p cluster=""
	for i in 1 2 3; do
		c=$(free_port)
		p=$(free_port)
		echo "$c" >"$BATS_FILE_TMPDIR/cport$i"
		echo "$p" >"$BATS_FILE_TMPDIR/pport$i"
		cluster+="${cluster:+,}m$i=http://127.0.0.1:$p"
	done
	for i in 1 2 3; do
		etcd_start "m$i" "$(cat "$BATS_FILE_TMPDIR/cport$i")" "$(cat "$BATS_FILE_TMPDIR/pport$i")" \
			"$cluster"
	done
	for i in 1 2 3; do
		wait_for 30 etcd_healthy "$(cat "$BATS_FILE_TMPDIR/cport$i")" || {
			cat "$BATS_FILE_TMPDIR/etcd-m$i.log" >&3
			return 1
		}
	done
}

teardown_file() {
	etcd_stop_all
}

setup() {
	common_setup
	export CCE_STORE="etcd://127.0.0.1:$(cat "$BATS_FILE_TMPDIR/cport1"),127.0.0.1:$(cat "$BATS_FILE_TMPDIR/cport2"),127.0.0.1:$(cat "$BATS_FILE_TMPDIR/cport3")/cluster-t$BATS_TEST_NUMBER"
	run_cce cce-register init
}

heartbeats_at_least() {
	[ "$(grep -c '"heartbeat"' "$1")" -ge "$2" ]
}

teardown() {
	[ -f "$BATS_TEST_TMPDIR/watch.pid" ] && kill "$(cat "$BATS_TEST_TMPDIR/watch.pid")" 2>/dev/null
	true
}

lines_at_least() {
	[ "$(wc -l <"$1")" -ge "$2" ]
}

@test "a member killed during a stream of heartbeats does not stop the registry" {
	local d=$BATS_TEST_TMPDIR t
	t=$(cce-register token edge-1 edge-2 | jq -c .)
	jq -c '{op: "join", node, token, addr: "10.0.0.1"}' <<<"$t" >"$d/join"
	run_cce cce-register apply "$d/join"
	# 800 heartbeats, about 4 s of them, load.cpu counting up
	python3 - "$d/join" >"$d/hb.pipe" <<-'PY' &
	import json, sys, time
	ops = [json.loads(l) for l in open(sys.argv[1])]
	for i in range(1, 401):
	    for op in ops:
	        print(json.dumps({"op": "heartbeat", "node": op["node"], "token": op["token"],
	                          "load": {"cpu": i}}), flush=True)
	    time.sleep(0.01)
	PY
	local gen=$!
	wait "$gen"
	# a watch on the first endpoint too: it must resume on another member
	cce-register watch -v >"$d/watch" 2>"$d/watch.err" &
	local wpid=$!
	echo "$wpid" >"$d/watch.pid"
	sleep 1
	# the members' own leader may be any of them: kill the first endpoint,
	# the one apply talks to
	(python3 -c '
import sys, time
for l in open(sys.argv[1]):
    sys.stdout.write(l); sys.stdout.flush(); time.sleep(0.005)
' "$d/hb.pipe") | cce-register apply -v >"$d/acked" 2>"$d/err" &
	local pid=$!
	wait_for 20 lines_at_least "$d/acked" 100
	kill -9 "$(cat "$BATS_FILE_TMPDIR/etcd-m1.pid")"
	local at_kill
	at_kill=$(wc -l <"$d/acked")
	local st=0
	wait "$pid" || st=$?
	[ "$st" -eq 0 ] || { cat "$d/err"; false; }
	# every heartbeat was acknowledged, none rejected
	assert_equal "$(grep -c '"heartbeat"' "$d/acked")" 800
	# the kill came in the middle of the stream
	[ "$at_kill" -lt 700 ]
	run grep -c rejected "$d/acked"
	assert_output 0
	run_cce cce-register list
	run jq -r '"\(.node) \(.load.cpu) \(.state)"' <<<"$output"
	assert_output "edge-1 400 ready
edge-2 400 ready"
	# the watch followed the stream past the failover (it shows changes to
	# the store: heartbeats committed in one batch show as one)
	[ "$(grep -c '"heartbeat"' "$d/watch")" -gt "$at_kill" ] || {
		echo "watch saw $(grep -c heartbeat "$d/watch") heartbeats, $at_kill before the kill"
		head -5 "$d/watch.err"
		false
	}
	# and new work goes on with one member down
	run_cce cce-register cordon edge-2
	run_cce cce-register list --alive -o addr
	assert_output 10.0.0.1
	wait_for 10 grep -q '"cordoned","node":"edge-2"' "$d/watch"
	kill "$wpid"
	wait "$wpid" || true
}
