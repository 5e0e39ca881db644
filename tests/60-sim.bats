#!/usr/bin/env bats
# cce-sim: the sensor simulator used by the demo, tests and benchmarks.

load lib/common

@test "the same seed gives the same bytes; another seed differs" {
	cce-sim -n 5 -c 200 --seed 7 >a
	cce-sim -n 5 -c 200 --seed 7 >b
	cce-sim -n 5 -c 200 --seed 8 >c
	cmp a b
	! cmp -s a c
}

@test "writes --count valid records for --devices devices at --interval from --start" {
	run_cce -0 cce-sim -n 4 -c 12 --interval 30s --start 2026-11-25T00:00:00Z
	assert_equal "${#lines[@]}" 12
	# strictly valid JSON objects, every one
	printf '%s\n' "$output" | jsonl-echo --strict >/dev/null
	run jq -r '.device' <<<"$output"
	assert_equal "$(sort -u <<<"$output" | tr '\n' ' ')" "dev-0001 dev-0002 dev-0003 dev-0004 "
	run jq -s -c '[.[] | select(.device == "dev-0002") | .ts]' <<<"$(cce-sim -n 4 -c 12 --interval 30s --start 2026-11-25T00:00:00Z)"
	assert_output "[1795564800000,1795564830000,1795564860000]"
}

@test "fields a consumer relies on are present and typed" {
	run_cce -0 cce-sim -n 2 -c 4 --site hall-3 --prefix s-
	run jq -e -s 'all(.[]; (.ts|type)=="number" and (.device|startswith("s-")) and .site=="hall-3"
		and (.temp|type)=="number" and (.hum|type)=="number" and (.vib|type)=="number" and (.seq|type)=="number")' <<<"$output"
	assert_success
}

@test "temperatures follow a daily cycle within a plausible range" {
	run jq -s '[.[].temp] | (min > -5) and (max < 45) and (max - min > 4)' \
		<<<"$(cce-sim -n 1 -c 8640 --interval 10s --spike-rate 0 --stuck-rate 0 --silent-rate 0)"
	assert_output true
}

@test "spikes, stuck sensors and silent devices happen at their rates" {
	run jq -s '[.[] | select(.temp > 40)] | length' <<<"$(cce-sim -n 2 -c 20 --spike-rate 1 --stuck-rate 0)"
	assert_output 20
	# stuck: after the first reading every reading of the device repeats it
	run jq -s '[.[].temp] | unique | length' <<<"$(cce-sim -n 1 -c 15 --stuck-rate 1 --spike-rate 0)"
	assert_output 1
	# silent: every device goes silent at once, nothing more is written
	run_cce -0 cce-sim -n 3 -c 100 --silent-rate 1
	assert_output ""
}

@test "--malformed-rate mixes in lines the tools must reject" {
	cce-sim -n 10 -c 2000 --malformed-rate 0.05 --seed 3 >in
	run --separate-stderr jsonl-echo --rejects rej in
	assert_equal "$status" 65
	local bad good
	bad=$(wc -l <rej)
	good=$(printf '%s\n' "$output" | grep -c .)
	[ "$bad" -gt 50 ] && [ "$bad" -lt 200 ]
	assert_equal "$((bad + good))" 2000
}

@test "--realtime paces the output" {
	local t0=$SECONDS
	run_cce -0 cce-sim -n 1 -c 3 --interval 1s --realtime 2
	assert_equal "${#lines[@]}" 3
	[ $((SECONDS - t0)) -ge 1 ]
}

@test "a closed pipe stops it quietly" {
	run bash -c 'cce-sim -c 0 | head -n 2 >/dev/null; echo "${PIPESTATUS[0]}"'
	assert_output 0
}

@test "usage errors exit 64 naming the culprit" {
	run_cce -64 cce-sim --interval soon
	assert_equal "${stderr%%$'\n'*}" "cce-sim: --interval: invalid duration 'soon' (use e.g. 250ms, 30s, 5m, 2h, 7d)"
	run_cce -64 cce-sim -n 0
	run_cce -64 cce-sim --spike-rate 2
	run_cce -64 cce-sim --bogus
	assert_equal "${stderr%%$'\n'*}" "cce-sim: unknown option '--bogus'"
	run_cce -64 cce-sim --count
	assert_equal "${stderr%%$'\n'*}" "cce-sim: option '--count' requires an argument"
	run_cce -0 cce-sim --help
	assert_line --index 0 "usage: cce-sim [options]"
}
