/* Unit tests of cce-push's parts: the spool, the URL template, the retry
 * arithmetic and the HTTP verdicts, linked from the tool's parts. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../cmd/cce-push/sink.h"
#include "../../cmd/cce-push/sink_impl.h"
#include "../../cmd/cce-push/spool.h"
#include "../../cmd/cce-push/target.h"
#include "fsutil.h"
#include "hash.h"
#include "json.h"
#include "t.h"

static int append(struct spool *s, const char *key, size_t keylen, const char *data, uint32_t n)
{
	char err[512];
	return spool_append(s, key, keylen, data, strlen(data), n, false, err, sizeof err);
}

static void test_target(void)
{
	struct target t;
	char err[512];
	ok(target_parse(&t, "https://h/x/{site}/{batch}.ndjson", err, sizeof err) == 0, "https template");
	ok(t.kind == SINK_HTTP && t.tls && t.nfields == 1 && t.has_batch, "fields and {batch}");
	struct json_doc d;
	json_doc_init(&d);
	struct buf key, out;
	buf_init(&key);
	buf_init(&out);
	const char *rec = "{\"site\":\"a b/c\",\"v\":1}";
	ok(json_parse(&d, rec, strlen(rec), NULL) == 0, "parse");
	ok(target_key(&t, &d, &key, err, sizeof err) == 0 && key.len == 6, "key of a record");
	ok(target_expand(&t, key.data, key.len, "ID", &out) == 0 &&
		   strcmp(out.data, "https://h/x/a%20b%2Fc/ID.ndjson") == 0, "expand escapes: %s", out.data);
	ok(target_expand(&t, "", 0, "ID", &out) < 0, "a key that does not fit");
	rec = "{\"v\":1}";
	json_parse(&d, rec, strlen(rec), NULL);
	buf_reset(&key);
	ok(target_key(&t, &d, &key, err, sizeof err) < 0 && strstr(err, "no field 'site'"), "missing field");
	rec = "{\"site\":[1]}";
	json_parse(&d, rec, strlen(rec), NULL);
	buf_reset(&key);
	ok(target_key(&t, &d, &key, err, sizeof err) < 0 && strstr(err, "array"), "wrong type");
	target_free(&t);

	ok(target_parse(&t, "mqtt://broker:1884/plant/{site}", err, sizeof err) == 0, "mqtt");
	ok(strcmp(t.host, "broker") == 0 && t.port == 1884 && !t.tls, "mqtt host and port");
	rec = "{\"site\":\"a+\"}";
	json_parse(&d, rec, strlen(rec), NULL);
	buf_reset(&key);
	ok(target_key(&t, &d, &key, err, sizeof err) < 0 && strstr(err, "wildcard"), "wildcard value");
	rec = "{\"site\":7}";
	json_parse(&d, rec, strlen(rec), NULL);
	buf_reset(&key);
	ok(target_key(&t, &d, &key, err, sizeof err) == 0 &&
		   target_expand(&t, key.data, key.len, "x", &out) == 0 && strcmp(out.data, "plant/7") == 0,
	   "number value in a topic");
	target_free(&t);
	ok(target_parse(&t, "mqtts://b/t", err, sizeof err) == 0 && t.port == 8883, "mqtts port");
	target_free(&t);
	ok(target_parse(&t, "file:/x/{a}", err, sizeof err) == 0 && t.kind == SINK_FILE, "file");
	rec = "{\"a\":\"..\"}";
	json_parse(&d, rec, strlen(rec), NULL);
	buf_reset(&key);
	ok(target_key(&t, &d, &key, err, sizeof err) < 0, "dot-dot in a file name");
	target_free(&t);
	const char *bad[] = { "ftp://x/y", "http://", "mqtt://host", "mqtt://h:0/t", "mqtt://h/a/#",
			      "mqtt://u:p@h/t", "file:", NULL };
	for (int i = 0; bad[i]; i++) {
		ok(target_parse(&t, bad[i], err, sizeof err) < 0, "refused: %s", bad[i]);
		target_free(&t);
	}
	json_doc_free(&d);
	buf_free(&key);
	buf_free(&out);
}

static void test_retry(void)
{
	ok(http_verdict(200) == V_OK && http_verdict(204) == V_OK, "2xx ok");
	ok(http_verdict(408) == V_RETRY && http_verdict(429) == V_RETRY && http_verdict(503) == V_RETRY &&
		   http_verdict(500) == V_RETRY, "transient");
	ok(http_verdict(400) == V_PERMANENT && http_verdict(401) == V_PERMANENT &&
		   http_verdict(404) == V_PERMANENT && http_verdict(301) == V_PERMANENT, "permanent");
	ok(backoff_delay(1, 1000, 300000, 5000, 0) == 5000, "retry-after wins");
	ok(backoff_delay(1, 1000, 2000, 60000, 0) == 2000, "retry-after clamped");
	bool in_range = true;
	for (uint32_t r = 0; r < 100000; r += 997)
		if (backoff_delay(3, 1000, 300000, -1, r) > 4000)
			in_range = false;
	ok(in_range, "full jitter stays under base * 2^(n-1)");
	ok(backoff_delay(40, 1000, 300000, -1, UINT32_MAX) <= 300000, "capped at max, no overflow");
	ok(backoff_delay(3, 1000, 300000, -1, 4000) == 4000, "the bound itself");
}

static void test_spool(const char *dir)
{
	char path[512], err[512];
	snprintf(path, sizeof path, "%s/spool", dir);
	struct spool_opts o = { path, 1 << 20, false, 0, 0, NULL, NULL };
	struct spool *s = spool_open(&o, err, sizeof err);
	ok(s != NULL, "open: %s", s ? "" : err);
	ok(append(s, "", 0, "{\"a\":1}\n", 1) == 0, "append 1");
	ok(append(s, "k\0", 2, "{\"a\":2}\n{\"a\":3}\n", 2) == 0, "append 2");
	ok(append(s, "", 0, "{\"a\":4}\n", 1) == 0, "append 3");
	struct spool_batch b1, b2;
	ok(spool_next(s, &b1, err, sizeof err) == 1 && b1.nrec == 1 && strcmp(b1.data, "{\"a\":1}\n") == 0,
	   "first batch");
	ok(spool_done(s, &b1, err, sizeof err) == 0, "ack first");
	ok(spool_next(s, &b2, err, sizeof err) == 1 && b2.nrec == 2 && b2.keylen == 2, "second batch");
	char id2[SPOOL_ID_LEN + 1];
	memcpy(id2, b2.id, sizeof id2);
	struct spool_stats st;
	spool_stats(s, &st);
	ok(st.records == 3, "3 records not acknowledged");
	/* another process may not take it */
	ok(spool_open(&o, err, sizeof err) == NULL && strstr(err, "locked by pid"), "locked: %s", err);
	spool_batch_free(&b1);
	spool_batch_free(&b2);
	spool_close(s); /* second batch was in flight: it comes again */

	s = spool_open(&o, err, sizeof err);
	ok(s != NULL, "reopen");
	ok(spool_next(s, &b2, err, sizeof err) == 1 && strcmp(b2.id, id2) == 0, "same batch, same id");
	ok(spool_done(s, &b2, err, sizeof err) == 0, "ack it");
	spool_batch_free(&b2);
	/* a torn frame at the end is cut off */
	spool_close(s);
	char seg[600];
	snprintf(seg, sizeof seg, "%s/0000000000000000.seg", path);
	struct stat sb;
	ok(stat(seg, &sb) == 0, "segment there");
	off_t size = sb.st_size;
	ok(fs_append(seg, "CCEB\x01\x00\x00\x00torn", 12, 0600, true, err, sizeof err) == 0, "tear");
	s = spool_open(&o, err, sizeof err);
	ok(s != NULL, "reopen after a tear");
	ok(stat(seg, &sb) == 0 && sb.st_size == size, "the torn frame is cut off");
	ok(spool_next(s, &b1, err, sizeof err) == 1 && strcmp(b1.data, "{\"a\":4}\n") == 0, "third batch");
	ok(spool_done(s, &b1, err, sizeof err) == 0, "ack");
	spool_batch_free(&b1);
	spool_close_input(s);
	ok(spool_next(s, &b1, err, sizeof err) == 0, "nothing more");
	spool_close(s);
	ok(stat(seg, &sb) < 0, "an empty spool keeps no segment");

	/* memory, with drop-oldest */
	struct spool_opts m = { NULL, 4096, true, 16384, 0, NULL, NULL };
	s = spool_open(&m, err, sizeof err);
	ok(s != NULL, "memory spool");
	char rec[1001];
	memset(rec, 'x', 999);
	rec[999] = '\n';
	rec[1000] = 0;
	for (int i = 0; i < 10; i++)
		append(s, "", 0, rec, 1);
	spool_stats(s, &st);
	ok(st.dropped_batches >= 6 && st.bytes <= 4096, "dropped %llu, kept %llu bytes",
	   (unsigned long long)st.dropped_batches, (unsigned long long)st.bytes);
	spool_close(s);

	/* ids depend on the position as well as on the content */
	unsigned char a[16], c[16];
	spool_batch_id(0, 1, "", 0, "x", 1, a);
	spool_batch_id(100, 1, "", 0, "x", 1, c);
	ok(memcmp(a, c, 16) != 0, "position in the id");
}

/* A frame's header on disk: magic, record count, placeholder bytes, 0,
 * record bytes, and the first 16 bytes of its hash, which is the batch id
 * (integers in the host's byte order). Written here byte by byte, so that
 * the test holds the spool to the format older spools have. */
#define HDR_LEN 40

static void old_hdr(unsigned char p[HDR_LEN], uint32_t nrec, uint64_t len,
		    const unsigned char id[16])
{
	uint32_t zero = 0;
	memcpy(p, "CCEB", 4);
	memcpy(p + 4, &nrec, 4);
	memcpy(p + 8, &zero, 4);
	memcpy(p + 12, &zero, 4);
	memcpy(p + 16, &len, 8);
	memcpy(p + 24, id, 16);
}

/* The id of an old frame without placeholders: SHA-256 of its position,
 * record count and records, cut to 16 bytes. */
static void old_id(uint64_t off, uint32_t nrec, const char *data, size_t len, unsigned char out[16])
{
	unsigned char pre[12], d[SHA256_LEN];
	memcpy(pre, &off, 8);
	memcpy(pre + 8, &nrec, 4);
	struct sha256_ctx c;
	if (sha256_init(&c) < 0)
		abort();
	sha256_update(&c, pre, sizeof pre);
	sha256_update(&c, data, len);
	if (sha256_final(&c, d) < 0)
		abort();
	memcpy(out, d, 16);
}

/* A spool written before the XXH3 frames (magic CCEB, ids from SHA-256)
 * is recovered, its batches keep their ids, and new batches are CCEC
 * frames with XXH3 ids. */
static void test_spool_old_frames(const char *dir)
{
	char path[512], seg[600], err[512];
	snprintf(path, sizeof path, "%s/spool-old", dir);
	ok(fs_mkdirs(path, 0700) == 0, "old spool dir");
	snprintf(seg, sizeof seg, "%s/0000000000000000.seg", path);
	const char *recs[2] = { "{\"old\":1}\n", "{\"old\":2}\n{\"old\":3}\n" };
	char ids[2][SPOOL_ID_LEN + 1];
	uint64_t off = 0;
	for (int i = 0; i < 2; i++) {
		size_t len = strlen(recs[i]);
		unsigned char id[16], hb[HDR_LEN];
		old_id(off, (uint32_t)i + 1, recs[i], len, id);
		hex_encode(id, 16, ids[i]);
		old_hdr(hb, (uint32_t)i + 1, len, id);
		ok(fs_append(seg, hb, HDR_LEN, 0600, false, err, sizeof err) == 0 &&
			   fs_append(seg, recs[i], len, 0600, true, err, sizeof err) == 0, "old frame %d", i);
		off += HDR_LEN + len;
	}
	struct spool_opts o = { path, 1 << 20, false, 0, 0, NULL, NULL };
	struct spool *s = spool_open(&o, err, sizeof err);
	ok(s != NULL, "open an old spool: %s", s ? "" : err);
	if (!s)
		return;
	struct spool_batch b;
	for (int i = 0; i < 2; i++) {
		ok(spool_next(s, &b, err, sizeof err) == 1 && strcmp(b.data, recs[i]) == 0 &&
			   strcmp(b.id, ids[i]) == 0, "old frame %d recovered with its SHA-256 id", i);
		ok(spool_done(s, &b, err, sizeof err) == 0, "ack old frame %d", i);
		spool_batch_free(&b);
	}
	ok(append(s, "", 0, "{\"new\":1}\n", 1) == 0, "append after old frames");
	ok(spool_next(s, &b, err, sizeof err) == 1, "new frame");
	unsigned char id[16];
	char hex[SPOOL_ID_LEN + 1];
	spool_batch_id(off, 1, "", 0, "{\"new\":1}\n", 10, id);
	hex_encode(id, 16, hex);
	ok(strcmp(b.id, hex) == 0, "a new frame has the XXH3 id");
	old_id(off, 1, "{\"new\":1}\n", 10, id);
	hex_encode(id, 16, hex);
	ok(strcmp(b.id, hex) != 0, "not the SHA-256 one");
	unsigned char magic[4] = { 0 };
	int fd = open(seg, O_RDONLY);
	ok(fd >= 0 && pread(fd, magic, 4, (off_t)off) == 4 && memcmp(magic, "CCEC", 4) == 0,
	   "a new frame is written with magic CCEC");
	if (fd >= 0)
		close(fd);
	spool_batch_free(&b);
	spool_close(s);
}

/* Group commit in the background: many groups over small segments, then
 * one spool_sync; every batch comes out once, in order, and a reopened
 * spool recovers all of them (they were synced). */
static void test_spool_syncer(const char *dir)
{
	char path[512], err[512], rec[64];
	snprintf(path, sizeof path, "%s/spool-syncer", dir);
	struct spool_opts o = { path, 1 << 20, false, 4096, 300, NULL, NULL };
	struct spool *s = spool_open(&o, err, sizeof err);
	ok(s != NULL, "syncer: open: %s", s ? "" : err);
	int bad = 0;
	for (int i = 0; i < 2000; i++) {
		snprintf(rec, sizeof rec, "{\"i\":%d}\n", i);
		if (append(s, "", 0, rec, 1) != 0)
			bad++;
	}
	ok(bad == 0 && spool_sync(s, err, sizeof err) == 0, "syncer: 2000 appends and a sync");
	struct spool_stats st;
	spool_stats(s, &st);
	ok(st.appended_records == 2000 && st.records == 2000, "syncer: all counted once synced (%llu)",
	   (unsigned long long)st.appended_records);
	spool_close(s);
	s = spool_open(&o, err, sizeof err);
	spool_close_input(s);
	struct spool_batch b;
	int n = 0, order = 1;
	while (spool_next(s, &b, err, sizeof err) == 1) {
		snprintf(rec, sizeof rec, "{\"i\":%d}\n", n);
		if (strcmp(b.data, rec) != 0)
			order = 0;
		spool_done(s, &b, err, sizeof err);
		spool_batch_free(&b);
		n++;
	}
	ok(n == 2000 && order, "syncer: reopened, %d batches in order", n);
	spool_close(s);
}

/* ---- drop-oldest on a full file system (a tmpfs of its own) ---- */

static char big_frame[1000];

static int append_big(struct spool *s)
{
	char err[512];
	return spool_append(s, "", 0, big_frame, sizeof big_frame, 1, false, err, sizeof err);
}

static void fill_up(const char *mnt)
{
	char path[512];
	snprintf(path, sizeof path, "%s/filler", mnt);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	static char z[4096];
	while (fd >= 0 && write(fd, z, sizeof z) > 0)
		;
	if (fd >= 0)
		close(fd);
}

static void unfill(const char *mnt)
{
	char path[512];
	snprintf(path, sizeof path, "%s/filler", mnt);
	unlink(path);
}

/* stops a waiting append before its second of waiting for deliveries is
 * up (after it, a new segment lets the old one be dropped) */
static void *abort_later(void *s)
{
	usleep(300 * 1000);
	spool_abort(s);
	return NULL;
}

/* The spool's segments as its directory shows them: the files named by
 * the position of their first frame (16 hex digits), oldest first. */
#define MAX_SEGS 64
struct segs {
	size_t n;
	uint64_t start[MAX_SEGS], size[MAX_SEGS];
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void segments(const char *dir, struct segs *g)
{
	g->n = 0;
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)) && g->n < MAX_SEGS) {
		uint64_t at;
		int end = 0;
		if (sscanf(e->d_name, "%16" SCNx64 ".seg%n", &at, &end) == 1 && end == 20)
			g->start[g->n++] = at;
	}
	if (d)
		closedir(d);
	qsort(g->start, g->n, sizeof *g->start, cmp_u64);
	for (size_t i = 0; i < g->n; i++) {
		char path[1024];
		struct stat st;
		snprintf(path, sizeof path, "%s/%016" PRIx64 ".seg", dir, g->start[i]);
		g->size[i] = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
	}
}

/* frames of segment i (the frame size is fixed) */
static uint64_t frames_in(const struct segs *g, size_t i)
{
	return (g->start[i + 1] - g->start[i]) / (HDR_LEN + sizeof big_frame);
}

/* Hands out batches into b until one ends at or after end: how many. */
static int take_until(struct spool *s, uint64_t end, struct spool_batch *b, int max)
{
	char err[512];
	int n = 0;
	while (n < max && spool_next(s, &b[n], err, sizeof err) == 1)
		if (b[n++].end >= end)
			break;
	return n;
}

/* A spool of frames; without punch, as on a file system that cannot
 * punch holes (only whole segments make room there). */
static struct spool *full_spool(const char *dir, int frames, bool punch)
{
	struct spool_opts o = { .dir = dir, .max = 1u << 30, .drop_oldest = true, .seg_size = 8192 };
	char err[512];
	struct spool *s = spool_open(&o, err, sizeof err);
	if (s && !punch)
		spool_no_punch(s);
	for (int i = 0; s && i < frames; i++)
		if (append_big(s) != 0)
			return NULL;
	return s;
}

/* Where holes can be punched, a full file system costs only the oldest
 * frames needed to free room for the append, even inside the segment
 * being written and behind a batch in flight; a restart sees them as
 * dropped, never as a torn tail. */
static void test_full_fs_punch(const char *mnt, const char *dir, const char *clean)
{
	struct spool_stats st;
	struct spool_batch b, next;
	struct segs g;
	char err[512];
	const uint64_t flen = HDR_LEN + sizeof big_frame;

	/* one segment: everything pending is in the segment being written */
	struct spool *s = full_spool(dir, 3, true);
	segments(dir, &g);
	ok(s && g.n == 1, "punch: one segment");
	fill_up(mnt);
	ok(append_big(s) == 0, "punch: one segment, the append fits");
	spool_stats(s, &st);
	ok(st.dropped_batches >= 1 && st.dropped_batches <= 3, "punch: one segment, %llu dropped",
	   (unsigned long long)st.dropped_batches);
	spool_close(s);
	unfill(mnt);
	ok(system(clean) == 0, "clean");

	/* behind a batch in flight: only as many as the room needs, never
	 * the batch in flight, and they stay dropped across a restart. The
	 * room is the frame plus a block (5,136 bytes) in whole 4 KiB blocks;
	 * with 8 KiB segments of 1,040-byte frames a partial block is lost at
	 * both ends of each segment's part: at most 12 frames */
	s = full_spool(dir, 40, true);
	ok(s != NULL, "punch: 40 frames");
	ok(spool_next(s, &b, err, sizeof err) == 1 && b.off == 0, "punch: the first batch is in flight");
	fill_up(mnt);
	ok(append_big(s) == 0, "punch: the append fits");
	spool_stats(s, &st);
	uint64_t dropped = st.dropped_batches;
	ok(dropped >= 5 && dropped <= 12, "punch: %llu dropped, the fewest that free the room",
	   (unsigned long long)dropped);
	ok(spool_next(s, &next, err, sizeof err) == 1 && next.off == b.end + dropped * flen,
	   "punch: the oldest after the one in flight went");
	spool_batch_free(&next);
	uint64_t backlog = st.records;
	spool_batch_free(&b);
	spool_close(s);
	struct spool_opts o = { .dir = dir, .max = 1u << 30, .seg_size = 8192 };
	s = spool_open(&o, err, sizeof err);
	ok(s != NULL, "punch: reopened: %s", s ? "" : err);
	spool_stats(s, &st);
	ok(s && st.records == backlog, "punch: the restart finds what was kept: %llu of %llu",
	   (unsigned long long)st.records, (unsigned long long)backlog);
	/* the batch that was in flight comes first, then the first not dropped */
	ok(s && spool_next(s, &b, err, sizeof err) == 1 && b.off == 0, "punch: the batch in flight again");
	spool_batch_free(&b);
	ok(s && spool_next(s, &b, err, sizeof err) == 1 && b.off == (1 + dropped) * flen,
	   "punch: then the oldest kept");
	spool_batch_free(&b);
	spool_close(s);
	unfill(mnt);
	ok(system(clean) == 0, "clean");
}

static void test_full_fs(const char *base)
{
	char mnt[512], dir[600], cmd[700];
	snprintf(mnt, sizeof mnt, "%s/mnt", base);
	snprintf(dir, sizeof dir, "%s/spool", mnt);
	mkdir(mnt, 0700);
	snprintf(cmd, sizeof cmd, "mount -t tmpfs -o size=512k tmpfs %s 2>/dev/null", mnt);
	if (geteuid() != 0 || system(cmd) != 0) {
		printf("ok %d - # SKIP full file system: cannot mount a tmpfs here\n", ++t_count);
		return;
	}
	memset(big_frame, 'x', sizeof big_frame);
	big_frame[sizeof big_frame - 1] = '\n';
	struct spool_stats st;
	struct spool_batch b[64];
	struct segs g;
	char err[512];

	/* the oldest batch in flight: the rest of its segment and all of the
	 * next go, exactly, and the append then fits */
	struct spool *s = full_spool(dir, 40, false);
	segments(dir, &g);
	ok(s && g.n >= 4, "40 frames in several segments");
	ok(spool_next(s, &b[0], err, sizeof err) == 1, "the first batch is in flight");
	uint64_t want = frames_in(&g, 0) - 1 + frames_in(&g, 1);
	fill_up(mnt);
	ok(append_big(s) == 0, "busy first segment: the append fits after dropping");
	spool_stats(s, &st);
	ok(st.dropped_batches == want, "dropped the rest of the busy segment and the next: %llu of %llu",
	   (unsigned long long)st.dropped_batches, (unsigned long long)want);
	spool_batch_free(&b[0]);
	spool_close(s);
	unfill(mnt);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	ok(system(cmd) == 0, "clean");

	/* a segment delivered out of order frees room without a drop (one
	 * more frame first, so that no rotation comes to clean up anyway) */
	s = full_spool(dir, 41, false);
	segments(dir, &g);
	uint64_t seg1_end = g.start[2];
	int nb = take_until(s, seg1_end, b, 64);
	for (int i = 1; i < nb; i++)
		spool_done(s, &b[i], err, sizeof err);
	fill_up(mnt);
	/* (the last page of the last segment holds a few frames more) */
	int fits = 0;
	for (int i = 0; i < 5; i++)
		fits += append_big(s) == 0;
	ok(fits == 5, "out of order: the appends fit");
	spool_stats(s, &st);
	ok(st.dropped_batches == 0, "a delivered segment made the room: %llu dropped",
	   (unsigned long long)st.dropped_batches);
	for (int i = 0; i < nb; i++)
		spool_batch_free(&b[i]);
	spool_close(s);
	unfill(mnt);
	ok(system(cmd) == 0, "clean");

	/* after a restart with a gap (a segment delivered while an older
	 * batch was in flight): exactly one segment's frames go */
	s = full_spool(dir, 40, false);
	nb = take_until(s, seg1_end, b, 64);
	for (int i = 1; i < nb; i++)
		spool_done(s, &b[i], err, sizeof err);
	append_big(s); /* a rotation: the delivered segment goes, a gap stays */
	for (int i = 0; i < nb; i++)
		spool_batch_free(&b[i]);
	spool_close(s);
	struct spool_opts o = { .dir = dir, .max = 1u << 30, .drop_oldest = true, .seg_size = 8192 };
	s = spool_open(&o, err, sizeof err);
	ok(s != NULL, "reopened over the gap");
	if (s)
		spool_no_punch(s);
	/* the gap is not part of the first segment */
	segments(dir, &g);
	want = s && g.n ? g.size[0] / (HDR_LEN + sizeof big_frame) : 0;
	fill_up(mnt);
	/* (the last page of the last segment may hold a frame or two more) */
	int appended = 0;
	st.dropped_batches = 0;
	while (s && st.dropped_batches == 0 && appended < 8 && append_big(s) == 0) {
		appended++;
		spool_stats(s, &st);
	}
	ok(s && st.dropped_batches > 0, "gap: appends went on by dropping");
	ok(st.dropped_batches == want, "gap: one segment's frames dropped, not one more: %llu of %llu",
	   (unsigned long long)st.dropped_batches, (unsigned long long)want);
	if (s)
		spool_close(s);
	unfill(mnt);
	ok(system(cmd) == 0, "clean");

	/* every pending batch in the segment being written: nothing can go
	 * at once, so nothing is dropped and the append waits for deliveries
	 * (here until stopped) */
	s = full_spool(dir, 3, false);
	fill_up(mnt);
	pthread_t th;
	pthread_create(&th, NULL, abort_later, s);
	ok(append_big(s) == 1, "one segment: the append waits until stopped");
	pthread_join(th, NULL);
	spool_stats(s, &st);
	ok(st.dropped_batches == 0, "one segment: nothing dropped");
	spool_close(s);
	unfill(mnt);
	ok(system(cmd) == 0, "clean");

	test_full_fs_punch(mnt, dir, cmd);
	snprintf(cmd, sizeof cmd, "umount %s", mnt);
	ok(system(cmd) == 0, "unmount");
}

int main(void)
{
	char dir[] = "/tmp/cce-unit-push-XXXXXX";
	ok(mkdtemp(dir) != NULL, "temp dir");
	test_target();
	test_retry();
	test_spool(dir);
	test_spool_old_frames(dir);
	test_spool_syncer(dir);
	test_full_fs(dir);
	struct buf gz;
	buf_init(&gz);
	ok(gzip_buf("hello\n", 6, &gz) == 0 && gz.len > 10 && (unsigned char)gz.data[0] == 0x1f &&
		   (unsigned char)gz.data[1] == 0x8b, "gzip magic");
	buf_free(&gz);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	ok(system(cmd) == 0, "cleanup");
	return done_testing();
}
