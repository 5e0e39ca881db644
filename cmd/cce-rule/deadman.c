/*
 * deadman: a rule that fires when a key it has seen (a record whose `when`
 * holds) stays silent for `absent`; the key's next record resolves it.
 *
 * It remembers every key it saw (last_seen), and its alerts carry
 * {"key":K,"last_seen":T} as their record. A key is due at last_seen +
 * absent, and while firing at its next repeat; the watermark makes it so.
 */
#include "kind.h"

#include <string.h>

enum deadman_step { DM_FIRE, DM_REPEAT, DM_RESOLVE };

/* A deadman fires, repeats or resolves with {"key":K,"last_seen":T} for a
 * record: there is none of its own. */
static void deadman_alert(struct engine *e, struct rule *r, struct kstate *k, int64_t ts,
			  enum deadman_step how)
{
	struct buf b;
	buf_init(&b);
	buf_adds(&b, "{\"key\":");
	buf_adds(&b, k->key);
	buf_adds(&b, ",\"last_seen\":");
	buf_add_i64(&b, k->last_seen);
	buf_addc(&b, '}');
	struct rec rc;
	rec_make(e, &rc, b.data, b.len);
	if (how == DM_FIRE)
		alert_fire(e, r, k, ts, &rc, NULL);
	else if (how == DM_REPEAT)
		alert_emit(e, r, k, "firing", ts, &rc, NULL);
	else
		alert_resolve(e, r, k, ts, &rc, NULL);
	rec_done(&rc);
	buf_free(&b);
}

static void deadman_record(struct engine *e, struct rule *r, struct kstate *k, struct rec *rc,
			   int64_t t, bool c)
{
	if (!c)
		return;
	k->last_seen = t;
	if (k->st == ST_FIRING)
		deadman_alert(e, r, k, t, DM_RESOLVE);
	kmap_due(&r->rt->keys, k, t + r->absent_ms);
}

/* When k is next due: its absence, or while firing its next repeat. */
static int64_t deadman_key_idle(struct engine *e, struct rule *r, struct kstate *k, int64_t wm)
{
	int64_t at = k->last_seen + r->absent_ms;
	if (k->st != ST_FIRING && at <= wm) {
		k->since = at;
		deadman_alert(e, r, k, at, DM_FIRE);
	}
	if (k->st == ST_FIRING && r->repeat_ms) {
		while (k->last_emit + r->repeat_ms <= wm) {
			k->last_emit += r->repeat_ms;
			deadman_alert(e, r, k, k->last_emit, DM_REPEAT);
		}
		return k->last_emit + r->repeat_ms;
	}
	if (k->st != ST_FIRING)
		return k->last_seen + r->absent_ms;
	return INT64_MAX;
}

static void deadman_idle(struct engine *e, struct rule *r, struct kstate *k, int64_t wm)
{
	int64_t due = deadman_key_idle(e, r, k, wm);
	if (!r->rt->disabled)
		kmap_due(&r->rt->keys, k, due);
}

const struct kind_ops kind_deadman = {
	.name = "deadman",
	.record = deadman_record,
	.idle = deadman_idle,
	.save = kext_save_entries,
	.restore = kext_restore_entries,
};
