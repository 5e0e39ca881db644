#include "stats.h"

#include <inttypes.h>
#include <stdio.h>

#include "batch.h"
#include "timeutil.h"

void stats_init(struct stats *st, int64_t every_ms, struct tool *t, struct sender_shared *sh,
		const struct batcher *b)
{
	st->every_ms = every_ms;
	st->next = every_ms > 0 ? time_mono_ms() + every_ms : -1;
	st->t = t;
	st->sh = sh;
	st->b = b;
}

void stats_print(const struct stats *s)
{
	struct spool_stats st;
	spool_stats(s->b->spool, &st);
	struct sender_shared *sh = s->sh;
	struct tool *t = s->t;
	pthread_mutex_lock(&sh->mu);
	char line[1024];
	int n = snprintf(line, sizeof line,
			 "{\"tool\":\"cce-push\",\"ts\":%" PRId64 ",\"read\":%" PRIu64 ",\"rejected\":%" PRIu64
			 ",\"accepted\":%" PRIu64 ",\"delivered\":%" PRIu64 ",\"delivered_batches\":%" PRIu64
			 ",\"spooled\":%" PRIu64 ",\"spooled_bytes\":%" PRIu64 ",\"dropped\":%" PRIu64
			 ",\"dead_letter\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"retries\":%" PRIu64 "}\n",
			 time_now_ms(), t->in ? jsonl_lines(t->in) : 0, t->in ? jsonl_rejected(t->in) : 0,
			 st.appended_records, sh->delivered_records, sh->delivered_batches, st.records,
			 st.bytes, st.dropped_records, sh->dead_records + s->b->unspooled, s->b->lost,
			 sh->retries);
	pthread_mutex_unlock(&sh->mu);
	if (n > 0)
		diag_raw(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

void stats_tick(struct stats *st)
{
	int64_t now = time_mono_ms();
	if (sig_status || (st->next >= 0 && now >= st->next)) {
		sig_status = 0;
		stats_print(st);
		if (st->next >= 0)
			st->next = now + st->every_ms;
	}
}

void stats_idle(void *arg)
{
	stats_due(arg);
}

bool senders_gave_up(struct sender_shared *sh)
{
	pthread_mutex_lock(&sh->mu);
	bool g = sh->gave_up || sh->failed;
	pthread_mutex_unlock(&sh->mu);
	return g;
}
