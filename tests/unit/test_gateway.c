/* Unit tests of cce-gateway's parts: the store (its SQLite backend), the
 * chunk codec of its rows and the body parser, linked from the tool's
 * parts. The PostgreSQL backend is tested against a real server
 * (tests/83-*.bats). */
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../cmd/cce-gateway/body.h"
#include "../../cmd/cce-gateway/chunk.h"
#include "../../cmd/cce-gateway/store.h"
#include "t.h"

static char dir[64];

static int ins(struct store *s, const char *dev, int64_t ts, int64_t recv, const char *body)
{
	char err[256];
	return store_insert(s, dev, "t", ts, recv, body, strlen(body), err, sizeof err);
}

static int count_query(struct store *s, const char *dev, int64_t a, int64_t b, uint64_t limit,
		       struct buf *out)
{
	char err[256];
	struct store_reader *r = store_reader_open(s, err, sizeof err);
	int n = 0, rc;
	const char *body;
	size_t len;
	int64_t id;
	store_query(r, dev, NULL, a, b, limit, err, sizeof err);
	while ((rc = store_next(r, &id, &body, &len, err, sizeof err)) == 1) {
		n++;
		if (out) {
			buf_add(out, body, len);
			buf_addc(out, '\n');
		}
	}
	store_reader_close(r);
	return rc < 0 ? -1 : n;
}

static void test_store_basic(void)
{
	char err[256];
	struct store *s = store_open(dir, "t", err, sizeof err);
	ok(s != NULL, "a new store opens (%s)", s ? "" : err);
	ok(store_open(dir, "t", err, sizeof err) == NULL && strstr(err, "locked"),
	   "a second open is refused: %s", err);
	ok(store_connected(s, "d1", "t", err, sizeof err) == 0, "not connected at first");
	ok(store_connect(s, "d1", "t", true, err, sizeof err) == 1, "connect");
	ok(store_connect(s, "d1", "t", true, err, sizeof err) == 0, "connect again: already");
	ok(store_connected(s, "d1", "t", err, sizeof err) == 1, "connected");

	/* a request: records, counters and key in one transaction */
	ok(store_begin(s, err, sizeof err) == 0, "begin");
	ok(ins(s, "d1", 300, 1, "{\"a\":3}") == 0 && ins(s, "d1", 100, 1, "{\"a\":1}") == 0 &&
	   ins(s, "d2", 200, 1, "{\"a\":2}") == 0, "insert three");
	ok(store_count(s, "d1", "t", 2, 14, 100, 300, err, sizeof err) == 0, "count d1");
	ok(store_count(s, "d2", "t", 1, 7, 200, 200, err, sizeof err) == 0, "count d2");
	ok(store_idem_put(s, "k1", 200, "{\"stored\":3}", 1, err, sizeof err) == 0, "key");
	ok(store_commit(s, err, sizeof err) == 0, "commit");

	/* a rolled back request leaves nothing, key included */
	store_begin(s, err, sizeof err);
	ins(s, "d1", 150, 2, "{\"a\":9}");
	store_idem_put(s, "k2", 200, "x", 2, err, sizeof err);
	store_rollback(s);
	int st = 0;
	struct buf a = BUF_INIT;
	buf_init(&a);
	ok(store_idem_claim(s, "k1", 0, &st, &a, err, sizeof err) == 1 && st == 200 &&
	   strcmp(a.data, "{\"stored\":3}") == 0, "key k1 remembered with its answer");
	ok(store_idem_claim(s, "k2", 0, &st, &a, err, sizeof err) == 0, "rolled back key k2 absent");

	struct buf out = BUF_INIT;
	buf_init(&out);
	int n = count_query(s, "d1", 0, 1000, 0, &out);
	is_str(out.data, "{\"a\":1}\n{\"a\":3}\n", "d1 oldest first, the rolled back one absent (%d)", n);
	ok(count_query(s, "d1", 100, 300, 0, NULL) == 1, "range is [start, end)");
	ok(count_query(s, "d1", 0, 1000, 1, NULL) == 1, "limit");

	struct store_reader *r = store_reader_open(s, err, sizeof err);
	buf_reset(&out);
	ok(store_list(r, &out, err, sizeof err) == 0, "list");
	is_str(out.data,
	       "{\"device\":\"d1\",\"stream\":\"t\",\"connected\":true,\"count\":2,\"first_ts\":100,"
	       "\"last_ts\":300,\"bytes\":14}\n"
	       "{\"device\":\"d2\",\"stream\":\"t\",\"connected\":false,\"count\":1,\"first_ts\":200,"
	       "\"last_ts\":200,\"bytes\":7}\n", "list counts");
	ok(store_last_id(r) == 3, "last id");
	store_reader_close(r);
	ok(store_connect(s, "d1", "t", false, err, sizeof err) == 1, "disconnect");
	ok(store_connected(s, "d1", "t", err, sizeof err) == 0, "disconnected");

	/* retention by age: the first request (recv 1) goes, oldest first */
	store_begin(s, err, sizeof err);
	ins(s, "d1", 400, 10, "{\"a\":4}");
	store_count(s, "d1", "t", 1, 7, 400, 400, err, sizeof err);
	store_commit(s, err, sizeof err);
	uint64_t del = 0;
	ok(store_retain(s, 5, 0, 0, &del, err, sizeof err) == 0 && del == 3, "retain by age: %d",
	   (int)del);
	ok(count_query(s, "d1", 0, 1000, 0, NULL) == 1, "the newer record stays");
	ok(store_retain(s, 5, 0, 5, &del, err, sizeof err) == 0 && del == 0, "nothing more to delete");
	ok(store_idem_claim(s, "k1", 0, &st, &a, err, sizeof err) == 0, "old keys forgotten");
	uint64_t bytes = 0;
	ok(store_bytes(s, &bytes, err, sizeof err) == 0 && bytes == 7, "bytes follow: %d", (int)bytes);
	/* retention by size: ten requests of a record (a request's records
	 * are deleted together) */
	store_begin(s, err, sizeof err);
	for (int i = 0; i < 10; i++)
		ins(s, "d3", i, 20 + i, "{\"b\":1}");
	store_count(s, "d3", "t", 10, 70, 0, 9, err, sizeof err);
	store_commit(s, err, sizeof err);
	ok(store_retain(s, 0, 40, 0, &del, err, sizeof err) == 0 && del > 0, "retain by size");
	while (store_bytes(s, &bytes, err, sizeof err) == 0 && bytes > 40 &&
	       store_retain(s, 0, 40, 0, &del, err, sizeof err) == 0 && del > 0)
		;
	ok(store_bytes(s, &bytes, err, sizeof err) == 0 && bytes <= 40 && bytes > 30,
	   "just under the size, oldest first: %d", (int)bytes);
	ok(count_query(s, "d3", 0, 1000, 0, NULL) == 5, "the newest d3 records stay");
	buf_free(&a);
	buf_free(&out);
	store_close(s);
}

static void test_store_refusals(void)
{
	char err[256], p[128];
	snprintf(p, sizeof p, "%s/bad", dir);
	mkdir(p, 0700);
	snprintf(p, sizeof p, "%s/bad/gateway.db", dir);
	FILE *f = fopen(p, "w");
	fputs("this is not a database, just some text that is long enough to matter....\n", f);
	for (int i = 0; i < 100; i++)
		fputs("0123456789abcdef0123456789abcdef0123456789abcdef\n", f);
	fclose(f);
	snprintf(p, sizeof p, "%s/bad", dir);
	ok(store_open(p, "t", err, sizeof err) == NULL && strstr(err, "not a database"),
	   "a file that is no database is refused: %s", err);

	/* a database of another schema */
	snprintf(p, sizeof p, "%s/other", dir);
	mkdir(p, 0700);
	char cmd[256];
	snprintf(cmd, sizeof cmd, "%s/other/gateway.db", dir);
	sqlite3 *db;
	sqlite3_open(cmd, &db);
	sqlite3_exec(db, "CREATE TABLE x(y)", NULL, NULL, NULL);
	sqlite3_close(db);
	ok(store_open(p, "t", err, sizeof err) == NULL && strstr(err, "not a cce-gateway store"),
	   "another schema is refused: %s", err);

	/* a corrupted page: fails the integrity check */
	snprintf(p, sizeof p, "%s/torn", dir);
	struct store *s = store_open(p, "t", err, sizeof err);
	store_begin(s, err, sizeof err);
	for (int i = 0; i < 2000; i++)
		ins(s, "d", i, 1, "{\"padding\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}");
	store_commit(s, err, sizeof err);
	store_close(s);
	snprintf(cmd, sizeof cmd, "%s/torn/gateway.db", dir);
	sqlite3_open(cmd, &db);
	sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	sqlite3_close(db);
	int fd = open(cmd, O_WRONLY);
	char junk[4096];
	memset(junk, 0x5a, sizeof junk);
	for (off_t o = 8 * 4096; o < 12 * 4096; o += 4096)
		if (pwrite(fd, junk, sizeof junk, o) < 0)
			break;
	close(fd);
	ok(store_open(p, "t", err, sizeof err) == NULL && (strstr(err, "integrity") || strstr(err, "malformed")),
	   "a corrupted store is refused: %s", err);
}

/* the records of a body, one per line, and the refusals */
static void parse(const char *body, struct buf *recs, struct buf *refused)
{
	struct body_result r;
	body_init(&r);
	body_parse(body, strlen(body), "d1", "s", 77, &r);
	buf_reset(recs);
	for (uint32_t i = 0; i < r.nrec; i++) {
		buf_add(recs, r.recs.data + r.rec[i].off, r.rec[i].len);
		buf_addf(recs, " %lld\n", (long long)r.rec[i].ts);
	}
	buf_reset(refused);
	buf_add(refused, r.refused.data, r.refused.len);
	body_free(&r);
}

static void test_body(void)
{
	struct buf recs = BUF_INIT, ref = BUF_INIT;
	buf_init(&recs);
	buf_init(&ref);
	parse("{\"a\":1}\r\n\n  \n{}\n{\"ts\":5,\"device\":\"x\"}", &recs, &ref);
	is_str(recs.data, "{\"a\":1,\"device\":\"d1\",\"stream\":\"s\",\"ts\":77} 77\n"
		"{\"device\":\"d1\",\"stream\":\"s\",\"ts\":77} 77\n"
		"{\"ts\":5,\"device\":\"x\",\"stream\":\"s\"} 5\n", "lines: fields added at the end, kept when there");
	is_str(ref.data, "", "nothing refused");
	parse("[{\"a\":1}, 2, {\"ts\":\"1970-01-01T00:00:01Z\"}]", &recs, &ref);
	is_str(recs.data, "{\"a\":1,\"device\":\"d1\",\"stream\":\"s\",\"ts\":77} 77\n"
		"{\"ts\":\"1970-01-01T00:00:01Z\",\"device\":\"d1\",\"stream\":\"s\"} 1000\n",
	       "array: an RFC 3339 ts is kept and indexed as ms");
	is_str(ref.data, "{\"element\":2,\"error\":\"a record must be an object, not number\"}", "array element refused");
	parse("{\n \"a\": [1,\n 2]\n}\n", &recs, &ref);
	is_str(recs.data, "{\n \"a\": [1,\n 2]\n,\"device\":\"d1\",\"stream\":\"s\",\"ts\":77} 77\n",
	       "one object over lines is one record, its text kept");
	parse("{\"a\":1,}\n{\"ts\":1.5}\n{\"ts\":true}\n\"x\"\n", &recs, &ref);
	is_str(recs.data, "", "all refused");
	is_str(ref.data, "{\"line\":1,\"error\":\"trailing comma in object at byte 8\"},"
	       "{\"line\":2,\"error\":\"ts: must be epoch milliseconds or an RFC 3339 time\"},"
	       "{\"line\":3,\"error\":\"ts: must be epoch milliseconds or an RFC 3339 time\"},"
	       "{\"line\":4,\"error\":\"a record must be an object, not string\"}", "reasons per line");
	/* gzip: a bomb stops at the limit */
	struct buf z = BUF_INIT, out = BUF_INIT;
	buf_init(&z);
	buf_init(&out);
	char err[128];
	ok(body_gunzip("nope", 4, 100, &out, err, sizeof err) < 0, "not gzip: %s", err);
	FILE *p = popen("head -c 100000 /dev/zero | gzip", "r");
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
		buf_add(&z, chunk, n);
	pclose(p);
	ok(body_gunzip(z.data, z.len, 1000, &out, err, sizeof err) < 0 && out.len <= 1000,
	   "a bomb stops at the limit: %s", err);
	buf_reset(&out);
	ok(body_gunzip(z.data, z.len, 100000, &out, err, sizeof err) == 0 && out.len == 100000,
	   "exactly at the limit inflates");
	ok(body_gunzip(z.data, z.len - 4, 100000, &out, err, sizeof err) < 0, "cut short: %s", err);
	buf_free(&z);
	buf_free(&out);
	buf_free(&recs);
	buf_free(&ref);
}

/* The chunk codec (chunk.h). Values are unpacked from a heap copy of
 * exactly their size, so that ASan sees any read past them. */
static int unpack_exact(struct chunk_view *v, const void *data, size_t len, char *err,
			size_t errlen)
{
	unsigned char *copy = malloc(len ? len : 1);
	if (len)
		memcpy(copy, data, len);
	int rc = chunk_unpack(v, copy, len, err, errlen);
	free(copy);   /* the view holds its own frame: a text read later sees no freed bytes */
	return rc;
}

/* packs n records, unpacks them: 1 when the view holds exactly them in
 * arrival order; *method is the stored value's method byte */
static int round_trip(struct chunk_builder *b, struct chunk_view *v, const int64_t *ts,
		      const char *const *texts, const size_t *lens, uint32_t n, int *method)
{
	chunk_reset(b);
	for (uint32_t i = 0; i < n; i++)
		chunk_add(b, ts[i], texts[i], lens[i]);
	const void *data;
	size_t len;
	chunk_pack(b, &data, &len);
	*method = len ? ((const unsigned char *)data)[0] : -1;
	char err[200];
	if (unpack_exact(v, data, len, err, sizeof err) < 0) {
		printf("#   unpack: %s\n", err);
		return 0;
	}
	if (v->n != n)
		return 0;
	for (uint32_t i = 0; i < n; i++) {
		size_t l;
		const char *t = chunk_text(v, i, &l);
		if (chunk_ts(v, i) != ts[i] || l != lens[i] || memcmp(t, texts[i], l) != 0)
			return 0;
	}
	return 1;
}

static void test_chunk_round_trip(void)
{
	struct chunk_builder b;
	struct chunk_view v;
	chunk_builder_init(&b);
	chunk_view_init(&v);
	int m;
	int64_t ts[CHUNK_RECORDS];
	const char *texts[CHUNK_RECORDS];
	size_t lens[CHUNK_RECORDS];

	ts[0] = 5, texts[0] = "{\"a\":1}", lens[0] = 7;
	ok(round_trip(&b, &v, ts, texts, lens, 1, &m) && m == CHUNK_RAW, "one record, raw");
	int64_t far[] = { INT64_MIN, INT64_MAX, -1, 0, 12345 };
	for (int i = 0; i < 5; i++)
		texts[i] = "", lens[i] = 0;
	ok(round_trip(&b, &v, far, texts, lens, 5, &m), "empty texts, ts at both ends of int64");
	texts[1] = "a\0b\xff\x01\n", lens[1] = 6;
	texts[3] = "\0", lens[3] = 1;
	ok(round_trip(&b, &v, far, texts, lens, 5, &m), "texts with NUL bytes and binary");

	/* frame = 4 + 12 n + texts: 127 bytes stays raw, 128 compressible is zstd */
	char big[300];
	memset(big, 'a', sizeof big);
	ts[0] = 1, texts[0] = big, lens[0] = 111;
	ok(round_trip(&b, &v, ts, texts, lens, 1, &m) && m == CHUNK_RAW, "a 127-byte frame is raw");
	lens[0] = 112;
	ok(round_trip(&b, &v, ts, texts, lens, 1, &m) && m == CHUNK_ZSTD, "a 128-byte frame: zstd");
	/* incompressible: stored as it is */
	uint32_t x = 2463534242u;
	for (size_t i = 0; i < sizeof big; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		big[i] = (char)(x >> 24);
	}
	lens[0] = sizeof big;
	ok(round_trip(&b, &v, ts, texts, lens, 1, &m) && m == CHUNK_RAW,
	   "a frame zstd cannot shrink stays raw (%d)", m);

	/* a full chunk: ts out of order, texts of every length up to 40 */
	static char line[CHUNK_RECORDS][48];
	for (uint32_t i = 0; i < CHUNK_RECORDS; i++) {
		ts[i] = 1000000 + (int64_t)((i * 7919u) % 600000u) - 300000;
		lens[i] = (size_t)snprintf(line[i], sizeof line[i], "{\"seq\":%u,\"p\":\"%.*s\"}", i,
					   (int)(i % 20), "xxxxxxxxxxxxxxxxxxxx");
		texts[i] = line[i];
	}
	ok(round_trip(&b, &v, ts, texts, lens, CHUNK_RECORDS, &m) && m == CHUNK_ZSTD,
	   "CHUNK_RECORDS records, zstd");
	/* the view reused for a smaller chunk after a larger one */
	ok(round_trip(&b, &v, ts + 10, texts + 10, lens + 10, 3, &m), "a view is reused");
	chunk_view_free(&v);
	chunk_builder_free(&b);
}

static void test_chunk_fits(void)
{
	struct chunk_builder b;
	chunk_builder_init(&b);
	ok(chunk_fits(&b, 0, (size_t)CHUNK_BYTES * 4), "an empty chunk takes any record");
	for (int i = 0; i < CHUNK_RECORDS - 1; i++)
		chunk_add(&b, 0, "", 0);
	ok(chunk_fits(&b, 0, 0), "record CHUNK_RECORDS fits");
	chunk_add(&b, 0, "", 0);
	ok(!chunk_fits(&b, 0, 0), "record CHUNK_RECORDS + 1 does not");

	static char text[CHUNK_BYTES + 1];
	chunk_reset(&b);
	chunk_add(&b, 0, text, CHUNK_BYTES - 10);
	ok(chunk_fits(&b, 0, 10) && !chunk_fits(&b, 0, 11), "texts up to CHUNK_BYTES");
	chunk_reset(&b);
	chunk_add(&b, 0, text, CHUNK_BYTES + 1);
	ok(!chunk_fits(&b, 0, 0), "nothing joins a record over CHUNK_BYTES");

	chunk_reset(&b);
	chunk_add(&b, 1000, "", 0);
	ok(chunk_fits(&b, 1000 + CHUNK_SPAN_MS - 1, 0) && !chunk_fits(&b, 1000 + CHUNK_SPAN_MS, 0),
	   "the span is under CHUNK_SPAN_MS, later");
	ok(chunk_fits(&b, 1000 - CHUNK_SPAN_MS + 1, 0) && !chunk_fits(&b, 1000 - CHUNK_SPAN_MS, 0),
	   "and earlier");
	chunk_add(&b, 1000 + CHUNK_SPAN_MS - 1, "", 0);
	ok(chunk_fits(&b, 1000, 0) && !chunk_fits(&b, 999, 0), "between min and max");

	/* ts at the ends of int64: hi - lo would overflow (UBSan) */
	chunk_reset(&b);
	chunk_add(&b, INT64_MIN, "", 0);
	ok(!chunk_fits(&b, INT64_MAX, 0) && !chunk_fits(&b, 0, 0) && !chunk_fits(&b, -1, 0),
	   "INT64_MIN with far ts");
	ok(chunk_fits(&b, INT64_MIN + CHUNK_SPAN_MS - 1, 0) &&
	   !chunk_fits(&b, INT64_MIN + CHUNK_SPAN_MS, 0), "INT64_MIN with near ts");
	chunk_reset(&b);
	chunk_add(&b, INT64_MAX, "", 0);
	ok(!chunk_fits(&b, INT64_MIN, 0) && !chunk_fits(&b, -1, 0) && !chunk_fits(&b, 0, 0),
	   "INT64_MAX with far ts");
	ok(chunk_fits(&b, INT64_MAX - CHUNK_SPAN_MS + 1, 0) &&
	   !chunk_fits(&b, INT64_MAX - CHUNK_SPAN_MS, 0), "INT64_MAX with near ts");
	chunk_reset(&b);
	chunk_add(&b, -1, "", 0);
	ok(!chunk_fits(&b, INT64_MAX, 0) && !chunk_fits(&b, INT64_MIN, 0), "-1 with both ends");
	chunk_builder_free(&b);
}

/* the view's order after chunk_sort, as "i i i" */
static const char *sorted(struct chunk_builder *b, struct chunk_view *v, const int64_t *ts,
			  uint32_t n)
{
	static char out[256];
	chunk_reset(b);
	for (uint32_t i = 0; i < n; i++)
		chunk_add(b, ts[i], "x", 1);
	const void *data;
	size_t len;
	chunk_pack(b, &data, &len);
	if (chunk_unpack(v, data, len, out, sizeof out) < 0)
		return out;
	chunk_sort(v);
	size_t o = 0;
	out[0] = 0;
	for (uint32_t i = 0; i < v->n && o < sizeof out - 12; i++)
		o += (size_t)snprintf(out + o, sizeof out - o, "%s%u", i ? " " : "", v->order[i]);
	return out;
}

static void test_chunk_sort(void)
{
	struct chunk_builder b;
	struct chunk_view v;
	chunk_builder_init(&b);
	chunk_view_init(&v);
	int64_t a[] = { 5, 3, 5, 1, 3, 5 };
	is_str(sorted(&b, &v, a, 6), "3 1 4 0 2 5", "by ts, ties by arrival");
	int64_t s[] = { 1, 1, 2, 2, 3 };
	is_str(sorted(&b, &v, s, 5), "0 1 2 3 4", "in order: as it is");
	int64_t e[] = { INT64_MAX, 0, INT64_MIN, 0, INT64_MAX, INT64_MIN };
	is_str(sorted(&b, &v, e, 6), "2 5 1 3 0 4", "the ends of int64");
	/* a full chunk of many ties: qsort is not stable, the index decides */
	static int64_t many[CHUNK_RECORDS];
	for (uint32_t i = 0; i < CHUNK_RECORDS; i++)
		many[i] = (int64_t)(CHUNK_RECORDS - i) % 7;
	sorted(&b, &v, many, CHUNK_RECORDS);
	int good = v.n == CHUNK_RECORDS;
	for (uint32_t i = 1; good && i < v.n; i++) {
		uint32_t x = v.order[i - 1], y = v.order[i];
		good = many[x] < many[y] || (many[x] == many[y] && x < y);
	}
	ok(good, "CHUNK_RECORDS records with ties: sorted by (ts, arrival)");
	chunk_view_free(&v);
	chunk_builder_free(&b);
}

static void le32(struct buf *b, uint32_t x)
{
	unsigned char c[4] = { (unsigned char)x, (unsigned char)(x >> 8), (unsigned char)(x >> 16),
			       (unsigned char)(x >> 24) };
	buf_add(b, c, 4);
}

/* a frame: count n, n ts of 0, lengths, then text bytes of 'x' */
static void frame(struct buf *b, uint32_t n, uint32_t nlens, const uint32_t *lens, size_t text)
{
	buf_reset(b);
	le32(b, n);
	for (uint32_t i = 0; i < nlens; i++)
		buf_add(b, "\0\0\0\0\0\0\0\0", 8);
	for (uint32_t i = 0; i < nlens; i++)
		le32(b, lens[i]);
	for (size_t i = 0; i < text; i++)
		buf_addc(b, 'x');
}

/* the value of method m over b (CHUNK_ZSTD: compressed, with its size) */
static void value(struct buf *out, int m, const struct buf *b)
{
	buf_reset(out);
	buf_addc(out, (char)m);
	if (m != CHUNK_ZSTD) {
		buf_add(out, b->data, b->len);
		return;
	}
	size_t bound = ZSTD_compressBound(b->len);
	buf_grow(out, bound);
	size_t n = ZSTD_compress(out->data + 1, bound, b->data, b->len, 1);
	out->len = ZSTD_isError(n) ? 1 : 1 + n;
}

/* chunk_unpack refuses value, naming the damage; the view then reads a
 * good chunk again */
static void refused(struct chunk_view *v, const struct buf *val, const char *why)
{
	char err[200] = "";
	int rc = unpack_exact(v, val->data, val->len, err, sizeof err);
	ok(rc < 0 && v->n == 0 && strncmp(err, "a damaged chunk: ", 17) == 0, "refused: %s (%s)", why,
	   err);
	static const unsigned char good[] = { CHUNK_RAW, 1, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 2, 0,
					      0, 0, 'h', 'i' };
	size_t l;
	ok(unpack_exact(v, good, sizeof good, err, sizeof err) == 0 && v->n == 1 &&
	   chunk_ts(v, 0) == 9 && memcmp(chunk_text(v, 0, &l), "hi", 2) == 0 && l == 2,
	   "then a good one is read");
}

static void test_chunk_refusals_raw(struct chunk_view *v, struct buf *f, struct buf *val)
{
	buf_reset(val);
	refused(v, val, "empty");
	uint32_t one[] = { 2 };
	frame(f, 1, 1, one, 2);
	value(val, 2, f);
	refused(v, val, "method 2");
	value(val, 0xff, f);
	refused(v, val, "method 0xff");
	value(val, CHUNK_RAW, f);
	buf_addc(val, 'x');
	refused(v, val, "raw, a byte after its texts");
	val->len -= 2;
	refused(v, val, "raw, cut short");
	buf_reset(f);
	buf_add(f, "\1\0\0", 3);
	value(val, CHUNK_RAW, f);
	refused(v, val, "no count");
	frame(f, 0, 0, NULL, 20);
	value(val, CHUNK_RAW, f);
	refused(v, val, "count 0");
	frame(f, 2, 1, one, 2);
	value(val, CHUNK_RAW, f);
	refused(v, val, "count 2, one record's room");
	frame(f, UINT32_MAX, 1, one, 2);
	value(val, CHUNK_RAW, f);
	refused(v, val, "count UINT32_MAX");
	uint32_t past[] = { 3, 4 }, wrap[] = { 3, UINT32_MAX }, shrt[] = { 2, 2 }, big[] = { UINT32_MAX, 0 };
	frame(f, 2, 2, past, 5);
	value(val, CHUNK_RAW, f);
	refused(v, val, "lengths past the frame");
	frame(f, 2, 2, wrap, 5);
	value(val, CHUNK_RAW, f);
	refused(v, val, "a length that wraps");
	frame(f, 2, 2, big, 5);
	value(val, CHUNK_RAW, f);
	refused(v, val, "a first length past the frame");
	frame(f, 2, 2, shrt, 5);
	value(val, CHUNK_RAW, f);
	refused(v, val, "lengths short of the frame");
	/* the same frames compressed: checked after inflating */
	frame(f, 2, 2, shrt, 200);
	value(val, CHUNK_ZSTD, f);
	refused(v, val, "zstd, lengths short of the frame");
	frame(f, 0, 0, NULL, 200);
	value(val, CHUNK_ZSTD, f);
	refused(v, val, "zstd, count 0");
	buf_reset(f);
	value(val, CHUNK_ZSTD, f);
	refused(v, val, "zstd of nothing");
}

/* zstd frames made by hand: magic, a header (descriptor, content size),
 * then blocks */
static void zstd_header(struct buf *val, unsigned char desc, uint64_t size, int size_bytes)
{
	buf_reset(val);
	buf_addc(val, CHUNK_ZSTD);
	buf_add(val, "\x28\xb5\x2f\xfd", 4);
	buf_addc(val, (char)desc);
	for (int i = 0; i < size_bytes; i++)
		buf_addc(val, (char)(size >> (8 * i)));
}

static void test_chunk_refusals_zstd(struct chunk_view *v, struct buf *f, struct buf *val)
{
	struct chunk_builder b;
	chunk_builder_init(&b);
	for (int i = 0; i < 500; i++)
		chunk_add(&b, i, "{\"seq\":1,\"padding\":\"yyyyyyyyyyyyyyyyyy\"}", 39);
	const void *data;
	size_t len;
	chunk_pack(&b, &data, &len);
	buf_reset(val);
	buf_add(val, data, len);
	ok(len > 20 && val->data[0] == CHUNK_ZSTD, "a zstd value to damage");
	val->len = len - 1;
	refused(v, val, "zstd cut by a byte");
	val->len = len / 2;
	refused(v, val, "zstd cut in half");
	val->len = 5;
	refused(v, val, "zstd cut to its magic");
	val->len = len;
	buf_addc(val, 0);
	refused(v, val, "zstd, a byte after its frame");
	val->len = len;
	buf_add(val, (const char *)data + 1, len - 1);
	refused(v, val, "zstd, two frames");
	buf_reset(val);
	buf_add(val, data, len);
	val->data[len / 2] ^= 0x55;
	val->data[len / 2 + 1] ^= 0x55;
	refused(v, val, "zstd, bytes flipped inside");
	/* a byte of a literal the frame carries as it is: only the checksum
	 * can tell */
	unsigned char text[600];
	uint32_t x = 12345;
	for (int i = 0; i < 64; i++)
		text[i] = (unsigned char)((x = x * 1103515245 + 12345) >> 16);
	memset(text + 64, 'a', sizeof text - 64);
	chunk_reset(&b);
	chunk_add(&b, 7, (const char *)text, sizeof text);
	chunk_pack(&b, &data, &len);
	buf_reset(val);
	buf_add(val, data, len);
	char *lit = memmem(val->data, val->len, text, 64);
	ok(val->data[0] == CHUNK_ZSTD && lit, "the literal is in the zstd value as it is");
	/* the frame header descriptor follows the 4-byte magic: bit 2 is
	 * Content_Checksum_flag (RFC 8878, 3.1.1.1.1) */
	ok(val->len > 6 && (val->data[5] & 4), "the zstd frame carries a checksum");
	if (lit) {
		lit[10] ^= 1;
		refused(v, val, "zstd, a literal byte changed");
	}
	chunk_builder_free(&b);

	/* single segment, an 8-byte content size over CHUNK_MAX_FRAME, one
	 * empty last raw block */
	zstd_header(val, 0xe0, (uint64_t)CHUNK_MAX_FRAME + 1, 8);
	buf_add(val, "\1\0\0", 3);
	refused(v, val, "zstd saying a size over CHUNK_MAX_FRAME");
	zstd_header(val, 0xe0, UINT64_MAX - 1, 8);
	buf_add(val, "\1\0\0", 3);
	refused(v, val, "zstd saying a size of 2^64 - 2");
	/* a 1-byte content size of 100, then a raw block of 10 */
	zstd_header(val, 0x20, 100, 1);
	buf_add(val, "\x51\0\0" "0123456789", 13);
	refused(v, val, "zstd saying more than it holds");
	/* no content size: a window descriptor instead */
	zstd_header(val, 0x00, 0, 0);
	buf_add(val, "\x50\x51\0\0" "0123456789", 14);
	refused(v, val, "zstd without its size");
	/* a skippable frame */
	buf_reset(val);
	buf_add(val, "\1\x50\x2a\x4d\x18\4\0\0\0abcd", 13);
	refused(v, val, "a skippable zstd frame");
	/* made by the zstd API without the size */
	ZSTD_CCtx *z = ZSTD_createCCtx();
	uint32_t lens[] = { 100 };
	frame(f, 1, 1, lens, 100);
	ZSTD_CCtx_setParameter(z, ZSTD_c_contentSizeFlag, 0);
	buf_reset(val);
	buf_addc(val, CHUNK_ZSTD);
	buf_grow(val, ZSTD_compressBound(f->len));
	size_t n = ZSTD_compress2(z, val->data + 1, ZSTD_compressBound(f->len), f->data, f->len);
	val->len = ZSTD_isError(n) ? 1 : 1 + n;
	ZSTD_freeCCtx(z);
	refused(v, val, "zstd (API) without its size");
}

static void test_chunk_refusals(void)
{
	struct chunk_view v;
	struct buf f = BUF_INIT, val = BUF_INIT;
	chunk_view_init(&v);
	buf_init(&f);
	buf_init(&val);
	test_chunk_refusals_raw(&v, &f, &val);
	test_chunk_refusals_zstd(&v, &f, &val);
	chunk_view_free(&v);
	buf_free(&f);
	buf_free(&val);
}

/* Records at the ends of int64 and of one ts over several chunks come back
 * from a query of everything. KNOWN FAILING (chunked store, sq_query): a
 * chunk whose ts_min is INT64_MIN is never found, since the lower bound is
 * clamped to INT64_MIN and compared with ts_min > ?3. */
static void test_store_ts_ends(void)
{
	char err[256], p[128];
	snprintf(p, sizeof p, "%s/ends", dir);
	struct store *s = store_open(p, "t", err, sizeof err);
	store_begin(s, err, sizeof err);
	ins(s, "d", INT64_MIN, 1, "{\"a\":1}");
	ins(s, "d", 5, 1, "{\"a\":2}");
	ins(s, "d", INT64_MAX - 1, 1, "{\"a\":3}");
	ins(s, "d", INT64_MIN + 1, 2, "{\"a\":4}");
	store_commit(s, err, sizeof err);
	struct buf out = BUF_INIT;
	buf_init(&out);
	count_query(s, "d", INT64_MIN, INT64_MAX, 0, &out);
	is_str(out.data, "{\"a\":1}\n{\"a\":4}\n{\"a\":2}\n{\"a\":3}\n",
	       "a query of everything has the records at INT64_MIN and INT64_MAX - 1");
	buf_reset(&out);
	count_query(s, "d", INT64_MIN + 1, 6, 0, &out);
	is_str(out.data, "{\"a\":4}\n{\"a\":2}\n", "from INT64_MIN + 1");
	buf_free(&out);
	store_close(s);
}

int main(void)
{
	test_body();
	test_chunk_round_trip();
	test_chunk_fits();
	test_chunk_sort();
	test_chunk_refusals();
	snprintf(dir, sizeof dir, "/tmp/cce-test-gateway-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	test_store_basic();
	test_store_refusals();
	test_store_ts_ends();
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return done_testing();
}
