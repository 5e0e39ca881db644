/*
 * keys: a rule's state per key, in a hash map with a recency list.
 *
 * Promises: a key is its JSON text; kmap_get finds it in a lib/map (the
 * key borrowed from its kstate, which holds it inline) and with create
 * makes it, numbered in order of first appearance) and marks it the most
 * recently seen; kmap_del forgets it and frees its state. The map keeps
 * every key in one list by the last record seen, so the longest idle key
 * (m->oldest) is found and dropped in O(1) when a rule is past its
 * max_keys. A byte per hash bucket (the filter) counts keys by the top bits
 * of their map_hash, which the table's index never uses: a zero answers
 * "absent" without probing the table, which
 * is what a plain threshold rule asks of most records. keys_sorted gives
 * the keys in order of first appearance, for checkpoints that must be
 * deterministic. A key may also be queued by the event time at which its
 * rule's kind has something to do for it (kmap_due): a min-heap, so that
 * the watermark's scan finds the keys due in O(log n) each, and never looks
 * at the others (a deadman over 20,000 keys sorted all of them whenever
 * any fell due). The map owns its kstates and their extras.
 */
#ifndef CCE_RULE_KEYS_H
#define CCE_RULE_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "map.h"

/* Per-key extras of count, window, anomaly and predict rules (their kinds
 * say how they use them). */
struct kext {
	int64_t *ts;        /* count: times the condition held; window: entry times */
	double *v;          /* window: nargs values per entry; anomaly: ring */
	uint32_t n, cap;
	int64_t wstart, wlast;
	uint32_t head;      /* anomaly ring start */
	double em, ev;      /* ewma mean and variance */
	double peak;        /* anomaly: the episode's highest score */
	uint64_t seen;
};

enum { ST_INACTIVE, ST_PENDING, ST_FIRING };

struct kstate {
	uint32_t klen, order;
	uint32_t save_at;   /* its place in the state file being written */
	uint32_t due_at;    /* 1 + its place in the due queue; 0: not queued */
	struct kstate *newer, *older;   /* by the last record seen */
	uint64_t hash;      /* kmap_hash(key): forgetting a key needs it */
	int64_t since, last_ts, last_true, last_emit, last_seen;
	int64_t id_since;   /* the episode id[] was computed for */
	int64_t due;        /* when queued: the event time it falls due */
	struct kext *x;
	char id[33];
	uint8_t st;         /* here, beside id[], the struct has no holes */
	bool has_id;
	char key[];         /* klen bytes and a NUL: the map's key */
};

struct kmap {
	struct map map;         /* key text -> struct kstate * (borrowed keys;
				   all zero is an empty map) */
	uint32_t n;             /* keys: map.n */
	uint8_t *filter;        /* counts of keys by other bits of their hash: a
				   zero says "absent" without probing the table */
	uint32_t next_order;    /* of the next new key */
	/* every key in one list, by the last record seen: the oldest is the
	 * one to go past the rule's max_keys (O(1) both ways) */
	struct kstate *newest, *oldest;
	/* the keys with something due, a min-heap by (due, order); taken: the
	 * last kmap_take_due's answer */
	struct kstate **dueq, **taken;
	uint32_t ndue, capdue, captaken;
};

#define KMAP_FILTER(h) ((size_t)((h) >> 52))

/* The hash of a key's text (map_hash). */
uint64_t kmap_hash(const char *s, size_t n);
/* With h = kmap_hash(key, n); NULL when absent and not create. */
struct kstate *kmap_get_h(struct kmap *m, const char *key, size_t n, uint64_t h, bool create);
struct kstate *kmap_get(struct kmap *m, const char *key, size_t n, bool create);
void kmap_del(struct kmap *m, struct kstate *k);
/* A record of k's was seen. */
void kmap_touch(struct kmap *m, struct kstate *k);
void kmap_free(struct kmap *m);
/* The keys by first appearance, in a new array of *n (free it). */
struct kstate **keys_sorted(struct kmap *m, uint32_t *n);
/* k falls due at event time `due` (INT64_MAX: nothing due, unqueued). */
void kmap_due(struct kmap *m, struct kstate *k, int64_t due);
/* The earliest due time of a queued key; INT64_MAX when none is. */
static inline int64_t kmap_first_due(const struct kmap *m)
{
	return m->ndue ? m->dueq[0]->due : INT64_MAX;
}
/* Takes out of the queue every key due at or before wm and gives them by
 * first appearance (*n of them, in an array that the next call reuses). */
struct kstate **kmap_take_due(struct kmap *m, int64_t wm, uint32_t *n);
/* The key's extras, made on first use. */
struct kext *kstate_ext(struct kstate *k);

/* m holds keys: true when none can have the hash h. */
static inline bool kmap_surely_absent(const struct kmap *m, uint64_t h)
{
	return !m->filter || !m->filter[KMAP_FILTER(h)];
}

#endif
