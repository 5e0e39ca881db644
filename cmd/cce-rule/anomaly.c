/*
 * anomaly: a rule that fires when a key's value (anomaly.value) is far
 * from its own past, by one of the methods of anomaly.h: context (the
 * default) and seasonal in constant memory (context.c), a change of
 * distribution (entropy, entropy.c), or z-score or
 * median absolute deviation over the last n values (within
 * anomaly.window), or an exponentially weighted mean and variance (ewma).
 * `when`, if given, must also hold; the state machine of key_step() runs
 * on the verdict. Alerts carry the value, its score in the method's units
 * and the episode's peak anomaly score (0..1); with --anomaly-score the
 * engine attaches the record's anomaly score to the record passed through.
 *
 * A key's extras hold its history, kept even while the key is inactive:
 * zscore and mad a ring of up to n values (x->v) and their times (x->ts)
 * from x->head, grown as the history grows; ewma keeps em, ev, seen and
 * its largest recent deviation (one double in x->v); context and seasonal
 * CTX_NV doubles in x->v, entropy RE_NV. The checkpoint holds
 * rings whole (cap slots).
 */
#include "kind.h"
#include "anomaly.h"

#include <math.h>
#include <stdlib.h>

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

/* How many deviations d is, given the spread sd and the largest deviation
 * mx of the key's recent past: the spread is floored at mx / threshold, so a
 * value scores past the threshold only when it is also further out than
 * anything the key did lately. A key that routinely spikes (idle at 0.1%,
 * often at 100%) has a small spread, and without the floor every routine
 * spike would score hundreds of deviations (tests/bench/nab: mad 2.65 before,
 * zscore's alerts 35.9); a Gaussian key's largest of n values is about 3.3
 * deviations, under the default threshold, so the floor leaves it alone. */
static double deviations(const struct rule *r, double d, double sd, double mx)
{
	double s = sd > mx / r->an_threshold ? sd : mx / r->an_threshold;
	if (d == 0)
		return 0;
	return s > 0 ? d / s : INFINITY;
}

/* zscore and mad: the score of v against the n values of the history tmp
 * (reordered) */
static double history_score(const struct rule *r, double *tmp, uint32_t n, double v)
{
	double c, sd, mx = 0;
	if (r->an == AN_ZSCORE) {
		double s = 0, q = 0;
		for (uint32_t i = 0; i < n; i++)
			s += tmp[i];
		c = s / n;
		for (uint32_t i = 0; i < n; i++) {
			q += (tmp[i] - c) * (tmp[i] - c);
			mx = fmax(mx, fabs(tmp[i] - c));
		}
		sd = sqrt(q / n);
	} else {
		/* the MAD scaled to a normal law's deviation; a quantised or
		 * mostly flat history has a zero MAD, and the floor of
		 * deviations() is then the spread */
		c = median(tmp, n);
		for (uint32_t i = 0; i < n; i++) {
			tmp[i] = fabs(tmp[i] - c);
			mx = fmax(mx, tmp[i]);
		}
		sd = median(tmp, n) / 0.6745;
	}
	return deviations(r, fabs(v - c), sd, mx);
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
	if (r->an == AN_EWMA) {
		/* x->v[0]: the largest deviation, fading by 1/e over n values
		 * (what a ring of n would remember); checked as it is used */
		if (!x->v)
			x->v = xcalloc(1, sizeof *x->v);
		if (!(x->v[0] >= 0 && isfinite(x->v[0])))
			x->v[0] = 0;
		*score = deviations(r, fabs(v - x->em), sqrt(x->ev), x->v[0]);
		return x->seen >= r->an_warmup;
	}
	uint32_t n = x->n;
	if (!n) {
		*score = 0;
		return false;
	}
	double *tmp = xmalloc(n * sizeof *tmp);
	for (uint32_t i = 0; i < n; i++)
		tmp[i] = x->v[(x->head + i) % x->cap];
	*score = history_score(r, tmp, n, v);
	free(tmp);
	return n >= r->an_warmup;
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
			x->v[0] = fmax(fabs(d), x->v[0] * (1 - r->an_alpha / 2));
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

/* The value's score in the method's units, and in 0..1 (0 while warming
 * up); true when it is past the threshold. */
static bool anomaly_judge(struct rule *r, struct kext *x, int64_t t, double v, double *score,
			  double *s01)
{
	bool warm;
	if (an_scored(r->an)) {
		warm = r->an == AN_ENTROPY ? re_step(r, x, t, v, score)
					   : ctx_step(r, x, t, v, score);
		*s01 = warm ? *score : 0;
		return warm && *score >= r->an_threshold;
	}
	warm = anomaly_score(r, x, t, v, score);
	anomaly_add(r, x, t, v);
	*s01 = !warm ? 0 : isinf(*score) ? 1 : *score / (*score + r->an_threshold);
	return warm && *score > r->an_threshold;
}

static void anomaly_record(struct engine *e, struct rule *r, struct kstate *k, struct rec *rc,
			   int64_t t, bool c)
{
	double v, s01;
	if (ex_number(e, r, &r->an_value, rc, "anomaly.value", &v) < 0 || isnan(v))
		return;
	struct kext *x = kstate_ext(k);
	struct extra ex = { .has_value = true, .value = v, .has_score = true, .has_peak = true };
	bool over = anomaly_judge(r, x, t, v, &ex.score, &s01) && c;
	if (!(e->rec_score >= s01))
		e->rec_score = s01;
	/* the episode's peak: from its first record over the threshold to
	 * the one that resolves it */
	if (k->st == ST_INACTIVE)
		x->peak = 0;
	if ((over || k->st != ST_INACTIVE) && s01 > x->peak)
		x->peak = s01;
	ex.peak = x->peak;
	key_step(e, r, k, t, over, rc, &ex);
}

static void anomaly_save(const struct rule *r, const struct kext *x, uint32_t *nts, size_t *nv)
{
	if (an_scored(r->an)) {
		*nts = 0;
		*nv = x->v ? an_nv(r->an) : 0;
		return;
	}
	if (r->an == AN_EWMA) {
		*nts = 0;
		*nv = x->v ? 1 : 0;
		return;
	}
	*nts = *nv = x->cap;
}

static bool anomaly_restore(const struct rule *r, struct kext *x, uint32_t cap, uint32_t nts,
			    uint32_t nv)
{
	if (an_scored(r->an)) {
		/* the values are checked as they are used (ctx_step) */
		x->n = x->cap = x->head = 0;
		return nts == 0 && (nv == an_nv(r->an) || nv == 0);
	}
	if (r->an == AN_EWMA) {
		/* em, ev, seen and the largest deviation (x->v[0], absent
		 * from older states) */
		x->n = x->cap = x->head = 0;
		return nts == 0 && nv <= 1;
	}
	x->cap = cap;
	if (cap > r->an_n || nts != cap || nv != cap || x->n > cap || (cap && x->head >= cap)) {
		x->n = x->cap = x->head = 0; /* not ours: start again */
		return false;
	}
	return true;
}

const struct kind_ops kind_anomaly = {
	.name = "anomaly",
	.record = anomaly_record,
	.save = anomaly_save,
	.restore = anomaly_restore,
};
