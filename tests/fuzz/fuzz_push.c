/*
 * fuzz_push: cce-push's parsers of untrusted bytes under libFuzzer.
 *
 * The input is split at its first NUL: the part before is a URL template,
 * parsed with target_parse and filled from a record; the part after is
 * written as a spool segment and recovered with spool_open, then drained.
 * Checks that nothing crashes, leaks or reads out of bounds, that a
 * recovered spool hands out every record it counted, and that recovery of
 * a recovered spool finds the same backlog.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cce-push/spool.h"
#include "cce-push/target.h"
#include "fsutil.h"

static char dir[64];

static void remove_dir(void)
{
	char cmd[96];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		return;
}

static void fuzz_target(const char *url)
{
	struct target t;
	char err[512];
	if (target_parse(&t, url, err, sizeof err) == 0) {
		static const char rec[] = "{\"site\":\"a/b\",\"n\":1,\"x\":{\"y\":2},\"batch\":\"q\"}";
		struct json_doc d;
		json_doc_init(&d);
		struct buf key, out;
		buf_init(&key);
		buf_init(&out);
		if (json_parse(&d, rec, sizeof rec - 1, NULL) == 0 &&
		    target_key(&t, &d, &key, err, sizeof err) == 0 &&
		    target_expand(&t, key.data, key.len, "0123", &out) < 0)
			abort(); /* a key made by target_key always fits */
		json_doc_free(&d);
		buf_free(&key);
		buf_free(&out);
	}
	target_free(&t);
}

static uint64_t drain(void)
{
	char err[512];
	struct spool_opts o = { dir, 1 << 20, false, 0, 0, NULL, NULL };
	struct spool *s = spool_open(&o, err, sizeof err);
	if (!s)
		abort();
	spool_close_input(s);
	struct spool_stats st;
	spool_stats(s, &st);
	uint64_t n = st.records;
	struct spool_batch b;
	int r;
	uint64_t handed = 0;
	while ((r = spool_next(s, &b, err, sizeof err)) == 1) {
		handed += b.nrec;
		spool_batch_free(&b);
	}
	if (r < 0 || handed != n)
		abort(); /* every verified frame can be read back */
	spool_batch_free(&b);
	spool_close(s); /* nothing acknowledged: the same backlog next time */
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dir[0]) {
		snprintf(dir, sizeof dir, "/tmp/fuzz-push-%ld", (long)getpid());
		fs_mkdirs(dir, 0700);
		atexit(remove_dir);
	}
	const uint8_t *nul = memchr(data, 0, size);
	size_t ulen = nul ? (size_t)(nul - data) : size;
	if (ulen < 4096) {
		char url[4096];
		memcpy(url, data, ulen);
		url[ulen] = 0;
		fuzz_target(url);
	}
	if (!nul)
		return 0;
	char path[128];
	snprintf(path, sizeof path, "%s/ack", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/0000000000000000.seg", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		abort();
	if (fs_write_all(fd, nul + 1, size - ulen - 1) < 0)
		abort();
	close(fd);
	uint64_t first = drain();
	if (drain() != first)
		abort();
	return 0;
}
