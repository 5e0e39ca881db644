/*
 * model: the report's memory (see report.h): strings in an arena of large
 * blocks, freed at once, since a report only ever grows until it is
 * written.
 */
#include <stdlib.h>
#include <string.h>

#include "report.h"

struct arena_blk {
	struct arena_blk *next;
	size_t used, cap;
	char data[];
};

#define ARENA_BLOCK ((size_t)1 << 16)

const char *report_strn(struct report *r, const char *s, size_t n)
{
	struct arena_blk *a = r->arena;
	if (!a || a->cap - a->used < n + 1) {
		size_t cap = n + 1 > ARENA_BLOCK / 4 ? n + 1 : ARENA_BLOCK;
		struct arena_blk *nb = xmalloc(sizeof *nb + cap);
		nb->used = 0;
		nb->cap = cap;
		/* a big string gets a block of its own behind the current one,
		 * so the current one keeps its room */
		if (a && cap != ARENA_BLOCK) {
			nb->next = a->next;
			a->next = nb;
		} else {
			nb->next = a;
			r->arena = nb;
		}
		a = nb;
	}
	char *p = a->data + a->used;
	memcpy(p, s, n);
	p[n] = '\0';
	a->used += n + 1;
	return p;
}

void report_init(struct report *r)
{
	memset(r, 0, sizeof *r);
	map_init(&r->nodes, 0);
	map_init(&r->places, 0);
	map_init(&r->eps, 0);
	map_init(&r->statmap, 0);
	map_init(&r->pushmap, 0);
	map_init(&r->recvmap, 0);
	map_init(&r->gatemap, 0);
	buf_init(&r->tmp);
	r->window_ms = 24LL * 3600 * 1000;
	r->title = "cce fleet";
}

void report_free(struct report *r)
{
	for (size_t i = 0; i < r->node.n; i++) {
		free(r->node.v[i].tasks);
		free(r->node.v[i].pts);
	}
	for (size_t i = 0; i < r->push.n; i++) {
		free(r->push.v[i].sts);
		free(r->push.v[i].spooled);
	}
	free(r->node.v);
	free(r->place.v);
	free(r->ep.v);
	free(r->status.v);
	free(r->deploy.v);
	free(r->push.v);
	free(r->recv.v);
	free(r->gate.v);
	free(r->event.v);
	map_free(&r->nodes);
	map_free(&r->places);
	map_free(&r->eps);
	map_free(&r->statmap);
	map_free(&r->pushmap);
	map_free(&r->recvmap);
	map_free(&r->gatemap);
	buf_free(&r->tmp);
	while (r->arena) {
		struct arena_blk *n = r->arena->next;
		free(r->arena);
		r->arena = n;
	}
}
