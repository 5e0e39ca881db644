#include "keys.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"

uint32_t kmap_hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

static void lru_unlink(struct kmap *m, struct kstate *k)
{
	if (k->newer)
		k->newer->older = k->older;
	else
		m->newest = k->older;
	if (k->older)
		k->older->newer = k->newer;
	else
		m->oldest = k->newer;
	k->newer = k->older = NULL;
}

static void lru_push(struct kmap *m, struct kstate *k)
{
	k->newer = NULL;
	k->older = m->newest;
	if (m->newest)
		m->newest->newer = k;
	else
		m->oldest = k;
	m->newest = k;
}

void kmap_touch(struct kmap *m, struct kstate *k)
{
	if (m->newest != k) {
		lru_unlink(m, k);
		lru_push(m, k);
	}
}

struct kstate *kmap_get_h(struct kmap *m, const char *key, size_t n, uint32_t h, bool create)
{
	if (m->n && m->filter[KMAP_FILTER(h)]) {
		for (uint32_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
			struct kstate *k = m->slot[i];
			if (!k)
				break;
			if (m->hash[i] == h && k->klen == n && memcmp(k->key, key, n) == 0) {
				kmap_touch(m, k);
				return k;
			}
		}
	}
	if (!create)
		return NULL;
	if ((m->n + 1) * 4 > m->cap * 3) {
		uint32_t nc = m->cap ? m->cap * 2 : 16;
		struct kstate **ns = xcalloc(nc, sizeof *ns);
		uint32_t *nh = xcalloc(nc, sizeof *nh);
		for (uint32_t i = 0; i < m->cap; i++) {
			struct kstate *k = m->slot[i];
			if (!k)
				continue;
			uint32_t j = k->hash & (nc - 1);
			while (ns[j])
				j = (j + 1) & (nc - 1);
			ns[j] = k;
			nh[j] = k->hash;
		}
		free(m->slot);
		free(m->hash);
		m->slot = ns;
		m->hash = nh;
		m->cap = nc;
	}
	struct kstate *k = xcalloc(1, sizeof *k);
	k->key = xstrndup(key, n);
	k->klen = (uint32_t)n;
	k->hash = h;
	k->order = m->next_order++;
	uint32_t j = h & (m->cap - 1);
	while (m->slot[j])
		j = (j + 1) & (m->cap - 1);
	m->slot[j] = k;
	m->hash[j] = h;
	m->n++;
	lru_push(m, k);
	if (!m->filter)
		m->filter = xcalloc(4096, 1);
	if (m->filter[KMAP_FILTER(h)] < 255)
		m->filter[KMAP_FILTER(h)]++;
	return k;
}

static void kstate_free(struct kstate *k)
{
	if (k->x) {
		free(k->x->ts);
		free(k->x->v);
		free(k->x);
	}
	free(k->key);
	free(k);
}

struct kstate *kmap_get(struct kmap *m, const char *key, size_t n, bool create)
{
	return kmap_get_h(m, key, n, kmap_hash(key, n), create);
}

/* Linear probing: later members of the cluster move back into the hole. */
void kmap_del(struct kmap *m, struct kstate *k)
{
	uint32_t mask = m->cap - 1, i = k->hash & mask;
	while (m->slot[i] != k)
		i = (i + 1) & mask;
	uint32_t j = i;
	for (;;) {
		m->slot[i] = NULL;
		for (;;) {
			j = (j + 1) & mask;
			if (!m->slot[j])
				goto done;
			uint32_t h = m->hash[j] & mask;
			/* stays when its home lies cyclically in (i, j] */
			if (i <= j ? (i < h && h <= j) : (i < h || h <= j))
				continue;
			break;
		}
		m->slot[i] = m->slot[j];
		m->hash[i] = m->hash[j];
		i = j;
	}
done:
	m->n--;
	lru_unlink(m, k);
	if (m->filter[KMAP_FILTER(k->hash)] < 255)
		m->filter[KMAP_FILTER(k->hash)]--;
	kstate_free(k);
}

static int by_order(const void *a, const void *b)
{
	const struct kstate *x = *(struct kstate *const *)a, *y = *(struct kstate *const *)b;
	return x->order < y->order ? -1 : x->order > y->order;
}

struct kstate **keys_sorted(struct kmap *m, uint32_t *n)
{
	struct kstate **v = xmalloc((m->n + 1) * sizeof *v);
	uint32_t j = 0;
	for (uint32_t i = 0; i < m->cap; i++)
		if (m->slot[i])
			v[j++] = m->slot[i];
	qsort(v, j, sizeof *v, by_order);
	*n = j;
	return v;
}

void kmap_free(struct kmap *m)
{
	for (uint32_t i = 0; i < m->cap; i++)
		if (m->slot[i])
			kstate_free(m->slot[i]);
	free(m->slot);
	free(m->hash);
	free(m->filter);
	memset(m, 0, sizeof *m);
}

struct kext *kstate_ext(struct kstate *k)
{
	if (!k->x)
		k->x = xcalloc(1, sizeof *k->x);
	return k->x;
}
