/* reschedule: --reschedule moves the replicas of --state off nodes gone,
 * dead, unfit, overcommitted or reporting them unhealthy */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "index.h"
#include "place.h"
#include "sched.h"

static bool still_fits(const struct sched *s, const struct rep *r)
{
	const struct node *n = &s->nodes[r->node];
	const struct task *t = &s->tasks[r->spec];
	return region_ok(s, t, n) && selector_ok(t, n);
}

static bool overcommitted(const struct node *n)
{
	for (int r = 0; r < NRES; r++)
		if (n->alloc[r] > n->cap[r])
			return true;
	return false;
}

/* the replicas --reschedule moves: off gone, dead or unfit nodes, those
 * their node reports unhealthy (why[i] says so), and the lowest
 * priorities of a node that shrank below what it holds */
static void pick_moves(struct sched *s, bool *move, int *from, char **why)
{
	struct buf b = BUF_INIT;
	buf_init(&b);
	for (int i = 0; i < s->nreps; i++) {
		struct rep *r = &s->reps[i];
		from[i] = r->node;
		if (!r->live)
			continue;
		bool sick = health_bad(s, i, &b);
		if (sick)
			why[i] = xstrndup(b.data, b.len);
		if (r->node < 0 || s->nodes[r->node].dead || !still_fits(s, r) || sick) {
			move[i] = true;
			uncommit(s, i);
			r->node = -1; /* so that it takes no zone from its siblings */
		}
	}
	buf_free(&b);
	int *v = NULL;
	for (int ni = 0; ni < s->nnodes; ni++) {
		struct node *n = &s->nodes[ni];
		if (!overcommitted(n))
			continue;
		v = xrealloc(v, ((size_t)n->nreps + 1) * sizeof(int));
		int nv = n->nreps;
		memcpy(v, n->reps, (size_t)nv * sizeof(int));
		sort_victims(s, v, nv);
		for (int j = 0; j < nv && overcommitted(n); j++) {
			move[v[j]] = true;
			uncommit(s, v[j]);
			s->reps[v[j]].node = -1;
		}
	}
	free(v);
}

/* replica i, off node from (or its gone node): never back onto a node
 * it failed on, the one it leaves now included when why says it failed
 * there; when no other node takes it, it stays */
static void move_one(struct sched *s, int i, int from, const char *why)
{
	struct rep *r = &s->reps[i];
	char *fn = xstrdup(from >= 0 ? s->nodes[from].name : r->gone);
	if (why) {
		health_failed_add(r, fn);
		s->owning = true; /* the replica owns its failed_on list */
	}
	struct pctx c;
	ctx_init(s, &c, r->spec, from, i);
	health_avoid(s, r, c.epoch);
	ctx_replica(&c, r->replica);
	struct cand k;
	int ni = choose(s, &c, &k);
	if (ni >= 0) {
		explain_now(s, &c);
		commit(s, i, ni);
		emit_placed(s, &c, &k, r, fn, why);
	} else {
		emit_unsched(s, &c, fn);
		if (from >= 0)
			commit(s, i, from); /* it stays where it was */
	}
	free(fn);
	free(c.zones);
}

void sched_reschedule(struct sched *s)
{
	bool *move = xcalloc((size_t)s->nreps + 1, sizeof *move);
	int *from = xmalloc(((size_t)s->nreps + 1) * sizeof(int));
	char **why = xcalloc((size_t)s->nreps + 1, sizeof *why);
	pick_moves(s, move, from, why);
	int nreps = s->nreps;
	for (int i = 0; i < nreps && !out_done(s->out); i++)
		if (move[i])
			move_one(s, i, from[i], why[i]);
	for (int i = 0; i < nreps; i++)
		free(why[i]);
	free(why);
	free(move);
	free(from);
}
