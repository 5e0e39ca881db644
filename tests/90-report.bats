#!/usr/bin/env bats
# shellcheck disable=SC2154,SC2317 # stderr comes from bats' run; beat_all_but_6 is called by wait_for
# cce-report: the page of a fleet made by the real tools (cce-register,
# cce-sched, cce-rule, cce-push), loaded in real headless Chromium from a
# file URL: no console errors, the expected elements, readable at 1280 px
# and on a phone; screenshots kept under $CCE_BUILD/artifacts/report. Then
# bad input: the contract's messages, exit 65, and the page still written.

load lib/common
load report/page

ART="$CCE_BUILD/artifacts/report"
Q="$CCE_ROOT/tests/report/dom-query"

# the stderr of the last run_cce as the output, for assert_line
stderr_as_output() {
	run printf '%s\n' "$stderr"
}

# a fleet from the tools themselves, in $BATS_FILE_TMPDIR/fleet
make_fleet() {
	local d=$BATS_FILE_TMPDIR/fleet s i
	mkdir -p "$d" && cd "$d" || return 1
	export CCE_HOME=$d/home CCE_STORE=file:$d/store
	mkdir -p "$CCE_HOME"
	cce-register init
	cce-register token edge-1 edge-2 edge-3 edge-4 edge-5 edge-6 >tokens
	for i in 1 2 3 4 5 6; do
		jq -r "select(.node == \"edge-$i\") | .token" tokens >"tok-$i"
		cce-register join "edge-$i" --token-file "tok-$i" --addr "10.0.0.$i" \
			--region "$( [ "$i" -le 3 ] && echo sh || echo bj)" --zone "z$((i % 2))" \
			--cpu 4 --mem-mb 4096 --disk-mb 10000 --label bw_limit=2MiB >/dev/null
	done
	# edge-6 falls silent: with a 2s ttl it is dead after 6s, while the
	# others keep beating (applied without their ts, so that they count from
	# the apply, however slow the printing; then listed at once: a
	# condition waited for, not a sleep)
	beat_all_but_6() {
		local n
		for n in 1 2 3 4 5; do
			cce-register heartbeat "edge-$n" --token-file "tok-$n" --load "cpu=$n,mem_mb=$((n * 500))" \
				--print || return 1
		done >beats.jsonl
		cat beats.jsonl >>history.jsonl
		jq -c 'del(.ts)' beats.jsonl | cce-register apply >/dev/null &&
			cce-register list --all --ttl 2s >nodes.jsonl || return 1
		[ "$(jq -r 'select(.node == "edge-6") | .state' nodes.jsonl)" = dead ] &&
			[ "$(jq -r 'select(.state == "ready") | .node' nodes.jsonl | wc -l)" -eq 5 ]
	}
	wait_for 60 beat_all_but_6
	echo '{"task":"web","replicas":4,"cpu":0.5}
{"task":"gpu","replicas":1,"cpu":1,"selector":{"gpu":"yes"}}' |
		cce-sched --nodes nodes.jsonl >placements.jsonl || [ $? -eq 0 ]
	echo '[{"name":"overheat","key":".device","when":".temp > 80","severity":"critical"}]' >rules.json
	s=1796400000000
	printf '{"ts":%d,"device":"d1","temp":81}\n{"ts":%d,"device":"d1","temp":70}\n{"ts":%d,"device":"<b>x</b>","temp":99}\n' \
		"$s" $((s + 60000)) $((s + 120000)) | cce-rule -r rules.json --status status.jsonl >alerts.jsonl
	cat status.jsonl >>alerts.jsonl
	printf '{"a":1}\n{"a":2}\n' | cce-push --spool "$d/spool" --receipts --stats 1h "file:$d/pushed.jsonl" \
		>push.jsonl 2>>push.jsonl
	cce-report -o fleet.html --nodes nodes.jsonl --history history.jsonl \
		--placements placements.jsonl --alerts alerts.jsonl --push push.jsonl
}

setup_file() {
	command -v chromium >/dev/null || {
		echo "chromium is missing: scripts/install-deps --test installs it" >&2
		return 1
	}
	make_fleet
	run_page fleet-1280 1280 "$BATS_FILE_TMPDIR/fleet/fleet.html"
	run_page fleet-phone 390 "$BATS_FILE_TMPDIR/fleet/fleet.html"
}

@test "the page loads in Chromium from a file URL without console errors" {
	local n
	for n in fleet-1280 fleet-phone; do
		assert_file_exists "$ART/$n.png"
		[ -s "$ART/$n.png" ]
		run cat "$BATS_FILE_TMPDIR/$n.console"
		assert_output ''
		# the probe ran: scripts work, and the page's own did not fail
		run grep -c 'data-sw=' "$BATS_FILE_TMPDIR/$n.dom"
		assert_output 1
	done
}

@test "the node grid has a cell per node, and the dead node says so in text" {
	local dom=$BATS_FILE_TMPDIR/fleet-1280.dom
	run "$Q" "$dom" 'ul.grid li'
	assert_output 6
	run "$Q" -t "$dom" 'ul.grid li'
	assert_line $'edge-6 \u2715 dead'
	run "$Q" -t "$dom" 'ul.counts li'
	assert_line --partial 'dead 1'
	assert_line --partial 'ready 5'
	run "$Q" -t "$dom" '#node-table td'
	assert_output --partial 'dead'
	# grouped by region: bj before sh
	run "$Q" -t "$dom" '#fleet h3'
	assert_output $'region bj\nregion sh'
}

@test "the alert timeline has a bar per episode, the firing one marked in text" {
	local dom=$BATS_FILE_TMPDIR/fleet-1280.dom
	run "$Q" "$dom" 'svg.tl rect'
	assert_output 2
	run "$Q" "$dom" 'rect.open'
	assert_output 1
	run "$Q" -t "$dom" '#alerts-table tr'
	assert_line --regexp '^overheat <b>x</b> critical firing 1 critical firing from .*, still firing$'
	assert_line --regexp '^overheat d1 critical resolved 1 critical firing from .* \(60s\)$'
	# the key is text, not markup: the page's only elements are its own
	run "$Q" "$dom" 'b'
	refute_output 0
	run "$Q" "$dom" '#alerts-table b'
	assert_output 0
	run "$Q" "$dom" 'script'
	assert_output 2
}

@test "what runs where, rules, push backlog and history come from the tools' output" {
	local dom=$BATS_FILE_TMPDIR/fleet-1280.dom
	run "$Q" -t "$dom" '#places-table tr'
	assert_line 'gpu 0 (none) unplaced - unschedulable: 0/6 nodes available: 1 not ready, 5 did not match selector gpu=yes'
	[ "$(printf '%s\n' "${lines[@]}" | grep -c '^web ')" -eq 4 ]
	run "$Q" -t "$dom" '#rules-table tr'
	assert_line --regexp '^overheat 3 3 2 1 '
	run "$Q" -t "$dom" '#push-table tr'
	assert_line --regexp '^stdin|push.jsonl'
	run "$Q" "$dom" '#node-table svg'
	assert_output 12
}

@test "readable at 1280 px and on a phone: nothing wider than the screen" {
	run grep -o 'data-sw="[0-9]*" data-vw="[0-9]*" data-fit="[a-z]*"' "$BATS_FILE_TMPDIR/fleet-1280.dom"
	assert_output 'data-sw="1280" data-vw="1280" data-fit="yes"'
	# on a phone the tables scroll inside their sections, the page does not
	run grep -o 'data-sw="[0-9]*" data-vw="[0-9]*"' "$BATS_FILE_TMPDIR/fleet-phone.dom"
	assert_output 'data-sw="390" data-vw="390"'
}

@test "the page is self-contained and replaced atomically" {
	cd "$BATS_FILE_TMPDIR/fleet"
	run grep -Eic 'src=|href="(https?:|//)|url\(|@import|<link' fleet.html
	assert_output 0
	local before
	before=$(stat -c %i fleet.html)
	run_cce cce-report -o fleet.html --nodes nodes.jsonl
	[ "$(stat -c %i fleet.html)" != "$before" ]
	run ls -A
	refute_output --partial '.tmp'
	# the same records give the same bytes
	cce-report -o again.html --nodes nodes.jsonl
	cmp fleet.html again.html
}

@test "a big fleet: one grid cell per node, sections for every kind" {
	"$CCE_ROOT/tests/report/gen-fleet" 120 60 big
	run_cce cce-report -o big.html big/nodes.jsonl big/history.jsonl big/placements.jsonl \
		big/alerts.jsonl big/deploys.jsonl big/push.jsonl big/gateway.jsonl
	run "$Q" big.html 'ul.grid li'
	assert_output 120
	run "$Q" big.html 'ul.grid li.s-dead'
	assert_output 3
	run "$Q" -t big.html 'nav a'
	assert_output $'fleet\nnodes\nwhat runs where\nalerts\nrules\ndeploys\npush backlog\ngateways'
	run "$Q" -t big.html '#deploys-table tr'
	assert_line --regexp '^edge-0005 .* failed 1 '
	run "$Q" -t big.html '#push-table tr'
	assert_line 'edge-0004 2026-12-04 16:00:00Z 0 0 B 20700 0 0 92 records spooled over time, peak 100000 peak 100000'
	run "$Q" -t big.html '#gateways-table tr'
	assert_line --regexp '^big/gateway.jsonl '
}

@test "bad lines: reported, exit 65, the page still written from the good ones" {
	"$CCE_ROOT/tests/report/gen-fleet" 3 2 f
	{
		head -2 f/nodes.jsonl
		echo '{"node":"edge-9","state":"ready","capacity":{"cpu":"four"}}'
		echo 'not json'
		echo '{"node":"edge-8","state":"dead","capacity":{}}'
	} >nodes.jsonl
	printf '%s\n' '{"hello":1}' '{"rule":"r","state":"firing","ts":1}' >misc.jsonl
	run_cce -65 cce-report -o page.html --rejects rej.jsonl --nodes nodes.jsonl \
		--nodes f/alerts.jsonl misc.jsonl
	stderr_as_output
	assert_line --index 0 "cce-report: nodes.jsonl:3: capacity.cpu: expected a non-negative number, got string"
	assert_line --index 1 --regexp '^cce-report: nodes.jsonl:4: '
	assert_line --index 2 "cce-report: f/alerts.jsonl:1: an alert, not a node record"
	[ "$(grep -c "f/alerts.jsonl" <<<"$output")" -eq "$(wc -l <f/alerts.jsonl)" ]
	assert_line "cce-report: misc.jsonl:1: not a record cce-report knows (a node, heartbeat, placement, alert, rule status, deploy report, cce-push or cce-gateway record)"
	run "$Q" -t page.html 'ul.grid li'
	assert_output $'edge-8 \u2715 dead\nedge-0001 \u2713 ready\nedge-0002 \u2713 ready'
	run "$Q" page.html 'svg.tl rect'
	assert_output 1
	[ "$(wc -l <rej.jsonl)" -eq $((2 + $(wc -l <f/alerts.jsonl) + 1)) ]
}

@test "--strict stops at the first bad line and leaves the old page" {
	echo '<p>old</p>' >page.html
	printf '%s\n' '{"node":"a","state":"ready","capacity":{}}' '[1]' >n.jsonl
	run_cce -65 cce-report -o page.html --strict n.jsonl
	stderr_as_output
	assert_line --partial 'n.jsonl:2: '
	run cat page.html
	assert_output '<p>old</p>'
}

@test "usage errors: exit 64 and no page" {
	run_cce -64 cce-report --nodes x
	stderr_as_output
	assert_line --index 0 'cce-report: missing --out FILE'
	run_cce -64 cce-report -o p.html --window 0
	run_cce -64 cce-report -o p.html --window soon
	stderr_as_output
	assert_line --index 0 --partial "--window: invalid duration 'soon'"
	assert_file_not_exists p.html
	run_cce -74 cce-report -o "$BATS_TEST_TMPDIR/no/such/dir/p.html" </dev/null
	stderr_as_output
	assert_line --partial 'no/such/dir'
}
