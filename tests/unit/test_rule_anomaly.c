/* Unit tests of cce-rule's anomaly kind (cmd/cce-rule/anomaly.c). */
#include "rule_kit.h"

#include <math.h>

#define ZSCORE "[{\"name\":\"z\",\"key\":\".d\"," \
	"\"anomaly\":{\"method\":\"zscore\",\"value\":\".v\"," \
	"\"n\":4,\"threshold\":2,\"warmup\":3}}]"
#define MAD "[{\"name\":\"m\",\"anomaly\":{\"method\":\"mad\",\"value\":\".v\"," \
	"\"n\":5,\"threshold\":3.5,\"warmup\":5}}]"
#define EWMA "[{\"name\":\"e\",\"anomaly\":{\"method\":\"ewma\",\"value\":\".v\"," \
	"\"alpha\":0.5,\"threshold\":3,\"warmup\":2}}]"

static void zscore(void)
{
	struct kit k;
	ok(kit_start(&k, ZSCORE) != NULL, "zscore: rules load");
	struct rule *r = kit_rule(&k, "z");
	ok(r->kind == RK_ANOMALY && kind_of(r) == &kind_anomaly, "a rule with anomaly is an anomaly rule");
	kit_feed(&k, "{\"ts\":0,\"d\":\"a\",\"v\":10}");
	kit_feed(&k, "{\"ts\":1,\"d\":\"a\",\"v\":1000}");
	ok(strcmp(kit_out(&k), "") == 0, "nothing while warming up");
	kit_feed(&k, "{\"ts\":2,\"d\":\"a\",\"v\":12}");
	kit_feed(&k, "{\"ts\":3,\"d\":\"a\",\"v\":10}");
	kit_feed(&k, "{\"ts\":4,\"d\":\"a\",\"v\":12}");
	struct kstate *ks = kit_key(&k, "z", "\"a\"");
	ok(ks->x->n == 4 && ks->x->cap == 4 && ks->x->head == 1,
	   "the history is a ring of the last n values (cap %u, head %u)", ks->x->cap, ks->x->head);
	ok(ks->st == ST_INACTIVE && r->rt->keys.n == 1, "an inactive key keeps its history");
	ok(kit_roundtrip(&k, ZSCORE), "the ring is saved whole and restored");
	kit_feed(&k, "{\"ts\":5,\"d\":\"a\",\"v\":11}");
	ok(strcmp(kit_out(&k), "") == 0, "a usual value: nothing");
	kit_feed(&k, "{\"ts\":6,\"d\":\"a\",\"v\":5000}");
	const char *o = kit_out(&k);
	ok(kit_count(o, "\"state\":\"firing\"") == 1 && kit_count(o, "\"value\":5000") == 1 &&
	   kit_count(o, "\"score\":") == 1, "far from the history: firing, with value and score: %s",
	   t_show(o));
	kit_feed(&k, "{\"ts\":7,\"d\":\"a\"}");
	ok(strcmp(kit_out(&k), "") == 0 && ks->x->seen == 7, "a record without the value changes nothing");
	struct kext bad = { .n = 2, .head = 9 };
	ok(!kind_anomaly.restore(r, &bad, 4, 4, 4) && bad.cap == 0 && bad.n == 0 && bad.head == 0,
	   "a restored ring that is not this rule's starts again");
	kit_stop(&k);
}

static void ewma(void)
{
	struct kit k;
	ok(kit_start(&k, EWMA) != NULL, "ewma: rules load");
	kit_feed(&k, "{\"ts\":0,\"v\":10}");
	kit_feed(&k, "{\"ts\":1,\"v\":20}");
	struct kstate *ks = kit_key(&k, "e", "null");
	ok(ks->x->em == 15 && ks->x->ev == 25 && ks->x->n == 0,
	   "ewma keeps a mean and a variance, no ring (%g, %g)", ks->x->em, ks->x->ev);
	uint32_t nts;
	size_t nv;
	kind_anomaly.save(kit_rule(&k, "e"), ks->x, &nts, &nv);
	ok(nts == 0 && nv == 1 && ks->x->v[0] == 10,
	   "and saves one value, its largest recent deviation (%g)", ks->x->v ? ks->x->v[0] : -1);
	struct kext old = { .seen = 2 };
	ok(kind_anomaly.restore(kit_rule(&k, "e"), &old, 0, 0, 0) && old.cap == 0,
	   "a state saved without it is taken (the deviation starts again)");
	ok(!kind_anomaly.restore(kit_rule(&k, "e"), &old, 0, 0, 2), "two values are not ewma's");
	ok(kit_roundtrip(&k, EWMA), "its mean and variance are saved and restored");
	kit_feed(&k, "{\"ts\":2,\"v\":100}");
	const char *o = kit_out(&k);
	ok(kit_count(o, "\"state\":\"firing\"") == 1, "far from the mean: firing: %s", t_show(o));
	kit_stop(&k);
}

/* a mostly flat history: its MAD is zero, and a small change must not be
 * an infinite score: the spread is floored at the history's largest
 * deviation over the threshold */
static void mad_zero(void)
{
	struct kit k;
	ok(kit_start(&k, MAD) != NULL, "mad: rules load");
	kit_feed(&k, "{\"ts\":0,\"v\":5}");
	kit_feed(&k, "{\"ts\":1,\"v\":5}");
	kit_feed(&k, "{\"ts\":2,\"v\":5}");
	kit_feed(&k, "{\"ts\":3,\"v\":5}");
	kit_feed(&k, "{\"ts\":4,\"v\":9}");
	/* median 5, deviations 0 0 0 0 4: MAD 0, largest deviation 4 */
	kit_feed(&k, "{\"ts\":5,\"v\":6}");
	ok(strcmp(kit_out(&k), "") == 0, "a zero MAD: a small change scores 1 / (4 / 3.5), no alert");
	/* history 5 5 5 9 6: MAD 0, largest deviation 4 */
	kit_feed(&k, "{\"ts\":6,\"v\":20}");
	const char *o = kit_out(&k);
	const char *sc = strstr(o, "\"score\":");
	ok(kit_count(o, "\"state\":\"firing\"") == 1 && sc && fabs(strtod(sc + 8, NULL) - 15 / (4 / 3.5)) < 1e-9,
	   "a large one fires with 15 / (4 / 3.5) deviations: %s", t_show(o));
	kit_stop(&k);
}

/* a key that routinely spikes: its standard deviation is small against
 * its spikes, and a spike like those before is not an anomaly */
static void spiky(void)
{
	struct kit k;
	ok(kit_start(&k, "[{\"name\":\"z\",\"anomaly\":{\"method\":\"zscore\",\"value\":\".v\","
			 "\"n\":20,\"threshold\":3,\"warmup\":5}}]") != NULL, "spiky: rules load");
	char rec[64];
	for (int i = 0; i < 20; i++) {
		snprintf(rec, sizeof rec, "{\"ts\":%d,\"v\":%d}", i, i == 10 ? 100 : 0);
		kit_feed(&k, rec);
	}
	kit_out(&k); /* the first spike fired and resolved */
	/* mean 5, standard deviation sqrt(475) = 21.8, largest deviation 95:
	 * the spread is 95 / 3 */
	kit_feed(&k, "{\"ts\":20,\"v\":90}");
	ok(strcmp(kit_out(&k), "") == 0, "a spike within the last one's: 85 / (95 / 3) deviations, no alert");
	kit_stop(&k);
	ok(kit_start(&k, "[{\"name\":\"z\",\"anomaly\":{\"method\":\"zscore\",\"value\":\".v\","
			 "\"n\":20,\"threshold\":3,\"warmup\":5}}]") != NULL, "spiky: rules load again");
	for (int i = 0; i < 20; i++) {
		snprintf(rec, sizeof rec, "{\"ts\":%d,\"v\":%d}", i, i == 10 ? 100 : 0);
		kit_feed(&k, rec);
	}
	kit_out(&k); /* the first spike fired and resolved */
	kit_feed(&k, "{\"ts\":20,\"v\":120}");
	const char *o = kit_out(&k);
	const char *sc = strstr(o, "\"score\":");
	ok(kit_count(o, "\"state\":\"firing\"") == 1 && sc && fabs(strtod(sc + 8, NULL) - 115 / (95 / 3.0)) < 1e-9,
	   "one further out fires with 115 / (95 / 3) deviations: %s", t_show(o));
	kit_stop(&k);
}

#define ENTROPY "[{\"name\":\"re\",\"anomaly\":{\"method\":\"entropy\",\"value\":\".v\"," \
	"\"warmup\":60}}]"

/* a cycle of 0..9 keeps its distribution; a run of 5s changes it */
static void entropy(void)
{
	struct kit k;
	ok(kit_start(&k, ENTROPY) != NULL, "entropy: rules load");
	char rec[64];
	int t = 0;
	for (; t < 300; t++) {
		snprintf(rec, sizeof rec, "{\"ts\":%d,\"v\":%d}", t, t % 10);
		kit_feed(&k, rec);
	}
	ok(strcmp(kit_out(&k), "") == 0, "a steady cycle: no alert");
	struct kstate *ks = kit_key(&k, "re", "null");
	ok(ks->x->v && ks->x->v[RE_NH] >= 1 && ks->x->v[RE_LO] == 0 &&
	   fabs(ks->x->v[RE_HI] - 11.138916015625) < 1e-12,
	   "its hypotheses, on a range grown by a quarter past each new extreme (%g..%g, %g)",
	   ks->x->v[RE_LO], ks->x->v[RE_HI], ks->x->v[RE_NH]);
	ok(kit_roundtrip(&k, ENTROPY), "the window and hypotheses are saved and restored");
	int fired = -1;
	for (; t < 352 && fired < 0; t++) {
		snprintf(rec, sizeof rec, "{\"ts\":%d,\"v\":5}", t);
		kit_feed(&k, rec);
		if (kit_count(kit_out(&k), "\"state\":\"firing\"") == 1)
			fired = t;
	}
	/* 5 is in the cycle's middle bin: 2 W KL passes 13.28 when about a
	 * quarter of the window is 5s */
	ok(fired >= 310 && fired < 320, "a run of 5s fires within 20 records (%d)", fired - 300);
	uint32_t nts;
	size_t nv;
	kind_anomaly.save(kit_rule(&k, "re"), ks->x, &nts, &nv);
	ok(nts == 0 && nv == RE_NV, "it saves RE_NV numbers (%zu)", nv);
	struct kext other = { 0 };
	ok(!kind_anomaly.restore(kit_rule(&k, "re"), &other, 0, 0, CTX_NV),
	   "a context rule's state is not an entropy rule's");
	/* a damaged state: window values far outside the key's range are
	 * binned at its ends (an int conversion of 1e300 overflowed) */
	for (int i = 0; i < RE_W; i++)
		ks->x->v[RE_RING + i] = i % 2 ? 1e300 : -1e300;
	double score;
	re_step(kit_rule(&k, "re"), ks->x, t, 5, &score);
	ok(score == 1 || score == 0, "a window of values far outside the range is scored (%g)", score);
	kit_stop(&k);
}

int main(void)
{
	zscore();
	ewma();
	mad_zero();
	spiky();
	entropy();
	return done_testing();
}
