# shellcheck shell=bash disable=SC2154 # output comes from bats' run
# Helpers for the cce-gateway suites: a gateway started on a free loopback
# port with its store under the test's directory, and curl against it.

# gw_start [OPTS...]: start cce-gateway in the background (GW_PID, GW_URL,
# stdout in $BATS_TEST_TMPDIR/gw.out, stderr in gw.err) and wait until it
# answers /status. GW_PORT and GW_STORE are kept when already set, so that
# a restarted gateway is the same one.
gw_start() {
	GW_PORT=${GW_PORT:-$(free_port)}
	GW_STORE=${GW_STORE:-$BATS_TEST_TMPDIR/store}
	GW_URL="http://127.0.0.1:$GW_PORT"
	export GW_PORT GW_STORE GW_URL
	cce-gateway --listen "127.0.0.1:$GW_PORT" --store "$GW_STORE" "$@" \
		>>"$BATS_TEST_TMPDIR/gw.out" 2>>"$BATS_TEST_TMPDIR/gw.err" &
	GW_PID=$!
	export GW_PID
	if ! wait_for 30 curl -s -o /dev/null "$GW_URL/status"; then
		echo "cce-gateway did not start: $(cat "$BATS_TEST_TMPDIR/gw.err")" >&2
		return 1
	fi
}

# gw_stop: SIGTERM and wait; the gateway must exit 0
gw_stop() {
	local rc=0
	kill -TERM "$GW_PID"
	wait "$GW_PID" || rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "cce-gateway exited $rc: $(cat "$BATS_TEST_TMPDIR/gw.err")" >&2
		return 1
	fi
}

# gw_kill: kill -9, no questions asked
gw_kill() {
	kill -9 "$GW_PID" 2>/dev/null || true
	wait "$GW_PID" 2>/dev/null || true
}

teardown() {
	if [ -n "${GW_PID:-}" ]; then
		kill -9 "$GW_PID" 2>/dev/null || true
	fi
	[ -z "${MNT:-}" ] || umount "$MNT" 2>/dev/null || true
}

# gw_curl [CURL ARGS...]: the answer's body, then a last line with the status
gw_curl() {
	curl -s -w '\n%{http_code}\n' "$@"
}

# seqs FILE: the seq fields of FILE's records, sorted numerically
seqs() {
	jq -r '.seq' "$1" | sort -n
}

# small_tmpfs_gw SIZE: a tmpfs of SIZE at $MNT, with 256KiB of it taken by
# $MNT/filler (removed to make room again), or the test is skipped
small_tmpfs_gw() {
	export MNT="$BATS_TEST_TMPDIR/mnt"
	mkdir -p "$MNT"
	mount -t tmpfs -o "size=$1" tmpfs "$MNT" || skip "cannot mount a tmpfs here"
	head -c 262144 /dev/zero >"$MNT/filler"
}

# sanitized: the cce-gateway under test is an AddressSanitizer build (its
# quarantine of freed memory makes RSS say nothing about our bounds)
sanitized() {
	ldd "$(command -v cce-gateway)" 2>/dev/null | grep -q libasan
}
