#include "jsonl.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "diag.h"
#include "fsutil.h"

#define BLOCK (256 * 1024)

struct jsonl_reader {
	struct jsonl_opts o;
	char *const *files;
	int nfiles, next_file;
	bool use_stdin;       /* no files named */

	int fd;               /* -1 when no source is open */
	bool interactive;
	bool src_eof;
	const char *source;
	uint64_t lineno;

	char *buf;
	size_t cap, start, end, scan;

	bool discarding;      /* inside a line longer than max_line */
	uint64_t discard_len;

	uint64_t rejected, lines;
	int rejects_fd;
	int fatal_exit;
	char err[1024];
};

struct jsonl_reader *jsonl_open(char *const *files, int nfiles, const struct jsonl_opts *opts)
{
	struct jsonl_reader *r = xcalloc(1, sizeof *r);
	r->o = *opts;
	if (!r->o.max_line)
		r->o.max_line = CCE_DEFAULT_MAX_LINE;
	r->files = files;
	r->nfiles = nfiles;
	r->use_stdin = nfiles == 0;
	r->fd = -1;
	r->rejects_fd = -1;
	r->cap = BLOCK;
	if (r->cap > r->o.max_line + 2)
		r->cap = (size_t)r->o.max_line + 2;
	r->buf = xmalloc(r->cap);
	return r;
}

void jsonl_close(struct jsonl_reader *r)
{
	if (!r)
		return;
	if (r->fd > 0)
		close(r->fd);
	if (r->rejects_fd >= 0)
		close(r->rejects_fd);
	free(r->buf);
	free(r);
}

uint64_t jsonl_rejected(const struct jsonl_reader *r) { return r->rejected; }
uint64_t jsonl_lines(const struct jsonl_reader *r) { return r->lines; }
const char *jsonl_error(const struct jsonl_reader *r) { return r->err; }
int jsonl_fatal_exit(const struct jsonl_reader *r) { return r->fatal_exit ? r->fatal_exit : CCE_EX_DATAERR; }
bool jsonl_interactive(const struct jsonl_reader *r) { return r->fd >= 0 && r->interactive; }
int jsonl_fd(const struct jsonl_reader *r) { return r->fd; }

/* 0 opened; 1 nothing left; -1 could not open (err set, moved on) */
static int open_next(struct jsonl_reader *r)
{
	const char *name;
	if (r->use_stdin) {
		if (r->next_file > 0)
			return 1;
		name = "-";
	} else {
		if (r->next_file >= r->nfiles)
			return 1;
		name = r->files[r->next_file];
	}
	r->next_file++;
	if (strcmp(name, "-") == 0) {
		r->fd = 0;
		r->source = "stdin";
	} else {
		r->fd = open(name, O_RDONLY | O_CLOEXEC);
		r->source = name;
		if (r->fd < 0) {
			snprintf(r->err, sizeof r->err, "cannot open '%s': %s", name, strerror(errno));
			return -1;
		}
	}
	struct stat st;
	r->interactive = fstat(r->fd, &st) == 0 && !S_ISREG(st.st_mode);
	if (fstat(r->fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(r->err, sizeof r->err, "cannot read '%s': Is a directory", name);
		close(r->fd);
		r->fd = -1;
		return -1;
	}
	r->src_eof = false;
	r->lineno = 0;
	r->start = r->end = r->scan = 0;
	r->discarding = false;
	return 0;
}

static void close_source(struct jsonl_reader *r)
{
	if (r->fd > 0)
		close(r->fd);
	r->fd = -1;
}

static int rejects_write(struct jsonl_reader *r, const char *p, size_t n, bool newline)
{
	if (!r->o.rejects)
		return 0;
	if (r->rejects_fd < 0) {
		r->rejects_fd = open(r->o.rejects, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (r->rejects_fd < 0) {
			snprintf(r->err, sizeof r->err, "cannot open rejects file '%s': %s",
				 r->o.rejects, strerror(errno));
			r->fatal_exit = CCE_EX_IOERR;
			return -1;
		}
	}
	struct iovec iov[2] = { { (void *)p, n }, { "\n", 1 } };
	int cnt = newline ? 2 : 1;
	size_t total = n + (newline ? 1 : 0);
	/* one writev keeps a line whole beside other writers of the file */
	ssize_t w = writev(r->rejects_fd, iov, cnt);
	if (w >= 0 && (size_t)w < total) {
		size_t done = (size_t)w;
		if (done < n && fs_write_all(r->rejects_fd, p + done, n - done) < 0)
			w = -1;
		else if (newline && fs_write_all(r->rejects_fd, "\n", 1) < 0)
			w = -1;
	}
	if (w < 0) {
		snprintf(r->err, sizeof r->err, "cannot write rejects file '%s': %s",
			 r->o.rejects, strerror(errno));
		r->fatal_exit = CCE_EX_IOERR;
		return -1;
	}
	return 0;
}

static void count_reject(struct jsonl_reader *r, const char *source, uint64_t lineno,
			 const char *msg)
{
	r->rejected++;
	if (r->o.report)
		r->o.report(r->o.arg, source, lineno, msg);
}

static int strict_stop(struct jsonl_reader *r)
{
	if (!r->o.strict)
		return 0;
	r->fatal_exit = CCE_EX_DATAERR;
	return JSONL_FATAL;
}

static int rejected(struct jsonl_reader *r, uint64_t lineno, const char *msg)
{
	count_reject(r, r->source, lineno, msg);
	return strict_stop(r);
}

int jsonl_reject(struct jsonl_reader *r, const struct jsonl_line *line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* the line's own reason first, even when the rejects file then fails */
	count_reject(r, line->source ? line->source : r->source, line->lineno, msg);
	if (rejects_write(r, line->raw, line->raw_len, true) < 0)
		return JSONL_FATAL;
	return strict_stop(r);
}

/* Read more into the buffer: JSONL_LINE on progress (or end of source,
 * flagged in src_eof), or TIMEOUT, INTR, IOERR. */
static int fill(struct jsonl_reader *r, int timeout_ms)
{
	if (r->interactive) {
		struct pollfd p = { r->fd, POLLIN, 0 };
		int n = poll(&p, 1, 0);
		if (n == 0) {
			if (r->o.before_block)
				r->o.before_block(r->o.arg);
			n = poll(&p, 1, timeout_ms);
			if (n == 0)
				return JSONL_TIMEOUT;
		}
		if (n < 0)
			return errno == EINTR ? JSONL_INTR : JSONL_IOERR;
	}
	size_t room = r->cap - r->end;
	ssize_t got = read(r->fd, r->buf + r->end, room);
	if (got < 0) {
		if (errno == EINTR)
			return JSONL_INTR;
		if (errno == EAGAIN)
			return JSONL_TIMEOUT;
		snprintf(r->err, sizeof r->err, "cannot read '%s': %s",
			 r->fd == 0 ? "stdin" : r->source, strerror(errno));
		return JSONL_IOERR;
	}
	if (got == 0)
		r->src_eof = true;
	r->end += (size_t)got;
	return JSONL_LINE;
}

static bool blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return false;
	return true;
}

/* Reports an over-long line of len bytes: 0, or JSONL_FATAL. */
static int too_long(struct jsonl_reader *r, uint64_t len)
{
	char msg[128];
	snprintf(msg, sizeof msg, "line of %llu bytes is longer than --max-line (%llu)",
		 (unsigned long long)len, (unsigned long long)r->o.max_line);
	return rejected(r, r->lineno, msg) ? JSONL_FATAL : 0;
}

/* The end of an over-long line at buf[end]: its last part goes to the
 * rejects file, reading resumes at buf[next]. 0, or JSONL_FATAL. */
static int end_discard(struct jsonl_reader *r, size_t end, size_t next)
{
	r->discard_len += end - r->start;
	r->discarding = false;
	if (rejects_write(r, r->buf + r->start, end - r->start, true) < 0)
		return JSONL_FATAL;
	r->start = r->scan = next;
	return too_long(r, r->discard_len);
}

/* A complete raw line [p, p+n): 1 yield, 0 skip (blank or rejected),
 * JSONL_FATAL. */
static int take_line(struct jsonl_reader *r, const char *p, size_t n, struct jsonl_line *line)
{
	r->lineno++;
	line->raw = p;
	line->raw_len = n;
	line->source = r->source;
	line->lineno = r->lineno;
	const char *d = p;
	size_t len = n;
	if (r->lineno == 1 && len >= 3 && memcmp(d, "\xef\xbb\xbf", 3) == 0) {
		d += 3;
		len -= 3;
	}
	if (len && d[len - 1] == '\r')
		len--;
	line->data = d;
	line->len = len;
	if (blank(d, len))
		return 0;
	r->lines++;
	if (n > r->o.max_line) {
		if (rejects_write(r, p, n, true) < 0)
			return JSONL_FATAL;
		return too_long(r, n);
	}
	return 1;
}

int jsonl_next(struct jsonl_reader *r, struct jsonl_line *line, int timeout_ms)
{
	for (;;) {
		if (r->fd < 0) {
			int o = open_next(r);
			if (o == 1)
				return JSONL_EOF;
			if (o < 0)
				return JSONL_IOERR;
		}
		char *nl = memchr(r->buf + r->scan, '\n', r->end - r->scan);
		if (nl) {
			size_t pos = (size_t)(nl - r->buf);
			if (r->discarding) {
				if (end_discard(r, pos, pos + 1))
					return JSONL_FATAL;
				continue;
			}
			const char *p = r->buf + r->start;
			size_t n = pos - r->start;
			r->start = r->scan = pos + 1;
			int t = take_line(r, p, n, line);
			if (t)
				return t == 1 ? JSONL_LINE : JSONL_FATAL;
			continue;
		}
		r->scan = r->end;
		if (r->src_eof) {
			if (r->discarding) {
				if (end_discard(r, r->end, r->end))
					return JSONL_FATAL;
				continue;
			}
			if (r->start < r->end) {
				const char *p = r->buf + r->start;
				size_t n = r->end - r->start;
				r->start = r->scan = r->end;
				int t = take_line(r, p, n, line);
				if (t)
					return t == 1 ? JSONL_LINE : JSONL_FATAL;
				continue;
			}
			close_source(r);
			continue;
		}
		if (r->discarding) {
			r->discard_len += r->end - r->start;
			if (rejects_write(r, r->buf + r->start, r->end - r->start, false) < 0)
				return JSONL_FATAL;
			r->start = r->end = r->scan = 0;
		} else if (r->end - r->start > r->o.max_line) {
			/* too long already: stream it out instead of holding it */
			r->discarding = true;
			r->lineno++;
			r->lines++;
			r->discard_len = r->end - r->start;
			if (rejects_write(r, r->buf + r->start, r->end - r->start, false) < 0)
				return JSONL_FATAL;
			r->start = r->end = r->scan = 0;
		}
		if (r->start > 0) {
			memmove(r->buf, r->buf + r->start, r->end - r->start);
			r->end -= r->start;
			r->scan -= r->start;
			r->start = 0;
		}
		if (r->end == r->cap) {
			size_t ceiling = (size_t)r->o.max_line + 2;
			size_t cap = r->cap * 2 < ceiling ? r->cap * 2 : ceiling;
			r->buf = xrealloc(r->buf, cap);
			r->cap = cap;
		}
		int f = fill(r, timeout_ms);
		if (f == JSONL_IOERR) {
			close_source(r);
			return JSONL_IOERR;
		}
		if (f != JSONL_LINE)
			return f;
	}
}

/* The type of a valid line's value: from the doc, or from its first byte
 * when the line was only validated. */
static enum json_type root_type(const struct json_doc *doc, const struct jsonl_line *line)
{
	if (doc)
		return json_type_of(doc, 0);
	size_t i = 0;
	while (line->data[i] == ' ' || line->data[i] == '\t' || line->data[i] == '\r' ||
	       line->data[i] == '\n')
		i++;
	switch (line->data[i]) {
	case '{': return JSON_OBJECT;
	case '[': return JSON_ARRAY;
	case '"': return JSON_STRING;
	case 't': return JSON_TRUE;
	case 'f': return JSON_FALSE;
	case 'n': return JSON_NULL;
	default: return JSON_NUMBER;
	}
}

int jsonl_next_json(struct jsonl_reader *r, struct jsonl_line *line, struct json_doc *doc,
		    int timeout_ms)
{
	for (;;) {
		int st = jsonl_next(r, line, timeout_ms);
		if (st != JSONL_LINE)
			return st;
		struct json_error e;
		if (doc ? json_parse(doc, line->data, line->len, &e) < 0
			: !json_valid(line->data, line->len, &e)) {
			if (jsonl_reject(r, line, "invalid JSON at byte %zu: %s", e.offset + 1, e.msg))
				return JSONL_FATAL;
			continue;
		}
		if (r->o.objects_only && root_type(doc, line) != JSON_OBJECT) {
			if (jsonl_reject(r, line, "expected a JSON object, found %s",
					 json_type_name(root_type(doc, line))))
				return JSONL_FATAL;
			continue;
		}
		return JSONL_LINE;
	}
}
