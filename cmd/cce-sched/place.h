/*
 * place: the engine's parts, shared between the files that place replicas
 * (place.c, pool.c, filter.c, strategy.c, output.c, explain.c, preempt.c,
 * reschedule.c, batch.c); sched.h holds what the main calls.
 *
 * A placement context (struct pctx) is made per task with ctx_init, per
 * replica with ctx_replica, and takes each node it uses with ctx_take, so
 * that spread sees its siblings. A node's allocation changes only through
 * commit and uncommit, which keep the index (index.h) and the hash counts
 * right. choose picks the node the task's strategy prefers among those all
 * filters pass (node_filter), or -1; it never changes the sched except for
 * roundrobin's cursor and the index built on first use. Output goes through
 * s->line and emit only.
 */
#ifndef CCE_SCHED_PLACE_H
#define CCE_SCHED_PLACE_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "hash.h"
#include "sched.h"

static inline uint64_t strhash(const char *k)
{
	return mix64(fnv1a64(CCE_FNV_BASIS, k, strlen(k)));
}

static inline double round4(double x)
{
	return round(x * 1e4) / 1e4;
}

struct pctx {
	const struct task *t;
	int spec, tn, st, exclude;
	int64_t replica;
	uint32_t epoch;
	int *zones, nz, capz;   /* with spread zone or region: the ids taken */
	uint64_t kh;            /* hash of the key, for the hash strategy */
};

/* a node as a choice: its score as printed, and the keys better() sorts on */
struct cand {
	int n;
	int pref, under;
	double s, sec, score;
};

/* place.c */
void commit(struct sched *s, int ri, int ni);
void uncommit(struct sched *s, int ri);
/* a replica this run places, with the score it is printed with */
void commit_new(struct sched *s, int ri, const struct cand *k);
/* the context for placing replicas of task spec: its siblings' nodes,
 * zones and regions are taken (skip: a replica to leave out; exclude: a
 * node no replica may take) */
void ctx_init(struct sched *s, struct pctx *c, int spec, int exclude, int skip);
void ctx_replica(struct pctx *c, int64_t replica);
void ctx_take(struct sched *s, struct pctx *c, int ni);
void place_one(struct sched *s, struct pctx *c, int64_t replica, bool try_preempt);

/* filter.c: cap_fail is 0 or the capacity filter that fails (freed:
 * resources an eviction would free); node_filter the first filter that
 * rejects node ni, or F_PASS */
int cap_fail(const struct node *n, const struct task *t, const int64_t *freed);
bool region_ok(const struct sched *s, const struct task *t, const struct node *n);
bool selector_ok(const struct task *t, const struct node *n);
bool spread_ok(const struct pctx *c, const struct node *n);
int prefer_match(const struct sched *s, const struct task *t, const struct node *n);
int node_filter(const struct sched *s, const struct pctx *c, int ni, bool capacity);
void filter_name(const struct task *t, int f, struct buf *b);
int count_filters(const struct sched *s, const struct pctx *c, int counts[NFILTER + 1]);

/* strategy.c */
void cand_make(const struct sched *s, const struct pctx *c, int ni, struct cand *k);
/* a is a better choice than b under strategy st */
bool better(const struct sched *s, int st, const struct cand *a, const struct cand *b);
int choose(struct sched *s, const struct pctx *c, struct cand *best);

/* output.c: records are built in s->line and printed by emit */
void add_score(struct buf *b, double x);
void add_head(struct buf *b, const char *event, const struct task *t, int64_t replica);
void add_node(struct buf *b, const char *key, const struct node *n, const char *name);
void emit(struct sched *s);
void emit_placed(struct sched *s, const struct pctx *c, const struct cand *k,
		 const struct rep *r, const char *from, const char *why);
void emit_unsched(struct sched *s, const struct pctx *c, const char *from);
void emit_kept(struct sched *s, int ri);

/* explain.c: explain_now keeps --explain's fields in s->ex (taken before
 * the node is used); add_reason is an unschedulable replica's reason */
void add_reason(struct sched *s, const struct pctx *c, struct buf *b);
void add_explain(struct sched *s, const struct pctx *c, struct buf *b);
void explain_now(struct sched *s, const struct pctx *c);

/* preempt.c: whether evictions made room for c's replica (then placed);
 * sort_victims orders replicas lowest priority first, newest first */
bool preempt(struct sched *s, struct pctx *c);
void sort_victims(const struct sched *s, int *v, int nv);

#endif
