#include "sender.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "diag.h"
#include "fsutil.h"
#include "hash.h"
#include "timeutil.h"

static bool stopping(struct sender_shared *sh)
{
	return sh->stop || spool_aborted(sh->spool);
}

static bool stopping_cb(void *sh)
{
	return stopping(sh);
}

/* Sleep ms, waking early when the run stops; false when it did. */
static bool nap(struct sender_shared *sh, int64_t ms)
{
	int64_t end = time_mono_ms() + ms;
	for (;;) {
		if (stopping(sh))
			return false;
		int64_t left = end - time_mono_ms();
		if (left <= 0)
			return true;
		if (left > 100)
			left = 100;
		struct timespec ts = { 0, (long)left * 1000000L };
		nanosleep(&ts, NULL);
	}
}

static void receipt(struct sender_shared *sh, const struct spool_batch *b, const struct attempt *a,
		    int attempts, int64_t latency, bool dead)
{
	struct buf r;
	buf_init(&r);
	buf_adds(&r, "{\"batch\":\"");
	buf_adds(&r, b->id);
	buf_addf(&r, "\",\"records\":%" PRIu32 ",\"bytes\":%zu,\"status\":%ld,\"attempts\":%d,"
		 "\"latency_ms\":%" PRId64 ",\"url\":", b->nrec, b->len, a->status, attempts, latency);
	buf_add_json_str(&r, a->where, strlen(a->where));
	if (dead)
		buf_adds(&r, ",\"dead_letter\":true");
	buf_addc(&r, '}');
	out_line(sh->out, r.data, r.len);
	out_flush(sh->out);
	buf_free(&r);
}

static void fail(struct sender_shared *sh, int code, const char *msg)
{
	pthread_mutex_lock(&sh->mu);
	if (!sh->failed) {
		sh->failed = code;
		diag_error("%s", msg);
	}
	pthread_mutex_unlock(&sh->mu);
	spool_abort(sh->spool);
}

/* One batch to its end: true to go on with the next. */
static bool deliver(struct sender *s, struct spool_batch *b)
{
	struct sender_shared *sh = s->sh;
	struct attempt a;
	char err[1024];
	int64_t first = time_mono_ms();
	for (int n = 1;; n++) {
		if (sh->rate) {
			ratelimit_pace(sh->rate, b->len, stopping_cb, sh);
			if (stopping(sh))
				return false;
		}
		int64_t t0 = time_mono_ms();
		enum verdict v = sink_send(s->sink, b, &a);
		int64_t latency = time_mono_ms() - t0;
		if (v == V_STOPPED)
			return false;
		if (v == V_OK || v == V_PERMANENT) {
			pthread_mutex_lock(&sh->mu);
			if (v == V_PERMANENT) {
				if (fs_append(sh->dead_letter, b->data, b->len, 0600, true, err,
					      sizeof err) < 0) {
					pthread_mutex_unlock(&sh->mu);
					fail(sh, 74, err);
					return false;
				}
				diag_error("batch %s (%" PRIu32 " records) refused by %s: %s; kept in '%s'",
					   b->id, b->nrec, a.where[0] ? a.where : sh->target->url, a.msg,
					   sh->dead_letter);
				sh->dead_batches++;
				sh->dead_records += b->nrec;
			} else {
				sh->delivered_batches++;
				sh->delivered_records += b->nrec;
				sh->delivered_bytes += b->len;
			}
			if (sh->receipts)
				receipt(sh, b, &a, n, latency, v == V_PERMANENT);
			pthread_mutex_unlock(&sh->mu);
			if (spool_done(sh->spool, b, err, sizeof err) < 0) {
				fail(sh, 74, err);
				return false;
			}
			if (n > 1)
				diag_warn("batch %s delivered to %s after %d attempts", b->id, a.where, n);
			return true;
		}
		uint32_t r = 0;
		if (random_bytes(&r, sizeof r) < 0)
			r = (uint32_t)t0;
		int64_t delay = backoff_delay(n, sh->backoff_ms, sh->backoff_max_ms, a.retry_after_ms, r);
		pthread_mutex_lock(&sh->mu);
		sh->retries++;
		pthread_mutex_unlock(&sh->mu);
		/* --retry-for: the last attempt is made when it runs out */
		int64_t left = sh->retry_for_ms >= 0 ? first + sh->retry_for_ms - time_mono_ms() : INT64_MAX;
		if (left <= 0) {
			diag_error("giving up on batch %s after %d attempts (--retry-for): %s: %s; "
				   "it stays in the spool", b->id, n, a.where[0] ? a.where : sh->target->url,
				   a.msg);
			pthread_mutex_lock(&sh->mu);
			sh->gave_up = true;
			pthread_mutex_unlock(&sh->mu);
			spool_abort(sh->spool);
			return false;
		}
		if (delay > left)
			delay = left;
		/* say it once per outage, then at growing intervals */
		if ((n & (n - 1)) == 0)
			diag_warn("batch %s to %s failed (attempt %d): %s; retrying in %" PRId64 "ms",
				  b->id, a.where[0] ? a.where : sh->target->url, n, a.msg, delay);
		if (!nap(sh, delay))
			return false;
	}
}

static void *run(void *arg)
{
	struct sender *s = arg;
	struct sender_shared *sh = s->sh;
	char err[1024];
	for (;;) {
		struct spool_batch b;
		int r = spool_next(sh->spool, &b, err, sizeof err);
		if (r < 0) {
			spool_batch_free(&b);
			fail(sh, 74, err);
			break;
		}
		if (r == 0)
			break;
		bool go_on = deliver(s, &b);
		spool_batch_free(&b);
		if (!go_on)
			break;
	}
	pthread_mutex_lock(&sh->mu);
	sh->running--;
	pthread_cond_broadcast(&sh->ended);
	pthread_mutex_unlock(&sh->mu);
	return NULL;
}

int sender_start(struct sender *s, struct sender_shared *sh, int index, char *err, size_t errlen)
{
	s->sh = sh;
	s->index = index;
	s->sink = sink_new(sh->target, sh->sink_opts, err, errlen);
	if (!s->sink)
		return -1;
	/* signals are for the main thread: its reads are the ones to wake */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_mutex_lock(&sh->mu);
	sh->running++;
	pthread_mutex_unlock(&sh->mu);
	int rc = pthread_create(&s->th, NULL, run, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		pthread_mutex_lock(&sh->mu);
		sh->running--;
		pthread_mutex_unlock(&sh->mu);
		snprintf(err, errlen, "cannot start a sender thread: %s", strerror(rc));
		sink_free(s->sink);
		s->sink = NULL;
		return -1;
	}
	return 0;
}

void sender_join(struct sender *s)
{
	if (!s->sink)
		return;
	pthread_join(s->th, NULL);
	sink_free(s->sink);
	s->sink = NULL;
}
