/* Unit tests of cce-rule's context and seasonal anomaly methods
 * (cmd/cce-rule/context.c): known inputs, known scores. */
#include "rule_kit.h"

#include <math.h>

#define CONTEXT "[{\"name\":\"c\",\"anomaly\":{\"value\":\".v\",\"warmup\":2}}]"
#define SEASONAL "[{\"name\":\"s\",\"anomaly\":{\"method\":\"seasonal\",\"value\":\".v\"}}]"

/* the number after field in out, NaN when absent */
static double num_after(const char *out, const char *field)
{
	const char *p = strstr(out, field);
	return p ? strtod(p + strlen(field), NULL) : NAN;
}

/* rules that must not load: the kit has nothing to stop but its directory */
static bool refused(const char *rules)
{
	struct kit k;
	if (kit_start(&k, rules))
		return kit_stop(&k), false;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", k.dir);
	return system(cmd) == 0;
}

static void defaults(void)
{
	struct kit k;
	ok(kit_start(&k, "[{\"name\":\"d\",\"anomaly\":{\"value\":\".v\"}}]") != NULL,
	   "a rule with only anomaly.value loads");
	struct rule *r = kit_rule(&k, "d");
	ok(r->an == AN_CONTEXT && r->an_threshold == 0.5 && r->an_warmup == 100 && r->an_n == 1000,
	   "it is a context rule, threshold 0.5, warmup 100, n 1000");
	ok(strstr(r->desc, "\"method\":\"context\"") != NULL, "--check shows the method: %s", r->desc);
	kit_stop(&k);
	ok(refused("[{\"name\":\"d\",\"anomaly\":{\"value\":\".v\",\"threshold\":3}}]"),
	   "a context threshold of 3 (not a score) is refused");
	ok(refused("[{\"name\":\"d\",\"anomaly\":{\"method\":\"cad\",\"value\":\".v\"}}]"),
	   "an unknown method is refused");
	ok(kit_start(&k, "[{\"name\":\"d\",\"anomaly\":{\"method\":\"zscore\",\"value\":\".v\"}}]") != NULL &&
	   kit_rule(&k, "d")->an_threshold == 3.5 && kit_rule(&k, "d")->an_warmup == 30,
	   "zscore keeps its threshold in deviations (3.5) and warmup 30");
	kit_stop(&k);
}

static void context(void)
{
	struct kit k;
	ok(kit_start(&k, CONTEXT) != NULL, "context: rules load");
	kit_feed(&k, "{\"ts\":0,\"v\":0}");
	kit_feed(&k, "{\"ts\":1,\"v\":10}");
	ok(strcmp(kit_out(&k), "") == 0, "nothing while warming up");
	struct kstate *ks = kit_key(&k, "c", "null");
	double *s = ks->x->v;
	ok(s[CTX_LO] == 0 && s[CTX_HI] == 10 && s[CTX_PREV] == 5 && s[CTX_SEEN] == 32 &&
	   ks->x->em == 5 && ks->x->ev == 25,
	   "range 0..10, level 5 after 0 (transition 0 -> 5 seen), mean 5, variance 25");
	/* 0: one deviation (|0-5|/5), and level 0 never followed level 5:
	 * 0.5 + 0.5 * 1/(1+7) */
	kit_feed(&k, "{\"ts\":2,\"v\":0}");
	const char *o = kit_out(&k);
	ok(kit_count(o, "\"state\":\"firing\"") == 1 && fabs(num_after(o, "\"score\":") - 0.5625) < 1e-12 &&
	   fabs(num_after(o, "\"peak_score\":") - 0.5625) < 1e-12,
	   "a transition never seen fires, score 0.5 + 0.5 z/(z+7) = 0.5625: %s", t_show(o));
	ok(kit_roundtrip(&k, CONTEXT), "its state is saved and restored whole");
	/* 10: mean 10/3, variance 200/9: z = sqrt(2); 0 -> 5 was seen */
	kit_feed(&k, "{\"ts\":3,\"v\":10}");
	o = kit_out(&k);
	ok(kit_count(o, "\"state\":\"resolved\"") == 1 &&
	   fabs(num_after(o, "\"score\":") - sqrt(2) / (sqrt(2) + 7)) < 1e-12 &&
	   fabs(num_after(o, "\"peak_score\":") - 0.5625) < 1e-12,
	   "a known transition: resolved, score z/(z+7) with z = sqrt 2, the episode's peak kept: %s",
	   t_show(o));
	struct kit *twin = k.twins[0];
	kit_feed(twin, "{\"ts\":3,\"v\":10}");
	ok(strcmp(kit_out(twin), o) == 0, "the restored state goes on the same way");
	uint32_t nts;
	size_t nv;
	kind_anomaly.save(kit_rule(&k, "c"), ks->x, &nts, &nv);
	ok(nts == 0 && nv == CTX_NV, "it saves %d numbers and no times", CTX_NV);
	struct kext bad = { 0 };
	ok(!kind_anomaly.restore(kit_rule(&k, "c"), &bad, 4, 4, 4) && bad.n == 0,
	   "a saved ring is not a context state: the key starts again");
	/* a damaged state: what is not a sane number starts again */
	s[CTX_PREV] = NAN;
	s[CTX_SEEN] = -1;
	s[CTX_LO] = INFINITY;
	kit_feed(&k, "{\"ts\":4,\"v\":10}");
	ok(s[CTX_PREV] == 0 && s[CTX_SEEN] == 0 && s[CTX_LO] == 10 && s[CTX_HI] == 10,
	   "a damaged state is mended as used (range 10..10, level 0, no transition)");
	kit_stop(&k);
}

static void flat(void)
{
	struct kit k;
	ok(kit_start(&k, CONTEXT) != NULL, "flat: rules load");
	for (int i = 0; i < 50; i++) {
		char rec[64];
		snprintf(rec, sizeof rec, "{\"ts\":%d,\"v\":7}", i);
		kit_feed(&k, rec);
	}
	ok(strcmp(kit_out(&k), "") == 0, "a flat series scores 0");
	kit_feed(&k, "{\"ts\":50,\"v\":8}");
	const char *o = kit_out(&k);
	/* no deviation: the range's thousandth (0.001) stands in, and level
	 * 5 never followed level 0 */
	ok(kit_count(o, "\"state\":\"firing\"") == 1 &&
	   fabs(num_after(o, "\"peak_score\":") - (0.5 + 0.5 * 1000 / 1007.0)) < 1e-12,
	   "the first change after it: 1000 deviations and a new transition: %s", t_show(o));
	kit_stop(&k);
}

/* one record per half hour, 0 and 100 by turns: the time of day explains
 * it all, the long-run mean (50, one deviation away) does not */
static void seasonal(void)
{
	struct kit k;
	ok(kit_start(&k, SEASONAL) != NULL, "seasonal: rules load");
	char rec[64];
	for (int i = 0; i < 3 * 48; i++) {
		snprintf(rec, sizeof rec, "{\"ts\":%d,\"v\":%d}", i * 1800000, i % 2 * 100);
		kit_feed(&k, rec);
	}
	ok(strcmp(kit_out(&k), "") == 0, "three days of the same: nothing");
	struct kstate *ks = kit_key(&k, "s", "null");
	ok(fabs(ks->x->em - 50) < 1e-9 && fabs(ks->x->ev - 2500) < 1e-6 && ks->x->v[CTX_RV] == 0,
	   "mean 50, variance 2500, the time of day leaves no residual");
	snprintf(rec, sizeof rec, "{\"ts\":%d,\"v\":100}", 3 * 48 * 1800000);
	kit_feed(&k, rec);
	const char *o = kit_out(&k);
	/* the residual's deviation is 0: the range's thousandth (0.1) stands
	 * in, 100 / 0.1 = 1000 deviations */
	ok(kit_count(o, "\"state\":\"firing\"") == 1 &&
	   fabs(num_after(o, "\"score\":") - 1000.0 / 1007) < 1e-9,
	   "100 at a time of day that is always 0 fires, score 1000/1007: %s", t_show(o));
	ok(kit_roundtrip(&k, SEASONAL), "its state is saved and restored whole");
	kit_stop(&k);
}

int main(void)
{
	defaults();
	context();
	flat();
	seasonal();
	return done_testing();
}
