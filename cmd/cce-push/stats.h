/*
 * stats: cce-push's status record, on stderr every --stats interval, on
 * SIGUSR1, and once more at the end of a run with --stats:
 * {"tool":"cce-push","ts":...,"read":...,"accepted":...,"delivered":...}.
 *
 * Promises: stats_due costs one test per record when no status is due
 * (no clock read); the counters come from the input, the spool, the
 * senders (under their lock) and the batcher. Nothing here exits.
 */
#ifndef CCE_PUSH_STATS_H
#define CCE_PUSH_STATS_H

#include <stdint.h>

#include "sender.h"
#include "sig.h"
#include "tool.h"

struct batcher;

struct stats {
	int64_t every_ms;     /* --stats, 0: none */
	int64_t next;         /* monotonic ms of the next line, -1: no --stats */
	struct tool *t;
	struct sender_shared *sh;
	const struct batcher *b;
};

/* every_ms: --stats (0 for none) */
void stats_init(struct stats *st, int64_t every_ms, struct tool *t, struct sender_shared *sh,
		const struct batcher *b);
void stats_print(const struct stats *st);
/* Prints the record when SIGUSR1 asked for one or --stats is due. */
void stats_tick(struct stats *st);
static inline void stats_due(struct stats *st)
{
	if (sig_status || st->next >= 0)
		stats_tick(st); /* else the common case, without a clock read per record */
}
/* spool_opts' idle hook (arg: the stats): stats_due */
void stats_idle(void *arg);
/* the senders gave up (--retry-for) or failed */
bool senders_gave_up(struct sender_shared *sh);

#endif
