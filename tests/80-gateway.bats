#!/usr/bin/env bats
# shellcheck disable=SC2154 # stderr comes from bats' run
# cce-gateway's endpoints against a gateway started on loopback, with curl
# as the client: streams, the three body shapes and gzip, refused lines,
# idempotency keys, queries by time with filters, the limits, tokens, the
# store's refusals, and the signal that ends it.

load lib/common
load gateway/helpers

@test "connect, send, list, query, disconnect; stdout has every record in arrival order" {
	gw_start
	run gw_curl -X POST "$GW_URL/data/connect?id=dev-1&streamType=temp"
	assert_line --index 1 200
	assert_line --index 0 '{"device":"dev-1","stream":"temp","connected":true}'
	run gw_curl --data-binary $'{"seq":1,"ts":3000}\n{"seq":2,"ts":1000}\n' "$GW_URL/data/dev-1?streamType=temp"
	assert_line --index 0 '{"stored":2,"refused":[]}'
	assert_line --index 1 200
	run gw_curl --data-binary '{"seq":3,"ts":2000,"device":"sensor-9"}' "$GW_URL/data/dev-1?streamType=temp"
	assert_line --index 1 200
	run curl -sf "$GW_URL/data/dev-1"
	assert_output - <<-'OUT'
	{"seq":2,"ts":1000,"device":"dev-1","stream":"temp"}
	{"seq":3,"ts":2000,"device":"sensor-9","stream":"temp"}
	{"seq":1,"ts":3000,"device":"dev-1","stream":"temp"}
	OUT
	run curl -sf "$GW_URL/data/dev-1?startTimestamp=1500&endTimestamp=3000"
	assert_output '{"seq":3,"ts":2000,"device":"sensor-9","stream":"temp"}'
	run curl -sf "$GW_URL/data/dev-1?startTimestamp=1970-01-01T00:00:01Z&limit=2"
	assert_equal "$(jq -c .seq <<<"$output" | tr '\n' ' ')" "2 3 "
	local bytes
	bytes=$(curl -sf "$GW_URL/data/dev-1" | tr -d '\n' | wc -c)
	run curl -sf "$GW_URL/data/list"
	assert_output '{"device":"dev-1","stream":"temp","connected":true,"count":3,"first_ts":1000,"last_ts":3000,"bytes":'"$bytes"'}'
	run gw_curl -X DELETE "$GW_URL/data/disconnect?id=dev-1&streamType=temp"
	assert_line --index 1 200
	run gw_curl --data-binary '{"seq":4}' "$GW_URL/data/dev-1?streamType=temp"
	assert_line --index 1 404
	assert_line --index 0 --partial "is not connected"
	run gw_curl -X DELETE "$GW_URL/data/disconnect?id=dev-1&streamType=temp"
	assert_line --index 1 404
	run curl -sf "$GW_URL/status"
	assert_equal "$(jq -r '[.records, .requests > 5, .connections >= 0, .disk_free > 0] | @tsv' <<<"$output")" $'3\ttrue\ttrue\ttrue'
	gw_stop
	run jq -c .seq "$BATS_TEST_TMPDIR/gw.out"
	assert_output $'1\n2\n3'
}

@test "JSON lines, an array, one object over lines, gzip; a receive ts when none" {
	gw_start --auto-connect
	run gw_curl --data-binary '[{"seq":1},{"seq":2}]' "$GW_URL/data/d"
	assert_line --index 0 '{"stored":2,"refused":[]}'
	run gw_curl --data-binary $'{\n  "seq": 3\n}\n' "$GW_URL/data/d"
	assert_line --index 0 '{"stored":1,"refused":[]}'
	printf '{"seq":4}\r\n\n{"seq":5}' | gzip >"$BATS_TEST_TMPDIR/b.gz"
	run gw_curl -H 'Content-Encoding: gzip' --data-binary @"$BATS_TEST_TMPDIR/b.gz" "$GW_URL/data/d"
	assert_line --index 0 '{"stored":2,"refused":[]}'
	run gw_curl -H 'Content-Encoding: gzip' --data-binary 'not gzip' "$GW_URL/data/d"
	assert_line --index 1 400
	run curl -sf "$GW_URL/data/d"
	assert_equal "$(jq -c .seq <<<"$output" | tr '\n' ' ')" "1 2 3 4 5 "
	# the receive time is epoch ms, added at the end, the stream defaults
	assert_equal "$(jq -c '[(.ts > 1600000000000), .stream, (keys_unsorted | last)]' <<<"$output" | sort -u)" '[true,"default","ts"]'
}

@test "malformed JSON: the good lines are stored, the answer names the others (207); none good is 400" {
	gw_start --auto-connect
	run gw_curl --data-binary $'{"seq":1}\n{"seq":2,}\n[3]\n{"a":NaN}\n{"seq":5}\n{"ts":"soon"}\n' "$GW_URL/data/d"
	assert_line --index 1 207
	assert_equal "$(jq -c '[.stored, [.refused[].line]]' <<<"${lines[0]}")" '[2,[2,3,4,6]]'
	assert_equal "$(jq -r '.refused[0].error' <<<"${lines[0]}")" "trailing comma in object at byte 10"
	run gw_curl --data-binary $'nope\n' "$GW_URL/data/d"
	assert_line --index 1 400
	run gw_curl --data-binary '[{"seq":7},1,{"seq":8}]' "$GW_URL/data/d"
	assert_line --index 1 207
	assert_equal "$(jq -c '[.stored, .refused[0].element]' <<<"${lines[0]}")" '[2,2]'
	run curl -sf "$GW_URL/data/d"
	assert_equal "$(jq -c .seq <<<"$output" | tr '\n' ' ')" "1 5 7 8 "
}

@test "an Idempotency-Key already stored is answered as before and not stored again" {
	gw_start --auto-connect
	run gw_curl -i -H 'Idempotency-Key: k-1' --data-binary $'{"seq":1}\nx\n' "$GW_URL/data/d"
	refute_output --partial 'Idempotent-Replayed'
	local first=$output
	run gw_curl -i -H 'Idempotency-Key: k-1' --data-binary $'{"seq":1}\nx\n' "$GW_URL/data/d"
	assert_output --partial 'Idempotent-Replayed: true'
	assert_equal "$(tail -n2 <<<"$output")" "$(tail -n2 <<<"$first")"
	gw_stop
	# remembered durably, across a restart
	gw_start --auto-connect
	run gw_curl -H 'Idempotency-Key: k-1' --data-binary '{"seq":1}' "$GW_URL/data/d"
	assert_line --index 1 207
	run curl -sf "$GW_URL/data/list"
	assert_equal "$(jq .count <<<"$output")" 1
}

@test "limits: a body over --max-body (sent or inflated) is 413, a request rate past --rate is 429 with Retry-After" {
	gw_start --auto-connect --max-body 1KiB --rate 10
	head -c 2000 /dev/zero | tr '\0' ' ' >"$BATS_TEST_TMPDIR/big"
	run gw_curl --data-binary @"$BATS_TEST_TMPDIR/big" "$GW_URL/data/d"
	assert_line --index 1 413
	head -c 100000 /dev/zero | tr '\0' ' ' | gzip >"$BATS_TEST_TMPDIR/bomb.gz"
	run gw_curl -H 'Content-Encoding: gzip' --data-binary @"$BATS_TEST_TMPDIR/bomb.gz" "$GW_URL/data/d"
	assert_line --index 1 413
	# chunked, without a length
	run gw_curl -H 'Transfer-Encoding: chunked' --data-binary @"$BATS_TEST_TMPDIR/big" "$GW_URL/data/d"
	assert_line --index 1 413
	seq 20 | jq -c '{seq: .}' >"$BATS_TEST_TMPDIR/twenty"
	run gw_curl --data-binary @"$BATS_TEST_TMPDIR/twenty" "$GW_URL/data/d"
	assert_line --index 1 200
	run curl -s -i --data-binary '{"seq":21}' "$GW_URL/data/d"
	assert_line --index 0 --partial ' 429 '
	assert_output --regexp 'Retry-After: [1-9]'
	run curl -sf "$GW_URL/status"
	assert_equal "$(jq .rate_limited <<<"$output")" 1
}

@test "--token-file: no or a bad token is 401, a device outside the token's scope 403" {
	printf '# tokens\ns3cret\nedge-tok  edge-*\n' >"$BATS_TEST_TMPDIR/tokens"
	chmod 600 "$BATS_TEST_TMPDIR/tokens"
	gw_start --auto-connect --token-file "$BATS_TEST_TMPDIR/tokens"
	run gw_curl --data-binary '{"seq":1}' "$GW_URL/data/edge-1"
	assert_line --index 1 401
	run gw_curl -H 'Authorization: Bearer wrong' "$GW_URL/status"
	assert_line --index 1 401
	run gw_curl -H 'Authorization: Bearer edge-tok' --data-binary '{"seq":1}' "$GW_URL/data/edge-1"
	assert_line --index 1 200
	run gw_curl -H 'Authorization: Bearer edge-tok' --data-binary '{"seq":2}' "$GW_URL/data/other"
	assert_line --index 1 403
	run gw_curl -H 'Authorization: Bearer edge-tok' "$GW_URL/data/list"
	assert_line --index 1 403
	run gw_curl -H 'Authorization: Bearer s3cret' "$GW_URL/data/edge-1"
	assert_line --index 1 200
	assert_line --index 0 --partial '"seq":1'
}

@test "filterExpression: jq selects records; a bad one is 400 with jq's message" {
	gw_start --auto-connect
	seq 10 | jq -c '{seq: ., ts: (. * 1000)}' | curl -sf --data-binary @- "$GW_URL/data/d" >/dev/null
	run curl -sf -G --data-urlencode 'filterExpression=.seq % 3 == 0' "$GW_URL/data/d"
	assert_equal "$(jq -c .seq <<<"$output" | tr '\n' ' ')" "3 6 9 "
	run curl -sf -G --data-urlencode 'filterExpression=.seq > 4' --data-urlencode 'endTimestamp=8000' "$GW_URL/data/d"
	assert_equal "$(jq -c .seq <<<"$output" | tr '\n' ' ')" "5 6 7 "
	run gw_curl -G --data-urlencode 'filterExpression=.seq >' "$GW_URL/data/d"
	assert_line --index 1 400
	assert_line --index 0 --partial 'syntax error'
	run gw_curl -G --data-urlencode 'filterExpression=input' "$GW_URL/data/d"
	assert_line --index 1 400
}

@test "a hostile filterExpression (endless, huge) is stopped by the budgets: 422, the gateway goes on" {
	gw_start --auto-connect --eval-timeout 200ms --eval-memory 16MiB
	curl -sf --data-binary '{"seq":1}' "$GW_URL/data/d" >/dev/null
	run gw_curl -G --data-urlencode 'filterExpression=def f: f; f' "$GW_URL/data/d"
	assert_line --index 1 422
	assert_line --index 0 --partial 'time budget'
	run gw_curl -G --data-urlencode 'filterExpression=[range(1e9)] | length > 0' "$GW_URL/data/d"
	assert_line --index 1 422
	assert_line --index 0 --partial 'budget'
	run gw_curl -G --data-urlencode 'filterExpression=.seq == 1' "$GW_URL/data/d"
	assert_line --index 1 200
	assert_line --index 0 --partial '"seq":1'
}

@test "a store that is no database is refused (69) naming it, and so is a second gateway on a store" {
	mkdir -p "$BATS_TEST_TMPDIR/bad"
	head -c 8192 /dev/urandom >"$BATS_TEST_TMPDIR/bad/gateway.db"
	run_cce -69 cce-gateway --listen "127.0.0.1:$(free_port)" --store "$BATS_TEST_TMPDIR/bad"
	assert_equal "$stderr" "cce-gateway: $BATS_TEST_TMPDIR/bad/gateway.db: file is not a database"
	# a second gateway on the same store is refused while the first runs
	gw_start
	run_cce -69 cce-gateway --listen "127.0.0.1:$(free_port)" --store "$GW_STORE"
	assert_equal "$stderr" "cce-gateway: '$GW_STORE/lock' is locked by pid $GW_PID"
}

@test "usage errors are 64 and name the culprit" {
	run_cce -64 cce-gateway --listen nowhere
	assert_equal "${stderr%%$'\n'*}" "cce-gateway: --listen: bad address 'nowhere' (use e.g. 127.0.0.1:8080, [::1]:8080 or :8080)"
	run_cce -64 cce-gateway --max-body lots
	assert_equal "${stderr%%$'\n'*}" "cce-gateway: --max-body: invalid size 'lots' (use e.g. 512, 64KiB, 10MiB, 1GiB)"
	run_cce -64 cce-gateway --eval-timeout 0
	run_cce -64 cce-gateway extra
}

@test "SIGTERM with requests in flight: each is answered, the store is synced, exit 0" {
	gw_start --auto-connect
	seq 5000 | jq -c '{seq: .}' >"$BATS_TEST_TMPDIR/in"
	local i pids=()
	for i in 1 2 3 4; do
		curl -s -o "$BATS_TEST_TMPDIR/ans.$i" -w '%{http_code}' --data-binary @"$BATS_TEST_TMPDIR/in" \
			"$GW_URL/data/d$i" >"$BATS_TEST_TMPDIR/code.$i" &
		pids+=($!)
	done
	kill -TERM "$GW_PID"
	local rc=0
	wait "$GW_PID" || rc=$?
	assert_equal "$rc" 0
	wait "${pids[@]}" || true
	# every answered request is whole in the store; none half
	GW_PID='' gw_start --auto-connect
	for i in 1 2 3 4; do
		local n
		n=$(curl -sf "$GW_URL/data/d$i" | wc -l)
		if [ "$(cat "$BATS_TEST_TMPDIR/code.$i")" = 200 ]; then
			assert_equal "$n" 5000
		else
			assert_equal "$n" 0
		fi
	done
}
