/* preempt: with --preempt, a replica that fits nowhere evicts lower
 * priorities from the node where the fewest and least important go */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "index.h"
#include "place.h"
#include "sched.h"

static const struct rep *vic_s_reps;
static const struct task *vic_s_tasks;
static int victim_cmp(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	int64_t px = vic_s_tasks[vic_s_reps[x].spec].priority;
	int64_t py = vic_s_tasks[vic_s_reps[y].spec].priority;
	if (px != py)
		return px < py ? -1 : 1;
	return x > y ? -1 : x < y; /* the newest replica goes first */
}

void sort_victims(const struct sched *s, int *v, int nv)
{
	vic_s_reps = s->reps;
	vic_s_tasks = s->tasks;
	if (nv > 1)
		qsort(v, (size_t)nv, sizeof(int), victim_cmp);
}

/* victims on node ni so that task c->t fits there: lowest priority first,
 * then any that turned out unneeded given back; -1 when it cannot fit */
static int victims_on(struct sched *s, const struct pctx *c, int ni, int *v, int64_t *psum)
{
	const struct node *n = &s->nodes[ni];
	int nv = 0;
	for (int i = 0; i < n->nreps; i++) {
		const struct rep *r = &s->reps[n->reps[i]];
		if (r->live && s->tasks[r->spec].priority <= c->t->priority - 10)
			v[nv++] = n->reps[i];
	}
	sort_victims(s, v, nv);
	int64_t freed[NRES] = { 0 };
	int k = 0;
	while (cap_fail(n, c->t, freed)) {
		if (k == nv)
			return -1;
		for (int r = 0; r < NRES; r++)
			freed[r] += s->tasks[s->reps[v[k]].spec].req[r];
		k++;
	}
	for (int j = k - 1; j >= 0; j--) {
		const int64_t *q = s->tasks[s->reps[v[j]].spec].req;
		for (int r = 0; r < NRES; r++)
			freed[r] -= q[r];
		if (cap_fail(n, c->t, freed)) {
			for (int r = 0; r < NRES; r++)
				freed[r] += q[r];
		} else {
			memmove(v + j, v + j + 1, (size_t)(k - j - 1) * sizeof(int));
			k--;
		}
	}
	*psum = 0;
	for (int j = 0; j < k; j++)
		*psum += s->tasks[s->reps[v[j]].spec].priority;
	return k;
}

/* fewest evictions, then the lowest priorities, then the tie-break */
bool preempt(struct sched *s, struct pctx *c)
{
	int best = -1, bestk = 0;
	int64_t bestsum = 0;
	int *bv = NULL, *v = NULL;
	size_t cap = 0;
	for (int i = 0; i < s->nnodes; i++) {
		if (node_filter(s, c, i, false) != F_PASS)
			continue;
		const struct node *n = &s->nodes[i];
		if ((size_t)n->nreps > cap) {
			cap = (size_t)n->nreps * 2;
			v = xrealloc(v, cap * sizeof(int));
			bv = xrealloc(bv, cap * sizeof(int));
		}
		int64_t sum;
		int k = victims_on(s, c, i, v, &sum);
		if (k < 0)
			continue;
		if (best < 0 || k < bestk || (k == bestk && sum < bestsum) ||
		    (k == bestk && sum == bestsum && n->tb < s->nodes[best].tb)) {
			best = i;
			bestk = k;
			bestsum = sum;
			if (k)
				memcpy(bv, v, (size_t)k * sizeof(int));
		}
	}
	if (best >= 0) {
		struct buf *b = &s->line;
		for (int j = 0; j < bestk; j++) {
			struct rep *r = &s->reps[bv[j]];
			buf_reset(b);
			add_head(b, "evicted", &s->tasks[r->spec], r->replica);
			add_node(b, "node", NULL, s->nodes[best].name);
			buf_adds(b, ",\"by\":");
			buf_add_json_str(b, c->t->name, strlen(c->t->name));
			buf_addc(b, '}');
			emit(s);
			uncommit(s, bv[j]);
			r->live = false;
		}
		explain_now(s, c);
		struct cand k;
		cand_make(s, c, best, &k);
		int ri = sched_new_rep(s, c->spec, c->tn, c->replica);
		commit_new(s, ri, &k);
		ctx_take(s, c, best);
		emit_placed(s, c, &k, NULL, NULL, NULL);
		/* the evicted go elsewhere if they fit, without evicting in turn */
		for (int j = 0; j < bestk; j++) {
			const struct rep *r = &s->reps[bv[j]];
			struct pctx vc;
			ctx_init(s, &vc, r->spec, -1, -1);
			place_one(s, &vc, r->replica, false);
			free(vc.zones);
		}
	}
	free(v);
	free(bv);
	return best >= 0;
}
