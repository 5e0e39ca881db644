/*
 * sched: the placement engine of cce-sched.
 *
 * Promises:
 * - Resources are fixed point, thousandths of a unit (cpu in millicores,
 *   mem_mb and disk_mb in thousandths of a MiB), so capacity checks are
 *   exact integer comparisons and never drift with floating point.
 * - Placement is a pure function of the node pool, the state, the tasks in
 *   the order they are placed, the options and the seed: the same input
 *   gives the same bytes out.
 * - For spread, binpack, leastloaded and cost, the indexed search (index.c,
 *   per node shape, and per capacity for tasks without a shape filter, an
 *   ordering by a task-independent key) picks exactly the
 *   node that scoring every node would pick; sched.exhaustive selects the
 *   score-every-node path so that tests and the benchmark can compare them.
 *   Ties in score go to the less allocated node, then to a hash of the node
 *   name and the seed, then to the node index: no tie is left to chance.
 * - Parsing (parse.c) validates records and names the offending field in a
 *   lowercase message; it never prints. The engine (place.h) writes records
 *   only through the struct out it is given.
 * Memory: the sched owns every node, task, replica and string it holds;
 * sched_free releases all of it. Task names, their passed-through fields
 * and the nodes' JSON are carved from blocks (parse.c's keep), freed whole.
 */
#ifndef CCE_SCHED_H
#define CCE_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "json.h"
#include "map.h"
#include "out.h"

enum { R_CPU, R_MEM, R_DISK, NRES };

enum strategy { S_SPREAD, S_BINPACK, S_LEASTLOADED, S_COST, S_ROUNDROBIN, S_HASH, NSTRAT };
#define NINDEXED 4 /* strategies below this one use the heap index */

enum spread_kind { SP_NONE, SP_NODE, SP_ZONE, SP_REGION };
enum qos { Q_GUARANTEED, Q_BURSTABLE, Q_BESTEFFORT };
enum nstate { N_READY, N_CORDONED, N_NOTREADY };

/* Filters in the order they run; reasons are counted in this order. */
enum filter {
	F_NOTREADY, F_CORDONED, F_CPU, F_MEM, F_DISK, F_REGION, F_SELECTOR,
	F_SPREAD, F_ORIGIN, F_FAILED, NFILTER, F_PASS = NFILTER
};

/* The index has two levels: groups of nodes of one shape (region, zone,
 * labels, capacity), for tasks that filter on them, and classes of nodes of
 * one capacity, for tasks that do not: such a task looks at the first node
 * of each class instead of each group. */
enum { L_GROUP, L_CLASS, NLEVEL };

struct islot {                   /* a node's place in a binpack treap */
	int tl, tr;                     /* its children */
	int64_t tagg[NRES];             /* most free in its subtree */
};

struct hent {                   /* a heap position (index.c) */
	double k1, k2;                  /* the node's key in index_before's order */
	uint64_t tb;
	int n;                          /* the node */
	int64_t free[NRES];             /* its capacity less its allocation */
};

struct kv {
	char *k, *v;
};

struct node {
	char *name, *addr, *state;      /* addr may be NULL */
	char *json;                     /* ,"node":NAME[,"addr":ADDR] (in the blocks) */
	size_t json_len;
	int region, zone;               /* interned ids; "" when absent */
	struct kv *labels;              /* sorted by key */
	int nlabels;
	int64_t cap[NRES], load[2];
	double cost;
	enum nstate st;
	bool dead;                      /* state "dead": its replicas must move */
	/* dynamic */
	int64_t alloc[NRES];
	uint32_t nrep;                  /* live replicas on the node */
	double u, v;                    /* see sched_node_update */
	uint64_t tb;                    /* seeded tie-break */
	uint64_t nh;                    /* hash of the name, for rendezvous */
	double w;                       /* rendezvous weight (cpu share) */
	int group, cls;                 /* -1 unless ready (cls: -1 without classes) */
	struct islot ix[NLEVEL];        /* its place in its group's and its class's treap */
	uint32_t tprio;
	int rr;                         /* position in name order */
	uint32_t mark;
	uint32_t avoid;                 /* a pctx's epoch: its replica failed here */
	int *reps;                      /* replicas placed here (may hold dead ones) */
	int nreps, capreps;
};

struct task {
	char *name;                     /* name and extra: in the sched's blocks */
	size_t name_len;
	int64_t replicas, priority;
	int64_t req[NRES];
	char *region;                   /* NULL: any */
	struct kv *selector, *prefer;
	int nselector, nprefer;
	enum spread_kind spread;
	enum qos qos;
	int strategy;                   /* -1: the run's --strategy */
	char *key;                      /* NULL: the task name */
	char *extra;                    /* ",\"cpu\":0.5,..." the fields passed through */
	size_t extra_len;
	int tn;                         /* its tname */
	size_t order;                   /* input position, for --batch */
	double size;                    /* for --batch */
};

struct rep {
	int spec;                       /* index into tasks */
	int tname;
	int64_t replica;
	int node;                       /* -1: gone */
	char *gone;                     /* node name when gone */
	double score;                   /* as read from --state */
	bool live;
	char **failed;                  /* the nodes it failed on ("failed_on") */
	int nfailed;
};

struct tname {
	int *reps;                      /* NULL while it has one replica: see tname_reps */
	int one;
	int nreps, capreps;
	bool input;                     /* seen among the input tasks */
};

/* the indices in reps of the replicas of a task name, nreps of them */
static inline const int *tname_reps(const struct tname *T)
{
	return T->capreps ? T->reps : &T->one;
}

struct group {
	int level;                      /* L_GROUP or L_CLASS */
	int rep;                        /* a member node: all share region, zone, labels, cap
					 * (a class: cap) */
	int *members;
	int n;
	struct hent *heap[NINDEXED];    /* NULL until the strategy is used */
	int64_t (*agg[NINDEXED])[NRES]; /* per heap position: most free in its subtree */
	int troot;                      /* binpack treap */
	bool tree;
	int64_t dreq[NRES];             /* the last request seen, and its demand */
	int dnres, dact;
	double d;
	bool active[NRES];
};

struct sched {
	int strategy;
	double balance;
	uint64_t seed;
	bool exhaustive, explain, preempt, batch;
	bool health;                    /* --reschedule: read the nodes' "tasks" */
	int64_t max_restarts;           /* -1: restarts alone never move a replica */
	struct out *out;

	struct node *nodes;
	int nnodes, capnodes, nready;
	struct map node_ix, groupkeys, classkeys; /* copied keys -> index */
	struct map names;               /* task name (borrowed) -> tname */
	struct map strkeys;             /* zone or region (copied) -> strs */
	struct map reports;             /* node\0task\0replica -> health.c's report */
	char **strs;                    /* interned zones and regions */
	int nstrs, capstrs;
	struct group *groups, *classes; /* no classes when each group is one */
	int ngroups, nclasses;
	int *hpos[NLEVEL][NINDEXED];    /* a node's position in its heap, when built */
	int *rrorder;                   /* node indices in name order */
	int rrcursor;
	double wsum;
	bool uniform;                   /* every ready node has the same cpu */

	struct task *tasks;
	int ntasks, captasks;
	struct rep *reps;
	int nreps, capreps;
	struct tname *tnames;
	int ntnames, captnames;
	bool owning;                    /* some task, replica or tname owns memory */
	uint64_t hashed;                /* replicas counted for --balance */
	uint64_t batch_total;           /* replicas expected, with --batch */
	uint32_t epoch;

	struct buf line, tmp, ex, pbuf;
	char **blocks, *bpos;           /* small strings that live as long as the sched */
	int nblocks;
	size_t bleft;
	int *scratch;
	size_t scratchcap;
};

void sched_init(struct sched *s, struct out *out);

/* mem.c: the arrays of tasks, replicas and task names grow by
 * sched_grow (*cap doubled, first when 0, and the array moved to it) and
 * are freed by sched_release with their size in bytes (cap * elem) */
void *sched_grow(void *p, int *cap, size_t elem, int first);
void sched_release(void *p, size_t n);

/* health.c: the nodes' reports about their replicas, for --reschedule.
 * health_node keeps node's "tasks" (f: its record) when s->health: 0, or
 * -1 with err; health_bad: whether replica ri's node reports it failed or
 * past --max-restarts, why in why; health_avoid marks, with epoch, the
 * nodes replica r failed on; health_failed_add records one; health_state
 * reads a --state line's "failed_on" into r (0, or -1 with err);
 * health_add_failed appends it to a record. */
struct fields;
int health_node(struct sched *s, const struct fields *f, const char *node);
bool health_bad(struct sched *s, int ri, struct buf *why);
void health_avoid(struct sched *s, const struct rep *r, uint32_t epoch);
void health_failed_add(struct rep *r, const char *node);
int health_state(struct rep *r, const struct json_doc *d, char *err, size_t errlen);
void health_add_failed(const struct rep *r, struct buf *b);
void health_rep_free(struct rep *r);
void sched_free(struct sched *s);

/* Parsing: 0, or -1 with a lowercase reason naming the field in err. */
int sched_add_node(struct sched *s, const struct json_doc *d, char *err, size_t errlen);
/* A task record from the input; *ti receives its index. */
int sched_parse_task(struct sched *s, const struct json_doc *d, bool from_state, int *ti,
		     char *err, size_t errlen);
/* A line of --state: a placement, a moved or evicted event; other records
 * (unschedulable ones) are ignored. */
int sched_add_state(struct sched *s, const struct json_doc *d, char *err, size_t errlen);
/* Claims the task's name among the input tasks: -1 when it is a duplicate. */
int sched_claim_name(struct sched *s, int ti, char *err, size_t errlen);
/* Drops the last parsed task (after a rejection). */
void sched_drop_task(struct sched *s, int ti);
int strategy_from_name(const char *name);
extern const char *const strategy_names[NSTRAT];

/* Engine. sched_ready is called once after every node and state line. */
void sched_ready(struct sched *s);
void sched_reschedule(struct sched *s);
/* Remove (printing "removed") the --state replicas of task ti numbered at
 * or above its replica count, freeing their capacity. sched_place_task
 * does it first; --batch does it for every task before anything moves or
 * is placed. */
void sched_scale_down(struct sched *s, int ti);
/* A new live replica of task spec under task name tn, on no node yet: its
 * index in reps. */
int sched_new_rep(struct sched *s, int spec, int tn, int64_t replica);
/* The live replica number replica of task name tn (its index in reps), or -1. */
int sched_live_rep(const struct sched *s, int tn, int64_t replica);
/* --batch, once every task is read: scale each down, then reschedule
 * (when asked), keeping batch_total right; then sort and place. */
void sched_batch_prepare(struct sched *s, const int *tasks, int n, bool reschedule);
void sched_place_task(struct sched *s, int ti);
/* Replicas an input task will ask for, for --balance with --batch. */
void sched_expect(struct sched *s, uint64_t replicas);
/* Sorts tasks [from, ntasks) for --batch: priority, then size, then order. */
void sched_sort_batch(struct sched *s, int *order, int n);
/* --state-out: the placement the run leaves, appended to out as JSON
 * lines, one per live replica (on a node of the pool or on one gone from
 * it), by task name then replica, each as a kept replica is printed: a
 * replica placed by this run as its placement (without --explain's
 * fields), one read from --state with its score and fields as read, at
 * its node now. Read back with --state, it gives the same placement. */
void sched_state(const struct sched *s, struct buf *out);

#endif
