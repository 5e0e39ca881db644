/* Unit tests of cce-rule's threshold kind (cmd/cce-rule/threshold.c). */
#include "rule_kit.h"

#define RULES "[{\"name\":\"hot\",\"key\":\".d\",\"when\":\".t > 80\",\"for\":\"10s\"}]"

int main(void)
{
	struct kit k;
	ok(kit_start(&k, RULES) != NULL, "rules load");
	struct rule *r = kit_rule(&k, "hot");
	ok(r->kind == RK_THRESHOLD && kind_of(r) == &kind_threshold,
	   "a rule without kind fields is a threshold rule");
	ok(kind_threshold.flags & KF_SPARSE, "it keeps state only for pending and firing keys");
	ok(kind_threshold.idle == NULL, "nothing falls due with time alone");

	kit_feed(&k, "{\"ts\":0,\"d\":\"a\",\"t\":10}");
	ok(r->rt->keys.n == 0, "a condition that does not hold makes no key");
	kit_feed(&k, "{\"ts\":1000,\"d\":\"a\",\"t\":90}");
	struct kstate *ks = kit_key(&k, "hot", "\"a\"");
	ok(ks && ks->st == ST_PENDING && ks->since == 1000, "it holds: the key is pending since then");
	ok(strcmp(kit_out(&k), "") == 0, "pending is not reported without --emit-pending");
	kit_feed(&k, "{\"ts\":5000,\"d\":\"a\",\"t\":95}");
	ok(strcmp(kit_out(&k), "") == 0, "not yet for 10s");
	ok(kit_roundtrip(&k, RULES), "a pending key is saved and restored");
	kit_feed(&k, "{\"ts\":11000,\"d\":\"a\",\"t\":91}");
	const char *o = kit_out(&k);
	ok(kit_count(o, "\"state\":\"firing\"") == 1 && kit_count(o, "\"since\":1000") == 1,
	   "held for 10s: it fires, since the episode began: %s", t_show(o));
	kit_feed(&k, "{\"ts\":3000,\"d\":\"a\",\"t\":91}");
	ok(ks->last_ts == 11000, "a key's time never runs backwards");
	kit_feed(&k, "{\"ts\":12000,\"d\":\"b\",\"t\":1}");
	ok(r->rt->keys.n == 1, "another key's condition that does not hold costs no key");
	kit_feed(&k, "{\"ts\":13000,\"d\":\"a\",\"t\":20}");
	o = kit_out(&k);
	ok(kit_count(o, "\"state\":\"resolved\"") == 1, "it stops holding: resolved: %s", t_show(o));
	ok(r->rt->keys.n == 0, "and the key is forgotten");
	kit_stop(&k);
	return done_testing();
}
