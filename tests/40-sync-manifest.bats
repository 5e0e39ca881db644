#!/usr/bin/env bats
# cce-sync manifest, diff and pack, and the peers that read what pack writes.

load lib/common
load sync/helpers

setup() {
	common_setup
	cd "$BATS_TEST_TMPDIR"
	mktree src
}

@test "sync: --help lists every subcommand; bad usage exits 64" {
	run_cce cce-sync --help
	for s in manifest diff pack unpack rollback releases verify keygen; do
		assert_line --partial "usage: cce-sync $s"
	done
	run_cce -64 cce-sync
	assert_output ""
	run_cce -64 cce-sync frobnicate src
	assert_stderr "cce-sync: unknown subcommand 'frobnicate'"
	run_cce -64 cce-sync manifest src --gzip
	assert_output ""
	run_cce -64 cce-sync unpack d --mode sideways
	run_cce -64 cce-sync unpack d --max-size 12zz
	run_cce -64 cce-sync pack src --level 99
	run_cce -64 cce-sync keygen
	run_cce -64 cce-sync diff onlyone
}

@test "sync: linked against Debian's patched libarchive (3.6.2-1+deb12u4 or later)" {
	command -v dpkg-query >/dev/null || skip "not a Debian system"
	lib=$(ldd "$(command -v cce-sync)" | awk '/libarchive/ {print $3}')
	[ -n "$lib" ]
	pkg=$(dpkg-query -S "$(readlink -f "$lib")" | cut -d: -f1-2 | head -1)
	v=$(dpkg-query -W -f '${Version}' "$pkg")
	dpkg --compare-versions "$v" ge 3.6.2-1+deb12u4 || fail "libarchive $v lacks the deb12u4 fixes"
}

@test "sync manifest: one sorted line per entry with types, sizes, modes, hashes, targets" {
	run_cce cce-sync manifest src
	assert_equal "${#lines[@]}" 12
	# sorted by path, byte order
	assert_equal "$(printf '%s\n' "$output" | jq -r .path)" "$(printf '%s\n' "$output" | jq -r .path | LC_ALL=C sort)"
	run jq -c 'select(.path=="share/readme") | [.type,.mode,.target,(.mtime|type)]' <<<"$output"
	assert_output '["symlink","0777","../README","number"]'
	run_cce cce-sync manifest src
	sha=$(sha256sum src/lib/sub/data | cut -d' ' -f1)
	run jq -c 'select(.path=="lib/sub/data") | [.type,.size,.mode,.sha256]' <<<"$output"
	assert_output "[\"file\",100000,\"0644\",\"$sha\"]"
	run_cce cce-sync manifest src
	run jq -c 'select(.path=="bin/selftest") | .mode' <<<"$output"
	assert_output '"0755"'
	run_cce cce-sync manifest src
	run jq -c 'select(.path=="empty") | .type' <<<"$output"
	assert_output '"dir"'
}

@test "sync manifest --cache: re-hashes only what changed, same output" {
	run_cce cce-sync manifest src --cache cache
	first=$output
	assert_file_exists cache
	assert_equal "$(stat -c %a cache)" 600
	ino=$(stat -c %i cache)
	run_cce cce-sync manifest src --cache cache
	assert_equal "$output" "$first"
	# nothing changed: the cache is not rewritten
	assert_equal "$(stat -c %i cache)" "$ino"
	# a cache entry that lies about a file that changed size/mtime is ignored
	printf 'changed\n' >src/README
	run_cce cce-sync manifest src --cache cache
	run jq -r 'select(.path=="README") | .sha256' <<<"$output"
	assert_output "$(sha256sum src/README | cut -d' ' -f1)"
	# a poisoned cache entry for an unchanged (ino,size,mtime) is trusted:
	# that is the point of a cache, and why it lives under the user's control
	sed -i 's/^[0-9a-f]\{64\} \(.* share\/log\)$/0000000000000000000000000000000000000000000000000000000000000000 \1/' cache
	run_cce cce-sync manifest src --cache cache
	run jq -r 'select(.path=="share/log") | .sha256' <<<"$output"
	assert_output 0000000000000000000000000000000000000000000000000000000000000000
	# a garbage cache is ignored, not fatal
	printf 'garbage\n\x00\xff\n' >cache
	run_cce cce-sync manifest src --cache cache
	run jq -r 'select(.path=="share/log") | .sha256' <<<"$output"
	assert_output "$(sha256sum src/share/log | cut -d' ' -f1)"
}

@test "sync manifest: a missing directory is an I/O error" {
	run_cce -74 cce-sync manifest nowhere
	assert_output ""
	assert_equal "$stderr" "cce-sync: cannot open 'nowhere': No such file or directory"
}

@test "sync diff: add, modify, delete, meta" {
	cce-sync manifest src >old.jsonl
	printf 'new\n' >src/new
	printf 'other\n' >src/README
	rm src/share/log
	chmod 0700 src/bin/selftest
	touch -d '2020-01-01' src/lib/sub/data
	cce-sync manifest src >new.jsonl
	run_cce cce-sync diff old.jsonl new.jsonl
	run jq -c '[.op,.path]' <<<"$output"
	assert_line '["modify","README"]'
	assert_line '["meta","bin/selftest"]'
	assert_line '["meta","lib/sub/data"]'
	assert_line '["add","new"]'
	assert_line '["delete","share/log"]'
	run_cce cce-sync diff new.jsonl new.jsonl
	assert_output ""
	printf '{"path":1}\n' >bad.jsonl
	run_cce -65 cce-sync diff bad.jsonl new.jsonl
	assert_stderr "bad.jsonl: manifest line 1: path: expected a string, got number"
}

@test "sync: a path or symlink target holding U+0000 is refused, naming the field" {
	local sha
	sha=$(printf 'x\n' | sha256sum | cut -d' ' -f1)
	printf '{"path":"a\\u0000b","type":"file","size":2,"mode":"0644","mtime":1,"sha256":"%s"}\n' "$sha" >nul.jsonl
	printf '{"path":"l","type":"symlink","mode":"0777","mtime":1,"target":"a\\u0000b"}\n' >nult.jsonl
	: >empty.jsonl
	run_cce -65 cce-sync diff empty.jsonl nul.jsonl
	assert_equal "$stderr" 'cce-sync: nul.jsonl: manifest line 1: path: contains a NUL character'
	run_cce -65 cce-sync diff empty.jsonl nult.jsonl
	assert_equal "$stderr" 'cce-sync: nult.jsonl: manifest line 1: target: contains a NUL character'
	# in a stream: the manifest, and the ops
	mkdir -p x/.cce
	printf 'x\n' >x/a
	cp nul.jsonl x/.cce/manifest.jsonl
	printf '{"op":"add","path":"a\\u0000b","size":2,"sha256":"%s"}\n' "$sha" >x/.cce/ops.jsonl
	(cd x && tar --zstd -cf ../s .cce/manifest.jsonl .cce/ops.jsonl a)
	run_cce -65 cce-sync unpack dst <s
	assert_equal "$stderr" 'cce-sync: refused: manifest line 1: path: contains a NUL character'
	printf '{"path":"a","type":"file","size":2,"mode":"0644","mtime":1,"sha256":"%s"}\n' "$sha" \
		>x/.cce/manifest.jsonl
	(cd x && tar --zstd -cf ../s .cce/manifest.jsonl .cce/ops.jsonl a)
	run_cce -65 cce-sync unpack dst <s
	assert_equal "$stderr" 'cce-sync: ops line 1: path: contains a NUL character'
	run ls -A dst
	assert_output ""
}

@test "sync diff --dir: a file that grew from the old one is an append; a rewritten one a modify" {
	seq 1000 >src/share/grow
	seq 1000 >src/share/rewrite
	cce-sync manifest src >old.jsonl
	seq 1001 1100 >>src/share/grow
	{ echo 0; seq 1100; } >src/share/rewrite
	cce-sync manifest src >new.jsonl
	run_cce cce-sync diff old.jsonl new.jsonl --dir src
	run jq -c 'select(.path | startswith("share/")) | [.op,.path,.offset]' <<<"$output"
	assert_line '["append","share/grow",3893]'
	assert_line '["modify","share/rewrite",null]'
	# without the tree, a manifest alone cannot tell
	run_cce cce-sync diff old.jsonl new.jsonl
	run jq -c 'select(.path == "share/grow") | .op' <<<"$output"
	assert_output '"modify"'
	run_cce -74 cce-sync diff old.jsonl new.jsonl --dir nowhere
	assert_stderr "cce-sync: --dir 'nowhere': No such file or directory"
	run_cce -74 cce-sync diff old.jsonl new.jsonl --dir old.jsonl
	assert_stderr "cce-sync: --dir 'old.jsonl': not a directory"
	run_cce -64 cce-sync manifest src --dir src
	assert_stderr "--dir does not apply to 'manifest'"
	# files are read under --dir only: a path that would leave it, or a
	# symlink on the way, makes a modify (the file outside is a prefix of
	# the new one, and must not be read to say so)
	seq 1000 >outside
	ln -s .. src/up
	jq -c 'if .path == "share/grow" then .path = "../outside" else . end' old.jsonl >evil-old.jsonl
	jq -c 'if .path == "share/grow" then .path = "../outside" else . end' new.jsonl >evil-new.jsonl
	run_cce cce-sync diff evil-old.jsonl evil-new.jsonl --dir src
	run jq -c 'select(.path == "../outside") | .op' <<<"$output"
	assert_output '"modify"'
	jq -c 'if .path == "share/grow" then .path = "up/outside" else . end' old.jsonl >evil-old.jsonl
	jq -c 'if .path == "share/grow" then .path = "up/outside" else . end' new.jsonl >evil-new.jsonl
	run_cce cce-sync diff evil-old.jsonl evil-new.jsonl --dir src
	run jq -c 'select(.path == "up/outside") | .op' <<<"$output"
	assert_output '"modify"'
}

@test "sync pack: GNU tar, bsdtar and zstd read the stream; the tree comes out whole" {
	cce-sync pack src >p.tar.zst
	run zstd -t p.tar.zst
	assert_success
	run tar --zstd -tf p.tar.zst
	assert_line ".cce/manifest.jsonl"
	assert_line ".cce/ops.jsonl"
	assert_line "lib/sub/data"
	mkdir gnu bsd
	tar --zstd -xf p.tar.zst -C gnu
	bsdtar -xf p.tar.zst -C bsd
	for f in README bin/selftest lib/sub/data "share/a file" share/log; do
		cmp "src/$f" "gnu/$f"
		cmp "src/$f" "bsd/$f"
	done
	assert_equal "$(stat -c %a gnu/bin/selftest)" 755
	# the manifest inside is the tree's manifest
	run diff <(cce-sync manifest src) gnu/.cce/manifest.jsonl
	assert_success
	# streamed through a pipe: no padding after the zstd frame
	cce-sync pack src | zstd -d | tar -t >/dev/null
}

@test "sync pack --gzip and --level: gzip and tar read it" {
	cce-sync pack src --gzip --level 9 >p.tgz
	run gzip -t p.tgz
	assert_success
	run tar -tzf p.tgz
	assert_line "README"
	cce-sync pack src --zstd --level 19 | zstd -t
}

@test "sync pack --against: only what changed; a grown file ships only its tail" {
	head -c 1000000 /dev/urandom >src/big.log
	cce-sync manifest src >remote.jsonl
	head -c 1000 /dev/urandom >>src/big.log
	printf 'x\n' >src/README
	cce-sync pack src --against remote.jsonl >p.tar.zst
	run tar --zstd -tvf p.tar.zst
	refute_line --partial "lib/sub/data"
	assert_line --regexp " 1000 .* big\.log$"
	tar --zstd -xOf p.tar.zst .cce/ops.jsonl >ops.jsonl
	run jq -c '[.op,.path,.offset]' ops.jsonl
	assert_line '["append","big.log",1000000]'
	assert_line '["modify","README",null]'
	assert_equal "${#lines[@]}" 2
	# the stream is small: 1000 random bytes plus metadata
	[ "$(stat -c %s p.tar.zst)" -lt 4000 ]
	# a file whose first bytes changed is not an append
	cce-sync manifest src >remote.jsonl
	flip_byte src/big.log 10
	printf 'more' >>src/big.log
	cce-sync pack src --against remote.jsonl | tar --zstd -xOf - .cce/ops.jsonl >ops.jsonl
	run jq -c '[.op,.path]' ops.jsonl
	assert_output '["modify","big.log"]'
}

@test "sync pack: setuid bits are stripped with a warning; a bad --against is refused" {
	chmod 4755 src/bin/selftest
	run --separate-stderr bash -c 'cce-sync pack src >/dev/null'
	assert_success
	assert_stderr "cce-sync: stripping setuid, setgid and sticky bits from 'bin/selftest'"
	cce-sync pack src -q | tar --zstd -xOf - .cce/manifest.jsonl >m.jsonl
	run jq -r 'select(.path=="bin/selftest") | .mode' m.jsonl
	assert_output "0755"
	printf 'not json\n' >bad.jsonl
	run_cce -65 cce-sync pack src --against bad.jsonl
	assert_output ""
	run_cce -74 cce-sync pack nowhere
}

@test "sync pack: stdout closed early is not an error worth a crash" {
	head -c 3000000 /dev/urandom >src/big
	run bash -c 'cce-sync pack src | head -c 100 >/dev/null; echo "${PIPESTATUS[0]}"'
	# the contract: a reader that went away stops the writer quietly
	assert_output 0
}
