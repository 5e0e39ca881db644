# Starting and stopping etcd members for the cce-register tests, on free
# loopback ports, with data in the file's temp dir. Every member started is
# recorded in $BATS_FILE_TMPDIR/etcd.pids so teardown stops exactly those.

# etcd_start NAME CLIENT_PORT PEER_PORT INITIAL_CLUSTER
etcd_start() {
	local name=$1 cport=$2 pport=$3 cluster=$4
	# in a subshell, so that the killed member is no job of the test's shell
	(etcd --name "$name" --data-dir "$BATS_FILE_TMPDIR/etcd-$name" \
		--listen-client-urls "http://127.0.0.1:$cport" \
		--advertise-client-urls "http://127.0.0.1:$cport" \
		--listen-peer-urls "http://127.0.0.1:$pport" \
		--initial-advertise-peer-urls "http://127.0.0.1:$pport" \
		--initial-cluster "$cluster" \
		--initial-cluster-token "cce-$(cksum <<<"$cluster" | cut -d' ' -f1)" \
		--initial-cluster-state new \
		>"$BATS_FILE_TMPDIR/etcd-$name.log" 2>&1 3>&- &
	echo "$!" >"$BATS_FILE_TMPDIR/etcd-$name.pid")
	cat "$BATS_FILE_TMPDIR/etcd-$name.pid" >>"$BATS_FILE_TMPDIR/etcd.pids"
}

etcd_healthy() {
	curl -fsS "http://127.0.0.1:$1/health" 2>/dev/null | grep -q '"health":"true"'
}

etcd_stop_all() {
	local pid
	[ -f "$BATS_FILE_TMPDIR/etcd.pids" ] || return 0
	while read -r pid; do
		kill "$pid" 2>/dev/null || true
	done <"$BATS_FILE_TMPDIR/etcd.pids"
	while read -r pid; do
		while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
	done <"$BATS_FILE_TMPDIR/etcd.pids"
}
