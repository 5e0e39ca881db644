#!/usr/bin/env bats
# cce-fleet: ssh fan-out over node records, against a real sshd on loopback.

load lib/common
load lib/sshd

setup_file() {
	export SSHD_DIR="$BATS_FILE_TMPDIR/sshd"
	sshd_start "$SSHD_DIR"
	# cce-fleet passes ssh options with --ssh-opt; the port and key come
	# through an ssh config file so that every test uses the same flags
	cat >"$BATS_FILE_TMPDIR/ssh_config" <<CONF
Host *
	Port $SSHD_PORT
	IdentityFile $SSH_KEY
	StrictHostKeyChecking no
	UserKnownHostsFile /dev/null
	LogLevel ERROR
	ConnectTimeout 3
CONF
	export SSH_CONFIG="$BATS_FILE_TMPDIR/ssh_config"
}

teardown_file() {
	sshd_stop
}

fleet() {
	cce-fleet --ssh-opt "ConnectTimeout=3" --ssh "$BATS_TEST_TMPDIR/ssh" "$@"
}

setup() {
	common_setup
	# ssh with the test config; cce-fleet's --ssh picks the program
	printf '#!/bin/sh\nexec ssh -F %s "$@"\n' "$SSH_CONFIG" >"$BATS_TEST_TMPDIR/ssh"
	chmod +x "$BATS_TEST_TMPDIR/ssh"
}

@test "runs the command on every node and reports exit, output and time per node" {
	printf '%s\n' '{"node":"edge-1","addr":"127.0.0.1"}' '{"node":"edge-2","addr":"localhost"}' >nodes
	run_cce -0 fleet -j 2 'echo "hi from $(hostname)"; echo warn >&2; exit 3' <nodes
	assert_equal "${#lines[@]}" 2
	run jq -s -c 'sort_by(.node) | map({node,addr,exit,stdout,stderr,ms: (.ms|type)})' <<<"$output"
	assert_output "[{\"node\":\"edge-1\",\"addr\":\"127.0.0.1\",\"exit\":3,\"stdout\":\"hi from $(hostname)\\n\",\"stderr\":\"warn\\n\",\"ms\":\"number\"},{\"node\":\"edge-2\",\"addr\":\"localhost\",\"exit\":3,\"stdout\":\"hi from $(hostname)\\n\",\"stderr\":\"warn\\n\",\"ms\":\"number\"}]"
}

@test "node names with backslashes, tabs and quotes come back as they were given" {
	printf '%s\n' '{"node":"a\\b\tc\"d","addr":"127.0.0.1"}' >nodes
	run_cce -0 fleet true <nodes
	run jq -r '.node' <<<"$output"
	assert_output $'a\\b\tc"d'
}

@test "a node that refuses ssh gets a record with the reason" {
	local dead
	dead=$(free_port)
	printf '#!/bin/sh\nexec ssh -F %s -p %s "$@"\n' "$SSH_CONFIG" "$dead" >"$BATS_TEST_TMPDIR/ssh"
	run_cce -0 fleet true <<<'{"node":"gone","addr":"127.0.0.1"}'
	run jq -r '[.node, .exit, .error] | @tsv' <<<"$output"
	assert_output --regexp $'^gone\t255\tssh: .*(Connection refused|connect to host)'
}

@test "a node that hangs is cut off at --timeout, never a hang" {
	local t0=$SECONDS
	run_cce -0 fleet --timeout 1s 'sleep 30' <<<'{"node":"slow","addr":"127.0.0.1"}'
	[ $((SECONDS - t0)) -lt 10 ]
	run jq -c '{node,exit,error}' <<<"$output"
	assert_output '{"node":"slow","exit":null,"error":"timed out after 1s"}'
}

@test "output past --max-output is cut and marked truncated" {
	run_cce -0 fleet --max-output 100 'head -c 5000 /dev/zero | tr "\0" x' <<<'{"node":"big","addr":"127.0.0.1"}'
	run jq -c '{n: (.stdout|length), truncated}' <<<"$output"
	assert_output '{"n":100,"truncated":["stdout"]}'
	# decimal and binary units, as the C tools read them
	run_cce -0 fleet --max-output 1kB 'head -c 5000 /dev/zero | tr "\0" x' <<<'{"node":"big","addr":"127.0.0.1"}'
	assert_equal "$(jq '.stdout|length' <<<"$output")" 1000
	run_cce -0 fleet --max-output=1.5KiB 'head -c 5000 /dev/zero | tr "\0" x' <<<'{"node":"big","addr":"127.0.0.1"}'
	assert_equal "$(jq '.stdout|length' <<<"$output")" 1536
}

@test "--lines streams every output line of every node as one record" {
	printf '%s\n' '{"node":"a","addr":"127.0.0.1"}' '{"node":"b","addr":"localhost"}' >nodes
	run_cce -0 fleet --lines 'printf "{\"t\":1}\n{\"t\":2}\n"; echo "oops \"q\"" >&2' <nodes
	run jq -s -c 'sort_by(.node, .stream, .line)' <<<"$output"
	assert_output '[{"node":"a","stream":"stderr","line":"oops \"q\""},{"node":"a","stream":"stdout","line":"{\"t\":1}"},{"node":"a","stream":"stdout","line":"{\"t\":2}"},{"node":"b","stream":"stderr","line":"oops \"q\""},{"node":"b","stream":"stdout","line":"{\"t\":1}"},{"node":"b","stream":"stdout","line":"{\"t\":2}"}]'
}

@test "--lines escapes control characters, quotes and backslashes as JSON does and keeps UTF-8" {
	# every byte 0x01..0x1f but the newline that ends the line, then quotes,
	# backslashes and UTF-8; a second line with DEL, which may pass as is
	local fmt='' i
	for i in $(seq 1 31); do [ "$i" = 10 ] || fmt+=$(printf '\\%03o' "$i"); done
	fmt+='"q" \\\\ \\n \\u0041 é 日本 🎉'
	run_cce -0 fleet --lines "printf '$fmt\\n\\177del\\n'" <<<'{"node":"a\"b","addr":"127.0.0.1"}'
	assert_equal "${#lines[@]}" 2
	printf "$fmt" >want
	printf '\177del' >want2
	# the bytes come back, and are written as jq writes them
	jq -j -n 'input | .line' <<<"${lines[0]}" >got
	cmp want got
	assert_equal "${lines[0]}" "$(jq -c -n --rawfile l want '{node:"a\"b",stream:"stdout",line:$l}')"
	jq -j -n 'input | .line' <<<"${lines[1]}" >got2
	cmp want2 got2
	# and the newline, which --lines never sees inside a line, by the same code
	run bash -c '. "$1"; for i in $(seq 1 31) 34 92 127; do printf -v c "%02x" "$i"; printf -v c "%b" "\\x$c"; json_str "a${c}b"; echo "$REPLY"; done' _ "$CCE_ROOT/scripts/cce-lib.sh"
	local want_all
	want_all=$(for i in $(seq 1 31) 34 92 127; do printf 'a%bb' "\\x$(printf %02x "$i")" | jq -R -s -c .; done)
	# jq escapes DEL, which JSON leaves free
	assert_equal "$output" "${want_all//\\u007f/$'\x7f'}"
	jq -e -s 'map(.[1:-1] | explode[0]) == ([range(1;32)] + [34, 92, 127])' <<<"$output"
}

# forks N: the processes cce-fleet --lines starts (clone, fork, vfork, as
# strace counts them) for a node whose command prints N lines; a local
# "ssh" runs the command, so that the count is cce-fleet's own
forks() {
	echo '{"node":"a","addr":"127.0.0.1"}' |
		strace -f -qq -c -o "sum.$1" -e trace=clone,clone3,fork,vfork \
			cce-fleet --ssh "$BATS_TEST_TMPDIR/local-ssh" --lines "seq $1" >"out.$1"
	assert_equal "$(wc -l <"out.$1")" "$1"
	awk '$NF ~ /^(clone|clone3|fork|vfork)$/ { n += $4 } END { print n + 0 }' "sum.$1"
}

@test "--lines starts no process per line" {
	command -v strace >/dev/null || skip "strace is not installed"
	strace -f -o /dev/null true || skip "strace cannot trace here"
	cat >local-ssh <<'SH'
#!/bin/sh
# [-o opt]... host -- command: run command here
while [ $# -gt 0 ]; do case "$1" in -o) shift 2 ;; --) shift; break ;; *) shift ;; esac; done
exec sh -c "$*"
SH
	chmod +x local-ssh
	local few many
	few=$(forks 200)
	many=$(forks 2000)
	echo "forks: $few for 200 lines, $many for 2000 lines" >&3
	# the same handful whatever the number of lines
	[ "$few" -gt 0 ] && [ "$few" -lt 50 ]
	[ "$many" -le $((few + 2)) ]
}

@test "--lines keeps records whole when many nodes write long lines at once" {
	for i in $(seq 1 6); do printf '{"node":"n%d","addr":"127.0.0.1"}\n' "$i"; done >nodes
	run_cce -0 fleet -j 6 --lines 'for i in $(seq 200); do head -c 3000 /dev/zero | tr "\0" y; echo; done' <nodes
	# every line parses on its own, and every output line is one whole
	# record (an ssh that fails on a loaded machine after the output adds
	# its stderr line and failure record, which are reported, not broken)
	printf '%s\n' "$output" | jq -c . >/dev/null
	run jq -s -c 'map(select(.stream == "stdout") | .line | length) | [length, unique]' <<<"$output"
	assert_output '[1200,[3000]]'
}

@test "--lines cuts a line too long to write atomically and marks it" {
	run_cce -0 fleet --lines 'head -c 10000 /dev/zero | tr "\0" z; echo; echo short' <<<'{"node":"a","addr":"127.0.0.1"}'
	assert_equal "${#lines[@]}" 2
	run jq -c '{n: (.line|length), truncated}' <<<"$output"
	assert_line --index 0 --regexp '^\{"n":[0-9]{4},"truncated":true\}$'
	assert_line --index 1 '{"n":5,"truncated":null}'
}

@test "--user and --ssh-opt reach ssh" {
	run_cce -0 fleet --user root --ssh-opt SendEnv=CCE_X 'whoami; echo "x=$CCE_X"' <<<'{"node":"r","addr":"127.0.0.1"}'
	run jq -r .stdout <<<"$output"
	assert_output "root
x="
	CCE_X=42 run_cce -0 fleet --ssh-opt SendEnv=CCE_X 'echo "x=$CCE_X"' <<<'{"node":"r","addr":"127.0.0.1"}'
	assert_equal "$(jq -r .stdout <<<"$output")" "x=42"
}

@test "bad node records are reported with their line and skipped, exit 65" {
	printf '%s\n' '{"node":"ok","addr":"127.0.0.1"}' 'not json' '{"addr":"x"}' '[1]' >nodes
	run_cce -65 fleet true <nodes
	assert_equal "$(jq -r .node <<<"$output")" ok
	assert_line --index 0 --partial '"node":"ok"'
	assert_equal "$stderr" "cce-fleet: stdin:2: expected a JSON object with node and addr
cce-fleet: stdin:3: missing or non-string field node
cce-fleet: stdin:4: expected a JSON object with node and addr"
}

@test "runs at most -j nodes at a time" {
	for i in $(seq 1 6); do printf '{"node":"n%d","addr":"127.0.0.1"}\n' "$i"; done >nodes
	local t0=$SECONDS
	run_cce -0 fleet -j 3 'sleep 1' <nodes
	assert_equal "${#lines[@]}" 6
	# two waves of one second each
	[ $((SECONDS - t0)) -ge 2 ]
}

# Good and bad values of lib/cli.c's grammar (cli_size, cli_duration):
# units, fractions, leading zeros, double rounding, the overflow bounds,
# the 64-character limit of the number, and what it refuses.
grammar_sizes=(0 512 512B 64K 64k 64KiB 10M 10MiB 1G 1GiB 1T 1TiB 1kB 1KB 1MB 1GB 1TB
	1.5K 1.5KiB .5K 5. 5.B 0.25MiB 007 0.001kB 0.1KB 16000000T 9007199254740993
	15999999999999999999 000000000000000000000000000000000000000000000000000000000000001
	'' x -1 +1 1.3B ' 1' '1 ' '10 MiB' 10mib 1e3 0x10 1KiBx 1Ki 1KIB . .K inf nan 1,5K
	99999999999TiB 1b 1mb 1Kb 1.5 0.5 1.0000000001K 16777215T 17999999999999999999
	18000000000000000000 18446744073709551615 16EiB 17179869184G 1KiB1 $'1\n' '１' '٣'
	0000000000000000000000000000000000000000000000000000000000000001)
grammar_durations=(0 250ms 30s 5m 2h 7d 1.5 1.5s .5 5. 5.s 0.2 1.5ms 0.0005 0.4ms 0.5ms
	2.5ms 0.0015 100000000000d 9200000000000000000ms 9200000000000000001ms
	000000000000000000000000000000000000000000000000000000000000005m
	'' abc -1 +1 1e3 1S 1sec '1 s' '5m ' 1.5.5 . s ms 1M 1D 0x10 inf nan 1us 1min 1d1
	106751991167d 9200000000000001024ms $'1\n' '５s'
	0000000000000000000000000000000000000000000000000000000000000005)

# verdict TOOL_NAME OPTION COMMAND...: exit status and stderr of COMMAND
# --help (--help comes after the option, so it only wins if the value is
# good), with the tool's and the option's names replaced
verdict() {
	local name=$1 opt=$2 err st=0
	shift 2
	err=$("$@" --help 2>&1 >/dev/null) || st=$?
	err=${err//$name/TOOL}
	echo "$st ${err//$opt:/OPT:}"
}

@test "--max-output and every script's durations are read as the C tools read theirs" {
	# lib/cli.c itself: the value it gives each string, or its message
	cat >cli.c <<'C'
#include <stdio.h>
#include <string.h>
#include "cli.h"
int main(int argc, char **argv)
{
	char err[512];
	for (int i = 2; i < argc; i++) {
		int64_t ms;
		uint64_t b;
		if (!strcmp(argv[1], "duration") && cli_duration("--x", argv[i], &ms, err, sizeof err) == 0)
			printf("ok %lld\n", (long long)ms);
		else if (!strcmp(argv[1], "size") && cli_size("--x", argv[i], &b, err, sizeof err) == 0)
			printf("ok %llu\n", (unsigned long long)b);
		else
			printf("bad %s\n", err);
	}
	return 0;
}
C
	# a sanitizer build's library needs its runtime to link
	local san=()
	nm "$CCE_BUILD/lib/libcce.a" 2>/dev/null | grep -q __asan_ && san=(-fsanitize=address,undefined)
	cc "${san[@]}" -I"$CCE_ROOT/lib" -o cli cli.c "$CCE_BUILD/lib/libcce.a" -lm
	# the scripts' one parser gives the same values and messages
	local kind
	for kind in size duration; do
		local -n table=grammar_${kind}s
		run ./cli "$kind" "${table[@]}"
		local want=$output
		run bash -c '. "$1"; k=$2; shift 2; for v; do if "cce_$k" --x "$v"; then echo "ok $REPLY"; else echo "bad $REPLY"; fi; done' \
			_ "$CCE_ROOT/scripts/cce-lib.sh" "$kind" "${table[@]}"
		assert_equal "$output" "$want"
	done
	# and each script option takes and refuses what a C tool's option
	# does, with the same message: the whole tables for cce-fleet, some of
	# them for the other scripts (they call the same parser)
	local v c i=0 bad=()
	for v in "${grammar_sizes[@]}"; do
		c=$(verdict cce-sync --max-size cce-sync unpack --max-size "$v")
		[ "$(verdict cce-fleet --max-output cce-fleet --max-output "$v")" = "$c" ] || bad+=("cce-fleet --max-output '$v'")
	done
	for v in "${grammar_durations[@]}"; do
		c=$(verdict cce-push --linger cce-push --linger "$v")
		[ "$(verdict cce-fleet --timeout cce-fleet --timeout "$v")" = "$c" ] || bad+=("cce-fleet --timeout '$v'")
		[ $((i++ % 4)) -eq 0 ] || continue
		[ "$(verdict cce-deploy --timeout cce-deploy --timeout "$v")" = "$c" ] || bad+=("cce-deploy --timeout '$v'")
		[ "$(verdict cce-sim --interval cce-sim --interval "$v")" = "$c" ] || bad+=("cce-sim --interval '$v'")
	done
	[ "${#bad[@]}" -eq 0 ] || { printf 'not as in C: %s\n' "${bad[@]}"; false; }
}

@test "usage errors exit 64" {
	run_cce -64 cce-fleet
	assert_equal "${stderr%%$'\n'*}" "cce-fleet: no command given"
	run_cce -64 cce-fleet -j 0 true
	run_cce -64 cce-fleet --timeout never true
	assert_equal "${stderr%%$'\n'*}" "cce-fleet: --timeout: invalid duration 'never' (use e.g. 250ms, 30s, 5m, 2h, 7d)"
	run_cce -64 cce-fleet --frobnicate true
}
