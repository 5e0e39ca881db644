/*
 * sender: the threads that take batches from the spool and deliver them.
 *
 * Promises: each sender takes the oldest batch not yet handed out, tries
 * it until the sink acknowledges it (then acknowledges it to the spool and
 * writes a receipt when asked), or the answer is permanent (then appends
 * the batch to the dead-letter file, fsynced, says why on stderr, and
 * acknowledges it), or --retry-for runs out or the run is stopped (then
 * the batch stays in the spool for the next run and every sender ends).
 * Waits between attempts follow backoff_delay and end at once on stop.
 * With a rate limit, each attempt first waits for its batch's bytes (the
 * records, before any gzip) in the bucket all senders share.
 * Senders never read stdin and never exit the process; they report
 * through diag and the counters below.
 */
#ifndef CCE_PUSH_SENDER_H
#define CCE_PUSH_SENDER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "out.h"
#include "ratelimit.h"
#include "sink.h"
#include "spool.h"
#include "target.h"

struct sender_shared {
	struct spool *spool;
	const struct target *target;
	const struct sink_opts *sink_opts;
	int64_t backoff_ms, backoff_max_ms, retry_for_ms; /* retry_for < 0: forever */
	const char *dead_letter;
	bool receipts;
	struct ratelimit *rate;       /* --rate-limit, shared by the senders; NULL: none */
	struct out *out;
	volatile int stop;

	pthread_mutex_t mu;           /* guards what follows, out and the dead letters */
	uint64_t delivered_batches, delivered_records, delivered_bytes;
	uint64_t dead_batches, dead_records, retries;
	bool gave_up;                 /* --retry-for ran out */
	int failed;                   /* an exit code for an I/O failure, or 0 */
	int running;
	pthread_cond_t ended;         /* broadcast when a sender ends (CLOCK_MONOTONIC) */
};

struct sender {
	struct sender_shared *sh;
	struct sink *sink;
	pthread_t th;
	int index;
};

/* Creates the sink and starts the thread: 0, or -1 with err. */
int sender_start(struct sender *s, struct sender_shared *sh, int index, char *err, size_t errlen);
void sender_join(struct sender *s);

#endif
