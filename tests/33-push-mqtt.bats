#!/usr/bin/env bats
# cce-push to MQTT, against a real mosquitto on loopback: password file,
# QoS 1 and 2, TLS with a test CA, per-record topics from fields, a broker
# that is down and comes back.

load lib/common
load push/helpers

setup_file() {
	export MQ="$BATS_FILE_TMPDIR/mq"
	mkdir -p "$MQ"
	make_cert "$MQ"
	export MPORT=$(free_port) MTLS=$(free_port)
	mosquitto_start "$MQ" "$MPORT" "$MTLS"
	echo 'edge:pa55word' >"$MQ/user"
}

teardown_file() {
	mosquitto_stop "$MQ"
}

# sub TOPIC OUT [ARGS...]: a subscriber (QoS 1) writing "topic payload"
# lines to OUT (or what ARGS, such as -F, make of them), in the background;
# returns once it is subscribed (a probe got through)
sub() {
	local topic=$1 out=$2 id="sub-$BATS_TEST_NUMBER"
	shift 2
	local fmt=(-v)
	[ $# -eq 0 ] || fmt=("$@")
	mosquitto_sub -h 127.0.0.1 -p "$MPORT" -u edge -P pa55word -q 1 -t "$topic" -t "probe/$id" "${fmt[@]}" \
		-W 60 -i "$id" >"$out.raw" 2>"$out.err" 3>&- &
	SUB=$!
	local k
	for k in $(seq 50); do
		mosquitto_pub -h 127.0.0.1 -p "$MPORT" -u edge -P pa55word -q 1 -t "probe/$id" -m x
		sleep 0.1
		grep -q "^probe/$id" "$out.raw" && return 0
	done
	return 1
}

# got N OUT: wait for N messages, stop the subscriber, keep them in OUT
got() {
	local n=$1 out=$2
	wait_for 20 test "$(grep -vc '^probe/' "$2.raw")" -ge "$n"
	sleep 0.2
	kill "$SUB"
	wait "$SUB" || true
	grep -v '^probe/' "$out.raw" >"$out"
}

@test "QoS 1 with a password file: every record arrives on its {site} topic" {
	local d=$BATS_TEST_TMPDIR
	gen 2000 >"$d/in"
	sub 'plant/#' "$d/got"
	run_cce cce-push --user-file "$MQ/user" --receipts "mqtt://127.0.0.1:$MPORT/plant/{site}" "$d/in"
	[ "${#lines[@]}" -ge 6 ]
	got 2000 "$d/got"
	# "plant/s1 {...}": the topic matches the record's site
	awk '{ t = $1; sub(/^[^ ]* /, ""); s = $0; sub(/.*"site":"/, "", s); sub(/".*/, "", s);
	       if (t != "plant/" s) { print "wrong topic: " $0; exit 1 } }' "$d/got"
	cut -d' ' -f2- "$d/got" >"$d/recs"
	same_records "$d/in" "$d/recs"
}

@test "QoS 2 over TLS with the test CA" {
	local d=$BATS_TEST_TMPDIR
	gen 300 >"$d/in"
	sub 'secure/#' "$d/got"
	run_cce cce-push --qos 2 --cacert "$MQ/ca.pem" --user-file "$MQ/user" "mqtts://127.0.0.1:$MTLS/secure/x" "$d/in"
	got 300 "$d/got"
	cut -d' ' -f2- "$d/got" >"$d/recs"
	same_records "$d/in" "$d/recs"
}

@test "a refused password keeps the records spooled (75), and says why" {
	local d=$BATS_TEST_TMPDIR
	gen 10 >"$d/in"
	echo 'edge:wrong' >"$d/bad"
	run_cce -75 cce-push --spool "$d/spool" --user-file "$d/bad" --backoff 50ms --retry-for 500ms \
		"mqtt://127.0.0.1:$MPORT/plant/x" "$d/in"
	stderr_has "refused the connection"
	sub 'plant/x' "$d/got"
	run_cce cce-push --drain --spool "$d/spool" --user-file "$MQ/user" "mqtt://127.0.0.1:$MPORT/plant/x"
	got 10 "$d/got"
	cut -d' ' -f2- "$d/got" | cmp - "$d/in"
}

@test "MQTT 5: each message carries its batch id and index, the same as the receipt's" {
	local d=$BATS_TEST_TMPDIR
	gen 1200 >"$d/in"
	sub 'v5/#' "$d/got" -V mqttv5 -F '%t|%P|%p'
	run_cce cce-push --receipts --batch-records 500 --user-file "$MQ/user" "mqtt://127.0.0.1:$MPORT/v5/x" "$d/in"
	got 1200 "$d/got"
	# "v5/x|batch:ID record:N|{...}"
	cut -d'|' -f2 "$d/got" | sort -u >"$d/props"
	[ "$(wc -l <"$d/props")" -eq 1200 ]
	# the ids are the receipts' ids, each with records 0..n-1
	jq -r '"\(.batch) \(.records)"' <<<"$output" | sort >"$d/receipts"
	sed -E 's/^batch:([0-9a-f]+) record:([0-9]+)$/\1 \2/' "$d/props" |
		awk '{ n[$1]++; if ($2 + 1 > m[$1]) m[$1] = $2 + 1 } END { for (b in n) if (n[b] == m[b]) print b, n[b]; else print "gap in", b }' |
		sort >"$d/seen"
	cmp "$d/receipts" "$d/seen"
	cut -d'|' -f3- "$d/got" >"$d/recs"
	same_records "$d/in" "$d/recs"
}

@test "MQTT 5: a topic the broker does not allow goes to the dead-letter file, exit 1" {
	local d=$BATS_TEST_TMPDIR
	gen 20 >"$d/in"
	run_cce -1 cce-push --spool "$d/spool" --dead-letter "$d/dead" --user-file "$MQ/user" \
		"mqtt://127.0.0.1:$MPORT/forbidden/x" "$d/in"
	stderr_has "Not authorized (MQTT reason code 135)"
	cmp "$d/in" "$d/dead"
	[ "$(spool_bytes "$d/spool")" -eq 0 ]
}

@test "--mqtt-version 3.1.1 publishes plain messages; other versions are usage errors" {
	local d=$BATS_TEST_TMPDIR
	gen 50 >"$d/in"
	sub 'v3/#' "$d/got"
	run_cce cce-push --mqtt-version 3.1.1 --user-file "$MQ/user" "mqtt://127.0.0.1:$MPORT/v3/x" "$d/in"
	got 50 "$d/got"
	cut -d' ' -f2- "$d/got" | cmp - "$d/in"
	run_cce -64 cce-push --mqtt-version 4 "mqtt://127.0.0.1:$MPORT/v3/x" </dev/null
	stderr_has "--mqtt-version: '4' is not 5 or 3.1.1"
}

@test "broker down, then back: the messages arrive once it is up" {
	local d=$BATS_TEST_TMPDIR
	export MQ2="$d/mq2"
	mkdir -p "$MQ2"
	cp "$MQ"/*.pem "$MQ"/*.key "$MQ/passwd" "$MQ2/"
	local p2 t2
	p2=$(free_port)
	t2=$(free_port)
	mosquitto_start "$MQ2" "$p2" "$t2"
	# a persistent session, so that the broker queues for it while it is away
	mosquitto_sub -h 127.0.0.1 -p "$p2" -u edge -P pa55word -q 1 -c -i keeper -t 'down/#' -E
	mosquitto_stop "$MQ2"
	gen 500 >"$d/in"
	cce-push --user-file "$MQ/user" --backoff 100ms --backoff-max 300ms "mqtt://127.0.0.1:$p2/down/x" "$d/in" 2>"$d/err" &
	local pid=$!
	sleep 1
	kill -0 "$pid"
	mosquitto_start "$MQ2" "$p2" "$t2"
	local rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 0 ] || { cat "$d/err"; mosquitto_stop "$MQ2"; false; }
	mosquitto_sub -h 127.0.0.1 -p "$p2" -u edge -P pa55word -q 1 -c -i keeper -t 'down/#' -C 500 -W 10 >"$d/got" 3>&-
	mosquitto_stop "$MQ2"
	same_records "$d/in" "$d/got"
	grep -q "cannot connect\|connection" "$d/err"
}
