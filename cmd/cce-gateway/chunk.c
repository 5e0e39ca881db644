/* The stored form of a run of records (see chunk.h). */
#include "chunk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* a frame this small is stored as it is: zstd would gain a few bytes */
enum { ZSTD_FROM = 128 };

static void put_u32(struct buf *b, uint32_t v)
{
	unsigned char c[4] = { (unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
			       (unsigned char)(v >> 24) };
	buf_add(b, c, 4);
}

static void put_i64(struct buf *b, int64_t v)
{
	uint64_t u = (uint64_t)v;
	unsigned char c[8];
	for (int i = 0; i < 8; i++)
		c[i] = (unsigned char)(u >> (8 * i));
	buf_add(b, c, 8);
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int64_t get_i64(const unsigned char *p)
{
	uint64_t u = 0;
	for (int i = 7; i >= 0; i--)
		u = u << 8 | p[i];
	return (int64_t)u;
}

void chunk_builder_init(struct chunk_builder *b)
{
	memset(b, 0, sizeof *b);
	buf_init(&b->ts);
	buf_init(&b->lens);
	buf_init(&b->texts);
	buf_init(&b->packed);
}

void chunk_builder_free(struct chunk_builder *b)
{
	buf_free(&b->ts);
	buf_free(&b->lens);
	buf_free(&b->texts);
	buf_free(&b->packed);
	ZSTD_freeCCtx(b->z);
	b->z = NULL;
}

void chunk_reset(struct chunk_builder *b)
{
	b->n = 0;
	b->bytes = 0;
	buf_reset(&b->ts);
	buf_reset(&b->lens);
	buf_reset(&b->texts);
}

bool chunk_fits(const struct chunk_builder *b, int64_t ts, size_t len)
{
	if (b->n == 0)
		return true;
	if (b->n >= CHUNK_RECORDS || b->bytes + len > CHUNK_BYTES)
		return false;
	int64_t lo = ts < b->ts_min ? ts : b->ts_min, hi = ts > b->ts_max ? ts : b->ts_max;
	/* hi - lo < span, without overflow for ts far apart */
	return !(lo < 0 && hi >= INT64_MAX + lo) && hi - lo < CHUNK_SPAN_MS;
}

void chunk_add(struct chunk_builder *b, int64_t ts, const char *text, size_t len)
{
	if (b->n == 0 || ts < b->ts_min)
		b->ts_min = ts;
	if (b->n == 0 || ts > b->ts_max)
		b->ts_max = ts;
	b->n++;
	b->bytes += len;
	put_i64(&b->ts, ts);
	put_u32(&b->lens, (uint32_t)len);
	buf_add(&b->texts, text, len);
}

void chunk_pack(struct chunk_builder *b, const void **data, size_t *len)
{
	struct buf *p = &b->packed;
	buf_reset(p);
	buf_addc(p, CHUNK_RAW);
	put_u32(p, b->n);
	buf_add(p, b->ts.data, b->ts.len);
	buf_add(p, b->lens.data, b->lens.len);
	buf_add(p, b->texts.data, b->texts.len);
	size_t frame = p->len - 1;
	if (frame >= ZSTD_FROM) {
		if (!b->z) {
			/* level 1, and a checksum: a damaged value is refused, not read
			 * as other records */
			if (!(b->z = ZSTD_createCCtx()) ||
			    ZSTD_isError(ZSTD_CCtx_setParameter(b->z, ZSTD_c_compressionLevel, 1)) ||
			    ZSTD_isError(ZSTD_CCtx_setParameter(b->z, ZSTD_c_checksumFlag, 1)))
				xalloc_fail();
		}
		size_t bound = ZSTD_compressBound(frame);
		buf_grow(p, 1 + bound);
		char *out = p->data + p->len;
		size_t n = ZSTD_compress2(b->z, out + 1, bound, p->data + 1, frame);
		/* stored as it is when zstd cannot make it smaller */
		if (!ZSTD_isError(n) && n < frame) {
			out[0] = CHUNK_ZSTD;
			memmove(p->data, out, 1 + n);
			p->len = 1 + n;
		}
	}
	*data = p->data;
	*len = p->len;
}

void chunk_view_init(struct chunk_view *v)
{
	memset(v, 0, sizeof *v);
	buf_init(&v->frame);
}

void chunk_view_free(struct chunk_view *v)
{
	buf_free(&v->frame);
	free(v->off);
	free(v->order);
	ZSTD_freeDCtx(v->z);
	memset(v, 0, sizeof *v);
	buf_init(&v->frame);
}

static int refuse(char *err, size_t errlen, const char *why)
{
	snprintf(err, errlen, "a damaged chunk: %s", why);
	return -1;
}

/* the frame of a CHUNK_ZSTD value into v->frame: one zstd frame that
 * says its size, which must be what it decompresses to */
static int decompress_frame(struct chunk_view *v, const unsigned char *p, size_t n, char *err,
			    size_t errlen)
{
	unsigned long long size = ZSTD_getFrameContentSize(p, n);
	if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN)
		return refuse(err, errlen, "not a zstd frame of known size");
	if (size > CHUNK_MAX_FRAME)
		return refuse(err, errlen, "larger than the largest frame");
	if (ZSTD_findFrameCompressedSize(p, n) != n)
		return refuse(err, errlen, "bytes after its frame, or a frame cut short");
	if (!v->z && !(v->z = ZSTD_createDCtx()))
		xalloc_fail();
	buf_grow(&v->frame, (size_t)size);
	size_t got = ZSTD_decompressDCtx(v->z, v->frame.data, (size_t)size, p, n);
	if (ZSTD_isError(got) || got != size)
		return refuse(err, errlen, "it does not decompress");
	v->frame.len = got;
	v->frame.data[got] = 0;
	return 0;
}

/* the frame's arrays, checked against its length */
static int read_frame(struct chunk_view *v, char *err, size_t errlen)
{
	const unsigned char *p = (const unsigned char *)v->frame.data;
	size_t len = v->frame.len;
	if (len < 4)
		return refuse(err, errlen, "no count");
	uint32_t n = get_u32(p);
	if (n == 0 || (uint64_t)n * 12 > len - 4)
		return refuse(err, errlen, "its count does not fit");
	v->n = n;
	v->ts = p + 4;
	v->lens = v->ts + (size_t)n * 8;
	v->texts = (const char *)(v->lens + (size_t)n * 4);
	size_t room = len - 4 - (size_t)n * 12;
	if (n > v->cap) {
		v->off = xrealloc(v->off, n * sizeof *v->off);
		v->order = xrealloc(v->order, n * sizeof *v->order);
		v->cap = n;
	}
	size_t at = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t l = get_u32(v->lens + (size_t)i * 4);
		if (l > room - at)
			return refuse(err, errlen, "its texts are longer than the frame");
		v->off[i] = at;
		at += l;
	}
	return at == room ? 0 : refuse(err, errlen, "bytes after its texts");
}

int chunk_unpack(struct chunk_view *v, const void *data, size_t len, char *err, size_t errlen)
{
	const unsigned char *p = data;
	v->n = 0;
	buf_reset(&v->frame);
	if (len < 1)
		return refuse(err, errlen, "empty");
	if (p[0] == CHUNK_RAW) {
		if (len - 1 > CHUNK_MAX_FRAME)
			return refuse(err, errlen, "larger than the largest frame");
		buf_add(&v->frame, p + 1, len - 1);
	} else if (p[0] == CHUNK_ZSTD) {
		if (decompress_frame(v, p + 1, len - 1, err, errlen) < 0)
			return -1;
	} else {
		return refuse(err, errlen, "an unknown method");
	}
	if (read_frame(v, err, errlen) < 0) {
		v->n = 0;
		return -1;
	}
	return 0;
}

int64_t chunk_ts(const struct chunk_view *v, uint32_t i) { return get_i64(v->ts + (size_t)i * 8); }

const char *chunk_text(const struct chunk_view *v, uint32_t i, size_t *len)
{
	*len = get_u32(v->lens + (size_t)i * 4);
	return v->texts + v->off[i];
}

static int by_ts(const void *a, const void *b, void *arg)
{
	const struct chunk_view *v = arg;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	int64_t tx = chunk_ts(v, x), ty = chunk_ts(v, y);
	return tx < ty ? -1 : tx > ty ? 1 : x < y ? -1 : x > y;
}

/* a device's records mostly come in order: then there is nothing to sort */
void chunk_sort(struct chunk_view *v)
{
	bool sorted = true;
	for (uint32_t i = 0; i < v->n; i++) {
		v->order[i] = i;
		if (i && chunk_ts(v, i) < chunk_ts(v, i - 1))
			sorted = false;
	}
	if (!sorted)
		qsort_r(v->order, v->n, sizeof *v->order, by_ts, v);
}
