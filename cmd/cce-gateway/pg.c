/*
 * The PostgreSQL backend of the store (see store.h and backend.h), through
 * libpq.
 *
 * Several gateways share one database: ids come from one sequence, each
 * record names the gateway that stored it (origin) so that each one's
 * stdout follows its own records (one writer per gateway commits its ids
 * in order, so "origin = me AND id > last" misses none). Idempotency keys
 * are claimed with INSERT ... ON CONFLICT DO NOTHING on the key's unique
 * index: a claim made by another gateway's transaction in flight waits for
 * its outcome, so a key is stored once across gateways. Records go in with
 * COPY, gathered until the transaction's next statement. Retention runs in
 * one gateway at a time (an advisory lock; the others skip that step).
 * A connection that broke is made again at the next transaction (the one
 * that broke failed: its requests were answered 503, nothing of it stored).
 * Readers come from a small pool of connections.
 */
#include "backend.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMA_VERSION "1"
#define LOCK_SCHEMA "1667458305"     /* advisory locks ("cce\1"): making the schema, */
#define LOCK_RETAIN "1667458306"     /* a retention step */
#define POOL_MAX 8
#define COPY_FLUSH (4 << 20)         /* bytes of COPY rows sent at once at most */

enum {
	Q_CLAIM, Q_IDEM_GET, Q_IDEM_PUT, Q_IDEM_DROP, Q_CONNECTED, Q_CONNECT, Q_DISCONNECT,
	Q_COUNT, Q_N
};

static const char *const sql[Q_N] = {
	[Q_CLAIM] = "INSERT INTO idem(key, recv, status, answer) VALUES ($1, $2, 0, '')"
		    " ON CONFLICT (key) DO NOTHING",
	[Q_IDEM_GET] = "SELECT status, answer FROM idem WHERE key = $1",
	[Q_IDEM_PUT] = "UPDATE idem SET status = $2, answer = $3, recv = $4 WHERE key = $1",
	[Q_IDEM_DROP] = "DELETE FROM idem WHERE key = $1",
	[Q_CONNECTED] = "SELECT connected FROM streams WHERE device = $1 AND stream = $2",
	[Q_CONNECT] = "INSERT INTO streams(device, stream, connected) VALUES ($1, $2, 1)"
		      " ON CONFLICT (device, stream) DO UPDATE SET connected = 1"
		      " WHERE streams.connected = 0",
	[Q_DISCONNECT] = "UPDATE streams SET connected = 0 WHERE device = $1 AND stream = $2"
			 " AND connected = 1",
	[Q_COUNT] = "INSERT INTO streams(device, stream, connected, count, first_ts, last_ts, bytes)"
		    " VALUES ($1, $2, 0, $3, $5, $6, $4) ON CONFLICT (device, stream) DO UPDATE SET"
		    " count = streams.count + $3, bytes = streams.bytes + $4,"
		    " first_ts = least(streams.first_ts, $5), last_ts = greatest(streams.last_ts, $6)",
};

/* the same schema as SQLite's, with origin; "C" collation: bytewise order */
static const char schema[] =
	"CREATE TABLE meta(k text PRIMARY KEY, v text NOT NULL);"
	"CREATE TABLE streams(device text COLLATE \"C\" NOT NULL, stream text COLLATE \"C\" NOT NULL,"
	" connected integer NOT NULL DEFAULT 0, count bigint NOT NULL DEFAULT 0,"
	" first_ts bigint, last_ts bigint, bytes bigint NOT NULL DEFAULT 0,"
	" PRIMARY KEY(device, stream));"
	"CREATE TABLE records(id bigserial PRIMARY KEY, origin text COLLATE \"C\" NOT NULL,"
	" device text COLLATE \"C\" NOT NULL, stream text COLLATE \"C\" NOT NULL,"
	" ts bigint NOT NULL, recv bigint NOT NULL, body text NOT NULL);"
	"CREATE INDEX records_dts ON records(device, ts, stream);"
	"CREATE INDEX records_origin ON records(origin, id);"
	"CREATE TABLE idem(key text PRIMARY KEY, recv bigint NOT NULL, status integer NOT NULL,"
	" answer text NOT NULL);"
	"CREATE INDEX idem_recv ON idem(recv);"
	"INSERT INTO meta VALUES ('schema', '" SCHEMA_VERSION "');";
/* the columns the schema has: meta 2, streams 7, records 7, idem 4 */
#define SCHEMA_COLUMNS 20

struct count {
	char *device, *stream;
	uint64_t n, bytes;
	int64_t min_ts, max_ts;
};

struct store {
	struct store_head h;
	PGconn *c;
	char *url, *origin;
	struct buf copy;     /* COPY rows not sent yet */
	struct count *counts;   /* the streams' counters not sent yet, one per stream */
	size_t ncounts, capcounts;
	pthread_mutex_t mu;  /* the pool */
	PGconn *pool[POOL_MAX];
	int npool;
};

struct store_reader {
	struct store_head h;
	struct store *s;
	PGconn *c;
	PGresult *res;       /* the row store_next gave */
	bool busy;           /* a query's rows are still coming */
};

static void drop_counts(struct store *s)
{
	for (size_t i = 0; i < s->ncounts; i++) {
		free(s->counts[i].device);
		free(s->counts[i].stream);
	}
	s->ncounts = 0;
}

/* err from a result (or the connection); the kind of failure */
static int fail(PGconn *c, const PGresult *r, const char *what, char *err, size_t errlen)
{
	const char *m = r ? PQresultErrorMessage(r) : "";
	if (!*m)
		m = PQerrorMessage(c);
	snprintf(err, errlen, "%s: %s", what, *m ? m : "connection lost");
	err[strcspn(err, "\n")] = 0;
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	if (state && (strcmp(state, "40P01") == 0 || strcmp(state, "40001") == 0))
		return STORE_RETRY;   /* deadlock, serialization: the database undid it */
	if (state && strncmp(state, "53", 2) == 0 && strcmp(state, "53300") != 0)
		return STORE_FULL;    /* disk full, out of memory (not: too many connections) */
	return STORE_ERR;
}

/* a statement's result checked: 0, or <0 with err (the result cleared) */
static int check(PGconn *c, PGresult *r, const char *what, char *err, size_t errlen)
{
	ExecStatusType st = PQresultStatus(r);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_SINGLE_TUPLE)
		return STORE_OK;
	int rc = fail(c, r, what, err, errlen);
	PQclear(r);
	return rc;
}

static bool pg_accepts(const char *where)
{
	return strncmp(where, "postgresql://", 13) == 0 || strncmp(where, "postgres://", 11) == 0;
}

/* the URL without a password, for messages */
static char *shown(const char *url)
{
	char *s = xstrdup(url);
	char *at = strchr(s, '@'), *user = strstr(s, "://") + 3;
	char *colon = at ? memchr(user, ':', (size_t)(at - user)) : NULL;
	if (colon)
		memmove(colon, at, strlen(at) + 1);
	return s;
}

/* a connection: the URL's parameters win over these defaults; NULL with err */
static PGconn *connect_to(const char *url, const char *where, char *err, size_t errlen)
{
	const char *const keys[] = { "connect_timeout", "application_name", "dbname", NULL };
	const char *const vals[] = { "10", "cce-gateway", url, NULL };
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(c) == CONNECTION_OK)
		return c;
	snprintf(err, errlen, "cannot connect to %s: %s", where, c ? PQerrorMessage(c) : "no memory");
	for (char *p = err; *p; p++)
		if (*p == '\n')
			*p = *(p + 1) ? ' ' : 0;
	PQfinish(c);
	return NULL;
}

static int exec(PGconn *c, const char *q, const char *what, char *err, size_t errlen)
{
	PGresult *r = PQexec(c, q);
	int rc = check(c, r, what, err, errlen);
	if (rc == STORE_OK)
		PQclear(r);
	return rc;
}

/* one value of a one-row query into v (NULL when there is no row) */
static int value(PGconn *c, const char *q, const char *what, char *v, size_t vlen, char *err,
		 size_t errlen)
{
	PGresult *r = PQexec(c, q);
	int rc = check(c, r, what, err, errlen);
	if (rc < 0)
		return rc;
	if (PQntuples(r) == 0 || PQgetisnull(r, 0, 0))
		*v = 0;
	else
		snprintf(v, vlen, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return STORE_OK;
}

/* a new database gets the schema; an old one must hold this schema */
static int check_schema(struct store *s, char *err, size_t errlen)
{
	char v[64], what[600];
	snprintf(what, sizeof what, "%s", s->h.where);
	int rc = exec(s->c, "BEGIN", what, err, errlen);
	/* two gateways starting at once: one creates, the other finds it */
	if (rc == 0)
		rc = exec(s->c, "SELECT pg_advisory_xact_lock(" LOCK_SCHEMA ")", what, err, errlen);
	if (rc == 0)
		rc = value(s->c, "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()",
			   what, v, sizeof v, err, errlen);
	bool empty = rc == 0 && strcmp(v, "0") == 0;
	if (empty)
		rc = exec(s->c, schema, what, err, errlen);
	else if (rc == 0)
		rc = value(s->c, "SELECT count(*) FROM information_schema.columns WHERE table_schema ="
			   " current_schema() AND table_name IN ('meta', 'streams', 'records', 'idem')",
			   what, v, sizeof v, err, errlen);
	/* tables there: exactly ours, of this version */
	if (rc == 0 && !empty &&
	    (atoi(v) != SCHEMA_COLUMNS ||
	     value(s->c, "SELECT v FROM meta WHERE k = 'schema'", what, v, sizeof v, err, errlen) < 0 ||
	     strcmp(v, SCHEMA_VERSION) != 0))
		goto other;
	if (rc == 0)
		return exec(s->c, "COMMIT", what, err, errlen);
	exec(s->c, "ROLLBACK", what, v, sizeof v);
	return rc;
other:
	exec(s->c, "ROLLBACK", what, v, sizeof v);
	snprintf(err, errlen, "%s: not a cce-gateway store of schema %s", s->h.where, SCHEMA_VERSION);
	return STORE_ERR;
}

static int prepare_all(struct store *s, char *err, size_t errlen)
{
	for (int i = 0; i < Q_N; i++) {
		char name[8];
		snprintf(name, sizeof name, "q%d", i);
		PGresult *r = PQprepare(s->c, name, sql[i], 0, NULL);
		int rc = check(s->c, r, s->h.where, err, errlen);
		if (rc < 0)
			return rc;
		PQclear(r);
	}
	return STORE_OK;
}

static void pg_close(struct store *s)
{
	PQfinish(s->c);
	for (int i = 0; i < s->npool; i++)
		PQfinish(s->pool[i]);
	pthread_mutex_destroy(&s->mu);
	buf_free(&s->copy);
	drop_counts(s);
	free(s->counts);
	free(s->url);
	free(s->origin);
	free(s->h.where);
	free(s);
}

static struct store *pg_open(const char *url, const char *origin, char *err, size_t errlen)
{
	struct store *s = xcalloc(1, sizeof *s);
	s->h.ops = &store_pg;
	s->h.where = shown(url);
	s->url = xstrdup(url);
	s->origin = xstrdup(origin ? origin : "");
	buf_init(&s->copy);
	pthread_mutex_init(&s->mu, NULL);
	s->c = connect_to(url, s->h.where, err, errlen);
	if (!s->c || check_schema(s, err, errlen) < 0 || prepare_all(s, err, errlen) < 0) {
		pg_close(s);
		return NULL;
	}
	return s;
}

/* a prepared statement with text parameters: the result, or NULL with err */
static PGresult *run(struct store *s, int q, int n, const char *const *v, const char *what,
		     int *rc, char *err, size_t errlen)
{
	char name[8];
	snprintf(name, sizeof name, "q%d", q);
	PGresult *r = PQexecPrepared(s->c, name, n, v, NULL, NULL, 0);
	*rc = check(s->c, r, what, err, errlen);
	return *rc < 0 ? NULL : r;
}

/* the COPY rows gathered so far go in */
static int flush_copy(struct store *s, char *err, size_t errlen)
{
	if (!s->copy.len)
		return STORE_OK;
	const char *what = "cannot store records";
	PGresult *r = PQexec(s->c, "COPY records(origin, device, stream, ts, recv, body) FROM STDIN");
	if (PQresultStatus(r) != PGRES_COPY_IN) {
		buf_reset(&s->copy);
		return check(s->c, r, what, err, errlen);
	}
	PQclear(r);
	int sent = PQputCopyData(s->c, s->copy.data, (int)s->copy.len) == 1 &&
		   PQputCopyEnd(s->c, NULL) == 1;
	buf_reset(&s->copy);
	int rc = STORE_OK;
	while ((r = PQgetResult(s->c))) {
		if (rc == STORE_OK && (rc = check(s->c, r, what, err, errlen)) < 0)
			continue;
		PQclear(r);
	}
	return rc == STORE_OK && !sent ? fail(s->c, NULL, what, err, errlen) : rc;
}

/* Records and counters wait for the end of the transaction (nothing in it
 * reads them before): one COPY for the group's records and one statement
 * per stream, instead of four round trips per request. */
static int pg_count(struct store *s, const char *device, const char *stream, uint64_t n,
		    uint64_t bytes, int64_t min_ts, int64_t max_ts, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	struct count *c = NULL;
	for (size_t i = 0; i < s->ncounts && !c; i++)
		if (!strcmp(s->counts[i].device, device) && !strcmp(s->counts[i].stream, stream))
			c = &s->counts[i];
	if (!c) {
		if (s->ncounts == s->capcounts) {
			s->capcounts = s->capcounts ? 2 * s->capcounts : 16;
			s->counts = xrealloc(s->counts, s->capcounts * sizeof *s->counts);
		}
		c = &s->counts[s->ncounts++];
		*c = (struct count){ xstrdup(device), xstrdup(stream), 0, 0, INT64_MAX, INT64_MIN };
	}
	c->n += n;
	c->bytes += bytes;
	c->min_ts = min_ts < c->min_ts ? min_ts : c->min_ts;
	c->max_ts = max_ts > c->max_ts ? max_ts : c->max_ts;
	return STORE_OK;
}

/* what waits goes in: the records, then the streams' counters */
static int flush(struct store *s, char *err, size_t errlen)
{
	int rc = flush_copy(s, err, errlen);
	for (size_t i = 0; i < s->ncounts && rc == 0; i++) {
		const struct count *c = &s->counts[i];
		char a[24], b[24], m[24], x[24];
		snprintf(a, sizeof a, "%llu", (unsigned long long)c->n);
		snprintf(b, sizeof b, "%llu", (unsigned long long)c->bytes);
		snprintf(m, sizeof m, "%lld", (long long)c->min_ts);
		snprintf(x, sizeof x, "%lld", (long long)c->max_ts);
		const char *v[] = { c->device, c->stream, a, b, m, x };
		PGresult *r = run(s, Q_COUNT, 6, v, "cannot count the stream's records", &rc, err,
				  errlen);
		PQclear(r);
	}
	drop_counts(s);
	return rc;
}

/* A transaction begins on a working connection: one that broke is made
 * again (its prepared statements with it). */
static int reconnect(struct store *s, char *err, size_t errlen)
{
	PQreset(s->c);
	if (PQstatus(s->c) != CONNECTION_OK)
		return fail(s->c, NULL, s->h.where, err, errlen);
	return prepare_all(s, err, errlen);
}

static int pg_begin(struct store *s, char *err, size_t errlen)
{
	buf_reset(&s->copy);
	int rc = PQstatus(s->c) == CONNECTION_OK ? STORE_OK : reconnect(s, err, errlen);
	if (rc == 0)
		rc = exec(s->c, "BEGIN", "cannot begin a transaction", err, errlen);
	/* the server restarted since the last transaction: once more */
	if (rc < 0 && PQstatus(s->c) != CONNECTION_OK && (rc = reconnect(s, err, errlen)) == 0)
		rc = exec(s->c, "BEGIN", "cannot begin a transaction", err, errlen);
	return rc;
}

static void pg_rollback(struct store *s)
{
	char e[8];
	buf_reset(&s->copy);
	drop_counts(s);
	if (PQtransactionStatus(s->c) != PQTRANS_IDLE)
		exec(s->c, "ROLLBACK", "", e, sizeof e);
}

static int pg_commit(struct store *s, char *err, size_t errlen)
{
	int rc = flush(s, err, errlen);
	if (rc == 0)
		rc = exec(s->c, "COMMIT", "cannot commit", err, errlen);
	if (rc < 0)
		pg_rollback(s);
	return rc;
}

static int pg_idem_claim(struct store *s, const char *key, int64_t now, int *status,
			 struct buf *answer, char *err, size_t errlen)
{
	char t[24];
	snprintf(t, sizeof t, "%lld", (long long)now);
	const char *v[] = { key, t };
	const char *what = "cannot claim the idempotency key";
	int rc = STORE_OK;
	/* a key another transaction deletes (retention) meanwhile is claimed again */
	for (int tries = 0; rc == 0 && tries < 3; tries++) {
		PGresult *r = run(s, Q_CLAIM, 2, v, what, &rc, err, errlen);
		if (!r)
			return rc;
		bool claimed = strcmp(PQcmdTuples(r), "1") == 0;
		PQclear(r);
		if (claimed)
			return 0;
		if (!(r = run(s, Q_IDEM_GET, 1, v, what, &rc, err, errlen)))
			return rc;
		if (PQntuples(r) == 1) {
			*status = atoi(PQgetvalue(r, 0, 0));
			buf_add(answer, PQgetvalue(r, 0, 1), (size_t)PQgetlength(r, 0, 1));
			PQclear(r);
			return 1;
		}
		PQclear(r);
	}
	return rc == 0 ? fail(s->c, NULL, what, err, errlen) : rc;
}

/* a statement that returns no rows: the rows it changed, or <0 */
static int change(struct store *s, int q, int n, const char *const *v, const char *what,
		  char *err, size_t errlen)
{
	int rc;
	PGresult *r = run(s, q, n, v, what, &rc, err, errlen);
	if (!r)
		return rc;
	rc = atoi(PQcmdTuples(r));
	PQclear(r);
	return rc;
}

static int pg_idem_put(struct store *s, const char *key, int status, const char *answer,
		       int64_t now, char *err, size_t errlen)
{
	char st[16], t[24];
	snprintf(st, sizeof st, "%d", status);
	snprintf(t, sizeof t, "%lld", (long long)now);
	const char *v[] = { key, st, answer, t };
	int rc = change(s, Q_IDEM_PUT, 4, v, "cannot store the idempotency key", err, errlen);
	return rc < 0 ? rc : STORE_OK;
}

static int pg_idem_drop(struct store *s, const char *key, char *err, size_t errlen)
{
	const char *v[] = { key };
	int rc = change(s, Q_IDEM_DROP, 1, v, "cannot drop the idempotency key", err, errlen);
	return rc < 0 ? rc : STORE_OK;
}

static int pg_connected(struct store *s, const char *device, const char *stream, char *err,
			size_t errlen)
{
	const char *v[] = { device, stream };
	int rc;
	PGresult *r = run(s, Q_CONNECTED, 2, v, "cannot read the streams", &rc, err, errlen);
	if (!r)
		return rc;
	int on = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "0") != 0;
	PQclear(r);
	return on;
}

static int pg_connect(struct store *s, const char *device, const char *stream, bool on,
		      char *err, size_t errlen)
{
	const char *v[] = { device, stream };
	int rc = change(s, on ? Q_CONNECT : Q_DISCONNECT, 2, v, "cannot change the stream", err,
			errlen);
	return rc < 0 ? rc : rc > 0;
}

/* a field of a COPY row in text format */
static void copy_field(struct buf *b, const char *p, size_t n, char end)
{
	buf_grow(b, n + 1);
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (c == '\\' || c == '\n' || c == '\r' || c == '\t') {
			buf_addc(b, '\\');
			c = c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : c;
		}
		buf_addc(b, c);
	}
	buf_addc(b, end);
}

static int pg_insert(struct store *s, const char *device, const char *stream, int64_t ts,
		     int64_t recv, const char *body, size_t len, char *err, size_t errlen)
{
	struct buf *b = &s->copy;
	copy_field(b, s->origin, strlen(s->origin), '\t');
	copy_field(b, device, strlen(device), '\t');
	copy_field(b, stream, strlen(stream), '\t');
	buf_addf(b, "%lld\t%lld\t", (long long)ts, (long long)recv);
	copy_field(b, body, len, '\n');
	return b->len >= COPY_FLUSH ? flush_copy(s, err, errlen) : STORE_OK;
}

static int pg_bytes(struct store *s, uint64_t *bytes, char *err, size_t errlen)
{
	char v[32];
	int rc = flush(s, err, errlen);
	if (rc == 0)
		rc = value(s->c, "SELECT coalesce(sum(bytes), 0) FROM streams",
			   "cannot read the streams", v, sizeof v, err, errlen);
	*bytes = rc == 0 ? strtoull(v, NULL, 10) : 0;
	return rc;
}

/* whether the oldest record is due (by age), or there is an excess of size */
static int retain_due(struct store *s, int64_t recv_before, uint64_t excess, bool *due,
		      char *err, size_t errlen)
{
	char v[32];
	int rc = value(s->c, "SELECT recv FROM records ORDER BY id LIMIT 1", "cannot apply retention",
		       v, sizeof v, err, errlen);
	*due = rc == 0 && *v && (excess || strtoll(v, NULL, 10) < recv_before);
	return rc;
}

/* The oldest records (at most 5000) go while they arrived before $1 or
 * their bytes are under the excess $2, as in sqlite.c, and their streams'
 * counters with them. One statement chooses and deletes, so both see the
 * same rows: ids come from one sequence across gateways, and a record
 * committed by another gateway between a choice and a delete by id range
 * could have been deleted without being chosen, however new. */
static int retain_records(struct store *s, int64_t recv_before, uint64_t excess,
			  uint64_t *deleted, char *err, size_t errlen)
{
	char b[24], x[24];
	snprintf(b, sizeof b, "%lld", (long long)recv_before);
	snprintf(x, sizeof x, "%llu", (unsigned long long)excess);
	const char *v[] = { b, x };
	const char *what = "cannot apply retention";
	PGresult *r = PQexecParams(
		s->c,
		"WITH c AS (SELECT id, recv, sum(octet_length(body)) OVER (ORDER BY id)"
		"  - octet_length(body) AS freed FROM records ORDER BY id LIMIT 5000),"
		" stop AS (SELECT coalesce(min(id), 9223372036854775807) AS id FROM c"
		"  WHERE freed >= $2::bigint AND recv >= $1::bigint),"
		" d AS (DELETE FROM records r USING c, stop WHERE r.id = c.id AND c.id < stop.id"
		"  RETURNING r.device, r.stream, octet_length(r.body) AS b),"
		" g AS (SELECT device, stream, count(*) AS n, sum(b) AS b FROM d GROUP BY 1, 2)"
		" UPDATE streams SET count = streams.count - g.n, bytes = streams.bytes - g.b,"
		" first_ts = CASE WHEN streams.count = g.n THEN NULL ELSE streams.first_ts END,"
		" last_ts = CASE WHEN streams.count = g.n THEN NULL ELSE streams.last_ts END"
		" FROM g WHERE streams.device = g.device AND streams.stream = g.stream RETURNING g.n",
		2, NULL, v, NULL, NULL, 0);
	int rc = check(s->c, r, what, err, errlen);
	if (rc < 0)
		return rc;
	for (int i = 0; i < PQntuples(r); i++)
		*deleted += strtoull(PQgetvalue(r, i, 0), NULL, 10);
	PQclear(r);
	return exec(s->c, "UPDATE streams SET first_ts = (SELECT min(ts) FROM records r"
		    " WHERE r.device = streams.device AND r.stream = streams.stream)"
		    " WHERE first_ts IS NOT NULL AND count > 0 AND first_ts <"
		    " (SELECT min(ts) FROM records r WHERE r.device = streams.device"
		    " AND r.stream = streams.stream)", what, err, errlen);
}

static int pg_retain(struct store *s, int64_t recv_before, uint64_t max_bytes, int64_t idem_before,
		     uint64_t *deleted, char *err, size_t errlen)
{
	*deleted = 0;
	char v[32];
	int rc = pg_begin(s, err, errlen);
	/* one gateway at a time; the others skip the step */
	if (rc == 0)
		rc = value(s->c, "SELECT pg_try_advisory_xact_lock(" LOCK_RETAIN ")",
			   "cannot apply retention", v, sizeof v, err, errlen);
	if (rc < 0 || strcmp(v, "t") != 0) {
		pg_rollback(s);
		return rc;
	}
	uint64_t bytes = 0, excess;
	bool due = false;
	if (max_bytes)
		rc = pg_bytes(s, &bytes, err, errlen);
	excess = max_bytes && bytes > max_bytes ? bytes - max_bytes : 0;
	if (rc == 0)
		rc = retain_due(s, recv_before, excess, &due, err, errlen);
	if (rc == 0 && due)
		rc = retain_records(s, recv_before, excess, deleted, err, errlen);
	if (rc == 0) {
		snprintf(v, sizeof v, "%lld", (long long)idem_before);
		const char *p[] = { v };
		PGresult *r = PQexecParams(s->c, "DELETE FROM idem WHERE recv < $1", 1, NULL, p, NULL,
					   NULL, 0);
		if ((rc = check(s->c, r, "cannot forget old idempotency keys", err, errlen)) == 0)
			PQclear(r);
	}
	if (rc == 0)
		return pg_commit(s, err, errlen);
	pg_rollback(s);
	return rc;
}

static void pg_reader_close(struct store_reader *r)
{
	PQclear(r->res);
	struct store *s = r->s;
	/* a connection in the middle of a query, or broken, is not kept */
	bool keep = r->c && !r->busy && PQstatus(r->c) == CONNECTION_OK &&
		    PQtransactionStatus(r->c) == PQTRANS_IDLE;
	pthread_mutex_lock(&s->mu);
	if (keep && s->npool < POOL_MAX) {
		s->pool[s->npool++] = r->c;
		r->c = NULL;
	}
	pthread_mutex_unlock(&s->mu);
	PQfinish(r->c);
	free(r);
}

static struct store_reader *pg_reader_open(struct store *s, char *err, size_t errlen)
{
	struct store_reader *r = xcalloc(1, sizeof *r);
	r->h = s->h;
	r->s = s;
	pthread_mutex_lock(&s->mu);
	if (s->npool)
		r->c = s->pool[--s->npool];
	pthread_mutex_unlock(&s->mu);
	if (!r->c && !(r->c = connect_to(s->url, s->h.where, err, errlen))) {
		free(r);
		return NULL;
	}
	return r;
}

/* the reader's connection ready for a query: the rows of the last query
 * that nobody wants are dropped, a broken connection is made again */
static void reader_ready(struct store_reader *r)
{
	PQclear(r->res);
	r->res = NULL;
	if (r->busy) {
		PGresult *res;
		while ((res = PQgetResult(r->c)))
			PQclear(res);
		r->busy = false;
	}
	if (PQstatus(r->c) != CONNECTION_OK)
		PQreset(r->c);
}

/* a query whose rows store_next takes one at a time (memory: one row) */
static int send_query(struct store_reader *r, const char *q, int n, const char *const *v,
		      char *err, size_t errlen)
{
	reader_ready(r);
	if (!PQsendQueryParams(r->c, q, n, NULL, v, NULL, NULL, 0) || !PQsetSingleRowMode(r->c))
		return fail(r->c, NULL, "cannot query the store", err, errlen);
	r->busy = true;
	return STORE_OK;
}

static int pg_query(struct store_reader *r, const char *device, const char *stream,
		    int64_t start, int64_t end, uint64_t limit, char *err, size_t errlen)
{
	char a[24], b[24], l[24];
	snprintf(a, sizeof a, "%lld", (long long)start);
	snprintf(b, sizeof b, "%lld", (long long)end);
	snprintf(l, sizeof l, "%llu", (unsigned long long)limit);
	const char *v[] = { device, a, b, limit ? l : NULL, stream };
	return send_query(r, stream ? "SELECT id, body FROM records WHERE device = $1 AND ts >= $2"
				      " AND ts < $3 AND stream = $5 ORDER BY ts, id LIMIT $4"
				    : "SELECT id, body FROM records WHERE device = $1 AND ts >= $2"
				      " AND ts < $3 ORDER BY ts, id LIMIT $4",
			  stream ? 5 : 4, v, err, errlen);
}

static int pg_follow(struct store_reader *r, int64_t after, int64_t upto, uint64_t limit,
		     char *err, size_t errlen)
{
	char a[24], u[24], l[24];
	snprintf(a, sizeof a, "%lld", (long long)after);
	snprintf(u, sizeof u, "%lld", (long long)upto);
	snprintf(l, sizeof l, "%llu", (unsigned long long)limit);
	const char *v[] = { r->s->origin, a, l, u };
	return send_query(r, "SELECT id, body FROM records WHERE origin = $1 AND id > $2"
			     " AND id <= $4 ORDER BY id LIMIT $3", 4, v, err, errlen);
}

static int pg_next(struct store_reader *r, int64_t *id, const char **body, size_t *len,
		   char *err, size_t errlen)
{
	PQclear(r->res);
	r->res = NULL;
	if (!r->busy)
		return 0;
	PGresult *res = PQgetResult(r->c);
	if (PQresultStatus(res) == PGRES_SINGLE_TUPLE) {
		r->res = res;
		*id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		*body = PQgetvalue(res, 0, 1);
		*len = (size_t)PQgetlength(res, 0, 1);
		return 1;
	}
	int rc = res ? check(r->c, res, "cannot read the store", err, errlen)
		     : fail(r->c, NULL, "cannot read the store", err, errlen);
	if (rc == STORE_OK)
		PQclear(res);
	while ((res = PQgetResult(r->c)))
		PQclear(res);
	r->busy = false;
	return rc < 0 ? rc : 0;
}

/* one value of a query on a reader (with text parameters) */
static int reader_value(struct store_reader *r, const char *q, int n, const char *const *v,
			char *out, size_t outlen, char *err, size_t errlen)
{
	int rc = send_query(r, q, n, v, err, errlen);
	int64_t id;
	const char *body;
	size_t len;
	*out = 0;
	/* the value comes as the "id" column, its text as the body */
	if (rc == 0 && (rc = pg_next(r, &id, &body, &len, err, errlen)) == 1) {
		snprintf(out, outlen, "%s", PQgetvalue(r->res, 0, 0));
		rc = pg_next(r, &id, &body, &len, err, errlen);
	}
	return rc < 0 ? rc : STORE_OK;
}

static int64_t pg_last_id(struct store_reader *r)
{
	char v[32], e[256];
	const char *p[] = { r->s->origin };
	if (reader_value(r, "SELECT coalesce(max(id), 0), '' FROM records WHERE origin = $1", 1, p,
			 v, sizeof v, e, sizeof e) < 0)
		return 0;
	return strtoll(v, NULL, 10);
}

static int pg_size(struct store_reader *r, uint64_t *bytes, int64_t *disk_free, char *err,
		   size_t errlen)
{
	char v[32];
	*disk_free = -1;   /* the server's disk, which the gateway cannot see */
	int rc = reader_value(r, "SELECT pg_database_size(current_database()), ''", 0, NULL, v,
			      sizeof v, err, errlen);
	*bytes = strtoull(v, NULL, 10);
	return rc;
}

static int pg_list(struct store_reader *r, struct buf *out, char *err, size_t errlen)
{
	reader_ready(r);
	PGresult *res = PQexec(r->c, "SELECT device, stream, connected, count, first_ts, last_ts,"
				     " bytes FROM streams ORDER BY device, stream");
	int rc = check(r->c, res, "cannot list the streams", err, errlen);
	if (rc < 0)
		return rc;
	for (int i = 0; i < PQntuples(res); i++) {
		int64_t v[5];
		bool null[5];
		for (int c = 0; c < 5; c++) {
			null[c] = PQgetisnull(res, i, c + 2);
			v[c] = strtoll(PQgetvalue(res, i, c + 2), NULL, 10);
		}
		store_list_row(out, PQgetvalue(res, i, 0), (size_t)PQgetlength(res, i, 0),
			       PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1), v, null);
	}
	PQclear(res);
	return STORE_OK;
}

const struct store_ops store_pg = {
	.name = "postgresql",
	.accepts = pg_accepts,
	.open = pg_open,
	.close = pg_close,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.idem_claim = pg_idem_claim,
	.idem_put = pg_idem_put,
	.idem_drop = pg_idem_drop,
	.connected = pg_connected,
	.connect = pg_connect,
	.insert = pg_insert,
	.count = pg_count,
	.retain = pg_retain,
	.bytes = pg_bytes,
	.reader_open = pg_reader_open,
	.reader_close = pg_reader_close,
	.query = pg_query,
	.next = pg_next,
	.follow = pg_follow,
	.last_id = pg_last_id,
	.list = pg_list,
	.size = pg_size,
};
