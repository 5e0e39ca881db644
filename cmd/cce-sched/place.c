/* place: filters, strategies, the index, preemption and rescheduling (see sched.h) */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "index.h"
#include "sched.h"

static uint64_t strhash(const char *k)
{
	return mix64(fnv1a64(CCE_FNV_BASIS, k, strlen(k)));
}

void sched_init(struct sched *s, struct out *out)
{
	memset(s, 0, sizeof *s);
	s->out = out;
	s->balance = 1.25;
	map_init(&s->node_ix, MAP_COPY_KEYS);
	map_init(&s->names, 0); /* task names, borrowed from the tasks */
	/* room for many tasks: pages of the table never used are never
	 * touched, and each doubling of a big one was a tenth of a run */
	map_reserve(&s->names, 1 << 17);
	map_init(&s->strkeys, MAP_COPY_KEYS);
	buf_init(&s->pbuf);
	map_init(&s->groupkeys, MAP_COPY_KEYS);
	map_init(&s->reports, MAP_COPY_KEYS);
	s->max_restarts = -1;
	map_init(&s->classkeys, MAP_COPY_KEYS);
	buf_init(&s->line);
	buf_init(&s->tmp);
	buf_init(&s->ex);
}

/* ---- usage ---- */

static void commit(struct sched *s, int ri, int ni)
{
	struct rep *r = &s->reps[ri];
	struct node *n = &s->nodes[ni];
	const struct task *t = &s->tasks[r->spec];
	r->node = ni;
	index_remove(s, ni);
	/* placements read from --state are not checked against capacity:
	 * absurd ones saturate rather than overflow */
	for (int k = 0; k < NRES; k++)
		if (__builtin_add_overflow(n->alloc[k], t->req[k], &n->alloc[k]))
			n->alloc[k] = INT64_MAX / 2;
	n->nrep++;
	if (n->st == N_READY)
		s->hashed++;
	if (n->nreps == n->capreps) {
		n->capreps = n->capreps ? n->capreps * 2 : 4;
		n->reps = xrealloc(n->reps, (size_t)n->capreps * sizeof *n->reps);
	}
	n->reps[n->nreps++] = ri;
	index_update(s, ni);
}

static void uncommit(struct sched *s, int ri)
{
	struct rep *r = &s->reps[ri];
	if (r->node < 0)
		return;
	struct node *n = &s->nodes[r->node];
	const struct task *t = &s->tasks[r->spec];
	index_remove(s, r->node);
	for (int k = 0; k < NRES; k++)
		n->alloc[k] -= t->req[k];
	n->nrep--;
	if (n->st == N_READY)
		s->hashed--;
	for (int i = 0; i < n->nreps; i++)
		if (n->reps[i] == ri) {
			memmove(n->reps + i, n->reps + i + 1, (size_t)(n->nreps - i - 1) * sizeof(int));
			n->nreps--;
			break;
		}
	index_update(s, r->node);
}

int sched_new_rep(struct sched *s, int spec, int tn, int64_t replica)
{
	if (s->nreps == s->capreps) {
		s->capreps = s->capreps ? s->capreps * 2 : 64;
		s->reps = xrealloc(s->reps, (size_t)s->capreps * sizeof *s->reps);
	}
	struct rep *r = &s->reps[s->nreps];
	memset(r, 0, sizeof *r);
	r->spec = spec;
	r->tname = tn;
	r->replica = replica;
	r->node = -1;
	r->live = true;
	/* most task names have one replica: it is kept inline, and the
	 * array is made when a second comes */
	struct tname *T = &s->tnames[tn];
	if (!T->nreps) {
		T->one = s->nreps;
		T->nreps = 1;
		return s->nreps++;
	}
	if (!T->capreps || T->nreps == T->capreps) {
		int cap = T->capreps ? T->capreps * 2 : 4;
		T->reps = xrealloc(T->reps, (size_t)cap * sizeof *T->reps);
		s->owning = true;
		if (!T->capreps)
			T->reps[0] = T->one;
		T->capreps = cap;
	}
	T->reps[T->nreps++] = s->nreps;
	return s->nreps++;
}

/* ---- set-up ---- */

static const struct sched *name_cmp_sched;
static int name_cmp(const void *a, const void *b)
{
	return strcmp(name_cmp_sched->nodes[*(const int *)a].name,
		      name_cmp_sched->nodes[*(const int *)b].name);
}

/* node i joins the group at level L whose key is in s->tmp: its index */
static int join(struct sched *s, int L, int i)
{
	struct group **gs = L == L_GROUP ? &s->groups : &s->classes;
	int *ng = L == L_GROUP ? &s->ngroups : &s->nclasses;
	struct map *keys = L == L_GROUP ? &s->groupkeys : &s->classkeys;
	int g = (int)map_intern(keys, s->tmp.data, s->tmp.len, *ng);
	if (g == *ng) {
		/* capacities double at powers of two */
		if (!(g & (g - 1)))
			*gs = xrealloc(*gs, ((size_t)g * 2 + 1) * sizeof **gs);
		memset(&(*gs)[g], 0, sizeof **gs);
		(*gs)[g].level = L;
		(*gs)[g].rep = i;
		(*ng)++;
	}
	struct group *G = &(*gs)[g];
	if (!(G->n & (G->n - 1)))
		G->members = xrealloc(G->members, ((size_t)G->n * 2 + 1) * sizeof(int));
	G->members[G->n++] = i;
	return g;
}

/* nodes of one shape share a group: same region, zone, labels and
 * capacity, so that static filters are decided per group; nodes of one
 * capacity share a class, unless every class would be one group */
static void make_groups(struct sched *s, int i)
{
	struct node *n = &s->nodes[i];
	buf_reset(&s->tmp);
	buf_addf(&s->tmp, "%lld\x1f%lld\x1f%lld", (long long)n->cap[0], (long long)n->cap[1],
		 (long long)n->cap[2]);
	n->cls = join(s, L_CLASS, i);
	buf_addf(&s->tmp, "\x1f%d\x1f%d", n->region, n->zone);
	for (int l = 0; l < n->nlabels; l++) {
		buf_addc(&s->tmp, '\x1e');
		buf_add_json_str(&s->tmp, n->labels[l].k, strlen(n->labels[l].k));
		buf_add_json_str(&s->tmp, n->labels[l].v, strlen(n->labels[l].v));
	}
	n->group = join(s, L_GROUP, i);
}

/* classes that are as many as the groups would only cost upkeep */
static void drop_classes(struct sched *s)
{
	if (s->nclasses < s->ngroups)
		return;
	for (int i = 0; i < s->nclasses; i++)
		free(s->classes[i].members);
	free(s->classes);
	s->classes = NULL;
	s->nclasses = 0;
	for (int i = 0; i < s->nnodes; i++)
		s->nodes[i].cls = -1;
}

void sched_ready(struct sched *s)
{
	double cpusum = 0;
	bool uniform = true;
	int first = -1;
	s->rrorder = xmalloc(((size_t)s->nnodes + 1) * sizeof(int));
	for (int i = 0; i < s->nnodes; i++) {
		struct node *n = &s->nodes[i];
		n->tb = mix64(s->seed ^ strhash(n->name));
		n->nh = strhash(n->name);
		if (n->st != N_READY)
			continue;
		make_groups(s, i);
		s->rrorder[s->nready++] = i;
		cpusum += (double)n->cap[R_CPU];
		if (first >= 0 && n->cap[R_CPU] != s->nodes[first].cap[R_CPU])
			uniform = false;
		if (first < 0)
			first = i;
	}
	drop_classes(s);
	name_cmp_sched = s;
	qsort(s->rrorder, (size_t)s->nready, sizeof(int), name_cmp);
	for (int i = 0; i < s->nready; i++)
		s->nodes[s->rrorder[i]].rr = i;
	/* rendezvous weights: the cpu share relative to the mean node */
	s->wsum = 0;
	for (int i = 0; i < s->nready; i++) {
		struct node *n = &s->nodes[s->rrorder[i]];
		n->w = uniform || cpusum <= 0 ? 1.0 : (double)n->cap[R_CPU] * s->nready / cpusum;
		if (n->w <= 0)
			n->w = 1e-9;
		s->wsum += n->w;
	}
	s->uniform = uniform;
	for (int i = 0; i < s->nnodes; i++)
		node_fractions(&s->nodes[i]);
	for (int i = 0; i < s->nreps; i++)
		if (s->reps[i].live && s->reps[i].node >= 0)
			commit(s, i, s->reps[i].node);
}

/* ---- filters ---- */

struct pctx {
	const struct task *t;
	int spec, tn, st, exclude;
	int64_t replica;
	uint32_t epoch;
	int *zones, nz, capz;   /* with spread zone or region: the ids taken */
	uint64_t kh;            /* hash of the key, for the hash strategy */
};

static void ctx_take(struct sched *s, struct pctx *c, int ni)
{
	struct node *n = &s->nodes[ni];
	n->mark = c->epoch;
	int id = c->t->spread == SP_ZONE ? n->zone : c->t->spread == SP_REGION ? n->region : -1;
	if (id < 0)
		return;
	if (c->nz == c->capz) {
		c->capz = c->capz ? c->capz * 2 : 8;
		c->zones = xrealloc(c->zones, (size_t)c->capz * sizeof(int));
	}
	c->zones[c->nz++] = id;
}

/* the context for placing replicas of task spec: its siblings' nodes,
 * zones and regions are taken (skip: a replica to leave out) */
static void ctx_init(struct sched *s, struct pctx *c, int spec, int exclude, int skip)
{
	memset(c, 0, sizeof *c);
	c->t = &s->tasks[spec];
	c->spec = spec;
	c->tn = c->t->tn;
	c->st = c->t->strategy >= 0 ? c->t->strategy : s->strategy;
	c->exclude = exclude;
	c->epoch = ++s->epoch;
	const struct tname *T = &s->tnames[c->tn];
	for (int i = 0; i < T->nreps; i++) {
		const struct rep *r = &s->reps[tname_reps(T)[i]];
		/* a replica on a dead node runs nowhere: it holds no zone */
		if (r->live && r->node >= 0 && tname_reps(T)[i] != skip && !s->nodes[r->node].dead)
			ctx_take(s, c, r->node);
	}
}

static void ctx_replica(struct pctx *c, int64_t replica)
{
	c->replica = replica;
	if (c->st != S_HASH)
		return;
	uint64_t h = strhash(c->t->key ? c->t->key : c->t->name);
	c->kh = replica ? mix64(h ^ mix64((uint64_t)replica)) : h;
}

static bool burst(const struct task *t)
{
	return t->qos != Q_GUARANTEED;
}

/* 0, or the capacity filter that fails (freed: resources an eviction would free) */
static int cap_fail(const struct node *n, const struct task *t, const int64_t *freed)
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

static bool region_ok(const struct sched *s, const struct task *t, const struct node *n)
{
	return !t->region || !strcmp(s->strs[n->region], t->region);
}

static bool selector_ok(const struct task *t, const struct node *n)
{
	for (int i = 0; i < t->nselector; i++)
		if (!has_label(n, t->selector[i].k, t->selector[i].v))
			return false;
	return true;
}

static bool spread_ok(const struct pctx *c, const struct node *n)
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

static int prefer_match(const struct sched *s, const struct task *t, const struct node *n)
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
static int node_filter(const struct sched *s, const struct pctx *c, int ni, bool capacity)
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

/* ---- scoring ---- */

struct cand {
	int n;
	int pref, under;
	double s, sec, score;
};

static double round4(double x)
{
	return round(x * 1e4) / 1e4;
}

/* a score in [0, 1] to four decimals, as buf_add_double would print
 * round4(x), without its printf and strtod round trip */
static void add_score(struct buf *b, double x)
{
	int64_t q = llround(x * 1e4);
	if (q < 0 || q > 10000) {
		buf_add_double(b, round4(x));
		return;
	}
	char t[8];
	int n = 0;
	t[n++] = (char)('0' + q / 10000);
	int f = (int)(q % 10000);
	if (f) {
		t[n++] = '.';
		for (int div = 1000; f; div /= 10) {
			t[n++] = (char)('0' + f / div);
			f %= div;
		}
	}
	buf_add(b, t, (size_t)n);
}

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

static void cand_make(const struct sched *s, const struct pctx *c, int ni, struct cand *k)
{
	cand_make_d(s, c, ni, k, NULL, 0);
}

/* a is a better choice than b */
static bool better(const struct sched *s, int st, const struct cand *a, const struct cand *b)
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

static int choose(struct sched *s, const struct pctx *c, struct cand *best)
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

/* ---- reasons and output ---- */

static void filter_name(const struct task *t, int f, struct buf *b)
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

static int count_filters(const struct sched *s, const struct pctx *c, int counts[NFILTER + 1])
{
	memset(counts, 0, (NFILTER + 1) * sizeof(int));
	for (int i = 0; i < s->nnodes; i++)
		counts[node_filter(s, c, i, true)]++;
	return counts[F_PASS];
}

static void add_reason(struct sched *s, const struct pctx *c, struct buf *b)
{
	int counts[NFILTER + 1];
	count_filters(s, c, counts);
	buf_addf(b, "0/%d nodes available: ", s->nnodes);
	if (!s->nnodes) {
		buf_adds(b, "no nodes in the pool");
		return;
	}
	bool first = true;
	for (int f = 0; f < NFILTER; f++)
		if (counts[f]) {
			buf_addf(b, "%s%d ", first ? "" : ", ", counts[f]);
			filter_name(c->t, f, b);
			first = false;
		}
}

/* (literal pieces rather than buf_addf: a printf per record was a tenth
 * of the output's cost) */
static void add_head(struct buf *b, const char *event, const struct task *t, int64_t replica)
{
	if (event) {
		buf_adds(b, "{\"event\":\"");
		buf_adds(b, event);
		buf_adds(b, "\",\"task\":");
	} else {
		buf_adds(b, "{\"task\":");
	}
	buf_add_json_str(b, t->name, t->name_len);
	buf_adds(b, ",\"replica\":");
	buf_add_i64(b, replica);
}

/* ,"node":NAME (and its addr), or ,"from":NAME */
static void add_node(struct buf *b, const char *key, const struct node *n, const char *name)
{
	bool node = !strcmp(key, "node");
	if (n && node) {
		buf_add(b, n->json, n->json_len);
		return;
	}
	buf_adds(b, node ? ",\"node\":" : ",\"from\":");
	name = n ? n->name : name;
	buf_add_json_str(b, name, strlen(name));
	if (n && n->addr && node) {
		buf_adds(b, ",\"addr\":");
		buf_add_json_str(b, n->addr, strlen(n->addr));
	}
}

static void add_explain(struct sched *s, const struct pctx *c, struct buf *b)
{
	int counts[NFILTER + 1];
	struct cand top[3];
	int ntop = 0;
	count_filters(s, c, counts);
	buf_addf(b, ",\"candidates\":%d,\"rejected\":{", counts[F_PASS]);
	bool first = true;
	for (int f = 0; f < NFILTER; f++)
		if (counts[f]) {
			buf_adds(b, first ? "\"" : ",\"");
			filter_name(c->t, f, b);
			buf_addf(b, "\":%d", counts[f]);
			first = false;
		}
	buf_adds(b, "},\"top\":[");
	for (int i = 0; i < s->nnodes; i++) {
		if (node_filter(s, c, i, true) != F_PASS)
			continue;
		struct cand k;
		cand_make(s, c, i, &k);
		int j = ntop < 3 ? ntop++ : 3;
		while (j > 0 && better(s, c->st, &k, &top[j - 1])) {
			if (j < 3)
				top[j] = top[j - 1];
			j--;
		}
		if (j < 3)
			top[j] = k;
	}
	for (int i = 0; i < ntop; i++) {
		buf_adds(b, i ? ",{\"node\":" : "{\"node\":");
		const char *nm = s->nodes[top[i].n].name;
		buf_add_json_str(b, nm, strlen(nm));
		buf_adds(b, ",\"score\":");
		add_score(b, top[i].score);
		buf_addc(b, '}');
	}
	buf_addc(b, ']');
}

/* a replica this run places: on its node, with the score it is printed
 * with, so that the state (sched_state) holds the placement as printed */
static void commit_new(struct sched *s, int ri, const struct cand *k)
{
	s->reps[ri].score = round4(k->score);
	commit(s, ri, k->n);
}

static void emit(struct sched *s)
{
	out_line(s->out, s->line.data, s->line.len);
}

/* --explain is about the choice, so it is taken before the node is used */
static void explain_now(struct sched *s, const struct pctx *c)
{
	if (s->explain) {
		buf_reset(&s->ex);
		add_explain(s, c, &s->ex);
	}
}

/* a placement, or with r a replica of --state moved from node from */
static void emit_placed(struct sched *s, const struct pctx *c, const struct cand *k,
			const struct rep *r, const char *from, const char *why)
{
	struct buf *b = &s->line;
	buf_reset(b);
	add_head(b, r ? "moved" : NULL, c->t, c->replica);
	if (r)
		add_node(b, "from", NULL, from);
	add_node(b, "node", &s->nodes[k->n], NULL);
	buf_adds(b, ",\"score\":");
	add_score(b, k->score);
	if (s->explain)
		buf_add(b, s->ex.data, s->ex.len);
	if (!r) {
		buf_add(b, c->t->extra, c->t->extra_len);
	} else {
		if (why) {
			buf_adds(b, ",\"reason\":");
			buf_add_json_str(b, why, strlen(why));
		}
		health_add_failed(r, b);
	}
	buf_addc(b, '}');
	emit(s);
}

static void emit_unsched(struct sched *s, const struct pctx *c, const char *from)
{
	struct buf *b = &s->line;
	buf_reset(b);
	add_head(b, NULL, c->t, c->replica);
	if (from)
		add_node(b, "from", NULL, from);
	buf_adds(b, ",\"error\":\"unschedulable\",\"reason\":");
	buf_reset(&s->tmp);
	add_reason(s, c, &s->tmp);
	buf_add_json_str(b, s->tmp.data, s->tmp.len);
	buf_addc(b, '}');
	emit(s);
}

/* ---- preemption ---- */

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
	vic_s_reps = s->reps;
	vic_s_tasks = s->tasks;
	if (nv > 1)
		qsort(v, (size_t)nv, sizeof(int), victim_cmp);
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

static void place_one(struct sched *s, struct pctx *c, int64_t replica, bool preempt);

/* fewest evictions, then the lowest priorities, then the tie-break */
static bool preempt(struct sched *s, struct pctx *c)
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

static void place_one(struct sched *s, struct pctx *c, int64_t replica, bool try_preempt)
{
	struct cand k;
	ctx_replica(c, replica);
	int ni = choose(s, c, &k);
	if (ni >= 0) {
		explain_now(s, c);
		int ri = sched_new_rep(s, c->spec, c->tn, replica);
		commit_new(s, ri, &k);
		ctx_take(s, c, ni);
		emit_placed(s, c, &k, NULL, NULL, NULL);
		return;
	}
	if (try_preempt && preempt(s, c)) {
		/* victims' placements reused the node marks: take them again */
		struct pctx fresh;
		ctx_init(s, &fresh, c->spec, c->exclude, -1);
		free(c->zones);
		*c = fresh;
		ctx_replica(c, replica);
		return;
	}
	emit_unsched(s, c, NULL);
}

int sched_live_rep(const struct sched *s, int tn, int64_t replica)
{
	const struct tname *T = &s->tnames[tn];
	for (int i = T->nreps - 1; i >= 0; i--) {
		const struct rep *r = &s->reps[tname_reps(T)[i]];
		if (r->live && r->replica == replica)
			return tname_reps(T)[i];
	}
	return -1;
}

/* a replica of --state that stays: printed again, as it is, so that the
 * output is the whole placement of the tasks read */
static void add_kept(const struct sched *s, int ri, struct buf *b)
{
	const struct rep *r = &s->reps[ri];
	const struct task *t = &s->tasks[r->spec];
	add_head(b, NULL, t, r->replica);
	add_node(b, "node", r->node >= 0 ? &s->nodes[r->node] : NULL, r->gone);
	buf_adds(b, ",\"score\":");
	buf_add_double(b, r->score);
	buf_add(b, t->extra, t->extra_len);
	health_add_failed(r, b);
	buf_addc(b, '}');
}

static void emit_kept(struct sched *s, int ri)
{
	buf_reset(&s->line);
	add_kept(s, ri, &s->line);
	emit(s);
}

static const struct sched *state_cmp_sched;
static int state_cmp(const void *a, const void *b)
{
	const struct rep *x = &state_cmp_sched->reps[*(const int *)a];
	const struct rep *y = &state_cmp_sched->reps[*(const int *)b];
	int c = strcmp(state_cmp_sched->tasks[x->spec].name, state_cmp_sched->tasks[y->spec].name);
	if (c)
		return c;
	return x->replica < y->replica ? -1 : x->replica > y->replica;
}

void sched_state(const struct sched *s, struct buf *out)
{
	int *order = xmalloc(((size_t)s->nreps + 1) * sizeof(int));
	int n = 0;
	for (int i = 0; i < s->nreps; i++)
		if (s->reps[i].live && (s->reps[i].node >= 0 || s->reps[i].gone))
			order[n++] = i;
	state_cmp_sched = s;
	qsort(order, (size_t)n, sizeof(int), state_cmp);
	for (int i = 0; i < n; i++) {
		add_kept(s, order[i], out);
		buf_addc(out, '\n');
	}
	free(order);
}

/* a replica of --state beyond the task's count: it goes, and its node's
 * capacity with it */
static void remove_scaled_down(struct sched *s, int ri)
{
	struct rep *r = &s->reps[ri];
	struct buf *b = &s->line;
	buf_reset(b);
	add_head(b, "removed", &s->tasks[r->spec], r->replica);
	add_node(b, "node", r->node >= 0 ? &s->nodes[r->node] : NULL, r->gone);
	buf_addc(b, '}');
	emit(s);
	uncommit(s, ri);
	r->live = false;
}

void sched_scale_down(struct sched *s, int ti)
{
	const struct tname *T = &s->tnames[s->tasks[ti].tn];
	for (int i = 0; i < T->nreps && !out_done(s->out); i++) {
		const struct rep *r = &s->reps[tname_reps(T)[i]];
		if (r->live && r->replica >= s->tasks[ti].replicas)
			remove_scaled_down(s, tname_reps(T)[i]);
	}
}

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

void sched_place_task(struct sched *s, int ti)
{
	struct pctx c;
	int tn = s->tasks[ti].tn;
	bool known = s->tnames[tn].nreps > 0;
	/* scaled down: the replicas over the count leave first, so that
	 * their room serves the ones that stay or come */
	if (known)
		sched_scale_down(s, ti);
	ctx_init(s, &c, ti, -1, -1);
	for (int64_t r = 0; r < s->tasks[ti].replicas && !out_done(s->out); r++) {
		int ri = known ? sched_live_rep(s, tn, r) : -1;
		if (ri >= 0)
			emit_kept(s, ri); /* already placed: it stays where it is */
		else
			place_one(s, &c, r, s->preempt);
	}
	free(c.zones);
}

void sched_expect(struct sched *s, uint64_t replicas)
{
	s->batch_total += replicas;
}

/* ---- --reschedule ---- */

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
		vic_s_reps = s->reps;
		vic_s_tasks = s->tasks;
		qsort(v, (size_t)nv, sizeof(int), victim_cmp);
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

/* ---- --batch ---- */

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
