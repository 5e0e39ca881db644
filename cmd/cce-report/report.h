/*
 * report: the model cce-report builds from the tools' JSON lines, and the
 * page it writes from it.
 *
 * Promises:
 * - Each kind of record (a node, a heartbeat of the history, a placement,
 *   an alert...) is one row of the kind table (kinds.c): how to recognise
 *   it by its shape and how to add it to the model. Adding a kind is a
 *   row and a function. A record is checked whole before anything is
 *   taken from it, so a rejected line changes nothing.
 * - report_add never prints: it returns -1 with a lowercase reason in err
 *   ("capacity.cpu: expected a number, got string") for the caller to
 *   reject the line with.
 * - The page (page.c, html.c) is a pure function of the model: the same
 *   records give the same bytes. Its time is the latest time found in the
 *   records, not the clock, and the history window ends there.
 * Memory: the report owns every string (an arena freed at once by
 *   report_free) and every array it holds.
 */
#ifndef CCE_REPORT_H
#define CCE_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "json.h"
#include "map.h"

enum kind {
	K_AUTO = -1, K_NODE, K_HISTORY, K_EVENT, K_PLACEMENT, K_ALERT, K_STATUS,
	K_DEPLOY, K_PUSH, K_RECEIPT, K_GATEWAY, NKINDS
};

/* one point of a node's history; NAN where the heartbeat had no value */
struct point {
	int64_t ts;
	float cpu, rx, tx;      /* load.cpu, load.rx_bps, load.tx_bps */
};

struct rtask {                  /* a unit of a heartbeat's task summary */
	const char *task, *state;
	int64_t replica, restarts;
	bool oom;
};

enum { RES_CPU, RES_MEM, RES_DISK, NRES };

struct rnode {
	const char *name, *region, *zone, *state, *addr, *bw_limit;
	bool known;             /* a node record named it (not only the history) */
	double cap[NRES], load[NRES];
	bool has_load[NRES];
	double net_mbps;        /* capacity.net_mbps, 0: unknown */
	double rx, tx;          /* load.rx_bps, load.tx_bps; NAN: not reported */
	int64_t last_seen;
	struct rtask *tasks;
	int ntasks;
	struct point *pts;
	size_t npts, cappts;
};

struct rplace {                 /* one replica of what runs where */
	const char *task, *node, *error, *note, *state;
	int64_t replica, restarts;
	bool oom, reported;     /* reported: a node's task summary names it */
};

struct episode {                /* one firing of a rule for a key */
	const char *rule, *key, *severity, *message;
	int64_t start, end;     /* end -1: still firing */
};

struct rstatus {                /* cce-rule --status, the last per rule */
	const char *rule;
	int64_t v[8];           /* see status_fields in kinds.c */
	bool disabled;
};

struct rdeploy {
	const char *node, *release, *status, *error;
	int64_t exit, ms;       /* -1: absent */
};

struct rpush {                  /* cce-push --stats lines of one source */
	const char *source;
	int64_t ts, v[9];       /* the last record; see push_fields in kinds.c */
	int64_t *sts, *spooled; /* spooled over time */
	size_t n, cap;
};

struct rrecv {                  /* cce-push --receipts, per url */
	const char *url;
	int64_t batches, records, bytes, dead, lat_sum, lat_max, last_status;
};

struct rgate {                  /* cce-gateway /status, the last per source */
	const char *source;
	int64_t ts;
	double v[10];           /* see gate_fields in kinds.c */
};

struct revent {                 /* a registry event (cce-register watch, expire) */
	const char *node, *event, *reason;
	int64_t ts;
};

#define VEC(T) struct { T *v; size_t n, cap; }

struct report {
	struct map nodes;       /* name -> index + 1 in node */
	VEC(struct rnode) node;
	struct map places;      /* "task\nreplica" -> index + 1 in place */
	VEC(struct rplace) place;
	struct map eps;         /* alert id -> index + 1 in ep */
	VEC(struct episode) ep;
	struct map statmap;
	VEC(struct rstatus) status;
	VEC(struct rdeploy) deploy;
	struct map pushmap;
	VEC(struct rpush) push;
	struct map recvmap;
	VEC(struct rrecv) recv;
	struct map gatemap;
	VEC(struct rgate) gate;
	VEC(struct revent) event;
	uint64_t counts[NKINDS];
	int64_t latest;         /* the latest time in any record; 0: none */
	int64_t window_ms;      /* the history shown ends at latest */
	const char *title;
	struct arena_blk *arena;
	struct buf tmp;
};

#define VEC_PUSH(vec) \
	((vec).n == (vec).cap ? ((vec).cap = (vec).cap ? 2 * (vec).cap : 16, \
	 (vec).v = xrealloc((vec).v, (vec).cap * sizeof *(vec).v)) : 0, \
	 memset(&(vec).v[(vec).n], 0, sizeof *(vec).v), &(vec).v[(vec).n++])

void report_init(struct report *r);
void report_free(struct report *r);
/* a copy of s[0..n) in the report's arena, NUL-terminated */
const char *report_strn(struct report *r, const char *s, size_t n);

/* The kind of record d is by its shape, or K_AUTO when none fits. */
enum kind kind_detect(const struct json_doc *d);
#define KIND(k) (1u << (k))
#define KINDS_ALL (KIND(NKINDS) - 1)

/* Adds the record to the model, as the kind its shape says, which must be
 * one of kinds_ok (a set of KIND(k)); a record of no known shape is taken
 * as the first of kinds_ok, whose checks then say what it lacks;
 * source names where it came from (push and gateway lines without a node
 * are told apart by it). 0, or -1 with err filled and nothing changed. */
int report_add(struct report *r, unsigned kinds_ok, const struct json_doc *d, const char *source,
	       char *err, size_t errlen);

/* The row of task's replica in what runs where, added when new. */
struct rplace *report_place(struct report *r, const char *task, int64_t replica, bool *added);

/* The whole page into out. */
void report_page(struct report *r, struct buf *out);

/* the sections past the nodes (sections.c), for report_page; page_places
 * after places_merge, which adds the nodes' task summaries */
void places_merge(struct report *r);
void page_places(struct report *r, struct buf *b);
void page_alerts(struct report *r, struct buf *b);
void page_rules(struct report *r, struct buf *b);
void page_deploys(struct report *r, struct buf *b);
void page_push(struct report *r, struct buf *b);
void page_gateways(struct report *r, struct buf *b);

/* the members of the records kept by number, in the order of their v[] */
extern const char *const status_fields[8], *const push_fields[9], *const gate_fields[10];

#endif
