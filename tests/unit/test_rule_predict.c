/* Unit tests of cce-rule's predict kind (cmd/cce-rule/predict.c), on series
 * whose crossing time is known exactly. */
#include "rule_kit.h"

#include <math.h>

#define LINEAR "[{\"name\":\"disk\",\"key\":\".d\",\"predict\":{\"value\":\".v\"," \
	"\"window\":\"10m\",\"horizon\":\"1h\",\"method\":\"linear\"},\"when_forecast\":\"> 95\"}]"
#define FALLING "[{\"name\":\"low\",\"predict\":{\"value\":\".v\",\"window\":\"1h\"," \
	"\"horizon\":\"30m\"},\"when_forecast\":\"<= 10\"}]"
#define HW "[{\"name\":\"hw\",\"key\":\".d\",\"predict\":{\"method\":\"holt_winters\"," \
	"\"value\":\".v\",\"season\":\"4h\",\"step\":\"1h\",\"horizon\":\"5h\"}," \
	"\"when_forecast\":\"> 40\"}]"

static const int season[4] = { 3, -1, -3, 1 };

/* A line plus a season of 4 steps of an hour: 10 + 2j + season[j % 4]. */
static void hw_feed(struct kit *k, const char *d, int j)
{
	char rec[128];
	snprintf(rec, sizeof rec, "{\"ts\":%lld,\"d\":\"%s\",\"v\":%d}", j * 3600000LL, d,
		 10 + 2 * j + season[j % 4]);
	kit_feed(k, rec);
}

/* v = t/1min + 0.5 from t0, a record every 7s: with "> 95" over a horizon
 * of an hour, it first fires on the first record past 2,070,000ms after t0,
 * 2,072,000, and crosses at 5,670,000 (94.5 minutes). */
static void ramp(struct kit *k, long long t0, int from, int to)
{
	for (int i = from; i < to; i++) {
		char rec[128];
		long long t = i * 7000LL;
		snprintf(rec, sizeof rec, "{\"ts\":%lld,\"d\":\"a\",\"v\":%.17g}", t0 + t,
			 (double)t / 60000 + 0.5);
		kit_feed(k, rec);
	}
}

static void linear(long long t0, const char *what)
{
	struct kit k;
	ok(kit_start(&k, LINEAR) != NULL, "%s: rules load", what);
	struct rule *r = kit_rule(&k, "disk");
	ok(r->kind == RK_PREDICT && kind_of(r) == &kind_predict, "a rule with predict is a predict rule");
	ramp(&k, t0, 0, 296);
	ok(strcmp(kit_out(&k), "") == 0, "%s: nothing while the crossing is beyond the horizon", what);
	struct kstate *ks = kit_key(&k, "disk", "\"a\"");
	ok(ks->x->cap == PREDICT_BUCKETS * 5 && ks->x->seen == 296,
	   "the window is 32 buckets of five sums, however many records (cap %u)", ks->x->cap);
	ok(kit_roundtrip(&k, LINEAR), "%s: the sums are saved and restored", what);
	ramp(&k, t0, 296, 297);
	struct kit *twin = k.twins[k.ntwins - 1];
	ramp(twin, t0, 296, 297);
	char *o2 = xstrdup(kit_out(twin));
	const char *o = kit_out(&k);
	ok(strcmp(o, o2) == 0, "%s: the restored engine says what the first one says", what);
	free(o2);
	char want[128];
	snprintf(want, sizeof want, "\"ts\":%lld,\"since\":%lld,", t0 + 2072000, t0 + 2072000);
	ok(kit_count(o, "\"state\":\"firing\"") == 1 && kit_count(o, want) == 1,
	   "%s: firing on the first record whose horizon reaches the crossing: %s", what, t_show(o));
	snprintf(want, sizeof want, "\"crosses_at\":%lld,", t0 + 5670000);
	ok(kit_count(o, want) == 1, "%s: crossing at 94.5 minutes, to the ms", what);
	const char *f = strstr(o, "\"forecast\":");
	double fv = f ? strtod(f + 11, NULL) : 0;
	ok(fabs(fv - (5672000.0 / 60000 + 0.5)) < 1e-9, "%s: the forecast an hour ahead (%.12g)", what, fv);
	kit_stop(&k);
}

/* After the ramp, a flat series: once the window holds only it the line is
 * flat and the alert resolves, with the forecast and no crossing. */
static void resolves(void)
{
	struct kit k;
	kit_start(&k, LINEAR);
	ramp(&k, 0, 0, 300);
	kit_out(&k);
	int i = 300;
	const char *o = "";
	for (; i < 500 && !*o; i++) {
		char rec[128];
		snprintf(rec, sizeof rec, "{\"ts\":%d,\"d\":\"a\",\"v\":40}", i * 7000);
		kit_feed(&k, rec);
		o = kit_out(&k);
	}
	ok(kit_count(o, "\"state\":\"resolved\"") == 1 && kit_count(o, "\"crosses_at\"") == 0 &&
	   kit_count(o, "\"forecast\":") == 1, "a flat series resolves the alert: %s", t_show(o));
	/* the line through ramp and flat falls below 95 before the window has
	 * passed the ramp's last point, 2,093,000 */
	ok(i * 7000 > 2100000 && i * 7000 <= 2093000 + 600000 + 7000,
	   "between the end of the ramp and the end of its window (%d ms)", i * 7000);
	kit_stop(&k);
}

/* Past the threshold, the line already passes: a repeat says so with the
 * record's own time. */
static void already(void)
{
	struct kit k;
	kit_start(&k, "[{\"name\":\"disk\",\"key\":\".d\",\"repeat\":\"1m\",\"predict\":"
		      "{\"value\":\".v\",\"window\":\"10m\",\"horizon\":\"1h\"},"
		      "\"when_forecast\":\"> 95\"}]");
	ramp(&k, 0, 0, 820); /* to 5,733,000ms, 96.05: past 95 at 5,670,000 */
	const char *o = kit_out(&k);
	const char *last = o;
	for (const char *p = o; (p = strstr(p, "{\"rule\"")); p++)
		last = p;
	const char *ts = strstr(last, "\"ts\":");
	char want[64];
	snprintf(want, sizeof want, "\"crosses_at\":%lld,", ts ? atoll(ts + 5) : -1);
	ok(kit_count(o, "\"state\":\"firing\"") > 50 && atoll(ts + 5) > 5670000 &&
	   kit_count(last, want) == 1,
	   "a repeat past the threshold crosses at its own time: %s", t_show(last));
	kit_stop(&k);
}

/* Above the threshold and falling: the forecast passes now, not at the
 * horizon, and that is a crossing within it, at the record's time. */
static void above_falling(void)
{
	struct kit k;
	kit_start(&k, LINEAR);
	const char *o = "";
	int i;
	for (i = 0; i < 60 && !strstr(o, "resolved"); i++) {
		char rec[96];
		snprintf(rec, sizeof rec, "{\"ts\":%d,\"d\":\"a\",\"v\":%d}", i * 60000, 100 - i);
		kit_feed(&k, rec);
		o = kit_out(&k);
		if (i == 1)
			ok(kit_count(o, "\"state\":\"firing\"") == 1 &&
			   kit_count(o, "\"crosses_at\":60000,") == 1 && kit_count(o, "\"forecast\":39,") == 1,
			   "a line above the threshold passes now, falling to 39 in an hour: %s", t_show(o));
	}
	ok(i == 6 && kit_count(o, "\"state\":\"resolved\"") == 1,
	   "and resolves on the first record at or below it (95 at 5m)");
	kit_stop(&k);
}

static void falling(void)
{
	struct kit k;
	kit_start(&k, FALLING);
	/* v = 100 - t/1min, a record every 13s: 10 at 90 minutes; <= 10 within
	 * 30m from the first record at or past 60m, 3,601,000 */
	for (int i = 0; i <= 280; i++) {
		char rec[96];
		snprintf(rec, sizeof rec, "{\"ts\":%d,\"v\":%.17g}", i * 13000,
			 100 - i * 13000 / 60000.0);
		kit_feed(&k, rec);
	}
	const char *o = kit_out(&k);
	ok(kit_count(o, "\"state\":\"firing\"") == 1 && kit_count(o, "\"since\":3601000,") == 1 &&
	   kit_count(o, "\"crosses_at\":5400000,") == 1,
	   "a falling series fires with <=, crossing at 90 minutes: %s", t_show(o));
	kit_stop(&k);
}

static void holt_winters(void)
{
	struct kit k;
	ok(kit_start(&k, HW) != NULL, "holt_winters: rules load");
	for (int j = 0; j < 10; j++)
		hw_feed(&k, "a", j);
	ok(strcmp(kit_out(&k), "") == 0, "nothing while warming up (two seasons) or beyond reach");
	struct kstate *ks = kit_key(&k, "hw", "\"a\"");
	ok(fabs(ks->x->em - 26) < 1e-9 && fabs(ks->x->ev - 2) < 1e-9,
	   "level and trend of the last step done (8), exact (%.12g, %.12g)", ks->x->em, ks->x->ev);
	bool sea = true;
	for (int i = 0; i < 4; i++)
		sea = sea && fabs(ks->x->v[i] - season[i]) < 1e-9;
	ok(sea && ks->x->cap == 10, "the season, by step number (cap %u)", ks->x->cap);
	ok(kit_roundtrip(&k, HW), "the model is saved and restored");
	hw_feed(&k, "a", 10);
	hw_feed(k.twins[0], "a", 10);
	char *o2 = xstrdup(kit_out(k.twins[0]));
	const char *o = kit_out(&k);
	ok(strcmp(o, o2) == 0, "the restored model forecasts the same");
	free(o2);
	/* steps 10..15 within 5h; 35 at 14h, 41 at 15h: 40 at 14h50m */
	ok(kit_count(o, "\"since\":36000000,") == 1 && kit_count(o, "\"forecast\":41,") == 1 &&
	   kit_count(o, "\"crosses_at\":53400000,") == 1,
	   "fires at 10h, forecast 41 at 15h, crossing 40 at 14h50m: %s", t_show(o));

	/* the same series without step 9 (its forecast stands in): the same */
	for (int j = 0; j <= 10; j++)
		if (j != 9)
			hw_feed(&k, "b", j);
	o = kit_out(&k);
	ok(kit_count(o, "\"crosses_at\":53400000,") == 1, "a step without records is its forecast");
	kit_stop(&k);
}

/* A horizon that is not a whole number of steps: a later record of a step
 * reaches a step further. The crossing is found once per step, as far as
 * the step's last record can reach, and each record takes it only within
 * its own horizon. */
static void hw_reach(void)
{
	static const char *rules = "[{\"name\":\"hw\",\"key\":\".d\",\"predict\":{"
		"\"method\":\"holt_winters\",\"value\":\".v\",\"season\":\"4h\",\"step\":\"1h\","
		"\"horizon\":\"270m\"},\"when_forecast\":\"> 40\"}]";
	struct kit k;
	ok(kit_start(&k, rules) != NULL, "hw_reach: rules load");
	for (int j = 0; j <= 10; j++)
		hw_feed(&k, "a", j);
	/* at 10h it sees to 14h (35): nothing */
	ok(strcmp(kit_out(&k), "") == 0, "at 10h, 4h30m ahead is 14h30m: 35 at 14h, no crossing");
	struct kstate *ks = kit_key(&k, "hw", "\"a\"");
	ok(ks->x->ts && ks->x->ts[3] == 6 && ks->x->ts[4] == 53400000,
	   "the step's crossing is kept: 6 steps on, at 14h50m");
	kit_feed(&k, "{\"ts\":38400000,\"d\":\"a\",\"v\":31}");
	const char *o = kit_out(&k);
	ok(kit_count(o, "\"state\":\"firing\"") == 1 && kit_count(o, "\"forecast\":41,") == 1 &&
	   kit_count(o, "\"crosses_at\":53400000,") == 1,
	   "at 10h40m it sees 15h (41): fires, crossing at 14h50m: %s", t_show(o));
	kit_stop(&k);
}

/* A season with no trend never crosses; a line over its rising half would. */
static void season_only(void)
{
	struct kit k;
	kit_start(&k, HW);
	for (int j = 0; j < 40; j++) {
		char rec[96];
		snprintf(rec, sizeof rec, "{\"ts\":%lld,\"d\":\"s\",\"v\":%d}", j * 3600000LL,
			 36 + season[j % 4]);
		kit_feed(&k, rec);
	}
	ok(strcmp(kit_out(&k), "") == 0, "a season peaking at 39 never crosses 40");
	kit_stop(&k);
}

static void foreign(void)
{
	struct kit k;
	kit_start(&k, LINEAR);
	struct rule *r = kit_rule(&k, "disk");
	struct kext x = { .n = 2, .head = 9, .seen = 4 };
	ok(!kind_predict.restore(r, &x, 10, 0, 10) && x.cap == 0 && x.seen == 0,
	   "restored extras that are not this rule's start again");
	ok(kind_predict.restore(r, &x, 160, 0, 160) && x.cap == 160, "its own are taken");
	kit_stop(&k);
}

int main(void)
{
	linear(0, "from 0");
	linear(1733356800000LL, "at epoch times");
	resolves();
	already();
	above_falling();
	falling();
	holt_winters();
	hw_reach();
	season_only();
	foreign();
	return done_testing();
}
