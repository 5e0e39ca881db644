/* strategy: the six strategies' scores and orders, and the choice of a node:
 * through the index (spread, binpack, leastloaded, cost), by name order
 * (roundrobin), by rendezvous with bounded loads (hash), or by scoring every
 * node (--exhaustive, the definition the others must match) */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "index.h"
#include "place.h"
#include "sched.h"

/* the sum over the node's resources of the task's share of it */
static double demand(const struct node *n, const struct task *t, int nres, int *nact)
{
	double d = 0;
	*nact = 0;
	for (int r = 0; r < nres; r++)
		if (n->cap[r] > 0) {
			d += t->req[r] ? (double)t->req[r] / (double)n->cap[r] : 0;
			(*nact)++;
		}
	return d;
}

static uint64_t hash_limit(const struct sched *s, const struct node *n)
{
	uint64_t total = s->batch ? s->batch_total : s->hashed + 1;
	return (uint64_t)ceil(s->balance * (double)total * n->w / s->wsum);
}

/* dem: the task's demand on node ni, over dn resources (NULL: work it out) */
static void cand_make_d(const struct sched *s, const struct pctx *c, int ni, struct cand *k,
			const double *dem, int dn)
{
	const struct node *n = &s->nodes[ni];
	int nact = dn;
	k->n = ni;
	k->pref = c->t->nprefer ? prefer_match(s, c->t, n) : 1;
	k->under = 1;
	switch (c->st) {
	case S_SPREAD:
	case S_BINPACK:
	case S_COST:
		k->s = n->u + (dem ? *dem : demand(n, c->t, NRES, &nact));
		k->sec = n->u;
		if (c->st == S_BINPACK)
			k->score = nact ? k->s / nact : 0;
		else if (c->st == S_SPREAD)
			k->score = nact ? 1 - k->s / nact : 1;
		else
			k->score = 1 / (1 + n->cost);
		break;
	case S_LEASTLOADED:
		k->s = n->v + (dem ? *dem : demand(n, c->t, 2, &nact));
		k->sec = n->v;
		k->score = nact ? 1 - k->s / nact : 1;
		break;
	case S_ROUNDROBIN: {
		int d = (n->rr - s->rrcursor + s->nready) % (s->nready ? s->nready : 1);
		k->s = d;
		k->score = 1 - (double)d / s->nready;
		break;
	}
	case S_HASH: {
		double u = ((double)(mix64(c->kh ^ n->nh) >> 11) + 0.5) * 0x1p-53;
		/* weighted rendezvous: max of u^(1/w), compared through its log */
		k->s = s->uniform ? u : log(u) / n->w;
		k->score = s->uniform ? u : exp(k->s);
		k->under = (uint64_t)n->nrep + 1 <= hash_limit(s, n);
		break;
	}
	}
	if (k->score < 0) k->score = 0;
	if (k->score > 1) k->score = 1;
}

void cand_make(const struct sched *s, const struct pctx *c, int ni, struct cand *k)
{
	cand_make_d(s, c, ni, k, NULL, 0);
}

/* a is a better choice than b */
bool better(const struct sched *s, int st, const struct cand *a, const struct cand *b)
{
	if (a->under != b->under) return a->under > b->under;
	if (a->pref != b->pref) return a->pref > b->pref;
	const struct node *x = &s->nodes[a->n], *y = &s->nodes[b->n];
	switch (st) {
	case S_SPREAD:
	case S_LEASTLOADED:
		if (a->s != b->s) return a->s < b->s;
		if (a->sec != b->sec) return a->sec < b->sec;
		break;
	case S_BINPACK:
		if (a->s != b->s) return a->s > b->s;
		if (a->sec != b->sec) return a->sec > b->sec;
		break;
	case S_COST:
		if (x->cost != y->cost) return x->cost < y->cost;
		if (a->s != b->s) return a->s < b->s;
		if (a->sec != b->sec) return a->sec < b->sec;
		break;
	case S_ROUNDROBIN:
		if (a->s != b->s) return a->s < b->s;
		break;
	case S_HASH:
		if (a->s != b->s) return a->s > b->s;
		break;
	}
	if (x->tb != y->tb) return x->tb < y->tb;
	return a->n < b->n;
}

/* score every node: the definition the index must agree with */
static int choose_exhaustive(const struct sched *s, const struct pctx *c, struct cand *best)
{
	int found = 0;
	for (int i = 0; i < s->nnodes; i++) {
		if (node_filter(s, c, i, true) != F_PASS)
			continue;
		struct cand k;
		cand_make(s, c, i, &k);
		if (!found++ || better(s, c->st, &k, best))
			*best = k;
	}
	return found ? best->n : -1;
}

/* what the index cannot know: capacity with the load, spread node, origin */
static bool node_fits(const struct sched *s, const void *arg, int ni)
{
	const struct pctx *c = arg;
	const struct node *n = &s->nodes[ni];
	return !cap_fail(n, c->t, NULL) && (c->t->spread != SP_NODE || n->mark != c->epoch) &&
	       ni != c->exclude && n->avoid != c->epoch;
}

/* a task that no group passes or fails as a whole: any class will do */
static bool unconstrained(const struct task *t)
{
	return !t->region && !t->nselector && !t->nprefer &&
	       (t->spread == SP_NONE || t->spread == SP_NODE);
}

static int choose_indexed(struct sched *s, const struct pctx *c, struct cand *best)
{
	if (!s->ngroups)
		return -1;
	/* within a class the demand is the same on every node, so the first
	 * node of the class is the first of the firsts of its groups */
	bool wide = s->nclasses && unconstrained(c->t);
	index_build(s, c->st, wide ? L_CLASS : L_GROUP);
	struct group *gs = wide ? s->classes : s->groups;
	int found = 0, ng = wide ? s->nclasses : s->ngroups;
	for (int g = 0; g < ng; g++) {
		struct group *G = &gs[g];
		const struct node *r = &s->nodes[G->rep];
		if (!region_ok(s, c->t, r) || !selector_ok(c->t, r))
			continue;
		if ((c->t->spread == SP_ZONE || c->t->spread == SP_REGION) && !spread_ok(c, r))
			continue;
		int ni = index_first(s, c->st, G, c->t->req, node_fits, c);
		if (ni < 0)
			continue;
		/* the demand is the same on every node of the group: divisions
		 * are dear, so it is kept while tasks ask for the same */
		int nres = c->st == S_LEASTLOADED ? 2 : NRES;
		if (memcmp(G->dreq, c->t->req, sizeof G->dreq) || G->dnres != nres) {
			memcpy(G->dreq, c->t->req, sizeof G->dreq);
			G->dnres = nres;
			G->d = demand(&s->nodes[ni], c->t, nres, &G->dact);
		}
		struct cand k;
		cand_make_d(s, c, ni, &k, &G->d, G->dact);
		if (!found++ || better(s, c->st, &k, best))
			*best = k;
	}
	return found ? best->n : -1;
}

static int choose_roundrobin(struct sched *s, const struct pctx *c, struct cand *best)
{
	if (c->t->nprefer)
		return choose_exhaustive(s, c, best);
	for (int k = 0; k < s->nready; k++) {
		int ni = s->rrorder[(s->rrcursor + k) % s->nready];
		if (node_filter(s, c, ni, true) == F_PASS) {
			cand_make(s, c, ni, best);
			return ni;
		}
	}
	return -1;
}

/* the same choice as choose_exhaustive, but the bounded-load limit (a
 * division and a ceil) is only worked out for nodes that would win */
static int choose_hash(const struct sched *s, const struct pctx *c, struct cand *best)
{
	struct cand any, under;
	bool have_any = false, have_under = false;
	for (int i = 0; i < s->nready; i++) {
		int ni = s->rrorder[i];
		if (node_filter(s, c, ni, true) != F_PASS)
			continue;
		const struct node *n = &s->nodes[ni];
		struct cand k;
		k.n = ni;
		k.under = 1;
		k.pref = c->t->nprefer ? prefer_match(s, c->t, n) : 1;
		double u = ((double)(mix64(c->kh ^ n->nh) >> 11) + 0.5) * 0x1p-53;
		k.s = s->uniform ? u : log(u) / n->w;
		if (!have_any || better(s, S_HASH, &k, &any)) {
			any = k;
			have_any = true;
		}
		if ((!have_under || better(s, S_HASH, &k, &under)) &&
		    (uint64_t)n->nrep + 1 <= hash_limit(s, n)) {
			under = k;
			have_under = true;
		}
	}
	if (!have_any)
		return -1;
	cand_make(s, c, have_under ? under.n : any.n, best);
	return best->n;
}

int choose(struct sched *s, const struct pctx *c, struct cand *best)
{
	int ni;
	if (c->st == S_HASH && !s->exhaustive)
		ni = choose_hash(s, c, best);
	else if (c->st == S_ROUNDROBIN)
		ni = choose_roundrobin(s, c, best);
	else if (c->st < NINDEXED && !s->exhaustive)
		ni = choose_indexed(s, c, best);
	else
		ni = choose_exhaustive(s, c, best);
	if (ni >= 0 && c->st == S_ROUNDROBIN)
		s->rrcursor = (s->nodes[ni].rr + 1) % s->nready;
	return ni;
}
