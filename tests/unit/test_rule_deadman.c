/* Unit tests of cce-rule's deadman kind (cmd/cce-rule/deadman.c). */
#include "rule_kit.h"

#define RULES "[{\"name\":\"dm\",\"key\":\".d\",\"absent\":\"10s\",\"repeat\":\"5s\"}]"

int main(void)
{
	struct kit k;
	ok(kit_start(&k, RULES) != NULL, "rules load");
	struct rule *r = kit_rule(&k, "dm");
	ok(r->kind == RK_DEADMAN && kind_of(r) == &kind_deadman, "a rule with absent is a deadman");

	kit_feed(&k, "{\"ts\":0,\"d\":\"a\"}");
	kit_feed(&k, "{\"ts\":1000,\"d\":\"b\"}");
	struct kstate *a = kit_key(&k, "dm", "\"a\""), *b = kit_key(&k, "dm", "\"b\"");
	ok(a && a->last_seen == 0 && b && b->last_seen == 1000, "it remembers when each key was seen");
	ok(kmap_first_due(&r->rt->keys) == 10000 && kit_due(&k, "dm", "\"b\"") == 11000,
	   "each key is queued for when it falls silent, the first of them first");
	kind_deadman.idle(k.e, r, a, 9999);
	ok(kit_due(&k, "dm", "\"a\"") == 10000 && a->st == ST_INACTIVE,
	   "idle before it: nothing, due at the same time");
	ok(kit_roundtrip(&k, RULES), "the keys are saved and restored");
	kit_feed(&k, "{\"ts\":10500,\"d\":\"b\"}");
	const char *o = kit_out(&k);
	ok(kit_count(o, "\"state\":\"firing\"") == 1 && kit_count(o, "\"key\":\"a\",\"state\"") == 1 &&
	   kit_count(o, "\"record\":{\"key\":\"a\",\"last_seen\":0}") == 1 &&
	   kit_count(o, "\"ts\":10000") == 1,
	   "the watermark passes a's silence: it fires at last_seen + absent: %s", t_show(o));
	kind_deadman.idle(k.e, r, a, 20000);
	ok(kit_due(&k, "dm", "\"a\"") == 25000,
	   "idle: it repeats every 5s and is queued for the next repeat");
	o = kit_out(&k);
	ok(kit_count(o, "\"state\":\"firing\"") == 2, "twice (15s, 20s): %s", t_show(o));
	kit_feed(&k, "{\"ts\":21000,\"d\":\"a\"}");
	o = kit_out(&k);
	ok(kit_count(o, "\"state\":\"resolved\"") == 1 && kit_count(o, "\"last_seen\":21000") == 1,
	   "a speaks again: resolved: %s", t_show(o));
	ok(r->rt->keys.n == 2, "every key seen is remembered");
	ok(kit_due(&k, "dm", "\"a\"") == 31000, "a is queued for its next silence");
	kit_stop(&k);
	return done_testing();
}
