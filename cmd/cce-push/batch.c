#include "batch.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "fsutil.h"
#include "timeutil.h"

void batch_sync(struct batcher *b)
{
	char err[1024];
	if (!b->failed && spool_sync(b->spool, err, sizeof err) < 0) {
		diag_error("%s", err);
		b->failed = true;
	}
}

/* the reader is about to wait for input: nothing may wait with it */
void batch_before_block(void *arg)
{
	batch_sync(arg);
}

static int commit(struct batcher *b, struct open_batch *ob, bool force)
{
	if (!ob->nrec)
		return 0;
	char err[1024];
	int rc = spool_append(b->spool, ob->key.data, ob->key.len, ob->data.data, ob->data.len,
			      ob->nrec, force, err, sizeof err);
	if (rc < 0) {
		diag_error("%s", err);
		b->failed = true;
		return -1;
	}
	if (rc > 0)
		return 1; /* stopped while waiting for room: kept open */
	buf_reset(&ob->data);
	ob->nrec = 0;
	return 0;
}

static void remove_batch(struct batcher *b, size_t i)
{
	buf_free(&b->ob[i].key);
	buf_free(&b->ob[i].data);
	b->ob[i] = b->ob[--b->nob];
}

/* The open batch for a key, making room for a new one when needed. */
static struct open_batch *batch_for(struct batcher *b, const struct buf *key, int64_t now)
{
	for (size_t i = 0; i < b->nob; i++)
		if (b->ob[i].key.len == key->len && memcmp(b->ob[i].key.data, key->data, key->len) == 0)
			return &b->ob[i];
	if (b->nob == MAX_OPEN) {
		size_t oldest = 0;
		for (size_t i = 1; i < b->nob; i++)
			if (b->ob[i].first_ms < b->ob[oldest].first_ms)
				oldest = i;
		if (commit(b, &b->ob[oldest], false) != 0)
			return NULL;
		remove_batch(b, oldest);
	}
	struct open_batch *ob = &b->ob[b->nob++];
	buf_init(&ob->key);
	buf_init(&ob->data);
	buf_add(&ob->key, key->data, key->len);
	ob->nrec = 0;
	ob->first_ms = now;
	return ob;
}

/* Commit the batches whose linger ran out; the time until the next one
 * runs out (-1: none open). */
static int64_t linger_due(struct batcher *b, int64_t now)
{
	int64_t next = -1;
	bool committed = false;
	for (size_t i = 0; i < b->nob;) {
		struct open_batch *ob = &b->ob[i];
		int64_t left = ob->first_ms + b->linger_ms - now;
		if (left <= 0) {
			if (commit(b, ob, false) != 0)
				return 0;
			remove_batch(b, i);
			committed = true;
			continue;
		}
		if (next < 0 || left < next)
			next = left;
		i++;
	}
	if (committed)
		batch_sync(b);
	return next;
}

/* A batch read but not spooled (the spool failed, or its file system is
 * full at the end): into the dead-letter file if it can be written, else
 * named on stderr as lost. Never silently. */
static void keep_unspooled(struct batcher *b, struct open_batch *ob, const char *dead)
{
	if (!ob->nrec)
		return;
	char err[1024];
	if (dead && fs_append(dead, ob->data.data, ob->data.len, 0600, true, err, sizeof err) == 0) {
		diag_error("%" PRIu32 " records read (%s lines %" PRIu64 "-%" PRIu64
			   ") could not be spooled: written to the dead-letter file '%s'",
			   ob->nrec, ob->source, ob->first_line, ob->last_line, dead);
		b->unspooled += ob->nrec;
	} else {
		diag_error("%" PRIu32 " records read (%s lines %" PRIu64 "-%" PRIu64
			   ") could not be spooled and are lost", ob->nrec, ob->source,
			   ob->first_line, ob->last_line);
		b->lost += ob->nrec;
	}
	buf_reset(&ob->data);
	ob->nrec = 0;
}

void batch_finish(struct batcher *b, const char *dead)
{
	for (size_t i = 0; i < b->nob; i++)
		if (b->failed || commit(b, &b->ob[i], true) != 0)
			keep_unspooled(b, &b->ob[i], dead);
	while (b->nob)
		remove_batch(b, b->nob - 1);
	batch_sync(b);
}

/* Monotonic ms from the coarse clock: read once per record, where the
 * full clock cost several percent of the run; linger needs no better than
 * its few milliseconds of resolution. */
static int64_t coarse_ms(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) < 0)
		return time_mono_ms();
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One record into its batch, which goes to the spool when full: 0, or -1
 * when the spool failed or the run stopped while waiting for room. */
static int add_record(struct batcher *b, const struct buf *key, const struct jsonl_line *line,
		      int64_t now)
{
	struct open_batch *ob = batch_for(b, key, now);
	if (!ob)
		return -1;
	if (ob->nrec && (ob->data.len + line->len + 1 > b->max_bytes)) {
		if (commit(b, ob, false) != 0)
			return -1;
		ob->first_ms = now;
	}
	if (!ob->nrec) {
		ob->first_ms = now;
		ob->source = line->source;
		ob->first_line = line->lineno;
	}
	ob->last_line = line->lineno;
	buf_add(&ob->data, line->data, line->len);
	buf_addc(&ob->data, '\n');
	ob->nrec++;
	if (ob->nrec >= b->max_records || ob->data.len >= b->max_bytes)
		if (commit(b, ob, false) != 0)
			return -1;
	return 0;
}

/* How long the reader may wait for input: until the next linger or
 * status line is due (wait < 0: none), and at most a second, to notice
 * senders that gave up. */
static int wait_ms(const struct batcher *b, int64_t wait, int64_t now)
{
	int64_t next_stats = b->stats->next;
	if (next_stats >= 0 && (wait < 0 || next_stats - now < wait))
		wait = next_stats - now > 0 ? next_stats - now : 0;
	if (wait < 0 || wait > 1000)
		wait = 1000;
	return (int)wait;
}

void batch_read_loop(struct batcher *b, struct tool *t, const struct target *tg)
{
	struct json_doc doc;
	json_doc_init(&doc);
	struct buf key;
	buf_init(&key);
	char err[512];
	unsigned lines = 0;
	for (;;) {
		int64_t now = coarse_ms();
		int64_t wait = linger_due(b, now);
		/* the senders' lock, once in a while: a spool they aborted
		 * stops the appends at once anyway */
		if (b->failed || sig_stop || ((++lines & 1023) == 0 && senders_gave_up(b->sh)))
			break;
		stats_due(b->stats);
		struct jsonl_line line;
		/* without placeholders a line is only validated: no tokens needed */
		int st = tool_next(t, &line, tg->nfields ? &doc : NULL, wait_ms(b, wait, now));
		if (st != JSONL_LINE) {
			batch_sync(b);
			lines = 1023; /* check the senders on the next turn */
		}
		if (st == JSONL_FATAL) {
			b->fatal = jsonl_fatal_exit(t->in); /* tool_next said why */
			break;
		}
		if (st == JSONL_EOF)
			break;
		if (st != JSONL_LINE)
			continue;
		buf_reset(&key);
		if (target_key(tg, &doc, &key, err, sizeof err) < 0) {
			if (jsonl_reject(t->in, &line, "%s", err)) {
				b->fatal = tool_fatal(t->in);
				break;
			}
			continue;
		}
		if (add_record(b, &key, &line, now) < 0)
			break;
	}
	json_doc_free(&doc);
	buf_free(&key);
	batch_sync(b);
}
