/*
 * store: where the registry lives, behind one interface for the file store
 * (file:PATH) and etcd (etcd://, etcds://). The tool above never knows
 * which one it talks to: every subcommand behaves the same on both.
 *
 * Promises:
 * - store_open parses the URL and does no I/O; each call then opens, locks
 *   or connects as it needs.
 * - store_commit applies a batch of ops atomically with respect to other
 *   writers: every op is decided against the latest state (no lost update
 *   between two processes), and when it returns 0 every accepted op is
 *   durable (fsynced log, or an etcd transaction that succeeded). On error
 *   nothing of the batch is acknowledged.
 * - Errors return a cce exit code (69 the store is unavailable, 74 an I/O
 *   error, 1 otherwise) with a one-line reason in err.
 */
#ifndef CCE_REGISTER_STORE_H
#define CCE_REGISTER_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "out.h"
#include "registry.h"

struct store_opts {
	const char *cacert, *cert, *key;   /* etcds:// */
	int64_t ttl;                       /* liveness ttl, ms */
	bool verbose;                      /* watch: heartbeat events too */
};

/* One op of a batch and its outcome. */
struct item {
	struct op op;
	enum ev_kind ev;                   /* the outcome once decided */
	bool decided;                      /* rejected before the store saw it */
	char why[160];
	char *source;                      /* where the line came from, for reports */
	uint64_t lineno;
	char *raw;                         /* the line as read, for --rejects */
	size_t raw_len;
};

/* Token check for an op against the node's entry (NULL when unknown);
 * 0 or -1 with *why. */
typedef int (*verify_fn)(void *arg, struct node *n, const struct op *op, int64_t now,
			 const char **why);

struct store;

struct store *store_open(const char *url, const struct store_opts *o, char *err, size_t errlen);
void store_close(struct store *s);
/* human-readable location, for messages */
const char *store_where(const struct store *s);

int store_init(struct store *s, char *err, size_t errlen);
int store_load(struct store *s, struct registry *reg, char *err, size_t errlen);
int store_commit(struct store *s, struct item *items, size_t n, verify_fn verify, void *arg,
		 char *err, size_t errlen);
/* Appends the liveness transitions since the last call as event lines. */
int store_expire(struct store *s, int64_t ttl, struct buf *events, char *err, size_t errlen);
/* Streams events until a signal; flushes out as it goes. */
int store_watch(struct store *s, struct out *out, char *err, size_t errlen);
int store_compact(struct store *s, char *err, size_t errlen);

/* Shared by the backends: decides items[0..n) in order against reg,
 * calling applied (when not NULL) right after each accepted op. */
typedef void (*applied_fn)(void *arg, struct registry *reg, const struct item *it, int64_t now);
void batch_decide(struct registry *reg, struct item *items, size_t n, int64_t now,
		  verify_fn verify, void *arg, applied_fn applied, void *applied_arg);
/* The expire transitions from the states last reported (prev, a JSON
 * object name -> state, may be NULL) to the table now; writes the new
 * object to next. vanished_dead: a node gone from the table without a
 * leave died (etcd's leases delete dead nodes). */
void expire_diff(const struct registry *reg, const struct json_doc *prev, int64_t now,
		 int64_t ttl, bool vanished_dead, struct buf *events, struct buf *next);

#endif
