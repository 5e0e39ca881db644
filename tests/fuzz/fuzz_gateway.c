/*
 * fuzz_gateway: cce-gateway's body parser and the chunk codec of its
 * SQLite rows under libFuzzer.
 *
 * The input is a POST body, parsed as the gateway parses it (JSON lines,
 * an array, one object), and also inflated as gzip with a small limit;
 * and it is a stored chunk (chunk.h), unpacked as a query reads a row.
 * Checks that nothing crashes, leaks or reads out of bounds, and that
 * - every record kept is a strict JSON object with device, stream and an
 *   integer or RFC 3339 ts, as json_parse reads it again;
 * - the refusals form a valid JSON array;
 * - the kept records' ts bounds hold every record's ts;
 * - an inflated body never exceeds the limit;
 * - a chunk unpacked has records whose texts lie inside its frame,
 *   chunk_sort orders them by (ts, arrival) as a permutation, and packing
 *   its records again unpacks to the same records.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cce-gateway/body.h"
#include "cce-gateway/chunk.h"
#include "json.h"

static void check(struct body_result *r)
{
	struct json_doc d;
	struct json_error e;
	json_doc_init(&d);
	for (uint32_t i = 0; i < r->nrec; i++) {
		const struct body_rec *rec = &r->rec[i];
		if (json_parse(&d, r->recs.data + rec->off, rec->len, &e) < 0 ||
		    json_type_of(&d, 0) != JSON_OBJECT || json_get(&d, 0, "device") < 0 ||
		    json_get(&d, 0, "stream") < 0 || json_get(&d, 0, "ts") < 0)
			abort();
		if (rec->ts < r->min_ts || rec->ts > r->max_ts)
			abort();
	}
	struct buf a = BUF_INIT;
	buf_init(&a);
	buf_addc(&a, '[');
	buf_add(&a, r->refused.data, r->refused.len);
	buf_addc(&a, ']');
	if (json_parse(&d, a.data, a.len, &e) < 0 || d.tok[0].count != r->nrefused)
		abort();
	buf_free(&a);
	json_doc_free(&d);
}

/* the records of a and b are the same */
static bool same(const struct chunk_view *a, const struct chunk_view *b)
{
	if (a->n != b->n)
		return false;
	for (uint32_t i = 0; i < a->n; i++) {
		size_t la, lb;
		const char *ta = chunk_text(a, i, &la), *tb = chunk_text(b, i, &lb);
		if (chunk_ts(a, i) != chunk_ts(b, i) || la != lb || memcmp(ta, tb, la) != 0)
			return false;
	}
	return true;
}

static void check_chunk(const uint8_t *data, size_t size)
{
	struct chunk_view v, w;
	chunk_view_init(&v);
	chunk_view_init(&w);
	char err[200];
	if (chunk_unpack(&v, data, size, err, sizeof err) < 0) {
		if (v.n != 0 || strncmp(err, "a damaged chunk: ", 17) != 0)
			abort();
		goto done;
	}
	const char *lo = v.frame.data, *hi = v.frame.data + v.frame.len;
	for (uint32_t i = 0; i < v.n; i++) {
		size_t len;
		const char *t = chunk_text(&v, i, &len);
		if (t < lo || t > hi || len > (size_t)(hi - t))
			abort();
	}
	chunk_sort(&v);
	uint8_t *seen = calloc(v.n, 1);
	for (uint32_t i = 0; i < v.n; i++) {
		uint32_t k = v.order[i];
		if (k >= v.n || seen[k]++)
			abort();
		if (i) {
			uint32_t j = v.order[i - 1];
			int64_t tj = chunk_ts(&v, j), tk = chunk_ts(&v, k);
			if (tj > tk || (tj == tk && j > k))
				abort();
		}
	}
	free(seen);
	struct chunk_builder b;
	chunk_builder_init(&b);
	for (uint32_t i = 0; i < v.n; i++) {
		size_t len;
		const char *t = chunk_text(&v, i, &len);
		chunk_add(&b, chunk_ts(&v, i), t, len);
	}
	const void *p;
	size_t plen;
	chunk_pack(&b, &p, &plen);
	if (chunk_unpack(&w, p, plen, err, sizeof err) < 0 || !same(&v, &w))
		abort();
	chunk_builder_free(&b);
done:
	chunk_view_free(&v);
	chunk_view_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct body_result r;
	body_init(&r);
	body_parse((const char *)data, size, "dev", "st\"x", 42, &r);
	check(&r);
	struct buf out = BUF_INIT;
	buf_init(&out);
	char err[128];
	if (body_gunzip((const char *)data, size, 4096, &out, err, sizeof err) == 0 && out.len > 4096)
		abort();
	body_reset(&r);
	body_parse(out.data, out.len, "dev", "s", 42, &r);
	check(&r);
	buf_free(&out);
	body_free(&r);
	check_chunk(data, size);
	return 0;
}
