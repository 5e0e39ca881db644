/*
 * registry: the node table in memory, the op records that change it, and
 * the JSON forms of both. It knows nothing of files, etcd or tokens' MACs:
 * the stores load a table, apply ops to it and persist what changed.
 *
 * Promises:
 * - op_parse checks an op record completely (names are 1-63 of
 *   [A-Za-z0-9._-], every field has its type, records over OP_MAX_RECORD
 *   bytes are refused) and copies what it keeps: the op owns its memory
 *   and outlives the line. A refused op gets a one-line lowercase reason.
 * - reg_apply decides one op against the table at time now and either
 *   changes the table and returns the event, or returns EV_REJECTED with a
 *   reason and leaves the table unchanged. Token MACs are checked by the
 *   caller (token.h); reg_apply checks revocation and node existence.
 * - Every change reg_apply makes is an assignment (a whole record, or
 *   last_seen, load and tasks), so replaying a log of them is
 *   deterministic. An op without "tasks" keeps the node's last summary;
 *   "tasks":[] clears it.
 * - Entries are owned by the table; reg_free releases everything.
 */
#ifndef CCE_REGISTER_REGISTRY_H
#define CCE_REGISTER_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "json.h"
#include "map.h"

#define NAME_MAX_LEN 63
#define OP_MAX_RECORD (64 * 1024)
/* a heartbeat's "tasks": at most this many units, each task name at most
 * TASK_NAME_MAX bytes, the whole under OP_MAX_RECORD */
#define TASKS_MAX 256
#define TASK_NAME_MAX 255
#define TASK_STATE_MAX 32

/* OP_REVOKE is the operator's `revoke`, never read from input */
enum op_kind { OP_JOIN, OP_HEARTBEAT, OP_LEAVE, OP_CORDON, OP_UNCORDON, OP_REVOKE, OP_NONE };

enum ev_kind {
	EV_JOINED, EV_UPDATED, EV_HEARTBEAT, EV_LEFT, EV_CORDONED, EV_UNCORDONED,
	EV_REJECTED, EV_REVOKED,
};

enum node_state { ST_READY, ST_CORDONED, ST_SUSPECT, ST_DEAD };

struct node {
	/* addr..services point into one block (fixed), set together by join:
	 * one allocation instead of five, for tables of 100,000 nodes */
	char *fixed;
	char *addr, *region, *zone;     /* NULL: "" */
	char *labels;                   /* raw JSON object, NULL: {} */
	double cpu, mem_mb, disk_mb;    /* capacity */
	double net_mbps;                /* capacity: the link, 0: not said */
	char *services;                 /* raw JSON array, NULL: [] */
	double cost;
	int64_t joined;
	int64_t revoked;                /* tokens issued at or before are void */
	bool cordoned;
	bool present;                   /* joined; false: only a revocation */
	/* the last token found valid, to skip its HMAC next time: the token
	 * text is fixed by these three (token.h) */
	bool tok_ok;
	int64_t tok_expires, tok_issued;
	unsigned char tok_mac[32];
	char *rev;                      /* etcd: mod_revision of the node key */
	char *revoke_rev;               /* etcd: mod_revision of the revoke key */
	/* what a heartbeat touches, next to the name that finds the node:
	 * replaying a log is one cache miss per line, not four */
	int64_t last_seen;
	char *load;                     /* raw JSON object, NULL: {} */
	/* raw JSON array of the units' summaries, NULL: none reported. With
	 * present beside the other flags the struct is as large as before
	 * it had this: a node that reports no tasks costs nothing more */
	char *tasks;
	char name[];                    /* allocated with the node */
};

struct registry {
	struct map map;                 /* name -> node, the key its name */
	size_t count;                   /* entries, present or not */
};

struct op {
	enum op_kind kind;
	char name[NAME_MAX_LEN + 1];
	char *token;
	bool force;
	char *addr, *region, *zone, *labels, *services, *load;
	char *tasks;                    /* NULL: absent (kept); "[]": cleared */
	double cpu, mem_mb, disk_mb, net_mbps, cost;
	int64_t ts;                     /* 0: none */
};

void reg_init(struct registry *r);
/* room for n entries without rehashing */
void reg_reserve(struct registry *r, size_t n);
void reg_free(struct registry *r);
struct node *reg_get(const struct registry *r, const char *name);
/* Hints for a batch of lookups, so that their cache misses overlap:
 * reg_prefetch_slot(r, map_hash(name)) first, later reg_prefetch_node
 * with the same hash. Neither changes anything. */
void reg_prefetch_slot(const struct registry *r, uint64_t h);
void reg_prefetch_node(const struct registry *r, uint64_t h);
struct node *reg_add(struct registry *r, const char *name);   /* get or create */
void reg_del(struct registry *r, const char *name);
void node_clear(struct node *n);      /* drop the record, keep name and revocation */
/* sets addr, region, zone, labels and services (NULL: the default) */
void node_set_fixed(struct node *n, const char *addr, const char *region, const char *zone,
		    const char *labels, const char *services);
/* every entry (present or not), in no particular order */
#define REG_FOREACH(r, i, n) \
	for (size_t i = 0; i < (r)->map.cap; i++) \
		if ((r)->map.ent[i].key && ((n) = (r)->map.ent[i].val) != NULL)

/* The entries (only present ones when present_only) sorted by name, in a
 * new array of *n (the caller frees the array, not the nodes). */
struct node **reg_sorted(const struct registry *r, bool present_only, size_t *n);

bool name_valid(const char *s, size_t n);
const char *op_name(enum op_kind k);
const char *ev_name(enum ev_kind k);
const char *state_name(enum node_state s);
enum node_state node_state(const struct node *n, int64_t now, int64_t ttl);

/* 0, or -1 with why filled */
int op_parse(const struct json_doc *d, size_t reclen, struct op *op, char *why, size_t whylen);
void op_free(struct op *op);

/* The decision for one op; see the header. */
enum ev_kind reg_apply(struct registry *r, const struct op *op, int64_t now,
		       char *why, size_t whylen);

/* The stored form of a node (snapshot lines, etcd values): the list form
 * with "cordoned" in place of "state"; "ev" is added when ev >= 0. */
void node_store_json(struct buf *b, const struct node *n, int ev);
/* The list form, with state */
void node_list_json(struct buf *b, const struct node *n, enum node_state st);
/* Reads a stored form into the table: a record with "joined" replaces the
 * node's record, a "revoked" time sets its revocation. -1 if malformed. */
int node_load_json(struct registry *r, const struct json_doc *d, int tok);
/* list filters; d is scratch space. node_selected: the labels hold every
 * k=v (or k) of "k=v,k2=v2"; node_offers: a service of that name, its port
 * in *port. */
bool node_selected(const struct node *n, const char *sel, struct json_doc *d);
bool node_offers(const struct node *n, const char *svc, struct json_doc *d, int64_t *port);
/* {"event":..,"node":..,"ts":..[,"reason":..]} */
void event_json(struct buf *b, const char *event, const char *node, size_t nodelen,
		int64_t ts, const char *reason);

#endif
