/*
 * context and seasonal: anomaly methods in constant memory per key
 * (CTX_NV doubles), after what scores well on the Numenta Anomaly
 * Benchmark (tests/bench/nab).
 *
 * seasonal: how many deviations the value is from its key's long-run mean
 * (exponentially weighted over the last n values), or from the mean of the
 * same half hour of the day when those explain the key better (the
 * residuals' variance under half the value's): a value inside the normal
 * range but wrong for the time of day counts. The score is z / (z + 7):
 * 0.5 at seven deviations, well past what noise gives.
 *
 * context: the same, and a value whose level (its sixth of the key's range
 * so far) has never followed the previous value's level (a transition new
 * to the key, in the spirit of CAD OSE's contexts) scores at least 0.5.
 * Sixths are coarse on purpose: noise moves within a level, a change of
 * regime makes a transition never seen. The key's range, not a constant,
 * is the scale everywhere, so a key whose deviation is zero (a flat or
 * quantised series) still scores a change by the range's thousandth.
 *
 * A restored state is checked as it is used: what is not a sane number
 * starts that part again rather than poisoning the key.
 */
#include "anomaly.h"

#include <math.h>

#include "buf.h"

/* seven deviations: the score's midpoint */
#define CTX_Z0 7.0
#define DAY_MS 86400000LL

static double z_of(double dev, double sd, double floor)
{
	double s = sd > floor ? sd : floor;
	if (dev == 0)
		return 0;
	return s > 0 ? dev / s : INFINITY;
}

/* a state read back from a file, or just made */
static void ctx_check(struct kext *x, double v)
{
	double *s = x->v;
	if (!s) {
		s = x->v = xcalloc(CTX_NV, sizeof *x->v);
		s[CTX_PREV] = -1;
		s[CTX_LO] = s[CTX_HI] = v;
		x->em = v;
		x->ev = 0;
	}
	if (!(s[CTX_LO] <= s[CTX_HI]) || !isfinite(s[CTX_LO]) || !isfinite(s[CTX_HI]))
		s[CTX_LO] = s[CTX_HI] = v;
	if (!(s[CTX_PREV] >= 0 && s[CTX_PREV] < CTX_LEVELS))
		s[CTX_PREV] = -1;
	if (!(s[CTX_SEEN] >= 0 && s[CTX_SEEN] < 0x1p36))
		s[CTX_SEEN] = 0;
	if (!isfinite(s[CTX_RM]) || !(s[CTX_RV] >= 0 && isfinite(s[CTX_RV])))
		s[CTX_RM] = s[CTX_RV] = 0;
	if (!isfinite(x->em) || !(x->ev >= 0 && isfinite(x->ev))) {
		x->em = v;
		x->ev = 0;
	}
}

/* deviations from the same half hour of the day; 0 until those explain the
 * key better than its long-run mean (ev: the value's variance) */
static double seasonal_z(const struct rule *r, struct kext *x, int64_t t, double v, double a,
			 double floor)
{
	double *s = x->v, *mean = s + CTX_SLOT, *cnt = mean + CTX_SLOTS, z = 0;
	int k = (int)(((t % DAY_MS) + DAY_MS) % DAY_MS * CTX_SLOTS / DAY_MS);
	if (!(cnt[k] >= 0 && cnt[k] <= 5) || !isfinite(mean[k]))
		cnt[k] = mean[k] = 0;
	if (cnt[k] > 0) {
		double res = v - mean[k], d = res - s[CTX_RM];
		if (x->seen > 100 && s[CTX_RV] < 0.5 * x->ev)
			z = z_of(fabs(res), sqrt(s[CTX_RV]), floor);
		s[CTX_RM] += a * d;
		s[CTX_RV] = (1 - a) * (s[CTX_RV] + a * d * d);
	}
	/* a slot follows its last five days */
	if (cnt[k] < 5)
		cnt[k]++;
	mean[k] += (v - mean[k]) / cnt[k];
	return z;
}

/* the transition from the previous level to v's: new to the key? */
static bool novel(struct kext *x, double v, double range)
{
	double *s = x->v;
	int l = range > 0 ? (int)((v - s[CTX_LO]) / range * CTX_LEVELS) : 0;
	if (l >= CTX_LEVELS)
		l = CTX_LEVELS - 1;
	bool nov = false;
	if (s[CTX_PREV] >= 0) {
		uint64_t seen = (uint64_t)s[CTX_SEEN];
		uint64_t bit = 1ULL << ((int)s[CTX_PREV] * CTX_LEVELS + l);
		nov = !(seen & bit);
		s[CTX_SEEN] = (double)(seen | bit);
	}
	s[CTX_PREV] = l;
	return nov;
}

bool ctx_step(const struct rule *r, struct kext *x, int64_t t, double v, double *score)
{
	ctx_check(x, v);
	double *s = x->v;
	x->seen++;
	double a = 1.0 / (double)(x->seen < r->an_n ? x->seen : r->an_n);
	if (v < s[CTX_LO])
		s[CTX_LO] = v;
	if (v > s[CTX_HI])
		s[CTX_HI] = v;
	double range = s[CTX_HI] - s[CTX_LO], floor = 1e-3 * range;
	double d = v - x->em;
	double z = x->seen > 1 ? z_of(fabs(d), sqrt(x->ev), floor) : 0;
	x->em += a * d;
	x->ev = (1 - a) * (x->ev + a * d * d);
	double zs = seasonal_z(r, x, t, v, a, floor);
	if (zs > z)
		z = zs;
	double g = isinf(z) ? 1 : z / (z + CTX_Z0);
	bool nov = novel(x, v, range);
	if (r->an == AN_CONTEXT && nov)
		g = 0.5 + 0.5 * g;
	*score = g;
	return x->seen > r->an_warmup;
}
