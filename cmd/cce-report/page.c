/*
 * page: the sections of the fleet page, each left out when the input had
 * nothing for it. Long lists are cut at a stated number of rows, with a
 * note saying how many were left out, so that the page stays small.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "html.h"
#include "report.h"

#define MAX_ALERT_ROWS 400
#define MAX_EVENTS 100

static const char *const states[] = { "ready", "suspect", "dead", "cordoned" };
/* a state's mark besides its colour */
static const char *const marks[] = { "\u2713", "?", "\u2715", "\u2298" };

static int state_index(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (s && strcmp(s, states[i]) == 0)
			return i;
	return 4;
}

static int node_cmp(const void *x, const void *y, void *arg)
{
	const struct rnode *v = arg, *a = &v[*(const size_t *)x], *b = &v[*(const size_t *)y];
	int c = html_strcmp(a->region, b->region);
	if (!c)
		c = html_strcmp(a->zone, b->zone);
	return c ? c : strcmp(a->name, b->name);
}

/* the known nodes, by region, zone and name */
static size_t *sorted_nodes(const struct report *r, size_t *n)
{
	size_t *ix = xmalloc((r->node.n + 1) * sizeof *ix), k = 0;
	for (size_t i = 0; i < r->node.n; i++)
		if (r->node.v[i].known)
			ix[k++] = i;
	qsort_r(ix, k, sizeof *ix, node_cmp, r->node.v);
	*n = k;
	return ix;
}

static void state_cell(struct buf *b, const char *state)
{
	int s = state_index(state);
	buf_addf(b, "<td class=\"s-%s\" data-v=\"%d\">%s ", s < 4 ? states[s] : "other", s,
		 s < 4 ? marks[s] : "");
	html_esc(b, state ? state : "-");
	buf_adds(b, "</td>");
}

static void section(struct buf *b, const char *id, const char *title)
{
	buf_addf(b, "<section id=\"%s\"><h2>%s</h2>\n", id, title);
}

/* ---- the fleet: counts and the grid ---- */

static void fleet(struct report *r, struct buf *b, const size_t *ix, size_t n)
{
	size_t count[5] = { 0 };
	for (size_t i = 0; i < n; i++)
		count[state_index(r->node.v[ix[i]].state)]++;
	section(b, "fleet", "Fleet");
	buf_addf(b, "<ul class=\"counts\"><li>nodes <b>%zu</b></li>", n);
	for (int s = 0; s < 5; s++)
		if (s < 4 || count[s])
			buf_addf(b, "<li class=\"s-%s\">%s %s <b>%zu</b></li>", s < 4 ? states[s] : "other",
				 s < 4 ? marks[s] : "", s < 4 ? states[s] : "other", count[s]);
	buf_adds(b, "</ul>\n");
	const char *region = NULL, *zone = NULL;
	for (size_t i = 0; i < n; i++) {
		const struct rnode *x = &r->node.v[ix[i]];
		bool newr = i == 0 || html_strcmp(x->region, region) != 0;
		if (newr || html_strcmp(x->zone, zone) != 0) {
			if (i)
				buf_adds(b, "</ul>\n");
			if (newr) {
				buf_adds(b, "<h3>region ");
				html_esc(b, x->region ? x->region : "(none)");
				buf_adds(b, "</h3>");
			}
			buf_adds(b, "<h4>zone ");
			html_esc(b, x->zone ? x->zone : "(none)");
			buf_adds(b, "</h4><ul class=\"grid\">");
			region = x->region;
			zone = x->zone;
		}
		int s = state_index(x->state);
		buf_addf(b, "<li class=\"s-%s\" title=\"", s < 4 ? states[s] : "other");
		html_esc(b, x->name);
		buf_adds(b, " ");
		html_esc(b, x->state);
		buf_adds(b, "\"><b>");
		html_esc(b, x->name);
		buf_addf(b, "</b><small>%s ", s < 4 ? marks[s] : "");
		html_esc(b, x->state);
		buf_adds(b, "</small></li>");
	}
	if (n)
		buf_adds(b, "</ul>\n");
	buf_adds(b, "</section>\n");
}

/* ---- the nodes: capacity and load, bandwidth, tasks, history ---- */

static void node_tasks(struct buf *b, const struct rnode *x)
{
	int up = 0;
	int64_t restarts = 0;
	bool oom = false;
	for (int i = 0; i < x->ntasks; i++) {
		up += x->tasks[i].state && strcmp(x->tasks[i].state, "active") == 0;
		restarts += x->tasks[i].restarts;
		oom |= x->tasks[i].oom;
	}
	if (!x->ntasks) {
		buf_adds(b, "<td data-v=\"0\">-</td>");
		return;
	}
	buf_addf(b, "<td data-v=\"%d\"%s>%d/%d up", x->ntasks, up < x->ntasks ? " class=\"warn\"" : "",
		 up, x->ntasks);
	if (restarts || oom) {
		buf_adds(b, "<small>");
		if (restarts)
			buf_addf(b, "%lld restarts%s", (long long)restarts, oom ? ", " : "");
		if (oom)
			buf_adds(b, "OOM");
		buf_adds(b, "</small>");
	}
	buf_adds(b, "</td>");
}

static void node_history(struct report *r, struct buf *b, const struct rnode *x)
{
	int64_t t1 = r->latest, t0 = t1 - r->window_ms;
	float cpu[SPARK_BINS], rx[SPARK_BINS], tx[SPARK_BINS];
	/* a node without history bins nothing (and has no array to point into) */
	static const struct point none;
	const struct point *p = x->pts ? x->pts : &none;
	spark_bins(&p->ts, &p->cpu, x->npts, sizeof *p, t0, t1, cpu);
	spark_bins(&p->ts, &p->rx, x->npts, sizeof *p, t0, t1, rx);
	spark_bins(&p->ts, &p->tx, x->npts, sizeof *p, t0, t1, tx);
	double cmax = 0, nmax = 0;
	for (int k = 0; k < SPARK_BINS; k++) {
		cmax = isnan(cpu[k]) ? cmax : fmax(cmax, cpu[k]);
		nmax = isnan(rx[k]) ? nmax : fmax(nmax, rx[k]);
		nmax = isnan(tx[k]) ? nmax : fmax(nmax, tx[k]);
	}
	struct buf *t = &r->tmp;
	buf_reset(t);
	buf_adds(t, "cpu, peak ");
	html_num(t, cmax);
	buf_addf(t, " (of %g)", x->cap[RES_CPU]);
	buf_adds(b, "<td data-v=\"");
	html_num(b, cmax);
	buf_adds(b, "\">");
	html_spark(b, cpu, NULL, fmax(cmax, x->cap[RES_CPU]), t->data);
	buf_adds(b, "<span class=\"sp\">");
	html_num(b, cmax);
	buf_adds(b, "</span></td><td data-v=\"");
	html_num(b, nmax);
	buf_adds(b, "\">");
	buf_reset(t);
	buf_adds(t, "network, solid rx, dashed tx, peak ");
	html_rate(t, nmax);
	html_spark(b, rx, tx, fmax(nmax, x->net_mbps * 1e6 / 8), t->data);
	buf_adds(b, "<span class=\"sp\">");
	html_rate(b, nmax);
	buf_adds(b, "</span></td>");
}

static void node_row(struct report *r, struct buf *b, const struct rnode *x, bool history)
{
	buf_adds(b, "<tr><td>");
	html_esc(b, x->name);
	if (x->zone) {
		buf_adds(b, "<small>");
		html_esc(b, x->zone);
		buf_adds(b, "</small>");
	}
	buf_adds(b, "</td>");
	state_cell(b, x->state);
	for (int i = 0; i < NRES; i++) {
		double used = x->has_load[i] ? x->load[i] : NAN;
		buf_adds(b, "<td data-v=\"");
		html_num(b, x->cap[i] > 0 && !isnan(used) ? used / x->cap[i] : used);
		buf_adds(b, "\">");
		html_bar(b, used, x->cap[i]);
		buf_adds(b, "</td>");
	}
	buf_addf(b, "<td data-v=\"%g\">\u2193", isnan(x->rx) ? -1.0 : x->rx + (isnan(x->tx) ? 0 : x->tx));
	html_rate(b, x->rx);
	buf_adds(b, " \u2191");
	html_rate(b, x->tx);
	if (x->net_mbps > 0 || x->bw_limit)
		buf_adds(b, "<small>");
	if (x->net_mbps > 0) {
		buf_adds(b, "link ");
		html_rate(b, x->net_mbps * 1e6 / 8);
	}
	if (x->bw_limit) {
		buf_adds(b, x->net_mbps > 0 ? ", limit " : "limit ");
		html_esc(b, x->bw_limit);
	}
	if (x->net_mbps > 0 || x->bw_limit)
		buf_adds(b, "</small>");
	buf_adds(b, "</td>");
	node_tasks(b, x);
	buf_addf(b, "<td data-v=\"%lld\">", (long long)x->last_seen);
	if (x->last_seen) {
		html_age(b, r->latest - x->last_seen);
		buf_adds(b, " ago");
	} else {
		buf_adds(b, "-");
	}
	buf_adds(b, "</td>");
	if (history)
		node_history(r, b, x);
	buf_adds(b, "</tr>\n");
}

static void nodes(struct report *r, struct buf *b, const size_t *ix, size_t n)
{
	bool history = r->counts[K_HISTORY] > 0;
	section(b, "nodes", "Nodes: capacity, load and bandwidth");
	buf_adds(b, "<p class=\"note\">cpu, memory (MiB) and disk (MiB) in use out of capacity; "
		    "network \u2193 received and \u2191 sent as last reported, and the link");
	if (history) {
		buf_addf(b, "; the history over the %lld hours before ", (long long)(r->window_ms / 3600000));
		html_time(b, r->latest);
		buf_adds(b, " (means in 48 steps; network: solid received, dashed sent)");
	}
	buf_adds(b, "</p>\n<div class=\"wrap\"><table class=\"sort\" id=\"node-table\"><thead><tr>"
		    "<th>node</th><th>state</th><th>cpu</th><th>memory</th><th>disk</th>"
		    "<th>network</th><th>tasks</th><th>last seen</th>");
	if (history)
		buf_adds(b, "<th>cpu history</th><th>network history</th>");
	buf_adds(b, "</tr></thead><tbody>\n");
	size_t shown = n < MAX_ROWS ? n : MAX_ROWS;
	for (size_t i = 0; i < shown; i++)
		node_row(r, b, &r->node.v[ix[i]], history);
	buf_adds(b, "</tbody></table></div>\n");
	html_cut_note(b, shown, n, "nodes");
	size_t unknown = r->node.n - n;
	if (unknown)
		buf_addf(b, "<p class=\"note\">the history names %zu nodes that no node record does: "
			    "left out</p>\n", unknown);
	buf_adds(b, "</section>\n");
}

static void events(struct report *r, struct buf *b)
{
	size_t n = r->event.n, from = n > MAX_EVENTS ? n - MAX_EVENTS : 0;
	section(b, "events", "Registry events");
	buf_adds(b, "<div class=\"wrap\"><table class=\"sort\"><thead><tr><th>time</th><th>node</th>"
		    "<th>event</th><th>reason</th></tr></thead><tbody>\n");
	for (size_t i = n; i-- > from;) {
		const struct revent *e = &r->event.v[i];
		buf_addf(b, "<tr><td data-v=\"%lld\">", (long long)e->ts);
		html_time(b, e->ts);
		buf_adds(b, "</td><td>");
		html_esc(b, e->node);
		bool bad = strcmp(e->event, "dead") == 0 || strcmp(e->event, "rejected") == 0;
		buf_addf(b, "</td><td%s>", bad ? " class=\"bad\"" : "");
		html_esc(b, e->event);
		buf_adds(b, "</td><td class=\"w\">");
		html_esc(b, e->reason ? e->reason : "");
		buf_adds(b, "</td></tr>\n");
	}
	buf_adds(b, "</tbody></table></div>\n");
	html_cut_note(b, n - from, n, "older events");
	buf_adds(b, "</section>\n");
}

static void header(struct report *r, struct buf *b, bool has[8])
{
	static const char *const ids[8] = { "fleet", "events", "places", "alerts", "rules",
					    "deploys", "push", "gateways" };
	static const char *const names[8] = { "fleet", "events", "what runs where", "alerts",
					      "rules", "deploys", "push backlog", "gateways" };
	buf_adds(b, "<header><h1>");
	html_esc(b, r->title);
	buf_adds(b, "</h1><p class=\"meta\">data up to ");
	html_time(b, r->latest);
	uint64_t total = 0;
	for (int k = 0; k < NKINDS; k++)
		total += r->counts[k];
	buf_addf(b, " \u00b7 %llu records</p><nav>", (unsigned long long)total);
	for (int i = 0; i < 8; i++)
		if (has[i]) {
			buf_addf(b, "<a href=\"#%s\">%s</a>\n", ids[i], names[i]);
			if (i == 0)
				buf_adds(b, "<a href=\"#nodes\">nodes</a>\n");
		}
	buf_adds(b, "</nav></header>\n<main>\n");
}

void report_page(struct report *r, struct buf *b)
{
	size_t n;
	size_t *ix = sorted_nodes(r, &n);
	bool has[8] = { n > 0, r->event.n > 0, r->place.n > 0 || n > 0, r->ep.n > 0,
			r->status.n > 0, r->deploy.n > 0, r->push.n + r->recv.n > 0, r->gate.n > 0 };
	/* what runs where also comes from the nodes' task summaries */
	places_merge(r);
	has[2] = r->place.n > 0;
	html_head(b, r->title);
	header(r, b, has);
	if (n) {
		fleet(r, b, ix, n);
		nodes(r, b, ix, n);
	}
	if (has[1])
		events(r, b);
	if (has[2])
		page_places(r, b);
	if (has[3])
		page_alerts(r, b);
	if (has[4])
		page_rules(r, b);
	if (has[5])
		page_deploys(r, b);
	if (has[6])
		page_push(r, b);
	if (has[7])
		page_gateways(r, b);
	if (!n && !has[1] && !has[2] && !has[3] && !has[4] && !has[5] && !has[6] && !has[7])
		buf_adds(b, "<p>No records.</p>\n");
	buf_adds(b, "</main>\n");
	html_tail(b);
	free(ix);
}
