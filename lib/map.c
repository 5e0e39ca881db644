#include "map.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "hash.h"

#define MAP_MIN_CAP 64

uint64_t map_hash(const void *key, size_t len)
{
	uint64_t h = fnv1a64(CCE_FNV_BASIS, key, len);
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

void map_init(struct map *m, unsigned flags)
{
	memset(m, 0, sizeof *m);
	m->copy_keys = flags & MAP_COPY_KEYS;
}

void map_free(struct map *m)
{
	if (m->copy_keys)
		MAP_FOREACH(m, e)
			free((char *)e->key);
	free(m->ent);
	bool copy = m->copy_keys;
	memset(m, 0, sizeof *m);
	m->copy_keys = copy;
}

/* the slot of key, or the free slot that ends its run */
static size_t slot(const struct map *m, const void *key, size_t len, uint32_t h)
{
	size_t mask = m->cap - 1;
	size_t i = h & mask;
	while (m->ent[i].key && (m->ent[i].hash != h || m->ent[i].len != len ||
				 memcmp(m->ent[i].key, key, len) != 0))
		i = (i + 1) & mask;
	return i;
}

static void rehash(struct map *m, size_t cap)
{
	struct map_ent *old = m->ent;
	size_t oldcap = m->cap;
	m->ent = xcalloc(cap, sizeof *m->ent);
	m->cap = cap;
	for (size_t i = 0; i < oldcap; i++) {
		if (!old[i].key)
			continue;
		/* keys are unique: the first free slot of the run */
		size_t j = old[i].hash & (cap - 1);
		while (m->ent[j].key)
			j = (j + 1) & (cap - 1);
		m->ent[j] = old[i];
	}
	free(old);
}

void map_reserve(struct map *m, size_t n)
{
	size_t cap = m->cap ? m->cap : MAP_MIN_CAP;
	while ((m->n + n) * 4 > cap * 3)
		cap *= 2;
	if (cap != m->cap)
		rehash(m, cap);
}

struct map_ent *map_get_h(const struct map *m, const void *key, size_t len, uint64_t h)
{
	if (!m->n)
		return NULL;
	struct map_ent *e = &m->ent[slot(m, key, len, (uint32_t)h)];
	return e->key ? e : NULL;
}

struct map_ent *map_get(const struct map *m, const void *key, size_t len)
{
	return map_get_h(m, key, len, map_hash(key, len));
}

struct map_ent *map_put_h(struct map *m, const void *key, size_t len, uint64_t h, bool *added)
{
	if (!m->cap)
		rehash(m, MAP_MIN_CAP);
	size_t i = slot(m, key, len, (uint32_t)h);
	*added = !m->ent[i].key;
	if (!*added)
		return &m->ent[i];
	if ((m->n + 1) * 4 > m->cap * 3) {
		rehash(m, m->cap * 2);
		i = slot(m, key, len, (uint32_t)h);
	}
	struct map_ent *e = &m->ent[i];
	if (m->copy_keys) {
		char *k = xmalloc(len + 1);
		memcpy(k, key, len);
		k[len] = 0;
		e->key = k;
	} else {
		e->key = key;
	}
	e->len = (uint32_t)len;
	e->hash = (uint32_t)h;
	e->val = NULL;
	m->n++;
	return e;
}

struct map_ent *map_put(struct map *m, const void *key, size_t len, bool *added)
{
	return map_put_h(m, key, len, map_hash(key, len), added);
}

intptr_t map_intern(struct map *m, const void *key, size_t len, intptr_t num)
{
	bool added;
	struct map_ent *e = map_put(m, key, len, &added);
	if (added)
		e->num = num;
	return e->num;
}

void map_del(struct map *m, struct map_ent *e)
{
	size_t mask = m->cap - 1, i = (size_t)(e - m->ent);
	if (m->copy_keys)
		free((char *)e->key);
	e->key = NULL;
	m->n--;
	/* shift back the entries of the run that follows */
	for (size_t j = (i + 1) & mask; m->ent[j].key; j = (j + 1) & mask) {
		size_t home = m->ent[j].hash & mask;
		/* can slot j's entry move to the hole at i? */
		if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
			m->ent[i] = m->ent[j];
			m->ent[j].key = NULL;
			i = j;
		}
	}
}

void map_prefetch(const struct map *m, uint64_t h)
{
	if (m->cap)
		__builtin_prefetch(&m->ent[h & (m->cap - 1)]);
}

const struct map_ent *map_guess(const struct map *m, uint64_t h)
{
	if (!m->cap)
		return NULL;
	size_t mask = m->cap - 1, i = h & mask;
	for (size_t k = 0; m->ent[i].key && k < 4; k++, i = (i + 1) & mask)
		if (m->ent[i].hash == (uint32_t)h)
			return &m->ent[i];
	return NULL;
}
