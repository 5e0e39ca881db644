/* filter: whether a node may take a replica, filter by filter in the
 * order of enum filter, and the words for each (reasons, --explain) */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "index.h"
#include "place.h"
#include "sched.h"

static bool burst(const struct task *t)
{
	return t->qos != Q_GUARANTEED;
}

/* 0, or the capacity filter that fails (freed: resources an eviction would free) */
int cap_fail(const struct node *n, const struct task *t, const int64_t *freed)
{
	for (int r = 0; r < NRES; r++) {
		if (!t->req[r])
			continue;
		int64_t used = n->alloc[r] - (freed ? freed[r] : 0);
		if (r < 2 && burst(t))
			used += n->load[r];
		if (t->req[r] > n->cap[r] - used)
			return F_CPU + r;
	}
	return 0;
}

static bool has_label(const struct node *n, const char *k, const char *v)
{
	for (int i = 0; i < n->nlabels; i++)
		if (!strcmp(n->labels[i].k, k))
			return !strcmp(n->labels[i].v, v);
	return false;
}

bool region_ok(const struct sched *s, const struct task *t, const struct node *n)
{
	return !t->region || !strcmp(s->strs[n->region], t->region);
}

bool selector_ok(const struct task *t, const struct node *n)
{
	for (int i = 0; i < t->nselector; i++)
		if (!has_label(n, t->selector[i].k, t->selector[i].v))
			return false;
	return true;
}

bool spread_ok(const struct pctx *c, const struct node *n)
{
	switch (c->t->spread) {
	case SP_NONE: return true;
	case SP_NODE: return n->mark != c->epoch;
	case SP_ZONE:
	case SP_REGION: {
		int id = c->t->spread == SP_ZONE ? n->zone : n->region;
		for (int i = 0; i < c->nz; i++)
			if (c->zones[i] == id)
				return false;
		return true;
	}
	}
	return true;
}

int prefer_match(const struct sched *s, const struct task *t, const struct node *n)
{
	for (int i = 0; i < t->nprefer; i++) {
		const struct kv *p = &t->prefer[i];
		bool m = !strcmp(p->k, "zone") ? !strcmp(s->strs[n->zone], p->v)
		       : !strcmp(p->k, "region") ? !strcmp(s->strs[n->region], p->v)
		       : has_label(n, p->k, p->v);
		if (!m)
			return 0;
	}
	return 1;
}

/* every filter, in order: the first that rejects node ni, or F_PASS */
int node_filter(const struct sched *s, const struct pctx *c, int ni, bool capacity)
{
	const struct node *n = &s->nodes[ni];
	int f;
	if (n->st == N_NOTREADY) return F_NOTREADY;
	if (n->st == N_CORDONED) return F_CORDONED;
	if (capacity && (f = cap_fail(n, c->t, NULL))) return f;
	if (!region_ok(s, c->t, n)) return F_REGION;
	if (!selector_ok(c->t, n)) return F_SELECTOR;
	if (!spread_ok(c, n)) return F_SPREAD;
	if (ni == c->exclude) return F_ORIGIN;
	if (n->avoid == c->epoch) return F_FAILED;
	return F_PASS;
}

void filter_name(const struct task *t, int f, struct buf *b)
{
	static const char *const spreads[] = { "", "node", "zone", "region" };
	switch (f) {
	case F_NOTREADY: buf_adds(b, "not ready"); break;
	case F_CORDONED: buf_adds(b, "cordoned"); break;
	case F_CPU: buf_adds(b, "insufficient cpu"); break;
	case F_MEM: buf_adds(b, "insufficient mem"); break;
	case F_DISK: buf_adds(b, "insufficient disk"); break;
	case F_REGION: buf_addf(b, "not in region %s", t->region); break;
	case F_SELECTOR:
		buf_adds(b, "did not match selector ");
		for (int i = 0; i < t->nselector; i++)
			buf_addf(b, "%s%s=%s", i ? "," : "", t->selector[i].k, t->selector[i].v);
		break;
	case F_SPREAD: buf_addf(b, "conflict with spread %s", spreads[t->spread]); break;
	case F_ORIGIN: buf_adds(b, "is the node being left"); break;
	case F_FAILED: buf_adds(b, "failed this replica before"); break;
	}
}

int count_filters(const struct sched *s, const struct pctx *c, int counts[NFILTER + 1])
{
	memset(counts, 0, (NFILTER + 1) * sizeof(int));
	for (int i = 0; i < s->nnodes; i++)
		counts[node_filter(s, c, i, true)]++;
	return counts[F_PASS];
}
