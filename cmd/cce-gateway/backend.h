/*
 * backend: what a kind of store (sqlite.c, pg.c) provides to store.c.
 *
 * A backend's struct store and struct store_reader begin with the common
 * head below, so that store.c calls through s->ops without knowing the
 * kind. Each operation keeps the promise store.h makes for it; the
 * backend adds nothing of its own to the callers' view. Adding a kind is a
 * file with one such table and a row in store.c's list.
 */
#ifndef CCE_GATEWAY_BACKEND_H
#define CCE_GATEWAY_BACKEND_H

#include "store.h"

struct store_ops {
	const char *name;
	/* does WHERE name a store of this kind (a URL scheme, a directory) */
	bool (*accepts)(const char *where);
	struct store *(*open)(const char *where, const char *origin, char *err, size_t errlen);
	void (*close)(struct store *s);
	int (*begin)(struct store *s, char *err, size_t errlen);
	int (*commit)(struct store *s, char *err, size_t errlen);
	/* NULL: commit is durable already */
	int (*sync)(struct store *s, char *err, size_t errlen);
	/* NULL: no bound (stdout need not wait for a sync) */
	int64_t (*inserted_id)(struct store *s);
	void (*rollback)(struct store *s);
	int (*idem_claim)(struct store *s, const char *key, int64_t now, int *status,
			  struct buf *answer, char *err, size_t errlen);
	int (*idem_put)(struct store *s, const char *key, int status, const char *answer,
			int64_t now, char *err, size_t errlen);
	int (*idem_drop)(struct store *s, const char *key, char *err, size_t errlen);
	int (*connected)(struct store *s, const char *device, const char *stream, char *err,
			 size_t errlen);
	int (*connect)(struct store *s, const char *device, const char *stream, bool on,
		       char *err, size_t errlen);
	int (*insert)(struct store *s, const char *device, const char *stream, int64_t ts,
		      int64_t recv, const char *body, size_t len, char *err, size_t errlen);
	int (*count)(struct store *s, const char *device, const char *stream, uint64_t n,
		     uint64_t bytes, int64_t min_ts, int64_t max_ts, char *err, size_t errlen);
	int (*retain)(struct store *s, int64_t recv_before, uint64_t max_bytes,
		      int64_t idem_before, uint64_t *deleted, char *err, size_t errlen);
	int (*bytes)(struct store *s, uint64_t *bytes, char *err, size_t errlen);

	struct store_reader *(*reader_open)(struct store *s, char *err, size_t errlen);
	void (*reader_close)(struct store_reader *r);
	int (*query)(struct store_reader *r, const char *device, const char *stream,
		     int64_t start, int64_t end, uint64_t limit, char *err, size_t errlen);
	int (*next)(struct store_reader *r, int64_t *id, const char **body, size_t *len,
		    char *err, size_t errlen);
	int (*follow)(struct store_reader *r, int64_t after, int64_t upto, uint64_t limit,
		      char *err, size_t errlen);
	int64_t (*last_id)(struct store_reader *r);
	int (*list)(struct store_reader *r, struct buf *out, char *err, size_t errlen);
	int (*size)(struct store_reader *r, uint64_t *bytes, int64_t *disk_free, char *err,
		    size_t errlen);
};

/* the head of every backend's struct store and struct store_reader */
struct store_head {
	const struct store_ops *ops;
	char *where;    /* for messages: a path, or a URL without its password */
};

/* one line of store_list: v (with null for SQL NULL) is connected, count,
 * first_ts, last_ts, bytes, the streams table's columns in order */
void store_list_row(struct buf *out, const char *dev, size_t dlen, const char *stream,
		    size_t slen, const int64_t v[5], const bool null[5]);

extern const struct store_ops store_sqlite, store_pg;

#endif
