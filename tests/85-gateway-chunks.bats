#!/usr/bin/env bats
# shellcheck disable=SC2154 # output, lines come from bats' run
# cce-gateway's SQLite store keeps a row per chunk of a request's records
# (cmd/cce-gateway/chunk.h): queries merge chunks that overlap in time and
# the streams of a device, by ts then arrival; stdout and --stdout-from
# follow ids through chunks; retention deletes whole requests and keeps
# /data/list right; a damaged chunk is an error answer, not a crash.

load lib/common
load gateway/helpers

# gen N BASE: N records, seq 1..N, ts from BASE a second apart, with
# every tenth pair swapped and every record 5 of ten at its predecessor's
# ts (out of order and ties inside a request); %.0f: mawk's %d stops at 2^31
gen() {
	awk -v n="$1" -v base="$2" 'BEGIN {
		for (i = 0; i < n; i++) {
			t = i
			if (i % 10 == 0 && i + 1 < n) t = i + 1
			else if (i % 10 == 1) t = i - 1
			else if (i % 10 == 5) t = i - 1
			printf "{\"seq\":%d,\"ts\":%.0f}\n", i + 1, base + t * 1000
		}
	}'
}

# stored DEVICE STREAM <IN: the records of IN as the gateway stores them
stored() {
	sed "s/}\$/,\"device\":\"$1\",\"stream\":\"$2\"}/"
}

# want FILE START END [LIMIT]: FILE's records with START <= ts < END, by ts
# then seq (the arrival order), at most LIMIT
want() {
	jq -c -s --argjson a "$2" --argjson b "$3" --argjson l "${4:-0}" \
		'[.[] | select(.ts >= $a and .ts < $b)] | sort_by([.ts, .seq]) |
		 if $l > 0 then .[:$l] else . end | .[]' "$1"
}

# query DEVICE [NAME=VALUE...]: the answer to GET /data/DEVICE
query() {
	local dev=$1 a args=()
	shift
	for a in "$@"; do
		args+=(--data-urlencode "$a")
	done
	curl -sf -G "${args[@]}" "$GW_URL/data/$dev"
}

# sql QUERY: run on the store (read only; the gateway may be running)
sql() {
	if command -v sqlite3 >/dev/null; then
		sqlite3 -readonly "$GW_STORE/gateway.db" "$1"
	else
		python3 -c 'import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
for r in db.execute(sys.argv[2]): print("|".join(map(str, r)))' "$GW_STORE/gateway.db" "$1"
	fi
}

# sql_write QUERY: change the store (the gateway stopped)
sql_write() {
	python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1]); db.execute(sys.argv[2]); db.commit(); db.close()' \
		"$GW_STORE/gateway.db" "$1"
}

@test "records out of order in a request and two requests that interleave: by ts, then arrival" {
	gw_start --auto-connect
	# the second request starts earlier, and ties the first at 30
	curl -sf --data-binary $'{"seq":1,"ts":50}\n{"seq":2,"ts":30}\n{"seq":3,"ts":30}\n{"seq":4,"ts":70}\n{"seq":5,"ts":40}\n' \
		"$GW_URL/data/d?streamType=s" >/dev/null
	curl -sf --data-binary $'{"seq":6,"ts":20}\n{"seq":7,"ts":30}\n{"seq":8,"ts":10}\n{"seq":9,"ts":60}\n' \
		"$GW_URL/data/d?streamType=s" >/dev/null
	run query d
	assert_output - <<-'OUT'
	{"seq":8,"ts":10,"device":"d","stream":"s"}
	{"seq":6,"ts":20,"device":"d","stream":"s"}
	{"seq":2,"ts":30,"device":"d","stream":"s"}
	{"seq":3,"ts":30,"device":"d","stream":"s"}
	{"seq":7,"ts":30,"device":"d","stream":"s"}
	{"seq":5,"ts":40,"device":"d","stream":"s"}
	{"seq":1,"ts":50,"device":"d","stream":"s"}
	{"seq":9,"ts":60,"device":"d","stream":"s"}
	{"seq":4,"ts":70,"device":"d","stream":"s"}
	OUT
	run query d startTimestamp=20 endTimestamp=60
	assert_equal "$(jq -c .seq <<<"$output" | tr '\n' ' ')" "6 2 3 7 5 1 "
	run query d limit=4
	assert_equal "$(jq -c .seq <<<"$output" | tr '\n' ' ')" "8 6 2 3 "
	run query d startTimestamp=30 limit=3
	assert_equal "$(jq -c .seq <<<"$output" | tr '\n' ' ')" "2 3 7 "
	# the two requests are two chunks
	assert_equal "$(sql 'SELECT n FROM chunks ORDER BY id' | tr '\n' ' ')" "5 4 "
	gw_stop
	run jq -c .seq "$BATS_TEST_TMPDIR/gw.out"
	assert_equal "$(tr '\n' ' ' <<<"$output")" "1 2 3 4 5 6 7 8 9 "
}

@test "a request over 1024 records and 10 minutes is several chunks: windows, limits, two streams" {
	gw_start --auto-connect
	local base=1700000000000 f=$BATS_TEST_TMPDIR/all
	gen 3000 "$base" >"$BATS_TEST_TMPDIR/in"
	curl -sf --data-binary @"$BATS_TEST_TMPDIR/in" "$GW_URL/data/d?streamType=s" >/dev/null
	stored d s <"$BATS_TEST_TMPDIR/in" >"$f"
	# 3000 records over 50 minutes: chunks of under 10 minutes each
	run sql "SELECT count(*) > 4, max(n) <= 1024, max(ts_max - ts_min) < 600000, sum(n) FROM chunks"
	assert_output '1|1|1|3000'
	local w from to limit
	for w in "0 9999999999999" "$((base + 100000)) $((base + 200000))" \
		"$((base + 500000)) $((base + 700000))" "$((base - 5000)) $((base + 650500))" \
		"$((base + 1190000)) $((base + 1210000))" "$((base + 2999000)) $((base + 9000000))" \
		"$((base + 3000000)) $((base + 9000000))"; do
		read -r from to <<<"$w"
		query d startTimestamp="$from" endTimestamp="$to" >"$BATS_TEST_TMPDIR/got"
		want "$f" "$from" "$to" >"$BATS_TEST_TMPDIR/want"
		assert_equal "$(cat "$BATS_TEST_TMPDIR/got")" "$(cat "$BATS_TEST_TMPDIR/want")"
	done
	# limits that end inside a chunk
	for w in "0 9999999999999 700" "$((base + 550000)) 9999999999999 100" "$((base + 123456)) 9999999999999 1"; do
		read -r from to limit <<<"$w"
		query d startTimestamp="$from" endTimestamp="$to" limit="$limit" >"$BATS_TEST_TMPDIR/got"
		want "$f" "$from" "$to" "$limit" >"$BATS_TEST_TMPDIR/want"
		assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/got")" "$limit"
		assert_equal "$(cat "$BATS_TEST_TMPDIR/got")" "$(cat "$BATS_TEST_TMPDIR/want")"
	done
	# 2500 records of one ts are three chunks (by count): arrival order
	awk 'BEGIN { for (i = 1; i <= 2500; i++) printf "{\"seq\":%d,\"ts\":5}\n", i }' >"$BATS_TEST_TMPDIR/same"
	curl -sf --data-binary @"$BATS_TEST_TMPDIR/same" "$GW_URL/data/one?streamType=s" >/dev/null
	assert_equal "$(sql "SELECT group_concat(n) FROM chunks WHERE device = 'one'")" "1024,1024,452"
	assert_equal "$(query one startTimestamp=5 endTimestamp=6 | jq -r .seq | tr '\n' ' ')" "$(seq 2500 | tr '\n' ' ')"
	assert_equal "$(query one limit=1500 | jq -r .seq | tr '\n' ' ')" "$(seq 1500 | tr '\n' ' ')"
	# two streams of a device, records at the same ts: merged by ts, then
	# arrival (a's request came first) without streamType, one with it
	gen 1500 "$base" >"$BATS_TEST_TMPDIR/in"
	stored two a <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/a"
	stored two b <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/b"
	curl -sf --data-binary @"$BATS_TEST_TMPDIR/in" "$GW_URL/data/two?streamType=a" >/dev/null
	curl -sf --data-binary @"$BATS_TEST_TMPDIR/in" "$GW_URL/data/two?streamType=b" >/dev/null
	query two startTimestamp="$((base + 300000))" endTimestamp="$((base + 900000))" >"$BATS_TEST_TMPDIR/got"
	assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/got")" 1200
	assert_equal "$(cat "$BATS_TEST_TMPDIR/got")" \
		"$(cat "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b" | jq -c -s --argjson a $((base + 300000)) --argjson b $((base + 900000)) \
			'[.[] | select(.ts >= $a and .ts < $b)] | sort_by([.ts, .stream, .seq]) | .[]')"
	query two streamType=b startTimestamp="$((base + 300000))" endTimestamp="$((base + 900000))" >"$BATS_TEST_TMPDIR/got"
	want "$BATS_TEST_TMPDIR/b" "$((base + 300000))" "$((base + 900000))" >"$BATS_TEST_TMPDIR/want"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/got")" "$(cat "$BATS_TEST_TMPDIR/want")"
	assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/got")" 600
	gw_stop
}

@test "stdout follows ids through chunks; --stdout-from an id inside a chunk resumes right after it" {
	gw_start --auto-connect
	gen 3000 1700000000000 | curl -sf --data-binary @- "$GW_URL/data/d?streamType=s" >/dev/null
	printf '{"seq":%d,"ts":1}\n' 3001 3002 3003 | curl -sf --data-binary @- "$GW_URL/data/e" >/dev/null
	assert_equal "$(sql 'SELECT count(*) > 4 FROM chunks')" 1
	gw_stop
	mv "$BATS_TEST_TMPDIR/gw.out" "$BATS_TEST_TMPDIR/first"
	assert_equal "$(jq -r .seq "$BATS_TEST_TMPDIR/first" | tr '\n' ' ')" "$(seq 3003 | tr '\n' ' ')"
	# 700 is inside a chunk; the next id given is the second chunk's last,
	# and the next the third chunk's first; 3000 ends a request; 3003 is
	# the last
	assert_equal "$(sql 'SELECT count(*) FROM chunks WHERE id < 700 AND id + n > 701')" 1
	local from end
	for from in 700 "$(sql 'SELECT id + n - 2 FROM chunks ORDER BY id LIMIT 1 OFFSET 1')" \
		"$(sql 'SELECT id - 1 FROM chunks ORDER BY id LIMIT 1 OFFSET 2')" 3000 3003 0; do
		gw_start --auto-connect --stdout-from "$from"
		end=$((3003 - from))
		# shellcheck disable=SC2016 # expanded by eval, each time
		wait_for 30 eval '[ "$(wc -l <"$BATS_TEST_TMPDIR/gw.out")" -ge '"$end"' ]'
		gw_stop
		assert_equal "$(cat "$BATS_TEST_TMPDIR/gw.out")" "$(tail -n +$((from + 1)) "$BATS_TEST_TMPDIR/first")"
		rm "$BATS_TEST_TMPDIR/gw.out"
	done
}

@test "retention deletes whole requests, oldest first; /data/list counts, first_ts and bytes stay right" {
	gw_start --auto-connect --retain-size 20KiB
	local i
	# ten requests of 100 records (about 5.5 KB each), d and e in turn
	for i in $(seq 0 9); do
		awk -v i="$i" 'BEGIN { for (k = 0; k < 100; k++)
			printf "{\"seq\":%d,\"ts\":%d,\"pad\":\"xxxxxxxx\"}\n", i * 100 + k, 1000000 - i * 1000 + (k * 37) % 100 }' |
			curl -sf --data-binary @- "$GW_URL/data/$([ $((i % 2)) = 0 ] && echo d || echo e)?streamType=s" >/dev/null
	done
	# shellcheck disable=SC2016 # expanded by eval, each time
	wait_for 30 eval '[ "$(curl -sf "$GW_URL/data/list" | jq -s "map(.bytes) | add")" -le 20480 ]'
	local dev seqs
	for dev in d e; do
		query "$dev" >"$BATS_TEST_TMPDIR/$dev"
		# whole requests stay: seq runs of 100 from a request's first
		seqs=$(jq -s 'map(.seq) | sort | [.[0] % 100, length % 100] | @tsv' -r "$BATS_TEST_TMPDIR/$dev")
		assert_equal "$seqs" $'0\t0'
	done
	# what stays is the newest requests: 8 and 9 at least, 0 to 5 gone
	assert_equal "$(cat "$BATS_TEST_TMPDIR/d" "$BATS_TEST_TMPDIR/e" | jq -s 'map(.seq) | [min >= 600, max]' -c)" '[true,999]'
	# list: count, first_ts and bytes are those of what stays; last_ts the last stored
	run curl -sf "$GW_URL/data/list"
	assert_equal "$output" "$(for dev in d e; do jq -s -c --arg d "$dev" --argjson last "$([ "$dev" = d ] && echo 1000099 || echo 999099)" \
		'{device: $d, stream: "s", connected: true, count: length, first_ts: (map(.ts) | min),
		  last_ts: $last, bytes: (map(tojson | length) | add)}' "$BATS_TEST_TMPDIR/$dev"; done)"
	assert_equal "$(jq -s 'map(.bytes) | add > 15000' <<<"$output")" true
	# a restart keeps them so
	gw_stop
	gw_start --auto-connect
	run curl -sf "$GW_URL/data/list"
	assert_equal "$(jq -s -c 'map(.count)' <<<"$output")" "[$(wc -l <"$BATS_TEST_TMPDIR/d"),$(wc -l <"$BATS_TEST_TMPDIR/e")]"
	gw_stop
}

@test "a damaged chunk: a query touching it is 500 naming it; other queries and the gateway go on" {
	gw_start --auto-connect
	printf '{"seq":%d,"ts":%d}\n' 1 1000 2 2000 | curl -sf --data-binary @- "$GW_URL/data/d" >/dev/null
	printf '{"seq":%d,"ts":%d}\n' 3 9000000 4 9001000 | curl -sf --data-binary @- "$GW_URL/data/d" >/dev/null
	printf '{"seq":%d,"ts":%d}\n' 5 1000 | curl -sf --data-binary @- "$GW_URL/data/e" >/dev/null
	gw_stop
	sql_write "UPDATE chunks SET body = X'01deadbeef' WHERE id = (SELECT min(id) FROM chunks)"
	gw_start --auto-connect
	run gw_curl "$GW_URL/data/d"
	assert_line --index 1 500
	assert_line --index 0 "{\"error\":\"$GW_STORE/gateway.db: the records from id 1: a damaged chunk: not a zstd frame of known size\"}"
	run query d startTimestamp=5000
	assert_output - <<-'OUT'
	{"seq":3,"ts":9000000,"device":"d","stream":"default"}
	{"seq":4,"ts":9001000,"device":"d","stream":"default"}
	OUT
	run gw_curl "$GW_URL/data/e"
	assert_line --index 0 '{"seq":5,"ts":1000,"device":"e","stream":"default"}'
	assert_line --index 1 200
	# a raw value whose count says more than it holds
	gw_stop
	sql_write "UPDATE chunks SET body = X'0005000000' WHERE device = 'e'"
	gw_start --auto-connect
	run gw_curl "$GW_URL/data/e"
	assert_line --index 1 500
	assert_line --index 0 "{\"error\":\"$GW_STORE/gateway.db: the records from id 5: a damaged chunk: its count does not fit\"}"
	run query d startTimestamp=5000
	assert_equal "$(jq -c .seq <<<"$output" | tr '\n' ' ')" "3 4 "
	kill -0 "$GW_PID"
	gw_stop
}

@test "a damaged chunk on stdout's way: a warning naming its ids, once, and stdout goes on past it" {
	gw_start --auto-connect
	for s in 1 4 7; do
		printf '{"seq":%d,"ts":%d}\n' "$s" "$s" $((s + 1)) $((s + 1)) $((s + 2)) $((s + 2)) |
			curl -sf --data-binary @- "$GW_URL/data/d" >/dev/null
	done
	gw_stop
	sql_write "UPDATE chunks SET body = X'01deadbeef' WHERE id = 4"
	: >"$BATS_TEST_TMPDIR/gw.out"
	gw_start --auto-connect --stdout-from 0
	printf '{"seq":10,"ts":10}\n' | curl -sf --data-binary @- "$GW_URL/data/d" >/dev/null
	wait_for 10 test "$(wc -l <"$BATS_TEST_TMPDIR/gw.out")" -ge 7
	gw_stop
	assert_equal "$(jq -c .seq "$BATS_TEST_TMPDIR/gw.out" | tr '\n' ' ')" "1 2 3 7 8 9 10 "
	run grep -c 'skipped' "$BATS_TEST_TMPDIR/gw.err"
	assert_output 1
	run grep 'skipped' "$BATS_TEST_TMPDIR/gw.err"
	assert_output "cce-gateway: stdout: $GW_STORE/gateway.db: the records from id 4: a damaged chunk: not a zstd frame of known size; skipped the records up to id 6"
}
