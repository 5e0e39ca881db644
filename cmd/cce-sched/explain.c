/* explain: why a replica is unschedulable, and --explain: the candidates,
 * the rejections by filter and the top three */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "index.h"
#include "place.h"
#include "sched.h"

void add_reason(struct sched *s, const struct pctx *c, struct buf *b)
{
	int counts[NFILTER + 1];
	count_filters(s, c, counts);
	buf_addf(b, "0/%d nodes available: ", s->nnodes);
	if (!s->nnodes) {
		buf_adds(b, "no nodes in the pool");
		return;
	}
	bool first = true;
	for (int f = 0; f < NFILTER; f++)
		if (counts[f]) {
			buf_addf(b, "%s%d ", first ? "" : ", ", counts[f]);
			filter_name(c->t, f, b);
			first = false;
		}
}

void add_explain(struct sched *s, const struct pctx *c, struct buf *b)
{
	int counts[NFILTER + 1];
	struct cand top[3];
	int ntop = 0;
	count_filters(s, c, counts);
	buf_addf(b, ",\"candidates\":%d,\"rejected\":{", counts[F_PASS]);
	bool first = true;
	for (int f = 0; f < NFILTER; f++)
		if (counts[f]) {
			buf_adds(b, first ? "\"" : ",\"");
			filter_name(c->t, f, b);
			buf_addf(b, "\":%d", counts[f]);
			first = false;
		}
	buf_adds(b, "},\"top\":[");
	for (int i = 0; i < s->nnodes; i++) {
		if (node_filter(s, c, i, true) != F_PASS)
			continue;
		struct cand k;
		cand_make(s, c, i, &k);
		int j = ntop < 3 ? ntop++ : 3;
		while (j > 0 && better(s, c->st, &k, &top[j - 1])) {
			if (j < 3)
				top[j] = top[j - 1];
			j--;
		}
		if (j < 3)
			top[j] = k;
	}
	for (int i = 0; i < ntop; i++) {
		buf_adds(b, i ? ",{\"node\":" : "{\"node\":");
		const char *nm = s->nodes[top[i].n].name;
		buf_add_json_str(b, nm, strlen(nm));
		buf_adds(b, ",\"score\":");
		add_score(b, top[i].score);
		buf_addc(b, '}');
	}
	buf_addc(b, ']');
}

/* --explain is about the choice, so it is taken before the node is used */
void explain_now(struct sched *s, const struct pctx *c)
{
	if (s->explain) {
		buf_reset(&s->ex);
		add_explain(s, c, &s->ex);
	}
}
