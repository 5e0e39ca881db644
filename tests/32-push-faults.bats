#!/usr/bin/env bats
# cce-push under faults, against real nginx servers on loopback: a server
# that is down and comes back, 503 and 429 with Retry-After, a permanent
# 400, kill -9 ten times in a row on the same spool, a spool file system
# that fills up. Each checks that every record arrived at least once and
# that deduplicating by batch id gives exactly the input.

load lib/common
load push/helpers

# ingest_conf PORT DIR: a server on PORT keeping POST bodies, and its backend
ingest_conf() {
	local port=$1 dir=$2 back
	back=$(free_port)
	echo "
	server { listen 127.0.0.1:$back; location / { return 200 'ok'; } }
	server {
		listen 127.0.0.1:$port;
		client_body_in_file_only on;
		access_log $dir/logs/ingest.log push;
		location /ingest { proxy_pass http://127.0.0.1:$back; }
		location /flaky {
			if (-f $dir/down) { add_header Retry-After 1 always; return 503; }
			proxy_pass http://127.0.0.1:$back;
		}
		location /busy {
			if (-f $dir/down) { add_header Retry-After 1 always; return 429; }
			proxy_pass http://127.0.0.1:$back;
		}
		location /later {
			if (-f $dir/down) { add_header Retry-After 'Fri, 31 Dec 2100 23:59:59 GMT' always; return 503; }
			proxy_pass http://127.0.0.1:$back;
		}
		location /bad { return 400 'bad batch'; }
	}"
}

setup_file() {
	export NGX="$BATS_FILE_TMPDIR/nginx"
	export PORT=$(free_port)
	mkdir -p "$NGX/logs"
	nginx_start "$NGX" "$(ingest_conf "$PORT" "$NGX")"
}

teardown_file() {
	nginx_stop "$NGX"
}

teardown() {
	[ -z "${LATE:-}" ] || nginx_stop "$LATE"
	[ -z "${MNT:-}" ] || umount "$MNT" 2>/dev/null || true
}

# bodies FIRST_ONLY LOG...: the 2xx request bodies the logs name, one after
# the other (with FIRST_ONLY=1, each batch key's first only)
bodies() {
	local first=$1 f
	shift
	cat "$@" | awk -v first="$first" '$3 ~ /^2/ && (!first || !seen[$1]++) { print $2 }' |
		while read -r f; do cat "$f"; done
}

# answered CODE: how many requests ingest.log says got CODE
answered() {
	awk -v code="$1" '$3 == code' "$NGX/logs/ingest.log" | wc -l
}

# outage SECONDS CMD...: CMD runs while the test locations answer as down
# for SECONDS; returns CMD's status
outage() {
	local secs=$1 pid
	shift
	touch "$NGX/down"
	"$@" &
	pid=$!
	sleep "$secs"
	rm "$NGX/down"
	wait "$pid"
}

# exactly LOG... IN: the 2xx bodies of the logs, deduplicated by key, are
# the input (as multisets), and every input record arrived at least once
exactly() {
	local in=${*: -1} logs=("${@:1:$#-1}")
	# nginx logs a request after it sent the answer: the last line may
	# come a moment after cce-push exited
	wait_for 5 logged_all "$in" "${logs[@]}" || true
	bodies 1 "${logs[@]}" | grep -Fx -f "$in" >"$BATS_TEST_TMPDIR/dedup" || true
	bodies 0 "${logs[@]}" | grep -Fx -f "$in" >"$BATS_TEST_TMPDIR/all" || true
	covers "$in" "$BATS_TEST_TMPDIR/all"
	same_records "$in" "$BATS_TEST_TMPDIR/dedup"
}

# logged_all IN LOG...: every record of IN is in a 2xx body of the logs
logged_all() {
	local in=$1
	shift
	bodies 0 "$@" | grep -Fx -f "$in" >"$BATS_TEST_TMPDIR/logged" || true
	[ "$(comm -23 <(sort -u "$in") <(sort -u "$BATS_TEST_TMPDIR/logged") | wc -l)" -eq 0 ]
}

@test "server down, then back: everything arrives once the server is up" {
	local d=$BATS_TEST_TMPDIR port
	port=$(free_port)
	gen 3000 100000 >"$d/in"
	cce-push --spool "$d/spool" --backoff 100ms --backoff-max 300ms "http://127.0.0.1:$port/ingest" "$d/in" 2>"$d/err" &
	local pid=$!
	sleep 1
	kill -0 "$pid"   # still retrying, nothing lost
	grep -q "Connection refused\|Couldn't connect" "$d/err"
	export LATE="$d/late"
	mkdir -p "$LATE/logs"
	nginx_start "$LATE" "$(ingest_conf "$port" "$LATE")"
	local rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 0 ] || { cat "$d/err"; false; }
	exactly "$LATE/logs/ingest.log" "$d/in"
}

@test "503 with Retry-After is honoured, then the batches go through" {
	local d=$BATS_TEST_TMPDIR
	gen 1000 200000 >"$d/in"
	local rc=0
	outage 2.5 cce-push --receipts --backoff 10ms "http://127.0.0.1:$PORT/flaky" "$d/in" >"$d/out" 2>"$d/err" || rc=$?
	[ "$rc" -eq 0 ] || { cat "$d/err"; false; }
	# 10ms backoff alone would have made hundreds of attempts in 2.5s;
	# Retry-After: 1 allows about three
	local n503
	n503=$(answered 503)
	[ "$n503" -ge 2 ] && [ "$n503" -le 4 ]
	grep -q "HTTP 503" "$d/err"
	jq -e -s 'first.attempts >= 2' "$d/out"
	exactly "$NGX/logs/ingest.log" "$d/in"
}

@test "429 with Retry-After is clamped to --backoff-max" {
	local d=$BATS_TEST_TMPDIR
	gen 100 300000 >"$d/in"
	local before
	before=$(answered 429)
	outage 1.5 cce-push --backoff 10ms --backoff-max 100ms "http://127.0.0.1:$PORT/busy" "$d/in" 2>"$d/err"
	local n429
	n429=$(($(answered 429) - before))
	# Retry-After: 1 alone would allow two attempts
	[ "$n429" -ge 4 ]
	exactly "$NGX/logs/ingest.log" "$d/in"
}

@test "Retry-After as an HTTP date far ahead is clamped to --backoff-max" {
	local d=$BATS_TEST_TMPDIR
	gen 100 350000 >"$d/in"
	local before
	before=$(answered 503)
	# without the date, 1ms backoff doubling to 500ms would try about ten
	# times in 1.7s; with it, every 500ms
	outage 1.7 cce-push --backoff 1ms --backoff-max 500ms "http://127.0.0.1:$PORT/later" "$d/in" 2>"$d/err"
	local n
	n=$(($(answered 503) - before))
	[ "$n" -ge 2 ] && [ "$n" -le 5 ]
	exactly "$NGX/logs/ingest.log" "$d/in"
}

@test "a permanent 400 goes to the dead-letter file, the rest is delivered, exit 1" {
	local d=$BATS_TEST_TMPDIR
	gen 600 400000 | jq -c '.kind = (if .i % 2 == 0 then "ingest" else "bad" end)' >"$d/in"
	run_cce -1 cce-push --spool "$d/spool" --dead-letter "$d/dead" "http://127.0.0.1:$PORT/{kind}" "$d/in"
	stderr_has "refused by http://127.0.0.1:$PORT/bad: HTTP 400: bad batch; kept in '$d/dead'"
	grep '"kind":"bad"' "$d/in" | cmp - "$d/dead"
	grep '"kind":"ingest"' "$d/in" >"$d/good"
	exactly "$NGX/logs/ingest.log" "$d/good"
	[ "$(spool_bytes "$d/spool")" -eq 0 ]
	# the default dead-letter file lives beside the spool
	run_cce -1 cce-push --spool "$d/spool2" "http://127.0.0.1:$PORT/bad" <<<'{"x":1}'
	cmp <(echo '{"x":1}') "$d/spool2.dead.jsonl"
}

@test "kill -9 at random moments, ten times in a row, on the same spool" {
	local d=$BATS_TEST_TMPDIR port
	gen 20000 500000 >"$d/in"
	# accept everything while the server is unreachable...
	port=$(free_port)
	cce-push --spool "$d/spool" --batch-records 50 --backoff 1h --stats 50ms \
		"http://127.0.0.1:$port/ingest" "$d/in" 2>"$d/err" &
	local pid=$!
	wait_for 20 grep -q '"accepted":20000' "$d/err"
	kill -9 "$pid"
	wait "$pid" || true
	# ...then deliver, killed at random moments
	kill_rounds 10 124 cce-push --drain --spool "$d/spool" "http://127.0.0.1:$PORT/ingest" 2>>"$d/err"
	run_cce cce-push --drain --spool "$d/spool" "http://127.0.0.1:$PORT/ingest"
	[ "$(spool_bytes "$d/spool")" -eq 0 ]
	exactly "$NGX/logs/ingest.log" "$d/in"
}

@test "kill -9 while reading and sending: a prefix of the input, deduplicated exactly" {
	local d=$BATS_TEST_TMPDIR round before
	gen 100000 700000 >"$d/in"
	# earlier tests filled ingest.log: the kill waits for a batch of this
	# input answered after the start (a 200 of theirs let it land before
	# anything was spooled, and nothing was delivered, under ASan)
	before=$(wc -l <"$NGX/logs/ingest.log")
	delivered_since() { # LINE IN: a 200 logged after LINE carried a batch of IN
		local f
		for f in $(tail -n +"$(($1 + 1))" "$NGX/logs/ingest.log" | awk '$3 == 200 { print $2 }'); do
			grep -qFx -e "$(head -n1 "$f")" "$2" && return 0
		done
		return 1
	}
	cce-push --spool "$d/spool" --batch-records 100 "http://127.0.0.1:$PORT/ingest" "$d/in" 2>/dev/null &
	local pid=$!
	wait_for 20 delivered_since "$before" "$d/in"
	kill -9 "$pid"
	wait "$pid" || true
	run_cce cce-push --drain --spool "$d/spool" "http://127.0.0.1:$PORT/ingest"
	bodies 1 "$NGX/logs/ingest.log" |
		grep -Fx -f "$d/in" >"$d/dedup" || true
	local n
	n=$(wc -l <"$d/dedup")
	[ "$n" -gt 0 ]
	head -n "$n" "$d/in" >"$d/prefix"
	same_records "$d/prefix" "$d/dedup"
}

@test "a full spool file system blocks the input, then drains when the server is back" {
	local d=$BATS_TEST_TMPDIR port
	small_tmpfs 256k
	port=$(free_port)
	gen 8000 800000 >"$d/in"      # about 500 KB: twice the file system
	cce-push --spool "$MNT/spool" --batch-records 100 --backoff 100ms --backoff-max 200ms \
		"http://127.0.0.1:$port/ingest" "$d/in" 2>"$d/err" &
	local pid=$!
	# it fills the file system, and waits
	wait_for 20 eval "df -k '$MNT' | awk 'NR == 2 { exit !(\$4 < 16) }'"
	sleep 0.3
	kill -0 "$pid"
	export LATE="$d/late"
	mkdir -p "$LATE/logs"
	nginx_start "$LATE" "$(ingest_conf "$port" "$LATE")"
	local rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 0 ] || { cat "$d/err"; false; }
	exactly "$LATE/logs/ingest.log" "$d/in"
}

@test "a full spool file system with --when-full drop-oldest drops the oldest and reads on" {
	local d=$BATS_TEST_TMPDIR port
	small_tmpfs 256k
	port=$(free_port)
	gen 8000 800000 >"$d/in"      # about 500 KB: twice the file system
	# --spool-max far above the file system (its segments are 64KiB): the
	# file system fills first, and the server is down throughout
	run_cce -75 cce-push --spool "$MNT/spool" --spool-max 1MiB --when-full drop-oldest \
		--batch-records 100 --backoff 1h --retry-for 2s "http://127.0.0.1:$port/ingest" "$d/in"
	stderr_like "the spool was full: [0-9]+ records in [0-9]+ batches were dropped"
	local dropped
	dropped=$(sed -nE 's/.*the spool was full: ([0-9]+) records.*/\1/p' <<<"$stderr" | tail -n1)
	[ "$dropped" -gt 0 ]
	run_cce cce-push --drain --spool "$MNT/spool" "http://127.0.0.1:$PORT/ingest"
	bodies 1 "$NGX/logs/ingest.log" |
		grep -Fx -f "$d/in" >"$d/got" || true
	# the newest records made it, and every record is delivered or
	# reported dropped, exactly (the dropped ones stay dropped)
	grep -q '"i":807999,' "$d/got"
	[ "$(sort "$d/got" | uniq -d | wc -l)" -eq 0 ]
	[ "$(( $(wc -l <"$d/got") + dropped ))" -eq 8000 ]
}

@test "--when-full drop-oldest keeps the newest records and says what it dropped" {
	local d=$BATS_TEST_TMPDIR port
	port=$(free_port)
	gen 5000 900000 >"$d/in"
	run_cce -75 cce-push --spool "$d/spool" --spool-max 64KiB --when-full drop-oldest \
		--batch-records 100 --backoff 1h --retry-for 2s "http://127.0.0.1:$port/ingest" "$d/in"
	stderr_like "the spool was full: [0-9]+ records in [0-9]+ batches were dropped"
	local dropped
	dropped=$(sed -nE 's/.*the spool was full: ([0-9]+) records.*/\1/p' <<<"$stderr" | tail -n1)
	# 64KiB of backlog, plus the segment of the batch in flight and the
	# one being written
	[ "$(spool_bytes "$d/spool")" -le 110000 ]
	run_cce cce-push --drain --spool "$d/spool" "http://127.0.0.1:$PORT/ingest"
	bodies 1 "$NGX/logs/ingest.log" |
		grep -Fx -f "$d/in" >"$d/got" || true
	# the newest records are kept; whether the very first batch was already
	# in flight when the spool filled depends on timing, so it is not checked
	grep -q '"i":904999,' "$d/got"
	# nothing is lost silently and nothing dropped comes back: what was
	# delivered plus what was reported dropped is the input, exactly
	# (frames dropped behind a batch in flight are recorded in the ack file)
	[ "$(sort "$d/got" | uniq -d | wc -l)" -eq 0 ]
	[ "$(( $(wc -l <"$d/got") + dropped ))" -eq 5000 ]
}

@test "--spool-max with the default block policy stops reading until batches are delivered" {
	local d=$BATS_TEST_TMPDIR port
	port=$(free_port)
	gen 5000 950000 >"$d/in"
	cce-push --spool "$d/spool" --spool-max 64KiB --batch-records 100 --backoff 100ms \
		--backoff-max 200ms --stats 100ms "http://127.0.0.1:$port/ingest" "$d/in" 2>"$d/err" &
	local pid=$!
	wait_for 10 grep -q '"accepted":[1-9]' "$d/err"
	sleep 1
	kill -0 "$pid"
	[ "$(spool_bytes "$d/spool")" -le 110000 ]
	# it holds back: far from all of the input was read
	grep '"tool":"cce-push"' "$d/err" | tail -1 | jq -e '.read < 2000 and .spooled_bytes <= 65536'
	export LATE="$d/late"
	mkdir -p "$LATE/logs"
	nginx_start "$LATE" "$(ingest_conf "$port" "$LATE")"
	local rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 0 ] || { cat "$d/err"; false; }
	exactly "$LATE/logs/ingest.log" "$d/in"
}
