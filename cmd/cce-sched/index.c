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

static void hswap(struct sched *s, int *h, int st, int i, int j)
{
	int t = h[i];
	h[i] = h[j];
	h[j] = t;
	s->nodes[h[i]].hpos[st] = i;
	s->nodes[h[j]].hpos[st] = j;
}

static int hdown(struct sched *s, int *h, int n, int st, int i)
{
	for (;;) {
		int l = 2 * i + 1, r = l + 1, m = i;
		if (l < n && index_before(s, st, h[l], h[m])) m = l;
		if (r < n && index_before(s, st, h[r], h[m])) m = r;
		if (m == i) return i;
		hswap(s, h, st, i, m);
		i = m;
	}
}

/* Each heap position also keeps, per resource, the most any node of its
 * subtree has free, so that a search skips subtrees where the task cannot
 * fit (binpack's fullest nodes, mostly) instead of visiting them. */
static void agg_one(struct sched *s, struct group *G, int st, int pos)
{
	const struct node *n = &s->nodes[G->heap[st][pos]];
	int64_t *a = G->agg[st][pos];
	for (int r = 0; r < NRES; r++) {
		a[r] = n->cap[r] - n->alloc[r];
		for (int c = 2 * pos + 1; c <= 2 * pos + 2 && c < G->n; c++)
			if (G->agg[st][c][r] > a[r])
				a[r] = G->agg[st][c][r];
	}
}

/* node h[i] changed its key: move it, then mend the aggregates from the
 * deepest position touched (every moved node is on its path to the root) */
static void hsift(struct sched *s, struct group *G, int st, int i)
{
	int *h = G->heap[st];
	int j = i;
	while (j > 0 && index_before(s, st, h[j], h[(j - 1) / 2])) {
		hswap(s, h, st, j, (j - 1) / 2);
		j = (j - 1) / 2;
	}
	if (j == i)
		j = hdown(s, h, G->n, st, i);
	for (int p = j > i ? j : i;; p = (p - 1) / 2) {
		agg_one(s, G, st, p);
		if (!p)
			break;
	}
}

static void build_heaps(struct sched *s, int st)
{
	for (int g = 0; g < s->ngroups; g++) {
		struct group *G = &s->groups[g];
		G->heap[st] = xmalloc((size_t)G->n * sizeof(int));
		G->agg[st] = xmalloc((size_t)G->n * sizeof *G->agg[st]);
		memcpy(G->heap[st], G->members, (size_t)G->n * sizeof(int));
		for (int i = 0; i < G->n; i++)
			s->nodes[G->heap[st][i]].hpos[st] = i;
		for (int i = G->n / 2 - 1; i >= 0; i--)
			hdown(s, G->heap[st], G->n, st, i);
		for (int i = G->n - 1; i >= 0; i--)
			agg_one(s, G, st, i);
	}
}

/* Binpack wants the fullest node that fits, and the fullest nodes are
 * mostly those that do not: a heap would visit them all. A treap ordered
 * by the binpack key, whose subtrees are runs of that order, lets a whole
 * run of full nodes be skipped on its most-free aggregate. */
static void t_pull(struct sched *s, int x)
{
	struct node *n = &s->nodes[x];
	for (int r = 0; r < NRES; r++) {
		n->tagg[r] = n->cap[r] - n->alloc[r];
		if (n->tl >= 0 && s->nodes[n->tl].tagg[r] > n->tagg[r])
			n->tagg[r] = s->nodes[n->tl].tagg[r];
		if (n->tr >= 0 && s->nodes[n->tr].tagg[r] > n->tagg[r])
			n->tagg[r] = s->nodes[n->tr].tagg[r];
	}
}

/* nodes of t before x in binpack order to *l, the rest to *r */
static void t_split(struct sched *s, int t, int x, int *l, int *r)
{
	if (t < 0) {
		*l = *r = -1;
		return;
	}
	struct node *n = &s->nodes[t];
	if (index_before(s, S_BINPACK, t, x)) {
		t_split(s, n->tr, x, &n->tr, r);
		*l = t;
	} else {
		t_split(s, n->tl, x, l, &n->tl);
		*r = t;
	}
	t_pull(s, t);
}

static int t_merge(struct sched *s, int a, int b)
{
	if (a < 0) return b;
	if (b < 0) return a;
	if (s->nodes[a].tprio > s->nodes[b].tprio) {
		s->nodes[a].tr = t_merge(s, s->nodes[a].tr, b);
		t_pull(s, a);
		return a;
	}
	s->nodes[b].tl = t_merge(s, a, s->nodes[b].tl);
	t_pull(s, b);
	return b;
}

static int t_insert(struct sched *s, int root, int x)
{
	int l, r;
	s->nodes[x].tl = s->nodes[x].tr = -1;
	t_pull(s, x);
	t_split(s, root, x, &l, &r);
	return t_merge(s, t_merge(s, l, x), r);
}

/* x must still have the key it was inserted with */
static int t_erase(struct sched *s, int t, int x)
{
	if (t == x)
		return t_merge(s, s->nodes[t].tl, s->nodes[t].tr);
	struct node *n = &s->nodes[t];
	if (index_before(s, S_BINPACK, x, t))
		n->tl = t_erase(s, n->tl, x);
	else
		n->tr = t_erase(s, n->tr, x);
	t_pull(s, t);
	return t;
}

static void build_trees(struct sched *s)
{
	for (int g = 0; g < s->ngroups; g++) {
		struct group *G = &s->groups[g];
		G->troot = -1;
		for (int i = 0; i < G->n; i++) {
			s->nodes[G->members[i]].tprio = treap_prio((uint32_t)G->members[i]);
			G->troot = t_insert(s, G->troot, G->members[i]);
		}
		G->tree = true;
	}
}

/* before a node's allocation changes: out of the key-ordered tree */
void index_remove(struct sched *s, int ni)
{
	struct node *n = &s->nodes[ni];
	if (n->group >= 0 && s->groups[n->group].tree)
		s->groups[n->group].troot = t_erase(s, s->groups[n->group].troot, ni);
}

/* after it changed: back in, with the heaps mended */
void index_update(struct sched *s, int ni)
{
	struct node *n = &s->nodes[ni];
	node_fractions(n);
	if (n->group < 0)
		return;
	struct group *G = &s->groups[n->group];
	if (G->tree)
		G->troot = t_insert(s, G->troot, ni);
	for (int st = 0; st < NINDEXED; st++)
		if (G->heap[st])
			hsift(s, G, st, n->hpos[st]);
}


void index_build(struct sched *s, int st)
{
	if (!s->ngroups || index_built(s, st))
		return;
	if (st == S_BINPACK)
		build_trees(s);
	else
		build_heaps(s, st);
}

bool index_built(const struct sched *s, int st)
{
	return s->ngroups && (st == S_BINPACK ? s->groups[0].tree : s->groups[0].heap[st] != NULL);
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
	const int *h = G->heap[st];
	if (!agg_fits(G, st, 0, req))
		return -1;
	if (fits(s, arg, h[0]))
		return h[0];
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
			while (i > 0 && index_before(s, st, h[q[i]], h[q[(i - 1) / 2]])) {
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
			if (l < nq && index_before(s, st, h[q[l]], h[q[m]])) m = l;
			if (r < nq && index_before(s, st, h[q[r]], h[q[m]])) m = r;
			if (m == i) break;
			int t = q[i]; q[i] = q[m]; q[m] = t;
			i = m;
		}
		if (fits(s, arg, h[p]))
			return h[p];
	}
}

static int tree_first(const struct sched *s, int t, const int64_t *req, index_fits_fn fits,
		      const void *arg)
{
	if (t < 0)
		return -1;
	const struct node *n = &s->nodes[t];
	for (int r = 0; r < NRES; r++)
		if (req[r] && n->tagg[r] < req[r])
			return -1;
	int f = tree_first(s, n->tl, req, fits, arg);
	if (f >= 0)
		return f;
	if (fits(s, arg, t))
		return t;
	return tree_first(s, n->tr, req, fits, arg);
}

int index_first(struct sched *s, int st, const struct group *G, const int64_t req[NRES],
		index_fits_fn fits, const void *arg)
{
	if (st == S_BINPACK)
		return tree_first(s, G->troot, req, fits, arg);
	return heap_first(s, st, G, req, fits, arg);
}

