#include "keys.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"

uint64_t kmap_hash(const char *s, size_t n)
{
	return map_hash(s, n);
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

struct kstate *kmap_get_h(struct kmap *m, const char *key, size_t n, uint64_t h, bool create)
{
	struct map_ent *e;
	if (!create) {
		if (kmap_surely_absent(m, h) || !(e = map_get_h(&m->map, key, n, h)))
			return NULL;
		kmap_touch(m, e->val);
		return e->val;
	}
	bool added;
	e = map_put_h(&m->map, key, n, h, &added);
	if (!added) {
		kmap_touch(m, e->val);
		return e->val;
	}
	/* one allocation per key: its state with its text inline, which the
	 * map then borrows instead of the caller's buffer */
	struct kstate *k = xcalloc(1, sizeof *k + n + 1);
	memcpy(k->key, key, n);
	k->klen = (uint32_t)n;
	k->order = m->next_order++;
	k->hash = h;
	e->key = k->key;
	e->val = k;
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
	free(k);
}

struct kstate *kmap_get(struct kmap *m, const char *key, size_t n, bool create)
{
	return kmap_get_h(m, key, n, kmap_hash(key, n), create);
}

/* ---- the due queue: a binary min-heap by (due, order) ---- */

static bool due_before(const struct kstate *a, const struct kstate *b)
{
	return a->due < b->due || (a->due == b->due && a->order < b->order);
}

static void heap_set(struct kmap *m, uint32_t i, struct kstate *k)
{
	m->dueq[i] = k;
	k->due_at = i + 1;
}

static void sift_up(struct kmap *m, uint32_t i)
{
	struct kstate *k = m->dueq[i];
	while (i > 0 && due_before(k, m->dueq[(i - 1) / 2])) {
		heap_set(m, i, m->dueq[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(m, i, k);
}

static void sift_down(struct kmap *m, uint32_t i)
{
	struct kstate *k = m->dueq[i];
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= m->ndue)
			break;
		if (c + 1 < m->ndue && due_before(m->dueq[c + 1], m->dueq[c]))
			c++;
		if (!due_before(m->dueq[c], k))
			break;
		heap_set(m, i, m->dueq[c]);
		i = c;
	}
	heap_set(m, i, k);
}

static void due_remove(struct kmap *m, struct kstate *k)
{
	uint32_t i = k->due_at - 1;
	k->due_at = 0;
	struct kstate *last = m->dueq[--m->ndue];
	if (i == m->ndue)
		return;
	heap_set(m, i, last);
	if (i > 0 && due_before(last, m->dueq[(i - 1) / 2]))
		sift_up(m, i);
	else
		sift_down(m, i);
}

void kmap_due(struct kmap *m, struct kstate *k, int64_t due)
{
	if (due == INT64_MAX) {
		if (k->due_at)
			due_remove(m, k);
		return;
	}
	if (!k->due_at) {
		if (m->ndue == m->capdue) {
			m->capdue = m->capdue ? m->capdue * 2 : 64;
			m->dueq = xrealloc(m->dueq, m->capdue * sizeof *m->dueq);
		}
		k->due = due;
		heap_set(m, m->ndue++, k);
		sift_up(m, m->ndue - 1);
		return;
	}
	bool earlier = due < k->due;
	k->due = due;
	if (earlier)
		sift_up(m, k->due_at - 1);
	else
		sift_down(m, k->due_at - 1);
}

static int by_order(const void *a, const void *b)
{
	const struct kstate *x = *(struct kstate *const *)a, *y = *(struct kstate *const *)b;
	return x->order < y->order ? -1 : x->order > y->order;
}

struct kstate **kmap_take_due(struct kmap *m, int64_t wm, uint32_t *n)
{
	uint32_t j = 0;
	while (m->ndue && m->dueq[0]->due <= wm) {
		if (j == m->captaken) {
			m->captaken = m->captaken ? m->captaken * 2 : 64;
			m->taken = xrealloc(m->taken, m->captaken * sizeof *m->taken);
		}
		m->taken[j++] = m->dueq[0];
		due_remove(m, m->dueq[0]);
	}
	if (j > 1)
		qsort(m->taken, j, sizeof *m->taken, by_order);
	*n = j;
	return m->taken;
}

void kmap_del(struct kmap *m, struct kstate *k)
{
	uint64_t h = k->hash;
	if (k->due_at)
		due_remove(m, k);
	map_del(&m->map, map_get_h(&m->map, k->key, k->klen, h));
	m->n--;
	lru_unlink(m, k);
	if (m->filter[KMAP_FILTER(h)] < 255)
		m->filter[KMAP_FILTER(h)]--;
	kstate_free(k);
}

struct kstate **keys_sorted(struct kmap *m, uint32_t *n)
{
	struct kstate **v = xmalloc((m->n + 1) * sizeof *v);
	uint32_t j = 0;
	MAP_FOREACH(&m->map, e)
		v[j++] = e->val;
	qsort(v, j, sizeof *v, by_order);
	*n = j;
	return v;
}

void kmap_free(struct kmap *m)
{
	MAP_FOREACH(&m->map, e)
		kstate_free(e->val);
	map_free(&m->map);
	free(m->filter);
	free(m->dueq);
	free(m->taken);
	memset(m, 0, sizeof *m);
}

struct kext *kstate_ext(struct kstate *k)
{
	if (!k->x)
		k->x = xcalloc(1, sizeof *k->x);
	return k->x;
}
