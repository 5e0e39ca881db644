/* The store's interface: each call goes to its backend (see backend.h). */
#include "backend.h"

#include <stdio.h>

#define OPS(x) (((const struct store_head *)(const void *)(x))->ops)

static const struct store_ops *const kinds[] = { &store_pg, &store_sqlite };

struct store *store_open(const char *where, const char *origin, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
		if (kinds[i]->accepts(where))
			return kinds[i]->open(where, origin, err, errlen);
	snprintf(err, errlen, "'%s': not a store", where);
	return NULL;
}

void store_close(struct store *s)
{
	if (s)
		OPS(s)->close(s);
}

const char *store_where(const struct store *s)
{
	return ((const struct store_head *)(const void *)s)->where;
}

const char *store_kind(const struct store *s) { return OPS(s)->name; }

int store_begin(struct store *s, char *err, size_t errlen)
{
	return OPS(s)->begin(s, err, errlen);
}

int store_commit(struct store *s, char *err, size_t errlen)
{
	return OPS(s)->commit(s, err, errlen);
}

void store_rollback(struct store *s) { OPS(s)->rollback(s); }

int store_sync(struct store *s, char *err, size_t errlen)
{
	return OPS(s)->sync ? OPS(s)->sync(s, err, errlen) : STORE_OK;
}

int64_t store_inserted_id(struct store *s)
{
	return OPS(s)->inserted_id ? OPS(s)->inserted_id(s) : INT64_MAX;
}

int store_idem_claim(struct store *s, const char *key, int64_t now, int *status,
		     struct buf *answer, char *err, size_t errlen)
{
	return OPS(s)->idem_claim(s, key, now, status, answer, err, errlen);
}

int store_idem_drop(struct store *s, const char *key, char *err, size_t errlen)
{
	return OPS(s)->idem_drop(s, key, err, errlen);
}

int store_idem_put(struct store *s, const char *key, int status, const char *answer,
		   int64_t now, char *err, size_t errlen)
{
	return OPS(s)->idem_put(s, key, status, answer, now, err, errlen);
}

int store_connected(struct store *s, const char *device, const char *stream, char *err,
		    size_t errlen)
{
	return OPS(s)->connected(s, device, stream, err, errlen);
}

int store_connect(struct store *s, const char *device, const char *stream, bool on, char *err,
		  size_t errlen)
{
	return OPS(s)->connect(s, device, stream, on, err, errlen);
}

int store_insert(struct store *s, const char *device, const char *stream, int64_t ts,
		 int64_t recv, const char *body, size_t len, char *err, size_t errlen)
{
	return OPS(s)->insert(s, device, stream, ts, recv, body, len, err, errlen);
}

int store_count(struct store *s, const char *device, const char *stream, uint64_t n,
		uint64_t bytes, int64_t min_ts, int64_t max_ts, char *err, size_t errlen)
{
	return OPS(s)->count(s, device, stream, n, bytes, min_ts, max_ts, err, errlen);
}

int store_retain(struct store *s, int64_t recv_before, uint64_t max_bytes, int64_t idem_before,
		 uint64_t *deleted, char *err, size_t errlen)
{
	return OPS(s)->retain(s, recv_before, max_bytes, idem_before, deleted, err, errlen);
}

int store_bytes(struct store *s, uint64_t *bytes, char *err, size_t errlen)
{
	return OPS(s)->bytes(s, bytes, err, errlen);
}

struct store_reader *store_reader_open(struct store *s, char *err, size_t errlen)
{
	return OPS(s)->reader_open(s, err, errlen);
}

void store_reader_close(struct store_reader *r)
{
	if (r)
		OPS(r)->reader_close(r);
}

int store_query(struct store_reader *r, const char *device, const char *stream, int64_t start,
		int64_t end, uint64_t limit, char *err, size_t errlen)
{
	return OPS(r)->query(r, device, stream, start, end, limit, err, errlen);
}

int store_next(struct store_reader *r, int64_t *id, const char **body, size_t *len, char *err,
	       size_t errlen)
{
	return OPS(r)->next(r, id, body, len, err, errlen);
}

int store_follow(struct store_reader *r, int64_t after, int64_t upto, uint64_t limit, char *err,
		 size_t errlen)
{
	return OPS(r)->follow(r, after, upto, limit, err, errlen);
}

int64_t store_last_id(struct store_reader *r) { return OPS(r)->last_id(r); }

int store_size(struct store_reader *r, uint64_t *bytes, int64_t *disk_free, char *err,
	       size_t errlen)
{
	return OPS(r)->size(r, bytes, disk_free, err, errlen);
}

int store_list(struct store_reader *r, struct buf *out, char *err, size_t errlen)
{
	return OPS(r)->list(r, out, err, errlen);
}

void store_list_row(struct buf *out, const char *dev, size_t dlen, const char *stream,
		    size_t slen, const int64_t v[5], const bool null[5])
{
	static const char *const name[5] = { "connected", "count", "first_ts", "last_ts",
					     "bytes" };
	buf_adds(out, "{\"device\":");
	buf_add_json_str(out, dev, dlen);
	buf_adds(out, ",\"stream\":");
	buf_add_json_str(out, stream, slen);
	for (int c = 0; c < 5; c++) {
		buf_addf(out, ",\"%s\":", name[c]);
		if (c == 0)
			buf_adds(out, v[c] ? "true" : "false");
		else if (null[c])
			buf_adds(out, "null");
		else
			buf_add_i64(out, v[c]);
	}
	buf_adds(out, "}\n");
}
