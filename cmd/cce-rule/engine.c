#include "engine.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "fsutil.h"
#include "hash.h"
#include "keys.h"
#include "timeutil.h"

#define MAX_REPORTED 5

struct rule_rt {
	struct kmap keys;
	uint64_t evaluated, matched, fired, resolved, suppressed, errors, late;
	uint64_t overruns;  /* evaluations past a budget, this run */
	int64_t last_fired;
	bool fired_once;
	char *disabled;
	int64_t lim_start;
	uint32_t lim_count;
	uint64_t lim_supp;
	int64_t next_due;   /* window closes, deadmen: INT64_MAX when none */
	int reported;
	uint64_t evicted;   /* keys forgotten past max_keys */
	bool evict_warned;
};

/* The record being looked at, with its jq value made on demand. */
struct rec {
	const char *text;
	size_t len;
	struct json_doc *doc;
	jv v;
	bool have_v;
	const char *source;
	uint64_t lineno;
	struct buf tmp;
};

struct engine {
	struct ruleset rs;
	struct engine_opts o;
	struct expr time;
	int64_t watermark;
	bool have_wm;
	int64_t wall_at_wm;
	uint64_t late;
	struct buf scratch, line, tmp, keybuf;
	struct json_doc aggdoc;
};

/* A key worth no memory: nothing pending or firing, nothing collected.
 * Deadmen remember every key they saw; anomaly keys keep their history. */
static void maybe_drop(struct rule *r, struct kstate *k)
{
	if (k->st == ST_INACTIVE && !r->absent_ms && !r->an && (!k->x || !k->x->n))
		kmap_del(&r->rt->keys, k);
}

/* Past max_keys the longest idle keys are forgotten, with one warning per
 * rule: a key such as .ts by mistake must not take all the memory. */
static void evict(struct rule *r, const char *why)
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
	struct rule_rt *rt = xcalloc(1, sizeof *rt);
	rt->next_due = INT64_MAX;
	return rt;
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
	json_doc_free(&e->aggdoc);
	free(e);
	fast_shutdown();
}

static jv rec_jv(struct rec *r)
{
	if (!r->have_v) {
		/* from the tokens: cheaper than libjq's parser reading the text
		 * again, and the same value (tests/fuzz/fuzz_rule.c) */
		if (r->doc)
			r->v = fast_jv(r->doc, 0, &r->tmp);
		else
			r->v = jv_parse_sized(r->text, (int)r->len);
		r->have_v = true;
	}
	return jv_copy(r->v);
}

static void rec_done(struct rec *r)
{
	if (r->have_v)
		jv_free(r->v);
	r->have_v = false;
	buf_free(&r->tmp);
}

/* ---- errors ---- */

static void rule_error(struct rule *r, struct rec *rc, const char *what, const char *msg)
{
	struct rule_rt *rt = r->rt;
	rt->errors++;
	if (rt->reported > MAX_REPORTED)
		return;
	if (rt->reported++ == MAX_REPORTED) {
		diag_warn("rule '%s': more errors are counted in status only", r->name);
		return;
	}
	if (rc && rc->source)
		diag_at(rc->source, rc->lineno, "rule '%s': %s: %s", r->name, what, msg);
	else
		diag_warn("rule '%s': %s: %s", r->name, what, msg);
}

/* A size as the options take it: 64MiB, 512KiB, 1000. */
static void fmt_size(uint64_t n, struct buf *out)
{
	static const char *const units[] = { "GiB", "MiB", "KiB" };
	for (int i = 0; i < 3; i++) {
		uint64_t u = (uint64_t)1 << (10 * (3 - i));
		if (n && n % u == 0) {
			buf_addf(out, "%llu%s", (unsigned long long)(n / u), units[i]);
			return;
		}
	}
	buf_add_u64(out, n);
}

static void rule_disable(struct engine *e, struct rule *r, struct rec *rc, const char *what, int st,
			 const char *err)
{
	struct buf reason;
	buf_init(&reason);
	if (st == JQX_MEMORY) {
		buf_addf(&reason, "%s: evaluation ran past the memory budget (--eval-memory ", what);
		fmt_size(e->o.eval_memory, &reason);
		buf_addc(&reason, ')');
	} else if (st == JQX_REGEX) {
		buf_addf(&reason, "%s: regular expression ran past its budget %llu times (--max-overruns): %s",
			 what, (unsigned long long)r->rt->overruns, err);
	} else {
		buf_addf(&reason, "%s: evaluation ran past the time budget (--eval-timeout %lldms)",
			 what, (long long)e->o.eval_timeout);
	}
	free(r->rt->disabled);
	r->rt->disabled = buf_detach(&reason, NULL);
	r->rt->errors++;
	if (rc && rc->source)
		diag_at(rc->source, rc->lineno, "rule '%s' disabled: %s", r->name, r->rt->disabled);
	else
		diag_error("rule '%s' disabled: %s", r->name, r->rt->disabled);
}

/*
 * The outcome of a failed jq evaluation: -2 when the rule got disabled,
 * -1 for an error of this record. An evaluation past the time or memory
 * budget was abandoned: its rule goes at once. A regular expression past
 * its limits failed this record only (oniguruma stopped it, jq is intact):
 * the rule goes at the --max-overruns'th, since each one costs up to the
 * limits on every record.
 */
static int jq_failed(struct engine *e, struct rule *r, struct rec *rc, const char *what,
		     int st, const char *err)
{
	struct rule_rt *rt = r->rt;
	if (st == JQX_TIMEOUT || st == JQX_MEMORY || st == JQX_REGEX)
		rt->overruns++;
	if (st == JQX_TIMEOUT || st == JQX_MEMORY ||
	    (st == JQX_REGEX && rt->overruns >= e->o.max_overruns)) {
		rule_disable(e, r, rc, what, st, err);
		return -2;
	}
	if (st == JQX_REGEX) {
		char msg[600];
		snprintf(msg, sizeof msg, "%.500s (overrun %llu of --max-overruns %u)", err,
			 (unsigned long long)rt->overruns, e->o.max_overruns);
		rule_error(r, rc, what, msg);
		return -1;
	}
	rule_error(r, rc, what, err);
	return -1;
}

/* ---- evaluation: 0 ok, -1 error (counted), -2 the rule is disabled ---- */

static int ex_truth(struct engine *e, struct rule *r, struct expr *x, struct rec *rc,
		    const char *what, bool *t)
{
	if (x->fe) {
		int v = fexpr_eval(x->fe, rc->doc, &e->scratch);
		if (v >= 0) {
			*t = v;
			return 0;
		}
	} else if (x->fp) {
		int k = fpath_get(x->fp, rc->doc);
		if (k != -1) {
			*t = k >= 0 && json_type_of(rc->doc, k) != JSON_NULL &&
			     json_type_of(rc->doc, k) != JSON_FALSE;
			return 0;
		}
	}
	char err[512];
	int st = jqx_truth(x->jq, rec_jv(rc), t, err, sizeof err);
	if (st == JQX_OK)
		return 0;
	return jq_failed(e, r, rc, what, st, err);
}

/* The first output as JSON appended to out; "null" when there is none. */
static int ex_json(struct engine *e, struct rule *r, struct expr *x, struct rec *rc,
		   const char *what, struct buf *out)
{
	if (x->fp) {
		int k = fpath_get(x->fp, rc->doc);
		if (k == -2) {
			buf_adds(out, "null");
			return 0;
		}
		if (k >= 0) {
			enum json_type ty = json_type_of(rc->doc, k);
			if (ty == JSON_STRING && !rc->doc->tok[k].escaped) {
				/* without escapes the raw text is the canonical form */
				size_t n;
				const char *raw = json_raw(rc->doc, k, &n);
				buf_add(out, raw, n);
			} else if (ty == JSON_STRING) {
				/* canonical form, whatever escapes the input used */
				size_t at = e->tmp.len;
				json_str(rc->doc, k, &e->tmp);
				buf_add_json_str(out, e->tmp.data + at, e->tmp.len - at);
				e->tmp.len = at;
			} else if (ty == JSON_NUMBER) {
				double v = fpath_number(x->fp, rc->doc, k);
				if (!isfinite(v))
					goto slow;
				buf_add_double(out, v);
			} else {
				size_t n;
				const char *raw = json_raw(rc->doc, k, &n);
				if (ty >= JSON_ARRAY)
					goto slow; /* jq would re-serialize it */
				buf_add(out, raw, n);
			}
			return 0;
		}
	}
slow:;
	char err[512];
	jv v;
	int st = jqx_first(x->jq, rec_jv(rc), &v, err, sizeof err);
	if (st == JQX_OK) {
		jqx_dump(v, out);
		return 0;
	}
	if (st == JQX_EMPTY) {
		buf_adds(out, "null");
		return 0;
	}
	return jq_failed(e, r, rc, what, st, err);
}

/* A number: 0 with *v (NaN when null or missing), -1 error, -2 disabled. */
static int ex_number(struct engine *e, struct rule *r, struct expr *x, struct rec *rc,
		     const char *what, double *v)
{
	if (x->fp) {
		int k = fpath_get(x->fp, rc->doc);
		if (k == -2 || (k >= 0 && json_type_of(rc->doc, k) == JSON_NULL)) {
			*v = NAN;
			return 0;
		}
		if (k >= 0 && json_type_of(rc->doc, k) == JSON_NUMBER) {
			*v = fpath_number(x->fp, rc->doc, k);
			if (isfinite(*v))
				return 0;
		}
	}
	char err[512];
	jv out;
	int st = jqx_first(x->jq, rec_jv(rc), &out, err, sizeof err);
	if (st == JQX_EMPTY) {
		*v = NAN;
		return 0;
	}
	if (st != JQX_OK)
		return jq_failed(e, r, rc, what, st, err);
	jv_kind k = jv_get_kind(out);
	if (k == JV_KIND_NULL) {
		*v = NAN;
	} else if (k == JV_KIND_NUMBER) {
		*v = jv_number_value(out);
	} else {
		snprintf(err, sizeof err, "expected a number, got %s", jv_kind_name(k));
		jv_free(out);
		rule_error(r, rc, what, err);
		return -1;
	}
	jv_free(out);
	return 0;
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

struct extra {
	bool has_value;
	double value;
	bool has_score;
	double score;
};

static void emit(struct engine *e, struct rule *r, struct kstate *k, const char *state,
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
	out_line(e->o.out, b->data, b->len);
}

static void fire(struct engine *e, struct rule *r, struct kstate *k, int64_t ts, struct rec *rc,
		 const struct extra *x)
{
	k->st = ST_FIRING;
	k->last_emit = ts;
	r->rt->fired++;
	r->rt->last_fired = ts;
	r->rt->fired_once = true;
	emit(e, r, k, "firing", ts, rc, x);
}

static void resolve(struct engine *e, struct rule *r, struct kstate *k, int64_t ts, struct rec *rc,
		    const struct extra *x)
{
	k->st = ST_INACTIVE;
	r->rt->resolved++;
	emit(e, r, k, "resolved", ts, rc, x);
}

/*
 * The state machine of one key, given whether the condition holds at ts.
 * Returns -2 when the rule got disabled on the way.
 */
static int step(struct engine *e, struct rule *r, struct kstate *k, int64_t ts, bool c,
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
			resolve(e, r, k, ts, rc, x);
		else if (r->repeat_ms && ts - k->last_emit >= r->repeat_ms) {
			k->last_emit = ts;
			emit(e, r, k, "firing", ts, rc, x);
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
			emit(e, r, k, "pending", ts, rc, x);
	}
	if (ts - k->since >= r->for_ms) {
		k->last_true = ts;
		fire(e, r, k, ts, rc, x);
	}
	return 0;
}

/* ---- windows ---- */

static int64_t floordiv(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

struct wv {
	int64_t ts;
	double v;
};

static int by_ts(const void *a, const void *b)
{
	const struct wv *x = a, *y = b;
	return x->ts < y->ts ? -1 : x->ts > y->ts;
}

static int by_v(const void *a, const void *b)
{
	double x = ((const struct wv *)a)->v, y = ((const struct wv *)b)->v;
	return x < y ? -1 : x > y;
}

/* nearest rank: the smallest value with at least p% of values at or below */
static double pct(struct wv *v, uint32_t n, double p)
{
	qsort(v, n, sizeof *v, by_v);
	uint32_t rank = (uint32_t)ceil(p / 100.0 * n);
	if (rank < 1)
		rank = 1;
	return v[rank - 1].v;
}

static void agg_value(const struct rule *r, const struct agg *a, struct kext *x, int64_t lo,
		      int64_t hi, uint32_t nentries, struct buf *out)
{
	if (a->arg < 0) {
		buf_add_u64(out, nentries);
		return;
	}
	struct wv *v = xmalloc((x->n + 1) * sizeof *v);
	uint32_t n = 0;
	for (uint32_t i = 0; i < x->n; i++) {
		if (x->ts[i] < lo || x->ts[i] >= hi)
			continue;
		double d = x->v[(size_t)i * (size_t)r->nargs + (size_t)a->arg];
		if (isnan(d))
			continue;
		v[n].ts = x->ts[i];
		v[n++].v = d;
	}
	double res = NAN;
	if (a->fn == A_COUNT) {
		res = n;
	} else if (n) {
		double s = 0, mn = v[0].v, mx = v[0].v;
		for (uint32_t i = 0; i < n; i++) {
			s += v[i].v;
			mn = v[i].v < mn ? v[i].v : mn;
			mx = v[i].v > mx ? v[i].v : mx;
		}
		double mean = s / n;
		switch (a->fn) {
		case A_SUM: res = s; break;
		case A_AVG: res = mean; break;
		case A_MIN: res = mn; break;
		case A_MAX: res = mx; break;
		case A_STDDEV: {
			double q = 0;
			for (uint32_t i = 0; i < n; i++)
				q += (v[i].v - mean) * (v[i].v - mean);
			res = sqrt(q / n);
			break;
		}
		case A_FIRST:
		case A_LAST:
		case A_RATE:
			/* stable by time: mergesort keeps arrival order among equals */
			qsort(v, n, sizeof *v, by_ts);
			if (a->fn == A_FIRST)
				res = v[0].v;
			else if (a->fn == A_LAST)
				res = v[n - 1].v;
			else if (n > 1 && v[n - 1].ts > v[0].ts)
				res = (v[n - 1].v - v[0].v) * 1000.0 / (double)(v[n - 1].ts - v[0].ts);
			break;
		case A_P50: res = pct(v, n, 50); break;
		case A_P90: res = pct(v, n, 90); break;
		case A_P95: res = pct(v, n, 95); break;
		case A_P99: res = pct(v, n, 99); break;
		default: break;
		}
	}
	free(v);
	buf_add_double(out, res);
}

/* Evaluate the rule on the aggregate of entries in [lo, hi). */
static int close_window(struct engine *e, struct rule *r, struct kstate *k, int64_t lo, int64_t hi,
			int64_t start, int64_t end, int64_t ts)
{
	struct kext *x = k->x;
	uint32_t n = 0;
	for (uint32_t i = 0; i < x->n; i++)
		if (x->ts[i] >= lo && x->ts[i] < hi)
			n++;
	if (!n)
		return 0;
	struct buf b;
	buf_init(&b);
	buf_adds(&b, "{\"key\":");
	buf_adds(&b, k->key);
	buf_adds(&b, ",\"start\":");
	buf_add_i64(&b, start);
	buf_adds(&b, ",\"end\":");
	buf_add_i64(&b, end);
	for (int i = 0; i < r->naggs; i++) {
		buf_addc(&b, ',');
		buf_add_json_str(&b, r->aggs[i].name, strlen(r->aggs[i].name));
		buf_addc(&b, ':');
		agg_value(r, &r->aggs[i], x, lo, hi, n, &b);
	}
	buf_addc(&b, '}');
	struct json_error je;
	int st = 0;
	if (json_parse(&e->aggdoc, b.data, b.len, &je) == 0) {
		struct rec rc = { .text = b.data, .len = b.len, .doc = &e->aggdoc };
		bool c;
		st = ex_truth(e, r, &r->when, &rc, "when", &c);
		if (st == 0)
			st = step(e, r, k, ts, c, &rc, NULL);
		rec_done(&rc);
	}
	buf_free(&b);
	return st;
}

static void drop_before(struct rule *r, struct kext *x, int64_t lo)
{
	uint32_t j = 0;
	size_t na = (size_t)r->nargs;
	for (uint32_t i = 0; i < x->n; i++) {
		if (x->ts[i] < lo)
			continue;
		x->ts[j] = x->ts[i];
		if (na)
			memmove(x->v + j * na, x->v + i * na, na * sizeof *x->v);
		j++;
	}
	x->n = j;
}

static int64_t first_start(const struct rule *r, int64_t t)
{
	/* the earliest window [s, s+size) with s a multiple of slide holding t */
	return (floordiv(t - r->win_size, r->win_slide) + 1) * r->win_slide;
}

/* Close what the watermark has passed; returns when the key is next due. */
static int64_t window_advance(struct engine *e, struct rule *r, struct kstate *k, int64_t wm)
{
	struct kext *x = k->x;
	if (!x || !x->n)
		return INT64_MAX;
	int64_t L = e->o.lateness;
	if (r->win == W_SESSION) {
		if (x->wlast + r->win_gap + L <= wm) {
			int64_t end = x->wlast + r->win_gap;
			close_window(e, r, k, INT64_MIN, INT64_MAX, x->wstart, end, end);
			x->n = 0;
			return INT64_MAX;
		}
		return x->wlast + r->win_gap + L;
	}
	if (r->win != W_SLIDING)
		return INT64_MAX;
	while (x->n && x->wstart + r->win_size + L <= wm) {
		int64_t s = x->wstart, end = s + r->win_size;
		if (close_window(e, r, k, s, end, s, end, end) == -2)
			return INT64_MAX;
		x->wstart += r->win_slide;
		drop_before(r, x, x->wstart);
		if (x->n) {
			int64_t mn = x->ts[0];
			for (uint32_t i = 1; i < x->n; i++)
				mn = x->ts[i] < mn ? x->ts[i] : mn;
			int64_t fs = first_start(r, mn);
			if (fs > x->wstart)
				x->wstart = fs;
		}
	}
	return x->n ? x->wstart + r->win_size + L : INT64_MAX;
}

static void window_add(struct engine *e, struct rule *r, struct kstate *k, int64_t t,
		       const double *vals, struct rec *rc)
{
	struct kext *x = kstate_ext(k);
	if (r->win == W_SLIDING) {
		if (!x->n)
			x->wstart = first_start(r, t);
		else if (t < x->wstart) {
			r->rt->late++;
			e->late++;
			return;
		}
	} else if (r->win == W_SESSION) {
		if (x->n && t >= x->wlast + r->win_gap) {
			int64_t end = x->wlast + r->win_gap;
			if (close_window(e, r, k, INT64_MIN, INT64_MAX, x->wstart, end, end) == -2)
				return;
			x->n = 0;
		}
		if (!x->n || t < x->wstart)
			x->wstart = t;
		if (!x->n || t > x->wlast)
			x->wlast = t;
	}
	if (x->n == x->cap) {
		x->cap = x->cap ? x->cap * 2 : 8;
		x->ts = xrealloc(x->ts, x->cap * sizeof *x->ts);
		if (r->nargs)
			x->v = xrealloc(x->v, (size_t)x->cap * (size_t)r->nargs * sizeof *x->v);
	}
	x->ts[x->n] = t;
	if (r->nargs)
		memcpy(x->v + (size_t)x->n * (size_t)r->nargs, vals, (size_t)r->nargs * sizeof *vals);
	x->n++;
	if (r->win == W_COUNT && x->n >= r->win_count) {
		int64_t mn = x->ts[0], mx = x->ts[0];
		for (uint32_t i = 1; i < x->n; i++) {
			mn = x->ts[i] < mn ? x->ts[i] : mn;
			mx = x->ts[i] > mx ? x->ts[i] : mx;
		}
		close_window(e, r, k, INT64_MIN, INT64_MAX, mn, mx, t);
		x->n = 0;
		(void)rc;
		return;
	}
	int64_t due = r->win == W_SESSION ? x->wlast + r->win_gap + e->o.lateness
		    : r->win == W_SLIDING ? x->wstart + r->win_size + e->o.lateness : INT64_MAX;
	if (due < r->rt->next_due)
		r->rt->next_due = due;
}

/* ---- anomaly ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, uint32_t n)
{
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The score of v against the key's history (before v joins it); false while
 * warming up. */
static bool anomaly_score(struct rule *r, struct kext *x, int64_t t, double v, double *score)
{
	/* the history within the time window */
	if (r->an_window) {
		while (x->n && x->ts[x->head] <= t - r->an_window) {
			x->head = (x->head + 1) % x->cap;
			x->n--;
		}
	}
	bool warm;
	if (r->an == AN_EWMA) {
		warm = x->seen >= r->an_warmup;
		double sd = sqrt(x->ev);
		*score = fabs(v - x->em) / sd;
		if (sd == 0)
			*score = v == x->em ? 0 : INFINITY;
	} else {
		warm = x->n >= r->an_warmup;
		uint32_t n = x->n;
		if (!n) {
			*score = 0;
			return false;
		}
		double *tmp = xmalloc(n * sizeof *tmp);
		for (uint32_t i = 0; i < n; i++)
			tmp[i] = x->v[(x->head + i) % x->cap];
		if (r->an == AN_ZSCORE) {
			double s = 0, q = 0;
			for (uint32_t i = 0; i < n; i++)
				s += tmp[i];
			double mean = s / n;
			for (uint32_t i = 0; i < n; i++)
				q += (tmp[i] - mean) * (tmp[i] - mean);
			double sd = sqrt(q / n);
			*score = sd == 0 ? (v == mean ? 0 : INFINITY) : fabs(v - mean) / sd;
		} else {
			double med = median(tmp, n);
			for (uint32_t i = 0; i < n; i++)
				tmp[i] = fabs(tmp[i] - med);
			double mad = median(tmp, n);
			*score = mad == 0 ? (v == med ? 0 : INFINITY) : 0.6745 * fabs(v - med) / mad;
		}
		free(tmp);
	}
	return warm;
}

static void anomaly_add(struct rule *r, struct kext *x, int64_t t, double v)
{
	x->seen++;
	if (r->an == AN_EWMA) {
		if (x->seen == 1) {
			x->em = v;
			x->ev = 0;
		} else {
			double d = v - x->em, inc = r->an_alpha * d;
			x->em += inc;
			x->ev = (1 - r->an_alpha) * (x->ev + d * inc);
		}
		return;
	}
	if (x->n == x->cap && x->cap < r->an_n) {
		/* the ring grows with the history up to n: a key seen once (a
		 * mistaken key such as .ts) costs 128 bytes, not 16 per n */
		uint32_t nc = x->cap ? x->cap * 2 : 8;
		if (nc > r->an_n)
			nc = r->an_n;
		double *nv = xcalloc(nc, sizeof *nv);
		int64_t *ts = xcalloc(nc, sizeof *ts);
		for (uint32_t i = 0; i < x->n; i++) {
			nv[i] = x->v[(x->head + i) % x->cap];
			ts[i] = x->ts[(x->head + i) % x->cap];
		}
		free(x->v);
		free(x->ts);
		x->v = nv;
		x->ts = ts;
		x->cap = nc;
		x->head = 0;
	}
	uint32_t at = (x->head + x->n) % x->cap;
	if (x->n == x->cap)
		x->head = (x->head + 1) % x->cap;
	else
		x->n++;
	x->v[at] = v;
	x->ts[at] = t;
}

/* ---- time ---- */

/* The record's event time: 1 found, 0 none (use arrival), -1 not a time. */
static int record_time(struct engine *e, struct rec *rc, int64_t *ms, char *why, size_t whylen)
{
	struct expr *x = &e->time;
	double d;
	if (x->fp) {
		int k = fpath_get(x->fp, rc->doc);
		if (k == -2 || (k >= 0 && json_type_of(rc->doc, k) == JSON_NULL))
			return 0;
		if (k >= 0 && json_type_of(rc->doc, k) == JSON_NUMBER) {
			d = fpath_number(x->fp, rc->doc, k);
			goto num;
		}
		if (k >= 0 && json_type_of(rc->doc, k) == JSON_STRING) {
			struct buf s;
			buf_init(&s);
			json_str(rc->doc, k, &s);
			int r = time_parse_rfc3339(s.data, s.len, ms);
			if (r < 0)
				snprintf(why, whylen, "%s: not an RFC 3339 time: '%.64s'", x->src, s.data);
			buf_free(&s);
			return r < 0 ? -1 : 1;
		}
	}
	char err[512];
	jv v;
	int st = jqx_first(x->jq, rec_jv(rc), &v, err, sizeof err);
	if (st == JQX_EMPTY)
		return 0;
	if (st != JQX_OK) {
		snprintf(why, whylen, "%.200s: %.700s", x->src, err);
		return -1;
	}
	jv_kind kind = jv_get_kind(v);
	if (kind == JV_KIND_NULL) {
		jv_free(v);
		return 0;
	}
	if (kind == JV_KIND_STRING) {
		const char *s = jv_string_value(v);
		int r = time_parse_rfc3339(s, strlen(s), ms);
		if (r < 0)
			snprintf(why, whylen, "%s: not an RFC 3339 time: '%.64s'", x->src, s);
		jv_free(v);
		return r < 0 ? -1 : 1;
	}
	if (kind != JV_KIND_NUMBER) {
		snprintf(why, whylen, "%s: expected epoch milliseconds or an RFC 3339 string, got %s",
			 x->src, jv_kind_name(kind));
		jv_free(v);
		return -1;
	}
	d = jv_number_value(v);
	jv_free(v);
num:
	if (!(d >= -9.2e15 && d <= 9.2e15)) {
		snprintf(why, whylen, "%s: time out of range", x->src);
		return -1;
	}
	*ms = (int64_t)floor(d);
	return 1;
}

/* ---- scans: windows and deadmen that the watermark made due ---- */

enum deadman_step { DM_FIRE, DM_REPEAT, DM_RESOLVE };

/* A deadman fires, repeats or resolves with {"key":K,"last_seen":T} for a
 * record: there is none of its own. */
static void deadman_alert(struct engine *e, struct rule *r, struct kstate *k, int64_t ts,
			  enum deadman_step step)
{
	struct buf b;
	buf_init(&b);
	buf_adds(&b, "{\"key\":");
	buf_adds(&b, k->key);
	buf_adds(&b, ",\"last_seen\":");
	buf_add_i64(&b, k->last_seen);
	buf_addc(&b, '}');
	struct json_error je;
	json_parse(&e->aggdoc, b.data, b.len, &je);
	struct rec rc;
	memset(&rc, 0, sizeof rc);
	rc.text = b.data;
	rc.len = b.len;
	rc.doc = &e->aggdoc;
	if (step == DM_FIRE)
		fire(e, r, k, ts, &rc, NULL);
	else if (step == DM_REPEAT)
		emit(e, r, k, "firing", ts, &rc, NULL);
	else
		resolve(e, r, k, ts, &rc, NULL);
	rec_done(&rc);
	buf_free(&b);
}

static void scan_rule(struct engine *e, struct rule *r, int64_t wm)
{
	struct rule_rt *rt = r->rt;
	if (rt->disabled || wm < rt->next_due)
		return;
	uint32_t n;
	struct kstate **ks = keys_sorted(&rt->keys, &n);
	int64_t due = INT64_MAX;
	for (uint32_t i = 0; i < n && !rt->disabled; i++) {
		struct kstate *k = ks[i];
		int64_t d = INT64_MAX;
		if (r->win == W_SLIDING || r->win == W_SESSION) {
			d = window_advance(e, r, k, wm);
			if (!rt->disabled)
				maybe_drop(r, k);
		} else if (r->absent_ms) {
			int64_t at = k->last_seen + r->absent_ms;
			if (k->st != ST_FIRING && at <= wm) {
				k->since = at;
				deadman_alert(e, r, k, at, DM_FIRE);
			}
			if (k->st == ST_FIRING && r->repeat_ms) {
				while (k->last_emit + r->repeat_ms <= wm) {
					k->last_emit += r->repeat_ms;
					deadman_alert(e, r, k, k->last_emit, DM_REPEAT);
				}
				d = k->last_emit + r->repeat_ms;
			} else if (k->st != ST_FIRING) {
				d = k->last_seen + r->absent_ms;
			}
		}
		if (d < due)
			due = d;
	}
	free(ks);
	rt->next_due = due;
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

/* ---- one record through one rule ---- */

static void apply(struct engine *e, struct rule *r, struct rec *rc, int64_t t, bool late)
{
	struct rule_rt *rt = r->rt;
	rt->evaluated++;
	bool m = true;
	if (r->match.src && ex_truth(e, r, &r->match, rc, "match", &m) < 0)
		return;
	if (!m)
		return;
	rt->matched++;
	if (late) {
		rt->late++;
		if (r->win != W_NONE)
			return; /* its window is gone; counted, never aggregated */
	}
	/* plain threshold rules keep state only for pending and firing keys:
	 * a condition that does not hold for a key without state changes
	 * nothing, and its key need not even be computed */
	bool plain = r->win == W_NONE && !r->absent_ms && !r->count_n && !r->an;
	bool c = true;
	if (plain) {
		if (r->when.src && ex_truth(e, r, &r->when, rc, "when", &c) < 0)
			return;
		if (!c && rt->keys.n == 0)
			return;
		/* ten rules keyed alike: the key and its hash are known already */
		uint32_t h;
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
	uint32_t h;
	if (!r->key.fp || !fpath_hash(r->key.fp, rc->doc, &h)) {
		h = kmap_hash(kb->data, kb->len);
		if (r->key.fp)
			fpath_set_hash(r->key.fp, rc->doc, h);
	}
	struct kstate *k = kmap_get_h(&rt->keys, kb->data, kb->len, h, !plain || c);
	if (!k)
		return;
	evict(r, "more than");
	/* a key's time never runs backwards */
	if (t < k->last_ts && r->win == W_NONE)
		t = k->last_ts;
	k->last_ts = t;

	if (r->win != W_NONE) {
		double vals[64];
		double *v = r->nargs <= 64 ? vals : xmalloc((size_t)r->nargs * sizeof *v);
		int st = 0;
		for (int i = 0; i < r->nargs && st == 0; i++)
			st = ex_number(e, r, &r->args[i], rc, "aggregate", &v[i]);
		if (st == 0)
			window_add(e, r, k, t, v, rc);
		if (v != vals)
			free(v);
		if (!rt->disabled)
			maybe_drop(r, k);
		return;
	}
	if (!plain && r->when.src && ex_truth(e, r, &r->when, rc, "when", &c) < 0)
		return;
	if (r->absent_ms) {
		if (!c)
			return;
		k->last_seen = t;
		if (k->st == ST_FIRING)
			deadman_alert(e, r, k, t, DM_RESOLVE);
		int64_t due = t + r->absent_ms;
		if (due < rt->next_due)
			rt->next_due = due;
		return;
	}
	if (r->count_n) {
		struct kext *x = kstate_ext(k);
		uint32_t j = 0;
		for (uint32_t i = 0; i < x->n; i++)
			if (x->ts[i] > t - r->count_within)
				x->ts[j++] = x->ts[i];
		x->n = j;
		if (c) {
			if (x->n == x->cap) {
				x->cap = x->cap ? x->cap * 2 : 4;
				x->ts = xrealloc(x->ts, x->cap * sizeof *x->ts);
			}
			x->ts[x->n++] = t;
			/* only the last n matter */
			if (x->n > r->count_n) {
				memmove(x->ts, x->ts + (x->n - r->count_n), r->count_n * sizeof *x->ts);
				x->n = r->count_n;
			}
		}
		c = x->n >= r->count_n;
		if (step(e, r, k, t, c, rc, NULL) == 0)
			maybe_drop(r, k);
		return;
	}
	if (r->an) {
		double v;
		if (ex_number(e, r, &r->an_value, rc, "anomaly.value", &v) < 0 || isnan(v))
			return;
		struct kext *x = kstate_ext(k);
		struct extra ex = { .has_value = true, .value = v, .has_score = true };
		bool warm = anomaly_score(r, x, t, v, &ex.score);
		anomaly_add(r, x, t, v);
		step(e, r, k, t, c && warm && ex.score > r->an_threshold, rc, &ex);
		return;
	}
	if (step(e, r, k, t, c, rc, NULL) == 0)
		maybe_drop(r, k);
}

int engine_record(struct engine *e, const struct jsonl_line *line, struct json_doc *doc)
{
	struct rec rc = { .text = line->data, .len = line->len, .doc = doc,
			  .source = line->source, .lineno = line->lineno };
	fast_begin(doc);
	int64_t t;
	char why[1024];
	int tr = record_time(e, &rc, &t, why, sizeof why);
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
	if (e->o.pass)
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
	rec_done(&rc);
	fast_end();
	return 0;
}

/* ---- reload ---- */

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
		evict(n, "more than");
	}
	free_rules(&e->rs);
	e->rs = *rs;
	rs->r = NULL;
	rs->n = 0;
}

/* ---- status ---- */

void engine_status(struct engine *e, struct buf *b)
{
	for (int i = 0; i < e->rs.n; i++) {
		struct rule *r = e->rs.r[i];
		struct rule_rt *rt = r->rt;
		uint64_t firing = 0;
		for (uint32_t j = 0; j < rt->keys.cap; j++)
			if (rt->keys.slot[j] && rt->keys.slot[j]->st == ST_FIRING)
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
		buf_adds(b, "}\n");
	}
}

/* ---- checkpoint ---- */

#define STATE_MAGIC "cce-rule-state"

int engine_save(struct engine *e, const char *path, char *err, size_t errlen)
{
	struct buf b;
	buf_init(&b);
	buf_adds(&b, "{\"format\":\"" STATE_MAGIC "\",\"version\":1,\"watermark\":");
	if (e->have_wm)
		buf_add_i64(&b, e->watermark);
	else
		buf_adds(&b, "null");
	buf_adds(&b, ",\"rules\":[");
	for (int i = 0; i < e->rs.n; i++) {
		struct rule *r = e->rs.r[i];
		struct rule_rt *rt = r->rt;
		if (i)
			buf_addc(&b, ',');
		buf_adds(&b, "\n{\"name\":");
		buf_add_json_str(&b, r->name, strlen(r->name));
		buf_addf(&b, ",\"sig\":\"%s\",\"stats\":[%llu,%llu,%llu,%llu,%llu,%llu,%llu,%lld,%d,%llu],"
			     "\"limit\":[%lld,%u,%llu],\"due\":%lld,\"keys\":[",
			 r->sig, (unsigned long long)rt->evaluated, (unsigned long long)rt->matched,
			 (unsigned long long)rt->fired, (unsigned long long)rt->resolved,
			 (unsigned long long)rt->suppressed, (unsigned long long)rt->errors,
			 (unsigned long long)rt->late, (long long)rt->last_fired, rt->fired_once,
			 (unsigned long long)rt->evicted,
			 (long long)rt->lim_start, rt->lim_count, (unsigned long long)rt->lim_supp,
			 (long long)(rt->next_due == INT64_MAX ? -1 : rt->next_due));
		uint32_t n;
		struct kstate **ks = keys_sorted(&rt->keys, &n);
		for (uint32_t j = 0; j < n; j++) {
			struct kstate *k = ks[j];
			k->save_at = j;
			if (j)
				buf_addc(&b, ',');
			buf_addf(&b, "\n[%s,%d,%lld,%lld,%lld,%lld,%lld", k->key, k->st,
				 (long long)k->since, (long long)k->last_ts, (long long)k->last_true,
				 (long long)k->last_emit, (long long)k->last_seen);
			struct kext *x = k->x;
			if (x) {
				buf_addf(&b, ",[%lld,%lld,%u,", (long long)x->wstart, (long long)x->wlast,
					 x->head);
				buf_add_double(&b, x->em);
				buf_addc(&b, ',');
				buf_add_double(&b, x->ev);
				buf_addf(&b, ",%llu,%u,[", (unsigned long long)x->seen, x->cap);
				/* anomaly rings are stored whole (cap slots); windows
				 * and counts their n entries */
				uint32_t m = r->an ? (r->an == AN_EWMA ? 0 : x->cap) : x->n;
				for (uint32_t q = 0; q < m && x->ts; q++) {
					if (q)
						buf_addc(&b, ',');
					buf_add_i64(&b, x->ts[q]);
				}
				buf_addf(&b, "],%u,[", x->n);
				size_t nv = r->an ? (r->an == AN_EWMA ? 0 : x->cap)
					  : (size_t)x->n * (size_t)r->nargs;
				for (size_t q = 0; q < nv && x->v; q++) {
					if (q)
						buf_addc(&b, ',');
					buf_add_double(&b, x->v[q]);
				}
				buf_adds(&b, "]]");
			}
			buf_addc(&b, ']');
		}
		free(ks);
		/* the keys from the longest idle to the last seen */
		buf_adds(&b, "],\"lru\":[");
		for (struct kstate *k = rt->keys.oldest; k; k = k->newer)
			buf_addf(&b, k == rt->keys.oldest ? "%u" : ",%u", k->save_at);
		buf_adds(&b, "]}");
	}
	buf_adds(&b, "]}\n");
	int r = fs_replace(path, b.data, b.len, 0600, err, errlen);
	buf_free(&b);
	return r;
}

static bool tok_i64(struct json_doc *d, int t, int64_t *v)
{
	double x;
	if (t < 0 || !json_num(d, t, &x))
		return false;
	*v = (int64_t)x;
	return true;
}

static int64_t at_i64(struct json_doc *d, int arr, uint32_t i)
{
	int64_t v = 0;
	tok_i64(d, json_index(d, arr, i), &v);
	return v;
}

static double at_double(struct json_doc *d, int arr, uint32_t i)
{
	double v = NAN;
	int t = json_index(d, arr, i);
	if (t >= 0)
		json_num(d, t, &v);
	return v;
}

static void restore_rule(struct rule *r, struct json_doc *d, int o)
{
	struct rule_rt *rt = r->rt;
	int st = json_get(d, o, "stats"), li = json_get(d, o, "limit");
	int keys = json_get(d, o, "keys"), due = json_get(d, o, "due");
	if (st < 0 || li < 0 || keys < 0 || json_type_of(d, keys) != JSON_ARRAY)
		return;
	rt->evaluated = (uint64_t)at_i64(d, st, 0);
	rt->matched = (uint64_t)at_i64(d, st, 1);
	rt->fired = (uint64_t)at_i64(d, st, 2);
	rt->resolved = (uint64_t)at_i64(d, st, 3);
	rt->suppressed = (uint64_t)at_i64(d, st, 4);
	rt->errors = (uint64_t)at_i64(d, st, 5);
	rt->late = (uint64_t)at_i64(d, st, 6);
	rt->last_fired = at_i64(d, st, 7);
	rt->fired_once = at_i64(d, st, 8) != 0;
	rt->evicted = (uint64_t)at_i64(d, st, 9);
	rt->lim_start = at_i64(d, li, 0);
	rt->lim_count = (uint32_t)at_i64(d, li, 1);
	rt->lim_supp = (uint64_t)at_i64(d, li, 2);
	int64_t dv = -1;
	tok_i64(d, due, &dv);
	rt->next_due = dv < 0 ? INT64_MAX : dv;
	/* the keys by their place in the file, for the lru order */
	uint32_t nkeys = d->tok[keys].count, at = 0;
	struct kstate **by_at = xcalloc(nkeys + 1, sizeof *by_at);
	for (int kt = json_first(d, keys); kt >= 0; kt = json_next_elem(d, keys, kt), at++) {
		int kk = json_index(d, kt, 0);
		if (kk < 0)
			continue;
		size_t n;
		const char *raw = json_raw(d, kk, &n);
		struct kstate *k = kmap_get(&rt->keys, raw, n, true);
		by_at[at] = k;
		k->st = (uint8_t)at_i64(d, kt, 1);
		k->since = at_i64(d, kt, 2);
		k->last_ts = at_i64(d, kt, 3);
		k->last_true = at_i64(d, kt, 4);
		k->last_emit = at_i64(d, kt, 5);
		k->last_seen = at_i64(d, kt, 6);
		int xt = json_index(d, kt, 7);
		if (xt < 0)
			continue;
		struct kext *x = kstate_ext(k);
		x->wstart = at_i64(d, xt, 0);
		x->wlast = at_i64(d, xt, 1);
		x->head = (uint32_t)at_i64(d, xt, 2);
		x->em = at_double(d, xt, 3);
		x->ev = at_double(d, xt, 4);
		x->seen = (uint64_t)at_i64(d, xt, 5);
		uint32_t cap = (uint32_t)at_i64(d, xt, 6);
		int ts = json_index(d, xt, 7), vs = json_index(d, xt, 9);
		x->n = (uint32_t)at_i64(d, xt, 8);
		uint32_t nts = ts >= 0 ? d->tok[ts].count : 0;
		uint32_t nvs = vs >= 0 ? d->tok[vs].count : 0;
		if (r->an && r->an != AN_EWMA) {
			x->cap = cap;
			if (cap > r->an_n || nts != cap || nvs != cap || x->n > cap ||
			    (cap && x->head >= cap)) {
				x->n = x->cap = x->head = 0; /* not ours: start again */
				continue;
			}
		} else {
			x->cap = nts > 0 ? nts : 0;
			if (nts != x->n || (r->nargs && !r->an && nvs != x->n * (uint32_t)r->nargs))
				x->n = x->cap = 0;
		}
		if (x->cap) {
			x->ts = xmalloc(x->cap * sizeof *x->ts);
			for (uint32_t i = 0; i < x->cap && i < nts; i++)
				x->ts[i] = at_i64(d, ts, i);
			if (nvs) {
				x->v = xmalloc(nvs * sizeof *x->v);
				for (uint32_t i = 0; i < nvs; i++)
					x->v[i] = at_double(d, vs, i);
			}
		}
	}
	/* files without "lru" keep the keys' order of first appearance */
	int lru = json_get(d, o, "lru");
	if (lru >= 0 && json_type_of(d, lru) == JSON_ARRAY)
		for (int t = json_first(d, lru); t >= 0; t = json_next_elem(d, lru, t)) {
			int64_t i;
			if (tok_i64(d, t, &i) && i >= 0 && i < nkeys && by_at[i])
				kmap_touch(&rt->keys, by_at[i]);
		}
	free(by_at);
	evict(r, "the state holds more than");
}

int engine_restore(struct engine *e, const char *path, char *err, size_t errlen)
{
	struct buf text;
	buf_init(&text);
	if (fs_read_file(path, (size_t)1 << 31, &text, err, errlen) < 0) {
		buf_free(&text);
		return errno == ENOENT ? 0 : -1;
	}
	struct json_doc d;
	json_doc_init(&d);
	struct json_error je;
	int rc = -1;
	if (json_parse(&d, text.data, text.len, &je) < 0) {
		snprintf(err, errlen, "'%s' is not a state file: invalid JSON at byte %zu: %s", path,
			 je.offset + 1, je.msg);
		goto out;
	}
	int f = json_type_of(&d, 0) == JSON_OBJECT ? json_get(&d, 0, "format") : -1;
	int rules = f >= 0 ? json_get(&d, 0, "rules") : -1;
	if (f < 0 || !json_str_eq(&d, f, STATE_MAGIC) || rules < 0 ||
	    json_type_of(&d, rules) != JSON_ARRAY) {
		snprintf(err, errlen, "'%s' is not a cce-rule state file", path);
		goto out;
	}
	int64_t wm;
	if (tok_i64(&d, json_get(&d, 0, "watermark"), &wm)) {
		e->watermark = wm;
		e->have_wm = true;
		e->wall_at_wm = time_now_ms();
	}
	for (int o = json_first(&d, rules); o >= 0; o = json_next_elem(&d, rules, o)) {
		int nm = json_get(&d, o, "name"), sg = json_get(&d, o, "sig");
		if (nm < 0 || sg < 0)
			continue;
		for (int i = 0; i < e->rs.n; i++) {
			struct rule *r = e->rs.r[i];
			if (json_str_eq(&d, nm, r->name) && json_str_eq(&d, sg, r->sig))
				restore_rule(r, &d, o);
		}
	}
	rc = 0;
out:
	json_doc_free(&d);
	buf_free(&text);
	return rc;
}
