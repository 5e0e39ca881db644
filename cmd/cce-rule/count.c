/*
 * count: a rule that holds when its condition held count.n times within
 * count.within for a key; the state machine of key_step() then runs on that.
 *
 * A key's extras keep the times the condition held (x->ts, the last n of
 * them at most, oldest first): a time past `within` goes with the next
 * record of the key.
 */
#include "kind.h"

#include <string.h>

static void count_record(struct engine *e, struct rule *r, struct kstate *k, struct rec *rc,
			 int64_t t, bool c)
{
	struct kext *x = kstate_ext(k);
	uint32_t j = 0;
	for (uint32_t i = 0; i < x->n; i++)
		if (x->ts[i] > t - r->count_within)
			x->ts[j++] = x->ts[i];
	x->n = j;
	if (c) {
		if (x->n == x->cap) {
			x->cap = x->cap ? x->cap * 2 : 4;
			x->ts = xrealloc(x->ts, x->cap * sizeof *x->ts);
		}
		x->ts[x->n++] = t;
		/* only the last n matter */
		if (x->n > r->count_n) {
			memmove(x->ts, x->ts + (x->n - r->count_n), r->count_n * sizeof *x->ts);
			x->n = r->count_n;
		}
	}
	c = x->n >= r->count_n;
	if (key_step(e, r, k, t, c, rc, NULL) == 0)
		key_maybe_drop(r, k);
}

const struct kind_ops kind_count = {
	.name = "count",
	.record = count_record,
	.save = kext_save_entries,
	.restore = kext_restore_entries,
};
