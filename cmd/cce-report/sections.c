/*
 * sections: the page's sections past the nodes: what runs where, alerts,
 * rules, deploys, push backlog and gateways (see page.c for the rules they
 * share: left out when empty, long lists cut with a note).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "html.h"
#include "report.h"

#define MAX_ALERT_ROWS 400

static void open_section(struct buf *b, const char *id, const char *title, const char *heads)
{
	buf_addf(b, "<section id=\"%s\"><h2>%s</h2>\n", id, title);
	if (heads)
		buf_addf(b, "<div class=\"wrap\"><table class=\"sort\" id=\"%s-table\"><thead><tr>%s"
			    "</tr></thead><tbody>\n", id, heads);
}

static void close_table(struct buf *b)
{
	buf_adds(b, "</tbody></table></div>\n");
}

static void td_str(struct buf *b, const char *s, const char *cls)
{
	buf_adds(b, "<td");
	if (cls)
		buf_addf(b, " class=\"%s\"", cls);
	buf_adds(b, ">");
	html_esc(b, s ? s : "-");
	buf_adds(b, "</td>");
}

static void td_int(struct buf *b, int64_t v)
{
	buf_addf(b, "<td class=\"n\">%lld</td>", (long long)v);
}

static void td_num(struct buf *b, double v)
{
	buf_addf(b, "<td class=\"n\" data-v=\"%g\">", v);
	html_num(b, v);
	buf_adds(b, "</td>");
}

static void td_bytes(struct buf *b, double v)
{
	buf_addf(b, "<td class=\"n\" data-v=\"%g\">", v);
	html_bytes(b, v);
	buf_adds(b, "</td>");
}

/* ---- what runs where ---- */

/* the nodes' task summaries onto the placements: a unit's state, restarts
 * and OOM on its replica's row, and units no placement names as rows of
 * their own */
void places_merge(struct report *r)
{
	for (size_t i = 0; i < r->node.n; i++) {
		const struct rnode *x = &r->node.v[i];
		for (int k = 0; x->known && k < x->ntasks; k++) {
			const struct rtask *t = &x->tasks[k];
			bool added;
			struct rplace *p = report_place(r, t->task, t->replica, &added);
			if (p->node && strcmp(p->node, x->name) != 0) {
				buf_reset(&r->tmp);
				buf_addf(&r->tmp, "placed on %s, reported by %s", p->node, x->name);
				p->note = report_strn(r, r->tmp.data, r->tmp.len);
			}
			if (!p->node)
				p->node = x->name;
			if (added)
				p->note = "not in the placements";
			p->state = t->state;
			p->restarts = t->restarts;
			p->oom = t->oom;
			p->reported = true;
		}
	}
}

static int place_cmp(const void *x, const void *y)
{
	const struct rplace *a = x, *b = y;
	int c = strcmp(a->task, b->task);
	return c ? c : (a->replica > b->replica) - (a->replica < b->replica);
}

void page_places(struct report *r, struct buf *b)
{
	qsort(r->place.v, r->place.n, sizeof *r->place.v, place_cmp);   /* the map is done with */
	open_section(b, "places", "What runs where",
		     "<th>task</th><th>replica</th><th>node</th><th>state</th><th>restarts</th>"
		     "<th>note</th>");
	size_t shown = r->place.n < MAX_ROWS ? r->place.n : MAX_ROWS;
	for (size_t i = 0; i < shown; i++) {
		const struct rplace *p = &r->place.v[i];
		buf_adds(b, "<tr>");
		td_str(b, p->task, NULL);
		td_int(b, p->replica);
		td_str(b, p->node ? p->node : "(none)", p->node ? NULL : "bad");
		bool ok = p->state && strcmp(p->state, "active") == 0;
		td_str(b, p->state ? p->state : p->node ? "placed" : "unplaced",
		       p->state && !ok ? "warn" : NULL);
		if (p->restarts >= 0)
			buf_addf(b, "<td class=\"n\">%lld%s</td>", (long long)p->restarts,
				 p->oom ? " (OOM)" : "");
		else
			buf_adds(b, "<td class=\"n\">-</td>");
		buf_adds(b, "<td class=\"w\">");
		if (p->error) {
			buf_adds(b, "<span class=\"bad\">");
			html_esc(b, p->error);
			buf_adds(b, "</span> ");
		}
		html_esc(b, p->note ? p->note : "");
		buf_adds(b, "</td></tr>\n");
	}
	close_table(b);
	html_cut_note(b, shown, r->place.n, "replicas");
	buf_adds(b, "</section>\n");
}

/* ---- alerts ---- */

static int ep_cmp(const void *x, const void *y)
{
	const struct episode *a = x, *b = y;
	int c = strcmp(a->rule, b->rule);
	if (!c)
		c = strcmp(a->key, b->key);
	return c ? c : (a->start > b->start) - (a->start < b->start);
}

static const char *sev_class(const char *s)
{
	static const char *const known[] = { "critical", "warning", "info" };
	for (int i = 0; s && i < 3; i++)
		if (strcmp(s, known[i]) == 0)
			return known[i];
	return "other";
}

/* one bar per episode in a 1000-wide strip over [t0, t1] */
static void alert_bar(struct buf *b, const struct episode *e, int64_t t0, int64_t t1)
{
	double span = t1 > t0 ? (double)(t1 - t0) : 1;
	int64_t end = e->end < 0 ? t1 : e->end;
	double x = (double)(e->start - t0) * 1000 / span, w = (double)(end - e->start) * 1000 / span;
	/* at least 3 units wide, and inside the strip, so that it shows */
	w = fmax(w, 3);
	x = fmin(x, 1000 - w);
	buf_addf(b, "<rect class=\"ab sev-%s%s\" x=\"%.1f\" y=\"2\" width=\"%.1f\" height=\"12\">"
		    "<title>", sev_class(e->severity), e->end < 0 ? " open" : "", x, w);
	html_esc(b, e->severity ? e->severity : "alert");
	buf_adds(b, " firing from ");
	html_time(b, e->start);
	if (e->end < 0) {
		buf_adds(b, ", still firing");
	} else {
		buf_adds(b, " to ");
		html_time(b, e->end);
		buf_adds(b, " (");
		html_age(b, e->end - e->start);
		buf_adds(b, ")");
	}
	if (e->message) {
		buf_adds(b, ": ");
		html_esc(b, e->message);
	}
	buf_adds(b, "</title></rect>");
}

static void alert_row(struct buf *b, const struct episode *e, size_t n, int64_t t0, int64_t t1)
{
	const struct episode *last = &e[n - 1];
	buf_adds(b, "<tr>");
	td_str(b, last->rule, NULL);
	td_str(b, last->key[0] ? last->key : "-", NULL);
	td_str(b, last->severity, NULL);
	td_str(b, last->end < 0 ? "firing" : "resolved", last->end < 0 ? "bad" : NULL);
	td_int(b, (int64_t)n);
	buf_adds(b, "<td class=\"w\"><svg class=\"tl\" viewBox=\"0 0 1000 16\" "
		    "preserveAspectRatio=\"none\" role=\"img\">");
	for (size_t i = 0; i < n; i++)
		alert_bar(b, &e[i], t0, t1);
	buf_adds(b, "</svg></td></tr>\n");
}

void page_alerts(struct report *r, struct buf *b)
{
	struct episode *e = r->ep.v;
	size_t n = r->ep.n, rows = 0, firing = 0;
	qsort(e, n, sizeof *e, ep_cmp);     /* the id map is done with */
	int64_t t0 = INT64_MAX, t1 = r->latest;
	for (size_t i = 0; i < n; i++) {
		t0 = e[i].start < t0 ? e[i].start : t0;
		t1 = e[i].end > t1 ? e[i].end : t1;
		firing += e[i].end < 0;
	}
	open_section(b, "alerts", "Alerts", NULL);
	buf_addf(b, "<p>%zu episodes, <span class=\"%s\">%zu still firing</span>. Bars run from "
		    "firing to resolved; a dashed bar is still firing.</p>\n", n, firing ? "bad" : "",
		 firing);
	buf_adds(b, "<div class=\"axis\"><span>");
	html_time(b, t0);
	buf_adds(b, "</span><span>");
	html_time(b, t1);
	buf_adds(b, "</span></div>\n<div class=\"wrap\"><table class=\"sort\" id=\"alerts-table\">"
		    "<thead><tr><th>rule</th><th>key</th><th>severity</th><th>now</th><th>episodes</th>"
		    "<th>timeline</th></tr></thead><tbody>\n");
	size_t groups = 0;
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && strcmp(e[j].rule, e[i].rule) == 0 && strcmp(e[j].key, e[i].key) == 0;)
			j++;
		groups++;
		if (rows < MAX_ALERT_ROWS) {
			alert_row(b, &e[i], j - i, t0, t1);
			rows++;
		}
	}
	close_table(b);
	html_cut_note(b, rows, groups, "rule and key rows");
	buf_adds(b, "</section>\n");
}

void page_rules(struct report *r, struct buf *b)
{
	open_section(b, "rules", "Rules", "<th>rule</th><th>evaluated</th><th>matched</th><th>fired</th>"
		     "<th>resolved</th><th>suppressed</th><th>errors</th><th>keys</th>"
		     "<th>firing keys</th><th>enabled</th>");
	for (size_t i = 0; i < r->status.n; i++) {
		const struct rstatus *s = &r->status.v[i];
		buf_adds(b, "<tr>");
		td_str(b, s->rule, NULL);
		for (int k = 0; k < 8; k++)
			td_int(b, s->v[k]);
		td_str(b, s->disabled ? "disabled" : "yes", s->disabled ? "bad" : NULL);
		buf_adds(b, "</tr>\n");
	}
	close_table(b);
	buf_adds(b, "</section>\n");
}

/* ---- deploys ---- */

static void deploy_summary(struct report *r, struct buf *b)
{
	buf_adds(b, "<ul>");
	for (size_t i = 0; i < r->deploy.n; i++) {
		const char *rel = r->deploy.v[i].release;
		bool seen = false;
		for (size_t k = 0; k < i && !seen; k++)
			seen = html_strcmp(r->deploy.v[k].release, rel) == 0;
		if (seen)
			continue;
		size_t ok = 0, failed = 0, other = 0;
		for (size_t k = i; k < r->deploy.n; k++) {
			const struct rdeploy *d = &r->deploy.v[k];
			if (html_strcmp(d->release, rel) != 0)
				continue;
			ok += strcmp(d->status, "deployed") == 0;
			failed += strcmp(d->status, "failed") == 0;
			other += strcmp(d->status, "deployed") != 0 && strcmp(d->status, "failed") != 0;
		}
		buf_adds(b, "<li>release ");
		html_esc(b, rel ? rel : "(none)");
		buf_addf(b, ": %zu deployed, <span class=\"%s\">%zu failed</span>", ok, failed ? "bad" : "",
			 failed);
		if (other)
			buf_addf(b, ", %zu other", other);
		buf_adds(b, "</li>");
	}
	buf_adds(b, "</ul>\n");
}

void page_deploys(struct report *r, struct buf *b)
{
	open_section(b, "deploys", "Deploys", NULL);
	deploy_summary(r, b);
	buf_adds(b, "<div class=\"wrap\"><table class=\"sort\" id=\"deploys-table\"><thead><tr>"
		    "<th>node</th><th>release</th><th>status</th><th>exit</th><th>ms</th><th>error</th>"
		    "</tr></thead><tbody>\n");
	size_t n = r->deploy.n, from = n > MAX_ROWS ? n - MAX_ROWS : 0;
	for (size_t i = from; i < n; i++) {
		const struct rdeploy *d = &r->deploy.v[i];
		buf_adds(b, "<tr>");
		td_str(b, d->node, NULL);
		td_str(b, d->release, NULL);
		td_str(b, d->status, strcmp(d->status, "failed") == 0 ? "bad" : NULL);
		if (d->exit == -1)
			td_str(b, "-", NULL);
		else
			td_int(b, d->exit);
		if (d->ms < 0)
			td_str(b, "-", NULL);
		else
			td_int(b, d->ms);
		td_str(b, d->error ? d->error : "", "w");
		buf_adds(b, "</tr>\n");
	}
	close_table(b);
	html_cut_note(b, n - from, n, "older deploy lines");
	buf_adds(b, "</section>\n");
}

/* ---- push backlog ---- */

static void push_row(struct report *r, struct buf *b, const struct rpush *p)
{
	buf_adds(b, "<tr>");
	td_str(b, p->source, NULL);
	buf_addf(b, "<td data-v=\"%lld\">", (long long)p->ts);
	html_time(b, p->ts);
	buf_adds(b, "</td>");
	td_int(b, p->v[4]);
	td_bytes(b, (double)p->v[5]);
	td_int(b, p->v[2]);
	td_int(b, p->v[6]);
	td_int(b, p->v[7]);
	td_int(b, p->v[8]);
	/* the backlog over the time the stats lines cover */
	int64_t t0 = INT64_MAX, t1 = 0, max = 0;
	struct point *v = xmalloc(p->n * sizeof *v);
	float bins[SPARK_BINS];
	for (size_t i = 0; i < p->n; i++) {
		t0 = p->sts[i] < t0 ? p->sts[i] : t0;
		t1 = p->sts[i] > t1 ? p->sts[i] : t1;
		max = p->spooled[i] > max ? p->spooled[i] : max;
		v[i] = (struct point){ p->sts[i], (float)p->spooled[i], NAN, NAN };
	}
	spark_bins(&v->ts, &v->cpu, p->n, sizeof *v, t0, t1 > t0 ? t1 : t0 + 1, bins);
	free(v);
	buf_reset(&r->tmp);
	buf_addf(&r->tmp, "records spooled over time, peak %lld", (long long)max);
	buf_addf(b, "<td data-v=\"%lld\">", (long long)max);
	html_spark(b, bins, NULL, (double)max, r->tmp.data);
	buf_addf(b, "<span class=\"sp\">peak %lld</span></td></tr>\n", (long long)max);
}

static void receipts(struct buf *b, const struct report *r)
{
	buf_adds(b, "<h3>Deliveries (receipts)</h3><div class=\"wrap\"><table class=\"sort\">"
		    "<thead><tr><th>destination</th><th>batches</th><th>records</th><th>bytes</th>"
		    "<th>dead-lettered</th><th>mean latency ms</th><th>max latency ms</th>"
		    "<th>last status</th></tr></thead><tbody>\n");
	for (size_t i = 0; i < r->recv.n; i++) {
		const struct rrecv *x = &r->recv.v[i];
		buf_adds(b, "<tr>");
		td_str(b, x->url, NULL);
		td_int(b, x->batches);
		td_int(b, x->records);
		td_bytes(b, (double)x->bytes);
		buf_addf(b, "<td class=\"n%s\">%lld</td>", x->dead ? " bad" : "", (long long)x->dead);
		td_num(b, x->batches ? (double)x->lat_sum / (double)x->batches : 0);
		td_int(b, x->lat_max);
		td_int(b, x->last_status);
		buf_adds(b, "</tr>\n");
	}
	close_table(b);
}

void page_push(struct report *r, struct buf *b)
{
	open_section(b, "push", "Push backlog", NULL);
	if (r->push.n) {
		buf_adds(b, "<div class=\"wrap\"><table class=\"sort\" id=\"push-table\"><thead><tr>"
			    "<th>source</th><th>as of</th><th>spooled</th><th>spooled bytes</th>"
			    "<th>delivered</th><th>dead letter</th><th>lost</th><th>retries</th>"
			    "<th>backlog</th></tr></thead><tbody>\n");
		for (size_t i = 0; i < r->push.n; i++)
			push_row(r, b, &r->push.v[i]);
		close_table(b);
	}
	if (r->recv.n)
		receipts(b, r);
	buf_adds(b, "</section>\n");
}

/* ---- gateways ---- */

void page_gateways(struct report *r, struct buf *b)
{
	open_section(b, "gateways", "Gateways",
		     "<th>gateway</th><th>as of</th><th>uptime</th><th>requests</th><th>records</th>"
		     "<th>records/s</th><th>rejects</th><th>rate limited</th><th>commits</th>"
		     "<th>store</th><th>disk free</th><th>connections</th>");
	for (size_t i = 0; i < r->gate.n; i++) {
		const struct rgate *g = &r->gate.v[i];
		buf_adds(b, "<tr>");
		td_str(b, g->source, NULL);
		buf_addf(b, "<td data-v=\"%lld\">", (long long)g->ts);
		html_time(b, g->ts);
		buf_addf(b, "</td><td data-v=\"%g\">", g->v[0]);
		html_age(b, (int64_t)(g->v[0] * 1000));
		buf_adds(b, "</td>");
		for (int k = 1; k < 7; k++)
			td_num(b, g->v[k]);
		td_bytes(b, g->v[7]);
		td_bytes(b, g->v[8]);
		td_num(b, g->v[9]);
		buf_adds(b, "</tr>\n");
	}
	close_table(b);
	buf_adds(b, "</section>\n");
}
