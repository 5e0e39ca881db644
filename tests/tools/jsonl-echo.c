/*
 * jsonl-echo: a test driver for the shared input/output path. It reads JSON
 * lines with the contract's common options and writes every accepted record
 * back as it was read, so that tests can pin the contract's bad-input rules
 * independently of any one tool.
 *
 *   jsonl-echo [--any] [--tick-ms N] [options] [FILE...]
 *
 * --any accepts any JSON value instead of objects only; --tick-ms N waits
 * with that timeout and prints {"tick":n} on each timeout (to test idle
 * flushing and signal handling).
 */
#include <stdio.h>
#include <stdlib.h>

#include "opts.h"
#include "sig.h"
#include "tool.h"

static const char synopsis[] = "usage: jsonl-echo [--any] [--tick-ms N] [options] [FILE...]\n";

enum { OPT_ANY = CLI_OPT_TOOL, OPT_TICK };

static const struct opt options[] = {
	{ OPT_ANY, 0, "any", NULL, "accept any JSON value, not only objects", 0 },
	{ OPT_TICK, 0, "tick-ms", "N", "print {\"tick\":n} after N ms without input", 0 },
};
#define NOPTIONS (sizeof options / sizeof options[0])

int main(int argc, char **argv)
{
	struct tool t;
	int held = tool_init(&t, "jsonl-echo");
	if (held)
		return held;
	bool any = false;
	int tick = -1;
	char err[256];
	struct opts p;
	opts_init(&p, options, NOPTIONS);
	int c;
	while ((c = opts_next(&p, &t.common, argc, argv, err, sizeof err)) != -1) {
		switch (c) {
		case CLI_BAD: return diag_usage("%s", err);
		case 'h': case 'V':
			tool_help_opts(&t, c, synopsis, options, NOPTIONS);
			return tool_finish(&t, 0);
		case OPT_ANY: any = true; break;
		case OPT_TICK: tick = atoi(optarg); break;
		}
	}
	tool_start(&t);
	tool_open_input(&t, argv + optind, argc - optind, !any);
	struct json_doc doc;
	json_doc_init(&doc);
	struct jsonl_line line;
	int st, ticks = 0;
	while (!sig_stop && !out_done(&t.out)) {
		st = tool_next(&t, &line, &doc, tick);
		if (st == JSONL_EOF || st == JSONL_FATAL)
			break;
		if (st == JSONL_TIMEOUT) {
			char b[32];
			int n = snprintf(b, sizeof b, "{\"tick\":%d}", ++ticks);
			out_line(&t.out, b, (size_t)n);
			continue;
		}
		if (st == JSONL_LINE)
			out_line(&t.out, line.data, line.len);
	}
	json_doc_free(&doc);
	int status = st == JSONL_FATAL ? jsonl_fatal_exit(t.in) : 0;
	return tool_finish(&t, status);
}
