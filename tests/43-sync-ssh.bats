#!/usr/bin/env bats
# cce-sync end to end through `ssh localhost`, against a test sshd started
# on a free loopback port with keys made for this run.

load lib/common
load lib/sshd
load sync/helpers

setup_file() {
	export SSHD_DIR="$BATS_FILE_TMPDIR/sshd"
	sshd_start "$SSHD_DIR"
	# edge CMD...: run on "the edge node" through ssh, with this build's binary
	cat >"$SSHD_DIR/edge" <<-EOF
	#!/bin/sh
	exec ssh ${SSH_OPTS[*]} root@127.0.0.1 \\
		"PATH='$CCE_BUILD/bin':\\\$PATH; \$*"
	EOF
	chmod +x "$SSHD_DIR/edge"
}

teardown_file() {
	sshd_stop "$SSHD_DIR"
}

setup() {
	common_setup
	export PATH="$SSHD_DIR:$PATH"
	cd "$BATS_TEST_TMPDIR"
	mktree src
	cce-sync keygen --out cloud.key
}

@test "sync over ssh: signed releases, checked, flipped, rolled back" {
	E="$BATS_TEST_TMPDIR/edge/detector"
	edge cce-sync manifest "'$E'" >remote.jsonl 2>/dev/null || : >remote.jsonl
	run_cce bash -c "cce-sync pack src --against remote.jsonl --sign cloud.key |
		edge cce-sync unpack \"'$E'\" --verify \"'$PWD/cloud.key.pub'\" --check ./bin/selftest"
	run jq -c '[.mode,.added]' <<<"$output"
	assert_output '["release",12]'
	assert_equal "$(snap "$E/current/")" "$(snap src)"
	r1=$(readlink "$E/current")
	# the second release ships only the change, as the issue's example does
	printf 'v2\n' >src/README
	edge cce-sync manifest "'$E'" >remote.jsonl
	cce-sync pack src --against remote.jsonl --sign cloud.key >p
	run tar --zstd -tf p
	assert_equal "$(grep -cv '^\.cce/' <<<"$output")" 1
	run_cce bash -c "edge cce-sync unpack \"'$E'\" --verify \"'$PWD/cloud.key.pub'\" --check ./bin/selftest <p"
	run jq -c '[.modified,.files]' <<<"$output"
	assert_output '[1,12]'
	assert_equal "$(cat "$E/current/README")" v2
	run edge cce-sync verify "'$E'"
	assert_success
	run edge cce-sync rollback "'$E'"
	assert_success
	assert_equal "$(readlink "$E/current")" "$r1"
	run edge cce-sync releases "'$E'"
	assert_equal "${#lines[@]}" 2
}

@test "sync over ssh: a stream signed by another key is refused with 65, nothing changed" {
	E="$BATS_TEST_TMPDIR/edge/app"
	cce-sync pack src --sign cloud.key | edge cce-sync unpack "'$E'" --verify "'$PWD/cloud.key.pub'" >/dev/null
	before=$(snap "$E")
	cce-sync keygen --out rogue.key
	printf 'rogue\n' >src/README
	cce-sync pack src --sign rogue.key >p
	run bash -c "edge cce-sync unpack \"'$E'\" --verify \"'$PWD/cloud.key.pub'\" <p"
	assert_equal "$status" 65
	assert_output --partial "bad signature"
	assert_equal "$(snap "$E")" "$before"
}

@test "sync over ssh: collected data comes back from the edge, appended and merged" {
	E="$BATS_TEST_TMPDIR/edge/data"
	mkdir -p "$E/cam1"
	head -c 300000 /dev/urandom >"$E/cam1/segment.bin"
	printf '{"ts":1}\n' >"$E/cam1/events.jsonl"
	mkdir collected
	printf 'archived locally\n' >collected/old
	cce-sync manifest collected >local.jsonl
	edge cce-sync pack "'$E'" --against - <local.jsonl | cce-sync unpack collected --mode merge >/dev/null
	cmp "$E/cam1/segment.bin" collected/cam1/segment.bin
	# the edge keeps writing; only what grew comes back
	head -c 50000 /dev/urandom >>"$E/cam1/segment.bin"
	printf '{"ts":2}\n' >>"$E/cam1/events.jsonl"
	cce-sync manifest collected >local.jsonl
	edge cce-sync pack "'$E'" --against - <local.jsonl >p
	[ "$(stat -c %s p)" -lt 60000 ]
	run_cce cce-sync unpack collected --mode merge <p
	run jq -c '[.appended,.deleted]' <<<"$output"
	assert_output '[2,0]'
	cmp "$E/cam1/segment.bin" collected/cam1/segment.bin
	cmp "$E/cam1/events.jsonl" collected/cam1/events.jsonl
	assert_equal "$(cat collected/old)" "archived locally"
}
