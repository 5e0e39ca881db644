/*
 * threshold: a rule on each record's condition (`when`), through the
 * state machine of key_step(): pending for `for`, firing, repeat, resolved by
 * `clear` or after `keep_firing_for`.
 *
 * The default kind, and the common one: it keeps state only for pending
 * and firing keys (KF_SPARSE), so a record that matches nothing costs no
 * key and no memory however many keys pass.
 */
#include "kind.h"

static void threshold_record(struct engine *e, struct rule *r, struct kstate *k, struct rec *rc,
			     int64_t t, bool c)
{
	if (key_step(e, r, k, t, c, rc, NULL) == 0)
		key_maybe_drop(r, k);
}

const struct kind_ops kind_threshold = {
	.name = "threshold",
	.flags = KF_SPARSE,
	.record = threshold_record,
	.save = kext_save_entries,
	.restore = kext_restore_entries,
};
