/*
 * html: see html.h.
 */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "timeutil.h"
#include "html.h"

void html_esc(struct buf *b, const char *s)
{
	const char *run = s;
	for (; *s; s++) {
		const char *rep;
		switch (*s) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default: continue;
		}
		buf_add(b, run, (size_t)(s - run));
		buf_adds(b, rep);
		run = s + 1;
	}
	buf_add(b, run, (size_t)(s - run));
}

void html_cut_note(struct buf *b, size_t shown, size_t total, const char *what)
{
	if (shown < total)
		buf_addf(b, "<p class=\"note\">%zu more %s not shown</p>\n", total - shown, what);
}

int html_strcmp(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

/* The style: states and severities each have a word and a mark besides
 * their colour (a dead node's name is struck through, a cordoned one
 * hatched); narrow screens get a denser grid and tables that scroll
 * sideways inside their section. */
static const char style[] =
	":root{--ok:#2e7d32;--warn:#a85f00;--bad:#c62828;--off:#5f5f5f;--line:#d8d8d8;--mut:#5a5a5a}"
	"body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;"
	"max-width:1280px;padding:0 12px 40px;color:#1b1b1b;background:#fff}"
	"h1{font-size:1.6em;margin:.6em 0 .2em}h2{font-size:1.25em;border-bottom:2px solid var(--line);"
	"padding-bottom:3px;margin:1.6em 0 .5em}h3{font-size:1em;margin:.8em 0 .2em}"
	"h4{font-size:.9em;font-weight:normal;color:var(--mut);margin:.3em 0 .1em}"
	".meta{color:var(--mut);margin:0}nav{margin:.6em 0}nav a{margin-right:1em;white-space:nowrap}"
	"ul.counts,ul.grid{list-style:none;padding:0;display:flex;flex-wrap:wrap}"
	"ul.counts{gap:8px}ul.counts li{border:1px solid var(--line);border-left-width:6px;padding:4px 12px}"
	"ul.counts b{font-size:1.3em;margin-left:.3em}"
	"ul.grid{gap:3px;margin:2px 0 8px}ul.grid li{box-sizing:border-box;width:8.2em;padding:1px 4px;"
	"border:1px solid var(--line);border-left-width:6px;font-size:12px;overflow:hidden;"
	"white-space:nowrap;text-overflow:ellipsis}ul.grid li small{display:block;color:var(--mut)}"
	".s-ready{border-left-color:var(--ok)!important}"
	".s-suspect{border-left-color:var(--warn)!important;background:#fff3df}"
	".s-dead{border-left-color:var(--bad)!important;background:#fde7e7}ul.grid .s-dead b{text-decoration:line-through}"
	".s-cordoned{border-left-color:var(--off)!important;"
	"background:repeating-linear-gradient(45deg,#fff 0 4px,#ececec 4px 8px)}"
	".wrap{overflow-x:auto;max-width:100%}table{border-collapse:collapse;font-size:13px;min-width:100%}"
	"th,td{text-align:left;padding:3px 5px;border-bottom:1px solid var(--line);white-space:nowrap;"
	"vertical-align:middle}th{background:#f3f3f3;cursor:pointer;user-select:none}"
	"td.n{text-align:right;font-variant-numeric:tabular-nums}td.w{white-space:normal;min-width:14em}td small{display:block;color:var(--mut);font-size:11px}"
	".bar{display:inline-block;width:40px;height:8px;background:#eee;border:1px solid #bbb;"
	"margin-right:5px;vertical-align:middle}.bar i{display:block;height:100%;background:#4e6a7a}"
	".bar.over i{background:var(--bad)}.over-t{color:var(--bad);font-weight:bold}"
	"svg.spark{width:95px;height:21px;vertical-align:middle;background:#fafafa;border:1px solid #e4e4e4}"
	"svg.spark path{fill:none;stroke:#1565c0;stroke-width:1.3px;vector-effect:non-scaling-stroke}"
	"svg.spark path.b{stroke:#8e24aa;stroke-dasharray:3 2}.sp{color:var(--mut);font-size:11px;margin-left:4px}"
	"svg.tl{width:100%;min-width:240px;height:16px;display:block;background:#fafafa}"
	"svg.tl rect{fill:#e65100}svg.tl rect.sev-critical{fill:var(--bad)}"
	"svg.tl rect.sev-info{fill:#1565c0}svg.tl rect.open{fill-opacity:.55;stroke:#000;stroke-dasharray:2 2}"
	".axis{display:flex;justify-content:space-between;color:var(--mut);font-size:11px}"
	".bad{color:var(--bad);font-weight:bold}.warn{color:var(--warn);font-weight:bold}"
	".note{color:var(--mut);font-size:12px}"
	"@media (max-width:700px){body{font-size:13px;padding:0 6px 30px}"
	"th,td{padding:2px 4px}ul.grid li{width:7.3em}}";

/* Sorting by a header click: by a cell's data-v when it has one (numbers,
 * times), else by its text. The page reads the same without it. */
static const char script[] =
	"document.querySelectorAll('table.sort').forEach(function(t){"
	"t.querySelectorAll('th').forEach(function(th,i){th.title='sort';th.tabIndex=0;"
	"th.addEventListener('click',function(){var b=t.tBodies[0],r=Array.prototype.slice.call(b.rows),"
	"d=th.getAttribute('data-d')==='a'?-1:1;th.setAttribute('data-d',d>0?'a':'d');"
	"function k(x){var c=x.cells[i];return c?(c.getAttribute('data-v')||c.textContent):''}"
	"r.sort(function(x,y){var p=k(x),q=k(y),m=parseFloat(p),n=parseFloat(q);"
	"return d*(isNaN(m)||isNaN(n)?p.localeCompare(q):m-n)});"
	"r.forEach(function(x){b.appendChild(x)})})})});";

void html_head(struct buf *b, const char *title)
{
	buf_adds(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		    "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
		    "<meta name=\"generator\" content=\"cce-report\"><title>");
	html_esc(b, title);
	buf_adds(b, "</title><style>");
	buf_adds(b, style);
	buf_adds(b, "</style></head>\n<body>\n");
}

void html_tail(struct buf *b)
{
	buf_adds(b, "<script>");
	buf_adds(b, script);
	buf_adds(b, "</script>\n</body></html>\n");
}

void html_time(struct buf *b, int64_t ms)
{
	if (ms <= 0) {
		buf_adds(b, "-");
		return;
	}
	char t[32];
	time_format_rfc3339(ms, t);
	t[10] = ' ';
	t[19] = 'Z';
	buf_add(b, t, 20);
}

void html_age(struct buf *b, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	int64_t s = ms / 1000;
	if (s < 120)
		buf_addf(b, "%llds", (long long)s);
	else if (s < 7200)
		buf_addf(b, "%lldm", (long long)(s / 60));
	else if (s < 172800)
		buf_addf(b, "%lldh", (long long)(s / 3600));
	else
		buf_addf(b, "%lldd", (long long)(s / 86400));
}

void html_num(struct buf *b, double v)
{
	if (isnan(v)) {
		buf_adds(b, "-");
		return;
	}
	double a = fabs(v);
	if (a >= 100 || v == floor(v))
		buf_addf(b, "%.0f", v);
	else if (a >= 10)
		buf_addf(b, "%.1f", v);
	else
		buf_addf(b, "%.2f", v);
}

static void scaled(struct buf *b, double v, double step, const char *const *units, int nunits)
{
	int u = 0;
	while (fabs(v) >= step && u < nunits - 1) {
		v /= step;
		u++;
	}
	html_num(b, v);
	buf_addc(b, ' ');
	buf_adds(b, units[u]);
}

void html_bytes(struct buf *b, double v)
{
	static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	scaled(b, v, 1024, u, 6);
}

void html_rate(struct buf *b, double bytes_per_s)
{
	static const char *const u[] = { "bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s" };
	if (isnan(bytes_per_s))
		buf_adds(b, "-");
	else
		scaled(b, bytes_per_s * 8, 1000, u, 5);
}

void html_bar(struct buf *b, double used, double cap)
{
	if (isnan(used) && cap <= 0) {
		buf_adds(b, "-");
		return;
	}
	if (cap > 0 && !isnan(used)) {
		double share = used / cap;
		int pct = (int)lround(fmin(share, 1) * 100);
		buf_addf(b, "<span class=\"bar%s\"><i style=\"width:%d%%\"></i></span>",
			 share > 1 ? " over" : "", pct);
	}
	if (cap > 0 && !isnan(used) && used > cap)
		buf_adds(b, "<span class=\"over-t\">");
	html_num(b, used);
	buf_adds(b, "/");
	if (cap > 0)
		html_num(b, cap);
	else
		buf_adds(b, "?");
	if (cap > 0 && !isnan(used) && used > cap)
		buf_adds(b, " over</span>");
}

void spark_bins(const int64_t *ts, const float *v, size_t n, size_t stride, int64_t t0,
		int64_t t1, float out[SPARK_BINS])
{
	double sum[SPARK_BINS] = { 0 };
	int cnt[SPARK_BINS] = { 0 };
	double span = (double)(t1 - t0);
	for (size_t i = 0; i < n; i++) {
		int64_t t = *(const int64_t *)((const char *)ts + i * stride);
		float x = *(const float *)((const char *)v + i * stride);
		if (t < t0 || t > t1 || isnan(x) || span <= 0)
			continue;
		int k = (int)((double)(t - t0) * SPARK_BINS / span);
		if (k >= SPARK_BINS)
			k = SPARK_BINS - 1;
		sum[k] += x;
		cnt[k]++;
	}
	for (int k = 0; k < SPARK_BINS; k++)
		out[k] = cnt[k] ? (float)(sum[k] / cnt[k]) : NAN;
}

/* one series as a path: x two units a bin, y 0 (top) to 20, in relative
 * steps ("M0 17l2-3 2 1"), the page's bulk being these paths; a point on a
 * flat run between two equal ones is left out (the line is the same) */
static void spark_path(struct buf *b, const float *v, double max, const char *cls)
{
	int y[SPARK_BINS];
	for (int k = 0; k < SPARK_BINS; k++)
		y[k] = isnan(v[k]) ? -1 : 20 - (int)lround(fmin(v[k] / max, 1) * 19);
	buf_adds(b, "<path");
	if (cls)
		buf_addf(b, " class=\"%s\"", cls);
	buf_adds(b, " d=\"");
	int px = 0, py = 0, pairs = 0;
	for (int k = 0; k < SPARK_BINS; k++) {
		if (y[k] < 0)
			continue;
		bool first = k == 0 || y[k - 1] < 0;
		bool last = k == SPARK_BINS - 1 || y[k + 1] < 0;
		if (!first && !last && y[k - 1] == y[k] && y[k + 1] == y[k])
			continue;
		if (first) {
			/* a lone point is a short dash, so that it shows */
			buf_addf(b, "M%d %d%s", 2 * k, y[k], last ? "h1" : "");
			pairs = 0;
		} else {
			int dy = y[k] - py;
			buf_addf(b, "%s%d%s%d", pairs ? " " : "l", 2 * k - px, dy < 0 ? "" : " ", dy);
			pairs++;
		}
		px = 2 * k;
		py = y[k];
	}
	buf_adds(b, "\"/>");
}

void html_spark(struct buf *b, const float *a, const float *c, double max, const char *title)
{
	if (!(max > 0))
		max = 1;
	buf_addf(b, "<svg class=\"spark\" viewBox=\"0 0 %d 21\" "
		    "role=\"img\"><title>", 2 * SPARK_BINS - 1);
	html_esc(b, title);
	buf_adds(b, "</title>");
	spark_path(b, a, max, NULL);
	if (c)
		spark_path(b, c, max, "b");
	buf_adds(b, "</svg>");
}
