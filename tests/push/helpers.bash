# Helpers for the cce-push suites (tests/3x-push-*.bats).

# gen N [FIRST]: N records {"i":k,"site":...,"msg":...}, k from FIRST (1)
gen() {
	awk -v n="$1" -v f="${2:-1}" 'BEGIN {
		for (k = f; k < f + n; k++)
			printf "{\"i\":%d,\"site\":\"s%d\",\"msg\":\"reading %d from the plant floor\"}\n", k, k % 3, k * 7
	}'
}

# same_records A B: the two files hold the same lines, as multisets
same_records() {
	diff <(sort "$1") <(sort "$2") >/dev/null || {
		echo "records differ: $(sort "$1" | wc -l) vs $(sort "$2" | wc -l) lines" >&2
		diff <(sort "$1") <(sort "$2") | head -5 >&2
		return 1
	}
}

# covers A B: every line of A is in B (at least once)
covers() {
	local missing
	missing=$(comm -23 <(sort -u "$1") <(sort -u "$2") | wc -l)
	[ "$missing" -eq 0 ] || { echo "$missing records of $1 missing from $2" >&2; return 1; }
}

# spool_files DIR: the segment files in a spool
spool_bytes() {
	cat "$1"/*.seg 2>/dev/null | wc -c
}

# close_fds: close every descriptor above 2 in this (sub)shell
close_fds() {
	local fd n
	for fd in /proc/$BASHPID/fd/*; do
		n=${fd##*/}
		[ "$n" -gt 2 ] && eval "exec $n>&-" 2>/dev/null
	done
	return 0
}

# nginx_start DIR CONF_BODY: run nginx in the foreground-less mode with a
# pid file under DIR; CONF_BODY goes inside http {}.
nginx_start() {
	local dir=$1 body=$2
	mkdir -p "$dir/logs" "$dir/tmp" "$dir/body" "$dir/put"
	cat >"$dir/nginx.conf" <<CONF
user root;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path $dir/body 1 2;
	proxy_temp_path $dir/tmp;
	fastcgi_temp_path $dir/tmp;
	uwsgi_temp_path $dir/tmp;
	scgi_temp_path $dir/tmp;
	client_max_body_size 64m;
	log_format push '\$http_idempotency_key \$request_body_file \$status';
$body
}
CONF
	# a daemon must not keep bats' descriptors open, or bats waits for it
	(close_fds; exec /usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log") \
		</dev/null >"$dir/logs/start.log" 2>&1 || { cat "$dir/logs/start.log" >&2; return 1; }
	wait_for 10 test -s "$dir/nginx.pid"
}

# pidfile_stop FILE: stop the daemon whose pid FILE holds (TERM, then KILL
# after 5 s) and remove FILE
pidfile_stop() {
	local file=$1 pid
	[ -s "$file" ] || return 0
	pid=$(cat "$file")
	kill "$pid" 2>/dev/null || true
	local i
	for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$file"
}

nginx_stop() {
	pidfile_stop "$1/nginx.pid"
}

# log_settled LOG: nginx logs a request a moment after it answered it, so
# the last line may come after cce-push exited: wait until the log stops
# growing (100ms without a change, 3s at most)
log_settled() {
	local i size prev=-1
	for i in $(seq 30); do
		size=$(stat -c %s "$1" 2>/dev/null || echo 0)
		[ "$size" = "$prev" ] && return 0
		prev=$size
		sleep 0.1
	done
}

# posted DIR LOG: from an access log of "KEY BODYFILE STATUS" lines, the
# records of the 2xx bodies, deduplicated by idempotency key, into stdout
posted_dedup() {
	local log=$1
	log_settled "$log"
	awk '$3 ~ /^2/ && !seen[$1]++ { print $2 }' "$log" | while read -r f; do cat "$f"; done
}
# every 2xx body, duplicates included
posted_all() {
	log_settled "$1"
	awk '$3 ~ /^2/ { print $2 }' "$1" | while read -r f; do cat "$f"; done
}

# make_cert DIR: a CA and a server certificate for 127.0.0.1 in DIR
make_cert() {
	local d=$1
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=cce test CA" \
		-keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null || return 1
	openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
		-keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null || return 1
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$d/ext.cnf"
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
		-CAcreateserial -days 2 -extfile "$d/ext.cnf" -out "$d/server.pem" 2>/dev/null
}

# stderr_has TEXT / stderr_like REGEX: about $stderr after run_cce
stderr_has() {
	[[ "$stderr" == *"$1"* ]] || { printf 'stderr lacks: %s\nstderr: %s\n' "$1" "$stderr" >&2; return 1; }
}
stderr_like() {
	[[ "$stderr" =~ $1 ]] || { printf 'stderr does not match: %s\nstderr: %s\n' "$1" "$stderr" >&2; return 1; }
}
spool_nonempty() {
	[ "$(spool_bytes "$1")" -gt 0 ]
}

# mosquitto_start DIR PORT TLS_PORT: a broker with a password file (user
# edge, password pa55word; an ACL denies it forbidden/#) on PORT and TLS on TLS_PORT (certs from
# make_cert in DIR), persistence in DIR
mosquitto_start() {
	local dir=$1 port=$2 tls=$3
	[ -f "$dir/passwd" ] || {
		touch "$dir/passwd"
		mosquitto_passwd -b "$dir/passwd" edge pa55word || return 1
	}
	# everything but forbidden/# for edge. The queue limit is large but not
	# 0 (unlimited): with 0, mosquitto 2.0.11 drops an MQTT 5 client whose
	# publish the ACL denies instead of answering "not authorized".
	printf 'user edge\ntopic deny forbidden/#\ntopic readwrite #\n' >"$dir/acl"
	cat >"$dir/mosquitto.conf" <<CONF
user root
per_listener_settings false
allow_anonymous false
password_file $dir/passwd
acl_file $dir/acl
persistence true
persistence_location $dir/
max_queued_messages 100000
pid_file $dir/mosquitto.pid
log_dest file $dir/mosquitto.log
listener $port 127.0.0.1
listener $tls 127.0.0.1
cafile $dir/ca.pem
certfile $dir/server.pem
keyfile $dir/server.key
CONF
	rm -f "$dir/mosquitto.pid"
	(close_fds; exec /usr/sbin/mosquitto -d -c "$dir/mosquitto.conf") </dev/null >/dev/null 2>&1 || return 1
	wait_for 10 test -s "$dir/mosquitto.pid" &&
		wait_for 10 bash -c "echo >/dev/tcp/127.0.0.1/$port" 2>/dev/null
}

mosquitto_stop() {
	pidfile_stop "$1/mosquitto.pid"
}

# small_tmpfs SIZE: a tmpfs of SIZE mounted at $MNT (exported, so that the
# test files' teardown unmounts it), or the test is skipped
small_tmpfs() {
	export MNT="$BATS_TEST_TMPDIR/mnt"
	mkdir -p "$MNT"
	mount -t tmpfs -o "size=$1" tmpfs "$MNT" || skip "cannot mount a tmpfs here"
}

# kill_rounds N MAX_MS CMD...: N times, start CMD in the background and
# kill -9 it after a random 5 to MAX_MS milliseconds
kill_rounds() {
	local n=$1 max=$2 round pid
	shift 2
	for round in $(seq "$n"); do
		"$@" &
		pid=$!
		sleep "$(printf '0.%03d' $((RANDOM % (max - 4) + 5)))"
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" || true
	done
}
