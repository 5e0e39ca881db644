/*
 * body: a POST body made into records.
 *
 * Promises: body_gunzip inflates a gzip body and refuses one that would
 * grow past max bytes (a gzip bomb costs at most max). body_parse takes
 * JSON lines, a JSON array of objects, or one JSON object (a body that is
 * one valid JSON value is that value, otherwise it is JSON lines), checks
 * each record with the toolkit's strict reader (lib/json) and keeps each
 * good one with "device" and "stream" added when it has none, and "ts"
 * (the receive time, epoch ms) when it has none, its other fields and
 * their order unchanged. A record's ts is an integer of epoch ms or an RFC
 * 3339 string (kept as is, indexed as ms). Each refused record is named in
 * the JSON array of refusals ({"line":N,"error":"..."}, or "element" for
 * arrays). Nothing prints; memory is the result's, freed by body_free.
 */
#ifndef CCE_GATEWAY_BODY_H
#define CCE_GATEWAY_BODY_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct body_rec {
	size_t off, len;     /* in body_result.recs */
	int64_t ts;
};

struct body_result {
	struct buf recs;        /* the records, one after another */
	struct body_rec *rec;
	uint32_t nrec, cap;
	struct buf refused;     /* the refusals, comma-separated JSON objects */
	uint32_t nrefused;
	int64_t min_ts, max_ts;
};

void body_init(struct body_result *r);
void body_free(struct body_result *r);
void body_reset(struct body_result *r);

/* 0, or -1 with err ("not gzip data", "larger than 16MiB when inflated") */
int body_gunzip(const char *p, size_t n, size_t max, struct buf *out, char *err, size_t errlen);
/* Always succeeds: what cannot be read is refused. */
void body_parse(const char *p, size_t n, const char *device, const char *stream, int64_t now,
		struct body_result *r);

#endif
