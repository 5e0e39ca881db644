/* Unit tests of cce-rule's count kind (cmd/cce-rule/count.c). */
#include "rule_kit.h"

#define RULES "[{\"name\":\"c\",\"key\":\".d\",\"when\":\".err\"," \
	"\"count\":{\"n\":3,\"within\":\"10s\"}}]"

int main(void)
{
	struct kit k;
	ok(kit_start(&k, RULES) != NULL, "rules load");
	struct rule *r = kit_rule(&k, "c");
	ok(r->kind == RK_COUNT && kind_of(r) == &kind_count, "a rule with count is a count rule");
	ok(!(kind_count.flags & KF_SPARSE), "it keeps the times of keys not (yet) pending");

	kit_feed(&k, "{\"ts\":0,\"d\":\"a\",\"err\":true}");
	kit_feed(&k, "{\"ts\":1000,\"d\":\"a\",\"err\":false}");
	kit_feed(&k, "{\"ts\":2000,\"d\":\"a\",\"err\":true}");
	struct kstate *ks = kit_key(&k, "c", "\"a\"");
	ok(ks && ks->x && ks->x->n == 2 && ks->x->ts[0] == 0 && ks->x->ts[1] == 2000,
	   "the key keeps the times its condition held");
	ok(strcmp(kit_out(&k), "") == 0, "twice is not three times");
	ok(kit_roundtrip(&k, RULES), "the times are saved and restored");
	kit_feed(&k, "{\"ts\":11000,\"d\":\"a\",\"err\":true}");
	ok(ks->x->n == 2 && ks->x->ts[0] == 2000, "a time past within goes: %u", ks->x->n);
	ok(strcmp(kit_out(&k), "") == 0, "three times, but not within 10s");
	kit_feed(&k, "{\"ts\":12000,\"d\":\"a\",\"err\":true}");
	ok(ks->x->n == 2 && strcmp(kit_out(&k), "") == 0, "2000 is not within 10s of 12000: twice");
	kit_feed(&k, "{\"ts\":13000,\"d\":\"a\",\"err\":true}");
	const char *o = kit_out(&k);
	ok(kit_count(o, "\"state\":\"firing\"") == 1, "three times within 10s: firing: %s", t_show(o));
	kit_feed(&k, "{\"ts\":14000,\"d\":\"a\",\"err\":true}");
	ok(ks->x->n == 3 && ks->x->ts[0] == 12000, "only the last n times are kept");
	ok(kit_roundtrip(&k, RULES), "a firing key is saved and restored");
	kit_feed(&k, "{\"ts\":30000,\"d\":\"a\",\"err\":false}");
	o = kit_out(&k);
	ok(kit_count(o, "\"state\":\"resolved\"") == 1, "the times age out: resolved: %s", t_show(o));
	ok(r->rt->keys.n == 0, "and the key, with nothing left, is forgotten");
	kit_stop(&k);
	return done_testing();
}
