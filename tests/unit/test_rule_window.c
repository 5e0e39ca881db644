/* Unit tests of cce-rule's window kind (cmd/cce-rule/window.c). */
#include "rule_kit.h"

#define SLIDING "[{\"name\":\"w\",\"key\":\".d\",\"window\":{\"size\":\"10s\"}," \
	"\"aggregate\":{\"avg\":\"avg(.t)\",\"n\":\"count\",\"p\":\"p90(.t)\"},\"when\":\".avg > 50\"}]"
#define SESSION "[{\"name\":\"s\",\"key\":\".d\",\"window\":{\"gap\":\"5s\"}," \
	"\"aggregate\":{\"n\":\"count\"},\"when\":\"true\"}]"
#define COUNT "[{\"name\":\"n\",\"window\":{\"count\":3}," \
	"\"aggregate\":{\"sum\":\"sum(.t)\"},\"when\":\".sum > 5\"}]"

static void sliding(void)
{
	struct kit k;
	ok(kit_start(&k, SLIDING) != NULL, "sliding: rules load");
	struct rule *r = kit_rule(&k, "w");
	ok(r->kind == RK_WINDOW && kind_of(r) == &kind_window, "a rule with window is a window rule");
	ok(kind_window.flags & KF_WINDOWED, "its records are collected by event time");
	kit_feed(&k, "{\"ts\":1000,\"d\":\"a\",\"t\":40}");
	kit_feed(&k, "{\"ts\":2000,\"d\":\"a\",\"t\":80}");
	struct kstate *ks = kit_key(&k, "w", "\"a\"");
	ok(ks && ks->x->n == 2 && ks->x->ts[1] == 2000 && r->nargs == 1 && ks->x->v[1] == 80,
	   "a key's entries: their times and their distinct aggregate arguments");
	kit_feed(&k, "{\"ts\":500,\"d\":\"a\",\"t\":90}");
	ok(r->rt->late == 1 && ks->x->n == 2,
	   "a record behind the watermark is late: counted, not collected");
	ok(kit_due(&k, "w", "\"a\"") == 10000, "due when the window [0, 10s) ends");
	ok(kit_roundtrip(&k, SLIDING), "the entries and their values are saved and restored");
	ok(strcmp(kit_out(&k), "") == 0, "nothing before the window closes");
	kit_feed(&k, "{\"ts\":10000,\"d\":\"b\",\"t\":0}");
	const char *o = kit_out(&k);
	ok(kit_count(o, "\"state\":\"firing\"") == 1 &&
	   kit_count(o, "\"record\":{\"key\":\"a\",\"start\":0,\"end\":10000,"
			"\"avg\":60,\"n\":2,\"p\":80}") == 1,
	   "the watermark closes it: the aggregate is the record: %s", t_show(o));
	ok(ks->x->n == 0, "the closed window's entries are gone");
	kit_feed(&k, "{\"ts\":100,\"d\":\"a\",\"t\":99}");
	ok(r->rt->late == 2 && !kit_key(&k, "w", "\"a\"")->x->n,
	   "late after its window closed: counted, not collected");
	struct kstate *b = kit_key(&k, "w", "\"b\"");
	kind_window.idle(k.e, r, b, 19999);
	ok(kit_due(&k, "w", "\"b\"") == 20000, "idle: b's window is due at 20s");
	kind_window.idle(k.e, r, b, 20000);
	ok(!kit_key(&k, "w", "\"b\"") && strcmp(kit_out(&k), "") == 0,
	   "closed, when false: nothing more due, no alert, the key forgotten");
	kit_stop(&k);
}

static void session(void)
{
	struct kit k;
	ok(kit_start(&k, SESSION) != NULL, "session: rules load");
	struct rule *r = kit_rule(&k, "s");
	kit_feed(&k, "{\"ts\":0,\"d\":\"a\"}");
	kit_feed(&k, "{\"ts\":3000,\"d\":\"a\"}");
	struct kstate *ks = kit_key(&k, "s", "\"a\"");
	ok(ks->x->wstart == 0 && ks->x->wlast == 3000 && kit_due(&k, "s", "\"a\"") == 8000,
	   "a session runs from its first record to its last, due a gap later");
	kind_window.idle(k.e, r, ks, 7999);
	ok(kit_due(&k, "s", "\"a\"") == 8000, "idle before the gap ends: still open");
	ok(kit_roundtrip(&k, SESSION), "an open session is saved and restored");
	kind_window.idle(k.e, r, ks, 8000);
	ok(kit_due(&k, "s", "\"a\"") == INT64_MAX, "the gap ends: closed");
	const char *o = kit_out(&k);
	ok(kit_count(o, "{\"key\":\"a\",\"start\":0,\"end\":8000,\"n\":2}") == 1,
	   "from its start to its last record plus the gap: %s", t_show(o));
	kit_stop(&k);
}

static void count(void)
{
	struct kit k;
	ok(kit_start(&k, COUNT) != NULL, "count: rules load");
	struct rule *r = kit_rule(&k, "n");
	kit_feed(&k, "{\"ts\":0,\"t\":1}");
	kit_feed(&k, "{\"ts\":1000,\"t\":2}");
	ok(strcmp(kit_out(&k), "") == 0 && kmap_first_due(&r->rt->keys) == INT64_MAX,
	   "a count window waits for its records, never for time");
	ok(kit_roundtrip(&k, COUNT), "its entries are saved and restored");
	kit_feed(&k, "{\"ts\":2000,\"t\":3}");
	const char *o = kit_out(&k);
	ok(kit_count(o, "{\"key\":null,\"start\":0,\"end\":2000,\"sum\":6}") == 1 &&
	   kit_count(o, "\"state\":\"firing\"") == 1, "the third record closes it: %s", t_show(o));
	kit_stop(&k);
}

int main(void)
{
	sliding();
	session();
	count();
	return done_testing();
}
