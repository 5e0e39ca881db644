/*
 * index: per group of same-shaped ready nodes, and per class of nodes of
 * one capacity (sched.h), the nodes ordered by a key that does not depend
 * on the task, so that a replica looks at one node per group, or per class
 * when no group filter applies to it, instead of scoring them all.
 *
 * Promises: for spread, leastloaded and cost a binary heap, for binpack a
 * treap (binpack's fullest nodes mostly do not fit, and a treap's subtrees
 * are runs of the order that can be skipped whole); every heap position
 * and treap node also keeps the most any node below it has free, per
 * resource. The order is index_before: the strategy's key (spread: u up,
 * binpack: u down, leastloaded: v up, cost: cost then u up), then the
 * seeded tie-break, then the node index; a strict total order.
 * index_first returns the first node of a group in that order for which
 * fits() holds, skipping only nodes without room for req, so within a
 * group it is the node the score-every-node definition would prefer.
 * A level is built on its first use, for one strategy at a time, and
 * kept up to date from then on; a node's allocation changes only between
 * index_remove and index_update. The index owns nothing outside the
 * groups' arrays and s->hpos (freed by sched_free).
 */
#ifndef CCE_SCHED_INDEX_H
#define CCE_SCHED_INDEX_H

#include <stdbool.h>
#include <stdint.h>

#include "sched.h"

typedef bool (*index_fits_fn)(const struct sched *s, const void *arg, int node);

/* u and v of the node from its allocation (see sched.h) */
void node_fractions(struct node *n);
bool index_before(const struct sched *s, int st, int a, int b);
/* built on first use of an indexed strategy at level L (sched.h) */
void index_build(struct sched *s, int st, int L);
/* before a node's allocation changes, and after */
void index_remove(struct sched *s, int ni);
void index_update(struct sched *s, int ni);
/* the first node of group G in st's order that fits, or -1 */
int index_first(struct sched *s, int st, const struct group *G, const int64_t req[NRES],
		index_fits_fn fits, const void *arg);
/* every heap entry, aggregate and treap aggregate worked out again and
 * compared, and the order checked, for the groups and the classes: true
 * when all hold (a check for tests; it changes nothing that holds) */
bool index_sound(struct sched *s);

#endif
