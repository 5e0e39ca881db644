#!/usr/bin/env bats
# cce-sync unpack against hostile streams: every one is refused with a
# reason, and leaves DIR byte-identical and nothing written outside it.

load lib/common
load sync/helpers

setup() {
	common_setup
	cd "$BATS_TEST_TMPDIR"
	mktree src
	mkdir outside
	cce-sync pack src | cce-sync unpack outside/app >/dev/null
	mkdir -p outside/data
	printf 'keep\n' >outside/data/mine
	cce-sync pack src | cce-sync unpack outside/data --mode merge >/dev/null
	BEFORE=$(snap outside)
}

# refused STREAMFILE REASON [unpack options]: refused (65) in release and in
# merge mode with REASON on stderr, and nothing changed anywhere
refused() {
	local stream=$1 reason=$2
	shift 2
	for mode in release merge mirror; do
		run_cce -65 cce-sync unpack outside/app --mode "$mode" "$@" <"$stream"
		assert_output ""
		assert_stderr "$reason"
		assert_equal "$(snap outside)" "$BEFORE"
	done
	run_cce -65 cce-sync unpack outside/data --mode merge "$@" <"$stream"
	assert_equal "$(snap outside)" "$BEFORE"
	assert_file_not_exists "$BATS_TEST_TMPDIR/evil"
	assert_file_not_exists "$BATS_TEST_TMPDIR/outside/evil"
}

hostile() {
	python3 "$HOSTILE" "$@" | zstd -q
}

@test "sync hostile: '..' traversal, in the manifest and in the stream" {
	hostile traversal >s
	refused s "refused: manifest line 1: '..' component '../evil'"
	hostile traversal-stream >s
	refused s "refused: '../evil': '..' component"
}

@test "sync hostile: absolute paths, in the manifest and in the stream" {
	hostile absolute "$BATS_TEST_TMPDIR/evil" >s
	refused s "absolute path '$BATS_TEST_TMPDIR/evil'"
	hostile absolute-stream "$BATS_TEST_TMPDIR/evil" >s
	refused s "refused: '$BATS_TEST_TMPDIR/evil': absolute path"
}

@test "sync hostile: symlinks out: absolute, in two steps, and a file through a symlink" {
	hostile symlink-absolute >s
	refused s "symlink 'etc' -> '/etc' points outside the tree"
	# d/up -> .. is inside; esc -> d/up/.. reads as "d" but resolves to ..
	hostile symlink-escape >s
	refused s "symlink 'esc' -> 'd/up/..' points outside the tree"
	hostile symlink-then-file >s
	refused s "symlink 'out' -> '..' points outside the tree"
	hostile symlink-in-stream >s
	refused s "refused: 'out' is a symlink"
}

@test "sync hostile: a symlink loop is refused as a loop (ELOOP), naming the link" {
	mkdir loop
	ln -s l2 loop/l1
	ln -s l1 loop/l2
	cce-sync pack loop >s
	refused s "refused: symlink 'l1' -> 'l2' leads into a symlink loop: Too many levels of symbolic links"
	rm -r loop
	mkdir -p loop/d
	ln -s d/../l1 loop/l1
	cce-sync pack loop >s
	refused s "refused: symlink 'l1' -> 'd/../l1' leads into a symlink loop: Too many levels of symbolic links"
	# no loop, but more links in a row than the kernel follows
	rm -r loop
	mkdir loop
	printf 'x\n' >loop/l41
	for i in $(seq 0 40); do ln -s "l$((i + 1))" "loop/l$i"; done
	cce-sync pack loop >s
	refused s "refused: symlink 'l0' -> 'l1': Too many levels of symbolic links"
}

@test "sync hostile: hard link, device node, FIFO" {
	hostile hardlink >s
	refused s "refused: 'h' is a hard link"
	hostile device >s
	refused s "refused: 'null' is a character device"
	hostile fifo >s
	refused s "refused: 'fifo' is a FIFO"
}

@test "sync hostile: setuid in the manifest or in the stream is refused" {
	hostile setuid >s
	refused s "setuid, setgid or sticky mode 4755 on 'su'"
	hostile setuid-stream >s
	refused s "refused: 'su' has setuid, setgid or sticky bits"
}

@test "sync hostile: a 10,000x compression bomb" {
	hostile bomb >s
	# 100 MiB of zeros in a few KiB
	[ $(((100 << 20) / $(stat -c %s s))) -ge 10000 ]
	refused s "refused: 'bomb' has 104857600 bytes in the stream, the manifest says 10"
	hostile bomb-honest >s
	refused s "manifest exceeds --max-size (10485760)" --max-size 10MiB
}

@test "sync hostile: entries not in the manifest, a path twice, no parent, a wrong hash" {
	hostile not-in-manifest >s
	refused s "refused: 'extra' is not a file of the manifest"
	hostile twice-manifest >s
	refused s "manifest names 'ok' twice"
	hostile twice-stream >s
	refused s "refused: 'ok' is twice in the stream"
	hostile no-parent >s
	refused s "'a/b' has no parent directory in the manifest"
	hostile wrong-hash >s
	refused s "refused: 'ok' does not match its sha256 in the manifest"
}

@test "sync hostile: truncated stream and a flipped byte" {
	python3 -c 'import random,sys; r=random.Random(8); sys.stdout.buffer.write(bytes(r.getrandbits(8) for _ in range(200000)))' >src/random
	cce-sync pack src >good
	head -c $(($(stat -c %s good) * 2 / 3)) good >s
	refused s "cannot read the stream"
	cp good s
	printf '\x55' | dd of=s bs=1 seek=$(($(stat -c %s good) / 2)) conv=notrunc status=none
	cmp -s good s && fail "the byte did not change"
	for mode in release merge mirror; do
		run_cce ! cce-sync unpack outside/app --mode "$mode" <s
		assert_equal "$(snap outside)" "$BEFORE"
	done
	# the same with gzip, whose CRC catches it too
	cce-sync pack src --gzip >good
	head -c 5000 good >s
	refused s "cannot read the stream"
}

@test "sync hostile: wrong key, unsigned, and a manifest changed after signing" {
	cce-sync keygen --out k
	cce-sync keygen --out other
	printf 'v2\n' >src/README
	cce-sync pack src --sign other >s
	refused s "bad signature" --verify k.pub
	cce-sync pack src >s
	refused s "refused: the stream is not signed and --verify is given" --verify k.pub
	# a signed stream whose manifest was swapped for another one
	cce-sync pack src --sign k >good
	mkdir x && tar --zstd -xf good -C x
	printf 'evil\n' >x/README
	jq -c 'if .path=="README" then .sha256="'"$(sha256sum <x/README | cut -d' ' -f1)"'" | .size=5 else . end' \
		x/.cce/manifest.jsonl >m && mv m x/.cce/manifest.jsonl
	(cd x && tar --zstd -cf ../s .cce/manifest.jsonl .cce/ops.jsonl .cce/signature README)
	refused s "bad signature" --verify k.pub
	# and the good one passes
	run_cce cce-sync unpack outside/app --verify k.pub <good
}

@test "sync hostile: archives made by GNU tar, and garbage, are not cce-sync streams" {
	tar --zstd -cf s -C src .
	refused s "not a cce-sync stream"
	tar -cf s -C src README
	refused s "not a cce-sync stream (first entry 'README'"
	head -c 10000 /dev/urandom >s
	refused s "cannot read the stream"
	: >s
	refused s "cannot read the stream"
	# xz is not among the filters a stream may use
	tar -cJf s -C src README
	refused s "cannot read the stream"
}
