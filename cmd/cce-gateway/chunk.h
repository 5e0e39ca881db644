/*
 * chunk: a run of one stream's records, in arrival order, as one stored
 * value (the SQLite store keeps a row per chunk, not per record: a row and
 * an index entry per record cost more than the rest of ingest together).
 *
 * The frame, little-endian: n (u32), n ts (i64), n text lengths (u32),
 * then the n texts one after another. Stored as one method byte then the
 * frame: CHUNK_RAW as it is, CHUNK_ZSTD as one zstd frame of level 1
 * that says its size and carries a checksum of its content (JSON lines shrink to about a seventh, so the disk
 * and the WAL write that much less, and a reader decompresses at memory
 * speed).
 *
 * Promises: chunk_pack gives back what chunk_unpack reads, byte for byte;
 * chunk_unpack refuses (-1, err filled) any value it did not make whole: a
 * bad method, a frame that does not inflate, lengths that do not add up,
 * more than CHUNK_MAX_FRAME bytes, and reads nothing outside what it was
 * given. A view holds one chunk's frame (at most CHUNK_MAX_FRAME bytes)
 * and its order; nothing prints, nothing exits but on allocation failure.
 */
#ifndef CCE_GATEWAY_CHUNK_H
#define CCE_GATEWAY_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zstd.h>

#include "buf.h"

enum { CHUNK_RAW = 0, CHUNK_ZSTD = 1 };

/* a chunk ends at this many records, texts of this many bytes, or this
 * span of ts (a query finds the chunks that may hold an instant through
 * their first ts: no chunk starts more than CHUNK_SPAN_MS before it) */
enum { CHUNK_RECORDS = 1024, CHUNK_BYTES = 256 * 1024 };
#define CHUNK_SPAN_MS INT64_C(600000)
/* the largest frame unpacked: a chunk of one record as large as a body
 * may be, with room to spare */
#define CHUNK_MAX_FRAME ((size_t)1 << 30)

struct chunk_builder {
	uint32_t n;
	int64_t ts_min, ts_max;
	uint64_t bytes;           /* the texts' */
	struct buf ts, lens, texts, packed;
	ZSTD_CCtx *z;
};

void chunk_builder_init(struct chunk_builder *b);
void chunk_builder_free(struct chunk_builder *b);
void chunk_reset(struct chunk_builder *b);
/* would a record of this ts and length fit in the chunk being built */
bool chunk_fits(const struct chunk_builder *b, int64_t ts, size_t len);
void chunk_add(struct chunk_builder *b, int64_t ts, const char *text, size_t len);
/* the stored value of the records added, valid until b changes */
void chunk_pack(struct chunk_builder *b, const void **data, size_t *len);

struct chunk_view {
	uint32_t n;
	const unsigned char *ts, *lens;   /* into frame */
	const char *texts;
	size_t *off;                      /* each text's start in texts */
	uint32_t *order;                  /* chunk_sort: by ts, then arrival */
	size_t cap;                       /* of off and order */
	struct buf frame;
	ZSTD_DCtx *z;      /* made when first needed; a caller may lend its own */
};

void chunk_view_init(struct chunk_view *v);
void chunk_view_free(struct chunk_view *v);
int chunk_unpack(struct chunk_view *v, const void *data, size_t len, char *err, size_t errlen);
int64_t chunk_ts(const struct chunk_view *v, uint32_t i);
const char *chunk_text(const struct chunk_view *v, uint32_t i, size_t *len);
void chunk_sort(struct chunk_view *v);

#endif
