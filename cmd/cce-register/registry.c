#include "registry.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "field.h"
#include "timeutil.h"
#include "token.h"

/* ---- the table: a map (map.h) from names to nodes, each keyed by the
 * name inside it */

void reg_init(struct registry *r)
{
	map_init(&r->map, 0);
	r->count = 0;
}

void node_set_fixed(struct node *n, const char *addr, const char *region, const char *zone,
		    const char *labels, const char *services)
{
	const char *src[5] = { addr, region, zone, labels, services };
	char **dst[5] = { &n->addr, &n->region, &n->zone, &n->labels, &n->services };
	size_t len[5], total = 0;
	for (int i = 0; i < 5; i++) {
		len[i] = src[i] ? strlen(src[i]) + 1 : 0;
		total += len[i];
	}
	char *blk = total ? xmalloc(total) : NULL, *p = blk;
	for (int i = 0; i < 5; i++) {
		if (!src[i]) {
			*dst[i] = NULL;
			continue;
		}
		memcpy(p, src[i], len[i]);
		*dst[i] = p;
		p += len[i];
	}
	free(n->fixed);
	n->fixed = blk;
}

void node_clear(struct node *n)
{
	free(n->fixed);
	free(n->load);
	free(n->tasks);
	free(n->rev);
	n->fixed = n->addr = n->region = n->zone = n->labels = n->load = n->services = n->rev = NULL;
	n->tasks = NULL;
	n->cpu = n->mem_mb = n->disk_mb = n->net_mbps = n->cost = 0;
	n->present = n->cordoned = false;
	n->joined = n->last_seen = 0;
}

static void node_free(struct node *n)
{
	node_clear(n);
	free(n->revoke_rev);
	free(n);
}

void reg_free(struct registry *r)
{
	struct node *n;
	REG_FOREACH(r, i, n)
		node_free(n);
	map_free(&r->map);
	r->count = 0;
}

struct node *reg_get(const struct registry *r, const char *name)
{
	struct map_ent *e = map_get(&r->map, name, strlen(name));
	return e ? e->val : NULL;
}

void reg_prefetch_slot(const struct registry *r, uint64_t h)
{
	map_prefetch(&r->map, h);
}

void reg_prefetch_node(const struct registry *r, uint64_t h)
{
	const struct map_ent *e = map_guess(&r->map, h);
	if (e) {
		const struct node *n = e->val;
		__builtin_prefetch(n);
		__builtin_prefetch(&n->last_seen);
	}
}

void reg_reserve(struct registry *r, size_t n)
{
	map_reserve(&r->map, n);
}

struct node *reg_add(struct registry *r, const char *name)
{
	size_t len = strlen(name);
	bool added;
	struct map_ent *e = map_put(&r->map, name, len, &added);
	if (!added)
		return e->val;
	struct node *n = xcalloc(1, sizeof *n + len + 1);
	memcpy(n->name, name, len + 1);
	e->key = n->name;
	e->val = n;
	r->count++;
	return n;
}

void reg_del(struct registry *r, const char *name)
{
	struct map_ent *e = map_get(&r->map, name, strlen(name));
	if (!e)
		return;
	node_free(e->val);
	map_del(&r->map, e);
	r->count--;
}

/* sorting by name: on the names' first 16 bytes, as big-endian numbers,
 * held next to the pointer, and on the names only when those tie; sorting
 * 100,000 nodes by strcmp through their pointers is a cache miss a compare */
struct row {
	uint64_t k0, k1;
	struct node *n;
};

static uint64_t be8(const char *s, size_t len)
{
	uint64_t x = 0;
	for (size_t i = 0; i < 8; i++)
		x = x << 8 | (i < len ? (unsigned char)s[i] : 0);
	return x;
}

static int by_key(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	if (x->k0 != y->k0)
		return x->k0 < y->k0 ? -1 : 1;
	if (x->k1 != y->k1)
		return x->k1 < y->k1 ? -1 : 1;
	return strcmp(x->n->name, y->n->name);
}

struct node **reg_sorted(const struct registry *r, bool present_only, size_t *n)
{
	struct row *rows = xcalloc(r->count + 1, sizeof *rows);
	size_t k = 0;
	const struct map_ent *ent = r->map.ent;
	for (size_t i = 0; i < r->map.cap; i++) {
		/* the nodes are scattered over the heap: ask for them early */
		if (i + 8 < r->map.cap && ent[i + 8].key)
			__builtin_prefetch(&((struct node *)ent[i + 8].val)->last_seen);
		struct node *nd = ent[i].key ? ent[i].val : NULL;
		if (!nd || (present_only && !nd->present))
			continue;
		size_t len = strlen(nd->name);
		rows[k].k0 = be8(nd->name, len);
		rows[k].k1 = len > 8 ? be8(nd->name + 8, len - 8) : 0;
		rows[k].n = nd;
		k++;
	}
	qsort(rows, k, sizeof *rows, by_key);
	/* the pointers, in place: v[i] lies at or before rows[i] */
	struct node **v = (struct node **)(void *)rows;
	for (size_t i = 0; i < k; i++)
		v[i] = rows[i].n;
	*n = k;
	return v;
}

/* ---- names */

bool name_valid(const char *s, size_t n)
{
	if (n < 1 || n > NAME_MAX_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

const char *op_name(enum op_kind k)
{
	static const char *const names[] = { "join", "heartbeat", "leave", "cordon", "uncordon",
					     "revoke", "none" };
	return names[k];
}

const char *ev_name(enum ev_kind k)
{
	static const char *const names[] = { "joined", "updated", "heartbeat", "left", "cordoned",
					     "uncordoned", "rejected", "revoked" };
	return names[k];
}

const char *state_name(enum node_state s)
{
	static const char *const names[] = { "ready", "cordoned", "suspect", "dead" };
	return names[s];
}

enum node_state node_state(const struct node *n, int64_t now, int64_t ttl)
{
	int64_t silent = now - n->last_seen;
	if (silent >= 3 * ttl)
		return ST_DEAD;
	if (silent >= ttl)
		return ST_SUSPECT;
	return n->cordoned ? ST_CORDONED : ST_READY;
}

/* ---- op records */

void op_free(struct op *op)
{
	free(op->token);
	free(op->addr);
	free(op->region);
	free(op->zone);
	free(op->labels);
	free(op->services);
	free(op->load);
	free(op->tasks);
	memset(op, 0, sizeof *op);
	op->kind = OP_NONE;
}

#define FAIL(...) do { snprintf(why, whylen, __VA_ARGS__); goto bad; } while (0)

static void add_raw(struct buf *b, const struct json_doc *d, int tok)
{
	size_t n;
	const char *p = json_raw(d, tok, &n);
	buf_add(b, p, n);
}

static int label_ok(const struct fields *f, int k)
{
	const struct json_doc *d = f->d;
	char *name, *v = NULL;
	if (json_type_of(d, k + 1) != JSON_STRING)
		return snprintf(f->err, f->errlen, "label values must be strings"), -1;
	if (d->tok[k].len > 255 || d->tok[k + 1].len > 255)
		return snprintf(f->err, f->errlen, "labels are at most 255 bytes"), -1;
	int r = field_key(f, k, &name) < 0 ? -1 : field_str_at(f, name, k + 1, 0, 0, &v);
	free(name);
	free(v);
	return r;
}

static int load_ok(const struct fields *f, int k)
{
	double x;
	if (json_num(f->d, k + 1, &x))
		return 0;
	snprintf(f->err, f->errlen, "load values must be numbers");
	return -1;
}

/* The object f written compactly into b, once ok (given the member's key
 * token) passed every member: 0, or -1 with ok's reason. */
static int copy_members(const struct fields *f, int (*ok)(const struct fields *, int),
			struct buf *b)
{
	const struct json_doc *d = f->d;
	int v = f->obj;
	buf_addc(b, '{');
	for (int k = json_first(d, v); k >= 0; k = json_next_member(d, v, k)) {
		if (ok(f, k) < 0)
			return -1;
		if (b->len > 1)
			buf_addc(b, ',');
		add_raw(b, d, k);
		buf_addc(b, ':');
		add_raw(b, d, k + 1);
	}
	buf_addc(b, '}');
	return 0;
}

/* One unit's summary of "tasks", as f (its path "tasks[i]"), written
 * compactly into b with only the five members it may have. */
static int task_ok(const struct fields *f, struct buf *b)
{
	char *task = NULL, *state = NULL;
	int64_t replica, restarts;
	bool oom;
	int r = -1;
	if (field_str(f, "task", FIELD_REQUIRED | FIELD_NONEMPTY, TASK_NAME_MAX, &task) < 0 ||
	    field_int(f, "replica", FIELD_REQUIRED, 0, 999999999, &replica) < 0 ||
	    field_str(f, "state", FIELD_REQUIRED | FIELD_NONEMPTY, TASK_STATE_MAX, &state) < 0 ||
	    field_int(f, "restarts", FIELD_REQUIRED, 0, INT32_MAX, &restarts) < 0 ||
	    field_bool(f, "oom", FIELD_REQUIRED, &oom) < 0)
		goto out;
	/* cce-sched's rule for task names */
	if ((unsigned char)task[0] < 0x20 || task[0] == 0x7f) {
		field_fail(f, "task", "name starts with a control character");
		goto out;
	}
	/* systemd's states are lowercase words: anything else is not one */
	if (state[strspn(state, "abcdefghijklmnopqrstuvwxyz-")]) {
		field_fail(f, "state", "expected a unit state such as active or failed");
		goto out;
	}
	buf_adds(b, "{\"task\":");
	buf_add_json_str(b, task, strlen(task));
	buf_addf(b, ",\"replica\":%lld,\"state\":\"%s\",\"restarts\":%lld,\"oom\":%s}",
		 (long long)replica, state, (long long)restarts, oom ? "true" : "false");
	r = 0;
out:
	free(task);
	free(state);
	return r;
}

/* "tasks": an array of units' summaries (cce-task status), each
 * task/replica once, kept as a compact copy in *out: 0 (absent or taken),
 * or -1 with why. */
static int tasks_parse(const struct fields *f, char **out)
{
	const struct json_doc *d = f->d;
	int v, r = field_array(f, "tasks", 0, &v);
	if (r <= 0)
		return r;
	struct buf b = BUF_INIT;
	size_t n = 0, at[TASKS_MAX]; /* where each entry starts in b */
	buf_addc(&b, '[');
	for (int e = json_first(d, v); e >= 0; e = json_next_elem(d, v, e), n++) {
		char name[24];
		snprintf(name, sizeof name, "tasks[%zu]", n);
		struct fields ef = { .d = d, .obj = e, .name = name, .err = f->err,
				     .errlen = f->errlen };
		if (n == TASKS_MAX) {
			field_fail(f, "tasks", "at most %d units", TASKS_MAX);
			goto bad;
		}
		if (json_type_of(d, e) != JSON_OBJECT) {
			field_fail(&ef, NULL, "expected an object");
			goto bad;
		}
		at[n] = b.len + (n > 0);
		if (n)
			buf_addc(&b, ',');
		if (task_ok(&ef, &b) < 0)
			goto bad;
		/* the same unit twice: the summaries would contradict each
		 * other (task and replica are the entry's first members) */
		const char *me = b.data + at[n], *rest = strstr(me, ",\"state\"");
		for (size_t i = 0; i < n; i++)
			if (!strncmp(b.data + at[i], me, (size_t)(rest - me) + 1)) {
				field_fail(&ef, NULL, "the same task and replica as tasks[%zu]", i);
				goto bad;
			}
	}
	buf_addc(&b, ']');
	*out = buf_detach(&b, NULL);
	return 0;
bad:
	buf_free(&b);
	return -1;
}

/* "services": [{"name":NAME,"port":PORT},...], kept as a compact copy
 * in *out: 0 (absent or taken), or -1 with why. */
static int services_parse(const struct fields *f, char *why, size_t whylen, char **out)
{
	const struct json_doc *d = f->d;
	int v, r = field_array(f, "services", 0, &v);
	if (r <= 0)
		return r;
	struct buf b = BUF_INIT;
	buf_addc(&b, '[');
	for (int e = json_first(d, v); e >= 0; e = json_next_elem(d, v, e)) {
		if (json_type_of(d, e) != JSON_OBJECT)
			FAIL("each service must be an object {\"name\",\"port\"}");
		int nm = json_get(d, e, "name"), pt = json_get(d, e, "port");
		int64_t port;
		if (nm < 0 || json_type_of(d, nm) != JSON_STRING || d->tok[nm].escaped ||
		    !name_valid(d->text + d->tok[nm].start, d->tok[nm].len))
			FAIL("a service needs a \"name\" of 1-63 of A-Z a-z 0-9 . _ -");
		if (pt < 0 || !json_int(d, pt, &port) || port < 1 || port > 65535)
			FAIL("a service needs a \"port\" from 1 to 65535");
		if (b.len > 1)
			buf_addc(&b, ',');
		buf_adds(&b, "{\"name\":");
		add_raw(&b, d, nm);
		buf_addf(&b, ",\"port\":%d}", (int)port);
	}
	buf_addc(&b, ']');
	*out = buf_detach(&b, NULL);
	return 0;
bad:
	buf_free(&b);
	return -1;
}

int op_parse(const struct json_doc *d, size_t reclen, struct op *op, char *why, size_t whylen)
{
	struct buf b = BUF_INIT;
	memset(op, 0, sizeof *op);
	op->kind = OP_NONE;
	if (reclen > OP_MAX_RECORD)
		FAIL("record too large (%zu bytes, at most %d)", reclen, OP_MAX_RECORD);
	if (json_type_of(d, 0) != JSON_OBJECT)
		FAIL("an op must be a JSON object");
	struct fields f, sub;
	fields_init(&f, d, 0, why, whylen);
	int v = json_get(d, 0, "op");
	if (v < 0)
		FAIL("op: missing");
	for (int k = OP_JOIN; k < OP_REVOKE; k++)
		if (json_str_eq(d, v, op_name((enum op_kind)k)))
			op->kind = (enum op_kind)k;
	if (op->kind == OP_NONE)
		FAIL("\"op\" must be one of join, heartbeat, leave, cordon, uncordon");
	char *name;
	if ((v = json_get(d, 0, "node")) < 0)
		FAIL("node: missing");
	if (field_str_at(&f, "node", v, 0, 0, &name) < 0)
		goto bad;
	free(name);
	if (d->tok[v].escaped || !name_valid(d->text + d->tok[v].start, d->tok[v].len))
		FAIL("bad node name (1-63 of A-Z a-z 0-9 . _ -)");
	memcpy(op->name, d->text + d->tok[v].start, d->tok[v].len);
	op->name[d->tok[v].len] = 0;

	if (field_str(&f, "token", 0, TOKEN_MAX - 1, &op->token) < 0 ||
	    field_bool(&f, "force", 0, &op->force) < 0 ||
	    field_str(&f, "addr", 0, 255, &op->addr) < 0 ||
	    field_str(&f, "region", 0, NAME_MAX_LEN, &op->region) < 0 ||
	    field_str(&f, "zone", 0, NAME_MAX_LEN, &op->zone) < 0 ||
	    field_num(&f, "cost", FIELD_NONNEG, &op->cost) < 0)
		goto bad;

	int r = field_obj(&f, "labels", 0, &sub);
	if (r < 0 || (r > 0 && copy_members(&sub, label_ok, &b) < 0))
		goto bad;
	if (r > 0)
		op->labels = buf_detach(&b, NULL);
	if ((r = field_obj(&f, "capacity", 0, &sub)) < 0)
		goto bad;
	if (r > 0) {
		for (int k = json_first(d, sub.obj); k >= 0; k = json_next_member(d, sub.obj, k))
			if (!json_str_eq(d, k, "cpu") && !json_str_eq(d, k, "mem_mb") &&
			    !json_str_eq(d, k, "disk_mb") && !json_str_eq(d, k, "net_mbps"))
				FAIL("\"capacity\" takes only cpu, mem_mb, disk_mb and net_mbps");
		if (field_num(&sub, "cpu", FIELD_NONNEG, &op->cpu) < 0 ||
		    field_num(&sub, "mem_mb", FIELD_NONNEG, &op->mem_mb) < 0 ||
		    field_num(&sub, "disk_mb", FIELD_NONNEG, &op->disk_mb) < 0 ||
		    field_num(&sub, "net_mbps", FIELD_NONNEG, &op->net_mbps) < 0)
			goto bad;
	}
	if (services_parse(&f, why, whylen, &op->services) < 0)
		goto bad;
	if ((r = field_obj(&f, "load", 0, &sub)) < 0 ||
	    (r > 0 && copy_members(&sub, load_ok, &b) < 0))
		goto bad;
	if (r > 0)
		op->load = buf_detach(&b, NULL);
	if (tasks_parse(&f, &op->tasks) < 0)
		goto bad;
	v = json_get(d, 0, "ts");
	if (v >= 0) {
		if (json_type_of(d, v) == JSON_STRING) {
			if (time_parse_rfc3339(d->text + d->tok[v].start, d->tok[v].len, &op->ts) < 0)
				FAIL("\"ts\" is not an RFC 3339 time");
		} else if (!json_int(d, v, &op->ts) || op->ts <= 0) {
			FAIL("\"ts\" must be milliseconds since the epoch or an RFC 3339 time");
		}
	}
	return 0;
bad:
	buf_free(&b);
	op_free(op);
	return -1;
}

/* ---- applying */

static void set_str(char **dst, const char *src)
{
	free(*dst);
	*dst = src ? xstrdup(src) : NULL;
}

/* an empty summary is none: a node that reports no tasks keeps no string */
static void set_tasks(struct node *n, const char *tasks)
{
	set_str(&n->tasks, tasks && strcmp(tasks, "[]") ? tasks : NULL);
}

enum ev_kind reg_apply(struct registry *r, const struct op *op, int64_t now, char *why,
		       size_t whylen)
{
	struct node *n = reg_get(r, op->name);
	if (op->kind == OP_REVOKE) {
		n = reg_add(r, op->name);
		n->revoked = now;
		n->tok_ok = false;
		return EV_REVOKED;
	}
	bool need_token = op->kind == OP_JOIN || op->kind == OP_HEARTBEAT ||
			  (op->kind == OP_LEAVE && !op->force);
	if (need_token && n && op->token) {
		int64_t issued, expires;
		if (token_times(op->token, &issued, &expires) == 0 && issued <= n->revoked) {
			snprintf(why, whylen, "revoked token");
			return EV_REJECTED;
		}
	}
	if (op->kind != OP_JOIN && (!n || !n->present)) {
		snprintf(why, whylen, "unknown node");
		return EV_REJECTED;
	}
	switch (op->kind) {
	case OP_JOIN: {
		enum ev_kind ev = EV_UPDATED;
		if (!n)
			n = reg_add(r, op->name);
		if (!n->present) {
			ev = EV_JOINED;
			n->present = true;
			n->cordoned = false;
			n->joined = now;
			set_str(&n->load, op->load);
			set_tasks(n, op->tasks);
		} else {
			if (op->load)
				set_str(&n->load, op->load);
			if (op->tasks)
				set_tasks(n, op->tasks);
		}
		node_set_fixed(n, op->addr, op->region, op->zone, op->labels, op->services);
		n->cpu = op->cpu;
		n->mem_mb = op->mem_mb;
		n->disk_mb = op->disk_mb;
		n->net_mbps = op->net_mbps;
		n->cost = op->cost;
		n->last_seen = now;
		return ev;
	}
	case OP_HEARTBEAT: {
		/* the node's clock may run ahead or behind: never in the future,
		 * never backwards */
		int64_t t = op->ts && op->ts < now ? op->ts : now;
		if (t > n->last_seen)
			n->last_seen = t;
		/* in place when it fits: a heartbeat a second per node must not
		 * churn the heap */
		if (op->load && n->load && strlen(op->load) <= strlen(n->load))
			strcpy(n->load, op->load);
		else if (op->load)
			set_str(&n->load, op->load);
		if (op->tasks)
			set_tasks(n, op->tasks);
		return EV_HEARTBEAT;
	}
	case OP_LEAVE:
		node_clear(n);
		if (!n->revoked)
			reg_del(r, op->name);
		return EV_LEFT;
	case OP_CORDON:
		n->cordoned = true;
		return EV_CORDONED;
	case OP_UNCORDON:
		n->cordoned = false;
		return EV_UNCORDONED;
	default:
		snprintf(why, whylen, "unknown op");
		return EV_REJECTED;
	}
}

/* ---- JSON forms */

static void add_str(struct buf *b, const char *s)
{
	if (s)
		buf_add_json_str(b, s, strlen(s));
	else
		buf_adds(b, "\"\"");
}

/* buf_add_double, remembering the last fraction it formatted: a fleet's
 * nodes mostly share their cost, and formatting one is a printf and a
 * strtod or three */
static void add_num(struct buf *b, double v)
{
	static double last;
	static char txt[40];
	static size_t len;
	if (!isfinite(v) || (v == (double)(int64_t)v && fabs(v) < 9007199254740992.0)) {
		buf_add_double(b, v);
		return;
	}
	if (len && v == last) {
		buf_add(b, txt, len);
		return;
	}
	size_t at = b->len;
	buf_add_double(b, v);
	if (b->len - at < sizeof txt) {
		len = b->len - at;
		memcpy(txt, b->data + at, len);
		last = v;
	}
}

static void node_json(struct buf *b, const struct node *n, int state, int ev)
{
	buf_adds(b, "{\"node\":");
	add_str(b, n->name);
	buf_adds(b, ",\"addr\":");
	add_str(b, n->addr);
	buf_adds(b, ",\"region\":");
	add_str(b, n->region);
	buf_adds(b, ",\"zone\":");
	add_str(b, n->zone);
	buf_adds(b, ",\"labels\":");
	buf_adds(b, n->labels ? n->labels : "{}");
	buf_adds(b, ",\"capacity\":{\"cpu\":");
	add_num(b, n->cpu);
	buf_adds(b, ",\"mem_mb\":");
	add_num(b, n->mem_mb);
	buf_adds(b, ",\"disk_mb\":");
	add_num(b, n->disk_mb);
	/* only when said, so that the records of nodes without it stay as
	 * they were */
	if (n->net_mbps > 0) {
		buf_adds(b, ",\"net_mbps\":");
		add_num(b, n->net_mbps);
	}
	buf_adds(b, "},\"load\":");
	buf_adds(b, n->load ? n->load : "{}");
	/* listed always, so that a reader need not guess; stored only when
	 * there is one, so that a node without tasks costs no more */
	if (n->tasks || state >= 0) {
		buf_adds(b, ",\"tasks\":");
		buf_adds(b, n->tasks ? n->tasks : "[]");
	}
	buf_adds(b, ",\"services\":");
	buf_adds(b, n->services ? n->services : "[]");
	buf_adds(b, ",\"cost\":");
	add_num(b, n->cost);
	if (state >= 0) {
		buf_adds(b, ",\"state\":\"");
		buf_adds(b, state_name((enum node_state)state));
		buf_addc(b, '"');
	} else {
		buf_adds(b, n->cordoned ? ",\"cordoned\":true" : ",\"cordoned\":false");
	}
	buf_adds(b, ",\"joined\":");
	buf_add_i64(b, n->joined);
	buf_adds(b, ",\"last_seen\":");
	buf_add_i64(b, n->last_seen);
	if (state < 0 && n->revoked) {
		buf_adds(b, ",\"revoked\":");
		buf_add_i64(b, n->revoked);
	}
	if (ev >= 0) {
		buf_adds(b, ",\"ev\":\"");
		buf_adds(b, ev_name((enum ev_kind)ev));
		buf_addc(b, '"');
	}
	buf_addc(b, '}');
}

void node_store_json(struct buf *b, const struct node *n, int ev)
{
	if (!n->present) {
		buf_adds(b, "{\"node\":");
		add_str(b, n->name);
		buf_adds(b, ",\"revoked\":");
		buf_add_i64(b, n->revoked);
		buf_addc(b, '}');
		return;
	}
	node_json(b, n, -1, ev);
}

void node_list_json(struct buf *b, const struct node *n, enum node_state st)
{
	node_json(b, n, (int)st, -1);
}

/*
 * Loading a stored node: a snapshot holds a hundred thousand of them, so
 * the members are found in one pass, numbers that are plain integers skip
 * strtod, and the strings go straight into the node's one fixed block
 * instead of a copy each.
 */
static void get_num(const struct json_doc *d, int v, double *out, bool *bad)
{
	if (json_type_of(d, v) == JSON_NUMBER && d->tok[v].len <= 15) {
		const char *p = d->text + d->tok[v].start;
		int64_t x = 0;
		size_t i = 0;
		while (i < d->tok[v].len && p[i] >= '0' && p[i] <= '9')
			x = x * 10 + (p[i++] - '0');
		if (i == d->tok[v].len) {
			*out = (double)x;
			return;
		}
	}
	/* 1e999 parses to infinity, which would be written back as null */
	if (!json_num(d, v, out) || !isfinite(*out))
		*bad = true;
}

/* where a field of the fixed block is in the doc: a string token (decoded
 * when it holds escapes) or a raw object or array */
struct field {
	int tok;                        /* -1: absent (NULL) */
	bool raw;
};

/* the key of member k is s (keys we write are never escaped) */
#define KEY(s) (d->tok[k].len == sizeof(s) - 1 && !memcmp(d->text + d->tok[k].start, s, sizeof(s) - 1))

enum { F_ADDR, F_REGION, F_ZONE, F_LABELS, F_SERVICES, F_LOAD, F_TASKS, F_N };

static void set_field(struct field *f, const struct json_doc *d, int v, enum json_type t,
		      bool *bad)
{
	if (json_type_of(d, v) != t) {
		*bad = true;
		return;
	}
	f->raw = t != JSON_STRING;
	/* "" and {} and [] are the defaults */
	f->tok = d->tok[v].len == 0 || (f->raw && d->tok[v].len == 2) ? -1 : v;
}

/* capacity: {"cpu":N,"mem_mb":N,"disk_mb":N,"net_mbps":N} into cap[0..3] */
static void get_capacity(const struct json_doc *d, int v, double cap[4], bool *bad)
{
	if (json_type_of(d, v) != JSON_OBJECT) {
		*bad = true;
		return;
	}
	for (int k = json_first(d, v); k >= 0; k = json_next_member(d, v, k)) {
		if (KEY("cpu"))
			get_num(d, k + 1, &cap[0], bad);
		else if (KEY("mem_mb"))
			get_num(d, k + 1, &cap[1], bad);
		else if (KEY("disk_mb"))
			get_num(d, k + 1, &cap[2], bad);
		else if (KEY("net_mbps"))
			get_num(d, k + 1, &cap[3], bad);
	}
}

/* The fields f found into n: addr, region, zone, labels and services in
 * one block (n->fixed), as node_set_fixed lays them out, load and tasks
 * each on its own. */
static void set_fixed(struct node *n, const struct json_doc *d, const struct field *f)
{
	/* NUL-terminated, strings decoded (up to a NUL they may hold, as
	 * strdup would) */
	struct buf dec = BUF_INIT;
	const char *src[F_N];
	size_t len[F_N], total = 0;
	for (int i = 0; i < F_N; i++) {
		int v = f[i].tok;
		src[i] = NULL;
		len[i] = 0;
		if (v < 0)
			continue;
		if (!f[i].raw && d->tok[v].escaped) {
			buf_reset(&dec);
			json_str(d, v, &dec);
			src[i] = xstrdup(dec.data ? dec.data : "");
			len[i] = strlen(src[i]);
		} else {
			src[i] = json_raw(d, v, &len[i]);
			if (!f[i].raw) {
				src[i]++; /* inside the quotes */
				len[i] -= 2;
			}
		}
		if (i != F_LOAD && i != F_TASKS)
			total += len[i] + 1;
	}
	char *blk = total ? xmalloc(total) : NULL, *p = blk;
	char **dst[F_N] = { &n->addr,	  &n->region, &n->zone, &n->labels,
			    &n->services, &n->load,   &n->tasks };
	for (int i = 0; i < F_N; i++) {
		if (!src[i])
			continue;
		if (i == F_LOAD || i == F_TASKS) {
			*dst[i] = xstrndup(src[i], len[i]);
		} else {
			memcpy(p, src[i], len[i]);
			p[len[i]] = 0;
			*dst[i] = p;
			p += len[i] + 1;
		}
		if (!f[i].raw && d->tok[f[i].tok].escaped)
			free((char *)src[i]);
	}
	buf_free(&dec);
	n->fixed = blk;
}

int node_load_json(struct registry *r, const struct json_doc *d, int tok)
{
	if (json_type_of(d, tok) != JSON_OBJECT)
		return -1;
	struct field f[F_N];
	for (int i = 0; i < F_N; i++)
		f[i].tok = -1;
	double cap[4] = { 0, 0, 0, 0 }, cost = 0; /* cpu, mem_mb, disk_mb, net_mbps */
	bool cordoned = false;
	int64_t joined_at = 0, last_seen = 0, revoked = 0;
	int name = -1, joined = -1;
	bool bad = false;
	for (int k = json_first(d, tok); k >= 0 && !bad; k = json_next_member(d, tok, k)) {
		int v = k + 1;
		/* a repeated key: the last wins */
		if (KEY("node"))
			name = v;
		else if (KEY("addr"))
			set_field(&f[F_ADDR], d, v, JSON_STRING, &bad);
		else if (KEY("region"))
			set_field(&f[F_REGION], d, v, JSON_STRING, &bad);
		else if (KEY("zone"))
			set_field(&f[F_ZONE], d, v, JSON_STRING, &bad);
		else if (KEY("labels"))
			set_field(&f[F_LABELS], d, v, JSON_OBJECT, &bad);
		else if (KEY("load"))
			set_field(&f[F_LOAD], d, v, JSON_OBJECT, &bad);
		else if (KEY("services"))
			set_field(&f[F_SERVICES], d, v, JSON_ARRAY, &bad);
		else if (KEY("tasks"))
			set_field(&f[F_TASKS], d, v, JSON_ARRAY, &bad);
		else if (KEY("cost"))
			get_num(d, v, &cost, &bad);
		else if (KEY("cordoned"))
			bad = !json_bool(d, v, &cordoned);
		else if (KEY("joined"))
			bad = !json_int(d, v, &joined_at), joined = v;
		else if (KEY("last_seen"))
			bad = !json_int(d, v, &last_seen);
		else if (KEY("revoked"))
			bad = !json_int(d, v, &revoked);
		else if (KEY("capacity"))
			get_capacity(d, v, cap, &bad);
	}
	if (bad || name < 0 || json_type_of(d, name) != JSON_STRING || d->tok[name].escaped ||
	    !name_valid(d->text + d->tok[name].start, d->tok[name].len) ||
	    (joined < 0 && !revoked))
		return -1;
	char nm[NAME_MAX_LEN + 1];
	memcpy(nm, d->text + d->tok[name].start, d->tok[name].len);
	nm[d->tok[name].len] = 0;
	struct node *n = reg_add(r, nm);
	if (revoked)
		n->revoked = revoked;
	if (joined < 0)
		return 0;
	node_clear(n);
	set_fixed(n, d, f);
	n->cpu = cap[0];
	n->mem_mb = cap[1];
	n->disk_mb = cap[2];
	n->net_mbps = cap[3];
	n->cost = cost;
	n->cordoned = cordoned;
	n->joined = joined_at;
	n->last_seen = last_seen;
	n->present = true;
	return 0;
}

void event_json(struct buf *b, const char *event, const char *node, size_t nodelen, int64_t ts,
		const char *reason)
{
	buf_adds(b, "{\"event\":\"");
	buf_adds(b, event);
	buf_adds(b, "\",\"node\":");
	if (node)
		buf_add_json_str(b, node, nodelen);
	else
		buf_adds(b, "null");
	buf_adds(b, ",\"ts\":");
	buf_add_i64(b, ts);
	if (reason) {
		buf_adds(b, ",\"reason\":");
		buf_add_json_str(b, reason, strlen(reason));
	}
	buf_addc(b, '}');
}

/* ---- list filters */

bool node_selected(const struct node *n, const char *sel, struct json_doc *d)
{
	if (!sel || !*sel)
		return true;
	const char *labels = n->labels ? n->labels : "{}";
	if (json_parse(d, labels, strlen(labels), &(struct json_error){ 0 }) < 0)
		return false;
	const char *p = sel;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		size_t klen = eq ? (size_t)(eq - p) : len;
		int v = json_getn(d, 0, p, klen);
		if (v < 0)
			return false;
		if (eq) {
			struct buf val = BUF_INIT;
			json_str(d, v, &val);
			bool same = val.len == len - klen - 1 && !memcmp(val.data, eq + 1, val.len);
			buf_free(&val);
			if (!same)
				return false;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return true;
}

bool node_offers(const struct node *n, const char *svc, struct json_doc *d, int64_t *port)
{
	if (!n->services)
		return false;
	if (json_parse(d, n->services, strlen(n->services), &(struct json_error){ 0 }) < 0)
		return false;
	for (int e = json_first(d, 0); e >= 0; e = json_next_elem(d, 0, e)) {
		int nm = json_get(d, e, "name"), pt = json_get(d, e, "port");
		if (nm >= 0 && json_str_eq(d, nm, svc)) {
			if (pt >= 0)
				json_int(d, pt, port);
			return true;
		}
	}
	return false;
}
