#!/usr/bin/env bats
# shellcheck disable=SC2016 # the conditions given to wait_for are evaluated there
# cce-gateway under faults: cce-push delivering to it exactly once across
# kill -9 of either side (every sequence number counted), kill -9 during
# ingest, slowloris clients, a full disk, and retention while ingesting.

load lib/common
load gateway/helpers

# count of device DEV's records in the store
stored() {
	curl -sf "$GW_URL/data/$1" | wc -l
}

@test "cce-push to cce-gateway is exactly once across kill -9 of the gateway and of cce-push" {
	local n=3000 spool="$BATS_TEST_TMPDIR/spool"
	seq "$n" | jq -c '{seq: ., v: "x"}' >"$BATS_TEST_TMPDIR/in"
	# the rate limit stretches delivery over seconds (429 + Retry-After)
	gw_start --auto-connect --rate 1000
	cce-push --spool "$spool" --batch-records 100 --backoff 50ms --backoff-max 2s --stats 100ms \
		"$GW_URL/data/edge-1" "$BATS_TEST_TMPDIR/in" 2>"$BATS_TEST_TMPDIR/push.err" &
	local push=$!
	wait_for 60 eval "grep -q '\"read\":$n,' '$BATS_TEST_TMPDIR/push.err'"
	wait_for 60 eval '[ "$(stored edge-1)" -gt 0 ]'
	gw_kill
	gw_start --auto-connect --rate 1000
	local before
	before=$(stored edge-1)
	wait_for 60 eval "[ \"\$(stored edge-1)\" -gt $before ]"
	kill -9 "$push"
	wait "$push" || true
	[ "$(stored edge-1)" -lt "$n" ] || skip "delivery finished before the kill (a very fast machine)"
	run_cce timeout 120 cce-push --drain --spool "$spool" --backoff 50ms --backoff-max 2s "$GW_URL/data/edge-1"
	curl -sf "$GW_URL/data/edge-1" >"$BATS_TEST_TMPDIR/got"
	run seqs "$BATS_TEST_TMPDIR/got"
	assert_output "$(seq "$n")"
	gw_stop
}

@test "kill -9 of the gateway during ingest loses no acknowledged record and stores no request in part" {
	gw_start --auto-connect
	local i
	for i in $(seq 40); do
		seq $((i * 1000)) $((i * 1000 + 199)) | jq -c '{seq: .}' >"$BATS_TEST_TMPDIR/b.$i"
	done
	(
		for i in $(seq 40); do
			code=$(curl -s -o /dev/null -w '%{http_code}' -H "Idempotency-Key: b-$i" \
				--data-binary @"$BATS_TEST_TMPDIR/b.$i" "$GW_URL/data/d") || true
			echo "$i $code"
		done >"$BATS_TEST_TMPDIR/codes"
	) &
	local client=$!
	wait_for 60 eval '[ "$(grep -c " 200$" "$BATS_TEST_TMPDIR/codes" 2>/dev/null)" -ge 3 ]'
	gw_kill
	wait "$client" || true
	gw_start --auto-connect
	curl -sf "$GW_URL/data/d" >"$BATS_TEST_TMPDIR/got"
	local acked=0 got
	for i in $(seq 40); do
		got=$(jq --argjson i "$i" 'select(.seq >= $i * 1000 and .seq < $i * 1000 + 1000)' -c \
			"$BATS_TEST_TMPDIR/got" | wc -l)
		if grep -qx "$i 200" "$BATS_TEST_TMPDIR/codes"; then
			acked=$((acked + 1))
			assert_equal "batch $i: $got" "batch $i: 200"
		else
			[ "$got" = 0 ] || [ "$got" = 200 ] || fail "batch $i stored in part: $got records"
		fi
	done
	[ "$acked" -ge 3 ]
}

@test "slowloris: silent half-open requests lose their slots after --idle-timeout; a trickled body after --request-timeout" {
	gw_start --auto-connect --max-connections 3 --idle-timeout 1s --request-timeout 2s
	local fds=() fd i
	for i in 1 2 3; do
		exec {fd}<>"/dev/tcp/127.0.0.1/$GW_PORT"
		printf 'POST /data/d HTTP/1.1\r\nHost: x\r\n' >&"$fd"
		fds+=("$fd")
	done
	# the server closes each: read sees the end, not a timeout
	for fd in "${fds[@]}"; do
		local rc=0
		read -r -t 20 -u "$fd" _ || rc=$?
		[ "$rc" -eq 1 ] || fail "connection $fd not closed by the server (read status $rc)"
		exec {fd}<&-
	done
	run gw_curl --data-binary '{"seq":1}' "$GW_URL/data/d"
	assert_line --index 1 200
	# a body trickled one byte at a time keeps the connection busy, not alive
	run python3 - "$GW_PORT" <<-'PY'
	import socket, sys, time
	s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
	s.sendall(b"POST /data/d HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
	for i in range(200):
	    try:
	        s.sendall(b" ")
	        s.settimeout(0.2)
	        if s.recv(100) == b"":
	            print("closed after", i, "bytes"); sys.exit(0)
	    except socket.timeout:
	        pass
	    except OSError:
	        print("closed after", i, "bytes"); sys.exit(0)
	print("still open"); sys.exit(1)
	PY
	assert_success
	assert_output --partial "closed after"
}

@test "slowloris: clients trickling header bytes lose their slots after --request-timeout; a real client gets in" {
	gw_start --auto-connect --max-connections 3 --idle-timeout 1s --request-timeout 2s
	# three clients hold every slot, each sending a header byte every 0.2 s
	# (under the idle timeout) for up to 40 s; each says when it was cut
	python3 - "$GW_PORT" >"$BATS_TEST_TMPDIR/trickle" <<-'PY' &
	import socket, sys, time
	port = int(sys.argv[1])
	socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
	for s in socks:
	    s.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	    s.settimeout(0.01)
	print("holding 3", flush=True)
	open_ = set(range(3))
	for i in range(200):
	    for k in sorted(open_):
	        try:
	            socks[k].sendall(b"a")
	            if socks[k].recv(100) == b"":
	                raise OSError
	        except socket.timeout:
	            pass
	        except OSError:
	            print("cut after", i, "bytes", flush=True)
	            open_.discard(k)
	    if not open_:
	        break
	    time.sleep(0.2)
	for k in sorted(open_):
	    print("still open after", i, "bytes", flush=True)
	PY
	local trickle=$!
	wait_for 30 grep -q holding "$BATS_TEST_TMPDIR/trickle"
	# a real client is answered once the tricklers are cut
	wait_for 30 eval 'gw_curl "$GW_URL/status" 2>/dev/null | grep -qx 200'
	wait "$trickle"
	run cat "$BATS_TEST_TMPDIR/trickle"
	refute_output --partial "still open"
	assert_equal "$(grep -c '^cut after' "$BATS_TEST_TMPDIR/trickle")" 3
}

@test "a full disk: 507 or 503, nothing acknowledged lost, ingest resumes once there is room" {
	small_tmpfs_gw 2m
	GW_STORE="$MNT/store" gw_start --auto-connect
	local i code acked=()
	for i in $(seq 300); do
		seq $((i * 1000)) $((i * 1000 + 99)) | jq -c '{seq: ., pad: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}' >"$BATS_TEST_TMPDIR/b"
		code=$(curl -s -o "$BATS_TEST_TMPDIR/ans" -w '%{http_code}' --data-binary @"$BATS_TEST_TMPDIR/b" "$GW_URL/data/d")
		case $code in
		200) acked+=("$i") ;;
		507|503) break ;;
		*) fail "batch $i: unexpected status $code: $(cat "$BATS_TEST_TMPDIR/ans")" ;;
		esac
	done
	[[ $code = 507 || $code = 503 ]] || fail "the disk never filled (last status $code)"
	grep -q 'disk\|full' "$BATS_TEST_TMPDIR/ans"
	echo "# full at batch $i: $code $(cat "$BATS_TEST_TMPDIR/ans")" >&3
	curl -sf "$GW_URL/data/d" >"$BATS_TEST_TMPDIR/got"
	assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/got")" "$((${#acked[@]} * 100))"
	for i in "${acked[@]}"; do
		assert_equal "$(jq --argjson i "$i" -c 'select(.seq >= $i * 1000 and .seq < $i * 1000 + 100)' "$BATS_TEST_TMPDIR/got" | wc -l)" 100
	done
	# room again: the same request goes through
	rm -f "$MNT/filler"
	run gw_curl --data-binary '{"seq":1}' "$GW_URL/data/d"
	assert_line --index 1 200
}

@test "retention by size and by age deletes the oldest records while ingest goes on" {
	gw_start --auto-connect --retain-size 20KiB
	local i
	for i in $(seq 10); do
		seq $((i * 100)) $((i * 100 + 99)) | jq -c '{seq: .}' | curl -sf --data-binary @- "$GW_URL/data/d" >/dev/null
	done
	wait_for 30 eval '[ "$(curl -sf "$GW_URL/data/list" | jq .bytes)" -le 20480 ]'
	curl -sf "$GW_URL/data/d" >"$BATS_TEST_TMPDIR/got"
	# what stays is the newest, without a gap
	local first
	first=$(jq -s '.[0].seq' "$BATS_TEST_TMPDIR/got")
	assert_equal "$(jq -r .seq "$BATS_TEST_TMPDIR/got" | tr '\n' ' ')" "$(seq "$first" 1099 | tr '\n' ' ')"
	gw_stop
	GW_PID='' gw_start --auto-connect --retain 1s
	wait_for 30 eval '[ "$(stored d)" -eq 0 ]'
}

@test "a reader of stdout that does not read: ingest goes on, memory stays bounded, the reader later gets every record in order; --stdout-from resumes" {
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	GW_PORT=$(free_port)
	GW_STORE="$BATS_TEST_TMPDIR/store"
	GW_URL="http://127.0.0.1:$GW_PORT"
	cce-gateway --listen "127.0.0.1:$GW_PORT" --store "$GW_STORE" --auto-connect \
		>"$BATS_TEST_TMPDIR/fifo" 2>"$BATS_TEST_TMPDIR/gw.err" &
	GW_PID=$!
	exec {reader}<"$BATS_TEST_TMPDIR/fifo"
	wait_for 30 curl -s -o /dev/null "$GW_URL/status"
	local i
	# 40 MB of records, far past the pipe's buffer, while nothing reads
	for i in $(seq 40); do
		seq $((i * 10000)) $((i * 10000 + 9999)) |
			jq -c '{seq: ., pad: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}' \
			>"$BATS_TEST_TMPDIR/b"
		run curl -s -o /dev/null -w '%{http_code}' --data-binary @"$BATS_TEST_TMPDIR/b" "$GW_URL/data/d"
		assert_output 200
	done
	local rss
	rss=$(awk '/VmRSS/ {print $2}' "/proc/$GW_PID/status")
	sanitized || [ "$rss" -lt 65536 ] || fail "RSS $rss KiB with a stalled reader"
	# the reader reads: every record, in arrival order, once
	kill -TERM "$GW_PID"
	cat <&"$reader" >"$BATS_TEST_TMPDIR/out"
	wait "$GW_PID"
	exec {reader}<&-
	assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/out")" 400000
	jq -r .seq "$BATS_TEST_TMPDIR/out" >"$BATS_TEST_TMPDIR/order"
	sort -n "$BATS_TEST_TMPDIR/order" | cmp - "$BATS_TEST_TMPDIR/order"
	# a restart writes only what comes after, unless --stdout-from says
	cce-gateway --listen "127.0.0.1:$GW_PORT" --store "$GW_STORE" --stdout-from 399990 \
		>"$BATS_TEST_TMPDIR/out2" 2>>"$BATS_TEST_TMPDIR/gw.err" &
	GW_PID=$!
	wait_for 30 eval '[ "$(wc -l <"$BATS_TEST_TMPDIR/out2")" -eq 10 ]'
	gw_stop
	assert_equal "$(jq -r .seq "$BATS_TEST_TMPDIR/out2" | head -n1)" 409990
}
