/* parse: node, task and state records into the sched's tables (see sched.h) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "field.h"
#include "sched.h"

const char *const strategy_names[NSTRAT] = {
	"spread", "binpack", "leastloaded", "cost", "roundrobin", "hash",
};

int strategy_from_name(const char *name)
{
	for (int i = 0; i < NSTRAT; i++)
		if (strcmp(name, strategy_names[i]) == 0)
			return i;
	return -1;
}

/* ---- field helpers (field.h) ---- */

#define MAX_AMOUNT 1e12

/* a resource amount: a number >= 0, kept in thousandths */
static int get_amount(const struct fields *f, const char *key, int flags, int64_t *out)
{
	double v = 0;
	*out = 0;
	if (field_num(f, key, flags, &v) < 0)
		return -1;
	if (v < 0)
		return field_fail(f, key, "negative value %g", v);
	if (!(v <= MAX_AMOUNT))
		return field_fail(f, key, "value %g too large", v);
	*out = llround(v * 1000);
	return 0;
}

static int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct kv *)a)->k, ((const struct kv *)b)->k);
}

static void kv_free(struct kv *kv, int n)
{
	for (int i = 0; i < n; i++) {
		free(kv[i].k);
		free(kv[i].v);
	}
	free(kv);
}

/* an object of strings; sorted by key when sort is set */
static int get_kv(const struct fields *f, const char *key, bool sort, struct kv **out, int *nout)
{
	*out = NULL;
	*nout = 0;
	struct fields o;
	int r = field_obj(f, key, 0, &o);
	if (r <= 0)
		return r;
	const struct json_doc *d = f->d;
	struct kv *kv = xcalloc(d->tok[o.obj].count + 1, sizeof *kv);
	int n = 0;
	for (int k = json_first(d, o.obj); k >= 0; k = json_next_member(d, o.obj, k)) {
		char *name = NULL, *v = NULL;
		if (field_key(&o, k, &name) < 0 || field_str_at(&o, name, k + 1, 0, 0, &v) < 0) {
			free(name);
			kv_free(kv, n);
			return -1;
		}
		/* a repeated key: the last one wins, as json_get does */
		int j;
		for (j = 0; j < n && strcmp(kv[j].k, name); j++)
			;
		if (j < n) {
			free(name);
			free(kv[j].v);
		} else {
			kv[j].k = name;
			n++;
		}
		kv[j].v = v;
	}
	if (sort)
		qsort(kv, (size_t)n, sizeof *kv, kv_cmp);
	*out = kv;
	*nout = n;
	return 0;
}

static int intern(struct sched *s, const char *str)
{
	int id = (int)map_intern(&s->strkeys, str, strlen(str), s->nstrs);
	if (id == s->nstrs) {
		if (s->nstrs == s->capstrs) {
			s->capstrs = s->capstrs ? s->capstrs * 2 : 16;
			s->strs = xrealloc(s->strs, (size_t)s->capstrs * sizeof *s->strs);
		}
		s->strs[s->nstrs++] = xstrdup(str);
	}
	return id;
}

/* A copy of n bytes and a NUL that lives as long as the sched: every task
 * has a name and its passed-through fields, and carving them from big
 * blocks spares a malloc and a free each (a tenth of a streaming run). */
static char *keep(struct sched *s, const char *p, size_t n)
{
	if (n + 1 > s->bleft) {
		size_t size = n + 1 > 65536 ? n + 1 : 65536;
		if (!(s->nblocks & (s->nblocks - 1)))
			s->blocks = xrealloc(s->blocks, ((size_t)s->nblocks * 2 + 1) * sizeof *s->blocks);
		s->blocks[s->nblocks++] = s->bpos = xmalloc(size);
		s->bleft = size;
	}
	char *r = s->bpos;
	memcpy(r, p, n);
	r[n] = 0;
	s->bpos += n + 1;
	s->bleft -= n + 1;
	return r;
}

/* ---- nodes ---- */

int sched_add_node(struct sched *s, const struct json_doc *d, char *err, size_t errlen)
{
	struct node n;
	memset(&n, 0, sizeof n);
	char *region = NULL, *zone = NULL;
	struct fields f, c, l;
	fields_init(&f, d, 0, err, errlen);
	if (field_str(&f, "node", FIELD_REQUIRED | FIELD_NONEMPTY, 0, &n.name) < 0 ||
	    field_str(&f, "addr", 0, 0, &n.addr) < 0 ||
	    field_str(&f, "region", 0, 0, &region) < 0 ||
	    field_str(&f, "zone", 0, 0, &zone) < 0 ||
	    field_str(&f, "state", FIELD_NONEMPTY, 0, &n.state) < 0 ||
	    get_kv(&f, "labels", true, &n.labels, &n.nlabels) < 0 ||
	    field_obj(&f, "capacity", FIELD_REQUIRED, &c) < 0 ||
	    get_amount(&c, "cpu", FIELD_REQUIRED, &n.cap[R_CPU]) < 0 ||
	    get_amount(&c, "mem_mb", FIELD_REQUIRED, &n.cap[R_MEM]) < 0 ||
	    get_amount(&c, "disk_mb", 0, &n.cap[R_DISK]) < 0)
		goto bad;
	/* "load":null is no load */
	if (field_obj(&f, "load", FIELD_NULL, &l) < 0 ||
	    (l.obj >= 0 && (get_amount(&l, "cpu", 0, &n.load[R_CPU]) < 0 ||
			    get_amount(&l, "mem_mb", 0, &n.load[R_MEM]) < 0)))
		goto bad;
	int64_t cost;
	if (get_amount(&f, "cost", 0, &cost) < 0)
		goto bad;
	n.cost = (double)cost / 1000;
	if (!n.state) {
		/* a registry dump says "cordoned":true instead of a state */
		bool cordoned = false;
		if (field_bool(&f, "cordoned", 0, &cordoned) < 0)
			goto bad;
		n.state = xstrdup(cordoned ? "cordoned" : "ready");
	}
	n.st = strcmp(n.state, "ready") == 0 ? N_READY
	     : strcmp(n.state, "cordoned") == 0 ? N_CORDONED : N_NOTREADY;
	n.dead = strcmp(n.state, "dead") == 0;
	bool added;
	struct map_ent *ix = map_put(&s->node_ix, n.name, strlen(n.name), &added);
	if (!added) {
		field_fail(&f, "node", "duplicate node '%s'", n.name);
		goto bad;
	}
	if (health_node(s, &f, n.name) < 0) {
		map_del(&s->node_ix, ix);
		goto bad;
	}
	/* what a placement says of its node, escaped once for every record */
	buf_reset(&s->pbuf);
	buf_adds(&s->pbuf, ",\"node\":");
	buf_add_json_str(&s->pbuf, n.name, strlen(n.name));
	if (n.addr) {
		buf_adds(&s->pbuf, ",\"addr\":");
		buf_add_json_str(&s->pbuf, n.addr, strlen(n.addr));
	}
	n.json_len = s->pbuf.len;
	n.json = keep(s, s->pbuf.data, s->pbuf.len);
	n.region = intern(s, region ? region : "");
	n.zone = intern(s, zone ? zone : "");
	free(region);
	free(zone);
	n.group = n.cls = -1;
	ix->num = s->nnodes;
	if (s->nnodes == s->capnodes) {
		s->capnodes = s->capnodes ? s->capnodes * 2 : 64;
		s->nodes = xrealloc(s->nodes, (size_t)s->capnodes * sizeof *s->nodes);
	}
	s->nodes[s->nnodes++] = n;
	return 0;
bad:
	free(region);
	free(zone);
	free(n.name);
	free(n.addr);
	free(n.state);
	kv_free(n.labels, n.nlabels);
	return -1;
}

/* ---- tasks ---- */

static bool skipped_field(const char *k, size_t n, bool from_state)
{
	static const char *const always[] = { "task", "replicas", NULL };
	/* what cce-sched itself writes into a placement */
	static const char *const placed[] = { "replica", "node", "addr", "score", "candidates",
					      "rejected", "top", "event", "from", "by",
					      "failed_on", NULL };
	for (int i = 0; always[i]; i++)
		if (strlen(always[i]) == n && memcmp(always[i], k, n) == 0)
			return true;
	if (from_state)
		for (int i = 0; placed[i]; i++)
			if (strlen(placed[i]) == n && memcmp(placed[i], k, n) == 0)
				return true;
	return false;
}

/* (name and extra are kept in the sched's blocks, freed with it) */
static void task_free(struct task *t)
{
	free(t->region);
	free(t->key);
	kv_free(t->selector, t->nselector);
	kv_free(t->prefer, t->nprefer);
}

/* everything else rides along into the placements: ",KEY:VALUE..." */
static void pass_through(struct sched *s, const struct json_doc *d, bool from_state, struct task *t)
{
	struct buf *x = &s->pbuf;
	buf_reset(x);
	for (int k = json_first(d, 0); k >= 0; k = json_next_member(d, 0, k)) {
		size_t kn, vn;
		const char *kr = json_raw(d, k, &kn);
		if (skipped_field(kr + 1, kn - 2, from_state))
			continue;
		const char *vr = json_raw(d, k + 1, &vn);
		buf_grow(x, kn + vn + 2);
		buf_addc(x, ',');
		buf_add(x, kr, kn);
		buf_addc(x, ':');
		buf_add(x, vr, vn);
	}
	t->extra_len = x->len;
	t->extra = keep(s, x->len ? x->data : "", x->len);
}

int sched_parse_task(struct sched *s, const struct json_doc *d, bool from_state, int *ti,
		     char *err, size_t errlen)
{
	struct task t;
	memset(&t, 0, sizeof t);
	t.strategy = -1;
	char *spread = NULL, *qos = NULL, *strat = NULL;
	struct fields f;
	fields_init(&f, d, 0, err, errlen);
	t.replicas = 1;
	t.priority = 0;
	if (field_str(&f, "task", FIELD_REQUIRED | FIELD_NONEMPTY, 0, &t.name) < 0 ||
	    (!from_state && field_int(&f, "replicas", 0, 0, 1000000, &t.replicas) < 0) ||
	    get_amount(&f, "cpu", 0, &t.req[R_CPU]) < 0 ||
	    get_amount(&f, "mem_mb", 0, &t.req[R_MEM]) < 0 ||
	    get_amount(&f, "disk_mb", 0, &t.req[R_DISK]) < 0 ||
	    field_int(&f, "priority", 0, -1000000000, 1000000000, &t.priority) < 0 ||
	    field_str(&f, "region", 0, 0, &t.region) < 0 ||
	    get_kv(&f, "selector", false, &t.selector, &t.nselector) < 0 ||
	    get_kv(&f, "prefer", false, &t.prefer, &t.nprefer) < 0 ||
	    field_str(&f, "spread", 0, 0, &spread) < 0 ||
	    field_str(&f, "qos", 0, 0, &qos) < 0 ||
	    field_str(&f, "strategy", 0, 0, &strat) < 0 ||
	    field_str(&f, "key", 0, 0, &t.key) < 0)
		goto bad;
	if (spread) {
		if (!strcmp(spread, "node")) t.spread = SP_NODE;
		else if (!strcmp(spread, "zone")) t.spread = SP_ZONE;
		else if (!strcmp(spread, "region")) t.spread = SP_REGION;
		else {
			field_fail(&f, "spread", "unknown value '%s' (use node, zone or region)", spread);
			goto bad;
		}
	}
	if (qos) {
		if (!strcmp(qos, "guaranteed")) t.qos = Q_GUARANTEED;
		else if (!strcmp(qos, "burstable")) t.qos = Q_BURSTABLE;
		else if (!strcmp(qos, "besteffort")) t.qos = Q_BESTEFFORT;
		else {
			field_fail(&f, "qos", "unknown value '%s' (use guaranteed, burstable or besteffort)",
				   qos);
			goto bad;
		}
	}
	if (strat && (t.strategy = strategy_from_name(strat)) < 0) {
		field_fail(&f, "strategy", "unknown strategy '%s'", strat);
		goto bad;
	}
	free(spread);
	free(qos);
	free(strat);
	s->owning |= t.region || t.key || t.selector || t.prefer;
	char *name = t.name;
	t.name_len = strlen(name);
	t.name = keep(s, name, t.name_len);
	free(name);
	/* sched_claim_name looks the name up next: its slot is a cache miss
	 * (most of that lookup's time), here overlapped with the rest */
	map_prefetch(&s->names, map_hash(t.name, t.name_len));
	pass_through(s, d, from_state, &t);
	if (s->ntasks == s->captasks)
		s->tasks = sched_grow(s->tasks, &s->captasks, sizeof *s->tasks, 64);
	t.order = (size_t)s->ntasks;
	*ti = s->ntasks;
	s->tasks[s->ntasks++] = t;
	return 0;
bad:
	free(spread);
	free(qos);
	free(strat);
	free(t.name);
	task_free(&t);
	return -1;
}

void sched_drop_task(struct sched *s, int ti)
{
	if (ti == s->ntasks - 1) {
		task_free(&s->tasks[ti]);
		s->ntasks--;
	}
}

/* the task name's id, or -1 */
static int tname_find(const struct sched *s, const char *name)
{
	const struct map_ent *e = map_get(&s->names, name, strlen(name));
	return e ? (int)e->num : -1;
}

/* name must live as long as the sched (a task's): the map borrows it */
static int tname_get(struct sched *s, const char *name)
{
	int id = (int)map_intern(&s->names, name, strlen(name), s->ntnames);
	if (id == s->ntnames) {
		if (s->ntnames == s->captnames)
			s->tnames = sched_grow(s->tnames, &s->captnames, sizeof *s->tnames, 64);
		memset(&s->tnames[s->ntnames++], 0, sizeof *s->tnames);
	}
	return id;
}

int sched_claim_name(struct sched *s, int ti, char *err, size_t errlen)
{
	/* (zone and region names were once kept in the same map, apart by a
	 * \x01 prefix; such task names are still refused) */
	const char *name = s->tasks[ti].name;
	struct fields f;
	fields_init(&f, NULL, -1, err, errlen);
	if (name[0] == '\x01')
		return field_fail(&f, "task", "name starts with a control character");
	int id = tname_get(s, name);
	if (s->tnames[id].input)
		return field_fail(&f, "task", "duplicate task '%s'", name);
	s->tnames[id].input = true;
	s->tasks[ti].tn = id;
	return id;
}

/* ---- state ---- */

static void set_node(struct sched *s, struct rep *r, const char *node)
{
	free(r->gone);
	r->gone = NULL;
	struct map_ent *e = map_get(&s->node_ix, node, strlen(node));
	r->node = e ? (int)e->num : -1;
	if (r->node < 0)
		r->gone = xstrdup(node);
	s->owning |= r->gone != NULL;
}

int sched_add_state(struct sched *s, const struct json_doc *d, char *err, size_t errlen)
{
	char *event = NULL, *name = NULL, *node = NULL;
	int64_t replica;
	int ti = -1, ret = -1;
	if (json_get(d, 0, "error") >= 0)
		return 0;
	struct fields f;
	fields_init(&f, d, 0, err, errlen);
	if (field_str(&f, "event", 0, 0, &event) < 0 ||
	    field_str(&f, "task", FIELD_REQUIRED | FIELD_NONEMPTY, 0, &name) < 0 ||
	    field_int(&f, "replica", FIELD_REQUIRED, 0, 1000000, &replica) < 0)
		goto out;
	if (event && strcmp(event, "moved") && strcmp(event, "evicted") && strcmp(event, "removed")) {
		ret = 0; /* someone else's event */
		goto out;
	}
	if ((!event || !strcmp(event, "moved")) &&
	    field_str(&f, "node", FIELD_REQUIRED | FIELD_NONEMPTY, 0, &node) < 0)
		goto out;
	if (name[0] == '\x01') {
		field_fail(&f, "task", "name starts with a control character");
		goto out;
	}
	int tn = tname_find(s, name);
	int old = tn >= 0 ? sched_live_rep(s, tn, replica) : -1;
	if (event) {
		if (old < 0) {
			field_fail(&f, "task", "no placement of '%s' replica %lld before this %s event",
				   name, (long long)replica, event);
			goto out;
		}
		if (strcmp(event, "moved") != 0)
			s->reps[old].live = false; /* evicted, or removed by a scale-down */
		else if (health_state(&s->reps[old], d, err, errlen) < 0)
			goto out;
		else
			set_node(s, &s->reps[old], node);
		s->owning |= s->reps[old].nfailed > 0;
		ret = 0;
		goto out;
	}
	struct rep failed = { 0 };
	if (health_state(&failed, d, err, errlen) < 0)
		goto out;
	if (sched_parse_task(s, d, true, &ti, err, errlen) < 0) {
		health_rep_free(&failed);
		goto out;
	}
	if (tn < 0)
		tn = tname_get(s, s->tasks[ti].name);
	s->tasks[ti].tn = tn;
	if (old >= 0)
		s->reps[old].live = false;
	int ri = sched_new_rep(s, ti, tn, replica); /* (it may move reps) */
	struct rep *r = &s->reps[ri];
	int sc = json_get(d, 0, "score");
	if (sc >= 0)
		json_num(d, sc, &r->score);
	set_node(s, r, node);
	r->failed = failed.failed;
	r->nfailed = failed.nfailed;
	s->owning |= r->nfailed > 0;
	ret = 0;
out:
	free(event);
	free(name);
	free(node);
	return ret;
}

void sched_free(struct sched *s)
{
	for (int i = 0; i < s->nnodes; i++) {
		struct node *n = &s->nodes[i];
		free(n->name);
		free(n->addr);
		free(n->state);
		free(n->reps);
		kv_free(n->labels, n->nlabels);
	}
	free(s->nodes);
	/* walking every task, replica and name only to free nothing was a
	 * tenth of a streaming run: the walks are taken when there is
	 * something to free */
	for (int i = 0; s->owning && i < s->ntasks; i++)
		task_free(&s->tasks[i]);
	sched_release(s->tasks, (size_t)s->captasks * sizeof *s->tasks);
	for (int i = 0; s->owning && i < s->nreps; i++) {
		free(s->reps[i].gone);
		health_rep_free(&s->reps[i]);
	}
	sched_release(s->reps, (size_t)s->capreps * sizeof *s->reps);
	for (int i = 0; s->owning && i < s->ntnames; i++)
		free(s->tnames[i].reps);
	sched_release(s->tnames, (size_t)s->captnames * sizeof *s->tnames);
	for (int i = 0; i < s->nstrs; i++)
		free(s->strs[i]);
	free(s->strs);
	for (int L = 0; L < NLEVEL; L++) {
		struct group *gs = L == L_GROUP ? s->groups : s->classes;
		int ng = L == L_GROUP ? s->ngroups : s->nclasses;
		for (int i = 0; i < ng; i++) {
			free(gs[i].members);
			for (int k = 0; k < NINDEXED; k++) {
				free(gs[i].heap[k]);
				free(gs[i].agg[k]);
			}
		}
		free(gs);
		for (int k = 0; k < NINDEXED; k++)
			free(s->hpos[L][k]);
	}
	free(s->rrorder);
	free(s->scratch);
	map_free(&s->node_ix);
	map_free(&s->names);
	map_free(&s->strkeys);
	for (int i = 0; i < s->nblocks; i++)
		free(s->blocks[i]);
	free(s->blocks);
	buf_free(&s->pbuf);
	map_free(&s->groupkeys);
	map_free(&s->reports);
	map_free(&s->classkeys);
	buf_free(&s->line);
	buf_free(&s->tmp);
	buf_free(&s->ex);
	memset(s, 0, sizeof *s);
}
