#!/usr/bin/env bats
# cce-rule: count, and tumbling, sliding, session and count windows with
# their aggregates, on their edges; out-of-order and late records.

load lib/common
load rule/helpers

# Each window's aggregate record comes out on its own line: `when` always
# holds and repeat re-emits at every window.
win_rule() {
	rules "{\"name\":\"w\",\"key\":\".d\",\"window\":$1,\"aggregate\":$2,\"when\":\"true\",\"repeat\":\"1ms\"}"
}

@test "rule: count fires at the n-th time within the span, not at n-1" {
	rules '{"name":"c","key":".d","when":".err","count":{"n":3,"within":"1m"}}'
	input '{"ts":0,"d":"a","err":true}' '{"ts":10000,"d":"a","err":false}' '{"ts":20000,"d":"a","err":true}' \
	      '{"ts":60000,"d":"a","err":true}' \
	      '{"ts":0,"d":"b","err":true}' '{"ts":10000,"d":"b","err":true}' '{"ts":59999,"d":"b","err":true}' \
	      '{"ts":130000,"d":"b","err":false}'
	run_cce cce_rule -r "$R" "$IN"
	# a: the first of its three fell out of the minute at 60000 (spans are (t-1m, t])
	assert_equal "$(alerts '[.key,.state,.ts]' | tr -d '\n')" '["b","firing",59999]["b","resolved",130000]'
}

@test "rule: tumbling windows: edges belong to the next window, every aggregate by hand" {
	win_rule '{"size":"1m"}' '{"n":"count","s":"sum(.v)","a":"avg(.v)","mn":"min(.v)","mx":"max(.v)","sd":"stddev(.v)","f":"first(.v)","l":"last(.v)","p50":"p50(.v)","p90":"p90(.v)","r":"rate(.v)","cv":"count(.v)"}'
	input '{"ts":0,"d":"a","v":1}' '{"ts":30000,"d":"a","v":2}' '{"ts":45000,"d":"a"}' '{"ts":59999,"d":"a","v":3}' \
	      '{"ts":60000,"d":"a","v":10}' '{"ts":119999,"d":"a","v":20}' '{"ts":120000,"d":"a","v":0}'
	run_cce cce_rule -r "$R" "$IN"
	assert_equal "${#lines[@]}" 2
	assert_equal "$(alerts '.record | [.start,.end,.n,.s,.a,.mn,.mx,.f,.l,.p50,.p90,.cv]' | head -1)" '[0,60000,4,6,2,1,3,1,3,2,3,3]'
	assert_equal "$(alerts '.record | (.sd - 0.816496580927726 | fabs) < 1e-12, (.r - (2/59.999) | fabs) < 1e-12' | head -2 | tr '\n' ' ')" 'true true '
	assert_equal "$(alerts '[.ts, .since, (.record | .start,.end,.n,.s,.a,.f,.l)]' | sed -n 2p)" '[120000,60000,60000,120000,2,30,15,10,20]'
}

@test "rule: sliding windows: each record counts in size/slide windows" {
	win_rule '{"size":"2m","slide":"1m"}' '{"n":"count","mx":"max(.v)"}'
	input '{"ts":0,"d":"a","v":1}' '{"ts":60000,"d":"a","v":2}' '{"ts":120000,"d":"a","v":3}' '{"ts":180000,"d":"a","v":4}'
	run_cce cce_rule -r "$R" "$IN"
	assert_equal "$(alerts '.record | [.start,.end,.n,.mx]' | tr -d '\n')" '[-60000,60000,1,1][0,120000,2,2][60000,180000,2,3]'
}

@test "rule: session windows close after the gap, on the key's next record or on the watermark" {
	win_rule '{"gap":"30s"}' '{"n":"count","s":"sum(.v)"}'
	input '{"ts":0,"d":"a","v":1}' '{"ts":10000,"d":"a","v":1}' '{"ts":39999,"d":"a","v":1}' \
	      '{"ts":69999,"d":"a","v":5}' '{"ts":85000,"d":"a","v":5}' '{"ts":200000,"d":"b","v":0}'
	run_cce cce_rule -r "$R" "$IN"
	# 39999 is 29999 after 10000: same session; 69999 is a whole gap after
	# 39999: a new one, which 85000 joins; b's record moves the watermark
	# past 85000+30s and closes it
	assert_equal "$(alerts '[.ts, (.record | .key,.start,.end,.n,.s)]' | tr -d '\n')" '[69999,"a",0,69999,3,3][115000,"a",69999,115000,2,10]'
	input '{"ts":0,"d":"a","v":1}' '{"ts":30000,"d":"a","v":2}'
	run_cce cce_rule -r "$R" "$IN"
	assert_equal "$(alerts '[.ts, (.record | .start,.end,.n,.s)]' | tr -d '\n')" '[30000,0,30000,1,1]'
}

@test "rule: count windows aggregate every n records of a key" {
	win_rule '{"count":3}' '{"n":"count","a":"avg(.v)"}'
	input '{"ts":1,"d":"a","v":1}' '{"ts":2,"d":"b","v":100}' '{"ts":3,"d":"a","v":2}' '{"ts":4,"d":"a","v":6}' \
	      '{"ts":5,"d":"a","v":7}' '{"ts":6,"d":"a","v":8}'
	run_cce cce_rule -r "$R" "$IN"
	assert_equal "$(alerts '[.ts, (.record | .key,.start,.end,.n,.a)]' | tr -d '\n')" '[4,"a",1,4,3,3]'
}

@test "rule: when is evaluated on the aggregate, value and message too" {
	rules '{"name":"hot","key":".d","window":{"size":"1m"},"aggregate":{"avg_t":"avg(.t)"},"when":".avg_t > 80","value":".avg_t","message":"\"\\(.key): \\(.avg_t)\""}'
	input '{"ts":0,"d":"a","t":70}' '{"ts":1000,"d":"a","t":100}' '{"ts":60000,"d":"a","t":70}' '{"ts":120000,"d":"a","t":1}'
	run_cce cce_rule -r "$R" "$IN"
	assert_equal "$(alerts '[.state,.ts,.value,.message]' | tr -d '\n')" '["firing",60000,85,"a: 85"]["resolved",120000,70,"a: 70"]'
}

@test "rule: out-of-order records within --lateness join their window; later ones are counted late" {
	win_rule '{"size":"1m"}' '{"n":"count"}'
	input '{"ts":0,"d":"a"}' '{"ts":70000,"d":"a"}' '{"ts":45000,"d":"a"}' '{"ts":130000,"d":"a"}'
	run_cce cce_rule -r "$R" --status "$BATS_TEST_TMPDIR/st" "$IN"
	assert_equal "$(alerts '.record | [.start,.n]' | tr -d '\n')" '[0,1][60000,1]'
	assert_equal "$(jq .late "$BATS_TEST_TMPDIR/st")" 1
	assert_err "1 late record(s)"
	run_cce cce_rule -r "$R" --lateness 30s --status "$BATS_TEST_TMPDIR/st" "$IN"
	assert_equal "$(alerts '.record | [.start,.n]' | tr -d '\n')" '[0,2]'
	assert_equal "$(jq .late "$BATS_TEST_TMPDIR/st")" 0
}

@test "rule: a key's time never runs backwards for for-timers" {
	rules '{"name":"f","when":".v > 1","for":"10s"}'
	input '{"ts":10000,"v":2}' '{"ts":0,"v":2}' '{"ts":20000,"v":2}'
	run_cce cce_rule -r "$R" --lateness 1m "$IN"
	assert_equal "$(alerts '[.ts,.since]')" '[20000,10000]'
}

@test "rule: bad window and aggregate definitions are usage errors" {
	rules '[{"name":"a","window":{"size":"1m","gap":"5s"},"aggregate":{"n":"count"},"when":"true"},
	        {"name":"b","window":{"size":"1m"},"aggregate":{"n":"median(.x)"},"when":"true"},
	        {"name":"c","window":{"size":"1m","slide":"2m"},"aggregate":{"n":"count"},"when":"true"},
	        {"name":"d","aggregate":{"n":"count"},"when":"true"},
	        {"name":"e","window":{"count":0},"aggregate":{"n":"count"},"when":"true"},
	        {"name":"f","window":{"size":"1m"},"aggregate":{"x":"avg(.a |||)"},"when":"true"}]'
	run_cce -64 cce_rule --check -r "$R"
	assert_err "rule 'a': window: give one of size"
	assert_err "rule 'b': aggregate 'n': unknown function"
	assert_err "rule 'c': window: size and slide must be positive, slide at most size"
	assert_err "rule 'd': aggregate: needs a window"
	assert_err "rule 'e': window.count: expected an integer of at least 1"
	assert_err "rule 'f': aggregate 'x': jq: error"
}
