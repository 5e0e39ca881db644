/*
 * window: a rule on aggregates of a key's records over windows of event
 * time (sliding: size and slide; session: closed by a gap) or of a count
 * of records. A closed window becomes the record
 * {"key":K,"start":S,"end":E,NAME:VALUE...} on which `when` and the state
 * machine of key_step() run.
 *
 * A key's extras hold its entries: x->ts their event times and x->v their
 * r->nargs aggregate arguments each; wstart is the first open window's
 * start (sliding) or the session's, wlast the session's last time. A
 * window closes when the watermark passes its end plus the lateness; a
 * record older than every open window is late and only counted.
 */
#include "kind.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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
	int st = 0;
	struct rec rc;
	if (rec_make(e, &rc, b.data, b.len) == 0) {
		bool c;
		st = ex_truth(e, r, &r->when, &rc, "when", &c);
		if (st == 0)
			st = key_step(e, r, k, ts, c, &rc, NULL);
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
		       const double *vals)
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
		return;
	}
	int64_t due = r->win == W_SESSION ? x->wlast + r->win_gap + e->o.lateness
		    : r->win == W_SLIDING ? x->wstart + r->win_size + e->o.lateness : INT64_MAX;
	kmap_due(&r->rt->keys, k, due);
}

static void window_record(struct engine *e, struct rule *r, struct kstate *k, struct rec *rc,
			  int64_t t, bool c)
{
	double vals[64];
	double *v = r->nargs <= 64 ? vals : xmalloc((size_t)r->nargs * sizeof *v);
	int st = 0;
	for (int i = 0; i < r->nargs && st == 0; i++)
		st = ex_number(e, r, &r->args[i], rc, "aggregate", &v[i]);
	if (st == 0)
		window_add(e, r, k, t, v);
	if (v != vals)
		free(v);
	if (!r->rt->disabled)
		key_maybe_drop(r, k);
}

/* Count windows close on records only. */
static void window_idle(struct engine *e, struct rule *r, struct kstate *k, int64_t wm)
{
	if (r->win != W_SLIDING && r->win != W_SESSION)
		return;
	int64_t due = window_advance(e, r, k, wm);
	if (r->rt->disabled)
		return;
	kmap_due(&r->rt->keys, k, due);
	key_maybe_drop(r, k);
}

const struct kind_ops kind_window = {
	.name = "window",
	.flags = KF_WINDOWED,
	.record = window_record,
	.idle = window_idle,
	.save = kext_save_entries,
	.restore = kext_restore_entries,
};
