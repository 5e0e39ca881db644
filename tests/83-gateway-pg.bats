#!/usr/bin/env bats
# shellcheck disable=SC2154,SC2016 # output comes from bats' run; wait_for evaluates its conditions
# cce-gateway on PostgreSQL: a real PostgreSQL 15 server started for this
# file on loopback (tests/gateway/pg.bash), each test with a database of
# its own. Every endpoint; two gateways on one database share the
# idempotency keys; kill -9 of a gateway loses no acknowledged record; a
# server that is down, or a database that is not ours, is refused at start
# (69), and one that goes away at run time gets 503s and loses nothing.

load lib/common
load gateway/helpers
load gateway/pg

setup_file() {
	pg_start
}

teardown_file() {
	pg_stop
}

teardown() {
	local p
	for p in "${A_PID:-}" "${B_PID:-}" "${GW_PID:-}"; do
		[ -z "$p" ] || kill -9 "$p" 2>/dev/null || true
	done
}

setup() {
	GW_STORE=$(pg_newdb)
	export GW_STORE
}

@test "postgres: connect, send, list, query with a filter, disconnect, status; stdout has every record" {
	gw_start
	run gw_curl -X POST "$GW_URL/data/connect?id=dev-1&streamType=temp"
	assert_line --index 1 200
	assert_line --index 0 '{"device":"dev-1","stream":"temp","connected":true}'
	run gw_curl --data-binary $'{"seq":1,"ts":3000}\n{"seq":2,"ts":1000}\nnot json\n' "$GW_URL/data/dev-1?streamType=temp"
	assert_line --index 1 207
	assert_line --index 0 --partial '{"stored":2,"refused":[{"line":3,'
	run gw_curl --data-binary $'{"seq":3,"ts":2000,"s":"tab\\there, back\\\\slash"}' "$GW_URL/data/dev-1?streamType=temp"
	assert_line --index 1 200
	run curl -sf "$GW_URL/data/dev-1"
	assert_output - <<-'OUT'
	{"seq":2,"ts":1000,"device":"dev-1","stream":"temp"}
	{"seq":3,"ts":2000,"s":"tab\there, back\\slash","device":"dev-1","stream":"temp"}
	{"seq":1,"ts":3000,"device":"dev-1","stream":"temp"}
	OUT
	run curl -sf "$GW_URL/data/dev-1?startTimestamp=1500&endTimestamp=3000&streamType=temp"
	assert_output --partial '"seq":3'
	assert_equal "${#lines[@]}" 1
	run curl -sf "$GW_URL/data/dev-1?limit=1"
	assert_output --partial '"seq":2'
	run curl -sf --get --data-urlencode 'filterExpression=.seq >= 2 and .ts > 1000' "$GW_URL/data/dev-1"
	assert_output --partial '"seq":3'
	assert_equal "${#lines[@]}" 1
	run gw_curl --get --data-urlencode 'filterExpression=.[' "$GW_URL/data/dev-1"
	assert_line --index 1 400
	local bytes
	bytes=$(curl -sf "$GW_URL/data/dev-1" | tr -d '\n' | wc -c)
	run curl -sf "$GW_URL/data/list"
	assert_output '{"device":"dev-1","stream":"temp","connected":true,"count":3,"first_ts":1000,"last_ts":3000,"bytes":'"$bytes"'}'
	run gw_curl -X DELETE "$GW_URL/data/disconnect?id=dev-1&streamType=temp"
	assert_line --index 1 200
	run gw_curl --data-binary '{"seq":4}' "$GW_URL/data/dev-1?streamType=temp"
	assert_line --index 1 404
	run curl -sf "$GW_URL/status"
	assert_equal "$(jq -r '[.store, .records, .store_bytes > 0, .disk_free] | @tsv' <<<"$output")" $'postgresql\t3\ttrue\t'
	# the key of a request that was refused (404) is not spent
	run gw_curl -H 'Idempotency-Key: k-404' --data-binary '{"seq":5}' "$GW_URL/data/dev-1?streamType=temp"
	assert_line --index 1 404
	curl -sf -X POST "$GW_URL/data/connect?id=dev-1&streamType=temp" >/dev/null
	run gw_curl -H 'Idempotency-Key: k-404' --data-binary '{"seq":5}' "$GW_URL/data/dev-1?streamType=temp"
	assert_line --index 1 200
	gw_stop
	run jq -c .seq "$BATS_TEST_TMPDIR/gw.out"
	assert_output $'1\n2\n3\n5'
	# the schema the man page documents, in the database
	run pg_sql "${GW_STORE##*/}" "SELECT v FROM meta WHERE k = 'schema'"
	assert_output 1
}

# gw2_start NAME OPTS...: one more gateway on the same store (NAME_PID, NAME_URL)
gw2_start() {
	local name=$1 port
	shift
	port=$(free_port)
	cce-gateway --listen "127.0.0.1:$port" --store "$GW_STORE" "$@" \
		>"$BATS_TEST_TMPDIR/$name.out" 2>"$BATS_TEST_TMPDIR/$name.err" &
	eval "${name}_PID=$! ${name}_URL=http://127.0.0.1:$port"
	wait_for 30 curl -s -o /dev/null "http://127.0.0.1:$port/status" ||
		fail "gateway $name did not start: $(cat "$BATS_TEST_TMPDIR/$name.err")"
}

@test "postgres: two gateways on one database, the same Idempotency-Key sent to both at once: stored once" {
	gw2_start A --auto-connect
	gw2_start B --auto-connect
	local i
	for i in $(seq 20); do
		seq $((i * 100)) $((i * 100 + 49)) | jq -c '{seq: .}' >"$BATS_TEST_TMPDIR/b.$i"
	done
	for i in $(seq 20); do
		curl -s -o "$BATS_TEST_TMPDIR/a.$i" -w '%{http_code}\n' -H "Idempotency-Key: key-$i" \
			--data-binary @"$BATS_TEST_TMPDIR/b.$i" "$A_URL/data/d" >"$BATS_TEST_TMPDIR/ca.$i" &
		curl -s -o "$BATS_TEST_TMPDIR/b2.$i" -w '%{http_code}\n' -H "Idempotency-Key: key-$i" \
			--data-binary @"$BATS_TEST_TMPDIR/b.$i" "$B_URL/data/d" >"$BATS_TEST_TMPDIR/cb.$i" &
	done
	wait_for 120 eval '[ "$(cat "$BATS_TEST_TMPDIR"/c[ab].* 2>/dev/null | wc -l)" -eq 40 ]'
	run cat "$BATS_TEST_TMPDIR"/ca.* "$BATS_TEST_TMPDIR"/cb.*
	refute_output --partial 5
	# both answers of a key are the same: the first one's
	for i in $(seq 20); do
		assert_equal "$(cat "$BATS_TEST_TMPDIR/a.$i")" "$(cat "$BATS_TEST_TMPDIR/b2.$i")"
	done
	curl -sf "$A_URL/data/d" >"$BATS_TEST_TMPDIR/got"
	assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/got")" 1000
	assert_equal "$(jq .seq "$BATS_TEST_TMPDIR/got" | sort -u | wc -l)" 1000
	run curl -sf "$B_URL/data/list"
	assert_output --partial '"count":1000,'
	kill -TERM "$A_PID" "$B_PID"
	wait "$A_PID"
	wait "$B_PID"
	# each gateway's stdout has the records it stored: together, each once
	assert_equal "$(cat "$BATS_TEST_TMPDIR/A.out" "$BATS_TEST_TMPDIR/B.out" | jq .seq | sort -u | wc -l)" 1000
	assert_equal "$(cat "$BATS_TEST_TMPDIR/A.out" "$BATS_TEST_TMPDIR/B.out" | wc -l)" 1000
}

@test "postgres: kill -9 of a gateway during ingest loses no acknowledged record and stores no request in part" {
	gw_start --auto-connect
	local i
	for i in $(seq 25); do
		seq $((i * 1000)) $((i * 1000 + 199)) | jq -c '{seq: .}' >"$BATS_TEST_TMPDIR/b.$i"
	done
	(
		for i in $(seq 25); do
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
	for i in $(seq 25); do
		got=$(jq --argjson i "$i" 'select(.seq >= $i * 1000 and .seq < $i * 1000 + 1000)' -c \
			"$BATS_TEST_TMPDIR/got" | wc -l)
		if grep -qx "$i 200" "$BATS_TEST_TMPDIR/codes"; then
			acked=$((acked + 1))
			assert_equal "batch $i: $got" "batch $i: 200"
		else
			[ "$got" = 0 ] || [ "$got" = 200 ] || fail "batch $i stored in part: $got records"
		fi
		# sent again with its key: answered as before, not stored twice
	done
	run gw_curl -H "Idempotency-Key: b-1" --data-binary @"$BATS_TEST_TMPDIR/b.1" "$GW_URL/data/d"
	assert_line --index 1 200
	assert_equal "$(curl -sf "$GW_URL/data/d" | wc -l)" "$(wc -l <"$BATS_TEST_TMPDIR/got")"
	[ "$acked" -ge 3 ]
	gw_stop
}

@test "postgres: a server that is not there, bad credentials, or a database not ours: exit 69 with the reason, no password shown" {
	local port
	port=$(free_port)
	run -69 cce-gateway --listen "127.0.0.1:$(free_port)" --store "postgresql://postgres@127.0.0.1:$port/x"
	assert_output --partial "cannot connect to postgresql://postgres@127.0.0.1:$port/x"
	run -69 cce-gateway --listen "127.0.0.1:$(free_port)" --store "postgresql://postgres:wrong-secret@127.0.0.1:$PG_PORT/${GW_STORE##*/}"
	assert_output --partial "password authentication failed"
	refute_output --partial "wrong-secret"
	pg_sql "${GW_STORE##*/}" "CREATE TABLE x(y int)"
	run -69 cce-gateway --listen "127.0.0.1:$(free_port)" --store "$GW_STORE"
	assert_output --partial "not a cce-gateway store of schema 1"
}

@test "postgres: the server goes away while a gateway runs: 503, nothing acknowledged lost; back, and ingest resumes" {
	gw_start --auto-connect
	run gw_curl --data-binary '{"seq":1}' "$GW_URL/data/d"
	assert_line --index 1 200
	pg_stop immediate
	run gw_curl --data-binary '{"seq":2}' "$GW_URL/data/d"
	assert_line --index 1 503
	run gw_curl "$GW_URL/data/d"
	assert_line --index 1 503
	pg_start
	local code
	wait_for 30 eval 'code=$(curl -s -o /dev/null -w "%{http_code}" --data-binary "{\"seq\":3}" "$GW_URL/data/d"); [ "$code" = 200 ]'
	run curl -sf "$GW_URL/data/d"
	assert_equal "$(jq -c .seq <<<"$output" | tr '\n' ' ')" "1 3 "
	gw_stop
}

@test "postgres: retention by size and by age deletes the oldest records, the counters follow" {
	gw_start --auto-connect --retain-size 20KiB
	local i
	for i in $(seq 10); do
		seq $((i * 100)) $((i * 100 + 99)) | jq -c '{seq: .}' | curl -sf --data-binary @- "$GW_URL/data/d" >/dev/null
	done
	wait_for 30 eval '[ "$(curl -sf "$GW_URL/data/list" | jq .bytes)" -le 20480 ]'
	curl -sf "$GW_URL/data/d" >"$BATS_TEST_TMPDIR/got"
	# what stays is the newest, without a gap, and the list counts it
	local first
	first=$(jq -s '.[0].seq' "$BATS_TEST_TMPDIR/got")
	assert_equal "$(jq -r .seq "$BATS_TEST_TMPDIR/got" | tr '\n' ' ')" "$(seq "$first" 1099 | tr '\n' ' ')"
	run curl -sf "$GW_URL/data/list"
	assert_equal "$(jq -c '[.count, .bytes, .last_ts > 0]' <<<"$output")" \
		"[$(wc -l <"$BATS_TEST_TMPDIR/got"),$(tr -d '\n' <"$BATS_TEST_TMPDIR/got" | wc -c),true]"
	gw_stop
	GW_PID='' gw_start --auto-connect --retain 1s
	wait_for 30 eval '[ "$(curl -sf "$GW_URL/data/list" | jq .count)" -eq 0 ]'
	run curl -sf "$GW_URL/data/list"
	assert_output --partial '"count":0,"first_ts":null,"last_ts":null,"bytes":0}'
	gw_stop
}
