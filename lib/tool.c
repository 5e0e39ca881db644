#include "tool.h"

#include "opts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "sig.h"

/* 0, or -1 with errno: the lowest descriptor free is the one being held,
 * since those below it are in use by then. */
static int hold_std_fds(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		int nul = open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);
		if (nul < 0)
			return -1;
		if (nul != fd) {
			int r = dup2(nul, fd);
			int e = errno;
			close(nul);
			errno = e;
			if (r < 0)
				return -1;
		}
	}
	return 0;
}

int tool_init(struct tool *t, const char *prog)
{
	memset(t, 0, sizeof *t);
	diag_init(prog);
	int held = hold_std_fds();
	if (held < 0)
		diag_error("cannot open '/dev/null' in place of a closed stdin, stdout or stderr: %s",
			   strerror(errno));
	sig_install();
	cli_common_init(&t->common);
	out_init(&t->out, 1, false);
	return held < 0 ? CCE_EX_IOERR : 0;
}

void tool_start(struct tool *t)
{
	diag_set_quiet(t->common.quiet);
	t->out.unbuffered = t->common.unbuffered;
}

static void report(void *arg, const char *source, uint64_t lineno, const char *msg)
{
	(void)arg;
	diag_at(source, lineno, "%s", msg);
}

struct jsonl_opts tool_jsonl_opts(const struct tool *t, bool objects_only)
{
	struct jsonl_opts o = {
		.max_line = t->common.max_line,
		.rejects = t->common.rejects,
		.strict = t->common.strict,
		.objects_only = objects_only,
		.report = report,
	};
	return o;
}

struct jsonl_reader *tool_open_input(struct tool *t, char *const *files, int nfiles,
				     bool objects_only)
{
	struct jsonl_opts o = tool_jsonl_opts(t, objects_only);
	o.before_block = out_flush_hook;
	o.arg = &t->out;
	t->in = jsonl_open(files, nfiles, &o);
	return t->in;
}

int tool_next(struct tool *t, struct jsonl_line *line, struct json_doc *doc, int timeout_ms)
{
	for (;;) {
		int st = jsonl_next_json(t->in, line, doc, timeout_ms);
		if (st == JSONL_IOERR) {
			diag_error("%s", jsonl_error(t->in));
			t->input_failed = true;
			continue;
		}
		if (st == JSONL_FATAL)
			tool_fatal(t->in);
		return st;
	}
}

int tool_home(char *out, size_t outlen)
{
	char err[1024];
	if (cce_home_ready(out, outlen, err, sizeof err) == 0)
		return 0;
	int e = errno;
	diag_error("%s", err);
	return e == ENOENT || e == ENOTDIR || e == ENAMETOOLONG ? CCE_EX_USAGE : CCE_EX_IOERR;
}

int tool_fatal(const struct jsonl_reader *r)
{
	int code = jsonl_fatal_exit(r);
	if (code == CCE_EX_IOERR)
		diag_error("%s", jsonl_error(r));
	else
		diag_error("stopping at the first rejected line (--strict)");
	return code;
}

int tool_finish(struct tool *t, int status)
{
	out_flush(&t->out);
	/* text a tool printed with stdio (usage, versions) goes out first */
	if (fflush(stdout) != 0 && errno != EPIPE && !t->out.err)
		t->out.err = errno;
	if (!t->out.closed && !t->out.err && close(1) < 0 && errno != EPIPE)
		t->out.err = errno;
	if (t->out.err) {
		diag_error("cannot write to stdout: %s", strerror(t->out.err));
		status = CCE_EX_IOERR;
	}
	int code = CCE_EX_OK;
	if (t->input_failed)
		code = CCE_EX_IOERR;
	else if (status != CCE_EX_OK)
		code = status;
	else if (t->in && jsonl_rejected(t->in))
		code = CCE_EX_DATAERR;
	jsonl_close(t->in);
	t->in = NULL;
	out_free(&t->out);
	return code;
}

int tool_help_opts(struct tool *t, int opt, const char *synopsis, const struct opt *rows,
		   size_t n)
{
	(void)t;
	if (opt == 'V') {
		printf("%s %s\n", diag_prog(), CCE_VERSION);
		return TOOL_DONE;
	}
	struct buf b;
	buf_init(&b);
	opts_help(&b, synopsis, rows, n);
	fputs(b.data, stdout);
	buf_free(&b);
	return TOOL_DONE;
}

int tool_read_file(struct tool *t, const char *path, bool io_fatal, tool_take_fn take, void *arg,
		   uint64_t *rejected)
{
	struct jsonl_opts o = tool_jsonl_opts(t, true);
	char *files[] = { (char *)path };
	struct jsonl_reader *r = jsonl_open(files, 1, &o);
	struct json_doc doc;
	struct jsonl_line line;
	char err[512];
	int st, status = 0;
	json_doc_init(&doc);
	while ((st = jsonl_next_json(r, &line, &doc, -1)) != JSONL_EOF) {
		if (st == JSONL_IOERR) {
			diag_error("%s", jsonl_error(r));
			if (io_fatal) {
				status = CCE_EX_IOERR;
				break;
			}
			t->input_failed = true;
			continue;
		}
		if (st == JSONL_INTR) {
			if (sig_stop) {
				status = sig_exit_code();
				break;
			}
			continue;
		}
		if (st == JSONL_LINE) {
			if (take(arg, &doc, &line, err, sizeof err) == 0)
				continue;
			st = jsonl_reject(r, &line, "%s", err);
		}
		if (st == JSONL_FATAL) {
			status = tool_fatal(r);
			break;
		}
	}
	*rejected += jsonl_rejected(r);
	json_doc_free(&doc);
	jsonl_close(r);
	return status;
}
