/*
 * health: what the nodes report about the replicas they run, for
 * --reschedule (see sched.h).
 *
 * Promises:
 * - A node record's "tasks" (the unit summaries cce-register keeps from
 *   `cce-register heartbeat --tasks`) is read only when the run asks for
 *   it (sched.health); then a wrong one rejects the node line with the
 *   field named, as every other field does.
 * - A replica is unhealthy when the node the state places it on reports
 *   it "failed", or (with --max-restarts N) restarted more than N times.
 *   A report from any other node is stale (the replica moved away and
 *   that node has not applied yet) and ignored.
 * - The nodes a replica failed on (its "failed_on" in --state) are never
 *   chosen for it again: that is what keeps a replica that fails
 *   everywhere from bouncing between two nodes forever. The list is kept
 *   in the order the failures happened, each node once.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "field.h"
#include "sched.h"

/* the key of a report: node, task and replica, NUL-separated */
static void report_key(struct buf *k, const char *node, const char *task, int64_t replica)
{
	buf_reset(k);
	buf_add(k, node, strlen(node) + 1);
	buf_add(k, task, strlen(task) + 1);
	buf_add_i64(k, replica);
}

/* a report packed in the map's integer: restarts, failed and oom bits */
#define REP_FAILED 1
#define REP_OOM 2
#define REP_SHIFT 2

static int one_report(const struct fields *f, int64_t *packed, char **task, int64_t *replica)
{
	char *state = NULL;
	int64_t restarts = 0;
	bool oom = false;
	if (field_str(f, "task", FIELD_REQUIRED | FIELD_NONEMPTY, 0, task) < 0 ||
	    field_int(f, "replica", FIELD_REQUIRED, 0, 1000000, replica) < 0 ||
	    field_str(f, "state", FIELD_REQUIRED | FIELD_NONEMPTY, 0, &state) < 0 ||
	    field_int(f, "restarts", 0, 0, INT32_MAX, &restarts) < 0 ||
	    field_bool(f, "oom", 0, &oom) < 0) {
		free(state);
		free(*task);
		*task = NULL;
		return -1;
	}
	*packed = restarts << REP_SHIFT | (strcmp(state, "failed") == 0 ? REP_FAILED : 0) |
		  (oom ? REP_OOM : 0);
	free(state);
	return 0;
}

int health_node(struct sched *s, const struct fields *f, const char *node)
{
	if (!s->health)
		return 0;
	int arr, got = field_array(f, "tasks", FIELD_NULL, &arr);
	if (got <= 0)
		return got;
	const struct json_doc *d = f->d;
	/* every entry is checked before any is kept: a rejected line leaves nothing */
	for (int pass = 0; pass < 2; pass++) {
		size_t i = 0;
		for (int e = json_first(d, arr); e >= 0; e = json_next_elem(d, arr, e), i++) {
			char name[32];
			snprintf(name, sizeof name, "tasks[%zu]", i);
			struct fields ef = { .d = d, .obj = e, .name = name, .err = f->err,
					     .errlen = f->errlen };
			if (json_type_of(d, e) != JSON_OBJECT)
				return field_fail(&ef, NULL, "expected an object");
			char *task = NULL;
			int64_t packed, replica;
			if (one_report(&ef, &packed, &task, &replica) < 0)
				return -1;
			if (pass) {
				bool added;
				report_key(&s->tmp, node, task, replica);
				map_put(&s->reports, s->tmp.data, s->tmp.len, &added)->num = (intptr_t)packed;
			}
			free(task);
		}
	}
	return 0;
}

bool health_bad(struct sched *s, int ri, struct buf *why)
{
	const struct rep *r = &s->reps[ri];
	if (!s->health || r->node < 0)
		return false;
	report_key(&s->tmp, s->nodes[r->node].name, s->tasks[r->spec].name, r->replica);
	const struct map_ent *e = map_get(&s->reports, s->tmp.data, s->tmp.len);
	if (!e)
		return false;
	int64_t restarts = (int64_t)e->num >> REP_SHIFT;
	bool failed = e->num & REP_FAILED, oom = e->num & REP_OOM;
	buf_reset(why);
	if (failed)
		buf_addf(why, "failed on %s after %" PRId64 " restarts%s", s->nodes[r->node].name,
			 restarts, oom ? ", killed for memory" : "");
	else if (s->max_restarts >= 0 && restarts > s->max_restarts)
		buf_addf(why, "%" PRId64 " restarts on %s, more than --max-restarts %" PRId64 "%s",
			 restarts, s->nodes[r->node].name, s->max_restarts,
			 oom ? ", killed for memory" : "");
	else
		return false;
	return true;
}

static bool failed_on(const struct rep *r, const char *node)
{
	for (int i = 0; i < r->nfailed; i++)
		if (!strcmp(r->failed[i], node))
			return true;
	return false;
}

void health_failed_add(struct rep *r, const char *node)
{
	if (failed_on(r, node))
		return;
	r->failed = xrealloc(r->failed, ((size_t)r->nfailed + 1) * sizeof *r->failed);
	r->failed[r->nfailed++] = xstrdup(node);
}

void health_avoid(struct sched *s, const struct rep *r, uint32_t epoch)
{
	for (int i = 0; i < r->nfailed; i++) {
		const struct map_ent *e = map_get(&s->node_ix, r->failed[i], strlen(r->failed[i]));
		if (e)
			s->nodes[e->num].avoid = epoch;
	}
}

void health_rep_free(struct rep *r)
{
	for (int i = 0; i < r->nfailed; i++)
		free(r->failed[i]);
	free(r->failed);
	r->failed = NULL;
	r->nfailed = 0;
}

int health_state(struct rep *r, const struct json_doc *d, char *err, size_t errlen)
{
	struct fields f;
	int arr;
	fields_init(&f, d, 0, err, errlen);
	int got = field_array(&f, "failed_on", 0, &arr);
	if (got <= 0)
		return got;
	struct rep nr = { 0 };
	size_t i = 0;
	for (int e = json_first(d, arr); e >= 0; e = json_next_elem(d, arr, e), i++) {
		char name[32], *node = NULL;
		snprintf(name, sizeof name, "failed_on[%zu]", i);
		if (field_str_at(&f, name, e, FIELD_NONEMPTY, 0, &node) < 0) {
			health_rep_free(&nr);
			return -1;
		}
		health_failed_add(&nr, node);
		free(node);
	}
	health_rep_free(r);
	r->failed = nr.failed;
	r->nfailed = nr.nfailed;
	return 0;
}

void health_add_failed(const struct rep *r, struct buf *b)
{
	if (!r->nfailed)
		return;
	buf_adds(b, ",\"failed_on\":[");
	for (int i = 0; i < r->nfailed; i++) {
		if (i)
			buf_addc(b, ',');
		buf_add_json_str(b, r->failed[i], strlen(r->failed[i]));
	}
	buf_addc(b, ']');
}
