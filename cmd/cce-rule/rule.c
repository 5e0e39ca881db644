#include "rule.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "diag.h"
#include "field.h"
#include "fsutil.h"
#include "hash.h"
#include "json.h"

void expr_free(struct expr *e)
{
	free(e->src);
	jqx_free(e->jq);
	fexpr_free(e->fe);
	fpath_free(e->fp);
	memset(e, 0, sizeof *e);
}

int expr_compile(struct expr *e, const char *src, bool cond, char *err, size_t errlen)
{
	memset(e, 0, sizeof *e);
	/* the fast subset is valid jq by construction: its libjq form (for
	 * records where jq would fail, to get jq's own error) is compiled
	 * only when first needed */
	e->fp = fpath_compile(src);
	if (cond && !e->fp)
		e->fe = fexpr_compile(src);
	e->jq = e->fp || e->fe ? jqx_lazy(src) : jqx_compile(src, err, errlen);
	if (!e->jq)
		return -1;
	e->src = xstrdup(src);
	return 0;
}

void fmt_duration(int64_t ms, struct buf *out)
{
	static const struct { int64_t n; const char *u; } units[] = {
		{ 86400000, "d" }, { 3600000, "h" }, { 60000, "m" }, { 1000, "s" },
	};
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
		if (ms && ms % units[i].n == 0) {
			buf_addf(out, "%lld%s", (long long)(ms / units[i].n), units[i].u);
			return;
		}
	buf_addf(out, "%lldms", (long long)ms);
}

void rule_free(struct rule *r)
{
	if (!r)
		return;
	free(r->name);
	free(r->file);
	expr_free(&r->match);
	expr_free(&r->key);
	expr_free(&r->when);
	expr_free(&r->value);
	expr_free(&r->clear);
	expr_free(&r->message);
	expr_free(&r->an_value);
	expr_free(&r->pr.value);
	for (int i = 0; i < r->naggs; i++) {
		free(r->aggs[i].name);
		free(r->aggs[i].src);
	}
	free(r->aggs);
	for (int i = 0; i < r->nargs; i++)
		expr_free(&r->args[i]);
	free(r->args);
	free(r->severity);
	free(r->labels);
	free(r->desc);
	free(r);
}

void ruleset_free(struct ruleset *rs)
{
	for (int i = 0; i < rs->n; i++)
		rule_free(rs->r[i]);
	free(rs->r);
	rs->r = NULL;
	rs->n = 0;
}

/* One rule being read: where it came from, for messages. */
struct ctx {
	const char *file;
	uint64_t line;        /* JSON lines: the line; arrays: the element (1-based) */
	bool array;
	const char *name;
	int errors;
	struct json_doc *d;
	uint32_t max_keys;    /* the default */
	struct fields top;    /* the rule object's members; errors into err */
	char err[1024];
};

static void bad(struct ctx *c, const char *fmt, ...) DIAG_PRINTF(2, 3);
static void bad(struct ctx *c, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	char where[512];
	if (c->name)
		snprintf(where, sizeof where, "rule '%s'", c->name);
	else
		snprintf(where, sizeof where, "%s %llu", c->array ? "rule" : "line",
			 (unsigned long long)c->line);
	if (c->array)
		diag_error("%s: %s: %s", c->file, where, msg);
	else
		diag_error("%s:%llu: %s: %s", c->file, (unsigned long long)c->line, where, msg);
	c->errors++;
}

/* The error lib/field wrote into c->err, as a rule's error; false. */
static bool failed(struct ctx *c)
{
	bad(c, "%s", c->err);
	return false;
}

/* sub: the members of object v, the value of the rule's member name */
static bool sub_obj(struct ctx *c, int v, const char *name, struct fields *sub)
{
	if (json_type_of(c->d, v) != JSON_OBJECT) {
		field_fail(&c->top, name, "expected an object, got %s",
			   json_type_name(json_type_of(c->d, v)));
		return failed(c);
	}
	fields_init(sub, c->d, v, c->err, sizeof c->err);
	sub->up = &c->top;
	sub->name = name;
	return true;
}

/* Strings the rule uses as C strings are refused when they hold U+0000
 * (".t > 1\u0000 and false" would compile as ".t > 1"): lib/field's
 * policy, in its wording. */
static bool get_duration(struct ctx *c, const struct fields *f, const char *key, int64_t *ms)
{
	return field_duration(f, key, 0, ms) > 0 || failed(c);
}

/* the wording rule files have always had, whatever is wrong */
static bool get_uint(struct ctx *c, const struct fields *f, const char *key, uint32_t min,
		     uint32_t *out)
{
	int64_t v;
	if (field_int(f, key, 0, min, INT64_MAX, &v) <= 0 || v > UINT32_MAX) {
		field_fail(f, key, "expected an integer of at least %u", min);
		return failed(c);
	}
	*out = (uint32_t)v;
	return true;
}

static bool get_expr(struct ctx *c, const struct fields *f, const char *key, struct expr *e,
		     bool cond)
{
	char *s;
	if (field_str(f, key, 0, 0, &s) <= 0) {
		int t = json_get(f->d, f->obj, key); /* there: the caller walks the members */
		if (t < 0 || json_type_of(f->d, t) != JSON_STRING)
			field_fail(f, key, "expected a jq expression as a string");
		return failed(c); /* or U+0000, in field's words */
	}
	char err[1024];
	int rc = expr_compile(e, s, cond, err, sizeof err);
	free(s);
	if (rc < 0) {
		field_fail(f, key, "%s", err);
		return failed(c);
	}
	return true;
}

static const char *const agg_names[] = { "count", "sum", "avg", "min", "max", "stddev",
					 "first", "last", "p50", "p90", "p95", "p99", "rate" };

static bool parse_agg(struct ctx *c, struct rule *r, const char *name, const char *spec)
{
	struct agg a = { 0 };
	a.arg = -1;
	size_t n = strcspn(spec, "(");
	int fn = -1;
	for (int i = 0; i < (int)(sizeof agg_names / sizeof agg_names[0]); i++)
		if (strlen(agg_names[i]) == n && strncmp(spec, agg_names[i], n) == 0)
			fn = i;
	if (fn < 0) {
		bad(c, "aggregate '%s': unknown function in '%s' (count sum avg min max stddev first last p50 p90 p95 p99 rate)",
		    name, spec);
		return false;
	}
	a.fn = (enum agg_fn)fn;
	if (spec[n] == '(') {
		size_t len = strlen(spec);
		if (len < n + 3 || spec[len - 1] != ')') {
			bad(c, "aggregate '%s': expected %s(EXPR) in '%s'", name, agg_names[fn], spec);
			return false;
		}
		char *arg = xstrndup(spec + n + 1, len - n - 2);
		for (int i = 0; i < r->nargs; i++)
			if (strcmp(r->args[i].src, arg) == 0)
				a.arg = i;
		if (a.arg < 0) {
			struct expr e;
			char err[1024];
			if (expr_compile(&e, arg, false, err, sizeof err) < 0) {
				bad(c, "aggregate '%s': %s", name, err);
				free(arg);
				return false;
			}
			r->args = xrealloc(r->args, (size_t)(r->nargs + 1) * sizeof *r->args);
			r->args[r->nargs] = e;
			a.arg = r->nargs++;
		}
		free(arg);
	} else if (spec[n] || fn != A_COUNT) {
		bad(c, "aggregate '%s': expected %s(EXPR) in '%s'", name, agg_names[fn], spec);
		return false;
	}
	a.name = xstrdup(name);
	a.src = xstrdup(spec);
	r->aggs = xrealloc(r->aggs, (size_t)(r->naggs + 1) * sizeof *r->aggs);
	r->aggs[r->naggs++] = a;
	return true;
}

/* alpha, beta and gamma of holt_winters */
static void get_unit(struct ctx *c, const struct fields *f, const char *key, double *out)
{
	if (field_num(f, key, 0, out) <= 0 || !(*out > 0 && *out <= 1))
		bad(c, "predict.%s: expected a number in (0, 1]", key);
}

static void parse_predict_member(struct ctx *c, struct rule *r, const struct fields *f, int k)
{
	static const char *const durs[] = { "window", "horizon", "season", "step" };
	struct json_doc *d = c->d;
	struct predict_spec *p = &r->pr;
	int64_t *dur[] = { &p->window, &p->horizon, &p->season, &p->step };
	for (int i = 0; i < 4; i++)
		if (json_str_eq(d, k, durs[i])) {
			if (get_duration(c, f, durs[i], dur[i]) && *dur[i] <= 0)
				bad(c, "predict.%s: must be positive", durs[i]);
			return;
		}
	if (json_str_eq(d, k, "method")) {
		if (json_str_eq(d, k + 1, "linear"))
			p->method = PM_LINEAR;
		else if (json_str_eq(d, k + 1, "holt_winters"))
			p->method = PM_HOLT_WINTERS;
		else
			bad(c, "predict.method: expected \"linear\" or \"holt_winters\"");
	} else if (json_str_eq(d, k, "value")) {
		get_expr(c, f, "value", &p->value, false);
	} else if (json_str_eq(d, k, "alpha")) {
		get_unit(c, f, "alpha", &p->alpha);
	} else if (json_str_eq(d, k, "beta")) {
		get_unit(c, f, "beta", &p->beta);
	} else if (json_str_eq(d, k, "gamma")) {
		get_unit(c, f, "gamma", &p->gamma);
	} else {
		char *s = json_strdup(d, k);
		bad(c, "predict: unknown field '%s'", s);
		free(s);
	}
}

/* What the method needs of the fields given (t, the predict object). */
static void check_predict(struct ctx *c, struct rule *r, int t)
{
	struct json_doc *d = c->d;
	struct predict_spec *p = &r->pr;
	if (!p->value.src)
		bad(c, "predict: value is required");
	if (json_get(d, t, "horizon") < 0)
		bad(c, "predict: horizon is required");
	if (p->method == PM_LINEAR) {
		if (json_get(d, t, "window") < 0)
			bad(c, "predict: window is required with method linear");
		if (json_get(d, t, "season") >= 0 || json_get(d, t, "step") >= 0 ||
		    json_get(d, t, "alpha") >= 0 || json_get(d, t, "beta") >= 0 ||
		    json_get(d, t, "gamma") >= 0)
			bad(c, "predict: season, step, alpha, beta and gamma are for method holt_winters");
		return;
	}
	if (json_get(d, t, "window") >= 0)
		bad(c, "predict.window: only with method linear (holt_winters smooths)");
	if (json_get(d, t, "season") < 0) {
		bad(c, "predict: season is required with method holt_winters");
		return;
	}
	if (!p->step)
		p->step = p->season / 24;
	if (p->season <= 0 || p->step <= 0 || p->season % p->step)
		bad(c, "predict.step: must divide the season (default: a 24th of it)");
	else if (p->season / p->step < 2 || p->season / p->step > PREDICT_MAX_STEPS)
		bad(c, "predict.step: a season must hold 2 to %d steps", PREDICT_MAX_STEPS);
	else if (p->horizon / p->step > PREDICT_MAX_AHEAD)
		bad(c, "predict.horizon: at most %d steps ahead", PREDICT_MAX_AHEAD);
}

static void parse_predict(struct ctx *c, struct rule *r, int t)
{
	struct predict_spec *p = &r->pr;
	p->method = PM_LINEAR; /* a predict rule, even when broken */
	struct fields f;
	if (!sub_obj(c, t, "predict", &f))
		return;
	p->alpha = 0.3;
	p->beta = 0.05;
	p->gamma = 0.2;
	for (int k = json_first(c->d, t); k >= 0; k = json_next_member(c->d, t, k))
		parse_predict_member(c, r, &f, k);
	check_predict(c, r, t);
}

/* "> 95": the comparison a forecast must pass */
static void parse_when_forecast(struct ctx *c, struct rule *r)
{
	struct predict_spec *p = &r->pr;
	char *s = NULL;
	if (field_str(&c->top, "when_forecast", 0, 0, &s) > 0) {
		const char *q = s + strspn(s, " ");
		size_t n = q[0] && q[1] == '=' ? 2 : 1;
		if (*q == '>' || *q == '<') {
			char *end;
			p->threshold = strtod(q + n, &end);
			bool whole = end != q + n && !end[strspn(end, " ")];
			if (whole && isfinite(p->threshold)) {
				memcpy(p->op, q, n);
				p->op[n] = 0;
				free(s);
				return;
			}
		}
	}
	free(s);
	bad(c, "when_forecast: expected a comparison with a number, such as \"> 95\" (> >= < <=)");
}

static void parse_window(struct ctx *c, struct rule *r, int t)
{
	struct json_doc *d = c->d;
	struct fields w;
	if (!sub_obj(c, t, "window", &w))
		return;
	int size = json_get(d, t, "size"), slide = json_get(d, t, "slide");
	int gap = json_get(d, t, "gap"), count = json_get(d, t, "count");
	for (int k = json_first(d, t); k >= 0; k = json_next_member(d, t, k))
		if (!json_str_eq(d, k, "size") && !json_str_eq(d, k, "slide") &&
		    !json_str_eq(d, k, "gap") && !json_str_eq(d, k, "count")) {
			char *s = json_strdup(d, k);
			bad(c, "window: unknown field '%s'", s);
			free(s);
		}
	if ((size >= 0) + (gap >= 0) + (count >= 0) != 1 || (slide >= 0 && size < 0)) {
		bad(c, "window: give one of size (with an optional slide), gap or count");
		return;
	}
	if (size >= 0) {
		r->win = W_SLIDING;
		if (!get_duration(c, &w, "size", &r->win_size))
			return;
		r->win_slide = r->win_size;
		if (slide >= 0 && !get_duration(c, &w, "slide", &r->win_slide))
			return;
		if (r->win_size <= 0 || r->win_slide <= 0 || r->win_slide > r->win_size)
			bad(c, "window: size and slide must be positive, slide at most size");
	} else if (gap >= 0) {
		r->win = W_SESSION;
		if (get_duration(c, &w, "gap", &r->win_gap) && r->win_gap <= 0)
			bad(c, "window.gap: must be positive");
	} else {
		r->win = W_COUNT;
		get_uint(c, &w, "count", 1, &r->win_count);
	}
}

static void parse_anomaly(struct ctx *c, struct rule *r, int t)
{
	struct json_doc *d = c->d;
	struct fields a;
	if (!sub_obj(c, t, "anomaly", &a))
		return;
	static const char *const methods[] = { "", "zscore", "ewma", "mad", "context", "seasonal",
					       "entropy" };
	r->an = AN_CONTEXT; /* the recommended method (tests/bench/nab) */
	r->an_n = 1000;
	bool thr = false, warm = false;
	for (int k = json_first(d, t); k >= 0; k = json_next_member(d, t, k)) {
		int v = k + 1;
		if (json_str_eq(d, k, "method")) {
			r->an = AN_NONE;
			for (int m = AN_ZSCORE; m <= AN_ENTROPY; m++)
				if (json_str_eq(d, v, methods[m]))
					r->an = (enum anomaly_method)m;
			if (r->an == AN_NONE) {
				bad(c, "anomaly.method: expected \"context\", \"seasonal\", "
				       "\"zscore\", \"ewma\", \"mad\" or \"entropy\"");
				r->an = AN_CONTEXT; /* one message, not a second about `when` */
			}
		} else if (json_str_eq(d, k, "value")) {
			get_expr(c, &a, "value", &r->an_value, false);
		} else if (json_str_eq(d, k, "window")) {
			get_duration(c, &a, "window", &r->an_window);
		} else if (json_str_eq(d, k, "n")) {
			get_uint(c, &a, "n", 2, &r->an_n);
		} else if (json_str_eq(d, k, "warmup")) {
			warm = get_uint(c, &a, "warmup", 2, &r->an_warmup);
		} else if (json_str_eq(d, k, "threshold")) {
			thr = true;
			if (field_num(&a, "threshold", 0, &r->an_threshold) <= 0 ||
			    !(r->an_threshold > 0))
				bad(c, "anomaly.threshold: expected a positive number");
		} else if (json_str_eq(d, k, "alpha")) {
			if (field_num(&a, "alpha", 0, &r->an_alpha) <= 0 ||
			    !(r->an_alpha > 0 && r->an_alpha <= 1))
				bad(c, "anomaly.alpha: expected a number in (0, 1]");
		} else {
			char *s = json_strdup(d, k);
			bad(c, "anomaly: unknown field '%s'", s);
			free(s);
		}
	}
	/* context and seasonal: a threshold on the 0..1 score, and a warmup
	 * long enough to have seen a few levels and slots */
	bool scored = r->an == AN_CONTEXT || r->an == AN_SEASONAL || r->an == AN_ENTROPY;
	if (!thr)
		r->an_threshold = scored ? 0.5 : 3.5;
	else if (scored && !(r->an_threshold < 1))
		bad(c, "anomaly.threshold: expected a number in (0, 1) for method %s",
		    methods[r->an]);
	if (!warm)
		r->an_warmup = scored ? 100 : 30;
	if (scored && r->an_window)
		bad(c, "anomaly.window: only for methods zscore and mad (%s keeps no history)",
		    methods[r->an]);
	if (!r->an_value.src)
		bad(c, "anomaly: value is required");
	if (r->an_window > 0 && json_get(d, t, "n") < 0)
		r->an_n = 100000; /* a cap on what a time window may hold */
	if (r->an_alpha == 0)
		r->an_alpha = 2.0 / (r->an_n + 1.0);
}

static void add_expr(struct buf *b, const char *field, const struct expr *e, const char *dflt)
{
	buf_addf(b, ",\"%s\":", field);
	if (e->src)
		buf_add_json_str(b, e->src, strlen(e->src));
	else
		buf_adds(b, dflt);
}

static void add_dur(struct buf *b, const char *field, int64_t ms)
{
	buf_addf(b, ",\"%s\":\"", field);
	fmt_duration(ms, b);
	buf_addc(b, '"');
}

static void describe_predict(struct buf *b, const struct rule *r)
{
	const struct predict_spec *p = &r->pr;
	buf_addf(b, ",\"predict\":{\"method\":\"%s\",\"value\":",
		 p->method == PM_LINEAR ? "linear" : "holt_winters");
	buf_add_json_str(b, p->value.src, strlen(p->value.src));
	if (p->method == PM_LINEAR)
		add_dur(b, "window", p->window);
	add_dur(b, "horizon", p->horizon);
	if (p->method == PM_HOLT_WINTERS) {
		add_dur(b, "season", p->season);
		add_dur(b, "step", p->step);
		double v[] = { p->alpha, p->beta, p->gamma };
		for (int i = 0; i < 3; i++) {
			buf_addf(b, ",\"%s\":", i == 0 ? "alpha" : i == 1 ? "beta" : "gamma");
			buf_add_double(b, v[i]);
		}
	}
	buf_addf(b, "},\"when_forecast\":\"%s ", p->op);
	buf_add_double(b, p->threshold);
	buf_addc(b, '"');
}

/* count, window and aggregate, in the order the signature has them */
static void describe_window(struct buf *b, const struct rule *r)
{
	if (r->count_n) {
		buf_addf(b, ",\"count\":{\"n\":%u,\"within\":\"", r->count_n);
		fmt_duration(r->count_within, b);
		buf_adds(b, "\"}");
	}
	if (r->win == W_SLIDING) {
		buf_adds(b, ",\"window\":{\"size\":\"");
		fmt_duration(r->win_size, b);
		buf_adds(b, "\",\"slide\":\"");
		fmt_duration(r->win_slide, b);
		buf_adds(b, "\"}");
	} else if (r->win == W_SESSION) {
		buf_adds(b, ",\"window\":{\"gap\":\"");
		fmt_duration(r->win_gap, b);
		buf_adds(b, "\"}");
	} else if (r->win == W_COUNT) {
		buf_addf(b, ",\"window\":{\"count\":%u}", r->win_count);
	}
	if (r->naggs) {
		buf_adds(b, ",\"aggregate\":{");
		for (int i = 0; i < r->naggs; i++) {
			if (i)
				buf_addc(b, ',');
			buf_add_json_str(b, r->aggs[i].name, strlen(r->aggs[i].name));
			buf_addc(b, ':');
			buf_add_json_str(b, r->aggs[i].src, strlen(r->aggs[i].src));
		}
		buf_addc(b, '}');
	}
}

static void describe_anomaly(struct buf *b, const struct rule *r)
{
	static const char *const m[] = { "", "zscore", "ewma", "mad", "context", "seasonal",
					 "entropy" };
	buf_addf(b, ",\"anomaly\":{\"method\":\"%s\",\"value\":", m[r->an]);
	buf_add_json_str(b, r->an_value.src, strlen(r->an_value.src));
	if (r->an_window) {
		buf_adds(b, ",\"window\":\"");
		fmt_duration(r->an_window, b);
		buf_addc(b, '"');
	}
	buf_addf(b, ",\"n\":%u,\"threshold\":", r->an_n);
	buf_add_double(b, r->an_threshold);
	buf_addf(b, ",\"warmup\":%u", r->an_warmup);
	if (r->an == AN_EWMA) {
		buf_adds(b, ",\"alpha\":");
		buf_add_double(b, r->an_alpha);
	}
	buf_addc(b, '}');
}

/* what is not part of the signature: max_keys and which expressions skip libjq */
static void describe_runtime(struct buf *b, struct rule *r)
{
	/* neither is max_keys: a state too big for it is cut, not dropped */
	buf_addf(b, ",\"max_keys\":%u", r->max_keys);
	buf_adds(b, ",\"fast\":[");
	const char *sep = "";
	struct { const char *n; struct expr *e; } ex[] = {
		{ "match", &r->match }, { "key", &r->key }, { "when", &r->when },
		{ "value", &r->value }, { "clear", &r->clear },
	};
	for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++)
		if (ex[i].e->fe || ex[i].e->fp) {
			buf_addf(b, "%s\"%s\"", sep, ex[i].n);
			sep = ",";
		}
	buf_adds(b, "]}");
}

/* r->desc, the definition as JSON, and r->sig, the hash of what in it
 * decides the meaning of the rule's state */
static void describe(struct rule *r)
{
	struct buf b;
	buf_init(&b);
	buf_adds(&b, "{\"name\":");
	buf_add_json_str(&b, r->name, strlen(r->name));
	add_expr(&b, "match", &r->match, "\".\"");
	add_expr(&b, "key", &r->key, "null");
	add_expr(&b, "when", &r->when, "null");
	add_expr(&b, "value", &r->value, "null");
	add_dur(&b, "for", r->for_ms);
	describe_window(&b, r);
	add_expr(&b, "clear", &r->clear, "null");
	add_dur(&b, "keep_firing_for", r->keep_ms);
	if (r->repeat_ms)
		add_dur(&b, "repeat", r->repeat_ms);
	else
		buf_adds(&b, ",\"repeat\":null");
	if (r->limit_max) {
		buf_addf(&b, ",\"limit\":{\"max\":%u,\"per\":\"", r->limit_max);
		fmt_duration(r->limit_per, &b);
		buf_adds(&b, "\"}");
	}
	if (r->absent_ms)
		add_dur(&b, "absent", r->absent_ms);
	if (r->an)
		describe_anomaly(&b, r);
	if (r->pr.method)
		describe_predict(&b, r);
	buf_adds(&b, ",\"severity\":");
	buf_adds(&b, r->severity ? r->severity : "null");
	buf_adds(&b, ",\"labels\":");
	buf_adds(&b, r->labels ? r->labels : "{}");
	add_expr(&b, "message", &r->message, "null");
	/* which expressions skip libjq: part of the definition's identity
	 * only through their sources, so it goes after the signature */
	unsigned char h[SHA256_LEN];
	sha256(b.data, b.len, h);
	hex_encode(h, SHA256_LEN, r->sig);
	describe_runtime(&b, r);
	r->desc = buf_detach(&b, NULL);
}

static void parse_aggregate(struct ctx *c, struct rule *r, int v)
{
	struct json_doc *d = c->d;
	struct fields f;
	if (!sub_obj(c, v, "aggregate", &f))
		return;
	for (int a = json_first(d, v); a >= 0; a = json_next_member(d, v, a)) {
		char *an, *spec = NULL;
		/* "aggregate: contains ...", "aggregate 'n': ...": the words
		 * rule files have always had */
		if (field_key(&f, a, &an) < 0)
			bad(c, "aggregate: %s", JSON_NUL_REASON);
		else if (field_str_at(&f, an, a + 1, 0, 0, &spec) < 0)
			bad(c, "aggregate '%s': %s", an, json_type_of(d, a + 1) == JSON_STRING ?
			    JSON_NUL_REASON : "expected a string");
		else if (!strcmp(an, "key") || !strcmp(an, "start") || !strcmp(an, "end"))
			bad(c, "aggregate '%s': the name is taken by the window record", an);
		else
			parse_agg(c, r, an, spec);
		free(an);
		free(spec);
	}
}

/* v is an object of exactly the two members a and b */
static bool pair(const struct ctx *c, int v, const char *a, const char *b)
{
	const struct json_doc *d = c->d;
	return json_type_of(d, v) == JSON_OBJECT && d->tok[v].count == 2 &&
	       json_get(d, v, a) >= 0 && json_get(d, v, b) >= 0;
}

/* Member k of the rule object (its value is k + 1). */
static void parse_member(struct ctx *c, struct rule *r, int k)
{
	struct json_doc *d = c->d;
	const struct fields *f = &c->top;
	int v = k + 1;
#define IS(s) json_str_eq(d, k, s)
	if (IS("name")) {
	} else if (IS("match")) {
		get_expr(c, f, "match", &r->match, true);
	} else if (IS("key")) {
		get_expr(c, f, "key", &r->key, false);
	} else if (IS("when")) {
		get_expr(c, f, "when", &r->when, true);
	} else if (IS("value")) {
		get_expr(c, f, "value", &r->value, false);
	} else if (IS("clear")) {
		get_expr(c, f, "clear", &r->clear, true);
	} else if (IS("message")) {
		get_expr(c, f, "message", &r->message, false);
	} else if (IS("for")) {
		get_duration(c, f, "for", &r->for_ms);
	} else if (IS("keep_firing_for")) {
		get_duration(c, f, "keep_firing_for", &r->keep_ms);
	} else if (IS("repeat")) {
		if (get_duration(c, f, "repeat", &r->repeat_ms) && r->repeat_ms <= 0)
			bad(c, "repeat: must be positive");
	} else if (IS("absent")) {
		if (get_duration(c, f, "absent", &r->absent_ms) && r->absent_ms <= 0)
			bad(c, "absent: must be positive");
	} else if (IS("count")) {
		struct fields cf;
		if (!pair(c, v, "n", "within"))
			bad(c, "count: expected {\"n\":5,\"within\":\"1m\"}");
		else if (sub_obj(c, v, "count", &cf) && get_uint(c, &cf, "n", 1, &r->count_n) &&
			 get_duration(c, &cf, "within", &r->count_within) &&
			 r->count_within <= 0)
			bad(c, "count.within: must be positive");
	} else if (IS("limit")) {
		struct fields lf;
		if (!pair(c, v, "max", "per"))
			bad(c, "limit: expected {\"max\":10,\"per\":\"1m\"}");
		else if (sub_obj(c, v, "limit", &lf) && get_uint(c, &lf, "max", 1, &r->limit_max) &&
			 get_duration(c, &lf, "per", &r->limit_per) &&
			 r->limit_per <= 0)
			bad(c, "limit.per: must be positive");
	} else if (IS("max_keys")) {
		get_uint(c, f, "max_keys", 1, &r->max_keys);
	} else if (IS("window")) {
		parse_window(c, r, v);
	} else if (IS("aggregate")) {
		parse_aggregate(c, r, v);
	} else if (IS("anomaly")) {
		parse_anomaly(c, r, v);
	} else if (IS("predict")) {
		parse_predict(c, r, v);
	} else if (IS("when_forecast")) {
		parse_when_forecast(c, r);
	} else if (IS("severity")) {
		size_t n;
		const char *raw = json_raw(d, v, &n);
		r->severity = xstrndup(raw, n);
	} else if (IS("labels")) {
		struct fields lb;
		if (!sub_obj(c, v, "labels", &lb))
			return;
		size_t n;
		const char *raw = json_raw(d, v, &n);
		r->labels = xstrndup(raw, n);
	} else {
		char *s = json_strdup(d, k);
		bad(c, "unknown field '%s'", s);
		free(s);
	}
#undef IS
}

/* What the members mean together: which kinds combine, what each needs. */
static void check_combination(struct ctx *c, const struct rule *r, bool has_when)
{
	if (!has_when && !r->absent_ms && !r->an && !r->pr.method)
		bad(c, "when: required (except in absent, anomaly and predict rules)");
	bool has_wf = json_get(c->d, c->top.obj, "when_forecast") >= 0;
	if (r->pr.method && !has_wf)
		bad(c, "predict: needs a when_forecast, such as \"> 95\"");
	if (has_wf && json_get(c->d, c->top.obj, "predict") < 0)
		bad(c, "when_forecast: needs a predict");
	if (r->naggs && r->win == W_NONE)
		bad(c, "aggregate: needs a window");
	if (r->win != W_NONE && !r->naggs)
		bad(c, "window: needs an aggregate");
	if ((r->win != W_NONE) + (r->absent_ms > 0) + (r->an != AN_NONE) + (r->count_n > 0) +
	    (r->pr.method != PM_NONE) > 1)
		bad(c, "window, count, absent, anomaly and predict cannot be combined");
	if (r->absent_ms && (r->for_ms || r->clear.src || r->keep_ms))
		bad(c, "absent: for, clear and keep_firing_for do not apply");
}

static struct rule *parse_rule(struct ctx *c, int t)
{
	struct json_doc *d = c->d;
	if (json_type_of(d, t) != JSON_OBJECT) {
		bad(c, "expected a rule object, got %s", json_type_name(json_type_of(d, t)));
		return NULL;
	}
	int errors = c->errors;
	struct rule *r = xcalloc(1, sizeof *r);
	r->file = xstrdup(c->file);
	r->max_keys = c->max_keys;
	fields_init(&c->top, d, t, c->err, sizeof c->err);
	int nm = json_get(d, t, "name");
	if (field_str(&c->top, "name", FIELD_NONEMPTY, 0, &r->name) <= 0) {
		if (nm < 0 || json_type_of(d, nm) != JSON_STRING || json_str_eq(d, nm, ""))
			bad(c, "name: a non-empty string is required");
		else
			failed(c); /* U+0000 */
		rule_free(r);
		return NULL;
	}
	c->name = r->name;
	for (int k = json_first(d, t); k >= 0; k = json_next_member(d, t, k))
		parse_member(c, r, k);
	check_combination(c, r, json_get(d, t, "when") >= 0);
	if (c->errors != errors) {
		rule_free(r);
		return NULL;
	}
	r->kind = r->win != W_NONE ? RK_WINDOW : r->count_n ? RK_COUNT : r->absent_ms ? RK_DEADMAN
		: r->an != AN_NONE ? RK_ANOMALY : r->pr.method ? RK_PREDICT : RK_THRESHOLD;
	describe(r);
	return r;
}

static void add_rule(struct ruleset *rs, struct ctx *c, struct rule *r)
{
	for (int i = 0; i < rs->n; i++)
		if (strcmp(rs->r[i]->name, r->name) == 0) {
			c->name = r->name;
			bad(c, "name: a rule of this name is already defined in '%s'", rs->r[i]->file);
			rule_free(r);
			return;
		}
	rs->r = xrealloc(rs->r, (size_t)(rs->n + 1) * sizeof *rs->r);
	rs->r[rs->n++] = r;
}

static int load_file(const char *file, uint32_t max_keys, struct ruleset *rs)
{
	struct buf text;
	buf_init(&text);
	char err[512];
	if (fs_read_file(file, 64 << 20, &text, err, sizeof err) < 0) {
		diag_error("%s", err);
		buf_free(&text);
		return 1;
	}
	struct json_doc d;
	json_doc_init(&d);
	struct json_error je;
	struct ctx c = { .file = file, .d = &d, .max_keys = max_keys };
	if (json_parse(&d, text.data, text.len, &je) == 0) {
		if (json_type_of(&d, 0) == JSON_ARRAY) {
			c.array = true;
			uint64_t i = 0;
			for (int e = json_first(&d, 0); e >= 0; e = json_next_elem(&d, 0, e)) {
				c.line = ++i;
				c.name = NULL;
				struct rule *r = parse_rule(&c, e);
				if (r)
					add_rule(rs, &c, r);
			}
		} else {
			c.line = 1;
			struct rule *r = parse_rule(&c, 0);
			if (r)
				add_rule(rs, &c, r);
		}
	} else {
		/* JSON lines of rule objects */
		const char *p = text.data, *end = text.data + text.len;
		uint64_t ln = 0;
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
			ln++;
			size_t k = 0;
			while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r'))
				k++;
			if (k < n) {
				c.line = ln;
				c.name = NULL;
				if (json_parse(&d, p, n, &je) < 0)
					bad(&c, "invalid JSON at byte %zu: %s", je.offset + 1, je.msg);
				else {
					struct rule *r = parse_rule(&c, 0);
					if (r)
						add_rule(rs, &c, r);
				}
			}
			p += n + 1;
		}
	}
	json_doc_free(&d);
	buf_free(&text);
	return c.errors;
}

int rules_load(char *const *files, int nfiles, uint32_t max_keys, struct ruleset *rs)
{
	int errors = 0;
	rs->r = NULL;
	rs->n = 0;
	for (int i = 0; i < nfiles; i++)
		errors += load_file(files[i], max_keys, rs);
	if (!errors && rs->n == 0) {
		diag_error("no rules in %s", nfiles == 1 ? files[0] : "the rules files");
		errors++;
	}
	if (errors) {
		ruleset_free(rs);
		return -1;
	}
	return 0;
}
