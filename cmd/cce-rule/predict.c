/*
 * predict: a rule that fires when a key's value (predict.value) is forecast
 * to pass `when_forecast` (such as "> 95") within predict.horizon, by a
 * least-squares line over predict.window (method linear, as Prometheus's
 * predict_linear) or by additive Holt-Winters (holt_winters: a level, a
 * trend and a season of predict.season in steps of predict.step). `when`,
 * if given, must also hold; the state machine of key_step() runs on the
 * verdict. Alerts carry the value, the forecast at the horizon and, while
 * the forecast passes, crosses_at: the time it first does (the record's
 * own when it already does). A value that is null or not finite is passed
 * over.
 *
 * A key's memory is fixed whatever the rate of its records, and its
 * extras (x->v, x->cap doubles) are kept even while the key is inactive:
 * - linear keeps its window as PREDICT_BUCKETS buckets of window/32 each,
 *   a ring of five sums (n, dt, v, dt^2, dt*v, with dt in seconds from the
 *   bucket's start) by bucket number, x->wstart the newest bucket. The fit
 *   uses the buckets of the last window, so the oldest points it weighs
 *   may be up to a bucket younger than the window. Sums kept relative to
 *   their bucket keep the fit exact at epoch times (a sum of squared epoch
 *   milliseconds would not be). 1280 bytes.
 * - holt_winters keeps in x->em the level, in x->ev the trend per step,
 *   in x->v the m = season/step seasonal terms by step number mod m, m
 *   slots for the second season while the model warms up (two seasons),
 *   then the current step's sum and count; x->wstart is the current step,
 *   x->seen the steps done. A step's value is the mean of its records; a
 *   step without records counts as its forecast (as the last step's value
 *   while warming up), and two seasons of silence start the model again,
 *   as do values that overflow it (a level or trend that is not finite).
 *   8 (2m + 2) bytes (a key in all: about 400 + 8 (2m + 2), 800 for a
 *   day of hours; its state file about 20 (2m + 2), a double each).
 * The checkpoint holds x->v whole and no times (those are x->wstart's);
 * holt_winters keeps its next crossing in x->ts (five numbers, 40 bytes),
 * not saved: it is found again from the model.
 */
#include "kind.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { LIN_SUMS = 5 };

/* The span of length b that holds time a (counted from the epoch, times
 * before it included). */
static int64_t span_no(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return a % b && a < 0 ? q - 1 : q;
}

/* Span number a's slot in a ring of m. */
static uint32_t ring_at(int64_t a, uint32_t m)
{
	int64_t s = a % (int64_t)m;
	return (uint32_t)(s < 0 ? s + m : s);
}

static uint32_t hw_m(const struct rule *r) { return (uint32_t)(r->pr.season / r->pr.step); }

/* How many doubles a key's extras hold. */
static uint32_t predict_len(const struct rule *r)
{
	return r->pr.method == PM_LINEAR ? PREDICT_BUCKETS * LIN_SUMS : 2 * hw_m(r) + 2;
}

static bool passes(const struct predict_spec *p, double v)
{
	if (p->op[0] == '>')
		return p->op[1] ? v >= p->threshold : v > p->threshold;
	return p->op[1] ? v <= p->threshold : v < p->threshold;
}

/* ---- linear ---- */

static int64_t lin_width(const struct rule *r)
{
	int64_t w = r->pr.window / PREDICT_BUCKETS;
	return w > 0 ? w : 1;
}

static void lin_add(const struct rule *r, struct kext *x, int64_t t, double v)
{
	int64_t bw = lin_width(r), id = span_no(t, bw);
	if (id < x->wstart)
		x->seen = 0; /* a key's time never runs back: a damaged state */
	if (!x->seen || id > x->wstart) {
		/* the buckets passed over fall out of the window (compared so
		 * that a wstart from a damaged state cannot overflow) */
		int64_t from = x->seen && x->wstart >= id - PREDICT_BUCKETS ? x->wstart + 1
			       : id - PREDICT_BUCKETS + 1;
		for (int64_t j = from; j <= id; j++)
			memset(&x->v[ring_at(j, PREDICT_BUCKETS) * LIN_SUMS], 0,
			       LIN_SUMS * sizeof *x->v);
		x->wstart = id;
	}
	x->seen++;
	double *s = &x->v[ring_at(id, PREDICT_BUCKETS) * LIN_SUMS];
	double dt = (double)(t - id * bw) / 1000;
	s[0] += 1;
	s[1] += dt;
	s[2] += v;
	s[3] += dt * dt;
	s[4] += dt * v;
}

/* The least-squares line of the window's points: a its value at t, b its
 * slope per second; false without two distinct times. */
static bool lin_fit(const struct rule *r, const struct kext *x, int64_t t, double *a, double *b)
{
	int64_t bw = lin_width(r), j0 = x->wstart - PREDICT_BUCKETS + 1;
	/* the start of the window's first bucket from t, and a bucket's width,
	 * in seconds */
	double o0 = (double)(j0 * bw - t) / 1000, w = (double)bw / 1000;
	double n = 0, st = 0, sv = 0, stt = 0, stv = 0;
	uint32_t at = ring_at(j0, PREDICT_BUCKETS);
	for (uint32_t i = 0; i < PREDICT_BUCKETS; i++) {
		const double *s = &x->v[((at + i) % PREDICT_BUCKETS) * LIN_SUMS];
		if (!s[0])
			continue;
		double o = o0 + i * w; /* the bucket's start, from t */
		n += s[0];
		st += s[1] + s[0] * o;
		sv += s[2];
		stt += s[3] + 2 * o * s[1] + s[0] * o * o;
		stv += s[4] + o * s[2];
	}
	if (n < 2)
		return false;
	double mt = st / n, mv = sv / n;
	double vt = stt / n - mt * mt, cv = stv / n - mt * mv;
	if (!(vt > 1e-9 * (stt / n)))
		return false; /* all at one time, give or take rounding */
	*b = cv / vt;
	*a = mv - *b * mt;
	return true;
}

static bool lin_forecast(const struct rule *r, const struct kext *x, int64_t t,
			 struct extra *ex)
{
	const struct predict_spec *p = &r->pr;
	double a, b;
	if (!lin_fit(r, x, t, &a, &b))
		return false;
	ex->has_forecast = true;
	ex->forecast = a + b * (double)p->horizon / 1000;
	if (passes(p, a)) {
		ex->crosses_at = t;
	} else if (passes(p, ex->forecast)) {
		int64_t in = llround((p->threshold - a) / b * 1000);
		ex->crosses_at = t + (in < 0 ? 0 : in > p->horizon ? p->horizon : in);
	} else {
		return false;
	}
	ex->has_crossing = true;
	return true;
}

/* ---- holt_winters ---- */

/* Two seasons of step values x->v[0..2m), the last of them step j: the
 * level and trend through the seasons' means, each season term what is
 * left of its steps (averaged). On a series that is a line plus a season
 * the model is exact from here on. */
static void hw_init(const struct rule *r, struct kext *x, int64_t j)
{
	uint32_t m = hw_m(r);
	double m1 = 0, m2 = 0;
	for (uint32_t i = 0; i < m; i++) {
		m1 += x->v[i];
		m2 += x->v[m + i];
	}
	m1 /= m;
	m2 /= m;
	double tr = (m2 - m1) / m;
	double *s = xmalloc(m * sizeof *s);
	for (uint32_t i = 0; i < m; i++) {
		double c = tr * (i - (m - 1) / 2.0);
		s[ring_at(j + 1 + i, m)] = (x->v[i] - m1 - c + x->v[m + i] - m2 - c) / 2;
	}
	memcpy(x->v, s, m * sizeof *s);
	free(s);
	x->em = m2 + tr * (m - 1) / 2.0;
	x->ev = tr;
}

/* Step j is done with value y. */
static void hw_close(const struct rule *r, struct kext *x, int64_t j, double y)
{
	const struct predict_spec *p = &r->pr;
	uint32_t m = hw_m(r);
	if (x->seen < 2 * m) {
		x->v[x->seen++] = y;
		if (x->seen == 2 * m)
			hw_init(r, x, j);
		return;
	}
	double *s = &x->v[ring_at(j, m)];
	double l = p->alpha * (y - *s) + (1 - p->alpha) * (x->em + x->ev);
	x->ev = p->beta * (l - x->em) + (1 - p->beta) * x->ev;
	*s = p->gamma * (y - l) + (1 - p->gamma) * *s;
	x->em = l;
	x->seen++;
}

static void hw_reset(struct kext *x, uint32_t len)
{
	memset(x->v, 0, len * sizeof *x->v);
	x->seen = 0;
	x->em = x->ev = 0;
}

static void hw_add(const struct rule *r, struct kext *x, int64_t t, double y)
{
	uint32_t m = hw_m(r);
	int64_t j = span_no(t, r->pr.step);
	double *cur = &x->v[2 * m]; /* the current step's sum and count */
	if (j < x->wstart)
		hw_reset(x, predict_len(r)); /* time never runs back: a damaged state */
	if (!x->seen && !cur[1])
		x->wstart = j;
	if (j > x->wstart) {
		if (x->wstart < j - 2 * (int64_t)m || !cur[1]) {
			/* silent for two seasons (or a damaged state): again */
			hw_reset(x, predict_len(r));
		} else {
			double last = cur[0] / cur[1];
			hw_close(r, x, x->wstart, last);
			for (int64_t g = x->wstart + 1; g < j; g++)
				hw_close(r, x, g, x->seen < 2 * m ? last
					 : x->em + x->ev + x->v[ring_at(g, m)]);
			/* values whose sums overflow (or NaN from a restored
			 * state) would stay in the model for good */
			if (!isfinite(x->em) || !isfinite(x->ev))
				hw_reset(x, predict_len(r));
		}
		cur[0] = cur[1] = 0;
		x->wstart = j;
	}
	cur[0] += y;
	cur[1] += 1;
}

/* The first step h in 1..lim after the last step done, jl, whose forecast
 * passes, and the time of the crossing (where the line from the step
 * before crosses); h 0 when none does. */
static void hw_scan(const struct rule *r, const struct kext *x, int64_t jl, int64_t lim,
		    int64_t *h_at, int64_t *at)
{
	const struct predict_spec *p = &r->pr;
	uint32_t m = hw_m(r);
	double prev = x->em + x->v[ring_at(jl, m)];
	*h_at = 0;
	for (int64_t h = 1; h <= lim; h++) {
		double f = x->em + (double)h * x->ev + x->v[ring_at(jl + h, m)];
		if (passes(p, f)) {
			*h_at = h;
			*at = llround((double)(jl + h - 1) * (double)p->step +
				      (double)p->step * (p->threshold - prev) / (f - prev));
			return;
		}
		prev = f;
	}
}

/* The forecast of the steps from the current one to the one holding
 * t + horizon, each at its start; a crossing between two steps is put
 * where the line between them crosses. The model changes only as steps
 * close: the first crossing up to the last step any record of the
 * current step can reach is found once per step and kept in x->ts (not
 * saved: the step, the steps done, how far it looked, the crossing's step
 * and time), so a record costs the same whatever the horizon. */
static bool hw_forecast(const struct rule *r, struct kext *x, int64_t t, struct extra *ex)
{
	const struct predict_spec *p = &r->pr;
	uint32_t m = hw_m(r);
	if (x->seen < 2 * m)
		return false;
	int64_t jl = x->wstart - 1; /* the last step done */
	int64_t lim = span_no(t + p->horizon, p->step) - jl;
	double prev = x->em + x->v[ring_at(jl, m)];
	bool found = passes(p, prev);
	if (found) {
		ex->crosses_at = t;
	} else {
		if (!x->ts)
			x->ts = xcalloc(5, sizeof *x->ts);
		int64_t *c = x->ts;
		if (c[0] != x->wstart || c[1] != (int64_t)x->seen || c[2] < lim) {
			/* as far as a record of this step can look */
			int64_t far = span_no((x->wstart + 1) * p->step - 1 + p->horizon, p->step) - jl;
			c[0] = x->wstart;
			c[1] = (int64_t)x->seen;
			c[2] = far > lim ? far : lim;
			hw_scan(r, x, jl, c[2], &c[3], &c[4]);
		}
		found = c[3] >= 1 && c[3] <= lim;
		if (found)
			ex->crosses_at = c[4] < t ? t : c[4];
	}
	ex->has_forecast = true;
	ex->forecast = lim >= 1 ? x->em + (double)lim * x->ev + x->v[ring_at(jl + lim, m)] : prev;
	ex->has_crossing = found;
	return found;
}

/* ---- the kind ---- */

static void predict_record(struct engine *e, struct rule *r, struct kstate *k, struct rec *rc,
			   int64_t t, bool c)
{
	double v;
	if (ex_number(e, r, &r->pr.value, rc, "predict.value", &v) < 0 || !isfinite(v))
		return;
	struct kext *x = kstate_ext(k);
	if (!x->v) {
		x->cap = predict_len(r);
		x->v = xcalloc(x->cap, sizeof *x->v);
		x->seen = 0;
		x->em = x->ev = 0;
	}
	struct extra ex = { .has_value = true, .value = v };
	bool due;
	if (r->pr.method == PM_LINEAR) {
		lin_add(r, x, t, v);
		due = lin_forecast(r, x, t, &ex);
	} else {
		hw_add(r, x, t, v);
		due = hw_forecast(r, x, t, &ex);
	}
	key_step(e, r, k, t, c && due, rc, &ex);
}

static void predict_save(const struct rule *r, const struct kext *x, uint32_t *nts, size_t *nv)
{
	*nts = 0;
	*nv = x->v ? x->cap : 0;
}

static bool predict_restore(const struct rule *r, struct kext *x, uint32_t cap, uint32_t nts,
			    uint32_t nv)
{
	uint32_t len = predict_len(r);
	bool hw_ok = r->pr.method == PM_LINEAR || (isfinite(x->em) && isfinite(x->ev));
	if (cap != len || nts || nv != len || !hw_ok) {
		x->n = x->cap = x->head = 0; /* not ours: start again */
		x->seen = 0;
		x->em = x->ev = 0;
		return false;
	}
	x->cap = cap;
	return true;
}

const struct kind_ops kind_predict = {
	.name = "predict",
	.record = predict_record,
	.save = predict_save,
	.restore = predict_restore,
};
