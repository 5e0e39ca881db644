/*
 * anomaly methods: how an anomaly rule scores a value against its key's
 * past (cmd/cce-rule/anomaly.c drives them; it is the anomaly kind).
 *
 * Every method gives each value an anomaly score from 0 to 1 (0.5 at the
 * method's point of alarm) before the value joins the key's state. zscore,
 * ewma and mad judge by how many deviations a value is from the history,
 * the deviation floored so that only a value further out than the key's
 * recent largest can pass the threshold (their threshold is in
 * deviations: the score is z / (z + threshold));
 * context and seasonal (context.c) and entropy (entropy.c) keep constant
 * state per key, CTX_NV or RE_NV
 * doubles in the key's extras (x->v), and their threshold is on the
 * score itself. Internal to cce-rule.
 */
#ifndef CCE_RULE_ANOMALY_H
#define CCE_RULE_ANOMALY_H

#include <stdbool.h>
#include <stdint.h>

#include "keys.h"
#include "rule.h"

/* context: the value's level (its sixth of the key's range) after the
 * previous one's; seasonal: the same time of day in slots of 30 minutes */
enum { CTX_LEVELS = 6, CTX_SLOTS = 48 };
/* lo, hi, previous level, transitions seen, residual mean and variance,
 * then the slots' means and counts */
enum { CTX_LO, CTX_HI, CTX_PREV, CTX_SEEN, CTX_RM, CTX_RV, CTX_SLOT,
       CTX_NV = CTX_SLOT + 2 * CTX_SLOTS };

/* entropy (entropy.c): a window of RE_W values binned in RE_BINS bins of
 * the range lo..hi, and up to RE_H hypotheses (RE_BINS counts and how
 * often each was seen) */
enum { RE_W = 52, RE_BINS = 5, RE_H = 32 };
enum { RE_LO, RE_HI, RE_HEAD, RE_N, RE_NH, RE_RING, RE_HYP = RE_RING + RE_W,
       RE_NV = RE_HYP + RE_H * (RE_BINS + 1) };

/* The methods whose threshold is on the 0..1 score. */
static inline bool an_scored(enum anomaly_method m)
{
	return m == AN_CONTEXT || m == AN_SEASONAL || m == AN_ENTROPY;
}

/* The number of doubles of a scored method's state. */
static inline uint32_t an_nv(enum anomaly_method m)
{
	return m == AN_ENTROPY ? RE_NV : CTX_NV;
}

/* The score of v at t for a context or seasonal rule, then v joins the
 * key's state (x->v made on first use). False while warming up. */
bool ctx_step(const struct rule *r, struct kext *x, int64_t t, double v, double *score);
/* The same for an entropy rule. */
bool re_step(const struct rule *r, struct kext *x, int64_t t, double v, double *score);

#endif
