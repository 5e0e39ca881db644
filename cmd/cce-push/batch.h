/*
 * batch: the reader's side of cce-push. Records are grouped into open
 * batches, one per resolved URL (at most MAX_OPEN at once), and a batch
 * goes to the spool when it holds --batch-records records or
 * --batch-bytes bytes, or when its --linger ran out.
 *
 * Promises: batch_read_loop reads until the input ends, a signal, a
 * --strict stop or the senders give up, and syncs the spool whenever it
 * would wait for input, so that nothing read waits unsynced with it.
 * batch_finish then persists every batch still open (over --spool-max if
 * need be: those records are out of the pipe already); a batch that
 * cannot be spooled goes to the dead-letter file or is counted as lost,
 * named on stderr either way, never silently. Errors are reported through
 * diag and recorded in the batcher (failed, fatal, lost, unspooled).
 */
#ifndef CCE_PUSH_BATCH_H
#define CCE_PUSH_BATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "spool.h"
#include "stats.h"
#include "target.h"
#include "tool.h"

#define MAX_OPEN 64   /* batches being filled at once (distinct URLs) */

struct open_batch {
	struct buf key, data;
	uint32_t nrec;
	int64_t first_ms;
	const char *source;   /* where its first record came from */
	uint64_t first_line, last_line;
};

struct batcher {
	struct spool *spool;
	uint64_t max_records, max_bytes;
	int64_t linger_ms;
	struct stats *stats;  /* --stats and SIGUSR1, checked between records */
	struct sender_shared *sh;
	struct open_batch ob[MAX_OPEN];
	size_t nob;
	bool failed;          /* the spool could not be written */
	int fatal;            /* exit code of a rejection that ended the input */
	uint64_t lost;        /* records read but never spooled, nor dead-lettered */
	uint64_t unspooled;   /* records read that went to the dead-letter file instead */
};

/* fsync what was spooled and hand it to the senders (once the spool
 * failed, nothing more) */
void batch_sync(struct batcher *b);
/* jsonl's before_block hook (arg: the batcher): batch_sync */
void batch_before_block(void *arg);
/* Read, batch and spool t's input until it ends, a signal, or the
 * senders give up. */
void batch_read_loop(struct batcher *b, struct tool *t, const struct target *tg);
/* Persist the open batches (dead: the dead-letter file for those that
 * cannot be), free them and sync the spool. */
void batch_finish(struct batcher *b, const char *dead);

#endif
