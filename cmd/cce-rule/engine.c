/*
 * engine: the watermark, matching, keying and alerts; what a rule does
 * with a keyed record is its kind's (kind.h, one file per kind).
 * Expressions are evaluated by eval.c, keys kept by keys.c, the state
 * saved by checkpoint.c.
 */
#include "kind.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "hash.h"
#include "timeutil.h"

/*
 * The kinds by enum rule_kind, from RULE_KINDS in rule.h: a new kind is a
 * file defining its kind_NAME (kind.h says what it must do) and a row
 * there, which makes its entry here.
 */
const struct kind_ops *const rule_kinds[RK_NKINDS] = {
#define X(up, low) [RK_##up] = &kind_##low,
	RULE_KINDS(X)
#undef X
};

void key_maybe_drop(struct rule *r, struct kstate *k)
{
	if (k->st == ST_INACTIVE && (!k->x || !k->x->n))
		kmap_del(&r->rt->keys, k);
}

/* Past max_keys the longest idle keys are forgotten, with one warning per
 * rule: a key such as .ts by mistake must not take all the memory. */
void rule_evict(struct rule *r, const char *why)
{
	struct rule_rt *rt = r->rt;
	if (rt->keys.n <= r->max_keys)
		return;
	if (!rt->evict_warned) {
		rt->evict_warned = true;
		diag_warn("rule '%s': %s %u keys (max_keys): the longest idle are forgotten, "
			  "counted in status as evicted", r->name, why, r->max_keys);
	}
	while (rt->keys.n > r->max_keys) {
		rt->evicted++;
		kmap_del(&rt->keys, rt->keys.oldest);
	}
}

static void rt_free(struct rule_rt *rt)
{
	if (!rt)
		return;
	kmap_free(&rt->keys);
	free(rt->disabled);
	free(rt);
}

static struct rule_rt *rt_new(void)
{
	return xcalloc(1, sizeof(struct rule_rt));
}

struct engine *engine_new(struct ruleset *rs, const struct engine_opts *o, char *err, size_t errlen)
{
	struct engine *e = xcalloc(1, sizeof *e);
	e->o = *o;
	if (expr_compile(&e->time, o->time_src ? o->time_src : ".ts", false, err, errlen) < 0) {
		free(e);
		return NULL;
	}
	e->rs = *rs;
	rs->r = NULL;
	rs->n = 0;
	for (int i = 0; i < e->rs.n; i++)
		e->rs.r[i]->rt = rt_new();
	buf_init(&e->scratch);
	buf_init(&e->line);
	buf_init(&e->tmp);
	buf_init(&e->keybuf);
	buf_init(&e->held);
	json_doc_init(&e->aggdoc);
	return e;
}

void engine_set_input(struct engine *e, struct jsonl_reader *in) { e->o.in = in; }
uint64_t engine_late(const struct engine *e) { return e->late; }

static void free_rules(struct ruleset *rs)
{
	for (int i = 0; i < rs->n; i++) {
		rt_free(rs->r[i]->rt);
		rs->r[i]->rt = NULL;
	}
	ruleset_free(rs);
}

void engine_free(struct engine *e)
{
	if (!e)
		return;
	free_rules(&e->rs);
	expr_free(&e->time);
	buf_free(&e->scratch);
	buf_free(&e->line);
	buf_free(&e->tmp);
	buf_free(&e->keybuf);
	buf_free(&e->held);
	json_doc_free(&e->aggdoc);
	free(e);
	fast_shutdown();
}

/* ---- alerts ---- */

static void alert_id(const struct rule *r, const char *key, int64_t since, char out[33])
{
	struct buf b;
	buf_init(&b);
	buf_adds(&b, r->name);
	buf_addc(&b, 0);
	buf_adds(&b, key);
	buf_addc(&b, 0);
	buf_add_i64(&b, since);
	unsigned char h[SHA256_LEN];
	char hex[SHA256_HEX_LEN];
	sha256(b.data, b.len, h);
	hex_encode(h, SHA256_LEN, hex);
	memcpy(out, hex, 32);
	out[32] = 0;
	buf_free(&b);
}

/* Takes one alert through the rule's limit: true when it may go out. */
static bool limit_pass(struct rule *r, int64_t ts)
{
	struct rule_rt *rt = r->rt;
	if (!r->limit_max)
		return true;
	if (rt->lim_count == 0 || ts >= rt->lim_start + r->limit_per) {
		rt->lim_start = ts;
		rt->lim_count = 0;
	}
	if (rt->lim_count >= r->limit_max) {
		rt->lim_supp++;
		rt->suppressed++;
		return false;
	}
	rt->lim_count++;
	return true;
}

void alert_emit(struct engine *e, struct rule *r, struct kstate *k, const char *state,
		int64_t ts, struct rec *rc, const struct extra *x)
{
	if (!limit_pass(r, ts))
		return;
	struct buf *b = &e->line;
	buf_reset(b);
	buf_adds(b, "{\"rule\":");
	buf_add_json_str(b, r->name, strlen(r->name));
	buf_adds(b, ",\"key\":");
	buf_adds(b, k->key);
	buf_adds(b, ",\"state\":\"");
	buf_adds(b, state);
	/* one SHA-256 per episode, not per alert */
	if (!k->has_id || k->id_since != k->since) {
		alert_id(r, k->key, k->since, k->id);
		k->id_since = k->since;
		k->has_id = true;
	}
	buf_adds(b, "\",\"id\":\"");
	buf_adds(b, k->id);
	buf_adds(b, "\",\"ts\":");
	buf_add_i64(b, ts);
	buf_adds(b, ",\"since\":");
	buf_add_i64(b, k->since);
	if (r->severity) {
		buf_adds(b, ",\"severity\":");
		buf_adds(b, r->severity);
	}
	if (r->value.src && rc) {
		size_t at = b->len;
		buf_adds(b, ",\"value\":");
		if (ex_json(e, r, &r->value, rc, "value", b) < 0)
			b->len = at;
	} else if (x && x->has_value) {
		buf_adds(b, ",\"value\":");
		buf_add_double(b, x->value);
	}
	if (x && x->has_score) {
		buf_adds(b, ",\"score\":");
		buf_add_double(b, x->score);
	}
	if (x && x->has_forecast) {
		buf_adds(b, ",\"forecast\":");
		buf_add_double(b, x->forecast);
	}
	if (x && x->has_crossing) {
		buf_adds(b, ",\"crosses_at\":");
		buf_add_i64(b, x->crosses_at);
	}
	if (x && x->has_peak) {
		buf_adds(b, ",\"peak_score\":");
		buf_add_double(b, x->peak);
	}
	buf_adds(b, ",\"labels\":");
	buf_adds(b, r->labels ? r->labels : "{}");
	if (r->message.src && rc) {
		size_t at = b->len;
		buf_adds(b, ",\"message\":");
		if (ex_json(e, r, &r->message, rc, "message", b) < 0)
			b->len = at;
	}
	if (r->rt->lim_supp && strcmp(state, "pending") != 0) {
		buf_adds(b, ",\"suppressed\":");
		buf_add_u64(b, r->rt->lim_supp);
		r->rt->lim_supp = 0;
	}
	if (rc) {
		buf_adds(b, ",\"record\":");
		buf_add(b, rc->text, rc->len);
	}
	buf_addc(b, '}');
	if (e->holding) {
		buf_add(&e->held, b->data, b->len);
		buf_addc(&e->held, '\n');
	} else {
		out_line(e->o.out, b->data, b->len);
	}
}

void alert_fire(struct engine *e, struct rule *r, struct kstate *k, int64_t ts,
		struct rec *rc, const struct extra *x)
{
	k->st = ST_FIRING;
	k->last_emit = ts;
	r->rt->fired++;
	r->rt->last_fired = ts;
	r->rt->fired_once = true;
	alert_emit(e, r, k, "firing", ts, rc, x);
}

void alert_resolve(struct engine *e, struct rule *r, struct kstate *k, int64_t ts,
		   struct rec *rc, const struct extra *x)
{
	k->st = ST_INACTIVE;
	r->rt->resolved++;
	alert_emit(e, r, k, "resolved", ts, rc, x);
}

int key_step(struct engine *e, struct rule *r, struct kstate *k, int64_t ts, bool c,
	     struct rec *rc, const struct extra *x)
{
	if (k->st == ST_FIRING) {
		if (c)
			k->last_true = ts;
		bool done = !c;
		if (r->clear.src) {
			int st = ex_truth(e, r, &r->clear, rc, "clear", &done);
			if (st < 0)
				return st;
		}
		if (done && r->keep_ms && ts - k->last_true < r->keep_ms)
			done = false;
		if (done)
			alert_resolve(e, r, k, ts, rc, x);
		else if (r->repeat_ms && ts - k->last_emit >= r->repeat_ms) {
			k->last_emit = ts;
			alert_emit(e, r, k, "firing", ts, rc, x);
		}
		return 0;
	}
	if (!c) {
		k->st = ST_INACTIVE;
		return 0;
	}
	if (k->st == ST_INACTIVE) {
		k->since = ts;
		k->st = ST_PENDING;
		if (r->for_ms > 0 && e->o.emit_pending)
			alert_emit(e, r, k, "pending", ts, rc, x);
	}
	if (ts - k->since >= r->for_ms) {
		k->last_true = ts;
		alert_fire(e, r, k, ts, rc, x);
	}
	return 0;
}

/* ---- the watermark: windows and deadmen that it made due ---- */

static void scan_rule(struct engine *e, struct rule *r, int64_t wm)
{
	struct rule_rt *rt = r->rt;
	const struct kind_ops *kind = kind_of(r);
	if (rt->disabled || !kind->idle || wm < kmap_first_due(&rt->keys))
		return;
	uint32_t n;
	struct kstate **ks = kmap_take_due(&rt->keys, wm, &n);
	for (uint32_t i = 0; i < n && !rt->disabled; i++)
		kind->idle(e, r, ks[i], wm);
}

static void advance(struct engine *e, int64_t wm)
{
	for (int i = 0; i < e->rs.n; i++)
		scan_rule(e, e->rs.r[i], wm);
}

void engine_idle(struct engine *e)
{
	if (!e->have_wm)
		return;
	int64_t now = time_now_ms();
	if (!e->wall_at_wm) {
		/* the last record came from a file: the clock starts now */
		e->wall_at_wm = now;
		return;
	}
	int64_t wm = e->watermark + (now - e->wall_at_wm);
	advance(e, wm);
}

/* One record through one rule: match, key, then the rule's kind. */
static void apply(struct engine *e, struct rule *r, struct rec *rc, int64_t t, bool late)
{
	const struct kind_ops *kind = kind_of(r);
	struct rule_rt *rt = r->rt;
	rt->evaluated++;
	bool m = true;
	if (r->match.src && ex_truth(e, r, &r->match, rc, "match", &m) < 0)
		return;
	if (!m)
		return;
	rt->matched++;
	bool windowed = kind->flags & KF_WINDOWED;
	if (late) {
		rt->late++;
		if (windowed)
			return; /* its window is gone; counted, never aggregated */
	}
	/* sparse kinds keep state only for pending and firing keys: a
	 * condition that does not hold for a key without state changes
	 * nothing, and its key need not even be computed */
	bool sparse = kind->flags & KF_SPARSE;
	bool c = true;
	if (sparse) {
		if (r->when.src && ex_truth(e, r, &r->when, rc, "when", &c) < 0)
			return;
		if (!c && rt->keys.n == 0)
			return;
		/* ten rules keyed alike: the key and its hash are known already */
		uint64_t h;
		if (!c && r->key.fp && fpath_hash(r->key.fp, rc->doc, &h) &&
		    kmap_surely_absent(&rt->keys, h))
			return;
	}
	struct buf *kb = &e->keybuf;
	buf_reset(kb);
	if (!r->key.src)
		buf_adds(kb, "null");
	else if (ex_json(e, r, &r->key, rc, "key", kb) < 0)
		return;
	uint64_t h;
	if (!r->key.fp || !fpath_hash(r->key.fp, rc->doc, &h)) {
		h = kmap_hash(kb->data, kb->len);
		if (r->key.fp)
			fpath_set_hash(r->key.fp, rc->doc, h);
	}
	struct kstate *k = kmap_get_h(&rt->keys, kb->data, kb->len, h, !sparse || c);
	if (!k)
		return;
	rule_evict(r, "more than");
	/* a key's time never runs backwards (a window's entries keep theirs) */
	if (t < k->last_ts && !windowed)
		t = k->last_ts;
	k->last_ts = t;
	if (!sparse && !windowed && r->when.src && ex_truth(e, r, &r->when, rc, "when", &c) < 0)
		return;
	kind->record(e, r, k, rc, t, c);
}

/* The record with the anomaly score its rules gave it (the highest, when
 * several did) as its last field, then the alerts it made. */
static void pass_scored(struct engine *e, const char *text, size_t len)
{
	e->holding = false;
	size_t end = len;
	while (end && (text[end - 1] == ' ' || text[end - 1] == '\t' || text[end - 1] == '\r'))
		end--;
	if (isnan(e->rec_score) || !end || text[end - 1] != '}') {
		out_line(e->o.out, text, len);
	} else {
		size_t in = end - 1;
		while (in && (text[in - 1] == ' ' || text[in - 1] == '\t' || text[in - 1] == '\n'))
			in--;
		struct buf *b = &e->tmp;
		buf_reset(b);
		buf_add(b, text, end - 1);
		buf_adds(b, in && text[in - 1] == '{' ? "\"anomaly_score\":" : ",\"anomaly_score\":");
		buf_add_double(b, e->rec_score);
		buf_addc(b, '}');
		out_line(e->o.out, b->data, b->len);
	}
	for (size_t at = 0; at < e->held.len;) {
		const char *nl = memchr(e->held.data + at, '\n', e->held.len - at);
		size_t n = (size_t)(nl - (e->held.data + at));
		out_line(e->o.out, e->held.data + at, n);
		at += n + 1;
	}
	buf_reset(&e->held);
}

int engine_record(struct engine *e, const struct jsonl_line *line, struct json_doc *doc)
{
	struct rec rc = { .text = line->data, .len = line->len, .doc = doc,
			  .source = line->source, .lineno = line->lineno };
	fast_begin(doc);
	int64_t t;
	char why[1024];
	int tr = ex_time(e, &rc, &t, why, sizeof why);
	if (tr < 0) {
		rec_done(&rc);
		fast_end();
		return jsonl_reject(e->o.in, line, "%s", why) == JSONL_FATAL ? JSONL_FATAL : 0;
	}
	/* the clock only matters for records without a time and for idle
	 * pipes (the watermark moves on with it) */
	bool live = e->o.in && jsonl_interactive(e->o.in);
	int64_t now = tr == 0 || live ? time_now_ms() : 0;
	if (tr == 0)
		t = now;
	bool late = e->have_wm && t < e->watermark - e->o.lateness;
	if (late)
		e->late++;
	if (!e->have_wm || t > e->watermark) {
		e->watermark = t;
		e->have_wm = true;
	}
	if (live)
		e->wall_at_wm = now;
	/* with anomaly scores the record waits for its rules, and their
	 * alerts for it */
	e->holding = e->o.pass && e->o.anomaly_score;
	e->rec_score = NAN;
	if (e->o.pass && !e->holding)
		out_line(e->o.out, line->data, line->len);
	/* first what the new watermark made due (a deadman whose key speaks
	 * again in this very record was overdue before it), then the record;
	 * what the record adds is never due at once */
	advance(e, e->watermark);
	for (int i = 0; i < e->rs.n; i++) {
		struct rule *r = e->rs.r[i];
		if (!r->rt->disabled)
			apply(e, r, &rc, t, late);
	}
	if (e->holding)
		pass_scored(e, line->data, line->len);
	rec_done(&rc);
	fast_end();
	return 0;
}

/* ---- reload and status ---- */

void engine_reload(struct engine *e, struct ruleset *rs)
{
	for (int i = 0; i < rs->n; i++) {
		struct rule *n = rs->r[i];
		n->rt = NULL;
		for (int j = 0; j < e->rs.n; j++) {
			struct rule *o = e->rs.r[j];
			if (o->rt && strcmp(o->name, n->name) == 0 && strcmp(o->sig, n->sig) == 0) {
				n->rt = o->rt;
				o->rt = NULL;
			}
		}
		if (!n->rt)
			n->rt = rt_new();
		rule_evict(n, "more than");
	}
	free_rules(&e->rs);
	e->rs = *rs;
	rs->r = NULL;
	rs->n = 0;
}

void engine_status(struct engine *e, struct buf *b)
{
	for (int i = 0; i < e->rs.n; i++) {
		struct rule *r = e->rs.r[i];
		struct rule_rt *rt = r->rt;
		uint64_t firing = 0;
		MAP_FOREACH(&rt->keys.map, ke)
			if (((struct kstate *)ke->val)->st == ST_FIRING)
				firing++;
		buf_adds(b, "{\"rule\":");
		buf_add_json_str(b, r->name, strlen(r->name));
		buf_addf(b, ",\"evaluated\":%llu,\"matched\":%llu,\"fired\":%llu,\"resolved\":%llu,"
			    "\"suppressed\":%llu,\"errors\":%llu,\"late\":%llu,\"keys\":%u,\"firing_keys\":%llu,"
			    "\"max_keys\":%u,\"evicted\":%llu,\"overruns\":%llu,\"last_fired\":",
			 (unsigned long long)rt->evaluated, (unsigned long long)rt->matched,
			 (unsigned long long)rt->fired, (unsigned long long)rt->resolved,
			 (unsigned long long)rt->suppressed, (unsigned long long)rt->errors,
			 (unsigned long long)rt->late, rt->keys.n, (unsigned long long)firing,
			 r->max_keys, (unsigned long long)rt->evicted, (unsigned long long)rt->overruns);
		if (rt->fired_once)
			buf_add_i64(b, rt->last_fired);
		else
			buf_adds(b, "null");
		buf_adds(b, ",\"disabled\":");
		if (rt->disabled)
			buf_add_json_str(b, rt->disabled, strlen(rt->disabled));
		else
			buf_adds(b, "false");
		if (kind_of(r)->status)
			kind_of(r)->status(r, b);
		buf_adds(b, "}\n");
	}
}
