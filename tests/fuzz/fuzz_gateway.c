/*
 * fuzz_gateway: cce-gateway's body parser under libFuzzer.
 *
 * The input is a POST body, parsed as the gateway parses it (JSON lines,
 * an array, one object), and also inflated as gzip with a small limit.
 * Checks that nothing crashes, leaks or reads out of bounds, and that
 * - every record kept is a strict JSON object with device, stream and an
 *   integer or RFC 3339 ts, as json_parse reads it again;
 * - the refusals form a valid JSON array;
 * - the kept records' ts bounds hold every record's ts;
 * - an inflated body never exceeds the limit.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cce-gateway/body.h"
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
	return 0;
}
