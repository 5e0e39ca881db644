/*
 * store: cce-gateway's records in a database, behind one interface with a
 * backend per kind (backend.h): SQLite under a directory (sqlite.c, the
 * default) or PostgreSQL at a postgresql:// URL (pg.c).
 *
 * Promises: store_open opens the store, creating the schema when there is
 * none, and refuses one that cannot be opened, fails its integrity check
 * or holds another schema, with a message naming it and what is wrong; it
 * never serves such a store. SQLite: DIR/gateway.db in WAL mode with
 * synchronous=FULL, DIR/lock taken so that one gateway owns the store.
 * PostgreSQL: several gateways share one database; ORIGIN names this one
 * (its records are the ones its stdout follows).
 *
 * A write happens between store_begin and store_commit: records, their
 * streams' counters and an idempotency key are in one transaction, so a
 * request is stored whole with its key or not at all. A transaction is
 * durable once store_sync has returned after its store_commit: SQLite
 * commits without waiting for the disk (synchronous=NORMAL in WAL mode: a
 * crash keeps the database whole and loses at most the last commits) and
 * store_sync fdatasyncs the WAL, so that the writer runs the next
 * transaction while the disk syncs the last ones; PostgreSQL's commit is
 * durable already. store_sync may run on another thread than the writes,
 * one thread at a time. store_inserted_id is the id of the last record
 * this handle inserted (the largest in the store when none), or INT64_MAX
 * when every committed record is durable. store_idem_claim takes a
 * key for this transaction, or says it was stored (by this gateway or by
 * another on the same database: a unique key keeps it once; a claim made
 * by a transaction in flight elsewhere waits for its outcome).
 * Errors are STORE_ERR with err filled, STORE_FULL when the disk (or the
 * database's size limit) is full, STORE_RETRY when the database undid the
 * transaction for a conflict with another gateway (deadlock) and running
 * it again may succeed: the transaction is then rolled back and nothing of
 * it was stored. The write handle is for one thread; readers
 * (store_reader_open) are separate connections, one per thread, that see
 * committed data only. Nothing prints.
 *
 * The schemas, documented in cce-gateway(1):
 *   meta(k TEXT PRIMARY KEY, v TEXT)            schema version
 *   streams(device, stream, connected, count, first_ts, last_ts, bytes)
 *   idem(key TEXT PRIMARY KEY, recv, status, answer); index idem_recv(recv)
 * SQLite (version 2): a row per chunk of one request's records of one
 * stream (chunk.h), ids id .. id + n - 1 in arrival order:
 *   chunks(id INTEGER PRIMARY KEY, device, stream, ts_min, ts_max, recv, n,
 *     bytes, body); index chunks_dts(device, ts_min, stream)
 * PostgreSQL (version 1): a row per record, so that SQL reads it:
 *   records(id, origin, device, stream, ts, recv, body), origin the
 *     gateway that stored it; index records_dts(device, ts, stream)
 * Either way a query gives records by ts then id, and the records of a
 * request are stored, followed and deleted by retention together.
 */
#ifndef CCE_GATEWAY_STORE_H
#define CCE_GATEWAY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum {
	STORE_OK = 0, STORE_ERR = -1, STORE_FULL = -2, STORE_RETRY = -3,
	/* records that cannot be read back, or a query past what a reader may
	 * hold: asking again will not help */
	STORE_DAMAGED = -4, STORE_TOO_MUCH = -5
};

struct store;

/* WHERE: a directory (SQLite) or a postgresql:// URL */
struct store *store_open(const char *where, const char *origin, char *err, size_t errlen);
void store_close(struct store *s);
/* for messages: DIR/gateway.db, or the URL without its password */
const char *store_where(const struct store *s);
const char *store_kind(const struct store *s);   /* "sqlite", "postgresql" */

int store_begin(struct store *s, char *err, size_t errlen);
int store_commit(struct store *s, char *err, size_t errlen);
void store_rollback(struct store *s);
int store_sync(struct store *s, char *err, size_t errlen);
int64_t store_inserted_id(struct store *s);

/* 1 and the answer given then when key was stored, 0 when not (it is
 * then this transaction's: store_idem_put gives its answer, or
 * store_idem_drop lets it go when nothing is stored) */
int store_idem_claim(struct store *s, const char *key, int64_t now, int *status,
		     struct buf *answer, char *err, size_t errlen);
int store_idem_drop(struct store *s, const char *key, char *err, size_t errlen);
int store_idem_put(struct store *s, const char *key, int status, const char *answer,
		   int64_t now, char *err, size_t errlen);

/* 1 connected, 0 not */
int store_connected(struct store *s, const char *device, const char *stream, char *err,
		    size_t errlen);
/* connect: 1 newly, 0 already; disconnect: 1 done, 0 was not connected */
int store_connect(struct store *s, const char *device, const char *stream, bool on,
		  char *err, size_t errlen);

int store_insert(struct store *s, const char *device, const char *stream, int64_t ts,
		 int64_t recv, const char *body, size_t len, char *err, size_t errlen);
/* the counters of /data/list, once per request and stream */
int store_count(struct store *s, const char *device, const char *stream, uint64_t n,
		uint64_t bytes, int64_t min_ts, int64_t max_ts, char *err, size_t errlen);

/* Retention, one bounded step (its own transaction): deletes the oldest
 * records by arrival while they arrived before recv_before, or while the
 * records' bytes exceed max_bytes (0: no limit), and the idempotency keys
 * older than idem_before. *deleted counts records; 0 deleted means done. */
int store_retain(struct store *s, int64_t recv_before, uint64_t max_bytes, int64_t idem_before,
		 uint64_t *deleted, char *err, size_t errlen);
/* the records' bytes (the JSON text), as retention counts them */
int store_bytes(struct store *s, uint64_t *bytes, char *err, size_t errlen);

/* Read connections. */
struct store_reader;
struct store_reader *store_reader_open(struct store *s, char *err, size_t errlen);
void store_reader_close(struct store_reader *r);

/* Records of device (and stream, when not NULL) with start <= ts < end,
 * oldest first (ties in arrival order), at most limit (0: all). */
int store_query(struct store_reader *r, const char *device, const char *stream, int64_t start,
		int64_t end, uint64_t limit, char *err, size_t errlen);
/* the next record of the query or of store_follow: 1 (body valid until the
 * next call), 0 at the end, STORE_ERR; STORE_DAMAGED (SQLite) when records
 * cannot be read back (a chunk that does not decode), *id the last of
 * them, err naming them: the query is over, a follow may resume after *id;
 * STORE_TOO_MUCH (SQLite) when a query would hold more than its bound */
int store_next(struct store_reader *r, int64_t *id, const char **body, size_t *len, char *err,
	       size_t errlen);
/* Records with after < id <= upto in arrival order, at most limit. */
int store_follow(struct store_reader *r, int64_t after, int64_t upto, uint64_t limit, char *err,
		 size_t errlen);
int64_t store_last_id(struct store_reader *r);
/* the store's bytes on disk, and the disk's free bytes (-1: unknown) */
int store_size(struct store_reader *r, uint64_t *bytes, int64_t *disk_free, char *err,
	       size_t errlen);
/* one JSON line per stream into out: device, stream, connected, count,
 * first_ts, last_ts, bytes */
int store_list(struct store_reader *r, struct buf *out, char *err, size_t errlen);

#endif
