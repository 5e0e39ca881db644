/*
 * kinds: what cce-report recognises in its input, one row per kind of
 * record (see report.h): a shape test and an add function that checks the
 * whole record before it changes the model.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "field.h"
#include "timeutil.h"
#include "report.h"

/* a string member copied into the arena: field_str's return */
static int get_str(struct report *r, const struct fields *f, const char *key, int flags,
		   const char **out)
{
	char *s = NULL;
	int rc = field_str(f, key, flags, 4096, &s);
	if (rc == 1) {
		*out = report_strn(r, s, strlen(s));
		free(s);
	}
	return rc;
}

/* a time: milliseconds, or an RFC 3339 string */
static int get_time(const struct fields *f, const char *key, int flags, int64_t *ms)
{
	int t = json_get(f->d, f->obj, key);
	if (t < 0 || json_type_of(f->d, t) == JSON_NUMBER)
		return field_int(f, key, flags, 0, INT64_MAX, ms);
	size_t n;
	const char *s = json_raw(f->d, t, &n);
	if (json_type_of(f->d, t) == JSON_STRING && n >= 2 &&
	    time_parse_rfc3339(s + 1, n - 2, ms) == 0)
		return 1;
	return field_fail(f, key, "expected milliseconds or an RFC 3339 time");
}

/* the value tokens of keys[0..n) in object obj: -1 when absent, the last
 * of a repeated key (as json_get) */
static void members(const struct json_doc *d, int obj, const char *const *keys, int n, int *out)
{
	for (int i = 0; i < n; i++)
		out[i] = -1;
	for (int k = json_first(d, obj); k >= 0; k = json_next_member(d, obj, k)) {
		const struct json_tok *t = &d->tok[k];
		const char *ks = d->text + t->start;
		for (int i = 0; i < n; i++) {
			if (t->escaped ? json_str_eq(d, k, keys[i])
				       : t->len && keys[i][0] == ks[0] && strncmp(keys[i], ks, t->len) == 0 &&
					 keys[i][t->len] == '\0') {
				out[i] = k + 1;
				break;
			}
		}
	}
}

static void saw_time(struct report *r, int64_t ts)
{
	if (ts > r->latest)
		r->latest = ts;
}

static struct rnode *node_of(struct report *r, const char *name)
{
	bool added;
	struct map_ent *e = map_put(&r->nodes, name, strlen(name), &added);
	if (added) {
		struct rnode *n = VEC_PUSH(r->node);
		n->name = name;
		n->rx = n->tx = NAN;
		e->num = (intptr_t)r->node.n;
		e->key = name;
	}
	return &r->node.v[e->num - 1];
}

/* ---- node records: cce-register list ---- */

static const char *const res_names[NRES] = { "cpu", "mem_mb", "disk_mb" };

static int get_tasks(struct report *r, const struct fields *f, struct rtask **out, int *n)
{
	int arr;
	int rc = field_array(f, "tasks", FIELD_NULL, &arr);
	if (rc <= 0)
		return rc;
	uint32_t count = f->d->tok[arr].count;
	struct rtask *t = count ? xcalloc(count, sizeof *t) : NULL;
	int i = 0;
	for (int e = json_first(f->d, arr); e >= 0; e = json_next_elem(f->d, arr, e), i++) {
		struct fields u;
		fields_init(&u, f->d, e, f->err, f->errlen);
		u.up = f;
		u.name = "tasks";
		bool oom = false;
		if (json_type_of(f->d, e) != JSON_OBJECT) {
			rc = field_fail(f, "tasks", "expected objects");
			break;
		}
		if (get_str(r, &u, "task", FIELD_REQUIRED | FIELD_NONEMPTY, &t[i].task) < 0 ||
		    field_int(&u, "replica", 0, 0, INT64_MAX, &t[i].replica) < 0 ||
		    get_str(r, &u, "state", 0, &t[i].state) < 0 ||
		    field_int(&u, "restarts", 0, 0, INT64_MAX, &t[i].restarts) < 0 ||
		    field_bool(&u, "oom", 0, &oom) < 0) {
			rc = -1;
			break;
		}
		t[i].oom = oom;
	}
	if (rc < 0) {
		free(t);
		return -1;
	}
	*out = t;
	*n = (int)count;
	return 1;
}

/* capacity or load: the three resources, and the network's figure */
static int get_res(const struct fields *f, const char *key, double v[NRES], bool got[NRES],
		   const char *net, double *netv)
{
	struct fields sub;
	if (field_obj(f, key, FIELD_NULL, &sub) < 0)
		return -1;
	for (int i = 0; i < NRES; i++) {
		int rc = field_num(&sub, res_names[i], FIELD_NONNEG, &v[i]);
		if (rc < 0)
			return -1;
		if (got)
			got[i] = rc == 1;
	}
	for (int i = 0; net && i < 2; i++) {
		const char *name = i ? "tx_bps" : net;
		if (i && strcmp(net, "rx_bps") != 0)
			break;
		if (field_num(&sub, name, FIELD_NONNEG, &netv[i]) < 0)
			return -1;
	}
	return 0;
}

static int add_node(struct report *r, const struct json_doc *d, const char *source, char *err,
		    size_t errlen)
{
	struct fields f, labels;
	fields_init(&f, d, 0, err, errlen);
	struct rnode n = { .rx = NAN, .tx = NAN };
	double net[2] = { NAN, NAN };
	if (get_str(r, &f, "node", FIELD_REQUIRED | FIELD_NONEMPTY, &n.name) < 0 ||
	    get_str(r, &f, "state", 0, &n.state) < 0 || get_str(r, &f, "addr", FIELD_NULL, &n.addr) < 0 ||
	    get_str(r, &f, "region", FIELD_NULL, &n.region) < 0 ||
	    get_str(r, &f, "zone", FIELD_NULL, &n.zone) < 0 ||
	    get_time(&f, "last_seen", 0, &n.last_seen) < 0 ||
	    get_res(&f, "capacity", n.cap, NULL, "net_mbps", &n.net_mbps) < 0 ||
	    get_res(&f, "load", n.load, n.has_load, "rx_bps", net) < 0 ||
	    field_obj(&f, "labels", FIELD_NULL, &labels) < 0)
		return -1;
	if (isnan(n.net_mbps))
		n.net_mbps = 0;
	int bw = json_get(d, 0, "bw_limit");
	if (bw >= 0 && json_type_of(d, bw) == JSON_NUMBER) {
		size_t len;
		const char *s = json_raw(d, bw, &len);
		n.bw_limit = report_strn(r, s, len);
	} else if (get_str(r, &f, "bw_limit", FIELD_NULL, &n.bw_limit) < 0 ||
		   (!n.bw_limit && get_str(r, &labels, "bw_limit", 0, &n.bw_limit) < 0)) {
		return -1;
	}
	if (get_tasks(r, &f, &n.tasks, &n.ntasks) < 0)
		return -1;
	struct rnode *p = node_of(r, n.name);
	n.name = p->name;
	n.pts = p->pts;
	n.npts = p->npts;
	n.cappts = p->cappts;
	free(p->tasks);
	n.rx = net[0];
	n.tx = net[1];
	n.known = true;
	if (!n.state)
		n.state = "ready";
	*p = n;
	saw_time(r, n.last_seen);
	return 0;
}

/* ---- the history: heartbeat ops, or events and snapshots with a load ---- */

static void add_point(struct report *r, struct rnode *n, int64_t ts, const double v[3])
{
	if (n->npts == n->cappts) {
		n->cappts = n->cappts ? 2 * n->cappts : 64;
		n->pts = xrealloc(n->pts, n->cappts * sizeof *n->pts);
	}
	n->pts[n->npts++] = (struct point){ ts, (float)v[0], (float)v[1], (float)v[2] };
	saw_time(r, ts);
}

/* A JSON number as a double, without strtod for the plain decimals that
 * heartbeats hold: up to 15 digits, no exponent (both the digits and the
 * power of ten are exact doubles, so one division rounds correctly). */
static bool fast_num(const struct json_doc *d, int t, double *v)
{
	static const double p10[16] = { 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
					1e11, 1e12, 1e13, 1e14, 1e15 };
	if (t < 0 || json_type_of(d, t) != JSON_NUMBER)
		return false;
	const char *p = d->text + d->tok[t].start, *end = p + d->tok[t].len;
	bool neg = *p == '-';
	uint64_t m = 0;
	int digits = 0, frac = -1;
	for (p += neg; p < end; p++) {
		if (*p == '.') {
			frac = 0;
			continue;
		}
		if (*p < '0' || *p > '9' || ++digits > 15)
			return json_num(d, t, v);
		m = m * 10 + (uint64_t)(*p - '0');
		frac += frac >= 0;
	}
	*v = (double)m / p10[frac < 0 ? 0 : frac];
	if (neg)
		*v = -*v;
	return true;
}

/* The common heartbeat, taken in one pass over its members: a known node
 * by an unescaped name, ts a plain integer, load's figures plain numbers or
 * absent. false: anything else, for add_history's checks to take. */
static bool fast_history(struct report *r, const struct json_doc *d)
{
	static const char *const keys[3] = { "node", "load", "ts" };
	static const char *const lkeys[3] = { "cpu", "rx_bps", "tx_bps" };
	int tk[3], lk[3];
	double v[3], ts;
	members(d, 0, keys, 3, tk);
	if (tk[0] < 0 || json_type_of(d, tk[0]) != JSON_STRING || d->tok[tk[0]].escaped ||
	    tk[1] < 0 || json_type_of(d, tk[1]) != JSON_OBJECT || !fast_num(d, tk[2], &ts) ||
	    ts < 0 || ts > 9e15 || ts != floor(ts))
		return false;
	struct map_ent *e = map_get(&r->nodes, d->text + d->tok[tk[0]].start, d->tok[tk[0]].len);
	if (!e)
		return false;
	members(d, tk[1], lkeys, 3, lk);
	for (int i = 0; i < 3; i++) {
		if (lk[i] < 0)
			v[i] = NAN;
		else if (!fast_num(d, lk[i], &v[i]) || v[i] < 0)
			return false;
	}
	add_point(r, &r->node.v[e->num - 1], (int64_t)ts, v);
	return true;
}

static int add_history(struct report *r, const struct json_doc *d, const char *source, char *err,
		       size_t errlen)
{
	struct fields f, load;
	fields_init(&f, d, 0, err, errlen);
	int64_t ts = 0;
	double v[3] = { NAN, NAN, NAN };
	static const char *const keys[3] = { "cpu", "rx_bps", "tx_bps" };
	const char *name = NULL;
	if (get_str(r, &f, "node", FIELD_REQUIRED | FIELD_NONEMPTY, &name) < 0 ||
	    field_obj(&f, "load", FIELD_NULL, &load) < 0)
		return -1;
	int rc = get_time(&f, "ts", 0, &ts);
	if (rc == 0)
		rc = get_time(&f, "last_seen", 0, &ts);
	if (rc == 0)
		return field_fail(&f, "ts", "missing");
	if (rc < 0)
		return -1;
	for (int i = 0; i < 3; i++)
		if (field_num(&load, keys[i], FIELD_NONNEG | FIELD_NULL, &v[i]) < 0)
			return -1;
	add_point(r, node_of(r, name), ts, v);
	return 0;
}

/* ---- registry events: cce-register watch and expire ---- */

static int add_event(struct report *r, const struct json_doc *d, const char *source, char *err,
		     size_t errlen)
{
	struct fields f;
	fields_init(&f, d, 0, err, errlen);
	struct revent e = { 0 };
	if (get_str(r, &f, "event", FIELD_REQUIRED | FIELD_NONEMPTY, &e.event) < 0 ||
	    get_str(r, &f, "node", FIELD_REQUIRED | FIELD_NONEMPTY, &e.node) < 0 ||
	    get_str(r, &f, "reason", 0, &e.reason) < 0 || get_time(&f, "ts", 0, &e.ts) < 0)
		return -1;
	saw_time(r, e.ts);
	if (strcmp(e.event, "heartbeat") == 0)
		return 0;       /* liveness shows in the history and last_seen */
	*VEC_PUSH(r->event) = e;
	return 0;
}

/* ---- placements and their events: cce-sched, cce-deploy ---- */

struct rplace *report_place(struct report *r, const char *task, int64_t replica, bool *added)
{
	buf_reset(&r->tmp);
	buf_addf(&r->tmp, "%s\n%lld", task, (long long)replica);
	struct map_ent *e = map_put(&r->places, r->tmp.data, r->tmp.len, added);
	if (*added) {
		e->key = report_strn(r, r->tmp.data, r->tmp.len);
		struct rplace *p = VEC_PUSH(r->place);
		p->task = task;
		p->replica = replica;
		p->restarts = -1;
		e->num = (intptr_t)r->place.n;
	}
	return &r->place.v[e->num - 1];
}

static int add_placement(struct report *r, const struct json_doc *d, const char *source, char *err,
			 size_t errlen)
{
	struct fields f;
	fields_init(&f, d, 0, err, errlen);
	const char *task = NULL, *node = NULL, *ev = NULL, *error = NULL, *reason = NULL;
	const char *from = NULL, *by = NULL;
	int64_t replica = 0;
	if (get_str(r, &f, "task", FIELD_REQUIRED | FIELD_NONEMPTY, &task) < 0 ||
	    field_int(&f, "replica", 0, 0, INT64_MAX, &replica) < 0 ||
	    get_str(r, &f, "node", FIELD_NULL, &node) < 0 || get_str(r, &f, "event", 0, &ev) < 0 ||
	    get_str(r, &f, "error", 0, &error) < 0 || get_str(r, &f, "reason", 0, &reason) < 0 ||
	    get_str(r, &f, "from", 0, &from) < 0 || get_str(r, &f, "by", 0, &by) < 0)
		return -1;
	if (!ev && !error && !node)
		return field_fail(&f, "node", "missing (a placement has a node or an error)");
	bool added;
	struct rplace *p = report_place(r, task, replica, &added);
	if (ev && strcmp(ev, "removed") == 0) {
		p->node = NULL;
		p->note = "removed (scaled down)";
	} else if (ev && strcmp(ev, "evicted") == 0) {
		buf_reset(&r->tmp);
		buf_addf(&r->tmp, "evicted from %s by %s", node ? node : "?", by ? by : "?");
		p->note = report_strn(r, r->tmp.data, r->tmp.len);
		p->node = NULL;
	} else if (error) {
		buf_reset(&r->tmp);
		buf_addf(&r->tmp, "%s%s%s", error, reason ? ": " : "", reason ? reason : "");
		p->error = report_strn(r, r->tmp.data, r->tmp.len);
		if (!from)
			p->node = NULL;
	} else {
		p->node = node;
		p->error = NULL;
		p->note = NULL;
		if (from) {
			buf_reset(&r->tmp);
			buf_addf(&r->tmp, "moved from %s", from);
			p->note = report_strn(r, r->tmp.data, r->tmp.len);
		}
	}
	return 0;
}

/* ---- cce-rule alerts and --status ---- */

static int add_alert(struct report *r, const struct json_doc *d, const char *source, char *err,
		     size_t errlen)
{
	struct fields f;
	fields_init(&f, d, 0, err, errlen);
	const char *rule = NULL, *key = NULL, *state = NULL, *id = NULL, *sev = NULL, *msg = NULL;
	int64_t ts = 0, since = 0;
	if (get_str(r, &f, "rule", FIELD_REQUIRED | FIELD_NONEMPTY, &rule) < 0 ||
	    get_str(r, &f, "state", FIELD_REQUIRED, &state) < 0 ||
	    get_str(r, &f, "key", FIELD_NULL, &key) < 0 || get_str(r, &f, "id", 0, &id) < 0 ||
	    get_str(r, &f, "severity", FIELD_NULL, &sev) < 0 ||
	    get_str(r, &f, "message", FIELD_NULL, &msg) < 0 ||
	    get_time(&f, "ts", FIELD_REQUIRED, &ts) < 0 || get_time(&f, "since", 0, &since) < 0)
		return -1;
	saw_time(r, ts);
	bool firing = strcmp(state, "firing") == 0;
	if (!firing && strcmp(state, "resolved") != 0)
		return 0;       /* pending: not an episode yet */
	buf_reset(&r->tmp);
	if (id)
		buf_adds(&r->tmp, id);
	else
		buf_addf(&r->tmp, "%s\n%s\n%lld", rule, key ? key : "", (long long)since);
	bool added;
	struct map_ent *e = map_put(&r->eps, r->tmp.data, r->tmp.len, &added);
	if (added) {
		e->key = report_strn(r, r->tmp.data, r->tmp.len);
		struct episode *ep = VEC_PUSH(r->ep);
		*ep = (struct episode){ rule, key ? key : "", sev, msg, firing ? ts : (since ? since : ts), -1 };
		e->num = (intptr_t)r->ep.n;
	}
	struct episode *ep = &r->ep.v[e->num - 1];
	if (firing && ts < ep->start)
		ep->start = ts;
	if (!firing)
		ep->end = ts;
	if (sev)
		ep->severity = sev;
	if (msg)
		ep->message = msg;
	return 0;
}

const char *const status_fields[8] = { "evaluated", "matched", "fired", "resolved", "suppressed",
				       "errors", "keys", "firing_keys" };

static int add_status(struct report *r, const struct json_doc *d, const char *source, char *err,
		      size_t errlen)
{
	struct fields f;
	fields_init(&f, d, 0, err, errlen);
	struct rstatus s = { 0 };
	if (get_str(r, &f, "rule", FIELD_REQUIRED | FIELD_NONEMPTY, &s.rule) < 0 ||
	    field_bool(&f, "disabled", 0, &s.disabled) < 0)
		return -1;
	for (int i = 0; i < 8; i++)
		if (field_int(&f, status_fields[i], 0, 0, INT64_MAX, &s.v[i]) < 0)
			return -1;
	bool added;
	struct map_ent *e = map_put(&r->statmap, s.rule, strlen(s.rule), &added);
	if (added) {
		VEC_PUSH(r->status);
		e->num = (intptr_t)r->status.n;
	}
	r->status.v[e->num - 1] = s;
	return 0;
}

/* ---- cce-deploy reports ---- */

static int add_deploy(struct report *r, const struct json_doc *d, const char *source, char *err,
		      size_t errlen)
{
	struct fields f;
	fields_init(&f, d, 0, err, errlen);
	struct rdeploy x = { .exit = -1, .ms = -1 };
	if (get_str(r, &f, "node", FIELD_REQUIRED | FIELD_NONEMPTY, &x.node) < 0 ||
	    get_str(r, &f, "status", 0, &x.status) < 0 || get_str(r, &f, "release", 0, &x.release) < 0 ||
	    get_str(r, &f, "error", FIELD_NULL, &x.error) < 0 ||
	    field_int(&f, "exit", FIELD_NULL, INT64_MIN, INT64_MAX, &x.exit) < 0 ||
	    field_int(&f, "ms", FIELD_NULL, 0, INT64_MAX, &x.ms) < 0)
		return -1;
	if (!x.status)
		x.status = "planned";   /* a --dry-run line */
	*VEC_PUSH(r->deploy) = x;
	return 0;
}

/* ---- cce-push --stats and --receipts ---- */

const char *const push_fields[9] = { "read", "rejected", "delivered", "delivered_batches",
				     "spooled", "spooled_bytes", "dead_letter", "lost", "retries" };

static int add_push(struct report *r, const struct json_doc *d, const char *source, char *err,
		    size_t errlen)
{
	struct fields f;
	fields_init(&f, d, 0, err, errlen);
	const char *src = NULL;
	int64_t ts = 0, v[9] = { 0 };
	if (get_str(r, &f, "node", FIELD_NULL, &src) < 0 || get_time(&f, "ts", 0, &ts) < 0)
		return -1;
	for (int i = 0; i < 9; i++)
		if (field_int(&f, push_fields[i], 0, 0, INT64_MAX, &v[i]) < 0)
			return -1;
	if (!src)
		src = report_strn(r, source, strlen(source));
	saw_time(r, ts);
	bool added;
	struct map_ent *e = map_put(&r->pushmap, src, strlen(src), &added);
	if (added) {
		VEC_PUSH(r->push)->source = src;
		e->num = (intptr_t)r->push.n;
	}
	struct rpush *p = &r->push.v[e->num - 1];
	if (ts >= p->ts) {
		p->ts = ts;
		memcpy(p->v, v, sizeof v);
	}
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 16;
		p->sts = xrealloc(p->sts, p->cap * sizeof *p->sts);
		p->spooled = xrealloc(p->spooled, p->cap * sizeof *p->spooled);
	}
	p->sts[p->n] = ts;
	p->spooled[p->n++] = v[4];
	return 0;
}

static int add_receipt(struct report *r, const struct json_doc *d, const char *source, char *err,
		       size_t errlen)
{
	struct fields f;
	fields_init(&f, d, 0, err, errlen);
	const char *url = NULL, *dead = NULL;
	int64_t rec = 0, bytes = 0, status = 0, lat = 0;
	if (get_str(r, &f, "url", FIELD_NULL, &url) < 0 ||
	    get_str(r, &f, "dead_letter", FIELD_NULL, &dead) < 0 ||
	    field_int(&f, "records", 0, 0, INT64_MAX, &rec) < 0 ||
	    field_int(&f, "bytes", 0, 0, INT64_MAX, &bytes) < 0 ||
	    field_int(&f, "status", 0, 0, 999, &status) < 0 ||
	    field_int(&f, "latency_ms", 0, 0, INT64_MAX, &lat) < 0)
		return -1;
	if (!url)
		url = report_strn(r, source, strlen(source));
	bool added;
	struct map_ent *e = map_put(&r->recvmap, url, strlen(url), &added);
	if (added) {
		VEC_PUSH(r->recv)->url = url;
		e->num = (intptr_t)r->recv.n;
	}
	struct rrecv *x = &r->recv.v[e->num - 1];
	x->batches++;
	x->records += rec;
	x->bytes += bytes;
	x->dead += dead != NULL;
	x->lat_sum += lat;
	if (lat > x->lat_max)
		x->lat_max = lat;
	x->last_status = status;
	return 0;
}

/* ---- cce-gateway GET /status ---- */

const char *const gate_fields[10] = { "uptime_s", "requests", "records", "records_per_s", "rejects",
				      "rate_limited", "commits", "store_bytes", "disk_free",
				      "connections" };

static int add_gateway(struct report *r, const struct json_doc *d, const char *source, char *err,
		       size_t errlen)
{
	struct fields f;
	fields_init(&f, d, 0, err, errlen);
	struct rgate g = { 0 };
	if (get_str(r, &f, "node", FIELD_NULL, &g.source) < 0 || get_time(&f, "ts", 0, &g.ts) < 0)
		return -1;
	for (int i = 0; i < 10; i++)
		if (field_num(&f, gate_fields[i], FIELD_NONNEG, &g.v[i]) < 0)
			return -1;
	if (!g.source)
		g.source = report_strn(r, source, strlen(source));
	saw_time(r, g.ts);
	bool added;
	struct map_ent *e = map_put(&r->gatemap, g.source, strlen(g.source), &added);
	if (added) {
		VEC_PUSH(r->gate);
		e->num = (intptr_t)r->gate.n;
	}
	struct rgate *p = &r->gate.v[e->num - 1];
	if (added || g.ts >= p->ts)
		*p = g;
	return 0;
}

/* ---- the table ---- */

typedef int (*add_fn)(struct report *, const struct json_doc *, const char *, char *, size_t);

/* The members that tell the kinds apart, found in one pass over the
 * record's keys (the history is most of the input: one pass, not a
 * lookup per test). */
enum skey {
	S_NODE, S_STATE, S_CAPACITY, S_OP, S_LOAD, S_EVENT, S_TASK, S_REPLICA, S_UNIT, S_RULE,
	S_TS, S_EVALUATED, S_STATUS, S_ACTION, S_TOOL, S_DELIVERED_BATCHES, S_BATCH, S_ATTEMPTS,
	S_UPTIME_S, S_REQUESTS, NSKEYS
};
static const char *const skeys[NSKEYS] = {
	"node", "state", "capacity", "op", "load", "event", "task", "replica", "unit", "rule",
	"ts", "evaluated", "status", "action", "tool", "delivered_batches", "batch", "attempts",
	"uptime_s", "requests",
};

struct shape {
	const struct json_doc *d;
	int tok[NSKEYS];        /* the value token, -1 when absent */
};

static bool has(const struct shape *s, enum skey k)
{
	return s->tok[k] >= 0;
}

static bool is(const struct shape *s, enum skey k, const char *val)
{
	return s->tok[k] >= 0 && json_str_eq(s->d, s->tok[k], val);
}

static bool is_node(const struct shape *s)
{
	return has(s, S_NODE) && has(s, S_STATE) && has(s, S_CAPACITY) && !has(s, S_OP);
}
static bool is_history(const struct shape *s)
{
	return has(s, S_NODE) && has(s, S_LOAD) &&
	       (is(s, S_OP, "heartbeat") || is(s, S_EVENT, "heartbeat"));
}
static bool is_event(const struct shape *s)
{
	return has(s, S_EVENT) && has(s, S_NODE) && !has(s, S_TASK);
}
static bool is_placement(const struct shape *s)
{
	return has(s, S_TASK) && has(s, S_REPLICA) && !has(s, S_UNIT);
}
static bool is_alert(const struct shape *s)
{
	return has(s, S_RULE) && has(s, S_STATE) && has(s, S_TS);
}
static bool is_status(const struct shape *s)
{
	return has(s, S_RULE) && has(s, S_EVALUATED);
}
static bool is_deploy(const struct shape *s)
{
	return has(s, S_NODE) && (is(s, S_STATUS, "deployed") || is(s, S_STATUS, "failed") ||
				  is(s, S_ACTION, "deploy"));
}
static bool is_push(const struct shape *s)
{
	return is(s, S_TOOL, "cce-push") || has(s, S_DELIVERED_BATCHES);
}
static bool is_receipt(const struct shape *s)
{
	return has(s, S_BATCH) && has(s, S_ATTEMPTS);
}
static bool is_gateway(const struct shape *s)
{
	return has(s, S_UPTIME_S) && has(s, S_REQUESTS);
}

static const struct {
	const char *name;       /* with its article, for messages */
	bool (*match)(const struct shape *);
	add_fn add;
} kinds[NKINDS] = {
	[K_NODE] = { "a node", is_node, add_node },
	[K_HISTORY] = { "a heartbeat", is_history, add_history },
	[K_EVENT] = { "a registry event", is_event, add_event },
	[K_PLACEMENT] = { "a placement", is_placement, add_placement },
	[K_ALERT] = { "an alert", is_alert, add_alert },
	[K_STATUS] = { "a rule status", is_status, add_status },
	[K_DEPLOY] = { "a deploy report", is_deploy, add_deploy },
	[K_PUSH] = { "a cce-push stats", is_push, add_push },
	[K_RECEIPT] = { "a cce-push receipt", is_receipt, add_receipt },
	[K_GATEWAY] = { "a cce-gateway status", is_gateway, add_gateway },
};

/* the order shapes are tried in: the most specific first */
static const enum kind detect_order[NKINDS] = {
	K_HISTORY, K_NODE, K_DEPLOY, K_PLACEMENT, K_EVENT, K_STATUS, K_ALERT, K_PUSH, K_RECEIPT,
	K_GATEWAY,
};

enum kind kind_detect(const struct json_doc *d)
{
	struct shape s = { d, { 0 } };
	members(d, 0, skeys, NSKEYS, s.tok);
	for (int i = 0; i < NKINDS; i++)
		if (kinds[detect_order[i]].match(&s))
			return detect_order[i];
	return K_AUTO;
}

int report_add(struct report *r, unsigned kinds_ok, const struct json_doc *d, const char *source,
	       char *err, size_t errlen)
{
	/* most lines are heartbeats of the history: taken before the shape
	 * of every kind is tried */
	if ((kinds_ok & KIND(K_HISTORY)) && fast_history(r, d)) {
		r->counts[K_HISTORY]++;
		return 0;
	}
	enum kind k = kind_detect(d);
	if (k == K_AUTO && kinds_ok == KINDS_ALL) {
		snprintf(err, errlen, "not a record cce-report knows (a node, heartbeat, placement, "
			 "alert, rule status, deploy report, cce-push or cce-gateway record)");
		return -1;
	}
	if (k == K_NODE && (kinds_ok & KIND(K_HISTORY)) && !(kinds_ok & KIND(K_NODE)))
		k = K_HISTORY;          /* a list snapshot in the history: a point of it */
	if (k == K_AUTO) {
		/* the option's first kind, whose checks say what is missing */
		k = 0;
		while (!(kinds_ok & KIND(k)))
			k++;
	} else if (!(kinds_ok & KIND(k))) {
		enum kind want = 0;
		while (!(kinds_ok & KIND(want)))
			want++;
		snprintf(err, errlen, "%s, not %s record", kinds[k].name, kinds[want].name);
		return -1;
	}
	if (kinds[k].add(r, d, source, err, errlen) < 0)
		return -1;
	r->counts[k]++;
	return 0;
}
