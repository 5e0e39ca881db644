#!/usr/bin/env bats
# The fleet end to end, on several real hosts: three edge hosts as network
# namespaces (their own addresses, their own sshd, their own /opt and
# /var/lib/cce), the cloud in the root namespace with etcd as the registry
# store, nginx (WebDAV PUT) and mosquitto as the sinks. Tests run in order
# and build on each other.

load ../lib/common
load ../lib/sshd
load ../lib/netns

# long enough that a heartbeat round over ssh on a loaded machine (and an
# ASan build) never lets a live host look suspect
TTL=6s

setup_file() {
	if ! netns_usable; then
		export E2E_SKIP="network namespaces are unusable here: $NETNS_UNUSABLE"
		return 0
	fi
	netns_client_key
	netns_setup
	local ip=$NETNS_CLOUD_IP d=$BATS_FILE_TMPDIR
	# the cloud: etcd
	ETCD_PORT=$(free_port)
	local peer
	peer=$(free_port)
	etcd --name cloud --data-dir "$d/etcd" \
		--listen-client-urls "http://$ip:$ETCD_PORT,http://127.0.0.1:$ETCD_PORT" \
		--advertise-client-urls "http://$ip:$ETCD_PORT" \
		--listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
		--initial-cluster "cloud=http://127.0.0.1:$peer" >"$d/etcd.log" 2>&1 </dev/null 3>&- &
	echo $! >"$d/etcd.pid"
	# the cloud: nginx storing PUT batches by their id
	NGINX_PORT=$(free_port)
	mkdir -p "$d/nginx/logs" "$d/nginx/tmp" "$d/nginx/put"
	cat >"$d/nginx/nginx.conf" <<CONF
user root;
worker_processes 1;
pid $d/nginx/nginx.pid;
error_log $d/nginx/logs/error.log warn;
events { worker_connections 256; }
http {
	access_log $d/nginx/logs/access.log;
	client_body_temp_path $d/nginx/tmp;
	client_max_body_size 64m;
	server {
		listen $ip:$NGINX_PORT;
		location /ingest/ {
			root $d/nginx/put;
			dav_methods PUT;
			create_full_put_path on;
		}
	}
}
CONF
	/usr/sbin/nginx -p "$d/nginx" -c "$d/nginx/nginx.conf" -e "$d/nginx/logs/error.log" \
		</dev/null >"$d/nginx/start.log" 2>&1 3>&-
	# the cloud: mosquitto
	MQTT_PORT=$(free_port)
	printf 'listener %s %s\nallow_anonymous true\npersistence false\n' "$MQTT_PORT" "$ip" >"$d/mosquitto.conf"
	mosquitto -c "$d/mosquitto.conf" >"$d/mosquitto.log" 2>&1 </dev/null 3>&- &
	echo $! >"$d/mosquitto.pid"
	export ETCD_PORT NGINX_PORT MQTT_PORT
	export STORE="etcd://$ip:$ETCD_PORT/cce-e2e"
	wait_for 20 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"
	# three edge hosts
	local h
	for h in edge-1 edge-2 edge-3; do
		netns_host_add "$h"
	done
	# everything the alerts topic carries, for the end
	mosquitto_sub -h "$ip" -p "$MQTT_PORT" -q 1 -t 'alerts/#' -F '{"topic":"%t","alert":%p}' >"$d/mqtt-alerts.jsonl" 2>"$d/mqtt-sub.log" </dev/null 3>&- &
	echo $! >"$d/mqtt-sub.pid"
	mkdir -p "$d/app/bin"
	cat >"$d/app/rules.json" <<'RULES'
{"name":"overheat","key":".device","when":".temp > 45","severity":"critical","value":".temp"}
{"name":"stuck","key":".device","window":{"count":5},"aggregate":{"lo":"min(.temp)","hi":"max(.temp)"},"when":".hi == .lo","severity":"warning"}
RULES
	printf '#!/bin/sh\ntest -s rules.json\n' >"$d/app/bin/selftest"
	chmod +x "$d/app/bin/selftest"
	echo '{"task":"detector","replicas":2,"cpu":1,"mem_mb":256,"spread":"node"}' >"$d/tasks.jsonl"
	export CCE_HOME="$d/cloud-home"
	mkdir -p "$CCE_HOME"
	cce-register --store "$STORE" init >/dev/null
}

teardown_file() {
	local d=$BATS_FILE_TMPDIR f
	for f in heartbeats mqtt-sub etcd mosquitto; do
		[ -f "$d/$f.pid" ] && kill "$(cat "$d/$f.pid")" 2>/dev/null
	done
	[ -f "$d/nginx/nginx.pid" ] && kill "$(cat "$d/nginx/nginx.pid")" 2>/dev/null
	netns_teardown
	return 0
}

setup() {
	[ -z "${E2E_SKIP:-}" ] || skip "$E2E_SKIP"
	netns_load
	cd "$BATS_FILE_TMPDIR" || return 1
	export CCE_HOME="$BATS_FILE_TMPDIR/cloud-home"
}

# a node's op, made on the node, applied by the cloud
node_op() { # host op args...
	local h=$1
	shift
	netns_ssh "$h" "cce-register $* --token-file /var/lib/cce/token --print" |
		cce-register --store "$STORE" --ttl "$TTL" apply
}

alive() {
	cce-register --store "$STORE" --ttl "$TTL" list --alive
}

# the live pool into nodes.jsonl, once it holds N nodes: on a loaded machine
# (an ASan build, another bats file in parallel) a heartbeat round over ssh
# can take longer than the ttl, and a live host looks suspect for a moment
alive_pool() { # N
	pool_has() {
		alive >nodes.jsonl && [ "$(wc -l <nodes.jsonl)" -eq "$1" ]
	}
	wait_for 60 pool_has "$1"
}

@test "nodes join with tokens and heartbeat over ssh" {
	local h n=0
	for h in edge-1 edge-2 edge-3; do
		n=$((n + 1))
		cce-register --store "$STORE" token "$h" | jq -r .token |
			netns_ssh "$h" 'umask 077; cat >/var/lib/cce/token'
		run node_op "$h" join "$h" --addr "${HOST_IP[$h]}" --zone "z$n" --cpu 2 --mem-mb 2048 --label arch=x86
		assert_success
		assert_output --partial '"event":"joined"'
		run node_op "$h" heartbeat "$h" --load auto
		assert_success
	done
	# a forged token is refused and changes nothing
	run bash -c "netns_ssh() { :; }; echo '{\"op\":\"heartbeat\",\"node\":\"edge-1\",\"token\":\"1.1.1.00\"}' | cce-register --store '$STORE' apply"
	assert_output --partial '"event":"rejected"'
	# from now on every live host heartbeats every second, as cron would
	(
		exec 3>&- </dev/null >"$BATS_FILE_TMPDIR/heartbeats.log" 2>&1
		while :; do
			for h in edge-1 edge-2 edge-3; do
				[ -e "$BATS_FILE_TMPDIR/stopped-$h" ] && continue
				node_op "$h" heartbeat "$h" --load auto >/dev/null &
			done
			wait
			sleep 1
		done
	) &
	echo $! >"$BATS_FILE_TMPDIR/heartbeats.pid"
	sleep 1
	# cron's expire: its first run is the baseline the later ones compare to
	run cce-register --store "$STORE" --ttl "$TTL" expire
	assert_success
	# (a heartbeat round may lag past the ttl on a loaded machine: wait
	# until the live pool holds all three, as the later tests do)
	alive_pool 3
	run cat nodes.jsonl
	assert_equal "$(jq -r .node <<<"$output" | sort | tr '\n' ' ')" "edge-1 edge-2 edge-3 "
	assert_equal "$(jq -r .addr <<<"$output" | sort | tr '\n' ' ')" \
		"$(printf '%s\n' "${HOST_IP[edge-1]}" "${HOST_IP[edge-2]}" "${HOST_IP[edge-3]}" | sort | tr '\n' ' ')"
}

@test "cce-sched places the task and cce-deploy ships and activates it on each placed host" {
	alive_pool 3
	run cce-deploy --nodes nodes.jsonl --ssh "$NETNS_SSH" --state state.jsonl \
		--remote-dir /opt/detector --check ./bin/selftest app tasks.jsonl
	echo "$output"
	assert_success
	assert_equal "$(grep -c '"status":"deployed"' <<<"$output")" 2
	assert_equal "$(wc -l <state.jsonl)" 2
	local h
	for h in $(jq -r .node state.jsonl); do
		assert_file_exists "hosts/$h/opt/detector/current/rules.json"
	done
	# the placed hosts, in order: the first will lose its link, the second die
	jq -r .node state.jsonl >placed
}

@test "each placed host runs its pipeline; one host's link is cut and its cce-push catches up" {
	local h seed=0
	for h in $(cat placed); do
		seed=$((seed + 1))
		# detached on the host: sensors -> rules -> push (records and alerts to
		# nginx by batch id), then the alerts alone to mosquitto
		netns_ssh "$h" "cd /var/lib/cce || exit 1; setsid nohup bash -c '
			set -o pipefail
			cce-sim -n 5 -c 800 --interval 10s --spike-rate 0.02 --stuck-rate 0.005 --seed $seed --site $h --realtime 200 |
				tee data.jsonl |
				cce-rule -r /opt/detector/current/rules.json --pass |
				cce-push --method PUT --linger 100ms --batch-records 50 --backoff 100ms --backoff-max 500ms --timeout 2s \
					\"http://$NETNS_CLOUD_IP:$NGINX_PORT/ingest/$h/{batch}.ndjson\" 2>push.log
			echo \$? >data.rc
			cce-rule -r /opt/detector/current/rules.json data.jsonl |
				cce-push --qos 1 \"mqtt://$NETNS_CLOUD_IP:$MQTT_PORT/alerts/$h\" 2>mqtt.log
			echo \$? >alerts.rc' </dev/null >pipe.log 2>&1 &"
	done
	local cut
	cut=$(sed -n 1p placed)
	sleep 1
	netns_link_down "$cut"
	sleep 3
	netns_link_up "$cut"
	for h in $(cat placed); do
		wait_for 60 test -s "hosts/$h/state/alerts.rc"
		assert_equal "$(cat "hosts/$h/state/data.rc")" 0
		assert_equal "$(cat "hosts/$h/state/alerts.rc")" 0
	done
	# the cut host really lost its link for a while and retried
	run grep -c 'retrying' "hosts/$cut/state/push.log"
	[ "$output" -gt 0 ]
}

@test "every record produced on every host is in the sinks, deduplicated by batch id" {
	local h
	for h in $(cat placed); do
		local data="hosts/$h/state/data.jsonl"
		assert_equal "$(wc -l <"$data")" 800
		# nginx keeps one file per batch id: a batch sent twice is one file
		cat "nginx/put/ingest/$h"/*.ndjson >"sink-$h.jsonl"
		jq -c 'select(.rule == null)' "sink-$h.jsonl" | sort >got-records
		jq -c . "$data" | sort >want-records
		cmp got-records want-records
		# the alerts: exactly those a run over the same data gives here
		cce-rule -r app/rules.json "$data" | jq -c . | sort >want-alerts
		[ -s want-alerts ]
		jq -c 'select(.rule != null)' "sink-$h.jsonl" | sort >got-alerts
		cmp got-alerts want-alerts
		# mosquitto: QoS 1 may repeat a message; by alert id and state, exactly the alerts
		jq -c --arg h "$h" 'select(.topic == "alerts/\($h)") | .alert | [.id, .state, .ts]' mqtt-alerts.jsonl | sort -u >got-mqtt
		jq -c '[.id, .state, .ts]' want-alerts | sort -u >want-mqtt
		cmp got-mqtt want-mqtt
	done
}

@test "a host stopped for good is expired, and only its replica moves to a survivor" {
	local dead survivor h
	dead=$(sed -n 2p placed)
	touch "stopped-$dead"
	netns_host_stop "$dead"
	# the living keep heartbeating (the loop of the first test) while the
	# dead one's lease of three ttls runs out
	expired() {
		cce-register --store "$STORE" --ttl "$TTL" expire >>expire.jsonl
		grep -q "\"event\":\"dead\",\"node\":\"$dead\"" expire.jsonl
	}
	wait_for 60 expired
	# the living were never reported dead
	run jq -r 'select(.event == "dead") | .node' expire.jsonl
	assert_output "$dead"
	alive_pool 2
	run jq -r .node nodes.jsonl
	refute_output --partial "$dead"
	local kept
	kept=$(jq -c --arg d "$dead" 'select(.node != $d) | {task,replica,node}' state.jsonl)
	run cce-deploy --nodes nodes.jsonl --ssh "$NETNS_SSH" --state state.jsonl \
		--remote-dir /opt/detector --check ./bin/selftest app tasks.jsonl
	echo "$output"
	assert_success
	# every replica runs on a live host; the one that did not move stayed
	survivor=$(jq -r --arg d "$dead" 'select(.node != $d) | .node' nodes.jsonl | grep -v -x -F -f <(jq -r .node <<<"$kept"))
	assert_equal "$(jq -r .node state.jsonl | sort | tr '\n' ' ')" "$(printf '%s\n' "$(jq -r .node <<<"$kept")" "$survivor" | sort | tr '\n' ' ')"
	assert_equal "$(jq -c --arg s "$survivor" 'select(.node != $s) | {task,replica,node}' state.jsonl)" "$kept"
	for h in $(jq -r .node state.jsonl); do
		netns_ssh "$h" 'test -x /opt/detector/current/bin/selftest'
	done
}
