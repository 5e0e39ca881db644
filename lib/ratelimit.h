/*
 * ratelimit: a token bucket that caps the bytes per second a tool sends,
 * shared by all its sending threads (curl's --limit-rate and rsync's
 * --bwlimit are the conventions).
 *
 * Promises: over any stretch longer than a few bursts, the bytes taken
 * stay within rate * time + burst. A take larger than the bucket is never
 * refused: it goes into debt, and the takers after it wait the debt off, so
 * a sender with large writes is paced on average, not blocked. Thread-safe
 * (one mutex, held for a few instructions, never while sleeping). Nothing
 * is printed; ratelimit_pace sleeps and returns early once stop says so.
 */
#ifndef CCE_RATELIMIT_H
#define CCE_RATELIMIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ratelimit {
	pthread_mutex_t lock;
	double rate;   /* bytes per second; 0: no limit */
	double burst;  /* the bucket's size in bytes */
	double tokens; /* may go below 0: the debt of a large take */
	int64_t last_ns;
};

/* RATE: a size in lib/cli's grammar (512, 64K, 10MiB, 1MB) with an
 * optional "/s": bytes per second, at least 1. 0 or -1 with err filled:
 * "--rate-limit: invalid rate 'fast' (use e.g. 500K, 10MiB or 1MB/s)". */
int ratelimit_parse(const char *opt, const char *s, uint64_t *bytes_per_s, char *err,
		    size_t errlen);
/* rate 0: no limit. The bucket holds a tenth of a second's bytes, at
 * least 16 KiB, and starts full. */
void ratelimit_init(struct ratelimit *rl, uint64_t bytes_per_s, int64_t now_ns);
void ratelimit_free(struct ratelimit *rl);
/* Takes n bytes at now_ns (monotonic); returns the nanoseconds the caller
 * must wait before sending them (0: at once). */
int64_t ratelimit_take(struct ratelimit *rl, size_t n, int64_t now_ns);
/* ratelimit_take on the monotonic clock, then sleeps that long (in slices
 * of at most 100 ms, returning early once stop(arg) is true; stop may be
 * NULL). */
void ratelimit_pace(struct ratelimit *rl, size_t n, bool (*stop)(void *), void *arg);
/* The monotonic clock in nanoseconds. */
int64_t ratelimit_now_ns(void);

#endif
