#!/usr/bin/env bats
# cce-register on etcds://: a one-member etcd that serves TLS only and
# requires client certificates, with a CA made for this file.

load lib/common
load register/etcd

setup_file() {
	local d=$BATS_FILE_TMPDIR
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/ca.key" -out "$d/ca.crt" -days 1 \
		-subj /CN=cce-test-ca 2>/dev/null
	local who
	for who in server client; do
		openssl req -newkey rsa:2048 -nodes -keyout "$d/$who.key" -out "$d/$who.csr" \
			-subj "/CN=cce-$who" 2>/dev/null
		# etcd's own gateway dials its gRPC side with the server's pair
		printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >"$d/$who.ext"
		openssl x509 -req -in "$d/$who.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
			-out "$d/$who.crt" -days 1 -extfile "$d/$who.ext" 2>/dev/null
	done
	local c p
	c=$(free_port)
	p=$(free_port)
	echo "$c" >"$d/port"
	(etcd --name tls --data-dir "$d/etcd-tls" \
		--listen-client-urls "https://127.0.0.1:$c" --advertise-client-urls "https://127.0.0.1:$c" \
		--listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
		--initial-cluster "tls=http://127.0.0.1:$p" \
		--cert-file "$d/server.crt" --key-file "$d/server.key" \
		--trusted-ca-file "$d/ca.crt" --client-cert-auth \
		>"$d/etcd-tls.log" 2>&1 3>&- &
	echo "$!" >"$d/etcd.pids")
	wait_for 30 curl -fsS --cacert "$d/ca.crt" --cert "$d/client.crt" --key "$d/client.key" \
		"https://127.0.0.1:$c/health" || {
		cat "$d/etcd-tls.log" >&3
		return 1
	}
}

teardown_file() {
	etcd_stop_all
}

setup() {
	common_setup
	local d=$BATS_FILE_TMPDIR
	export CCE_STORE="etcds://127.0.0.1:$(cat "$d/port")/tls-t$BATS_TEST_NUMBER"
	tls=(--cacert "$d/ca.crt" --cert "$d/client.crt" --key "$d/client.key")
}

@test "etcds: init, join and list over TLS with a client certificate" {
	run_cce cce-register "${tls[@]}" init
	local t
	t=$(cce-register token edge-1 | jq -r .token)
	run_cce cce-register "${tls[@]}" join edge-1 --token "$t" --addr 10.0.0.1
	run jq -r .event <<<"$output"
	assert_output joined
	run_cce cce-register "${tls[@]}" list -o addr
	assert_output 10.0.0.1
}

@test "etcds: without the CA or the client certificate the store is unavailable" {
	local d=$BATS_FILE_TMPDIR
	run_cce -69 cce-register --cert "$d/client.crt" --key "$d/client.key" list
	[[ "$stderr" == *"https://127.0.0.1:"* ]]
	run_cce -69 cce-register --cacert "$d/ca.crt" list
	[[ "$stderr" == *" alert "* ]]
}
