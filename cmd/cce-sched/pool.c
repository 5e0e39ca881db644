/* pool: the ready nodes once read: groups of one shape, classes of one
 * capacity, name order (roundrobin) and rendezvous weights (hash) */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "index.h"
#include "place.h"
#include "sched.h"

static const struct sched *name_cmp_sched;
static int name_cmp(const void *a, const void *b)
{
	return strcmp(name_cmp_sched->nodes[*(const int *)a].name,
		      name_cmp_sched->nodes[*(const int *)b].name);
}

/* node i joins the group at level L whose key is in s->tmp: its index */
static int join(struct sched *s, int L, int i)
{
	struct group **gs = L == L_GROUP ? &s->groups : &s->classes;
	int *ng = L == L_GROUP ? &s->ngroups : &s->nclasses;
	struct map *keys = L == L_GROUP ? &s->groupkeys : &s->classkeys;
	int g = (int)map_intern(keys, s->tmp.data, s->tmp.len, *ng);
	if (g == *ng) {
		/* capacities double at powers of two */
		if (!(g & (g - 1)))
			*gs = xrealloc(*gs, ((size_t)g * 2 + 1) * sizeof **gs);
		memset(&(*gs)[g], 0, sizeof **gs);
		(*gs)[g].level = L;
		(*gs)[g].rep = i;
		(*ng)++;
	}
	struct group *G = &(*gs)[g];
	if (!(G->n & (G->n - 1)))
		G->members = xrealloc(G->members, ((size_t)G->n * 2 + 1) * sizeof(int));
	G->members[G->n++] = i;
	return g;
}

/* nodes of one shape share a group: same region, zone, labels and
 * capacity, so that static filters are decided per group; nodes of one
 * capacity share a class, unless every class would be one group */
static void make_groups(struct sched *s, int i)
{
	struct node *n = &s->nodes[i];
	buf_reset(&s->tmp);
	buf_addf(&s->tmp, "%lld\x1f%lld\x1f%lld", (long long)n->cap[0], (long long)n->cap[1],
		 (long long)n->cap[2]);
	n->cls = join(s, L_CLASS, i);
	buf_addf(&s->tmp, "\x1f%d\x1f%d", n->region, n->zone);
	for (int l = 0; l < n->nlabels; l++) {
		buf_addc(&s->tmp, '\x1e');
		buf_add_json_str(&s->tmp, n->labels[l].k, strlen(n->labels[l].k));
		buf_add_json_str(&s->tmp, n->labels[l].v, strlen(n->labels[l].v));
	}
	n->group = join(s, L_GROUP, i);
}

/* classes that are as many as the groups would only cost upkeep */
static void drop_classes(struct sched *s)
{
	if (s->nclasses < s->ngroups)
		return;
	for (int i = 0; i < s->nclasses; i++)
		free(s->classes[i].members);
	free(s->classes);
	s->classes = NULL;
	s->nclasses = 0;
	for (int i = 0; i < s->nnodes; i++)
		s->nodes[i].cls = -1;
}

void sched_ready(struct sched *s)
{
	double cpusum = 0;
	bool uniform = true;
	int first = -1;
	s->rrorder = xmalloc(((size_t)s->nnodes + 1) * sizeof(int));
	for (int i = 0; i < s->nnodes; i++) {
		struct node *n = &s->nodes[i];
		n->tb = mix64(s->seed ^ strhash(n->name));
		n->nh = strhash(n->name);
		if (n->st != N_READY)
			continue;
		make_groups(s, i);
		s->rrorder[s->nready++] = i;
		cpusum += (double)n->cap[R_CPU];
		if (first >= 0 && n->cap[R_CPU] != s->nodes[first].cap[R_CPU])
			uniform = false;
		if (first < 0)
			first = i;
	}
	drop_classes(s);
	name_cmp_sched = s;
	qsort(s->rrorder, (size_t)s->nready, sizeof(int), name_cmp);
	for (int i = 0; i < s->nready; i++)
		s->nodes[s->rrorder[i]].rr = i;
	/* rendezvous weights: the cpu share relative to the mean node */
	s->wsum = 0;
	for (int i = 0; i < s->nready; i++) {
		struct node *n = &s->nodes[s->rrorder[i]];
		n->w = uniform || cpusum <= 0 ? 1.0 : (double)n->cap[R_CPU] * s->nready / cpusum;
		if (n->w <= 0)
			n->w = 1e-9;
		s->wsum += n->w;
	}
	s->uniform = uniform;
	for (int i = 0; i < s->nnodes; i++)
		node_fractions(&s->nodes[i]);
	for (int i = 0; i < s->nreps; i++)
		if (s->reps[i].live && s->reps[i].node >= 0)
			commit(s, i, s->reps[i].node);
}
