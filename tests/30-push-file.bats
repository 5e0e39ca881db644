#!/usr/bin/env bats
# cce-push to a file: sink, the spool on disk, restarts, bad input and bad
# command lines.

load lib/common
load push/helpers

teardown() {
	[ -z "${MNT:-}" ] || umount "$MNT" 2>/dev/null || true
}

@test "usage errors exit 64 and name the culprit" {
	run_cce -64 cce-push
	stderr_has "no URL given"
	run_cce -64 cce-push ftp://example/x
	stderr_has "unsupported URL 'ftp://example/x'"
	run_cce -64 cce-push --linger soon file:x
	stderr_has "--linger: invalid duration 'soon'"
	run_cce -64 cce-push --method PUT http://127.0.0.1:1/x
	stderr_has "needs {batch}"
	run_cce -64 cce-push --when-full never file:x
	stderr_has "--when-full: invalid policy 'never'"
	run_cce -64 cce-push --timeout 0 file:x
	stderr_has "--timeout: '0' must be more than 0"
	run_cce -64 cce-push --timeout 0ms file:x
	run_cce -64 cce-push --drain --no-spool file:x
	run_cce -64 cce-push --qos 3 mqtt://127.0.0.1/t
	run_cce -64 cce-push --bearer-file /nonexistent http://127.0.0.1:1/x
	stderr_has "/nonexistent"
	run_cce -64 cce-push mqtt://127.0.0.1:1883/a/#
	stderr_has "wildcards"
	assert_output ""
}

@test "--help lists the options in the shape the completion test reads" {
	run_cce cce-push --help
	assert_line --index 0 --regexp '^usage: cce-push '
	assert_line --regexp '^  -H, --header '
	assert_line --regexp '^      --spool-max '
	assert_line --regexp '^      --when-full '
}

@test "every record reaches the file, once, and the spool ends empty" {
	gen 5000 >"$BATS_TEST_TMPDIR/in"
	run_cce cce-push --spool "$BATS_TEST_TMPDIR/spool" "file:$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/in"
	assert_output ""
	same_records "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/out"
	# record order is kept with --parallel 1
	cmp "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/out"
	[ "$(spool_bytes "$BATS_TEST_TMPDIR/spool")" -eq 0 ]
}

@test "the default spool lives under CCE_HOME and files are read in order" {
	gen 10 1 >"$BATS_TEST_TMPDIR/a"
	gen 10 11 >"$BATS_TEST_TMPDIR/b"
	run_cce cce-push "file:$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/a" - "$BATS_TEST_TMPDIR/b" <<<'{"i":0}'
	cat "$BATS_TEST_TMPDIR/a" <(echo '{"i":0}') "$BATS_TEST_TMPDIR/b" | cmp - "$BATS_TEST_TMPDIR/out"
	run ls "$CCE_HOME/spool"
	assert_output --regexp '^file_.*out-[0-9a-f]{8}$'
}

@test "receipts: one line per batch with id, records, bytes, attempts, url" {
	gen 1200 >"$BATS_TEST_TMPDIR/in"
	run_cce cce-push --receipts --batch-records 500 "file:$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/in"
	[ "${#lines[@]}" -eq 3 ]
	run jq -sc 'map(.records)' <<<"$output"
	assert_output '[500,500,200]'
	run_cce cce-push --receipts --batch-records 500 "file:$BATS_TEST_TMPDIR/out2" "$BATS_TEST_TMPDIR/in"
	echo "${lines[0]}" | jq -e '(.batch | test("^[0-9a-f]{32}$")) and .attempts == 1 and .bytes > 0 and (.url | endswith("/out2"))'
}

@test "{field} placeholders split records by field; a missing field is rejected" {
	gen 300 >"$BATS_TEST_TMPDIR/in"
	printf '{"i":"x"}\n{"site":{"a":1}}\n{"site":"a/b"}\n' >>"$BATS_TEST_TMPDIR/in"
	run_cce -65 cce-push --rejects "$BATS_TEST_TMPDIR/rej" "file:$BATS_TEST_TMPDIR/out-{site}.jsonl" "$BATS_TEST_TMPDIR/in"
	stderr_has "no field 'site' for the URL placeholder {site}"
	stderr_has "field 'site' for the URL placeholder is object"
	stderr_has "path separator"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/rej")" -eq 3 ]
	local s
	for s in 0 1 2; do
		grep "\"site\":\"s$s\"" "$BATS_TEST_TMPDIR/in" | cmp - "$BATS_TEST_TMPDIR/out-s$s.jsonl"
	done
}

@test "bad input lines are reported, kept in --rejects, and the rest delivered" {
	{
		echo '{"i":1}'
		echo 'not json'
		echo '{"i":2,}'
		echo '[1,2]'
		printf '{"i":3,"big":"%s"}\n' "$(head -c 5000 /dev/zero | tr '\0' x)"
		printf '{"s":"\xff"}\n'
		echo '{"i":4}'
		printf '{"i":5}'   # no final newline
	} >"$BATS_TEST_TMPDIR/in"
	run_cce -65 cce-push --max-line 1KiB --rejects "$BATS_TEST_TMPDIR/rej" "file:$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/in"
	stderr_has "in:2: invalid JSON"
	stderr_has "in:4: expected a JSON object"
	stderr_has "in:5: line of"
	printf '{"i":1}\n{"i":4}\n{"i":5}\n' | cmp - "$BATS_TEST_TMPDIR/out"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/rej")" -eq 5 ]
	run_cce -65 cce-push --strict "file:$BATS_TEST_TMPDIR/out3" "$BATS_TEST_TMPDIR/in"
	cmp <(echo '{"i":1}') "$BATS_TEST_TMPDIR/out3"
}

@test "a sink that fails keeps records in the spool (75); --drain delivers them later" {
	local d=$BATS_TEST_TMPDIR
	gen 2000 >"$d/in"
	# the directory of the output file does not exist yet: every attempt fails
	run_cce -75 cce-push --spool "$d/spool" --backoff 50ms --retry-for 500ms "file:$d/later/out" "$d/in"
	stderr_has "giving up on batch"
	stderr_has "No such file or directory"
	stderr_like "records stay in the spool '.*/spool'"
	[ "$(spool_bytes "$d/spool")" -gt 0 ]
	mkdir "$d/later"
	# the senders gave up early: not everything read went into the spool
	# but what did is a prefix of the input, and nothing was lost silently
	run_cce cce-push --drain --spool "$d/spool" "file:$d/later/out"
	[ "$(wc -l <"$d/later/out")" -ge 500 ]
	head -n "$(wc -l <"$d/later/out")" "$d/in" | cmp - "$d/later/out"
	[ "$(spool_bytes "$d/spool")" -eq 0 ]
	# nothing left: a second drain has nothing to do and succeeds
	run_cce cce-push --drain --spool "$d/spool" "file:$d/later/out"
}

@test "SIGTERM persists the open batch and exits 75; a restart delivers it" {
	local d=$BATS_TEST_TMPDIR
	mkfifo "$d/fifo"
	cce-push --spool "$d/spool" --linger 1h --batch-records 1000 --stats 50ms "file:$d/nodir/out" <"$d/fifo" 2>"$d/err" &
	local pid=$!
	exec 7>"$d/fifo"
	gen 700 >&7
	gen 10 701 >"$d/more"
	# every line read, none spooled yet (the batch is still open)
	wait_for 10 grep -q '"read":700,"rejected":0,"accepted":0' "$d/err"
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	exec 7>&-
	[ "$rc" -eq 75 ] || { cat "$d/err"; false; }
	mkdir "$d/nodir"
	run_cce cce-push --spool "$d/spool" "file:$d/nodir/out" "$d/more"
	cat <(gen 700) "$d/more" | cmp - "$d/nodir/out"
}

@test "a second run on the same spool is refused while the first holds it" {
	local d=$BATS_TEST_TMPDIR
	mkfifo "$d/fifo"
	cce-push --spool "$d/spool" "file:$d/out" <"$d/fifo" 2>"$d/err" &
	local pid=$!
	exec 7>"$d/fifo"
	wait_for 10 test -s "$d/spool/lock"
	run_cce -75 cce-push --spool "$d/spool" "file:$d/out" </dev/null
	stderr_has "is locked by pid $pid"
	exec 7>&-
	wait "$pid"
}

@test "kill -9 while reading: what was spooled survives, as a prefix, no torn record" {
	local d=$BATS_TEST_TMPDIR round
	# (bats' run clobbers a loop variable named i)
	gen 200000 >"$d/in"
	for round in 1 2 3; do
		rm -rf "$d/spool" "$d/out"
		cce-push --spool "$d/spool" --batch-records 100 "file:$d/nodir$round/out" "$d/in" 2>/dev/null &
		local pid=$!
		wait_for 10 spool_nonempty "$d/spool"
		sleep "0.0$((RANDOM % 9 + 1))"
		kill -9 "$pid"
		wait "$pid" || true
		mkdir -p "$d/nodir$round"
		run_cce cce-push --drain --spool "$d/spool" "file:$d/nodir$round/out"
		local n
		n=$(wc -l <"$d/nodir$round/out")
		[ "$n" -gt 0 ]
		head -n "$n" "$d/in" | cmp - "$d/nodir$round/out"
	done
}

@test "a batch whose acknowledgement was lost is in the file once, even when its append was torn" {
	local d=$BATS_TEST_TMPDIR
	gen 300 >"$d/first"
	gen 250 301 >"$d/last"
	run_cce cce-push --spool "$d/spool" "file:$d/out" "$d/first"
	# one batch accepted, not delivered (its file cannot be opened yet)
	run_cce -75 cce-push --spool "$d/spool" --backoff 10ms --retry-for 100ms "file:$d/nodir/out" "$d/last"
	cp -a "$d/spool" "$d/before"
	run_cce cce-push --drain --spool "$d/spool" "file:$d/out"
	cat "$d/first" "$d/last" | cmp - "$d/out"
	assert_file_exists "$d/spool/file-sink.journal"
	# the process died after the append, before the spool heard of it: the
	# spool as it was, the journal as it is now
	cp "$d/spool/file-sink.journal" "$d/journal"
	rm -rf "$d/spool"
	cp -a "$d/before" "$d/spool"
	cp "$d/journal" "$d/spool/file-sink.journal"
	run_cce cce-push --drain --spool "$d/spool" "file:$d/out"
	cat "$d/first" "$d/last" | cmp - "$d/out"
	# the same, with only part of the batch on disk when it died
	truncate -s "-$(($(wc -c <"$d/last") / 2))" "$d/out"
	rm -rf "$d/spool"
	cp -a "$d/before" "$d/spool"
	cp "$d/journal" "$d/spool/file-sink.journal"
	run_cce cce-push --drain --spool "$d/spool" "file:$d/out"
	cat "$d/first" "$d/last" | cmp - "$d/out"
	# a file replaced in between (rotated) just gets the batch
	mv "$d/out" "$d/out.1"
	rm -rf "$d/spool"
	cp -a "$d/before" "$d/spool"
	cp "$d/journal" "$d/spool/file-sink.journal"
	run_cce cce-push --drain --spool "$d/spool" "file:$d/out"
	cmp "$d/last" "$d/out"
	# a journal torn by a power loss, cut inside the offset, is no journal:
	# the batch is appended again rather than the file cut at a wrong place
	mv "$d/out.1" "$d/out"
	rm -rf "$d/spool"
	cp -a "$d/before" "$d/spool"
	head -c "$(($(sed 's/ *$//' "$d/journal" | wc -c) - 3))" "$d/journal" >"$d/spool/file-sink.journal"
	run_cce cce-push --drain --spool "$d/spool" "file:$d/out"
	cat "$d/first" "$d/last" "$d/last" | cmp - "$d/out"
}

@test "a spool file system too full for the file sink's journal still drains, and says so" {
	local d=$BATS_TEST_TMPDIR
	small_tmpfs 256k
	gen 1000 >"$d/in"
	run_cce -75 cce-push --spool "$MNT/spool" --backoff 10ms --retry-for 100ms "file:$d/nodir/out" "$d/in"
	cat /dev/zero >"$MNT/filler" 2>/dev/null || true
	run_cce cce-push --drain --spool "$MNT/spool" "file:$d/out"
	stderr_has "no room for '$MNT/spool/file-sink.journal'"
	cmp "$d/in" "$d/out"
	assert_file_not_exists "$MNT/spool/file-sink.journal"
	# the same when the file system has blocks but no inode left
	umount "$MNT"
	mount -t tmpfs -o size=1m,nr_inodes=32 tmpfs "$MNT"
	run_cce -75 cce-push --spool "$MNT/spool" --backoff 10ms --retry-for 100ms "file:$d/nodir/out" "$d/in"
	local k
	for k in $(seq 64); do : >"$MNT/f$k" 2>/dev/null || break; done
	rm -f "$d/out"
	run_cce cce-push --drain --spool "$MNT/spool" "file:$d/out"
	stderr_has "no room for '$MNT/spool/file-sink.journal'"
	cmp "$d/in" "$d/out"
}

@test "kill -9 at random moments while appending to a file, restarted each time: every record once" {
	local d=$BATS_TEST_TMPDIR
	gen 100000 >"$d/in"
	cce-push --spool "$d/spool" --batch-records 50 "file:$d/nodir/out" "$d/in" 2>/dev/null &
	local pid=$!
	wait_for 10 spool_nonempty "$d/spool"
	kill -TERM "$pid"
	wait "$pid" || true
	mkdir "$d/nodir"
	kill_rounds 10 90 cce-push --drain --spool "$d/spool" --batch-records 50 "file:$d/nodir/out" 2>/dev/null
	run_cce cce-push --drain --spool "$d/spool" "file:$d/nodir/out"
	local n
	n=$(wc -l <"$d/nodir/out")
	[ "$n" -gt 0 ]
	# exactly a prefix of the input: nothing twice, nothing torn
	head -n "$n" "$d/in" | cmp - "$d/nodir/out"
	[ "$(spool_bytes "$d/spool")" -eq 0 ]
}

@test "a FIFO or a device as the file: written without fsync" {
	local d=$BATS_TEST_TMPDIR
	gen 1000 >"$d/in"
	run_cce cce-push --spool "$d/spool" file:/dev/null "$d/in"
	[ "$(spool_bytes "$d/spool")" -eq 0 ]
	mkfifo "$d/fifo"
	cat "$d/fifo" >"$d/got" &
	local reader=$!
	run_cce cce-push --spool "$d/spool2" "file:$d/fifo" "$d/in"
	wait "$reader"
	cmp "$d/in" "$d/got"
}

@test "--no-spool delivers from memory and writes nothing under CCE_HOME/spool" {
	gen 1000 >"$BATS_TEST_TMPDIR/in"
	run_cce cce-push --no-spool "file:$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/in"
	cmp "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/out"
	[ ! -e "$CCE_HOME/spool" ] || [ -z "$(ls "$CCE_HOME/spool")" ]
}

@test "--linger sends a partial batch while the input stays open" {
	local d=$BATS_TEST_TMPDIR
	mkfifo "$d/fifo"
	cce-push --linger 100ms "file:$d/out" <"$d/fifo" &
	local pid=$!
	exec 7>"$d/fifo"
	echo '{"i":1}' >&7
	wait_for 5 test -s "$d/out"
	echo '{"i":2}' >&7
	wait_for 5 grep -q '"i":2' "$d/out"
	exec 7>&-
	wait "$pid"
	printf '{"i":1}\n{"i":2}\n' | cmp - "$d/out"
}

@test "SIGUSR1 and --stats print a status record on stderr" {
	local d=$BATS_TEST_TMPDIR
	mkfifo "$d/fifo"
	cce-push --stats 100ms "file:$d/out" <"$d/fifo" 2>"$d/err" &
	local pid=$!
	exec 7>"$d/fifo"
	gen 3 >&7
	wait_for 5 grep -q '"delivered":3' "$d/err"
	exec 7>&-
	wait "$pid"
	grep '"delivered":3' "$d/err" | tail -1 | jq -e '.tool == "cce-push" and .accepted == 3 and .spooled == 0'
}

@test "the spool is recovered after a torn tail and a corrupt ack file" {
	local d=$BATS_TEST_TMPDIR
	gen 300 >"$d/in"
	run_cce -75 cce-push --spool "$d/spool" --retry-for 0 --batch-records 100 "file:$d/no/out" "$d/in"
	local seg
	seg=$(ls "$d/spool"/*.seg | head -1)
	# a frame being written when the power went: garbage at the end
	printf 'CCEB\x05\x00\x00\x00garbage' >>"$seg"
	mkdir "$d/no"
	run_cce cce-push --drain --spool "$d/spool" "file:$d/no/out"
	local n
	n=$(wc -l <"$d/no/out")
	[ "$n" -ge 100 ]
	head -n "$n" "$d/in" | cmp - "$d/no/out"
	# an unreadable ack file means "resend everything", never "lose"
	run_cce -75 cce-push --spool "$d/spool2" --retry-for 0 "file:$d/no2/out" "$d/in"
	head -c 24 /dev/urandom >"$d/spool2/ack"
	mkdir "$d/no2"
	run_cce cce-push --drain --spool "$d/spool2" "file:$d/no2/out"
	[ "$(wc -l <"$d/no2/out")" -gt 0 ]
}

@test "a --rejects file that cannot be written names itself and the error, exit 74; --strict stops with its own words" {
	run_cce -74 cce-push --rejects /dev/full "file:$BATS_TEST_TMPDIR/p-{site}.jsonl" <<<'{}
{"site":"a"}'
	assert_equal "$stderr" "cce-push: stdin:1: no field 'site' for the URL placeholder {site}
cce-push: cannot write rejects file '/dev/full': No space left on device"
	run_cce -65 cce-push --strict "file:$BATS_TEST_TMPDIR/p-{site}.jsonl" <<<'{}
{"site":"a"}'
	assert_equal "$stderr" "cce-push: stdin:1: no field 'site' for the URL placeholder {site}
cce-push: stopping at the first rejected line (--strict)"
}
