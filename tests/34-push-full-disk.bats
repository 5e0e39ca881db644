#!/usr/bin/env bats
# cce-push with its spool on a file system that fills up, the link down,
# then stopped with SIGTERM and drained to a real nginx. Every record read
# must be accounted for exactly: read = delivered + dropped + kept (+ sent
# to the dead-letter file or named as lost), counted by sequence number at
# the receiver, whatever the file system's size relative to a segment.

load lib/common
load push/helpers

setup_file() {
	export NGX="$BATS_FILE_TMPDIR/nginx"
	export PORT=$(free_port)
	local back
	back=$(free_port)
	nginx_start "$NGX" "
	server { listen 127.0.0.1:$back; location / { return 200 'ok'; } }
	server {
		listen 127.0.0.1:$PORT;
		client_body_in_file_only on;
		access_log $NGX/logs/ingest.log push;
		location / { proxy_pass http://127.0.0.1:$back; }
	}"
}

teardown_file() {
	nginx_stop "$NGX"
}

teardown() {
	[ -z "${MNT:-}" ] || umount "$MNT" 2>/dev/null || true
}

# received LOG: the records of the 2xx bodies in LOG, one per batch key
received() {
	posted_dedup "$1"
}

# last_stats FILE: the last --stats line of a stderr file
last_stats() {
	grep '^{"tool":"cce-push"' "$1" | tail -n1
}

# stat_field JSON NAME
stat_field() {
	jq -r ".$2" <<<"$1"
}

# run_full_spool IN OPTS...: cce-push from IN into a spool on $MNT, the
# server down, until every line was read (--stats says so), then SIGTERM;
# leaves its stderr in $BATS_TEST_TMPDIR/err and its status in $rc
run_full_spool() {
	local in=$1 n port pid
	shift
	n=$(wc -l <"$in")
	port=$(free_port)
	cce-push --spool "$MNT/spool" --stats 100ms --backoff 50ms --backoff-max 100ms "$@" \
		"http://127.0.0.1:$port/x" "$in" 2>"$BATS_TEST_TMPDIR/err" &
	pid=$!
	wait_for 60 eval "grep -q '\"read\":$n,' '$BATS_TEST_TMPDIR/err'" ||
		{ kill -9 "$pid"; cat "$BATS_TEST_TMPDIR/err" >&2; false; }
	# what it read is spooled or dropped by now; let it settle and stop it
	sleep 0.3
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
}

# accounted IN: after run_full_spool, drain to nginx and check that
# read = delivered + dropped + kept, exactly, by sequence number
accounted() {
	local in=$1 d=$BATS_TEST_TMPDIR stats read dropped kept lost dead
	stats=$(last_stats "$d/err")
	read=$(stat_field "$stats" read)
	dropped=$(stat_field "$stats" dropped)
	kept=$(stat_field "$stats" spooled)
	lost=$(stat_field "$stats" lost)
	dead=$(stat_field "$stats" dead_letter)
	echo "read $read dropped $dropped kept $kept lost $lost dead $dead" >&3 2>/dev/null || true
	[ "$read" -eq "$(wc -l <"$in")" ]
	[ "$lost" -eq 0 ]
	[ "$dead" -eq 0 ]
	[ $((dropped + kept)) -eq "$read" ]
	# the messages say the same numbers
	grep -q "the spool was full: $dropped records in [0-9]* batches were dropped" "$d/err"
	grep -q "$kept records stay in the spool" "$d/err"
	: >"$NGX/logs/ingest.log"
	run_cce cce-push --drain --spool "$MNT/spool" "http://127.0.0.1:$PORT/x"
	received "$NGX/logs/ingest.log" >"$d/got"
	# every record delivered was read, none twice, and there are as many
	# as the run said it kept
	[ "$(grep -cvFx -f "$in" "$d/got")" -eq 0 ]
	[ "$(sort "$d/got" | uniq -d | wc -l)" -eq 0 ]
	[ "$(wc -l <"$d/got")" -eq "$kept" ]
	# drop-oldest keeps the newest
	grep -qFx "$(tail -n1 "$in")" "$d/got"
}

@test "drop-oldest on a 2 MiB file system with --spool-max 16MiB: read = delivered + dropped + kept" {
	small_tmpfs 2m
	gen 60000 1 >"$BATS_TEST_TMPDIR/in"
	run_full_spool "$BATS_TEST_TMPDIR/in" --when-full drop-oldest --spool-max 16MiB --batch-records 100
	[ "$rc" -eq 75 ] || { cat "$BATS_TEST_TMPDIR/err"; false; }
	accounted "$BATS_TEST_TMPDIR/in"
}

@test "drop-oldest with segments larger than the file system (default --spool-max) still makes room" {
	small_tmpfs 2m
	gen 60000 100001 >"$BATS_TEST_TMPDIR/in"
	run_full_spool "$BATS_TEST_TMPDIR/in" --when-full drop-oldest --batch-records 100
	[ "$rc" -eq 75 ] || { cat "$BATS_TEST_TMPDIR/err"; false; }
	! grep -q "are lost" "$BATS_TEST_TMPDIR/err"
	accounted "$BATS_TEST_TMPDIR/in"
}

@test "drop-oldest survives a restart: frames dropped behind a batch in flight stay dropped" {
	small_tmpfs 1m
	local d=$BATS_TEST_TMPDIR
	gen 30000 200001 >"$d/in"
	run_full_spool "$d/in" --when-full drop-oldest --batch-records 100
	[ "$rc" -eq 75 ] || { cat "$d/err"; false; }
	local kept
	kept=$(stat_field "$(last_stats "$d/err")" spooled)
	# a second run over the same spool, still down: it finds exactly what
	# the first one kept
	local port
	port=$(free_port)
	run_cce -75 cce-push --drain --spool "$MNT/spool" --stats 1h --retry-for 0.2s --backoff 1h \
		"http://127.0.0.1:$port/x"
	grep -q "the spool was full" <<<"$stderr" && false
	grep -q "\"spooled\":$kept," <<<"$stderr"
	accounted "$d/in"
}

# stop_blocked IN OPTS...: cce-push with the default block policy from IN
# into a spool on $MNT, the server down, until the file system is full,
# then SIGTERM; its stderr in $BATS_TEST_TMPDIR/err, its status in $rc
stop_blocked() {
	local in=$1 port pid
	shift
	port=$(free_port)
	cce-push --spool "$MNT/spool" --stats 100ms --backoff 50ms --backoff-max 100ms \
		--batch-records 100 "$@" "http://127.0.0.1:$port/x" "$in" 2>"$BATS_TEST_TMPDIR/err" &
	pid=$!
	# it fills the file system, and waits
	wait_for 30 eval "df -k '$MNT' | awk 'NR == 2 { exit !(\$4 < 16) }'"
	sleep 0.5
	kill -0 "$pid"
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
}

@test "block on a full file system: nothing is dropped, and a stop names what it could not keep" {
	small_tmpfs 1m
	local d=$BATS_TEST_TMPDIR
	gen 30000 300001 >"$d/in"
	stop_blocked "$d/in"
	[ "$rc" -eq 74 ] || { cat "$d/err"; false; }
	local stats read kept lost
	stats=$(last_stats "$d/err")
	read=$(stat_field "$stats" read)
	kept=$(stat_field "$stats" spooled)
	lost=$(stat_field "$stats" lost)
	[ "$(stat_field "$stats" dropped)" -eq 0 ]
	# the batch it held when stopped had no room, nor had the dead-letter
	# file beside the spool: the message names its lines
	[ "$lost" -gt 0 ]
	grep -q "$lost records read (.*in lines [0-9]*-[0-9]*) could not be spooled and are lost" "$d/err"
	[ $((kept + lost)) -eq "$read" ]
	: >"$NGX/logs/ingest.log"
	run_cce cce-push --drain --spool "$MNT/spool" "http://127.0.0.1:$PORT/x"
	received "$NGX/logs/ingest.log" >"$d/got"
	[ "$(wc -l <"$d/got")" -eq "$kept" ]
	# exactly the first records: nothing dropped
	same_records <(head -n "$kept" "$d/in") "$d/got"
	# the lost ones are exactly the lines the message names
	local range
	range=$(sed -nE 's/.* lines ([0-9]+-[0-9]+)\) could not be spooled.*/\1/p' "$d/err")
	[ "${range%-*}" -eq $((kept + 1)) ]
	[ "${range#*-}" -eq $((kept + lost)) ]
}

@test "block on a full file system: a dead-letter file elsewhere takes what a stop could not spool" {
	small_tmpfs 1m
	local d=$BATS_TEST_TMPDIR
	gen 30000 400001 >"$d/in"
	stop_blocked "$d/in" --dead-letter "$d/dead.jsonl"
	[ "$rc" -eq 74 ]
	local stats read kept dead
	stats=$(last_stats "$d/err")
	read=$(stat_field "$stats" read)
	kept=$(stat_field "$stats" spooled)
	dead=$(stat_field "$stats" dead_letter)
	[ "$(stat_field "$stats" lost)" -eq 0 ]
	[ "$dead" -gt 0 ]
	grep -q "written to the dead-letter file '$d/dead.jsonl'" "$d/err"
	[ "$(wc -l <"$d/dead.jsonl")" -eq "$dead" ]
	[ $((kept + dead)) -eq "$read" ]
	same_records <(sed -n "$((kept + 1)),$((kept + dead))p" "$d/in") "$d/dead.jsonl"
}

@test "--retry-for gives up on a server that accepts and never answers (--timeout cannot be 0)" {
	local d=$BATS_TEST_TMPDIR port
	port=$(free_port)
	# a listener that takes the connection and says nothing
	python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
conns = []
while True:
    c, _ = s.accept(); conns.append(c)
' "$port" 3>&- &
	local srv=$!
	wait_for 10 python3 -c "import socket; socket.create_connection(('127.0.0.1', $port)).close()"
	gen 10 >"$d/in"
	run_cce -64 cce-push --timeout 0 "http://127.0.0.1:$port/x" "$d/in"
	run_cce -75 timeout 60 cce-push --spool "$d/spool" --timeout 300ms --backoff 100ms \
		--retry-for 1s "http://127.0.0.1:$port/x" "$d/in"
	kill "$srv"
	stderr_like "timed out|Timeout"
	stderr_like "10 records stay in the spool"
}
