/* The SQLite backend of the store (see store.h and backend.h): the
 * database, its schema and the writes; the reads are sqlite_reader.c's. */
#include "backend.h"
#include "sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunk.h"
#include "fsutil.h"

#define SCHEMA_VERSION "2"

enum {
	Q_IDEM_GET, Q_IDEM_PUT, Q_CONNECTED, Q_CONNECT, Q_DISCONNECT, Q_INSERT, Q_COUNT,
	Q_BEGIN, Q_COMMIT, Q_ROLLBACK, Q_N
};

static const char *const sql[Q_N] = {
	[Q_IDEM_GET] = "SELECT status, answer FROM idem WHERE key = ?1",
	[Q_IDEM_PUT] = "INSERT INTO idem(key, recv, status, answer) VALUES (?1, ?2, ?3, ?4)",
	[Q_CONNECTED] = "SELECT connected FROM streams WHERE device = ?1 AND stream = ?2",
	[Q_CONNECT] = "INSERT INTO streams(device, stream, connected) VALUES (?1, ?2, 1) "
		      "ON CONFLICT(device, stream) DO UPDATE SET connected = 1 WHERE connected = 0",
	[Q_DISCONNECT] = "UPDATE streams SET connected = 0 WHERE device = ?1 AND stream = ?2 "
			 "AND connected = 1",
	[Q_INSERT] = "INSERT INTO chunks(id, device, stream, ts_min, ts_max, recv, n, bytes, body)"
		     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[Q_COUNT] = "INSERT INTO streams(device, stream, connected, count, first_ts, last_ts, bytes) "
		    "VALUES (?1, ?2, 0, ?3, ?5, ?6, ?4) ON CONFLICT(device, stream) DO UPDATE SET "
		    "count = count + ?3, bytes = bytes + ?4, "
		    "first_ts = min(coalesce(first_ts, ?5), ?5), last_ts = max(coalesce(last_ts, ?6), ?6)",
	[Q_BEGIN] = "BEGIN IMMEDIATE",
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
};

#define CHUNKS_SCHEMA \
	"CREATE TABLE chunks(id INTEGER PRIMARY KEY, device TEXT NOT NULL, stream TEXT NOT NULL," \
	" ts_min INTEGER NOT NULL, ts_max INTEGER NOT NULL, recv INTEGER NOT NULL," \
	" n INTEGER NOT NULL, bytes INTEGER NOT NULL, body BLOB NOT NULL);" \
	"CREATE INDEX chunks_dts ON chunks(device, ts_min, stream);"

static const char schema[] =
	"CREATE TABLE meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);"
	"CREATE TABLE streams(device TEXT NOT NULL, stream TEXT NOT NULL,"
	" connected INTEGER NOT NULL DEFAULT 0, count INTEGER NOT NULL DEFAULT 0,"
	" first_ts INTEGER, last_ts INTEGER, bytes INTEGER NOT NULL DEFAULT 0,"
	" PRIMARY KEY(device, stream));"
	CHUNKS_SCHEMA
	"CREATE TABLE idem(key TEXT PRIMARY KEY, recv INTEGER NOT NULL, status INTEGER NOT NULL,"
	" answer TEXT NOT NULL);"
	"CREATE INDEX idem_recv ON idem(recv);"
	"INSERT INTO meta VALUES ('schema', '" SCHEMA_VERSION "');";

struct store {
	struct store_head h;
	sqlite3 *db;
	sqlite3_stmt *q[Q_N];
	int lock;
	int wal;             /* the WAL, for sq_sync (-1 until then) */
	int64_t inserted;    /* the last id inserted */
	int64_t before;      /* ... when the transaction began (a rollback's ids come again) */
	/* the records inserted and not yet in a row: one stream's, one
	 * request's (recv), the first of them id first */
	struct chunk_builder chunk;
	char *device, *stream;
	int64_t recv, first;
	bool upgrading;      /* from schema 1: chunks made, records still there */
};


int sq_fail(sqlite3 *db, int rc, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: %s", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	rc &= 0xff;
	return rc == SQLITE_FULL ? STORE_FULL : STORE_ERR;
}

static int exec(sqlite3 *db, const char *q, const char *what, char *err, size_t errlen)
{
	int rc = sqlite3_exec(db, q, NULL, NULL, NULL);
	return rc == SQLITE_OK ? STORE_OK : sq_fail(db, rc, what, err, errlen);
}

/* a new file gets the schema; an old one must hold this schema, or schema
 * 1, which is upgraded */
static int check_schema(struct store *s, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_fail(s->db, rc, s->h.where, err, errlen);
	rc = sqlite3_step(st);
	int64_t n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_finalize(st);
	if (n < 0)
		return sq_fail(s->db, rc, s->h.where, err, errlen);
	if (n == 0) {
		char *msg = NULL;
		rc = sqlite3_exec(s->db, schema, NULL, NULL, &msg);
		if (rc != SQLITE_OK) {
			snprintf(err, errlen, "%s: cannot create the schema: %s", s->h.where, msg);
			sqlite3_free(msg);
			return STORE_ERR;
		}
		return STORE_OK;
	}
	rc = sqlite3_prepare_v2(s->db, "SELECT v FROM meta WHERE k = 'schema'", -1, &st, NULL);
	const char *v = rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW
				? (const char *)sqlite3_column_text(st, 0) : NULL;
	bool same = v && strcmp(v, SCHEMA_VERSION) == 0, one = v && strcmp(v, "1") == 0;
	sqlite3_finalize(st);
	if (one) {
		/* schema 1 kept a row per record: upgrade_records moves them into
		 * chunks in the same transaction */
		s->upgrading = true;
		return exec(s->db, "BEGIN IMMEDIATE;" CHUNKS_SCHEMA, s->h.where, err, errlen);
	}
	if (!same) {
		snprintf(err, errlen, "%s: not a cce-gateway store of schema %s", s->h.where,
			 SCHEMA_VERSION);
		return STORE_ERR;
	}
	return STORE_OK;
}

static int check_integrity(struct store *s, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "PRAGMA quick_check", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_fail(s->db, rc, s->h.where, err, errlen);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sq_fail(s->db, rc, s->h.where, err, errlen);
		sqlite3_finalize(st);
		return STORE_ERR;
	}
	const char *r = (const char *)sqlite3_column_text(st, 0);
	bool good = r && strcmp(r, "ok") == 0;
	if (!good) {
		snprintf(err, errlen, "%s: fails its integrity check: %s", s->h.where, r ? r : "?");
		for (char *c = err; *c; c++)
			if (*c == '\n')
				*c = ' ';
	}
	sqlite3_finalize(st);
	return good ? STORE_OK : STORE_ERR;
}


static int sq_insert(struct store *s, const char *device, const char *stream, int64_t ts,
		     int64_t recv, const char *body, size_t len, char *err, size_t errlen);
static int flush_chunk(struct store *s, char *err, size_t errlen);

/* schema 1's records into chunks, each run of consecutive ids of one
 * stream and one request as chunks of its own, their ids kept; then the
 * table goes and the store is of schema 2, all in the transaction
 * check_schema began */
static int upgrade_records(struct store *s, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "SELECT id, device, stream, ts, recv, body FROM records"
				    " ORDER BY id", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_fail(s->db, rc, s->h.where, err, errlen);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		if (id != s->inserted + 1 && flush_chunk(s, err, errlen) < 0)
			break;
		s->inserted = id - 1;
		rc = sq_insert(s, (const char *)sqlite3_column_text(st, 1),
			       (const char *)sqlite3_column_text(st, 2), sqlite3_column_int64(st, 3),
			       sqlite3_column_int64(st, 4), (const char *)sqlite3_column_text(st, 5),
			       (size_t)sqlite3_column_bytes(st, 5), err, errlen) < 0 ? SQLITE_ERROR
											: SQLITE_OK;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return rc == SQLITE_ERROR ? STORE_ERR : sq_fail(s->db, rc, s->h.where, err, errlen);
	if (flush_chunk(s, err, errlen) < 0 ||
	    exec(s->db, "DROP TABLE records; UPDATE meta SET v = '" SCHEMA_VERSION "' WHERE"
			" k = 'schema'; COMMIT", s->h.where, err, errlen) < 0)
		return STORE_ERR;
	s->upgrading = false;
	return STORE_OK;
}

static int open_db(struct store *s, char *err, size_t errlen)
{
	/* no allocation statistics: they take a global mutex on every malloc
	 * (before the library initializes; later calls are refused, harmless) */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	int rc = sqlite3_open_v2(s->h.where, &s->db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		return sq_fail(s->db, rc, s->h.where, err, errlen);
	sqlite3_busy_timeout(s->db, 10000);
	/* journal_mode reads the file first: a file that is no database
	 * fails here with "file is not a database" */
	if (exec(s->db, "PRAGMA journal_mode=WAL", s->h.where, err, errlen) < 0 ||
	    /* a commit writes the WAL without syncing it; sq_sync does, before
	     * any answer (a checkpoint still syncs the WAL first and the
	     * database after) */
	    exec(s->db, "PRAGMA synchronous=NORMAL", s->h.where, err, errlen) < 0 ||
	    /* the index's pages of a thousand devices stay in memory (8 MiB),
	     * and a checkpoint every 16 MiB of WAL writes a page changed by
	     * many transactions once */
	    exec(s->db, "PRAGMA cache_size=-8192", s->h.where, err, errlen) < 0 ||
	    exec(s->db, "PRAGMA wal_autocheckpoint=4000", s->h.where, err, errlen) < 0 ||
	    check_integrity(s, err, errlen) < 0 || check_schema(s, err, errlen) < 0)
		return STORE_ERR;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, "SELECT id + n - 1 FROM chunks ORDER BY id DESC LIMIT 1", -1,
			       &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		s->inserted = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	for (int i = 0; i < Q_N; i++) {
		rc = sqlite3_prepare_v3(s->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->q[i], NULL);
		if (rc != SQLITE_OK)
			return sq_fail(s->db, rc, s->h.where, err, errlen);
	}
	if (s->upgrading && upgrade_records(s, err, errlen) < 0) {
		char why[400];
		snprintf(why, sizeof why, "%s", err);
		snprintf(err, errlen, "%s: cannot upgrade it from schema 1: %s", s->h.where, why);
		return STORE_ERR;
	}
	return STORE_OK;
}

static void sq_close(struct store *s)
{
	if (!s)
		return;
	for (int i = 0; i < Q_N; i++)
		sqlite3_finalize(s->q[i]);
	sqlite3_close(s->db);
	chunk_builder_free(&s->chunk);
	free(s->device);
	free(s->stream);
	if (s->wal >= 0)
		close(s->wal);
	if (s->lock >= 0)
		fs_unlock(s->lock);
	free(s->h.where);
	free(s);
}

/* anything that is not a URL is a directory */
static bool sq_accepts(const char *where) { return !strstr(where, "://"); }

static struct store *sq_open(const char *dir, const char *origin, char *err, size_t errlen)
{
	if (fs_mkdirs(dir, 0700) < 0) {
		snprintf(err, errlen, "cannot create '%s': %s", dir, strerror(errno));
		return NULL;
	}
	struct store *s = xcalloc(1, sizeof *s);
	s->h.ops = &store_sqlite;
	s->wal = -1;
	chunk_builder_init(&s->chunk);
	struct buf p = BUF_INIT;
	buf_init(&p);
	buf_addf(&p, "%s/lock", dir);
	s->lock = fs_lock(p.data, false, err, errlen);
	buf_reset(&p);
	buf_addf(&p, "%s/gateway.db", dir);
	s->h.where = buf_detach(&p, NULL);
	if (s->lock < 0 || open_db(s, err, errlen) < 0) {
		sq_close(s);
		return NULL;
	}
	(void)origin;   /* one gateway per store: its stdout follows every record */
	return s;
}

/* runs a prepared statement that returns no rows (each use binds every
 * parameter: the bindings need no clearing) */
static int run(struct store *s, int q, const char *what, char *err, size_t errlen)
{
	sqlite3_stmt *st = s->q[q];
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return sq_fail(s->db, rc, what, err, errlen);
	return STORE_OK;
}

static int sq_begin(struct store *s, char *err, size_t errlen)
{
	s->before = s->inserted;
	return run(s, Q_BEGIN, "cannot begin a transaction", err, errlen);
}

static void sq_rollback(struct store *s)
{
	s->inserted = s->before;
	chunk_reset(&s->chunk);
	if (!sqlite3_get_autocommit(s->db)) {
		char e[8];
		run(s, Q_ROLLBACK, "", e, sizeof e);
	}
}

static int flush_chunk(struct store *s, char *err, size_t errlen);

static int sq_commit(struct store *s, char *err, size_t errlen)
{
	int rc = flush_chunk(s, err, errlen);
	if (rc == STORE_OK)
		rc = run(s, Q_COMMIT, "cannot commit", err, errlen);
	if (rc < 0)
		sq_rollback(s);
	return rc;
}

/* The WAL holds every commit not yet checkpointed (a checkpoint syncs the
 * WAL before it copies, and the database after): its fdatasync makes them
 * all durable. The file stays while the writer's connection is open. */
static int sq_sync(struct store *s, char *err, size_t errlen)
{
	if (s->wal < 0) {
		char p[4200];
		snprintf(p, sizeof p, "%s-wal", s->h.where);
		s->wal = open(p, O_RDONLY | O_CLOEXEC);
	}
	if (s->wal < 0 || fdatasync(s->wal) < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot sync %s-wal: %s", s->h.where, strerror(e));
		return e == ENOSPC || e == EDQUOT ? STORE_FULL : STORE_ERR;
	}
	return STORE_OK;
}

static int64_t sq_inserted_id(struct store *s) { return s->inserted; }

const char *sq_path(const struct store *s) { return s->h.where; }

void sq_bind_text(sqlite3_stmt *st, int i, const char *s, size_t n)
{
	sqlite3_bind_text64(st, i, s, n, SQLITE_STATIC, SQLITE_UTF8);
}

/* one writer per store (the lock): a key not stored is this transaction's */
static int sq_idem_claim(struct store *s, const char *key, int64_t now, int *status,
			 struct buf *answer, char *err, size_t errlen)
{
	(void)now;
	sqlite3_stmt *st = s->q[Q_IDEM_GET];
	sq_bind_text(st, 1, key, strlen(key));
	int rc = sqlite3_step(st), found = 0;
	if (rc == SQLITE_ROW) {
		*status = sqlite3_column_int(st, 0);
		buf_add(answer, sqlite3_column_text(st, 1), (size_t)sqlite3_column_bytes(st, 1));
		found = 1;
	} else if (rc != SQLITE_DONE) {
		found = sq_fail(s->db, rc, "cannot read the idempotency keys", err, errlen);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return found;
}

static int sq_idem_drop(struct store *s, const char *key, char *err, size_t errlen)
{
	(void)s, (void)key, (void)err, (void)errlen;   /* claiming wrote nothing */
	return STORE_OK;
}

static int sq_idem_put(struct store *s, const char *key, int status, const char *answer,
		   int64_t now, char *err, size_t errlen)
{
	sqlite3_stmt *st = s->q[Q_IDEM_PUT];
	sq_bind_text(st, 1, key, strlen(key));
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int(st, 3, status);
	sq_bind_text(st, 4, answer, strlen(answer));
	return run(s, Q_IDEM_PUT, "cannot store the idempotency key", err, errlen);
}

static int sq_connected(struct store *s, const char *device, const char *stream, char *err,
		    size_t errlen)
{
	sqlite3_stmt *st = s->q[Q_CONNECTED];
	sq_bind_text(st, 1, device, strlen(device));
	sq_bind_text(st, 2, stream, strlen(stream));
	int rc = sqlite3_step(st), on = 0;
	if (rc == SQLITE_ROW)
		on = sqlite3_column_int(st, 0) != 0;
	else if (rc != SQLITE_DONE)
		on = sq_fail(s->db, rc, "cannot read the streams", err, errlen);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return on;
}

static int sq_connect(struct store *s, const char *device, const char *stream, bool on, char *err,
		  size_t errlen)
{
	int q = on ? Q_CONNECT : Q_DISCONNECT;
	sq_bind_text(s->q[q], 1, device, strlen(device));
	sq_bind_text(s->q[q], 2, stream, strlen(stream));
	int rc = run(s, q, "cannot change the stream", err, errlen);
	return rc < 0 ? rc : sqlite3_changes(s->db) > 0;
}

/* the records inserted since the last row, as one row */
static int flush_chunk(struct store *s, char *err, size_t errlen)
{
	struct chunk_builder *c = &s->chunk;
	if (c->n == 0)
		return STORE_OK;
	const void *body;
	size_t len;
	chunk_pack(c, &body, &len);
	sqlite3_stmt *st = s->q[Q_INSERT];
	sqlite3_bind_int64(st, 1, s->first);
	sq_bind_text(st, 2, s->device, strlen(s->device));
	sq_bind_text(st, 3, s->stream, strlen(s->stream));
	sqlite3_bind_int64(st, 4, c->ts_min);
	sqlite3_bind_int64(st, 5, c->ts_max);
	sqlite3_bind_int64(st, 6, s->recv);
	sqlite3_bind_int64(st, 7, c->n);
	sqlite3_bind_int64(st, 8, (int64_t)c->bytes);
	sqlite3_bind_blob64(st, 9, body, len, SQLITE_STATIC);
	int rc = run(s, Q_INSERT, "cannot store records", err, errlen);
	chunk_reset(c);
	return rc;
}

/* a record joins the chunk being built, which becomes a row when the
 * next record is another stream's or request's or does not fit, and at
 * the commit */
static int sq_insert(struct store *s, const char *device, const char *stream, int64_t ts,
		 int64_t recv, const char *body, size_t len, char *err, size_t errlen)
{
	struct chunk_builder *c = &s->chunk;
	if (c->n && (recv != s->recv || strcmp(device, s->device) || strcmp(stream, s->stream) ||
		     !chunk_fits(c, ts, len))) {
		int rc = flush_chunk(s, err, errlen);
		if (rc < 0)
			return rc;
	}
	if (c->n == 0) {
		if (!s->device || strcmp(device, s->device)) {
			free(s->device);
			s->device = xstrdup(device);
		}
		if (!s->stream || strcmp(stream, s->stream)) {
			free(s->stream);
			s->stream = xstrdup(stream);
		}
		s->recv = recv;
		s->first = s->inserted + 1;
	}
	chunk_add(c, ts, body, len);
	s->inserted++;
	return STORE_OK;
}

static int sq_count(struct store *s, const char *device, const char *stream, uint64_t n,
		uint64_t bytes, int64_t min_ts, int64_t max_ts, char *err, size_t errlen)
{
	sqlite3_stmt *st = s->q[Q_COUNT];
	sq_bind_text(st, 1, device, strlen(device));
	sq_bind_text(st, 2, stream, strlen(stream));
	sqlite3_bind_int64(st, 3, (int64_t)n);
	sqlite3_bind_int64(st, 4, (int64_t)bytes);
	sqlite3_bind_int64(st, 5, min_ts);
	sqlite3_bind_int64(st, 6, max_ts);
	return run(s, Q_COUNT, "cannot count the stream's records", err, errlen);
}

static int sq_bytes(struct store *s, uint64_t *bytes, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "SELECT coalesce(sum(bytes), 0) FROM streams", -1, &st,
				    NULL);
	if (rc != SQLITE_OK)
		return sq_fail(s->db, rc, "cannot read the streams", err, errlen);
	rc = sqlite3_step(st);
	*bytes = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? STORE_OK : sq_fail(s->db, rc, "cannot read the streams", err, errlen);
}

/* The last id of the oldest chunks to delete (at least one, about 5000
 * records at most), 0 when none, and in *n their records: a prefix of the
 * arrival order, so that the counters of the deleted part can be taken
 * from one range. A chunk's records were received together (one request)
 * and go together. Past the size, as many as bring the bytes down to it
 * (excess). */
static int64_t retain_upto(struct store *s, int64_t recv_before, uint64_t excess, uint64_t *n)
{
	sqlite3_stmt *st;
	*n = 0;
	if (sqlite3_prepare_v2(s->db, "SELECT id, recv, n, bytes FROM chunks ORDER BY id", -1, &st,
			       NULL) != SQLITE_OK)
		return -1;
	int64_t upto = 0;
	uint64_t freed = 0;
	int rc = SQLITE_DONE;
	while (*n < 5000 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (freed >= excess && sqlite3_column_int64(st, 1) >= recv_before)
			break;
		upto = sqlite3_column_int64(st, 0) + sqlite3_column_int64(st, 2) - 1;
		*n += (uint64_t)sqlite3_column_int64(st, 2);
		freed += (uint64_t)sqlite3_column_int64(st, 3);
	}
	if (*n >= 5000)
		rc = SQLITE_DONE;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? upto : -1;
}

static const char retain_sql[] =
	"UPDATE streams SET count = count - d.n, bytes = bytes - d.b FROM"
	" (SELECT device, stream, sum(n) AS n, sum(bytes) AS b"
	"  FROM chunks WHERE id <= ?1 GROUP BY device, stream) AS d"
	" WHERE streams.device = d.device AND streams.stream = d.stream;"
	"DELETE FROM chunks WHERE id <= ?1;"
	"UPDATE streams SET first_ts = (SELECT min(ts_min) FROM chunks r WHERE"
	" r.device = streams.device AND r.stream = streams.stream),"
	" last_ts = CASE WHEN count = 0 THEN NULL ELSE last_ts END"
	" WHERE first_ts IS NOT NULL;";

static int retain_records(struct store *s, int64_t upto, char *err, size_t errlen)
{
	const char *p = retain_sql;
	while (*p) {
		sqlite3_stmt *st;
		const char *tail;
		int rc = sqlite3_prepare_v2(s->db, p, -1, &st, &tail);
		if (rc != SQLITE_OK)
			return sq_fail(s->db, rc, "cannot apply retention", err, errlen);
		if (sqlite3_bind_parameter_count(st))
			sqlite3_bind_int64(st, 1, upto);
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return sq_fail(s->db, rc, "cannot apply retention", err, errlen);
		p = tail;
	}
	return STORE_OK;
}

static int sq_retain(struct store *s, int64_t recv_before, uint64_t max_bytes, int64_t idem_before,
		 uint64_t *deleted, char *err, size_t errlen)
{
	*deleted = 0;
	int rc = sq_begin(s, err, errlen);
	if (rc < 0)
		return rc;
	uint64_t bytes = 0;
	if (max_bytes && (rc = sq_bytes(s, &bytes, err, errlen)) < 0)
		goto failed;
	uint64_t n;
	int64_t upto = retain_upto(s, recv_before, max_bytes && bytes > max_bytes ? bytes - max_bytes : 0,
				   &n);
	if (upto < 0) {
		rc = sq_fail(s->db, SQLITE_ERROR, "cannot apply retention", err, errlen);
		goto failed;
	}
	if (upto > 0 && (rc = retain_records(s, upto, err, errlen)) < 0)
		goto failed;
	*deleted = upto > 0 ? n : 0;
	sqlite3_stmt *st;
	rc = sqlite3_prepare_v2(s->db, "DELETE FROM idem WHERE recv < ?1", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, idem_before);
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
	}
	if (rc != SQLITE_DONE && rc != SQLITE_OK) {
		rc = sq_fail(s->db, rc, "cannot forget old idempotency keys", err, errlen);
		goto failed;
	}
	return sq_commit(s, err, errlen);
failed:
	sq_rollback(s);
	return rc;
}

const struct store_ops store_sqlite = {
	.name = "sqlite",
	.accepts = sq_accepts,
	.open = sq_open,
	.close = sq_close,
	.begin = sq_begin,
	.commit = sq_commit,
	.sync = sq_sync,
	.inserted_id = sq_inserted_id,
	.rollback = sq_rollback,
	.idem_claim = sq_idem_claim,
	.idem_put = sq_idem_put,
	.idem_drop = sq_idem_drop,
	.connected = sq_connected,
	.connect = sq_connect,
	.insert = sq_insert,
	.count = sq_count,
	.retain = sq_retain,
	.bytes = sq_bytes,
	.reader_open = sq_reader_open,
	.reader_close = sq_reader_close,
	.query = sq_query,
	.next = sq_next,
	.follow = sq_follow,
	.last_id = sq_last_id,
	.list = sq_list,
	.size = sq_size,
};
