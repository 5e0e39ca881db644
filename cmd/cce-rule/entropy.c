/*
 * entropy: an anomaly method that watches the distribution of a key's
 * values change, in the spirit of the relative-entropy detector of Wang et
 * al. (NAB's relativeEntropy): the histogram of the last RE_W values, in
 * RE_BINS bins of the key's range, is compared with the histograms seen
 * before (hypotheses); one within RE_T of relative entropy (2 W KL, a
 * chi-square of RE_BINS - 1 degrees of freedom at 1%) agrees with it. A
 * window that agrees with no hypothesis scores 1 (and becomes one), else 0;
 * the nearest agreeing hypothesis counts it.
 *
 * NAB's detector bins on the whole series' range, known before it starts;
 * a key only knows its range so far. When a value leaves it, the range
 * grows by a quarter beyond the value (so that the next small new extreme
 * does not bin again) and the hypotheses, binned on the old range, are
 * forgotten. On NAB's dev data (tests/bench/nab) a prototype scored 43
 * with the bare running range, 59 with this, 62 with the whole range.
 *
 * Constant memory: RE_NV doubles in the key's extras (x->v), checked as
 * they are used, at most RE_H hypotheses (past that, new ones are scored
 * but not kept).
 */
#include "anomaly.h"

#include <math.h>
#include <string.h>

#include "buf.h"

#define RE_T 13.2767 /* chi-square, 4 degrees of freedom, p 0.01 */

static int re_bin(const double *s, double v)
{
	double step = (s[RE_HI] - s[RE_LO]) / RE_BINS;
	/* clamped before the conversion: a value far outside the range (a
	 * state file's) must not overflow an int */
	double b = step > 0 ? ceil((v - s[RE_LO]) / step) - 1 : 0;
	return !(b >= 0) ? 0 : b >= RE_BINS ? RE_BINS - 1 : (int)b;
}

/* 2 W KL(p || q) of two histograms of W counts: infinite when q misses
 * a bin p has */
static double re_div(const double *p, const double *q)
{
	double d = 0;
	for (int i = 0; i < RE_BINS; i++) {
		if (p[i] <= 0)
			continue;
		if (!(q[i] > 0))
			return INFINITY;
		d += p[i] * log(p[i] / q[i]);
	}
	return 2 * d;
}

static void re_check(struct kext *x, double v)
{
	double *s = x->v;
	if (!s) {
		s = x->v = xcalloc(RE_NV, sizeof *x->v);
		s[RE_LO] = s[RE_HI] = v;
	}
	if (!(s[RE_LO] <= s[RE_HI]) || !isfinite(s[RE_LO]) || !isfinite(s[RE_HI]))
		s[RE_LO] = s[RE_HI] = v;
	if (!(s[RE_HEAD] >= 0 && s[RE_HEAD] < RE_W) || !(s[RE_N] >= 0 && s[RE_N] <= RE_W) ||
	    !(s[RE_NH] >= 0 && s[RE_NH] <= RE_H)) {
		s[RE_HEAD] = s[RE_N] = s[RE_NH] = 0;
	}
	for (int i = 0; i < RE_W; i++)
		if (!isfinite(s[RE_RING + i]))
			s[RE_RING + i] = v;
}

bool re_step(const struct rule *r, struct kext *x, int64_t t, double v, double *score)
{
	re_check(x, v);
	double *s = x->v;
	x->seen++;
	if (v < s[RE_LO] || v > s[RE_HI]) {
		double span = s[RE_HI] - s[RE_LO];
		if (v < s[RE_LO])
			s[RE_LO] = v - span / 4;
		if (v > s[RE_HI])
			s[RE_HI] = v + span / 4;
		s[RE_NH] = 0;
	}
	int head = (int)s[RE_HEAD];
	s[RE_RING + head] = v;
	s[RE_HEAD] = (head + 1) % RE_W;
	if (s[RE_N] < RE_W)
		s[RE_N]++;
	*score = 0;
	if (s[RE_N] < RE_W || !(s[RE_HI] > s[RE_LO]))
		return false;
	double p[RE_BINS] = { 0 };
	for (int i = 0; i < RE_W; i++)
		p[re_bin(s, s[RE_RING + i])]++;
	int nh = (int)s[RE_NH], best = -1;
	double bd = RE_T;
	for (int h = 0; h < nh; h++) {
		double d = re_div(p, s + RE_HYP + h * (RE_BINS + 1));
		if (d < bd) {
			bd = d;
			best = h;
		}
	}
	if (best >= 0) {
		s[RE_HYP + best * (RE_BINS + 1) + RE_BINS] += 1;
	} else {
		*score = 1;
		if (nh < RE_H) {
			memcpy(s + RE_HYP + nh * (RE_BINS + 1), p, sizeof p);
			s[RE_HYP + nh * (RE_BINS + 1) + RE_BINS] = 1;
			s[RE_NH] = nh + 1;
		}
	}
	(void)t;
	return x->seen > r->an_warmup;
}
