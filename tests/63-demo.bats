#!/usr/bin/env bats
# make demo's main job runs on embedded defaults and leaves nothing behind;
# here without systemd (73 runs it under one).

load lib/common
load report/page

# without_systemd CMD...: CMD where no systemd is PID 1, even on a machine
# that runs one: as root, a private empty /run (sd_booted() looks for
# /run/systemd/system); otherwise cce-task could not use it anyway
without_systemd() {
	if [ "$(id -u)" -eq 0 ]; then
		unshare --mount --propagation private sh -c 'mount -t tmpfs tmpfs /run && exec "$@"' _ "$@"
	else
		"$@"
	fi
}

@test "the demo runs the whole loop, prints its summary and cleans up" {
	mkdir -p tmp
	run_cce -0 without_systemd env TMPDIR="$BATS_TEST_TMPDIR/tmp" CCE_DEMO_PAGE="$BATS_TEST_TMPDIR/page/fleet.html" \
		"$CCE_ROOT/scripts/demo"
	# no systemd for the tasks (73 runs the demo where there is one): one line says why
	assert_equal "${lines[0]}" "systemd: not used ($([ "$(id -u)" -eq 0 ] && echo "systemd is not running as PID 1 here; cce-task needs it" ||
		echo "not root: cce-task drives the system manager")): the nodes are directories and the tasks are shipped, not run"
	refute_line --partial "cce-detector@"
	assert_line --partial "== 7. rescheduling"
	assert_line --regexp '^   records in: 20000, rejected: [1-9][0-9]*, alerts: [1-9][0-9]*, delivered: [0-9]+ data \+ [1-9][0-9]* alerts$'
	assert_line --regexp '^   placements: 2, moves: 1$'
	# the alert lines: state, rule, then the message, which names the
	# device once (or the device alone for a rule without a message)
	assert_line --regexp '^     firing overheat dev-[0-9]{4} at [0-9]+(\.[0-9]+)?C$'
	local line n=0
	while IFS= read -r line; do
		[[ "$line" =~ ^\ {5}(firing|resolved)\  ]] || continue
		n=$((n + 1))
		[[ "$line" =~ ^\ {5}(firing|resolved)\ (overheat\ dev-[0-9]{4}\ at\ -?[0-9]+(\.[0-9]+)?C|hot-average\ dev-[0-9]{4})$ ]] ||
			{ echo "bad alert line: '$line'"; false; }
	done <<<"$output"
	assert_equal "$n" 5
	# every record that was not rejected was delivered
	local rejected delivered
	rejected=$(sed -nE 's/.*rejected: ([0-9]+),.*/\1/p' <<<"$output")
	delivered=$(sed -nE 's/.*delivered: ([0-9]+) data.*/\1/p' <<<"$output")
	assert_equal "$((rejected + delivered))" 20000
	# the fleet page: where the demo says, whole, with the silent node dead
	assert_line "   fleet page: $BATS_TEST_TMPDIR/page/fleet.html ($(wc -c <page/fleet.html) bytes; open it in a browser)"
	run ls -A tmp
	assert_output ""
	grep -q '</html>' page/fleet.html
	run grep -o -E 'edge-[123][^<>]{0,40}(dead|ready)' page/fleet.html
	assert_output --partial dead
	# nothing fetched from anywhere: no src= or href= to another place
	run grep -c -E '(src|href)="(https?:)?//' page/fleet.html
	assert_output 0
	# and real Chromium renders it without a console error; the screenshot
	# stays as the demo's artifact
	ART="$CCE_BUILD/artifacts/demo" run_page demo-fleet 1280 "$BATS_TEST_TMPDIR/page/fleet.html"
	[ ! -s "$BATS_FILE_TMPDIR/demo-fleet.console" ] || { cat "$BATS_FILE_TMPDIR/demo-fleet.console"; false; }
	grep -q 'edge-3' "$BATS_FILE_TMPDIR/demo-fleet.dom"
	[ -s "$CCE_BUILD/artifacts/demo/demo-fleet.png" ]
}
