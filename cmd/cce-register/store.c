#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "fsutil.h"

struct store {
	struct fstore *f;
	struct estore *e;
	char *where;
};

struct store *store_open(const char *url, const struct store_opts *o, char *err, size_t errlen)
{
	struct store *s = xcalloc(1, sizeof *s);
	if (!strncmp(url, "etcd://", 7) || !strncmp(url, "etcds://", 8)) {
		s->e = estore_open(url, o, err, errlen);
		if (!s->e) {
			free(s);
			return NULL;
		}
		s->where = xstrdup(url);
		return s;
	}
	const char *path = url;
	if (!strncmp(url, "file:", 5))
		path = url + 5;
	else if (strstr(url, "://")) {
		snprintf(err, errlen, "unknown store '%s' (use file:PATH, etcd:// or etcds://)", url);
		free(s);
		return NULL;
	}
	if (!*path) {
		snprintf(err, errlen, "empty store path in '%s'", url);
		free(s);
		return NULL;
	}
	s->f = fstore_open(path, o);
	s->where = xstrdup(path);
	return s;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	if (s->f)
		fstore_close(s->f);
	if (s->e)
		estore_close(s->e);
	free(s->where);
	free(s);
}

const char *store_where(const struct store *s)
{
	return s->where;
}

#define DISPATCH(call, ...) (s->f ? fstore_##call(s->f, __VA_ARGS__) : estore_##call(s->e, __VA_ARGS__))

int store_init(struct store *s, char *err, size_t errlen)
{
	return DISPATCH(init, err, errlen);
}

int store_load(struct store *s, struct registry *reg, char *err, size_t errlen)
{
	return DISPATCH(load, reg, err, errlen);
}

int store_commit(struct store *s, struct item *items, size_t n, verify_fn verify, void *arg,
		 char *err, size_t errlen)
{
	return DISPATCH(commit, items, n, verify, arg, err, errlen);
}

int store_expire(struct store *s, int64_t ttl, struct buf *events, char *err, size_t errlen)
{
	return DISPATCH(expire, ttl, events, err, errlen);
}

int store_watch(struct store *s, struct out *out, char *err, size_t errlen)
{
	return DISPATCH(watch, out, err, errlen);
}

int store_compact(struct store *s, char *err, size_t errlen)
{
	return DISPATCH(compact, err, errlen);
}

void batch_decide(struct registry *reg, struct item *items, size_t n, int64_t now,
		  verify_fn verify, void *arg, applied_fn applied, void *applied_arg)
{
	for (size_t i = 0; i < n; i++) {
		struct item *it = &items[i];
		if (it->decided)
			continue;
		struct op *op = &it->op;
		bool need_token = op->kind == OP_JOIN || op->kind == OP_HEARTBEAT ||
				  (op->kind == OP_LEAVE && !op->force);
		const char *why = NULL;
		if (need_token && verify && verify(arg, reg_get(reg, op->name), op, now, &why) < 0) {
			it->ev = EV_REJECTED;
			snprintf(it->why, sizeof it->why, "%s", why);
			continue;
		}
		it->ev = reg_apply(reg, op, now, it->why, sizeof it->why);
		if (it->ev != EV_REJECTED && applied)
			applied(applied_arg, reg, it, now);
	}
}

static const char *live_name(enum node_state st)
{
	return st == ST_DEAD ? "dead" : st == ST_SUSPECT ? "suspect" : "alive";
}

void expire_diff(const struct registry *reg, const struct json_doc *prev, int64_t now,
		 int64_t ttl, bool vanished_dead, struct buf *events, struct buf *next)
{
	/* the previous states in a table for lookups; last_seen holds the state */
	struct registry old;
	reg_init(&old);
	if (prev && prev->ntok && json_type_of(prev, 0) == JSON_OBJECT) {
		for (int k = json_first(prev, 0); k >= 0; k = json_next_member(prev, 0, k)) {
			const struct json_tok *t = &prev->tok[k];
			if (t->escaped || !name_valid(prev->text + t->start, t->len))
				continue;
			char name[NAME_MAX_LEN + 1];
			memcpy(name, prev->text + t->start, t->len);
			name[t->len] = 0;
			int64_t st = json_str_eq(prev, k + 1, "dead")      ? ST_DEAD
				     : json_str_eq(prev, k + 1, "suspect") ? ST_SUSPECT
									   : ST_READY;
			reg_add(&old, name)->last_seen = st;
		}
	}
	buf_addc(next, '{');
	bool first = true;
	struct node *n;
	REG_FOREACH(reg, i, n) {
		if (!n->present)
			continue;
		enum node_state st = node_state(n, now, ttl);
		if (st == ST_CORDONED)
			st = ST_READY;
		struct node *o = reg_get(&old, n->name);
		enum node_state was = o ? (enum node_state)o->last_seen : ST_READY;
		if (o)
			o->present = true; /* seen */
		if (st != was) {
			event_json(events, live_name(st), n->name, strlen(n->name), now, NULL);
			buf_addc(events, '\n');
		}
		if (!first)
			buf_addc(next, ',');
		first = false;
		buf_add_json_str(next, n->name, strlen(n->name));
		buf_addc(next, ':');
		buf_add_json_str(next, live_name(st), strlen(live_name(st)));
	}
	buf_addc(next, '}');
	if (vanished_dead) {
		REG_FOREACH(&old, i, n) {
			if (n->present || n->last_seen == ST_DEAD)
				continue;
			event_json(events, "dead", n->name, strlen(n->name), now, NULL);
			buf_addc(events, '\n');
		}
	}
	reg_free(&old);
}
