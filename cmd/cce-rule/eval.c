/*
 * eval: a rule's expressions on a record, within the evaluation budgets.
 *
 * The fast forms (bare paths and simple conditions, fast.h) answer on the
 * record's tokens; anything else, and anything the fast forms cannot
 * decide, goes to libjq on the record's jq value, made once per record on
 * demand. A failed evaluation is counted and reported (at most
 * MAX_REPORTED times per rule); one past the time or memory budget, or
 * past --max-overruns regular-expression limits, disables its rule.
 */
#include "kind.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "timeutil.h"

#define MAX_REPORTED 5

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

int rec_make(struct engine *e, struct rec *rc, const char *text, size_t len)
{
	memset(rc, 0, sizeof *rc);
	rc->text = text;
	rc->len = len;
	rc->doc = &e->aggdoc;
	struct json_error je;
	return json_parse(&e->aggdoc, text, len, &je) == 0 ? 0 : -1;
}

void rec_done(struct rec *r)
{
	if (r->have_v)
		jv_free(r->v);
	r->have_v = false;
	buf_free(&r->tmp);
}

void rule_error(struct rule *r, struct rec *rc, const char *what, const char *msg)
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

int ex_truth(struct engine *e, struct rule *r, struct expr *x, struct rec *rc, const char *what,
	     bool *t)
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

int ex_json(struct engine *e, struct rule *r, struct expr *x, struct rec *rc, const char *what,
	    struct buf *out)
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

int ex_number(struct engine *e, struct rule *r, struct expr *x, struct rec *rc, const char *what,
	      double *v)
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

int ex_time(struct engine *e, struct rec *rc, int64_t *ms, char *why, size_t whylen)
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
