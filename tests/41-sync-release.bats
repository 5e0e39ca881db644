#!/usr/bin/env bats
# cce-sync unpack through a pipe: releases, checks, rollback, signatures,
# merge, mirror, appends, and what a kill -9 or a full disk leaves behind.

load lib/common
load sync/helpers

setup() {
	common_setup
	cd "$BATS_TEST_TMPDIR"
	mktree src
}

# deploy SRC DIR [unpack options]: pack against DIR's manifest, unpack
deploy() {
	local src=$1 dir=$2
	shift 2
	cce-sync manifest "$dir" >remote.jsonl 2>/dev/null || : >remote.jsonl
	[ -d "$dir" ] || : >remote.jsonl
	cce-sync pack "$src" --against remote.jsonl | cce-sync unpack "$dir" "$@"
}

@test "sync unpack: a first release, equal to the source, with a report" {
	run_cce bash -c 'cce-sync pack src | cce-sync unpack app'
	run jq -c '[.mode,.added,.modified,.deleted,.files,.bytes]' <<<"$output"
	assert_output "[\"release\",12,0,0,12,$(cat src/README src/bin/selftest src/lib/sub/data src/share/log 'src/share/a file' | wc -c)]"
	assert [ -L app/current ]
	assert_equal "$(readlink app/current)" "releases/$(cce-sync releases app | jq -r .release)"
	assert_equal "$(snap app/current/)" "$(snap src)"
	# modes and times come from the manifest
	assert_equal "$(stat -c %a app/current/bin/selftest)" 755
	assert_equal "$(stat -c %Y app/current/lib/sub/data)" "$(stat -c %Y src/lib/sub/data)"
	# no staging left
	run bash -c 'ls -a app | grep stage'
	assert_failure
	run_cce cce-sync verify app
	assert_output ""
	# the manifest of a release directory is its current release
	assert_equal "$(cce-sync manifest app)" "$(cce-sync manifest src)"
}

@test "sync unpack: an empty tree makes an empty release, and mirrors an empty DIR" {
	mkdir empty
	run_cce bash -c 'cce-sync pack empty | cce-sync unpack app'
	run jq -c '[.mode,.added,.files,.bytes]' <<<"$output"
	assert_output '["release",0,0,0]'
	assert_equal "$(ls -A app/current/)" ""
	mkdir data
	printf 'x\n' >data/old
	run_cce bash -c 'cce-sync pack empty | cce-sync unpack data --mode mirror'
	assert_equal "$(ls -A data | grep -v '^[.]cce-sync')" ""
}

@test "sync unpack: a second release links unchanged files and flips current" {
	deploy src app >/dev/null
	old=$(readlink app/current)
	printf 'v2\n' >src/README
	rm src/share/log
	printf 'new\n' >src/new
	chmod 0600 "src/share/a file"
	run_cce deploy src app
	run jq -c '[.added,.modified,.deleted,.meta]' <<<"$output"
	assert_output '[1,1,1,2]'   # meta: the mode of 'share/a file', the mtime of share/
	new=$(readlink app/current)
	assert_not_equal "$new" "$old"
	assert_equal "$(snap app/current/)" "$(snap src)"
	# unchanged files share the old release's inode; the old release is intact
	assert_equal "$(stat -c %i "app/$new/lib/sub/data")" "$(stat -c %i "app/$old/lib/sub/data")"
	assert_equal "$(cat "app/$old/README")" "hello"
	assert_file_exists "app/$old/share/log"
	# a mode change is copied, not linked: the old release keeps its mode
	assert_equal "$(stat -c %a "app/$new/share/a file")" 600
	assert_equal "$(stat -c %a "app/$old/share/a file")" 644
	run_cce cce-sync releases app
	assert_equal "${#lines[@]}" 2
	assert_line --partial "\"release\":\"${new#releases/}\",\"current\":true"
	assert_line --partial "\"release\":\"${old#releases/}\",\"current\":false"
}

@test "sync unpack --check: a failing check leaves current untouched and nothing behind" {
	deploy src app >/dev/null
	before=$(snap app)
	rm src/lib/sub/data   # the selftest now fails
	run_cce -1 deploy src app --check ./bin/selftest
	assert_output ""
	assert_stderr "--check failed (exit 3): 'current' left as it was"
	assert_equal "$(snap app)" "$before"
	# a passing check runs inside the new tree, its output kept off stdout
	mktree src2
	run_cce deploy src2 app --check './bin/selftest && test "$(basename "$PWD")" = "$CCE_SYNC_RELEASE" &&
		test "$(basename "$(dirname "$PWD")")" = releases && test ! -e ../../current/new'
	assert_equal "${#lines[@]}" 1
	assert_stderr "selftest ok"
	assert_equal "$(snap app/current/)" "$(snap src2)"
}

@test "sync rollback and releases: back to the previous or a named release" {
	deploy src app >/dev/null
	r1=$(readlink app/current)
	printf 'v2\n' >src/README
	deploy src app >/dev/null
	r2=$(readlink app/current)
	printf 'v3\n' >src/README
	deploy src app >/dev/null
	r3=$(readlink app/current)
	run_cce cce-sync rollback app
	assert_output "{\"release\":\"${r2#releases/}\",\"previous\":\"${r3#releases/}\"}"
	assert_equal "$(cat app/current/README)" v2
	run_cce cce-sync rollback app --to "${r1#releases/}"
	assert_equal "$(cat app/current/README)" hello
	run_cce -1 cce-sync rollback app
	assert_stderr "no release before"
	run_cce -1 cce-sync rollback app --to nosuch
	assert_equal "$(readlink app/current)" "$r1"
	run_cce cce-sync rollback app --to "${r3#releases/}"
	# a new deploy after a rollback builds on the current release
	printf 'v4\n' >src/README
	deploy src app >/dev/null
	assert_equal "$(cat app/current/README)" v4
}

@test "sync unpack --keep: old releases are pruned, current never" {
	for v in 1 2 3 4; do
		printf 'v%s\n' "$v" >src/README
		deploy src app --keep 2 >/dev/null
	done
	run_cce cce-sync releases app
	assert_equal "${#lines[@]}" 2
	assert_equal "$(cat app/current/README)" v4
	assert_equal "$(ls app/.cce-sync.manifests | wc -l)" 2
	run_cce -64 cce-sync unpack app --keep 0
}

@test "sync keygen, pack --sign, unpack --verify: good, wrong and missing signatures" {
	run_cce cce-sync keygen --out k
	assert_equal "$(stat -c %a k)" 600
	assert_file_exists k.pub
	openssl pkey -in k -noout
	run_cce -74 cce-sync keygen --out k
	cce-sync keygen --out other
	run_cce bash -c 'cce-sync pack src --sign k | cce-sync unpack app --verify k.pub'
	before=$(snap app)
	printf 'v2\n' >src/README
	run_cce -65 bash -c 'cce-sync pack src --sign other | cce-sync unpack app --verify k.pub'
	assert_stderr "bad signature"
	run_cce -65 bash -c 'cce-sync pack src | cce-sync unpack app --verify k.pub'
	assert_stderr "not signed"
	assert_equal "$(snap app)" "$before"
	run_cce -64 cce-sync pack src --sign k.pub
	run_cce -64 cce-sync pack src --sign nosuch
}

@test "sync unpack --mode merge: adds and appends, never deletes" {
	mkdir data
	printf 'local only\n' >data/mine
	run_cce bash -c 'cce-sync pack src | cce-sync unpack data --mode merge'
	run jq -c '[.mode,.added]' <<<"$output"
	assert_output '["merge",12]'
	assert_equal "$(cat data/mine)" "local only"
	assert_equal "$(cat data/lib/sub/data | sha256sum)" "$(sha256sum <src/lib/sub/data)"
	assert [ -L data/share/readme ]
	cce-sync manifest data >remote.jsonl
	printf 'grown\n' >>src/share/log
	rm src/README
	run_cce bash -c 'cce-sync pack src --against remote.jsonl | cce-sync unpack data --mode merge'
	run jq -c '[.appended,.deleted]' <<<"$output"
	assert_output '[1,0]'
	assert_equal "$(cat data/share/log)" "a line
grown"
	assert_file_exists data/README
	# a directory where the stream has a file: refused, nothing changed
	mkdir -p other/x && printf 'f\n' >other/x/f
	rm -rf src2 && mkdir src2 && printf 'file\n' >src2/x
	run_cce -65 bash -c 'cce-sync pack src2 | cce-sync unpack other --mode merge'
	assert_equal "$(cat other/x/f)" f
}

@test "sync unpack --mode mirror: DIR becomes the manifest, extras deleted" {
	mkdir data
	printf 'extra\n' >data/extra
	mkdir -p data/README data/olddir/deep
	run_cce bash -c 'cce-sync pack src | cce-sync unpack data --mode mirror'
	assert_equal "$(snap data | grep -v '\.cce-sync')" "$(snap src)"
	assert_file_not_exists data/extra
	cce-sync manifest data >remote.jsonl
	rm src/share/log
	printf 'changed\n' >src/README
	run_cce bash -c 'cce-sync pack src --against remote.jsonl | cce-sync unpack data --mode mirror'
	assert_equal "$(snap data | grep -v '\.cce-sync')" "$(snap src)"
	run_cce cce-sync verify data
	# a mirror stream made against a stale manifest is refused whole
	printf 'local edit\n' >data/bin/selftest
	before=$(snap data)
	printf 'v3\n' >src/README
	run_cce -65 bash -c 'cce-sync pack src --against remote.jsonl | cce-sync unpack data --mode mirror'
	assert_stderr "'bin/selftest' in DIR does not match the manifest"
	assert_equal "$(snap data)" "$before"
}

@test "sync append: 1 MiB added to a big file ships about 1 MiB" {
	head -c $((8 << 20)) /dev/urandom >src/segment
	deploy src app >/dev/null
	cce-sync manifest app >remote.jsonl
	head -c $((1 << 20)) /dev/urandom >>src/segment
	cce-sync pack src --against remote.jsonl >p.tar.zst
	size=$(stat -c %s p.tar.zst)
	[ "$size" -lt $(((1 << 20) + 16384)) ] || fail "stream is $size bytes"
	run_cce cce-sync unpack app <p.tar.zst
	run jq -c '[.appended,.bytes]' <<<"$output"
	assert_output "[1,$((1 << 20))]"
	cmp src/segment app/current/segment
	# appending to a file that changed meanwhile is refused
	cce-sync manifest app >remote.jsonl
	printf 'tail' >>src/segment
	cce-sync pack src --against remote.jsonl >p.tar.zst
	flip_byte app/current/segment 5
	before=$(snap app)
	run_cce -65 cce-sync unpack app <p.tar.zst
	assert_stderr "after the append does not match its sha256"
	assert_equal "$(snap app)" "$before"
}

@test "sync unpack: a stream made against another manifest is refused whole" {
	deploy src app >/dev/null
	before=$(snap app)
	printf 'v2\n' >src/README
	cce-sync manifest src >wrong.jsonl   # claims the remote already has everything
	printf 'v3\n' >src/share/log
	run_cce -65 bash -c 'cce-sync pack src --against wrong.jsonl | cce-sync unpack app'
	assert_stderr "in the current release does not match the manifest"
	assert_equal "$(snap app)" "$before"
}

@test "sync unpack: limits --max-files and --max-size" {
	run_cce -65 bash -c 'cce-sync pack src | cce-sync unpack app --max-files 5'
	assert_stderr "manifest exceeds --max-files (5)"
	run_cce -65 bash -c 'cce-sync pack src | cce-sync unpack app --max-size 1000'
	assert_stderr "manifest exceeds --max-size (1000)"
	assert_file_not_exists app/current
}

@test "sync unpack: kill -9 leaves the live tree; the next run cleans the staging" {
	deploy src app >/dev/null
	before=$(snap app)
	head -c $((4 << 20)) /dev/urandom >src/big
	cce-sync manifest app >remote.jsonl
	cce-sync pack src --against remote.jsonl --level 1 >p.tar.zst
	# feed half the stream, then stall: unpack is mid-file when killed
	mkfifo fifo
	cce-sync unpack app <fifo 3>&- &
	pid=$!
	exec 4>fifo
	head -c $(($(stat -c %s p.tar.zst) / 2)) p.tar.zst >&4
	wait_for 5 bash -c 'ls -d app/.cce-sync.stage.* >/dev/null 2>&1'
	sleep 0.3
	kill -9 "$pid"
	wait "$pid" || true
	exec 4>&-
	ls -d app/.cce-sync.stage.*
	assert_equal "$(readlink app/current)" "$(cd app && cce-sync releases . | jq -r 'select(.current) | "releases/" + .release')"
	assert_equal "$(snap app/current/)" "$(snap "app/$(readlink app/current)/")"
	# the next run (here a failing one) removes the leftovers
	run_cce -65 cce-sync unpack app </dev/null
	run bash -c 'ls -d app/.cce-sync.stage.* 2>/dev/null'
	assert_output ""
	assert_equal "$(snap app)" "$before"
	run_cce cce-sync unpack app <p.tar.zst
	cmp src/big app/current/big
}

@test "sync unpack: kill -9 during --check; the next run removes the unfinished release" {
	deploy src app >/dev/null
	before=$(snap app)
	printf 'v2\n' >src/README
	cce-sync manifest app >remote.jsonl
	cce-sync pack src --against remote.jsonl >p.tar.zst
	cce-sync unpack app --check 'echo $$ >"$CCE_SYNC_DIR/../check.pid"; exec sleep 30' <p.tar.zst &
	pid=$!
	wait_for 10 test -s check.pid
	kill -9 "$pid"
	wait "$pid" || true
	kill -9 "$(cat check.pid)"
	assert_file_exists app/.cce-sync.pending
	assert_equal "$(ls app/releases | wc -l)" 2
	assert_equal "$(cat app/current/README)" hello
	run_cce -65 cce-sync unpack app </dev/null
	assert_equal "$(snap app)" "$before"
	run_cce cce-sync unpack app <p.tar.zst
	assert_equal "$(cat app/current/README)" v2
}

@test "sync unpack: SIGTERM while waiting on a stalled stream stops, cleans up, exits 143" {
	deploy src app >/dev/null
	before=$(snap app)
	cce-sync pack src --level 1 >p.tar.zst
	mkfifo fifo
	cce-sync unpack app <fifo 2>err &
	pid=$!
	exec 4>fifo
	head -c 400 p.tar.zst >&4
	wait_for 5 bash -c 'ls -d app/.cce-sync.stage.* >/dev/null 2>&1'
	sleep 0.2
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	exec 4>&-
	assert_equal "$rc" 143
	assert_equal "$(cat err)" "cce-sync: interrupted"
	assert_equal "$(snap app)" "$before"
}

@test "sync unpack: a full disk fails with 74 and leaves DIR as it was" {
	[ "$(id -u)" = 0 ] || skip "needs root for a small tmpfs"
	mkdir disk
	mount -t tmpfs -o size=3m tmpfs disk || skip "cannot mount a tmpfs"
	cce-sync pack src | cce-sync unpack disk/app >/dev/null
	before=$(snap disk/app)
	head -c $((5 << 20)) /dev/urandom >src/big
	cce-sync manifest disk/app >remote.jsonl
	run_cce -74 bash -c 'cce-sync pack src --against remote.jsonl | cce-sync unpack disk/app'
	assert_stderr "No space left on device"
	after=$(snap disk/app)
	run bash -c 'ls -d disk/app/.cce-sync.stage.* 2>/dev/null'
	umount disk
	assert_output ""
	assert_equal "$after" "$before"
}

@test "sync unpack: a concurrent run is refused with 75" {
	mkdir app
	flock app sleep 3 &
	pid=$!
	wait_for 2 bash -c '! flock -n app true'
	run_cce -75 bash -c 'cce-sync pack src | cce-sync unpack app'
	assert_stderr "is locked"
	kill "$pid" 2>/dev/null || true
	wait "$pid" || true
}

@test "sync verify: a changed, missing or extra file is reported" {
	deploy src app >/dev/null
	printf 'tampered\n' >>app/current/README
	rm app/current/share/log
	printf 'x\n' >app/current/intruder
	run_cce -1 cce-sync verify app
	assert_line '{"path":"README","problem":"changed"}'
	assert_line '{"path":"share/log","problem":"missing"}'
	assert_line '{"path":"intruder","problem":"extra"}'
	cce-sync manifest src >m.jsonl
	run_cce -1 cce-sync verify app --manifest m.jsonl
	run_cce -65 cce-sync verify src
}

@test "sync --progress: files, bytes and rate on a terminal, nothing when not one" {
	command -v script >/dev/null || skip "no script(1)"
	run script -qec "cce-sync pack src --progress >p.tar.zst" /dev/null
	assert_success
	assert_output --regexp "5 files, 0\.1 MiB, [0-9.]+ MiB/s"
	run script -qec "cce-sync unpack app --progress <p.tar.zst >/dev/null" /dev/null
	assert_output --regexp "5 files, 0\.1 MiB"
	run_cce bash -c 'cce-sync pack src --progress | cce-sync unpack app2 --progress'
	assert_equal "$stderr" ""
}

@test "sync: names with newlines, quotes, tabs and UTF-8 go through; non-UTF-8 names are left out" {
	mkdir odd
	printf 'a' >"odd/new
line"
	printf 'b' >"odd/ü \"q\"	tab"
	ln -s "new
line" odd/link
	printf 'c' >"odd/bad$(printf '\xff')name"
	run_cce bash -c 'cce-sync pack odd | LC_ALL=C cce-sync unpack app'
	assert_stderr "leaving out 'bad"
	assert_stderr "name is not UTF-8"
	assert_equal "$(cat "app/current/new
line")" a
	assert_equal "$(cat "app/current/ü \"q\"	tab")" b
	assert_equal "$(cat app/current/link)" a
	assert_equal "$(ls app/current | wc -l)" 4   # three names, one with a newline
	run_cce cce-sync verify app
}

@test "sync pack --rate-limit: over 10 s unpack receives the stream at the rate asked, within 10%, whole" {
	mkdir big
	head -c 1000000 /dev/urandom >big/noise # incompressible: the stream is its size
	local t0 t1 bytes
	# into the receiver, cce-sync unpack, as over ssh; timed from the start
	# to the last byte sent (not to the receiver's fsyncs)
	t0=$(date +%s.%N)
	{ cce-sync pack big --gzip --rate-limit 100K && date +%s.%N >t1; } | tee stream |
		cce-sync unpack app >report
	t1=$(cat t1)
	bytes=$(wc -c <stream)
	# the bucket starts full (16KiB at this rate) and goes at once, the
	# rest at the rate
	run awk -v b="$bytes" -v t0="$t0" -v t1="$t1" 'BEGIN {
		r = (b - 16384) / (t1 - t0) / 102400; printf "%.3f %.1f\n", r, t1 - t0 }'
	echo "achieved/asked, seconds: $output"
	awk '{ exit !($1 >= 0.9 && $1 <= 1.1 && $2 >= 8) }' <<<"$output"
	assert_equal "$(jq -r .added report)" 1
	assert_equal "$(snap app/current/)" "$(snap big)"
	run_cce -64 cce-sync unpack app2 --rate-limit 1K <stream
	assert_equal "${stderr_lines[0]}" "cce-sync: --rate-limit does not apply to 'unpack'"
}
