/* POST bodies into records (see body.h). */
#include "body.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "json.h"
#include "timeutil.h"

void body_init(struct body_result *r)
{
	memset(r, 0, sizeof *r);
	buf_init(&r->recs);
	buf_init(&r->refused);
	body_reset(r);
}

void body_reset(struct body_result *r)
{
	buf_reset(&r->recs);
	buf_reset(&r->refused);
	r->nrec = r->nrefused = 0;
	r->min_ts = INT64_MAX;
	r->max_ts = INT64_MIN;
}

void body_free(struct body_result *r)
{
	buf_free(&r->recs);
	buf_free(&r->refused);
	free(r->rec);
	memset(r, 0, sizeof *r);
}

int body_gunzip(const char *p, size_t n, size_t max, struct buf *out, char *err, size_t errlen)
{
	z_stream z;
	memset(&z, 0, sizeof z);
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
		snprintf(err, errlen, "cannot inflate");
		return -1;
	}
	z.next_in = (Bytef *)(uintptr_t)p;
	z.avail_in = (uInt)n;
	int rc = Z_OK;
	while (rc != Z_STREAM_END) {
		if (out->len >= max) {
			snprintf(err, errlen, "larger than %zu bytes when inflated", max);
			rc = Z_MEM_ERROR;
			break;
		}
		size_t room = max - out->len < 65536 ? max - out->len : 65536;
		buf_grow(out, room);
		z.next_out = (Bytef *)out->data + out->len;
		z.avail_out = (uInt)room;
		rc = inflate(&z, Z_NO_FLUSH);
		out->len = (size_t)((char *)z.next_out - out->data);
		out->data[out->len] = 0;
		if (rc == Z_BUF_ERROR && z.avail_in == 0) {
			snprintf(err, errlen, "gzip data cut short");
			break;
		}
		if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
			snprintf(err, errlen, "not gzip data: %s", z.msg ? z.msg : "bad header");
			break;
		}
	}
	inflateEnd(&z);
	/* a gzip member followed by anything else is refused too */
	if (rc == Z_STREAM_END && z.avail_in) {
		snprintf(err, errlen, "trailing data after the gzip stream");
		rc = Z_DATA_ERROR;
	}
	return rc == Z_STREAM_END ? 0 : -1;
}

static void refuse(struct body_result *r, const char *unit, uint64_t at, const char *msg)
{
	if (r->nrefused++)
		buf_addc(&r->refused, ',');
	buf_addf(&r->refused, "{\"%s\":%llu,\"error\":", unit, (unsigned long long)at);
	buf_add_json_str(&r->refused, msg, strlen(msg));
	buf_addc(&r->refused, '}');
}

/* the record's ts as ms: 1, 0 when it has none, -1 when it is not a time */
static int record_ts(const struct json_doc *d, int v, int64_t *ts)
{
	if (v < 0)
		return 0;
	if (json_type_of(d, v) == JSON_NUMBER)
		return json_int(d, v, ts) ? 1 : -1;
	if (json_type_of(d, v) == JSON_STRING && !d->tok[v].escaped)
		return time_parse_rfc3339(d->text + d->tok[v].start, d->tok[v].len, ts) == 0 ? 1 : -1;
	return -1;
}

static void add_field(struct buf *b, bool *first, const char *k, const char *v)
{
	/* per record: no printf (it was a tenth of the parsing) */
	if (!*first)
		buf_addc(b, ',');
	buf_addc(b, '"');
	buf_adds(b, k);
	buf_add(b, "\":", 2);
	buf_add_json_str(b, v, strlen(v));
	*first = false;
}

/* one object (token 0 of d) as a record, or refused */
static void take(struct body_result *r, const struct json_doc *d, const char *device,
		 const char *stream, int64_t now, const char *unit, uint64_t at)
{
	if (json_type_of(d, 0) != JSON_OBJECT) {
		char m[64];
		snprintf(m, sizeof m, "a record must be an object, not %s",
			 json_type_name(json_type_of(d, 0)));
		refuse(r, unit, at, m);
		return;
	}
	int64_t ts = now;
	int has_ts = record_ts(d, json_get(d, 0, "ts"), &ts);
	if (has_ts < 0) {
		refuse(r, unit, at, "ts: must be epoch milliseconds or an RFC 3339 time");
		return;
	}
	if (r->nrec == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 64;
		r->rec = xrealloc(r->rec, r->cap * sizeof *r->rec);
	}
	struct body_rec *rec = &r->rec[r->nrec++];
	rec->off = r->recs.len;
	rec->ts = ts;
	/* the text as sent, its closing brace moved past the added fields */
	size_t len;
	const char *raw = json_raw(d, 0, &len);
	buf_add(&r->recs, raw, len - 1);
	bool first = d->tok[0].count == 0;
	if (json_get(d, 0, "device") < 0)
		add_field(&r->recs, &first, "device", device);
	if (json_get(d, 0, "stream") < 0)
		add_field(&r->recs, &first, "stream", stream);
	if (!has_ts) {
		buf_adds(&r->recs, first ? "\"ts\":" : ",\"ts\":");
		buf_add_i64(&r->recs, ts);
	}
	buf_addc(&r->recs, '}');
	rec->len = r->recs.len - rec->off;
	if (ts < r->min_ts)
		r->min_ts = ts;
	if (ts > r->max_ts)
		r->max_ts = ts;
}

static void parse_one(struct body_result *r, struct json_doc *d, const char *p, size_t n,
		      const char *device, const char *stream, int64_t now, const char *unit,
		      uint64_t at)
{
	struct json_error e;
	if (json_parse(d, p, n, &e) < 0) {
		char m[128];
		snprintf(m, sizeof m, "%s at byte %zu", e.msg, e.offset + 1);
		refuse(r, unit, at, m);
		return;
	}
	take(r, d, device, stream, now, unit, at);
}

static void parse_array(struct body_result *r, struct json_doc *d, const char *device,
			const char *stream, int64_t now)
{
	struct json_doc one;
	json_doc_init(&one);
	uint64_t at = 0;
	for (int e = json_first(d, 0); e >= 0; e = json_next_elem(d, 0, e)) {
		size_t len;
		const char *raw = json_raw(d, e, &len);
		parse_one(r, &one, raw, len, device, stream, now, "element", ++at);
	}
	json_doc_free(&one);
}

void body_parse(const char *p, size_t n, const char *device, const char *stream, int64_t now,
		struct body_result *r)
{
	struct json_doc d;
	json_doc_init(&d);
	size_t i = 0;
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
		i++;
	/* one value: an array of records or one record, possibly over lines */
	if (i < n && (p[i] == '[' || p[i] == '{') && json_valid(p, n, NULL)) {
		struct json_error e;
		json_parse(&d, p, n, &e);
		if (json_type_of(&d, 0) == JSON_ARRAY)
			parse_array(r, &d, device, stream, now);
		else
			take(r, &d, device, stream, now, "line", 1);
		json_doc_free(&d);
		return;
	}
	uint64_t line = 0;
	for (size_t s = 0; s < n;) {
		const char *nl = memchr(p + s, '\n', n - s);
		size_t e = nl ? (size_t)(nl - p) : n, end = e;
		line++;
		if (end > s && p[end - 1] == '\r')
			end--;
		size_t b = s;
		while (b < end && (p[b] == ' ' || p[b] == '\t'))
			b++;
		if (b < end)
			parse_one(r, &d, p + s, end - s, device, stream, now, "line", line);
		s = e + 1;
	}
	json_doc_free(&d);
}
