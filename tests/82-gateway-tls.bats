#!/usr/bin/env bats
# shellcheck disable=SC2154 # stderr comes from bats' run
# cce-gateway over HTTPS with a test CA (--cert, --key), and with client
# certificates required (--cacert): curl and cce-push as clients.

load lib/common
load push/helpers
load gateway/helpers

setup_file() {
	export PKI="$BATS_FILE_TMPDIR/pki"
	mkdir -p "$PKI"
	make_cert "$PKI"
	# a client certificate from the same CA, and one from another CA
	openssl req -newkey rsa:2048 -nodes -subj "/CN=edge-17" -keyout "$PKI/client.key" \
		-out "$PKI/client.csr" 2>/dev/null
	openssl x509 -req -in "$PKI/client.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" \
		-CAcreateserial -days 2 -out "$PKI/client.pem" 2>/dev/null
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=rogue" \
		-keyout "$PKI/rogue.key" -out "$PKI/rogue.pem" 2>/dev/null
}

# gw_start_tls OPTS...: like gw_start, over HTTPS
gw_start_tls() {
	GW_PORT=$(free_port)
	GW_STORE="$BATS_TEST_TMPDIR/store"
	GW_URL="https://127.0.0.1:$GW_PORT"
	export GW_PORT GW_STORE GW_URL
	cce-gateway --listen "127.0.0.1:$GW_PORT" --store "$GW_STORE" --cert "$PKI/server.pem" \
		--key "$PKI/server.key" "$@" >>"$BATS_TEST_TMPDIR/gw.out" 2>>"$BATS_TEST_TMPDIR/gw.err" &
	GW_PID=$!
	wait_for 30 curl -s -o /dev/null --cacert "$PKI/ca.pem" "$GW_URL/status" ||
		wait_for 5 eval "curl -s --cacert '$PKI/ca.pem' '$GW_URL/status' 2>&1 | grep -q certificate"
}

@test "HTTPS: curl and cce-push with the CA; plain HTTP is not answered" {
	gw_start_tls --auto-connect
	run gw_curl --cacert "$PKI/ca.pem" --data-binary '{"seq":1}' "$GW_URL/data/edge-17"
	assert_line --index 1 200
	seq 2 300 | jq -c '{seq: .}' >"$BATS_TEST_TMPDIR/in"
	run_cce cce-push --no-spool --cacert "$PKI/ca.pem" "$GW_URL/data/edge-17" "$BATS_TEST_TMPDIR/in"
	run curl -sf --cacert "$PKI/ca.pem" "$GW_URL/data/edge-17"
	assert_equal "$(jq -r .seq <<<"$output" | sort -n | uniq | wc -l)" 300
	run curl -sf "http://127.0.0.1:$GW_PORT/status"
	assert_failure
	gw_stop
}

@test "--cacert: a client certificate of that CA is required" {
	gw_start_tls --auto-connect --cacert "$PKI/ca.pem"
	run gw_curl --cacert "$PKI/ca.pem" --cert "$PKI/client.pem" --key "$PKI/client.key" "$GW_URL/status"
	assert_line --index 1 200
	run gw_curl --cacert "$PKI/ca.pem" "$GW_URL/status"
	refute_line --index 1 200
	run gw_curl --cacert "$PKI/ca.pem" --cert "$PKI/rogue.pem" --key "$PKI/rogue.key" "$GW_URL/status"
	refute_line --index 1 200
	run_cce cce-push --no-spool --cacert "$PKI/ca.pem" --cert "$PKI/client.pem" --key "$PKI/client.key" \
		"$GW_URL/data/edge-17" <<<'{"seq":1}'
	run curl -sf --cacert "$PKI/ca.pem" --cert "$PKI/client.pem" --key "$PKI/client.key" "$GW_URL/data/edge-17"
	assert_output --partial '"seq":1'
	gw_stop
}

@test "TLS options are checked: --cert without --key is a usage error, an unreadable one is 69" {
	run_cce -64 cce-gateway --cert "$PKI/server.pem"
	run_cce -64 cce-gateway --cacert "$PKI/ca.pem"
	run_cce -69 cce-gateway --listen "127.0.0.1:$(free_port)" --store "$BATS_TEST_TMPDIR/s" \
		--cert "$PKI/nope.pem" --key "$PKI/server.key"
	assert_equal "$stderr" "cce-gateway: cannot open '$PKI/nope.pem': No such file or directory"
}
