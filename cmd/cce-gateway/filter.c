/* filterExpression: libjq on one worker thread (see gateway.h). */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "jqx.h"
#include "gateway.h"
#include "sig.h"

enum op { OP_NONE, OP_COMPILE, OP_RUN, OP_FREE, OP_STOP };

static struct {
	pthread_t th;
	bool running;
	pthread_mutex_t call;       /* one caller at a time */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	enum op op;
	bool done;
	int64_t budget_ms;
	uint64_t mem;
	/* the call */
	const char *src;
	struct jqx *x;
	const char *recs;
	const size_t *off, *len;
	size_t n;
	struct buf *out;
	char *err;
	size_t errlen;
	int rc;
	unsigned buried;            /* evaluations abandoned, see FILTER_MAX_BURIED */
} F = { .call = PTHREAD_MUTEX_INITIALIZER, .mu = PTHREAD_MUTEX_INITIALIZER,
	.cv = PTHREAD_COND_INITIALIZER };

static int run(void)
{
	for (size_t i = 0; i < F.n; i++) {
		bool yes;
		char err[256];
		jv in = jv_parse_sized(F.recs + F.off[i], (int)F.len[i]);
		int st = jqx_truth(F.x, in, &yes, err, sizeof err);
		if (st == JQX_TIMEOUT || st == JQX_MEMORY) {
			F.buried++;
			snprintf(F.err, F.errlen, "filterExpression: %s", err);
			return -1;
		}
		/* a run-time error (.a.b of a number) selects nothing */
		if (st == JQX_OK && yes) {
			buf_add(F.out, F.recs + F.off[i], F.len[i]);
			buf_addc(F.out, '\n');
		}
	}
	return 0;
}

static void *worker(void *arg)
{
	(void)arg;
	jqx_init(F.budget_ms, F.mem);
	pthread_mutex_lock(&F.mu);
	for (;;) {
		while (F.op == OP_NONE)
			pthread_cond_wait(&F.cv, &F.mu);
		enum op op = F.op;
		pthread_mutex_unlock(&F.mu);
		if (op == OP_COMPILE)
			F.x = jqx_compile(F.src, F.err, F.errlen);
		else if (op == OP_RUN)
			F.rc = run();
		else if (op == OP_FREE)
			jqx_free(F.x);
		pthread_mutex_lock(&F.mu);
		F.op = OP_NONE;
		F.done = true;
		pthread_cond_broadcast(&F.cv);
		if (op == OP_STOP)
			break;
	}
	pthread_mutex_unlock(&F.mu);
	jqx_shutdown();
	return NULL;
}

/* hands the call in F to the worker and waits for it */
static void call(enum op op)
{
	pthread_mutex_lock(&F.mu);
	F.op = op;
	F.done = false;
	pthread_cond_broadcast(&F.cv);
	while (!F.done)
		pthread_cond_wait(&F.cv, &F.mu);
	pthread_mutex_unlock(&F.mu);
}

int filter_start(int64_t budget_ms, uint64_t mem_budget)
{
	F.budget_ms = budget_ms;
	F.mem = mem_budget;
	/* the worker takes the watchdog's signal, not the tool's */
	sigset_t old;
	sig_block_handled(&old);
	F.running = pthread_create(&F.th, NULL, worker, NULL) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return F.running ? 0 : -1;
}

void filter_stop(void)
{
	if (!F.running)
		return;
	pthread_mutex_lock(&F.call);
	call(OP_STOP);
	pthread_join(F.th, NULL);
	F.running = false;
	pthread_mutex_unlock(&F.call);
}

struct jqx *filter_compile(const char *src, char *err, size_t errlen)
{
	pthread_mutex_lock(&F.call);
	/* jqx keeps each abandoned evaluation's state for good: past a
	 * bound, filters are refused rather than memory growing */
	if (F.buried >= FILTER_MAX_BURIED) {
		snprintf(err, errlen, "filterExpression: refused until a restart, after %u "
			 "evaluations ran past their budget", F.buried);
		pthread_mutex_unlock(&F.call);
		return NULL;
	}
	F.src = src;
	F.err = err;
	F.errlen = errlen;
	call(OP_COMPILE);
	struct jqx *x = F.x;
	pthread_mutex_unlock(&F.call);
	return x;
}

void filter_free(struct jqx *x)
{
	if (!x)
		return;
	pthread_mutex_lock(&F.call);
	F.x = x;
	call(OP_FREE);
	pthread_mutex_unlock(&F.call);
}

int filter_run(struct jqx *x, const char *recs, const size_t *off, const size_t *len, size_t n,
	       struct buf *out, char *err, size_t errlen)
{
	pthread_mutex_lock(&F.call);
	F.x = x;
	F.recs = recs;
	F.off = off;
	F.len = len;
	F.n = n;
	F.out = out;
	F.err = err;
	F.errlen = errlen;
	call(OP_RUN);
	int rc = F.rc;
	pthread_mutex_unlock(&F.call);
	return rc;
}
