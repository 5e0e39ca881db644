/* output: the records the engine prints (placed, moved, evicted,
 * removed, unschedulable, kept) and --state-out */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "index.h"
#include "place.h"
#include "sched.h"

/* a score in [0, 1] to four decimals, as buf_add_double would print
 * round4(x), without its printf and strtod round trip */
void add_score(struct buf *b, double x)
{
	int64_t q = llround(x * 1e4);
	if (q < 0 || q > 10000) {
		buf_add_double(b, round4(x));
		return;
	}
	char t[8];
	int n = 0;
	t[n++] = (char)('0' + q / 10000);
	int f = (int)(q % 10000);
	if (f) {
		t[n++] = '.';
		for (int div = 1000; f; div /= 10) {
			t[n++] = (char)('0' + f / div);
			f %= div;
		}
	}
	buf_add(b, t, (size_t)n);
}

/* (literal pieces rather than buf_addf: a printf per record was a tenth
 * of the output's cost) */
void add_head(struct buf *b, const char *event, const struct task *t, int64_t replica)
{
	if (event) {
		buf_adds(b, "{\"event\":\"");
		buf_adds(b, event);
		buf_adds(b, "\",\"task\":");
	} else {
		buf_adds(b, "{\"task\":");
	}
	buf_add_json_str(b, t->name, t->name_len);
	buf_adds(b, ",\"replica\":");
	buf_add_i64(b, replica);
}

/* ,"node":NAME (and its addr), or ,"from":NAME */
void add_node(struct buf *b, const char *key, const struct node *n, const char *name)
{
	bool node = !strcmp(key, "node");
	if (n && node) {
		buf_add(b, n->json, n->json_len);
		return;
	}
	buf_adds(b, node ? ",\"node\":" : ",\"from\":");
	name = n ? n->name : name;
	buf_add_json_str(b, name, strlen(name));
	if (n && n->addr && node) {
		buf_adds(b, ",\"addr\":");
		buf_add_json_str(b, n->addr, strlen(n->addr));
	}
}

void emit(struct sched *s)
{
	out_line(s->out, s->line.data, s->line.len);
}

/* a placement, or with r a replica of --state moved from node from */
void emit_placed(struct sched *s, const struct pctx *c, const struct cand *k,
			const struct rep *r, const char *from, const char *why)
{
	struct buf *b = &s->line;
	buf_reset(b);
	add_head(b, r ? "moved" : NULL, c->t, c->replica);
	if (r)
		add_node(b, "from", NULL, from);
	add_node(b, "node", &s->nodes[k->n], NULL);
	buf_adds(b, ",\"score\":");
	add_score(b, k->score);
	if (s->explain)
		buf_add(b, s->ex.data, s->ex.len);
	if (!r) {
		buf_add(b, c->t->extra, c->t->extra_len);
	} else {
		if (why) {
			buf_adds(b, ",\"reason\":");
			buf_add_json_str(b, why, strlen(why));
		}
		health_add_failed(r, b);
	}
	buf_addc(b, '}');
	emit(s);
}

void emit_unsched(struct sched *s, const struct pctx *c, const char *from)
{
	struct buf *b = &s->line;
	buf_reset(b);
	add_head(b, NULL, c->t, c->replica);
	if (from)
		add_node(b, "from", NULL, from);
	buf_adds(b, ",\"error\":\"unschedulable\",\"reason\":");
	buf_reset(&s->tmp);
	add_reason(s, c, &s->tmp);
	buf_add_json_str(b, s->tmp.data, s->tmp.len);
	buf_addc(b, '}');
	emit(s);
}

/* a replica of --state that stays: printed again, as it is, so that the
 * output is the whole placement of the tasks read */
static void add_kept(const struct sched *s, int ri, struct buf *b)
{
	const struct rep *r = &s->reps[ri];
	const struct task *t = &s->tasks[r->spec];
	add_head(b, NULL, t, r->replica);
	add_node(b, "node", r->node >= 0 ? &s->nodes[r->node] : NULL, r->gone);
	buf_adds(b, ",\"score\":");
	buf_add_double(b, r->score);
	buf_add(b, t->extra, t->extra_len);
	health_add_failed(r, b);
	buf_addc(b, '}');
}

void emit_kept(struct sched *s, int ri)
{
	buf_reset(&s->line);
	add_kept(s, ri, &s->line);
	emit(s);
}

static const struct sched *state_cmp_sched;
static int state_cmp(const void *a, const void *b)
{
	const struct rep *x = &state_cmp_sched->reps[*(const int *)a];
	const struct rep *y = &state_cmp_sched->reps[*(const int *)b];
	int c = strcmp(state_cmp_sched->tasks[x->spec].name, state_cmp_sched->tasks[y->spec].name);
	if (c)
		return c;
	return x->replica < y->replica ? -1 : x->replica > y->replica;
}

void sched_state(const struct sched *s, struct buf *out)
{
	int *order = xmalloc(((size_t)s->nreps + 1) * sizeof(int));
	int n = 0;
	for (int i = 0; i < s->nreps; i++)
		if (s->reps[i].live && (s->reps[i].node >= 0 || s->reps[i].gone))
			order[n++] = i;
	state_cmp_sched = s;
	qsort(order, (size_t)n, sizeof(int), state_cmp);
	for (int i = 0; i < n; i++) {
		add_kept(s, order[i], out);
		buf_addc(out, '\n');
	}
	free(order);
}
