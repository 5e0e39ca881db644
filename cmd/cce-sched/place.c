/* place: a task's replicas onto nodes, one by one: the context of a
 * placement, committing a replica to a node, preemption as the fallback (see
 * place.h) */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "index.h"
#include "place.h"
#include "sched.h"

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

void commit(struct sched *s, int ri, int ni)
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

void uncommit(struct sched *s, int ri)
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
	if (s->nreps == s->capreps)
		s->reps = sched_grow(s->reps, &s->capreps, sizeof *s->reps, 64);
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

void ctx_take(struct sched *s, struct pctx *c, int ni)
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
void ctx_init(struct sched *s, struct pctx *c, int spec, int exclude, int skip)
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

void ctx_replica(struct pctx *c, int64_t replica)
{
	c->replica = replica;
	if (c->st != S_HASH)
		return;
	uint64_t h = strhash(c->t->key ? c->t->key : c->t->name);
	c->kh = replica ? mix64(h ^ mix64((uint64_t)replica)) : h;
}

/* a replica this run places: on its node, with the score it is printed
 * with, so that the state (sched_state) holds the placement as printed */
void commit_new(struct sched *s, int ri, const struct cand *k)
{
	s->reps[ri].score = round4(k->score);
	commit(s, ri, k->n);
}

void place_one(struct sched *s, struct pctx *c, int64_t replica, bool try_preempt)
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
