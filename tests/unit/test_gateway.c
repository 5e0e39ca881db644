/* Unit tests of cce-gateway's parts: the store (its SQLite backend) and
 * the body parser, linked from the tool's parts. The PostgreSQL backend is
 * tested against a real server (tests/83-*.bats). */
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../cmd/cce-gateway/body.h"
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
	/* retention by size */
	store_begin(s, err, sizeof err);
	for (int i = 0; i < 10; i++)
		ins(s, "d3", i, 20, "{\"b\":1}");
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

int main(void)
{
	test_body();
	snprintf(dir, sizeof dir, "/tmp/cce-test-gateway-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	test_store_basic();
	test_store_refusals();
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return done_testing();
}
