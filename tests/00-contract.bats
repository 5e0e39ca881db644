#!/usr/bin/env bats
# The contract's input/output rules (../shared/CONVENTIONS.md), pinned
# through jsonl-echo, the test driver built on the same lib/ path every
# tool reads and writes with.

load lib/common

good1='{"device":"d1","temp":20}'
good2='{"device":"d2","temp":85.5}'

@test "valid records pass through unchanged, exit 0" {
	run_cce -0 jsonl-echo <<<"$good1
$good2"
	assert_output "$good1
$good2"
	assert_equal "$stderr" ""
}

@test "each kind of invalid line is reported with source:line and a reason, skipped, exit 65" {
	printf '%s\n' "$good1" >in.jsonl
	printf '{"a":1\n' >>in.jsonl                    # 2 truncated
	printf '{"a":1,}\n' >>in.jsonl                  # 3 trailing comma
	printf '{"a":NaN}\n' >>in.jsonl                 # 4 NaN
	printf "{'a':1}\n" >>in.jsonl                   # 5 single quotes
	printf '{"a":"\xff"}\n' >>in.jsonl              # 6 invalid UTF-8
	printf '{"a":"\\ud800"}\n' >>in.jsonl           # 7 lone surrogate
	printf '{"a":"x\001y"}\n' >>in.jsonl            # 8 control character
	printf '{"a":1} {"b":2}\n' >>in.jsonl           # 9 two values
	printf '{"a":+1}\n' >>in.jsonl                  # 10 plus sign
	printf '{"a":01}\n' >>in.jsonl                  # 11 leading zero
	printf '{"a":.5}\n' >>in.jsonl                  # 12
	printf '{"a":1.}\n' >>in.jsonl                  # 13
	printf '{"a":Infinity}\n' >>in.jsonl            # 14
	printf '[1,2]\n' >>in.jsonl                     # 15 not an object
	printf '%s\n' "$good2" >>in.jsonl               # 16
	run_cce -65 jsonl-echo in.jsonl
	assert_output "$good1
$good2"
	local -a want=(
		"jsonl-echo: in.jsonl:2: invalid JSON at byte 1: unterminated object"
		"jsonl-echo: in.jsonl:3: invalid JSON at byte 8: trailing comma in object"
		"jsonl-echo: in.jsonl:4: invalid JSON at byte 6: invalid literal 'NaN'"
		"jsonl-echo: in.jsonl:5: invalid JSON at byte 2: strings must be in double quotes"
		"jsonl-echo: in.jsonl:6: invalid JSON at byte 7: invalid UTF-8 (byte 0xff) in string"
		"jsonl-echo: in.jsonl:7: invalid JSON at byte 7: lone high surrogate \\ud800 in string"
		"jsonl-echo: in.jsonl:8: invalid JSON at byte 8: raw control character 0x01 in string (must be escaped)"
		"jsonl-echo: in.jsonl:9: invalid JSON at byte 9: unexpected '{' after the JSON value (one value per line)"
		"jsonl-echo: in.jsonl:10: invalid JSON at byte 6: '+' sign not allowed in number"
		"jsonl-echo: in.jsonl:11: invalid JSON at byte 6: leading zero in number"
		"jsonl-echo: in.jsonl:12: invalid JSON at byte 6: number must start with a digit"
		"jsonl-echo: in.jsonl:13: invalid JSON at byte 8: digit expected after '.' in number"
		"jsonl-echo: in.jsonl:14: invalid JSON at byte 6: invalid literal 'Infinity'"
		"jsonl-echo: in.jsonl:15: expected a JSON object, found array"
	)
	local IFS=$'\n'
	assert_equal "$stderr" "${want[*]}"
}

@test "--rejects keeps every rejected line byte for byte, including a 20 MiB one" {
	{
		printf '%s\n' "$good1"
		printf '{"a":1,}\r\n'
		printf '{"a":"\xff\xfe"}\n'
		head -c $((20 * 1024 * 1024)) /dev/zero | tr '\0' 'x'
		printf '\n'
		printf '%s\n' "$good2"
		printf '{"tail":'
	} >in.jsonl
	run_cce -65 jsonl-echo --rejects rej.jsonl in.jsonl
	assert_output "$good1
$good2"
	[[ "$stderr" == *"in.jsonl:4: line of 20971520 bytes is longer than --max-line (16777216)"* ]]
	[[ "$stderr" == *"in.jsonl:6: invalid JSON at byte 1: unterminated object"* ]]
	{
		printf '{"a":1,}\r\n'
		printf '{"a":"\xff\xfe"}\n'
		head -c $((20 * 1024 * 1024)) /dev/zero | tr '\0' 'x'
		printf '\n'
		printf '{"tail":\n'
	} >want.jsonl
	cmp rej.jsonl want.jsonl
}

@test "an over-long line is never held in memory whole" {
	# 64 MiB line with --max-line 1MiB: the reader streams it out; RSS stays small
	command -v /usr/bin/time >/dev/null || skip "/usr/bin/time not installed"
	{ head -c $((64 * 1024 * 1024)) /dev/zero | tr '\0' 'x'; printf '\n%s\n' "$good1"; } >big.jsonl
	run /usr/bin/time -f '%M' jsonl-echo --max-line 1MiB big.jsonl
	assert_equal "$status" 65
	assert_line "$good1"
	local rss_kb=${lines[-1]}
	[ "$rss_kb" -lt 40000 ] || { echo "peak RSS ${rss_kb} KiB for a 64 MiB line"; false; }
}

@test "--max-line rejects lines longer than the limit and keeps those at it" {
	printf '{"a":"xxxx"}\n{"a":"xxxxx"}\n' >in.jsonl   # 12 and 13 bytes
	run_cce -65 jsonl-echo --max-line 12 in.jsonl
	assert_output '{"a":"xxxx"}'
	assert_equal "$stderr" "jsonl-echo: in.jsonl:2: line of 13 bytes is longer than --max-line (12)"
}

@test "--strict stops at the first rejected line with exit 65, after the good lines before it" {
	printf '%s\n{bad\n%s\n' "$good1" "$good2" >in.jsonl
	run_cce -65 jsonl-echo --strict --rejects rej in.jsonl
	assert_output "$good1"
	assert_line --index 0 "$good1"
	[[ "$stderr" == *"in.jsonl:2: invalid JSON at byte 2"* ]]
	[[ "$stderr" == *"stopping at the first rejected line (--strict)"* ]]
	assert_equal "$(cat rej)" "{bad"
}

@test "CRLF, blank lines, a BOM and a final line without newline are handled" {
	printf '\xef\xbb\xbf%s\r\n\r\n   \n\n%s' "$good1" "$good2" >in.jsonl
	run_cce -0 jsonl-echo in.jsonl
	assert_output "$good1
$good2"
}

@test "a BOM is only taken at the start of a source" {
	printf '%s\n\xef\xbb\xbf%s\n' "$good1" "$good2" >in.jsonl
	run_cce -65 jsonl-echo in.jsonl
	assert_output "$good1"
	[[ "$stderr" == *"in.jsonl:2: invalid JSON at byte 1: byte order mark (U+FEFF) only allowed at the start of a file"* ]]
}

@test "files are read in order, '-' is stdin, line numbers restart per source" {
	printf '%s\n{x\n' "$good1" >a.jsonl
	printf '{"n":3}\n{y\n' >b.jsonl
	run_cce -65 jsonl-echo a.jsonl - b.jsonl <<<"$good2"
	assert_output "$good1
$good2
{\"n\":3}"
	assert_equal "$stderr" "jsonl-echo: a.jsonl:2: invalid JSON at byte 2: expected a string key in object, found 'x'
jsonl-echo: b.jsonl:2: invalid JSON at byte 2: expected a string key in object, found 'y'"
}

@test "a missing file is reported, the others are still read, exit 74" {
	printf '%s\n' "$good1" >a.jsonl
	run_cce -74 jsonl-echo nope.jsonl a.jsonl
	assert_output "$good1"
	assert_equal "$stderr" "jsonl-echo: cannot open 'nope.jsonl': No such file or directory"
}

@test "a directory given as input is an I/O error, not a hang" {
	run_cce -74 jsonl-echo .
	[[ "$stderr" == *"cannot read '.': Is a directory"* ]]
}

@test "usage errors name the culprit, hint at --help, exit 64, print no records" {
	run_cce -64 jsonl-echo --bogus
	assert_output ""
	assert_equal "$stderr" "jsonl-echo: unknown or ambiguous option '--bogus'
Try 'jsonl-echo --help' for more information."
	run_cce -64 jsonl-echo --max-line lots
	assert_equal "${stderr%%$'\n'*}" "jsonl-echo: --max-line: invalid size 'lots' (use e.g. 512, 64KiB, 10MiB, 1GiB)"
	run_cce -64 jsonl-echo --rejects
	assert_equal "${stderr%%$'\n'*}" "jsonl-echo: option '--rejects' requires an argument"
	run_cce -64 jsonl-echo -z
	assert_equal "${stderr%%$'\n'*}" "jsonl-echo: unknown option '-z'"
	run_cce -64 jsonl-echo --strict=yes
	assert_equal "${stderr%%$'\n'*}" "jsonl-echo: option '--strict' does not take an argument"
}

@test "--help prints usage on stdout and exits 0; -V prints the version" {
	run_cce -0 jsonl-echo --help
	assert_line --index 0 --partial "usage: jsonl-echo"
	assert_line --partial -- "--max-line SIZE"
	run_cce -0 jsonl-echo -V
	assert_output --regexp '^jsonl-echo [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "a closed stdout (| head) stops quietly with status 0" {
	seq 1 200000 | sed 's/.*/{"n":&}/' >many.jsonl
	run bash -c 'jsonl-echo many.jsonl | head -n 1; echo "status=${PIPESTATUS[0]}"'
	assert_output '{"n":1}
status=0'
}

@test "a write error on stdout is exit 74 with a message" {
	run --separate-stderr bash -c "jsonl-echo >/dev/full <<<'$good1'"
	assert_equal "$status" 74
	assert_equal "$stderr" "jsonl-echo: cannot write to stdout: No space left on device"
}

@test "output is flushed when input goes idle, without -u" {
	mkfifo in
	jsonl-echo <in >out.jsonl &
	local pid=$!
	exec 7>in
	printf '%s\n' "$good1" >&7
	# the record must arrive although the writer keeps the pipe open
	wait_for 5 grep -q device out.jsonl
	exec 7>&-
	wait "$pid"
}

@test "-u flushes after every record" {
	mkfifo in
	jsonl-echo -u --tick-ms 10000 <in >out.jsonl &
	local pid=$!
	exec 7>in
	printf '%s\n%s\n' "$good1" "$good2" >&7
	wait_for 5 grep -q d2 out.jsonl
	exec 7>&-
	wait "$pid"
	assert_equal "$(cat out.jsonl)" "$good1
$good2"
}

@test "SIGTERM stops reading, flushes what was read, and exits 0" {
	mkfifo in
	jsonl-echo <in >out.jsonl 2>err &
	local pid=$!
	exec 7>in
	printf '%s\n' "$good1" >&7
	wait_for 5 grep -q d1 out.jsonl
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	exec 7>&-
	assert_equal "$rc" 0
	assert_equal "$(cat out.jsonl)" "$good1"
}

@test "a second SIGTERM exits at once (128+15) while the first waits to flush" {
	seq 1 100000 | sed 's/.*/{"n":&}/' >many.jsonl
	mkfifo out
	exec 8<>out # a reader that never reads: output blocks once the pipe is full
	jsonl-echo many.jsonl >out &
	local pid=$!
	sleep 0.5
	kill -TERM "$pid"
	sleep 0.3
	kill -0 "$pid" # still trying to flush what it read
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	exec 8<&-
	assert_equal "$rc" 143
}

@test "values of other types are rejected where objects are required, accepted with --any" {
	printf '1\n"s"\nnull\n[]\n{}\n' >in.jsonl
	run_cce -65 jsonl-echo in.jsonl
	assert_output '{}'
	assert_line --index 0 '{}'
	run_cce -0 jsonl-echo --any in.jsonl
	assert_output '1
"s"
null
[]
{}'
}

@test "an unwritable --rejects file is an I/O error, exit 74" {
	run_cce -74 jsonl-echo --rejects /nonexistent/dir/rej <<<'{bad'
	[[ "$stderr" == *"cannot open rejects file '/nonexistent/dir/rej': No such file or directory"* ]]
}

@test "accepts exactly what jq accepts among valid RFC 8259 samples" {
	# every line cce accepts must also be accepted by jq, with the same value
	printf '%s\n' '{"a":[1,2.5,-0,1e3,1E-2],"b":{"c":null,"d":true,"e":false}}' \
		'{"s":"\u00e9\ud83d\ude00\"\\\/\b\f\n\r\t"}' '{"big":123456789012345678901234567890}' \
		'{"\u0000":"nul key"}' >in.jsonl
	run_cce -0 jsonl-echo in.jsonl
	assert_equal "$(jq -c . <<<"$output")" "$(jq -c . in.jsonl)"
}

# ---- closed standard descriptors: a tool started with stdin, stdout or
# stderr closed must not hand that number to a file of its own (a lock read
# as input, records written into the state); using the closed one fails as
# it would have, EBADF, and the tool says so

# closed_in CMD... / closed_out CMD...: CMD with stdin or stdout closed,
# the rest into files (run's own pipe would take the closed number); sets
# status, output and stderr
closed_in() {
	status=0
	"$@" <&- >"$BATS_TEST_TMPDIR/closed.out" 2>"$BATS_TEST_TMPDIR/closed.err" || status=$?
	output=$(cat "$BATS_TEST_TMPDIR/closed.out")
	stderr=$(cat "$BATS_TEST_TMPDIR/closed.err")
}
closed_out() {
	status=0
	"$@" >&- 2>"$BATS_TEST_TMPDIR/closed.err" || status=$?
	output=
	stderr=$(cat "$BATS_TEST_TMPDIR/closed.err")
}

@test "stdin or stdout closed: jsonl-echo fails with EBADF" {
	closed_in jsonl-echo
	assert_equal "$status" 74
	assert_equal "$stderr" "jsonl-echo: cannot read 'stdin': Bad file descriptor"
	closed_out jsonl-echo <<<"$good1"
	assert_equal "$status" 74
	assert_equal "$stderr" "jsonl-echo: cannot write to stdout: Bad file descriptor"
}

@test "stdin or stdout closed: cce-push reads no spool file as input, writes no receipt into the spool" {
	closed_in cce-push "file:$BATS_TEST_TMPDIR/out.jsonl"
	assert_equal "$status" 74
	assert_equal "$stderr" "cce-push: cannot read 'stdin': Bad file descriptor"
	assert_output ""
	[[ "$(cat "$CCE_HOME"/spool/*/lock)" =~ ^[0-9]+$ ]]
	closed_out cce-push --receipts "file:$BATS_TEST_TMPDIR/out.jsonl" <<<"$good1"
	assert_equal "$status" 74
	assert_equal "$stderr" "cce-push: cannot write to stdout: Bad file descriptor"
	assert_equal "$(cat out.jsonl)" "$good1"
	run grep -rl '"batch"' "$CCE_HOME/spool"
	assert_output ""
	[[ "$(cat "$CCE_HOME"/spool/*/lock)" =~ ^[0-9]+$ ]]
}

@test "stdin or stdout closed: cce-rule reads no state lock as input, writes no alert into it" {
	printf '%s\n' '[{"name":"hot","key":".device","when":".temp > 30"}]' >rules.json
	closed_in cce-rule -r rules.json --state st
	assert_equal "$status" 74
	assert_equal "$stderr" "cce-rule: cannot read 'stdin': Bad file descriptor"
	closed_out cce-rule -r rules.json --state st2 <<<"$good2"
	assert_equal "$status" 74
	assert_equal "$stderr" "cce-rule: cannot write to stdout: Bad file descriptor"
	run grep -l firing st2.lock
	assert_output ""
}

@test "stdin, stdout or stderr closed: cce-sched keeps its input, output and rejects apart" {
	printf '%s\n' '{"node":"n1","state":"ready","capacity":{"cpu":4,"mem_mb":1024}}' >nodes.jsonl
	# the node file must not stand in for the tasks on stdin
	closed_in cce-sched --nodes nodes.jsonl
	assert_equal "$status" 74
	assert_equal "$stderr" "cce-sched: cannot read 'stdin': Bad file descriptor"
	# nor the rejects file for stdout or stderr
	closed_out cce-sched --nodes nodes.jsonl --rejects rej <<<'bad
{"task":"t","cpu":1}'
	assert_equal "$status" 74
	assert_equal "$(cat rej)" "bad"
	printf 'bad\n' | cce-sched --nodes nodes.jsonl --rejects rej2 2>&- || true
	assert_equal "$(cat rej2)" "bad"
}

@test "stdin or stdout closed: cce-register reads stdin for '-', writes no event into its rejects" {
	run_cce cce-register init
	: >ops.jsonl
	# the ops file, read first, must not stand in for stdin
	closed_in cce-register apply ops.jsonl -
	assert_equal "$status" 74
	assert_equal "$stderr" "cce-register: cannot read 'stdin': Bad file descriptor"
	closed_out cce-register apply --rejects rej <<<'{"op":"reboot","node":"n1"}'
	assert_equal "$status" 74
	assert_equal "$(cat rej)" '{"op":"reboot","node":"n1"}'
	[[ "$stderr" == *"cce-register: cannot write to stdout: Bad file descriptor" ]]
}

@test "stdin or stdout closed: cce-sync reads no directory as its stream, exit 74" {
	mkdir -p src/d && printf 'x\n' >src/d/f
	closed_in cce-sync unpack dst
	assert_equal "$status" 74
	assert_equal "$stderr" "cce-sync: cannot read the stream: Bad file descriptor"
	run ls -A dst
	assert_output ""
	closed_out cce-sync manifest src
	assert_equal "$status" 74
	assert_equal "$stderr" "cce-sync: cannot write to stdout: Bad file descriptor"
	closed_out cce-sync pack src
	assert_equal "$status" 74
}
