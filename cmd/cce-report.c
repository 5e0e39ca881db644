/*
 * cce-report: the fleet at a glance. Reads the JSON lines the other tools
 * print (nodes, heartbeats, placements, alerts, deploys, push and gateway
 * figures) and writes one self-contained HTML page, replaced atomically,
 * for cron to regenerate and a browser to read offline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "opts.h"
#include "sig.h"
#include "tool.h"
#include "cce-report/report.h"

static const char synopsis[] =
	"usage: cce-report -o FILE [options] [FILE...]\n"
	"  FILE... are records of any of the kinds below, told apart by their shape\n";

enum {
	OPT_OUT = CLI_OPT_TOOL, OPT_NODES, OPT_HISTORY, OPT_PLACEMENTS, OPT_ALERTS, OPT_DEPLOYS,
	OPT_PUSH, OPT_GATEWAY, OPT_TITLE, OPT_WINDOW,
};

static const struct opt options[] = {
	{ OPT_OUT, 'o', "out", "FILE", "write the page to FILE, replaced atomically ('-': stdout)", 0 },
	{ OPT_NODES, 'n', "nodes", "FILE", "node records (cce-register list --all)", 0 },
	{ OPT_HISTORY, 0, "history", "FILE",
	  "heartbeat ops and registry events over time\n(a cce-register watch log)", 0 },
	{ OPT_PLACEMENTS, 'p', "placements", "FILE", "placements and their events (cce-sched)", 0 },
	{ OPT_ALERTS, 'a', "alerts", "FILE", "alerts and --status records (cce-rule)", 0 },
	{ OPT_DEPLOYS, 'd', "deploys", "FILE", "reports of cce-deploy", 0 },
	{ OPT_PUSH, 0, "push", "FILE", "--stats lines and --receipts of cce-push", 0 },
	{ OPT_GATEWAY, 0, "gateway", "FILE", "GET /status answers of cce-gateway", 0 },
	{ OPT_TITLE, 0, "title", "TEXT", "the page's title (default 'cce fleet')", 0 },
	{ OPT_WINDOW, 0, "window", "DURATION", "the history shown, up to the latest record (default 24h)",
	  0 },
};
#define NOPTIONS (sizeof options / sizeof options[0])

struct input {
	const char *path;
	unsigned kinds;
};

/* One file's records into the report (in->kinds: what they may be). */
struct source {
	struct report *r;
	const struct input *in;
};

static int take(void *arg, const struct json_doc *d, const struct jsonl_line *line, char *err,
		size_t errlen)
{
	const struct source *src = arg;
	return report_add(src->r, src->in->kinds, d, line->source, err, errlen) == 0 ? 0 : -1;
}

/* The page to out: replaced crash-safely, or on stdout. 0 or 74. */
static int write_page(struct tool *t, struct report *r, const char *out)
{
	struct buf b;
	char err[512];
	int status = 0;
	buf_init(&b);
	report_page(r, &b);
	if (strcmp(out, "-") == 0) {
		out_write(&t->out, b.data, b.len);
	} else if (fs_replace(out, b.data, b.len, 0644, err, sizeof err) < 0) {
		diag_error("%s", err);
		status = CCE_EX_IOERR;
	}
	buf_free(&b);
	return status;
}

/* the kinds each file option takes */
static unsigned option_kinds(int c)
{
	switch (c) {
	case OPT_NODES: return KIND(K_NODE);
	case OPT_HISTORY: return KIND(K_HISTORY) | KIND(K_EVENT);
	case OPT_PLACEMENTS: return KIND(K_PLACEMENT);
	case OPT_ALERTS: return KIND(K_ALERT) | KIND(K_STATUS);
	case OPT_DEPLOYS: return KIND(K_DEPLOY) | KIND(K_PLACEMENT);
	case OPT_PUSH: return KIND(K_PUSH) | KIND(K_RECEIPT);
	case OPT_GATEWAY: return KIND(K_GATEWAY);
	}
	return 0;
}

/* The options into r, in and out: 0, TOOL_DONE after -h or -V, or the
 * usage error's exit code. */
static int parse_options(struct tool *t, struct report *r, int argc, char **argv,
			 struct input **in, int *nin, const char **out)
{
	char err[512];
	struct opts p;
	opts_init(&p, options, NOPTIONS);
	int c;
	while ((c = opts_next(&p, &t->common, argc, argv, err, sizeof err)) != -1) {
		switch (c) {
		case CLI_BAD: return diag_usage("%s", err);
		case 'h': case 'V': return tool_help_opts(t, c, synopsis, options, NOPTIONS);
		case OPT_OUT: *out = optarg; break;
		case OPT_TITLE: r->title = optarg; break;
		case OPT_WINDOW:
			if (cli_duration("--window", optarg, &r->window_ms, err, sizeof err) < 0 ||
			    (r->window_ms <= 0 && snprintf(err, sizeof err, "--window: must be above 0")))
				return diag_usage("%s", err);
			break;
		default:
			*in = xrealloc(*in, ((size_t)*nin + 1) * sizeof **in);
			(*in)[(*nin)++] = (struct input){ optarg, option_kinds(c) };
		}
	}
	if (!*out)
		return diag_usage("missing --out FILE");
	/* positional files take any kind; stdin only when no file is named */
	for (int i = optind; i < argc || (i == argc && *nin == 0); i++) {
		*in = xrealloc(*in, ((size_t)*nin + 1) * sizeof **in);
		(*in)[(*nin)++] = (struct input){ i < argc ? argv[i] : "-", KINDS_ALL };
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct tool t;
	struct report r;
	int status = tool_init(&t, "cce-report");
	if (status)
		return status;
	report_init(&r);
	struct input *in = NULL;
	int nin = 0;
	const char *out = NULL;
	if ((status = parse_options(&t, &r, argc, argv, &in, &nin, &out))) {
		if (status == TOOL_DONE)
			status = tool_finish(&t, 0);
		else
			out_free(&t.out);
		goto done;
	}
	tool_start(&t);
	uint64_t rejected = 0;
	/* an unreadable source leaves its sections out: the page is still
	 * written from the others, and the run exits 74 */
	for (int i = 0; i < nin && !status; i++) {
		struct source src = { &r, &in[i] };
		status = tool_read_file(&t, in[i].path, false, take, &src, &rejected);
	}
	/* a run cut short by a signal, or stopped by --strict, leaves the
	 * page as it was; rejected lines and unreadable files do not stop it */
	if (!status)
		status = write_page(&t, &r, out);
	if (!status && rejected)
		status = CCE_EX_DATAERR;
	status = tool_finish(&t, status);
done:
	free(in);
	report_free(&r);
	return status;
}
