/* index: the per-group orderings of ready nodes (see index.h) */
#include <string.h>

#include "index.h"

/* treap priorities: any well-mixed function of the node index */
static uint32_t treap_prio(uint32_t x)
{
	x = (x ^ (x >> 16)) * 0x7feb352du;
	x = (x ^ (x >> 15)) * 0x846ca68bu;
	return x ^ (x >> 16);
}

/* u: allocated share summed over the node's resources (those it has);
 * v: the same for cpu and mem with the reported load added. Both are
 * task-independent, which is what lets a heap order a group's nodes. */
void node_fractions(struct node *n)
{
	double u = 0, v = 0;
	for (int r = 0; r < NRES; r++)
		if (n->cap[r] > 0)
			u += (double)n->alloc[r] / (double)n->cap[r];
	for (int r = 0; r < 2; r++)
		if (n->cap[r] > 0)
			v += (double)(n->alloc[r] + n->load[r]) / (double)n->cap[r];
	n->u = u;
	n->v = v;
}

/* the order of strategy st: a before b */
bool index_before(const struct sched *s, int st, int a, int b)
{
	const struct node *x = &s->nodes[a], *y = &s->nodes[b];
	switch (st) {
	case S_SPREAD:
		if (x->u != y->u) return x->u < y->u;
		break;
	case S_BINPACK:
		if (x->u != y->u) return x->u > y->u;
		break;
	case S_LEASTLOADED:
		if (x->v != y->v) return x->v < y->v;
		break;
	case S_COST:
		if (x->cost != y->cost) return x->cost < y->cost;
		if (x->u != y->u) return x->u < y->u;
		break;
	}
	if (x->tb != y->tb) return x->tb < y->tb;
	return a < b;
}

/* A heap position holds its node's key and free room, so that sifting
 * compares neighbouring entries instead of reaching into nodes scattered
 * over memory (that was most of the index's upkeep); s->hpos finds an
 * entry from its node. */
static void hent_load(const struct sched *s, int st, struct hent *e, int ni)
{
	const struct node *n = &s->nodes[ni];
	e->n = ni;
	e->tb = n->tb;
	e->k1 = st == S_LEASTLOADED ? n->v : st == S_COST ? n->cost : n->u;
	e->k2 = st == S_COST ? n->u : 0;
	for (int r = 0; r < NRES; r++)
		e->free[r] = n->cap[r] - n->alloc[r];
}

/* index_before on entries: the same order, for the heaps' strategies */
static inline bool hbefore(const struct hent *a, const struct hent *b)
{
	if (a->k1 != b->k1) return a->k1 < b->k1;
	if (a->k2 != b->k2) return a->k2 < b->k2;
	if (a->tb != b->tb) return a->tb < b->tb;
	return a->n < b->n;
}

static void hswap(struct sched *s, struct group *G, int st, int i, int j)
{
	struct hent *h = G->heap[st], t = h[i];
	int *pos = s->hpos[G->level][st];
	h[i] = h[j];
	h[j] = t;
	pos[h[i].n] = i;
	pos[h[j].n] = j;
}

static int hdown(struct sched *s, struct group *G, int st, int i)
{
	const struct hent *h = G->heap[st];
	for (;;) {
		int l = 2 * i + 1, r = l + 1, m = i;
		if (l < G->n && hbefore(&h[l], &h[m])) m = l;
		if (r < G->n && hbefore(&h[r], &h[m])) m = r;
		if (m == i) return i;
		hswap(s, G, st, i, m);
		i = m;
	}
}

/* Each heap position also keeps, per resource, the most any node of its
 * subtree has free, so that a search skips subtrees where the task cannot
 * fit (binpack's fullest nodes, mostly) instead of visiting them. */
static void agg_one(struct sched *s, struct group *G, int st, int pos)
{
	int64_t *a = G->agg[st][pos];
	for (int r = 0; r < NRES; r++) {
		a[r] = G->heap[st][pos].free[r];
		for (int c = 2 * pos + 1; c <= 2 * pos + 2 && c < G->n; c++)
			if (G->agg[st][c][r] > a[r])
				a[r] = G->agg[st][c][r];
	}
}

/* the node at h[i] changed: reload its entry, move it, then mend the
 * aggregates from the deepest position touched (every moved entry is on
 * its path to the root) */
static void hsift(struct sched *s, struct group *G, int st, int i)
{
	struct hent *h = G->heap[st];
	hent_load(s, st, &h[i], h[i].n);
	int j = i;
	while (j > 0 && hbefore(&h[j], &h[(j - 1) / 2])) {
		hswap(s, G, st, j, (j - 1) / 2);
		j = (j - 1) / 2;
	}
	if (j == i)
		j = hdown(s, G, st, i);
	for (int p = j > i ? j : i;; p = (p - 1) / 2) {
		agg_one(s, G, st, p);
		if (!p)
			break;
	}
}

static void build_heaps(struct sched *s, struct group *groups, int ngroups, int st)
{
	for (int g = 0; g < ngroups; g++) {
		struct group *G = &groups[g];
		if (!s->hpos[G->level][st])
			s->hpos[G->level][st] = xcalloc((size_t)s->nnodes + 1, sizeof(int));
		G->heap[st] = xmalloc((size_t)G->n * sizeof *G->heap[st]);
		G->agg[st] = xmalloc((size_t)G->n * sizeof *G->agg[st]);
		for (int i = 0; i < G->n; i++) {
			hent_load(s, st, &G->heap[st][i], G->members[i]);
			s->hpos[G->level][st][G->members[i]] = i;
		}
		for (int i = G->n / 2 - 1; i >= 0; i--)
			hdown(s, G, st, i);
		for (int i = G->n - 1; i >= 0; i--)
			agg_one(s, G, st, i);
	}
}

/* Binpack wants the fullest node that fits, and the fullest nodes are
 * mostly those that do not: a heap would visit them all. A treap ordered
 * by the binpack key, whose subtrees are runs of that order, lets a whole
 * run of full nodes be skipped on its most-free aggregate. */
static void t_pull(struct sched *s, int L, int x)
{
	struct islot *n = &s->nodes[x].ix[L];
	for (int r = 0; r < NRES; r++) {
		n->tagg[r] = s->nodes[x].cap[r] - s->nodes[x].alloc[r];
		if (n->tl >= 0 && s->nodes[n->tl].ix[L].tagg[r] > n->tagg[r])
			n->tagg[r] = s->nodes[n->tl].ix[L].tagg[r];
		if (n->tr >= 0 && s->nodes[n->tr].ix[L].tagg[r] > n->tagg[r])
			n->tagg[r] = s->nodes[n->tr].ix[L].tagg[r];
	}
}

/* nodes of t before x in binpack order to *l, the rest to *r */
static void t_split(struct sched *s, int L, int t, int x, int *l, int *r)
{
	if (t < 0) {
		*l = *r = -1;
		return;
	}
	struct islot *n = &s->nodes[t].ix[L];
	if (index_before(s, S_BINPACK, t, x)) {
		t_split(s, L, n->tr, x, &n->tr, r);
		*l = t;
	} else {
		t_split(s, L, n->tl, x, l, &n->tl);
		*r = t;
	}
	t_pull(s, L, t);
}

static int t_merge(struct sched *s, int L, int a, int b)
{
	if (a < 0) return b;
	if (b < 0) return a;
	if (s->nodes[a].tprio > s->nodes[b].tprio) {
		s->nodes[a].ix[L].tr = t_merge(s, L, s->nodes[a].ix[L].tr, b);
		t_pull(s, L, a);
		return a;
	}
	s->nodes[b].ix[L].tl = t_merge(s, L, a, s->nodes[b].ix[L].tl);
	t_pull(s, L, b);
	return b;
}

static int t_insert(struct sched *s, int L, int root, int x)
{
	int l, r;
	s->nodes[x].ix[L].tl = s->nodes[x].ix[L].tr = -1;
	t_pull(s, L, x);
	t_split(s, L, root, x, &l, &r);
	return t_merge(s, L, t_merge(s, L, l, x), r);
}

/* x must still have the key it was inserted with */
static int t_erase(struct sched *s, int L, int t, int x)
{
	struct islot *n = &s->nodes[t].ix[L];
	if (t == x)
		return t_merge(s, L, n->tl, n->tr);
	if (index_before(s, S_BINPACK, x, t))
		n->tl = t_erase(s, L, n->tl, x);
	else
		n->tr = t_erase(s, L, n->tr, x);
	t_pull(s, L, t);
	return t;
}

static void build_trees(struct sched *s, struct group *groups, int ngroups)
{
	for (int g = 0; g < ngroups; g++) {
		struct group *G = &groups[g];
		G->troot = -1;
		for (int i = 0; i < G->n; i++) {
			s->nodes[G->members[i]].tprio = treap_prio((uint32_t)G->members[i]);
			G->troot = t_insert(s, G->level, G->troot, G->members[i]);
		}
		G->tree = true;
	}
}

/* the node's group at level L, or NULL */
static struct group *group_of(struct sched *s, const struct node *n, int L)
{
	if (L == L_GROUP)
		return n->group >= 0 ? &s->groups[n->group] : NULL;
	return n->cls >= 0 ? &s->classes[n->cls] : NULL;
}

/* before a node's allocation changes: out of the key-ordered trees */
void index_remove(struct sched *s, int ni)
{
	for (int L = 0; L < NLEVEL; L++) {
		struct group *G = group_of(s, &s->nodes[ni], L);
		if (G && G->tree)
			G->troot = t_erase(s, L, G->troot, ni);
	}
}

/* after it changed: back in, with the heaps mended */
void index_update(struct sched *s, int ni)
{
	struct node *n = &s->nodes[ni];
	node_fractions(n);
	for (int L = 0; L < NLEVEL; L++) {
		struct group *G = group_of(s, n, L);
		if (!G)
			continue;
		if (G->tree)
			G->troot = t_insert(s, L, G->troot, ni);
		for (int st = 0; st < NINDEXED; st++)
			if (G->heap[st])
				hsift(s, G, st, s->hpos[L][st][ni]);
	}
}

void index_build(struct sched *s, int st, int L)
{
	struct group *gs = L == L_GROUP ? s->groups : s->classes;
	int ng = L == L_GROUP ? s->ngroups : s->nclasses;
	if (!ng || (st == S_BINPACK ? gs[0].tree : gs[0].heap[st] != NULL))
		return;
	if (st == S_BINPACK)
		build_trees(s, gs, ng);
	else
		build_heaps(s, gs, ng, st);
}

/* some node of the subtree at heap position pos may have room for req */
static bool agg_fits(const struct group *G, int st, int pos, const int64_t *req)
{
	for (int r = 0; r < NRES; r++)
		if (req[r] && G->agg[st][pos][r] < req[r])
			return false;
	return true;
}

/* a best-first walk of the heap, which rarely goes past the root */
static int heap_first(struct sched *s, int st, const struct group *G, const int64_t *req,
		      index_fits_fn fits, const void *arg)
{
	const struct hent *h = G->heap[st];
	if (!agg_fits(G, st, 0, req))
		return -1;
	if (fits(s, arg, h[0].n))
		return h[0].n;
	size_t need = (size_t)G->n + 1;
	if (s->scratchcap < need) {
		s->scratchcap = need;
		s->scratch = xrealloc(s->scratch, need * sizeof(int));
	}
	int *q = s->scratch, nq = 0; /* a heap of positions in h */
	int p = 0;
	for (;;) {
		for (int ch = 2 * p + 1; ch <= 2 * p + 2 && ch < G->n; ch++) {
			if (!agg_fits(G, st, ch, req))
				continue;
			int i = nq++;
			q[i] = ch;
			while (i > 0 && hbefore(&h[q[i]], &h[q[(i - 1) / 2]])) {
				int t = q[i]; q[i] = q[(i - 1) / 2]; q[(i - 1) / 2] = t;
				i = (i - 1) / 2;
			}
		}
		if (!nq)
			return -1;
		p = q[0];
		q[0] = q[--nq];
		for (int i = 0;;) {
			int l = 2 * i + 1, r = l + 1, m = i;
			if (l < nq && hbefore(&h[q[l]], &h[q[m]])) m = l;
			if (r < nq && hbefore(&h[q[r]], &h[q[m]])) m = r;
			if (m == i) break;
			int t = q[i]; q[i] = q[m]; q[m] = t;
			i = m;
		}
		if (fits(s, arg, h[p].n))
			return h[p].n;
	}
}

static int tree_first(const struct sched *s, int L, int t, const int64_t *req, index_fits_fn fits,
		      const void *arg)
{
	if (t < 0)
		return -1;
	const struct islot *n = &s->nodes[t].ix[L];
	for (int r = 0; r < NRES; r++)
		if (req[r] && n->tagg[r] < req[r])
			return -1;
	int f = tree_first(s, L, n->tl, req, fits, arg);
	if (f >= 0)
		return f;
	if (fits(s, arg, t))
		return t;
	return tree_first(s, L, n->tr, req, fits, arg);
}

int index_first(struct sched *s, int st, const struct group *G, const int64_t req[NRES],
		index_fits_fn fits, const void *arg)
{
	if (st == S_BINPACK)
		return tree_first(s, G->level, G->troot, req, fits, arg);
	return heap_first(s, st, G, req, fits, arg);
}

/* one group's heap order, entries and aggregates, treap order and aggregates */
static bool group_sound(struct sched *s, struct group *G)
{
	int L = G->level;
	for (int st = 0; st < NINDEXED; st++) {
		if (!G->heap[st])
			continue;
		for (int i = 0; i < G->n; i++) {
			int p = (i - 1) / 2;
			if (i && index_before(s, st, G->heap[st][i].n, G->heap[st][p].n))
				return false;
			if (s->hpos[L][st][G->heap[st][i].n] != i)
				return false;
			struct hent e;
			const struct hent *h = &G->heap[st][i];
			hent_load(s, st, &e, h->n);
			if (e.k1 != h->k1 || e.k2 != h->k2 || e.tb != h->tb ||
			    memcmp(e.free, h->free, sizeof e.free))
				return false;
			int64_t want[NRES];
			memcpy(want, G->agg[st][i], sizeof want);
			agg_one(s, G, st, i);
			if (memcmp(want, G->agg[st][i], sizeof want))
				return false;
		}
	}
	if (G->tree) {
		/* in-order walk with an explicit stack */
		int stack[64], sp = 0, t = G->troot, prev = -1, count = 0;
		while (t >= 0 || sp) {
			while (t >= 0) {
				if (sp == 64)
					return false;
				stack[sp++] = t;
				t = s->nodes[t].ix[L].tl;
			}
			t = stack[--sp];
			if (prev >= 0 && !index_before(s, S_BINPACK, prev, t))
				return false;
			int64_t want[NRES];
			memcpy(want, s->nodes[t].ix[L].tagg, sizeof want);
			t_pull(s, L, t);
			if (memcmp(want, s->nodes[t].ix[L].tagg, sizeof want))
				return false;
			prev = t;
			count++;
			t = s->nodes[t].ix[L].tr;
		}
		if (count != G->n)
			return false;
	}
	return true;
}

/* heap order and aggregates, treap order and aggregates, for the groups
 * and the classes */
bool index_sound(struct sched *s)
{
	for (int g = 0; g < s->ngroups; g++)
		if (!group_sound(s, &s->groups[g]))
			return false;
	for (int g = 0; g < s->nclasses; g++)
		if (!group_sound(s, &s->classes[g]))
			return false;
	return true;
}
