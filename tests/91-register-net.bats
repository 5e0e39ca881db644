#!/usr/bin/env bats
# shellcheck disable=SC2154 # output comes from bats' run
# cce-register heartbeat --load auto: the node's network use, bytes per
# second received and sent since the last heartbeat, summed over every
# interface but lo (/proc/net/dev), with the counters kept between
# heartbeats in $CCE_HOME/net.last.

load lib/common

# the bytes received and sent by every interface but lo, as "RX TX"
counters() {
	awk 'NR > 2 { sub(/^ +/, ""); split($0, f, /[: ]+/)
		if (f[1] != "lo") { rx += f[2]; tx += f[10] } } END { printf "%.0f %.0f\n", rx, tx }' /proc/net/dev
}

beat() {
	run_cce cce-register heartbeat edge-1 --token t --load auto --print
}

@test "the first heartbeat keeps the counters and reports no network figures" {
	beat
	run jq -c '.load | has("rx_bps"), has("tx_bps")' <<<"$output"
	assert_output $'false\nfalse'
	run cat "$CCE_HOME/net.last"
	assert_output --regexp '^[0-9]{13} [0-9]+ [0-9]+$'
}

@test "the next one reports bytes per second since the last, summed over all but lo" {
	local rx tx now
	read -r rx tx < <(counters)
	now=$(date +%s%3N)
	# as if the last heartbeat was 10s ago and 20000 bytes came in and
	# 5000 went out since
	echo "$((now - 10000)) $((rx - 20000)) $((tx - 5000))" >"$CCE_HOME/net.last"
	beat
	run jq -r '.load.rx_bps, .load.tx_bps' <<<"$output"
	local got_rx=${lines[0]} got_tx=${lines[1]}
	# 2000 and 500 per second, a little less for the time the run took,
	# a little more for traffic meanwhile
	[ "$got_rx" -ge 1800 ] && [ "$got_rx" -le 3000 ] || fail "rx_bps $got_rx, expected about 2000"
	[ "$got_tx" -ge 450 ] && [ "$got_tx" -le 1500 ] || fail "tx_bps $got_tx, expected about 500"
	run cat "$CCE_HOME/net.last"
	refute_output --regexp "^$((now - 10000)) "
}

@test "counters that went down (a reboot) report nothing and start again" {
	local rx tx
	read -r rx tx < <(counters)
	echo "$(($(date +%s%3N) - 10000)) $((rx + 1000000)) $((tx + 1000000))" >"$CCE_HOME/net.last"
	beat
	run jq -c '.load | has("rx_bps")' <<<"$output"
	assert_output false
	beat
	run jq -c '.load | (.rx_bps >= 0) and (.tx_bps >= 0)' <<<"$output"
	assert_output true
}

@test "the figures reach the registry and cce-report's page" {
	cce-register init
	cce-register token edge-1 | jq -r .token >tok
	cce-register join edge-1 --token-file tok --cpu 2 --label bw_limit=1MiB >/dev/null
	local rx tx
	read -r rx tx < <(counters)
	echo "$(($(date +%s%3N) - 10000)) $((rx - 80000)) $((tx - 40000))" >"$CCE_HOME/net.last"
	cce-register heartbeat edge-1 --token-file tok --load auto --print | tee beats.jsonl |
		cce-register apply >/dev/null
	cce-register list --all >nodes.jsonl
	run jq -c '.load | (.rx_bps >= 7000) and (.tx_bps >= 3500)' nodes.jsonl
	assert_output true
	run_cce cce-report -o page.html --nodes nodes.jsonl --history beats.jsonl
	run "$CCE_ROOT/tests/report/dom-query" -t page.html '#node-table td'
	assert_output --regexp $'\u2193[0-9.]+ kbit/s \u2191[0-9.]+ kbit/s limit 1MiB'
	run "$CCE_ROOT/tests/report/dom-query" page.html '#node-table path'
	assert_output 3
}

@test "join --net-mbps declares the link: kept, listed, compacted, shown beside the use" {
	cce-register init
	cce-register token edge-1 edge-2 >tokens
	jq -r 'select(.node == "edge-1") | .token' tokens >tok1
	jq -r 'select(.node == "edge-2") | .token' tokens >tok2
	run_cce cce-register join edge-1 --token-file tok1 --cpu 2 --net-mbps 100 --label bw_limit=4MiB
	run_cce cce-register join edge-2 --token-file tok2 --cpu 2
	run_cce cce-register list
	assert_line --index 0 --partial '"capacity":{"cpu":2,"mem_mb":0,"disk_mb":0,"net_mbps":100}'
	assert_line --index 1 --partial '"capacity":{"cpu":2,"mem_mb":0,"disk_mb":0}'
	run_cce cce-register compact
	run_cce cce-register list
	assert_line --index 0 --partial '"net_mbps":100}'
	run_cce cce-register list -o json
	echo "$output" >nodes.jsonl
	run_cce cce-report -o page.html --nodes nodes.jsonl
	run "$CCE_ROOT/tests/report/dom-query" -t page.html '#node-table tr'
	assert_line --index 1 --partial 'link 100 Mbit/s, limit 4MiB'
	run_cce -64 cce-register join edge-1 --token-file tok1 --net-mbps fast
	echo '{"op":"join","node":"edge-1","token":"'"$(cat tok1)"'","capacity":{"net_mbps":-1}}' >op
	run_cce -65 cce-register apply op
	assert_output --partial 'capacity.net_mbps: expected a non-negative number'
}
