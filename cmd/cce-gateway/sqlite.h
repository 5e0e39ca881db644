/*
 * sqlite: what the SQLite backend's two files (sqlite.c: the store and
 * its writes; sqlite_reader.c: queries and stdout's follow) share. The
 * backend's promises are store.h's; nothing here is for other files.
 */
#ifndef CCE_GATEWAY_SQLITE_H
#define CCE_GATEWAY_SQLITE_H

#include <sqlite3.h>
#include <stdint.h>

#include "store.h"

/* err from the database's message: STORE_FULL for a full disk, else
 * STORE_ERR */
int sq_fail(sqlite3 *db, int rc, const char *what, char *err, size_t errlen);
/* binds text the caller keeps until the statement is reset */
void sq_bind_text(sqlite3_stmt *st, int i, const char *s, size_t n);
const char *sq_path(const struct store *s);

struct store_reader *sq_reader_open(struct store *s, char *err, size_t errlen);
void sq_reader_close(struct store_reader *r);
int sq_query(struct store_reader *r, const char *device, const char *stream, int64_t start,
	     int64_t end, uint64_t limit, char *err, size_t errlen);
int sq_follow(struct store_reader *r, int64_t after, int64_t upto, uint64_t limit, char *err,
	      size_t errlen);
int sq_next(struct store_reader *r, int64_t *id, const char **body, size_t *len, char *err,
	    size_t errlen);
int64_t sq_last_id(struct store_reader *r);
int sq_list(struct store_reader *r, struct buf *out, char *err, size_t errlen);
int sq_size(struct store_reader *r, uint64_t *bytes, int64_t *disk_free, char *err,
	    size_t errlen);

#endif
