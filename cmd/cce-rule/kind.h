/*
 * kind: what a rule kind is, and what the engine lends it.
 *
 * A rule is of one kind (enum rule_kind in rule.h: threshold, count,
 * window, anomaly, deadman, predict), and the engine drives every kind through one
 * table of operations, struct kind_ops, without knowing which it drives:
 * the engine owns the watermark, matching, keying and alerts; a kind owns
 * what it does with a keyed record, what falls due as event time passes,
 * and what of a key's extras (struct kext) its checkpoint holds.
 *
 * Adding a kind is one file and one row: cmd/cce-rule/NAME.c defining
 * `const struct kind_ops kind_NAME`, its unit tests in
 * tests/unit/test_rule_NAME.c, and its row in RULE_KINDS (rule.h), which
 * gives the enum value, the declaration below and the engine's table;
 * rule.c parses the kind's fields and sets rule->kind.
 *
 * Promises to a kind: record and idle are called only while the rule is
 * enabled, with the key's state (k->last_ts already the record's time);
 * the services below may disable the rule on the way (r->rt->disabled is
 * set, and those that return a status say -2). Everything here is
 * internal to cce-rule.
 */
#ifndef CCE_RULE_KIND_H
#define CCE_RULE_KIND_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "engine.h"
#include "json.h"
#include "keys.h"
#include "rule.h"

struct rule_rt {
	struct kmap keys;
	uint64_t evaluated, matched, fired, resolved, suppressed, errors, late;
	uint64_t overruns;  /* evaluations past a budget, this run */
	int64_t last_fired;
	bool fired_once;
	char *disabled;
	int64_t lim_start;
	uint32_t lim_count;
	uint64_t lim_supp;
	int reported;
	uint64_t evicted;   /* keys forgotten past max_keys */
	bool evict_warned;
};

/* The record being looked at, with its jq value made on demand. */
struct rec {
	const char *text;
	size_t len;
	struct json_doc *doc;
	jv v;
	bool have_v;
	const char *source;
	uint64_t lineno;
	struct buf tmp;
};

struct engine {
	struct ruleset rs;
	struct engine_opts o;
	struct expr time;
	int64_t watermark;
	bool have_wm;
	int64_t wall_at_wm;
	uint64_t late;
	struct buf scratch, line, tmp, keybuf;
	struct json_doc aggdoc;     /* for records a kind makes (aggregates) */
	/* --pass with --anomaly-score: the record's highest anomaly score
	 * (NaN: none), and its alerts held until it is written */
	double rec_score;
	bool holding;
	struct buf held;
};

enum kind_flags {
	/* State only for pending and firing keys: `when` is evaluated before
	 * the key, so a record whose condition does not hold for a key
	 * without state costs nothing more (not even its key). */
	KF_SPARSE = 1,
	/* Records are collected by event time, not judged one by one: late
	 * records are dropped, a key's time may go back, and `when` is the
	 * kind's to evaluate (on what it collected). */
	KF_WINDOWED = 2,
};

struct kind_ops {
	const char *name;
	unsigned flags;             /* enum kind_flags */
	/* A record of key k at event time t; c: its `when` (true without
	 * one, and always with KF_WINDOWED). */
	void (*record)(struct engine *e, struct rule *r, struct kstate *k, struct rec *rc,
		       int64_t t, bool c);
	/* The watermark is at wm, at or past the time k was queued for: do
	 * what fell due for k, then queue it again for when it is next due
	 * (kmap_due on r->rt->keys; not queued: nothing is due until another
	 * record) or forget it (kmap_del); no other key may be forgotten. The
	 * engine calls it for each key due, by first appearance, while the
	 * rule is enabled. A kind queues a key from record when a record
	 * makes it due. NULL: the kind never falls due. */
	void (*idle)(struct engine *e, struct rule *r, struct kstate *k, int64_t wm);
	/* How many entries of x->ts (*nts) and x->v (*nv) the checkpoint
	 * holds. */
	void (*save)(const struct rule *r, const struct kext *x, uint32_t *nts, size_t *nv);
	/* A key's extras were read back (x->n, x->head and the scalars; cap
	 * as saved, nts and nv the lengths of the arrays): set x->cap to the
	 * entries to load, or say false (x emptied) when they are not this
	 * rule's. */
	bool (*restore)(const struct rule *r, struct kext *x, uint32_t cap, uint32_t nts,
			uint32_t nv);
	/* Fields of its own for the rule's status line, each as ,"name":value;
	 * NULL: none (no kind has any yet). */
	void (*status)(const struct rule *r, struct buf *out);
};

#define X(up, low) extern const struct kind_ops kind_##low;
RULE_KINDS(X)
#undef X
extern const struct kind_ops *const rule_kinds[RK_NKINDS];

static inline const struct kind_ops *kind_of(const struct rule *r) { return rule_kinds[r->kind]; }

/* The checkpoint of extras that are x->n entries of r->nargs values (all
 * kinds but anomaly rings): the save and restore operations. */
void kext_save_entries(const struct rule *r, const struct kext *x, uint32_t *nts, size_t *nv);
bool kext_restore_entries(const struct rule *r, struct kext *x, uint32_t cap, uint32_t nts,
			  uint32_t nv);

/* ---- evaluation (eval.c): 0 ok, -1 error (counted and reported), -2 the
 * rule got disabled ---- */
int ex_truth(struct engine *e, struct rule *r, struct expr *x, struct rec *rc,
	     const char *what, bool *t);
/* The first output as JSON appended to out; "null" when there is none. */
int ex_json(struct engine *e, struct rule *r, struct expr *x, struct rec *rc,
	    const char *what, struct buf *out);
/* A number: *v is NaN when null or missing. */
int ex_number(struct engine *e, struct rule *r, struct expr *x, struct rec *rc,
	      const char *what, double *v);
/* The record's event time: 1 found, 0 none (use arrival), -1 not a time. */
int ex_time(struct engine *e, struct rec *rc, int64_t *ms, char *why, size_t whylen);
void rule_error(struct rule *r, struct rec *rc, const char *what, const char *msg);
/* Parses text into e->aggdoc as the record rc of a kind's own making
 * (rec_done it); -1 when text is not JSON. */
int rec_make(struct engine *e, struct rec *rc, const char *text, size_t len);
void rec_done(struct rec *r);

/* ---- alerts and the state machine (engine.c) ---- */
struct extra {
	bool has_value;
	double value;
	bool has_score;
	double score;
	bool has_forecast, has_crossing;   /* predict's */
	double forecast;
	int64_t crosses_at;
	bool has_peak;      /* anomaly: the episode's highest 0..1 score */
	double peak;
};
void alert_emit(struct engine *e, struct rule *r, struct kstate *k, const char *state,
		int64_t ts, struct rec *rc, const struct extra *x);
void alert_fire(struct engine *e, struct rule *r, struct kstate *k, int64_t ts,
		struct rec *rc, const struct extra *x);
void alert_resolve(struct engine *e, struct rule *r, struct kstate *k, int64_t ts,
		   struct rec *rc, const struct extra *x);
/* The state machine of one key, given whether the condition holds at ts
 * (pending, firing, repeat, clear, keep_firing_for). -2: the rule got
 * disabled on the way. */
int key_step(struct engine *e, struct rule *r, struct kstate *k, int64_t ts, bool c,
	     struct rec *rc, const struct extra *x);
/* Forget k if it is worth no memory: nothing pending or firing, nothing
 * collected. Deadmen remember every key they saw and anomaly keys keep
 * their history: those kinds never call it. */
void key_maybe_drop(struct rule *r, struct kstate *k);
/* Cut the rule's keys to max_keys, the longest idle first. */
void rule_evict(struct rule *r, const char *why);

#endif
