/* The SQLite backend's reader: queries by time (the chunks merged by ts)
 * and stdout's follow by id (see store.h, backend.h and chunk.h). */
#include "backend.h"
#include "sqlite.h"

#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "chunk.h"

/* what a query's open chunks may hold (decompressed): records sent in
 * time order keep one or two open */
enum { QUERY_OPEN_BYTES = 64 << 20 };

/* a chunk a query has open: its records in ts order, the next at pos */
struct open_chunk {
	struct chunk_view v;
	int64_t id;          /* its first record's */
	uint32_t pos;
};

struct store_reader {
	struct store_head h;
	sqlite3 *db;
	sqlite3_stmt *cur;
	bool row;            /* cur is on a row not yet read */
	bool following;      /* by id (sq_follow), else by ts (sq_query) */
	int64_t start, end;        /* a query's */
	int64_t after, upto;       /* a follow's */
	uint64_t limit, given;
	/* a query's open chunks, least (ts, id) first; spare ones keep
	 * their memory; done is the one the last record came from */
	struct open_chunk **heap, **spare, *done;
	size_t nheap, nspare, cap;
	size_t open_bytes;         /* the frames in heap */
	ZSTD_DCtx *dctx;           /* lent to each chunk as it is unpacked */
	char *dir;     /* for the disk's free space */
};

static void open_chunk_free(struct open_chunk *o)
{
	if (o) {
		chunk_view_free(&o->v);
		free(o);
	}
}

/* the query's open chunks back to the spares */
static void reader_reset(struct store_reader *r)
{
	sqlite3_finalize(r->cur);
	r->cur = NULL;
	r->row = false;
	if (r->done)
		r->spare[r->nspare++] = r->done;
	r->done = NULL;
	while (r->nheap)
		r->spare[r->nspare++] = r->heap[--r->nheap];
	r->given = 0;
	r->open_bytes = 0;
}

void sq_reader_close(struct store_reader *r)
{
	if (!r)
		return;
	reader_reset(r);
	for (size_t i = 0; i < r->nspare; i++)
		open_chunk_free(r->spare[i]);
	free(r->heap);
	free(r->spare);
	ZSTD_freeDCtx(r->dctx);
	sqlite3_close(r->db);
	free(r->h.where);
	free(r);
}

struct store_reader *sq_reader_open(struct store *s, char *err, size_t errlen)
{
	struct store_reader *r = xcalloc(1, sizeof *r);
	r->h.ops = &store_sqlite;
	r->h.where = xstrdup(sq_path(s));
	int rc = sqlite3_open_v2(r->h.where, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
				 NULL);
	if (rc != SQLITE_OK) {
		sq_fail(r->db, rc, r->h.where, err, errlen);
		sq_reader_close(r);
		return NULL;
	}
	sqlite3_busy_timeout(r->db, 10000);
	return r;
}

static int cursor(struct store_reader *r, const char *q, char *err, size_t errlen)
{
	reader_reset(r);
	int rc = sqlite3_prepare_v2(r->db, q, -1, &r->cur, NULL);
	return rc == SQLITE_OK ? STORE_OK : sq_fail(r->db, rc, "cannot query the store", err, errlen);
}

/* the cursor onto its next row: r->row says whether there is one */
static int step(struct store_reader *r, char *err, size_t errlen)
{
	int rc = sqlite3_step(r->cur);
	r->row = rc == SQLITE_ROW;
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return STORE_OK;
	return sq_fail(r->db, rc, "cannot read the store", err, errlen);
}

/* x - d (d >= 0), or INT64_MIN where that would be less */
static int64_t below(int64_t x, int64_t d) { return x < INT64_MIN + d ? INT64_MIN : x - d; }

/* The chunks that may hold a record of [start, end), by their first ts: a
 * chunk spans less than CHUNK_SPAN_MS, so one that holds start or later
 * starts at start - CHUNK_SPAN_MS + 1 or later. Their order among equal first ts does not
 * matter: next_by_ts opens every chunk starting at or before a record's ts
 * before it gives that record. */
int sq_query(struct store_reader *r, const char *device, const char *stream, int64_t start,
		int64_t end, uint64_t limit, char *err, size_t errlen)
{
	int rc = cursor(r, stream ? "SELECT id, ts_min, body FROM chunks WHERE device = ?1"
				    " AND ts_min >= ?3 AND ts_min < ?4 AND ts_max >= ?5 AND stream = ?2"
				    " ORDER BY ts_min"
				  : "SELECT id, ts_min, body FROM chunks WHERE device = ?1"
				    " AND ts_min >= ?3 AND ts_min < ?4 AND ts_max >= ?5 ORDER BY ts_min",
			err, errlen);
	if (rc < 0)
		return rc;
	sq_bind_text(r->cur, 1, device, strlen(device));
	if (stream)
		sq_bind_text(r->cur, 2, stream, strlen(stream));
	sqlite3_bind_int64(r->cur, 3, below(start, CHUNK_SPAN_MS - 1));
	sqlite3_bind_int64(r->cur, 4, end);
	sqlite3_bind_int64(r->cur, 5, start);
	r->following = false;
	r->start = start;
	r->end = end;
	r->limit = limit;
	return step(r, err, errlen);
}

/* the records of ids (after, upto]: the chunks from the one holding after
 * + 1 (it starts at most CHUNK_RECORDS - 1 ids before); not the one that
 * ends at after, which would be read for nothing (or, damaged, for ever) */
int sq_follow(struct store_reader *r, int64_t after, int64_t upto, uint64_t limit, char *err,
	      size_t errlen)
{
	int rc = cursor(r, "SELECT id, ts_min, body, n FROM chunks WHERE id > ?1"
			   " AND id + n - 1 > ?2 AND id <= ?3 ORDER BY id", err, errlen);
	if (rc < 0)
		return rc;
	sqlite3_bind_int64(r->cur, 1, below(after, CHUNK_RECORDS));
	sqlite3_bind_int64(r->cur, 2, after);
	sqlite3_bind_int64(r->cur, 3, upto);
	r->following = true;
	r->after = after;
	r->upto = upto;
	r->limit = limit;
	return step(r, err, errlen);
}

/* room in heap and spare for every open chunk there is and one more */
static void room(struct store_reader *r)
{
	if (r->nheap + r->nspare + 2 <= r->cap)
		return;
	r->cap = r->cap ? 2 * r->cap : 16;
	r->heap = xrealloc(r->heap, r->cap * sizeof *r->heap);
	r->spare = xrealloc(r->spare, r->cap * sizeof *r->spare);
}

/* the cursor's row as an open chunk (a spare one's memory reused) */
static struct open_chunk *take_row(struct store_reader *r, char *err, size_t errlen)
{
	room(r);
	struct open_chunk *o = r->nspare ? r->spare[--r->nspare] : NULL;
	if (!o) {
		o = xcalloc(1, sizeof *o);
		chunk_view_init(&o->v);
	}
	o->id = sqlite3_column_int64(r->cur, 0);
	o->pos = 0;
	char why[200];
	/* one context for the reader, not one per open chunk */
	o->v.z = r->dctx;
	int rc = chunk_unpack(&o->v, sqlite3_column_blob(r->cur, 2),
			      (size_t)sqlite3_column_bytes(r->cur, 2), why, sizeof why);
	r->dctx = o->v.z;
	o->v.z = NULL;
	if (rc < 0) {
		snprintf(err, errlen, "%s: the records from id %lld: %s", r->h.where,
			 (long long)o->id, why);
		r->spare[r->nspare++] = o;
		return NULL;
	}
	return o;
}

/* a is before b: by ts, then id */
static bool before(const struct open_chunk *a, const struct open_chunk *b)
{
	uint32_t i = a->v.order[a->pos], j = b->v.order[b->pos];
	int64_t ta = chunk_ts(&a->v, i), tb = chunk_ts(&b->v, j);
	return ta != tb ? ta < tb : a->id + i < b->id + j;
}

static void sift_down(struct store_reader *r, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		if (l < r->nheap && before(r->heap[l], r->heap[m]))
			m = l;
		if (l + 1 < r->nheap && before(r->heap[l + 1], r->heap[m]))
			m = l + 1;
		if (m == i)
			return;
		struct open_chunk *t = r->heap[i];
		r->heap[i] = r->heap[m];
		r->heap[m] = t;
		i = m;
	}
}

/* o was taken by take_row, which made room for it */
static void push(struct store_reader *r, struct open_chunk *o)
{
	size_t i = r->nheap++;
	r->heap[i] = o;
	while (i && before(r->heap[i], r->heap[(i - 1) / 2])) {
		struct open_chunk *t = r->heap[i];
		r->heap[i] = r->heap[(i - 1) / 2];
		r->heap[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
}

/* opens every chunk that may hold a record before the heap's least: the
 * ones that start at or before it (they come in that order) */
static int open_chunks(struct store_reader *r, char *err, size_t errlen)
{
	while (r->row) {
		if (r->nheap) {
			const struct open_chunk *top = r->heap[0];
			if (sqlite3_column_int64(r->cur, 1) > chunk_ts(&top->v, top->v.order[top->pos]))
				break;
		}
		struct open_chunk *o = take_row(r, err, errlen);
		if (!o)
			return STORE_DAMAGED;
		chunk_sort(&o->v);
		while (o->pos < o->v.n && chunk_ts(&o->v, o->v.order[o->pos]) < r->start)
			o->pos++;
		if (o->pos < o->v.n) {
			push(r, o);
			r->open_bytes += o->v.frame.len;
		} else {
			r->spare[r->nspare++] = o;
		}
		if (r->open_bytes > QUERY_OPEN_BYTES) {
			snprintf(err, errlen, "a query holds at most %d MiB of chunks that overlap in"
				 " time; the device's records from ts %lld on overlap more (many"
				 " requests of the same times)", QUERY_OPEN_BYTES >> 20,
				 (long long)chunk_ts(&r->heap[0]->v, r->heap[0]->v.order[r->heap[0]->pos]));
			return STORE_TOO_MUCH;
		}
		int rc = step(r, err, errlen);
		if (rc < 0)
			return rc;
	}
	return STORE_OK;
}

/* a query's next record: the least of the open chunks' */
static int next_by_ts(struct store_reader *r, int64_t *id, const char **body, size_t *len,
		      char *err, size_t errlen)
{
	if (r->done) {
		r->spare[r->nspare++] = r->done;
		r->done = NULL;
	}
	if (r->limit && r->given >= r->limit)
		return 0;
	int rc = open_chunks(r, err, errlen);
	if (rc < 0)
		return rc;
	if (!r->nheap)
		return 0;
	struct open_chunk *o = r->heap[0];
	uint32_t i = o->v.order[o->pos];
	if (chunk_ts(&o->v, i) >= r->end)
		return 0;
	*id = o->id + i;
	*body = chunk_text(&o->v, i, len);
	if (++o->pos == o->v.n) {
		r->done = o;
		r->open_bytes -= o->v.frame.len;
		r->heap[0] = r->heap[--r->nheap];
	}
	if (r->nheap)
		sift_down(r, 0);
	r->given++;
	return 1;
}

/* stdout's next record: the chunks in id order, each's in arrival order */
static int next_by_id(struct store_reader *r, int64_t *id, const char **body, size_t *len,
		      char *err, size_t errlen)
{
	if (r->limit && r->given >= r->limit)
		return 0;
	for (;;) {
		struct open_chunk *o = r->done;
		if (o && o->pos < o->v.n) {
			uint32_t i = o->pos++;
			if (o->id + i <= r->after)
				continue;
			if (o->id + i > r->upto)
				return 0;
			*id = o->id + i;
			*body = chunk_text(&o->v, i, len);
			r->given++;
			return 1;
		}
		if (!r->row)
			return 0;
		if (o)
			r->spare[r->nspare++] = o;
		if (!(r->done = take_row(r, err, errlen))) {
			*id = sqlite3_column_int64(r->cur, 0) + sqlite3_column_int64(r->cur, 3) - 1;
			return STORE_DAMAGED;
		}
		int rc = step(r, err, errlen);
		if (rc < 0)
			return rc;
	}
}

int sq_next(struct store_reader *r, int64_t *id, const char **body, size_t *len, char *err,
	       size_t errlen)
{
	if (!r->cur)
		return 0;
	int rc = r->following ? next_by_id(r, id, body, len, err, errlen)
			      : next_by_ts(r, id, body, len, err, errlen);
	if (rc <= 0)
		reader_reset(r);
	return rc;
}

int64_t sq_last_id(struct store_reader *r)
{
	sqlite3_stmt *st;
	int64_t id = 0;
	if (sqlite3_prepare_v2(r->db, "SELECT id + n - 1 FROM chunks ORDER BY id DESC LIMIT 1", -1,
			       &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			id = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	return id;
}

int sq_list(struct store_reader *r, struct buf *out, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(r->db, "SELECT device, stream, connected, count, first_ts,"
				    " last_ts, bytes FROM streams ORDER BY device, stream",
				    -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_fail(r->db, rc, "cannot list the streams", err, errlen);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t v[5];
		bool null[5];
		for (int c = 0; c < 5; c++) {
			null[c] = sqlite3_column_type(st, c + 2) == SQLITE_NULL;
			v[c] = sqlite3_column_int64(st, c + 2);
		}
		store_list_row(out, (const char *)sqlite3_column_text(st, 0),
			       (size_t)sqlite3_column_bytes(st, 0),
			       (const char *)sqlite3_column_text(st, 1),
			       (size_t)sqlite3_column_bytes(st, 1), v, null);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? STORE_OK : sq_fail(r->db, rc, "cannot list the streams", err, errlen);
}

static uint64_t file_size(const char *path, const char *suffix)
{
	char p[4200];
	struct stat st;
	snprintf(p, sizeof p, "%s%s", path, suffix);
	return stat(p, &st) == 0 ? (uint64_t)st.st_size : 0;
}

int sq_size(struct store_reader *r, uint64_t *bytes, int64_t *disk_free, char *err,
		   size_t errlen)
{
	struct statvfs vfs;
	*bytes = file_size(r->h.where, "") + file_size(r->h.where, "-wal");
	*disk_free = statvfs(r->h.where, &vfs) == 0 ? (int64_t)(vfs.f_bavail * vfs.f_frsize) : -1;
	(void)err, (void)errlen;
	return STORE_OK;
}
