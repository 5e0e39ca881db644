/* parse: node, task and state records into the sched's tables (see sched.h) */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- field helpers ---- */

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static const char *tname_of(const struct json_doc *d, int i)
{
	enum json_type t = json_type_of(d, i);
	return t == JSON_TRUE || t == JSON_FALSE ? "boolean" : json_type_name(t);
}

/* an optional string field: *out NULL when absent; empty strings refused when nonempty */
static int get_str(const struct json_doc *d, int obj, const char *key, const char *path,
		   bool required, bool nonempty, char **out, char *err, size_t errlen)
{
	*out = NULL;
	int i = json_get(d, obj, key);
	if (i < 0)
		return required ? fail(err, errlen, "%s: missing", path) : 0;
	if (json_type_of(d, i) != JSON_STRING)
		return fail(err, errlen, "%s: expected a string, got %s", path, tname_of(d, i));
	bool nul;
	*out = json_cstr(d, i, &nul);
	if (!*out)
		return fail(err, errlen, "%s: %s", path, JSON_NUL_REASON);
	if (nonempty && !**out) {
		free(*out);
		*out = NULL;
		return fail(err, errlen, "%s: empty", path);
	}
	return 0;
}

#define MAX_AMOUNT 1e12

/* a resource amount: a number >= 0, kept in thousandths */
static int get_amount(const struct json_doc *d, int obj, const char *key, const char *path,
		      bool required, int64_t *out, char *err, size_t errlen)
{
	*out = 0;
	int i = json_get(d, obj, key);
	if (i < 0)
		return required ? fail(err, errlen, "%s: missing", path) : 0;
	double v;
	if (!json_num(d, i, &v))
		return fail(err, errlen, "%s: expected a number, got %s", path, tname_of(d, i));
	if (v < 0)
		return fail(err, errlen, "%s: negative value %g", path, v);
	if (!(v <= MAX_AMOUNT))
		return fail(err, errlen, "%s: value %g too large", path, v);
	*out = llround(v * 1000);
	return 0;
}

static int get_int(const struct json_doc *d, int obj, const char *key, int64_t min, int64_t max,
		   int64_t def, int64_t *out, char *err, size_t errlen)
{
	*out = def;
	int i = json_get(d, obj, key);
	if (i < 0)
		return 0;
	if (json_type_of(d, i) != JSON_NUMBER)
		return fail(err, errlen, "%s: expected an integer, got %s", key, tname_of(d, i));
	if (!json_int(d, i, out) || *out < min || *out > max)
		return fail(err, errlen, "%s: expected an integer from %lld to %lld", key,
			    (long long)min, (long long)max);
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
static int get_kv(const struct json_doc *d, int obj, const char *key, bool sort,
		  struct kv **out, int *nout, char *err, size_t errlen)
{
	*out = NULL;
	*nout = 0;
	int o = json_get(d, obj, key);
	if (o < 0)
		return 0;
	if (json_type_of(d, o) != JSON_OBJECT)
		return fail(err, errlen, "%s: expected an object, got %s", key, tname_of(d, o));
	struct kv *kv = xcalloc(d->tok[o].count + 1, sizeof *kv);
	int n = 0;
	for (int k = json_first(d, o); k >= 0; k = json_next_member(d, o, k)) {
		bool nul;
		char *name = json_cstr(d, k, &nul), *v = NULL;
		if (!name)
			fail(err, errlen, "%s: a key %s", key, JSON_NUL_REASON);
		else if (json_type_of(d, k + 1) != JSON_STRING)
			fail(err, errlen, "%s.%s: expected a string, got %s", key, name,
			     tname_of(d, k + 1));
		else if (!(v = json_cstr(d, k + 1, &nul)))
			fail(err, errlen, "%s.%s: %s", key, name, JSON_NUL_REASON);
		if (!v) {
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
	/* zones and regions share the names map with tasks, kept apart by a
	 * \x01 prefix that task names may not have */
	size_t n = strlen(str);
	char *k = xmalloc(n + 2);
	k[0] = '\x01';
	memcpy(k + 1, str, n + 1);
	int id = (int)map_intern(&s->names, k, n + 1, s->nstrs);
	free(k);
	if (id == s->nstrs) {
		if (s->nstrs == s->capstrs) {
			s->capstrs = s->capstrs ? s->capstrs * 2 : 16;
			s->strs = xrealloc(s->strs, (size_t)s->capstrs * sizeof *s->strs);
		}
		s->strs[s->nstrs++] = xstrdup(str);
	}
	return id;
}

/* ---- nodes ---- */

int sched_add_node(struct sched *s, const struct json_doc *d, char *err, size_t errlen)
{
	struct node n;
	memset(&n, 0, sizeof n);
	char *region = NULL, *zone = NULL;
	int c, l;
	if (get_str(d, 0, "node", "node", true, true, &n.name, err, errlen) < 0 ||
	    get_str(d, 0, "addr", "addr", false, false, &n.addr, err, errlen) < 0 ||
	    get_str(d, 0, "region", "region", false, false, &region, err, errlen) < 0 ||
	    get_str(d, 0, "zone", "zone", false, false, &zone, err, errlen) < 0 ||
	    get_str(d, 0, "state", "state", false, true, &n.state, err, errlen) < 0 ||
	    get_kv(d, 0, "labels", true, &n.labels, &n.nlabels, err, errlen) < 0)
		goto bad;
	c = json_get(d, 0, "capacity");
	if (c < 0) {
		fail(err, errlen, "capacity: missing");
		goto bad;
	}
	if (json_type_of(d, c) != JSON_OBJECT) {
		fail(err, errlen, "capacity: expected an object, got %s", tname_of(d, c));
		goto bad;
	}
	if (get_amount(d, c, "cpu", "capacity.cpu", true, &n.cap[R_CPU], err, errlen) < 0 ||
	    get_amount(d, c, "mem_mb", "capacity.mem_mb", true, &n.cap[R_MEM], err, errlen) < 0 ||
	    get_amount(d, c, "disk_mb", "capacity.disk_mb", false, &n.cap[R_DISK], err, errlen) < 0)
		goto bad;
	l = json_get(d, 0, "load");
	if (l >= 0 && json_type_of(d, l) != JSON_NULL) {
		if (json_type_of(d, l) != JSON_OBJECT) {
			fail(err, errlen, "load: expected an object, got %s", tname_of(d, l));
			goto bad;
		}
		if (get_amount(d, l, "cpu", "load.cpu", false, &n.load[R_CPU], err, errlen) < 0 ||
		    get_amount(d, l, "mem_mb", "load.mem_mb", false, &n.load[R_MEM], err, errlen) < 0)
			goto bad;
	}
	int64_t cost;
	if (get_amount(d, 0, "cost", "cost", false, &cost, err, errlen) < 0)
		goto bad;
	n.cost = (double)cost / 1000;
	if (!n.state) {
		/* a registry dump says "cordoned":true instead of a state */
		bool cordoned = false;
		int co = json_get(d, 0, "cordoned");
		if (co >= 0 && !json_bool(d, co, &cordoned)) {
			fail(err, errlen, "cordoned: expected a boolean, got %s", tname_of(d, co));
			goto bad;
		}
		n.state = xstrdup(cordoned ? "cordoned" : "ready");
	}
	n.st = strcmp(n.state, "ready") == 0 ? N_READY
	     : strcmp(n.state, "cordoned") == 0 ? N_CORDONED : N_NOTREADY;
	n.dead = strcmp(n.state, "dead") == 0;
	bool added;
	struct map_ent *ix = map_put(&s->node_ix, n.name, strlen(n.name), &added);
	if (!added) {
		fail(err, errlen, "node: duplicate node '%s'", n.name);
		goto bad;
	}
	n.region = intern(s, region ? region : "");
	n.zone = intern(s, zone ? zone : "");
	free(region);
	free(zone);
	n.group = -1;
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
					      "rejected", "top", "event", "from", "by", NULL };
	for (int i = 0; always[i]; i++)
		if (strlen(always[i]) == n && memcmp(always[i], k, n) == 0)
			return true;
	if (from_state)
		for (int i = 0; placed[i]; i++)
			if (strlen(placed[i]) == n && memcmp(placed[i], k, n) == 0)
				return true;
	return false;
}

static void task_free(struct task *t)
{
	free(t->name);
	free(t->region);
	free(t->key);
	free(t->extra);
	kv_free(t->selector, t->nselector);
	kv_free(t->prefer, t->nprefer);
}

int sched_parse_task(struct sched *s, const struct json_doc *d, bool from_state, int *ti,
		     char *err, size_t errlen)
{
	struct task t;
	memset(&t, 0, sizeof t);
	t.strategy = -1;
	char *spread = NULL, *qos = NULL, *strat = NULL;
	if (get_str(d, 0, "task", "task", true, true, &t.name, err, errlen) < 0)
		goto bad;
	if (from_state)
		t.replicas = 1;
	else if (get_int(d, 0, "replicas", 0, 1000000, 1, &t.replicas, err, errlen) < 0)
		goto bad;
	if (get_amount(d, 0, "cpu", "cpu", false, &t.req[R_CPU], err, errlen) < 0 ||
	    get_amount(d, 0, "mem_mb", "mem_mb", false, &t.req[R_MEM], err, errlen) < 0 ||
	    get_amount(d, 0, "disk_mb", "disk_mb", false, &t.req[R_DISK], err, errlen) < 0 ||
	    get_int(d, 0, "priority", -1000000000, 1000000000, 0, &t.priority, err, errlen) < 0 ||
	    get_str(d, 0, "region", "region", false, false, &t.region, err, errlen) < 0 ||
	    get_kv(d, 0, "selector", false, &t.selector, &t.nselector, err, errlen) < 0 ||
	    get_kv(d, 0, "prefer", false, &t.prefer, &t.nprefer, err, errlen) < 0 ||
	    get_str(d, 0, "spread", "spread", false, false, &spread, err, errlen) < 0 ||
	    get_str(d, 0, "qos", "qos", false, false, &qos, err, errlen) < 0 ||
	    get_str(d, 0, "strategy", "strategy", false, false, &strat, err, errlen) < 0 ||
	    get_str(d, 0, "key", "key", false, false, &t.key, err, errlen) < 0)
		goto bad;
	if (spread) {
		if (!strcmp(spread, "node")) t.spread = SP_NODE;
		else if (!strcmp(spread, "zone")) t.spread = SP_ZONE;
		else if (!strcmp(spread, "region")) t.spread = SP_REGION;
		else {
			fail(err, errlen, "spread: unknown value '%s' (use node, zone or region)", spread);
			goto bad;
		}
	}
	if (qos) {
		if (!strcmp(qos, "guaranteed")) t.qos = Q_GUARANTEED;
		else if (!strcmp(qos, "burstable")) t.qos = Q_BURSTABLE;
		else if (!strcmp(qos, "besteffort")) t.qos = Q_BESTEFFORT;
		else {
			fail(err, errlen, "qos: unknown value '%s' (use guaranteed, burstable or besteffort)", qos);
			goto bad;
		}
	}
	if (strat && (t.strategy = strategy_from_name(strat)) < 0) {
		fail(err, errlen, "strategy: unknown strategy '%s'", strat);
		goto bad;
	}
	free(spread);
	free(qos);
	free(strat);
	/* everything else rides along into the placements */
	struct buf x = BUF_INIT;
	buf_init(&x);
	for (int k = json_first(d, 0); k >= 0; k = json_next_member(d, 0, k)) {
		size_t kn, vn;
		const char *kr = json_raw(d, k, &kn);
		if (skipped_field(kr + 1, kn - 2, from_state))
			continue;
		const char *vr = json_raw(d, k + 1, &vn);
		buf_addc(&x, ',');
		buf_add(&x, kr, kn);
		buf_addc(&x, ':');
		buf_add(&x, vr, vn);
	}
	t.extra = buf_detach(&x, &t.extra_len);
	if (s->ntasks == s->captasks) {
		s->captasks = s->captasks ? s->captasks * 2 : 64;
		s->tasks = xrealloc(s->tasks, (size_t)s->captasks * sizeof *s->tasks);
	}
	t.order = (size_t)s->ntasks;
	*ti = s->ntasks;
	s->tasks[s->ntasks++] = t;
	return 0;
bad:
	free(spread);
	free(qos);
	free(strat);
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

static int tname_get(struct sched *s, const char *name)
{
	int id = (int)map_intern(&s->names, name, strlen(name), s->ntnames);
	if (id == s->ntnames) {
		if (s->ntnames == s->captnames) {
			s->captnames = s->captnames ? s->captnames * 2 : 64;
			s->tnames = xrealloc(s->tnames, (size_t)s->captnames * sizeof *s->tnames);
		}
		memset(&s->tnames[s->ntnames++], 0, sizeof *s->tnames);
	}
	return id;
}

int sched_claim_name(struct sched *s, int ti, char *err, size_t errlen)
{
	/* interned zone and region names start with \x01, task names cannot
	 * clash with them unless they start with it too */
	const char *name = s->tasks[ti].name;
	if (name[0] == '\x01')
		return fail(err, errlen, "task: name starts with a control character");
	int id = tname_get(s, name);
	if (s->tnames[id].input)
		return fail(err, errlen, "task: duplicate task '%s'", name);
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
}

int sched_add_state(struct sched *s, const struct json_doc *d, char *err, size_t errlen)
{
	char *event = NULL, *name = NULL, *node = NULL;
	int64_t replica;
	int ti = -1, ret = -1;
	if (json_get(d, 0, "error") >= 0)
		return 0;
	if (get_str(d, 0, "event", "event", false, false, &event, err, errlen) < 0 ||
	    get_str(d, 0, "task", "task", true, true, &name, err, errlen) < 0)
		goto out;
	if (json_get(d, 0, "replica") < 0) {
		fail(err, errlen, "replica: missing");
		goto out;
	}
	if (get_int(d, 0, "replica", 0, 1000000, 0, &replica, err, errlen) < 0)
		goto out;
	if (event && strcmp(event, "moved") && strcmp(event, "evicted") && strcmp(event, "removed")) {
		ret = 0; /* someone else's event */
		goto out;
	}
	if ((!event || !strcmp(event, "moved")) &&
	    get_str(d, 0, "node", "node", true, true, &node, err, errlen) < 0)
		goto out;
	if (name[0] == '\x01') {
		fail(err, errlen, "task: name starts with a control character");
		goto out;
	}
	int tn = tname_get(s, name);
	int old = sched_live_rep(s, tn, replica);
	if (event) {
		if (old < 0) {
			fail(err, errlen, "task: no placement of '%s' replica %lld before this %s event",
			     name, (long long)replica, event);
			goto out;
		}
		if (strcmp(event, "moved") != 0)
			s->reps[old].live = false; /* evicted, or removed by a scale-down */
		else
			set_node(s, &s->reps[old], node);
		ret = 0;
		goto out;
	}
	if (sched_parse_task(s, d, true, &ti, err, errlen) < 0)
		goto out;
	s->tasks[ti].tn = tn;
	if (old >= 0)
		s->reps[old].live = false;
	int ri = sched_new_rep(s, ti, tn, replica); /* (it may move reps) */
	struct rep *r = &s->reps[ri];
	int sc = json_get(d, 0, "score");
	if (sc >= 0)
		json_num(d, sc, &r->score);
	set_node(s, r, node);
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
	for (int i = 0; i < s->ntasks; i++)
		task_free(&s->tasks[i]);
	free(s->tasks);
	for (int i = 0; i < s->nreps; i++)
		free(s->reps[i].gone);
	free(s->reps);
	for (int i = 0; i < s->ntnames; i++)
		free(s->tnames[i].reps);
	free(s->tnames);
	for (int i = 0; i < s->nstrs; i++)
		free(s->strs[i]);
	free(s->strs);
	for (int i = 0; i < s->ngroups; i++) {
		free(s->groups[i].members);
		for (int k = 0; k < NINDEXED; k++) {
			free(s->groups[i].heap[k]);
			free(s->groups[i].agg[k]);
		}
	}
	free(s->groups);
	free(s->rrorder);
	free(s->scratch);
	map_free(&s->node_ix);
	map_free(&s->names);
	map_free(&s->groupkeys);
	buf_free(&s->line);
	buf_free(&s->tmp);
	buf_free(&s->ex);
	memset(s, 0, sizeof *s);
}
