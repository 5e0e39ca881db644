/*
 * map: a hash table from byte strings to a pointer or an integer.
 *
 * Promises:
 * - Keys are any bytes (NUL included) with their length, under 4 GiB.
 *   Lookups, inserts and deletes take O(1) expected time: open addressing
 *   with linear probing, at most 3/4 full, deletes shift the entries that
 *   follow back (no tombstones, so a table that churns never slows down).
 * - map_hash is FNV-1a with its low bits mixed (murmur3's finaliser), so
 *   names that differ only at their end (edge-1, edge-2, ...) spread over
 *   the table instead of filling one run. Each entry keeps the low 32 bits
 *   of its hash and probes compare them before the key.
 * - The layout is a pure function of the sequence of operations: the same
 *   puts and deletes give the same MAP_FOREACH order, on every machine.
 * Ownership: a map made with MAP_COPY_KEYS copies each key it adds (with
 *   a NUL after it, so e->key reads as a C string) and frees it. Otherwise
 *   keys are borrowed: the key given to map_put must outlive its entry, or
 *   the caller points e->key at an equal copy that does (a key inside the
 *   value). The map never frees values.
 * Entries move: a struct map_ent * is good until the next map_put or
 *   map_del. Allocation failure aborts (xmalloc, buf.h); nothing else fails.
 */
#ifndef CCE_MAP_H
#define CCE_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct map_ent {
	const char *key;                /* NULL: a free slot */
	uint32_t len;
	uint32_t hash;                  /* the low 32 bits of map_hash(key) */
	union {
		void *val;
		intptr_t num;
	};
};

struct map {
	struct map_ent *ent;
	size_t cap, n;                  /* cap: 0 or a power of two */
	bool copy_keys;
};

#define MAP_COPY_KEYS 1

void map_init(struct map *m, unsigned flags);
/* Frees the table and any copied keys, never the values. */
void map_free(struct map *m);
/* Room for n more entries without growing. */
void map_reserve(struct map *m, size_t n);

uint64_t map_hash(const void *key, size_t len);
/* The entry of key, or NULL. _h: with h = map_hash(key, len) known. */
struct map_ent *map_get(const struct map *m, const void *key, size_t len);
struct map_ent *map_get_h(const struct map *m, const void *key, size_t len, uint64_t h);
/* The entry of key, added (value 0) when absent; *added tells which. */
struct map_ent *map_put(struct map *m, const void *key, size_t len, bool *added);
struct map_ent *map_put_h(struct map *m, const void *key, size_t len, uint64_t h, bool *added);
/* Interning: the number of key, or num after adding key with it. */
intptr_t map_intern(struct map *m, const void *key, size_t len, intptr_t num);
/* Removes e (from map_get or map_put); frees its key when copied. */
void map_del(struct map *m, struct map_ent *e);

/* Hints for a batch of lookups, so that their cache misses overlap:
 * map_prefetch(m, h) brings in h's slot; map_guess(m, h) is the first
 * entry of h's run with that hash, its key not compared (almost always
 * the one: prefetch its value). Neither changes anything. */
void map_prefetch(const struct map *m, uint64_t h);
const struct map_ent *map_guess(const struct map *m, uint64_t h);

/* Every entry, in the table's order: MAP_FOREACH(m, e) { use e } */
#define MAP_FOREACH(m, e) \
	for (struct map_ent *e = (m)->ent; e < (m)->ent + (m)->cap; e++) \
		if (e->key)

#endif
