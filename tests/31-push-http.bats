#!/usr/bin/env bats
# cce-push to HTTP and HTTPS, against a real nginx on loopback: POST bodies
# kept by nginx as files and logged with their Idempotency-Key, PUT stored
# by the dav module, TLS with a test CA, bearer and basic auth, gzip.

load lib/common
load push/helpers

setup_file() {
	export NGX="$BATS_FILE_TMPDIR/nginx"
	mkdir -p "$NGX"
	make_cert "$NGX"
	printf 'edge:%s\n' "$(openssl passwd -apr1 pa55word)" >"$NGX/htpasswd"
	export PORT=$(free_port) TLS_PORT=$(free_port) BACK_PORT=$(free_port)
	nginx_start "$NGX" "
	log_format rate '\$msec \$request_length \$status';
	server {
		listen 127.0.0.1:$BACK_PORT;
		location / { return 200 'ok'; }
	}
	server {
		listen 127.0.0.1:$PORT;
		listen 127.0.0.1:$TLS_PORT ssl;
		ssl_certificate $NGX/server.pem;
		ssl_certificate_key $NGX/server.key;
		client_body_in_file_only on;
		location /ingest {
			access_log $NGX/logs/ingest.log push;
			proxy_pass http://127.0.0.1:$BACK_PORT;
		}
		location /auth {
			access_log $NGX/logs/auth.log push;
			if (\$http_authorization != 'Bearer s3cret-token') { return 401; }
			proxy_pass http://127.0.0.1:$BACK_PORT;
		}
		location /basic {
			access_log $NGX/logs/basic.log push;
			auth_basic test;
			auth_basic_user_file $NGX/htpasswd;
			proxy_pass http://127.0.0.1:$BACK_PORT;
		}
		location /hdr {
			access_log $NGX/logs/hdr.log push;
			if (\$http_x_edge != 'gw-17') { return 400; }
			proxy_pass http://127.0.0.1:$BACK_PORT;
		}
		location /gz {
			access_log $NGX/logs/gz.log push;
			if (\$http_content_encoding != 'gzip') { return 415; }
			proxy_pass http://127.0.0.1:$BACK_PORT;
		}
		location /rate {
			access_log $NGX/logs/rate.log rate;
			proxy_pass http://127.0.0.1:$BACK_PORT;
		}
		location /par {
			access_log $NGX/logs/par.log push;
			proxy_pass http://127.0.0.1:$BACK_PORT;
		}
		location /store/ {
			root $NGX/put;
			dav_methods PUT;
			create_full_put_path on;
		}
	}"
}

teardown_file() {
	nginx_stop "$NGX"
}

@test "POST: every record arrives once, as NDJSON with an Idempotency-Key" {
	gen 3000 >"$BATS_TEST_TMPDIR/in"
	run_cce cce-push --receipts "http://127.0.0.1:$PORT/ingest" "$BATS_TEST_TMPDIR/in"
	[ "${#lines[@]}" -eq 6 ]
	local ids
	ids=$(jq -r .batch <<<"$output" | sort)
	# the keys nginx saw are the batch ids of the receipts
	diff <(echo "$ids") <(awk '{print $1}' "$NGX/logs/ingest.log" | sort | grep -Fx -f <(echo "$ids"))
	posted_dedup "$NGX/logs/ingest.log" | grep -Fx -f "$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/got"
	same_records "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/got"
	jq -e -s 'all(.status == 200 and .attempts == 1 and .records == 500)' <<<"$output"
}

@test "--parallel 2: every record delivered, dedup by batch id gives exactly the input" {
	gen 20000 >"$BATS_TEST_TMPDIR/in"
	run_cce cce-push --parallel 2 --receipts --batch-records 100 --spool "$BATS_TEST_TMPDIR/sp" \
		"http://127.0.0.1:$PORT/par" "$BATS_TEST_TMPDIR/in"
	# one receipt per batch, each id once, each a 2xx of 100 records
	[ "${#lines[@]}" -eq 200 ]
	[ "$(jq -r .batch <<<"$output" | sort -u | wc -l)" -eq 200 ]
	jq -e -s 'all(.status == 200 and .records == 100)' <<<"$output"
	# nginx saw exactly the receipts' ids, and their bodies are the input
	# (it logs a request a moment after it answered)
	wait_for 5 eval "[ \$(awk '\$3 == 200' '$NGX/logs/par.log' | wc -l) -ge 200 ]"
	diff <(jq -r .batch <<<"$output" | sort) <(awk '$3 == 200 {print $1}' "$NGX/logs/par.log" | sort -u)
	posted_dedup "$NGX/logs/par.log" >"$BATS_TEST_TMPDIR/got"
	same_records "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/got"
	# every batch acknowledged: the spool holds nothing
	[ "$(spool_bytes "$BATS_TEST_TMPDIR/sp")" -eq 0 ]
}

@test "PUT with {batch}: one object per batch, named by its id" {
	gen 1000 >"$BATS_TEST_TMPDIR/in"
	run_cce cce-push --receipts --method PUT --batch-records 300 \
		"http://127.0.0.1:$PORT/store/edge-17/{batch}.ndjson" "$BATS_TEST_TMPDIR/in"
	[ "${#lines[@]}" -eq 4 ]
	local id
	for id in $(jq -r .batch <<<"$output"); do
		[ -s "$NGX/put/store/edge-17/$id.ndjson" ]
	done
	jq -r .batch <<<"$output" | sed "s|.*|$NGX/put/store/edge-17/&.ndjson|" | xargs cat >"$BATS_TEST_TMPDIR/got"
	cmp "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/got"
}

@test "{field} in an HTTP path is percent-encoded, one request per site" {
	printf '{"site":"north/1","v":1}\n{"site":"s p","v":2}\n{"site":"north/1","v":3}\n' >"$BATS_TEST_TMPDIR/in"
	run_cce cce-push --receipts --method PUT "http://127.0.0.1:$PORT/store/{site}/{batch}" "$BATS_TEST_TMPDIR/in"
	[ "${#lines[@]}" -eq 2 ]
	assert_output --partial '/store/north%2F1/'
	assert_output --partial '/store/s%20p/'
	# nginx decodes the path it stores under
	cat "$NGX"/put/store/north/1/* | cmp - <(printf '{"site":"north/1","v":1}\n{"site":"north/1","v":3}\n')
	cat "$NGX/put/store/s p"/* | cmp - <(printf '{"site":"s p","v":2}\n')
}

@test "HTTPS with the test CA; an unknown CA is retried, --insecure passes" {
	gen 200 50000 >"$BATS_TEST_TMPDIR/in"
	run_cce cce-push --cacert "$NGX/ca.pem" "https://127.0.0.1:$TLS_PORT/ingest" "$BATS_TEST_TMPDIR/in"
	posted_dedup "$NGX/logs/ingest.log" | grep -Fx -f "$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/got"
	same_records "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/got"
	gen 5 90000 >"$BATS_TEST_TMPDIR/in2"
	run_cce -75 cce-push --spool "$BATS_TEST_TMPDIR/sp" --retry-for 300ms --backoff 50ms \
		"https://127.0.0.1:$TLS_PORT/ingest" "$BATS_TEST_TMPDIR/in2"
	stderr_has "certificate"
	run_cce cce-push --drain --insecure --spool "$BATS_TEST_TMPDIR/sp" "https://127.0.0.1:$TLS_PORT/ingest"
	posted_dedup "$NGX/logs/ingest.log" | grep -Fx -f "$BATS_TEST_TMPDIR/in2" >"$BATS_TEST_TMPDIR/got2"
	same_records "$BATS_TEST_TMPDIR/in2" "$BATS_TEST_TMPDIR/got2"
}

@test "secrets from files: bearer token, basic auth user file, extra headers" {
	local d=$BATS_TEST_TMPDIR
	gen 10 >"$d/in"
	echo 's3cret-token' >"$d/token"
	run_cce cce-push --bearer-file "$d/token" "http://127.0.0.1:$PORT/auth" "$d/in"
	posted_dedup "$NGX/logs/auth.log" | cmp - "$d/in"
	echo 'edge:pa55word' >"$d/user"
	run_cce cce-push --user-file "$d/user" "http://127.0.0.1:$PORT/basic" "$d/in"
	posted_dedup "$NGX/logs/basic.log" | cmp - "$d/in"
	printf 'X-Edge: gw-17\n' >"$d/hdrs"
	run_cce cce-push --header-file "$d/hdrs" "http://127.0.0.1:$PORT/hdr" "$d/in"
	run_cce cce-push -H 'X-Edge: gw-17' "http://127.0.0.1:$PORT/hdr" "$d/in"
	[ "$(awk '$3 == 200' "$NGX/logs/hdr.log" | wc -l)" -eq 2 ]
	# a wrong token is a permanent 401: dead letter, exit 1
	echo 'wrong' >"$d/bad"
	run_cce -1 cce-push --bearer-file "$d/bad" --dead-letter "$d/dead" "http://127.0.0.1:$PORT/auth" "$d/in"
	stderr_has "HTTP 401"
	cmp "$d/in" "$d/dead"
}

@test "--gzip sends Content-Encoding: gzip with a body that gunzips to the batch" {
	gen 500 >"$BATS_TEST_TMPDIR/in"
	run_cce cce-push --gzip "http://127.0.0.1:$PORT/gz" "$BATS_TEST_TMPDIR/in"
	awk '$3 == 200 {print $2}' "$NGX/logs/gz.log" | xargs cat | gunzip | cmp - "$BATS_TEST_TMPDIR/in"
}

@test "--rate-limit: over 10 s nginx receives the records at the rate asked, within 10%" {
	gen 40000 >"$BATS_TEST_TMPDIR/in"
	local size rate
	size=$(wc -c <"$BATS_TEST_TMPDIR/in")
	rate=$((size / 10)) # about 10 s of sending
	run_cce cce-push --receipts --batch-bytes 32K --rate-limit "$rate" \
		"http://127.0.0.1:$PORT/rate" "$BATS_TEST_TMPDIR/in"
	[ "$(jq -s 'map(.records) | add' <<<"$output")" -eq 40000 ]
	wait_for 5 eval "[ \$(wc -l <'$NGX/logs/rate.log') -ge ${#lines[@]} ]"
	# the rate nginx saw between its first request and its last: what came
	# after the first, over the time between them (each request counts its
	# headers too, a few hundred bytes of 32K)
	run awk -v rate="$rate" 'NR == 1 { t0 = $1; next } { bytes += $2; t1 = $1 }
		END { r = bytes / (t1 - t0) / rate; printf "%.3f %.1f\n", r, t1 - t0 }' "$NGX/logs/rate.log"
	echo "achieved/asked, seconds: $output"
	awk '{ exit !($1 >= 0.9 && $1 <= 1.1 && $2 >= 8) }' <<<"$output"
}
