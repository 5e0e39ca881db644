/*
 * html: the pieces the page is written with: escaping, numbers, times,
 * bars and sparklines, the head with its style and the little script that
 * sorts tables.
 *
 * Promises: every string from the input goes through html_esc, so no
 * record can add markup to the page. Nothing fetches or links outside the
 * page: style and charts are inline. A bar or a sparkline always comes
 * with its figure in text (a bar's numbers beside it, a sparkline's range
 * in its title and beside it), so that colour is never the only signal.
 * Output is appended to the caller's buf; nothing here fails.
 */
#ifndef CCE_REPORT_HTML_H
#define CCE_REPORT_HTML_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define SPARK_BINS 48
/* the most rows a table shows; html_cut_note says how many more there were */
#define MAX_ROWS 5000

void html_esc(struct buf *b, const char *s);
/* "N more WHAT not shown", when shown < total */
void html_cut_note(struct buf *b, size_t shown, size_t total, const char *what);
/* strcmp with NULL as "" (absent regions, zones, releases) */
int html_strcmp(const char *a, const char *b);
void html_head(struct buf *b, const char *title);
void html_tail(struct buf *b);
/* "2026-12-04 23:42:05Z"; "-" for 0 */
void html_time(struct buf *b, int64_t ms);
/* "42s", "5m", "3h", "2d" */
void html_age(struct buf *b, int64_t ms);
/* up to 3 significant digits, no exponent for usual values */
void html_num(struct buf *b, double v);
void html_bytes(struct buf *b, double v);
/* bytes per second as bits per second: "1.2 Mbit/s" */
void html_rate(struct buf *b, double bytes_per_s);
/* a bar of used out of cap (width as a share), then "used/cap" */
void html_bar(struct buf *b, double used, double cap);
/* Means of the values into SPARK_BINS bins over [t0, t1]; NAN where a bin
 * has none. ts and v are members of the same array of n structs, stride
 * bytes apart: both are read at i * stride. */
void spark_bins(const int64_t *ts, const float *v, size_t n, size_t stride, int64_t t0,
		int64_t t1, float out[SPARK_BINS]);
/* An SVG sparkline of up to two series scaled to max (gaps where NAN),
 * the second dashed; title is its text alternative. */
void html_spark(struct buf *b, const float *a, const float *c, double max, const char *title);

#endif
