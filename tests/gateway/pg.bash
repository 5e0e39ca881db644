# shellcheck shell=bash
# A real PostgreSQL 15 server for the cce-gateway suites: its own data
# directory under the test file's temporary directory, on a free loopback
# port, password authentication over TCP with the password in a PGPASSFILE
# (never on a command line), stopped at the end. PostgreSQL refuses to run
# as root, so the server runs as the postgres user (Debian's package makes
# it), and the directories it needs are opened to it. The server does not
# fsync (the tests kill gateways, never the machine): PostgreSQL's own
# durability is not what they test, and the shared machine is slow enough.

PG_BIN=/usr/lib/postgresql/15/bin

# pg_start: initdb (once per file) and start; sets PG_PORT, PG_DATA,
# PGPASSFILE (exported: cce-gateway and psql read it)
pg_start() {
	[ -x "$PG_BIN/initdb" ] || skip "PostgreSQL 15 is not installed (scripts/install-deps --test)"
	id postgres >/dev/null 2>&1 || skip "no postgres user"
	PG_DIR="$BATS_FILE_TMPDIR/pg"
	PG_DATA="$PG_DIR/data"
	PG_PORT=${PG_PORT:-$(free_port)}
	export PG_DIR PG_DATA PG_PORT
	if [ ! -d "$PG_DATA" ]; then
		# the postgres user walks down to its directory, and no further
		chmod o+x "$BATS_RUN_TMPDIR" "$BATS_FILE_TMPDIR" "$(dirname "$BATS_FILE_TMPDIR")"
		mkdir -p "$PG_DIR"
		head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$PG_DIR/password"
		chown -R postgres "$PG_DIR"
		chmod 700 "$PG_DIR"
		pg_as "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -E UTF8 --no-sync \
			--auth-local=trust --auth-host=scram-sha-256 \
			--pwfile="$PG_DIR/password" >"$PG_DIR/initdb.log" 2>&1 ||
			{ cat "$PG_DIR/initdb.log" >&2; return 1; }
	fi
	export PGPASSFILE="$BATS_FILE_TMPDIR/pgpass"
	printf '127.0.0.1:%s:*:postgres:%s\n' "$PG_PORT" "$(cat "$PG_DIR/password")" >"$PGPASSFILE"
	chmod 600 "$PGPASSFILE"
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DIR/log" -w -t 60 \
		-o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=60 -c shared_buffers=16MB -c fsync=off -c full_page_writes=off" \
		start >/dev/null || { cat "$PG_DIR/log" >&2; return 1; }
}

# pg_stop [MODE]: stop the server (fast by default; immediate is a crash)
pg_stop() {
	[ -n "${PG_DATA:-}" ] && [ -f "$PG_DATA/postmaster.pid" ] || return 0
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -m "${1:-fast}" -w stop >/dev/null
}

pg_as() {
	(cd "$PG_DIR" && runuser -u postgres -- "$@")
}

# pg_sql DB SQL: run SQL on DB over TCP as the gateways do; rows on stdout
pg_sql() {
	psql -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$1" -c "$2"
}

# pg_newdb: a database of this test's own; prints its URL (no password)
pg_newdb() {
	local db="t$BATS_TEST_NUMBER"
	pg_sql postgres "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
	pg_sql postgres "CREATE DATABASE $db" >/dev/null
	echo "postgresql://postgres@127.0.0.1:$PG_PORT/$db"
}
