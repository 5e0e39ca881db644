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

#include "sig.h"
#include "tool.h"

static const char usage[] =
	"usage: jsonl-echo [--any] [--tick-ms N] [options] [FILE...]\n"
	"  --any                 accept any JSON value, not only objects\n"
	"  --tick-ms N           print {\"tick\":n} after N ms without input\n";

enum { OPT_ANY = CLI_OPT_TOOL, OPT_TICK };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{ "any", no_argument, NULL, OPT_ANY },
		{ "tick-ms", required_argument, NULL, OPT_TICK },
		{ NULL, 0, NULL, 0 },
	};
	struct tool t;
	int held = tool_init(&t, "jsonl-echo");
	if (held)
		return held;
	bool any = false;
	int tick = -1;
	char err[256];
	int c;
	while ((c = cli_getopt(&t.common, argc, argv, ":" CLI_COMMON_SHORTOPTS, longopts, err,
				 sizeof err)) != -1) {
		if (c == CLI_BAD)
			return diag_usage("%s", err);
		switch (c) {
		case 'h': fputs(usage, stdout); fputs(cli_common_help, stdout); return 0;
		case 'V': tool_print_version(&t); return 0;
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
