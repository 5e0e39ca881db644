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

@test "a store of schema 1 (a row per record) is upgraded in place: every record, id, count and key kept" {
	mkdir -p "$BATS_TEST_TMPDIR/store"
	# schema 1 as the gateway made it before chunks; ids 3..8 (1 and 2
	# gone to retention), two requests of dev-a, one of dev-b, a key
	python3 - "$BATS_TEST_TMPDIR/store/gateway.db" <<-'PY'
	import sqlite3, sys, time
	now = int(time.time() * 1000)
	db = sqlite3.connect(sys.argv[1], isolation_level=None)
	db.executescript("""
	PRAGMA journal_mode=WAL;
	CREATE TABLE meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);
	CREATE TABLE streams(device TEXT NOT NULL, stream TEXT NOT NULL,
	 connected INTEGER NOT NULL DEFAULT 0, count INTEGER NOT NULL DEFAULT 0,
	 first_ts INTEGER, last_ts INTEGER, bytes INTEGER NOT NULL DEFAULT 0,
	 PRIMARY KEY(device, stream));
	CREATE TABLE records(id INTEGER PRIMARY KEY, device TEXT NOT NULL, stream TEXT NOT NULL,
	 ts INTEGER NOT NULL, recv INTEGER NOT NULL, body TEXT NOT NULL);
	CREATE INDEX records_dts ON records(device, ts, stream);
	CREATE TABLE idem(key TEXT PRIMARY KEY, recv INTEGER NOT NULL, status INTEGER NOT NULL,
	 answer TEXT NOT NULL);
	CREATE INDEX idem_recv ON idem(recv);
	INSERT INTO meta VALUES ('schema', '1');
	""")
	recs = [(3, "dev-a", 50, now - 1000), (4, "dev-a", 10, now - 1000), (5, "dev-b", 20, now - 1000),
	        (6, "dev-a", 30, now), (7, "dev-a", 40, now), (8, "dev-a", 30, now)]
	for i, dev, ts, recv in recs:
	    body = '{"seq":%d,"ts":%d,"device":"%s","stream":"t"}' % (i, ts, dev)
	    db.execute("INSERT INTO records VALUES (?, ?, 't', ?, ?, ?)", (i, dev, ts, recv, body))
	db.execute("""INSERT INTO streams SELECT device, stream, 1, count(*), min(ts), max(ts),
	 sum(length(body)) FROM records GROUP BY device, stream""")
	db.execute("""INSERT INTO idem VALUES ('k1', ?, 200, '{"stored":3,"refused":[]}')""", (now,))
	PY
	gw_start --stdout-from 4
	# a query: by ts, then by id
	run curl -sf "$GW_URL/data/dev-a?startTimestamp=0&endTimestamp=100"
	assert_success
	assert_equal "$(jq -c '[.seq, .ts]' <<<"$output" | tr -d '\n')" "[4,10][6,30][8,30][7,40][3,50]"
	run curl -sf "$GW_URL/data/list"
	assert_equal "$(jq -c '[.device, .count, .first_ts, .last_ts]' <<<"$output" | tr -d '\n')" \
		'["dev-a",5,10,50]["dev-b",1,20,20]'
	# the key is still known: answered as before, nothing stored again
	run gw_curl -X POST -H 'Idempotency-Key: k1' --data-binary '{"seq":99,"ts":1}' \
		"$GW_URL/data/dev-a?streamType=t"
	assert_equal "${lines[-1]}" 200
	assert_equal "${lines[0]}" '{"stored":3,"refused":[]}'
	# ids go on after the last: a new record is 9, and stdout from 4 has 5..9
	run curl -sf -X POST --data-binary '{"seq":9,"ts":60}' "$GW_URL/data/dev-b?streamType=t"
	assert_success
	wait_for 10 test "$(wc -l <"$BATS_TEST_TMPDIR/gw.out")" -ge 5
	gw_stop
	assert_equal "$(jq -c .seq "$BATS_TEST_TMPDIR/gw.out" | tr '\n' ' ')" "5 6 7 8 9 "
	run python3 -c 'import sqlite3, sys; db = sqlite3.connect(sys.argv[1]);
print(db.execute("SELECT v FROM meta").fetchone()[0], db.execute("SELECT group_concat(name) FROM sqlite_master WHERE name = \"records\"").fetchone()[0])' \
		"$GW_STORE/gateway.db"
	assert_output "2 None"
}

@test "a query holds at most 64 MiB of chunks that overlap in time: past it, 500 naming the ts, and the gateway goes on" {
	gw_start --auto-connect --max-body 20MiB
	# 4 requests of 65536 records of about 270 bytes as stored, all within
	# ts 0..1023: 72 MB of chunks (256 KiB of text each) that all overlap
	python3 -c 'import sys
pad = "x" * 222
sys.stdout.write("".join("{\"ts\":%d,\"pad\":\"%s\"}\n" % (i % 1024, pad) for i in range(65536)))' \
		>"$BATS_TEST_TMPDIR/body"
	for _ in 1 2 3 4; do
		curl -sf --data-binary @"$BATS_TEST_TMPDIR/body" "$GW_URL/data/dense" >/dev/null
	done
	echo '{"ts":5,"seq":1}' | curl -sf --data-binary @- "$GW_URL/data/sparse" >/dev/null
	run gw_curl "$GW_URL/data/dense?startTimestamp=0&endTimestamp=2000&limit=1"
	assert_line --index 1 500
	assert_line --index 0 --partial 'a query holds at most 64 MiB of chunks that overlap in time'
	assert_line --index 0 --partial 'from ts 0 on'
	run curl -sf "$GW_URL/data/sparse"
	assert_output '{"ts":5,"seq":1,"device":"sparse","stream":"default"}'
	# the records are all there: stdout has every one
	wait_for 30 test "$(wc -l <"$BATS_TEST_TMPDIR/gw.out")" -eq 262145
}
