#include "ratelimit.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define MIN_BURST 16384.0
#define SLICE_NS 100000000LL

int ratelimit_parse(const char *opt, const char *s, uint64_t *bytes_per_s, char *err,
		    size_t errlen)
{
	char size[64];
	size_t n = strlen(s);
	if (n > 2 && !strcmp(s + n - 2, "/s"))
		n -= 2;
	if (n > 0 && n < sizeof size) {
		memcpy(size, s, n);
		size[n] = 0;
		if (parse_size(size, bytes_per_s) == 0 && *bytes_per_s > 0)
			return 0;
	}
	snprintf(err, errlen, "%s: invalid rate '%s' (use e.g. 500K, 10MiB or 1MB/s)", opt, s);
	return -1;
}

void ratelimit_init(struct ratelimit *rl, uint64_t bytes_per_s, int64_t now_ns)
{
	pthread_mutex_init(&rl->lock, NULL);
	rl->rate = (double)bytes_per_s;
	rl->burst = rl->rate / 10 > MIN_BURST ? rl->rate / 10 : MIN_BURST;
	rl->tokens = rl->burst;
	rl->last_ns = now_ns;
}

void ratelimit_free(struct ratelimit *rl)
{
	pthread_mutex_destroy(&rl->lock);
}

int64_t ratelimit_take(struct ratelimit *rl, size_t n, int64_t now_ns)
{
	if (rl->rate <= 0)
		return 0;
	pthread_mutex_lock(&rl->lock);
	if (now_ns > rl->last_ns) {
		rl->tokens += (double)(now_ns - rl->last_ns) * rl->rate / 1e9;
		if (rl->tokens > rl->burst)
			rl->tokens = rl->burst;
		rl->last_ns = now_ns;
	}
	rl->tokens -= (double)n;
	double debt = rl->tokens < 0 ? -rl->tokens : 0;
	pthread_mutex_unlock(&rl->lock);
	return (int64_t)(debt * 1e9 / rl->rate);
}

int64_t ratelimit_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void ratelimit_pace(struct ratelimit *rl, size_t n, bool (*stop)(void *), void *arg)
{
	int64_t wait = ratelimit_take(rl, n, ratelimit_now_ns());
	int64_t until = ratelimit_now_ns() + wait;
	for (int64_t left = wait; left > 0 && !(stop && stop(arg)); left = until - ratelimit_now_ns()) {
		int64_t slice = left < SLICE_NS ? left : SLICE_NS;
		struct timespec ts = { slice / 1000000000LL, slice % 1000000000LL };
		nanosleep(&ts, NULL);
	}
}
