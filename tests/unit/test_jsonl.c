/* Unit tests of lib/jsonl: line splitting, limits, rejects, timeouts. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "fsutil.h"
#include "jsonl.h"
#include "t.h"

static char reports[4096];
static void report(void *arg, const char *src, uint64_t line, const char *msg)
{
	(void)arg;
	size_t n = strlen(reports);
	snprintf(reports + n, sizeof reports - n, "%s:%llu: %s\n", src, (unsigned long long)line, msg);
}

static char dir[] = "/tmp/cce-jsonl-XXXXXX";

static const char *file(const char *name, const char *content, size_t n)
{
	static char path[4][256];
	static int k;
	char *p = path[k++ & 3];
	snprintf(p, 256, "%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, content, n) != (ssize_t)n)
		abort();
	close(fd);
	return p;
}

/* all lines of the reader, joined by '|' */
static void collect(struct jsonl_reader *r, struct buf *out)
{
	struct jsonl_line l;
	int st;
	while ((st = jsonl_next(r, &l, -1)) == JSONL_LINE || st == JSONL_IOERR) {
		if (st == JSONL_IOERR) {
			buf_adds(out, "<ioerr>|");
			continue;
		}
		buf_add(out, l.data, l.len);
		buf_addf(out, "@%s:%llu|", strrchr(l.source, '/') ? strrchr(l.source, '/') + 1 : l.source,
			 (unsigned long long)l.lineno);
	}
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	struct buf out = BUF_INIT;
	struct jsonl_opts o = { .max_line = 8, .report = report };

	const char *a = file("a", "\xef\xbb\xbf" "one\r\n\r\n  \ntwo\nthree", 22);
	char *files[] = { (char *)a };
	struct jsonl_reader *r = jsonl_open(files, 1, &o);
	collect(r, &out);
	is_str(out.data, "one@a:1|two@a:4|three@a:5|", "BOM, CRLF, blank lines, final line");
	ok(jsonl_lines(r) == 3 && jsonl_rejected(r) == 0, "3 lines, none rejected");
	jsonl_close(r);

	/* over-long lines: at the limit kept, over it rejected with its length */
	buf_reset(&out);
	reports[0] = 0;
	char rej[300];
	snprintf(rej, sizeof rej, "%s/rejects", dir);
	o.rejects = rej;
	const char *bs = "12345678\n123456789\nok\n1234567890123456789012345";
	const char *b = file("b", bs, strlen(bs));
	files[0] = (char *)b;
	r = jsonl_open(files, 1, &o);
	collect(r, &out);
	is_str(out.data, "12345678@b:1|ok@b:3|", "lines over --max-line skipped");
	ok(strstr(reports, "b:2: line of 9 bytes is longer than --max-line (8)") != NULL, "report for line 2");
	ok(strstr(reports, "b:4: line of 25 bytes is longer than --max-line (8)") != NULL, "report for the final line");
	ok(jsonl_rejected(r) == 2, "2 rejected");
	jsonl_close(r);
	struct buf rb = BUF_INIT;
	char err[256];
	fs_read_file(rej, 1000, &rb, err, sizeof err);
	is_str(rb.data, "123456789\n1234567890123456789012345\n", "rejects file holds them whole");

	/* several files, one missing */
	buf_reset(&out);
	o.max_line = 0;
	o.rejects = NULL;
	char *three[] = { (char *)file("c", "x\n", 2), "/nonexistent/f", (char *)file("d", "y", 1) };
	r = jsonl_open(three, 3, &o);
	collect(r, &out);
	is_str(out.data, "x@c:1|<ioerr>|y@d:1|", "missing file reported between the others");
	jsonl_close(r);

	/* JSON: rejects invalid, objects_only */
	reports[0] = 0;
	o.objects_only = true;
	char *e[] = { (char *)file("e", "{\"a\":1}\n[1]\n{\"a\":}\n{}\n", 22) };
	r = jsonl_open(e, 1, &o);
	struct json_doc d;
	json_doc_init(&d);
	struct jsonl_line l;
	int n = 0;
	while (jsonl_next_json(r, &l, &d, -1) == JSONL_LINE)
		n++;
	ok(n == 2, "two objects accepted");
	ok(strstr(reports, "e:2: expected a JSON object, found array") && strstr(reports, "e:3: invalid JSON at byte 6"),
	   "reasons for the others");
	jsonl_close(r);

	/* strict: the first reject is fatal */
	o.strict = true;
	r = jsonl_open(e, 1, &o);
	ok(jsonl_next_json(r, &l, &d, -1) == JSONL_LINE, "first line");
	ok(jsonl_next_json(r, &l, &d, -1) == JSONL_FATAL && jsonl_fatal_exit(r) == 65, "strict: fatal, 65");
	jsonl_close(r);
	o.strict = false;

	/* a pipe: timeout, then a line split across writes */
	int p[2];
	if (pipe(p) < 0)
		return 1;
	int saved = dup(0);
	dup2(p[0], 0);
	close(p[0]);
	struct jsonl_opts po = { .report = report };
	r = jsonl_open(NULL, 0, &po);
	ok(jsonl_next(r, &l, 50) == JSONL_TIMEOUT, "timeout on an idle pipe");
	ok(write(p[1], "{\"a\"", 4) == 4, "half a line");
	ok(jsonl_next(r, &l, 50) == JSONL_TIMEOUT, "half a line is not a line");
	ok(write(p[1], ":1}\n", 4) == 4, "the rest");
	ok(jsonl_next(r, &l, 50) == JSONL_LINE && l.len == 7 && strcmp(l.source, "stdin") == 0, "the joined line");
	close(p[1]);
	ok(jsonl_next(r, &l, 50) == JSONL_EOF, "EOF when the writer closes");
	jsonl_close(r);
	dup2(saved, 0);

	json_doc_free(&d);
	buf_free(&out);
	buf_free(&rb);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	ok(system(cmd) == 0, "cleanup");
	return done_testing();
}
