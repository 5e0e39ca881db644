/* batch: --batch places all tasks at once, largest and most important
 * first, with --balance counting every replica to come */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "index.h"
#include "place.h"
#include "sched.h"

void sched_batch_prepare(struct sched *s, const int *tasks, int n, bool reschedule)
{
	for (int i = 0; i < n && !out_done(s->out); i++)
		sched_scale_down(s, tasks[i]);
	/* batch_total is what --balance spreads once all is placed: what the
	 * ready nodes hold now, the replicas still to place, and the kept
	 * ones a move may bring onto a ready node (counted once each) */
	uint64_t total = s->hashed;
	for (int i = 0; i < n; i++) {
		const struct task *t = &s->tasks[tasks[i]];
		const struct tname *T = &s->tnames[t->tn];
		int64_t missing = t->replicas;
		for (int k = 0; k < T->nreps; k++) {
			const struct rep *r = &s->reps[tname_reps(T)[k]];
			if (!r->live || r->replica >= t->replicas)
				continue;
			missing--;
			if (r->node < 0 || s->nodes[r->node].st != N_READY)
				total++;
		}
		total += missing > 0 ? (uint64_t)missing : 0;
	}
	s->batch_total = total;
	if (reschedule)
		sched_reschedule(s);
}

void sched_expect(struct sched *s, uint64_t replicas)
{
	s->batch_total += replicas;
}

static const struct task *bt_tasks;
static int batch_cmp(const void *a, const void *b)
{
	const struct task *x = &bt_tasks[*(const int *)a], *y = &bt_tasks[*(const int *)b];
	if (x->priority != y->priority)
		return x->priority > y->priority ? -1 : 1;
	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

void sched_sort_batch(struct sched *s, int *order, int n)
{
	/* size: the task's share of the largest node, summed over resources */
	int64_t maxcap[NRES] = { 0 };
	for (int i = 0; i < s->nnodes; i++)
		for (int r = 0; r < NRES; r++)
			if (s->nodes[i].cap[r] > maxcap[r])
				maxcap[r] = s->nodes[i].cap[r];
	for (int i = 0; i < n; i++) {
		struct task *t = &s->tasks[order[i]];
		t->size = 0;
		for (int r = 0; r < NRES; r++)
			if (maxcap[r])
				t->size += (double)t->req[r] / (double)maxcap[r];
	}
	bt_tasks = s->tasks;
	qsort(order, (size_t)n, sizeof(int), batch_cmp);
}
