/*
 * cce-rule: the streaming rule engine. Watches JSON-lines records, keeps
 * state per rule and key, and writes an alert line on every transition.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cce-rule/engine.h"
#include "cce-rule/fast.h"
#include "jqx.h"
#include "cce-rule/rule.h"
#include "fsutil.h"
#include "opts.h"
#include "sig.h"
#include "timeutil.h"
#include "tool.h"

static const char synopsis[] =
	"usage: cce-rule [options] -r RULES [FILE...]\n"
	"       cce-rule --check -r RULES\n";

enum {
	OPT_RULES = CLI_OPT_TOOL, OPT_CHECK, OPT_TIME, OPT_LATENESS, OPT_STATE, OPT_CHECKPOINT,
	OPT_STATUS, OPT_PASS, OPT_ANOMALY_SCORE, OPT_PENDING, OPT_EVAL_TIMEOUT, OPT_EVAL_MEMORY,
	OPT_MAX_OVERRUNS, OPT_MAX_KEYS,
};

static const struct opt options[] = {
	{ OPT_RULES, 'r', "rules", "FILE",
	  "rules: a JSON array of rule objects or JSON lines (repeatable)", 0 },
	{ OPT_CHECK, 'c', "check", NULL, "compile the rules, print them with defaults, and exit", 0 },
	{ OPT_TIME, 0, "time", "EXPR", "jq path of the event time, epoch ms or RFC 3339 (default .ts)",
	  0 },
	{ OPT_LATENESS, 0, "lateness", "DUR", "how far out of order event time may go (default 0)", 0 },
	{ OPT_STATE, 0, "state", "FILE", "restore state from FILE and checkpoint it there", 0 },
	{ OPT_CHECKPOINT, 0, "checkpoint", "DUR", "checkpoint state and status this often (default 10s)",
	  0 },
	{ OPT_STATUS, 0, "status", "FILE", "write per-rule status records to FILE", 0 },
	{ OPT_PASS, 0, "pass", NULL, "copy every input record to stdout, alerts after it", 0 },
	{ OPT_ANOMALY_SCORE, 0, "anomaly-score", NULL,
	  "with --pass, add to each record its anomaly score (0..1)", 0 },
	{ OPT_PENDING, 0, "emit-pending", NULL, "also emit pending transitions", 0 },
	{ OPT_EVAL_TIMEOUT, 0, "eval-timeout", "DUR",
	  "time budget of one expression on one record (default 100ms)", 0 },
	{ OPT_EVAL_MEMORY, 0, "eval-memory", "SIZE",
	  "memory budget of one expression on one record (default 64MiB)", 0 },
	{ OPT_MAX_OVERRUNS, 0, "max-overruns", "N",
	  "disable a rule whose regular expressions hit their limits\nN times (default 3)", 0 },
	{ OPT_MAX_KEYS, 0, "max-keys", "N",
	  "keys a rule keeps state for, the longest idle forgotten\npast it (default 100000; a rule's max_keys wins)",
	  0 },
};
#define NOPTIONS (sizeof options / sizeof options[0])

/* What a run is asked to do, from its options. */
struct run {
	char **rules;
	int nrules;
	bool check;
	const char *state, *status;
	int64_t checkpoint;
	uint64_t max_keys;
	struct engine_opts eo;
};

/* An option with a value to check into r: 0, or the usage error's exit
 * code. */
static int value_option(struct run *r, int c, const char *arg)
{
	char err[512];
	uint64_t overruns;
	struct engine_opts *eo = &r->eo;
	switch (c) {
	case OPT_LATENESS:
		if (cli_duration("--lateness", arg, &eo->lateness, err, sizeof err) < 0)
			return diag_usage("%s", err);
		break;
	case OPT_CHECKPOINT:
		if (cli_duration("--checkpoint", arg, &r->checkpoint, err, sizeof err) < 0)
			return diag_usage("%s", err);
		if (r->checkpoint <= 0)
			return diag_usage("--checkpoint: must be positive");
		break;
	case OPT_EVAL_TIMEOUT:
		if (cli_duration("--eval-timeout", arg, &eo->eval_timeout, err, sizeof err) < 0)
			return diag_usage("%s", err);
		if (eo->eval_timeout <= 0)
			return diag_usage("--eval-timeout: must be positive");
		break;
	case OPT_EVAL_MEMORY:
		/* libjq needs some memory to do anything at all */
		if (cli_size("--eval-memory", arg, &eo->eval_memory, err, sizeof err) < 0)
			return diag_usage("%s", err);
		if (eo->eval_memory < 64 << 10)
			return diag_usage("--eval-memory: must be at least 64KiB");
		if (eo->eval_memory > (uint64_t)SIZE_MAX / 4)
			return diag_usage("--eval-memory: too large for this machine");
		break;
	case OPT_MAX_OVERRUNS:
		if (cli_uint("--max-overruns", arg, 1, 1000000, &overruns, err, sizeof err) < 0)
			return diag_usage("%s", err);
		eo->max_overruns = (unsigned)overruns;
		break;
	case OPT_MAX_KEYS:
		if (cli_uint("--max-keys", arg, 1, UINT32_MAX, &r->max_keys, err, sizeof err) < 0)
			return diag_usage("%s", err);
		break;
	}
	return 0;
}

/* The options into r (r->rules sized for argc): 0, TOOL_DONE after -h or
 * -V, or the usage error's exit code. */
static int parse_options(struct tool *t, struct run *r, int argc, char **argv)
{
	char err[512];
	struct opts p;
	opts_init(&p, options, NOPTIONS);
	int c, rc;
	while ((c = opts_next(&p, &t->common, argc, argv, err, sizeof err)) != -1) {
		switch (c) {
		case CLI_BAD: return diag_usage("%s", err);
		case 'h': case 'V': return tool_help_opts(t, c, synopsis, options, NOPTIONS);
		case OPT_RULES: r->rules[r->nrules++] = optarg; break;
		case OPT_CHECK: r->check = true; break;
		case OPT_TIME: r->eo.time_src = optarg; break;
		case OPT_STATE: r->state = optarg; break;
		case OPT_STATUS: r->status = optarg; break;
		case OPT_PASS: r->eo.pass = true; break;
		case OPT_ANOMALY_SCORE: r->eo.anomaly_score = true; break;
		case OPT_PENDING: r->eo.emit_pending = true; break;
		default:
			if ((rc = value_option(r, c, optarg)))
				return rc;
		}
	}
	if (!r->nrules)
		return diag_usage("no rules: give -r RULES");
	if (r->check && optind < argc)
		return diag_usage("--check takes no input files");
	if (r->eo.anomaly_score && !r->eo.pass)
		return diag_usage("--anomaly-score: only with --pass");
	return 0;
}

static int save_all(struct engine *e, const char *state, const char *status)
{
	char err[512];
	int rc = 0;
	if (state && engine_save(e, state, err, sizeof err) < 0) {
		diag_error("cannot checkpoint state: %s", err);
		rc = -1;
	}
	if (status) {
		struct buf b;
		buf_init(&b);
		engine_status(e, &b);
		if (fs_replace(status, b.data, b.len, 0644, err, sizeof err) < 0) {
			diag_error("cannot write status: %s", err);
			rc = -1;
		}
		buf_free(&b);
	}
	return rc;
}

/* --state: its lock taken (*lockfd) and the state restored: 0, or the
 * exit status after saying why not. */
static int open_state(struct engine *e, const char *state, int *lockfd)
{
	char err[512];
	size_t n = strlen(state) + 6;
	char *lp = xmalloc(n);
	snprintf(lp, n, "%s.lock", state);
	*lockfd = fs_lock(lp, false, err, sizeof err);
	free(lp);
	if (*lockfd < 0) {
		diag_error("cannot use state: %s", err);
		return CCE_EX_TEMPFAIL;
	}
	if (engine_restore(e, state, err, sizeof err) < 0) {
		diag_error("cannot restore state: %s", err);
		return CCE_EX_IOERR;
	}
	return 0;
}

/* SIGHUP reloads the rules (a set that does not compile leaves the one in
 * use), SIGUSR1 prints the per-rule status on stderr. */
static void on_signals(struct engine *e, const struct run *r)
{
	if (sig_reload) {
		sig_reload = 0;
		struct ruleset nrs;
		if (rules_load(r->rules, r->nrules, (uint32_t)r->max_keys, &nrs) < 0) {
			diag_error("reload failed: keeping the rules in use");
		} else {
			engine_reload(e, &nrs);
			diag_warn("rules reloaded");
		}
	}
	if (sig_status) {
		sig_status = 0;
		struct buf b;
		buf_init(&b);
		engine_status(e, &b);
		diag_raw(b.data, b.len);
		buf_free(&b);
	}
}

/* Records through the engine until the input ends or a signal stops it,
 * with checkpoints; returns the run's status. */
static int run_records(struct tool *t, struct engine *e, const struct run *r)
{
	struct json_doc doc;
	json_doc_init(&doc);
	struct jsonl_line line;
	int64_t next_save = time_mono_ms() + r->checkpoint;
	unsigned tick = 0;
	int st = JSONL_EOF, status_code = 0;
	while (!sig_stop && !out_done(&t->out)) {
		/* wake up at least every second when idle: deadmen and windows
		 * close on the wall clock while nothing arrives */
		st = tool_next(t, &line, &doc, 1000);
		if (st == JSONL_LINE) {
			if (engine_record(e, &line, &doc) == JSONL_FATAL) {
				st = JSONL_FATAL;
				tool_fatal(t->in);
				break;
			}
		} else if (st == JSONL_TIMEOUT) {
			engine_idle(e);
		} else if (st == JSONL_EOF || st == JSONL_FATAL) {
			break;
		}
		on_signals(e, r);
		if ((r->state || r->status) && (st != JSONL_LINE || (++tick & 255) == 0)) {
			int64_t now = time_mono_ms();
			if (now >= next_save) {
				out_flush(&t->out);
				save_all(e, r->state, r->status);
				next_save = now + r->checkpoint;
			}
		}
	}
	json_doc_free(&doc);
	if (st == JSONL_FATAL)
		status_code = jsonl_fatal_exit(t->in);
	/* alerts go out before the state that records them as sent */
	out_flush(&t->out);
	if (save_all(e, r->state, r->status) < 0 && !status_code)
		status_code = CCE_EX_IOERR;
	if (sig_stop && !status_code)
		status_code = sig_exit_code();
	if (engine_late(e))
		diag_warn("%llu late record(s): older than the watermark minus --lateness",
			  (unsigned long long)engine_late(e));
	return status_code;
}

/* --check: the compiled rules with their defaults, one per line. */
static void print_rules(struct tool *t, const struct ruleset *rs)
{
	for (int i = 0; i < rs->n; i++)
		out_line(&t->out, rs->r[i]->desc, strlen(rs->r[i]->desc));
}

int main(int argc, char **argv)
{
	struct tool t;
	int held = tool_init(&t, "cce-rule");
	if (held)
		return held;
	struct run r = { .checkpoint = 10000, .max_keys = 100000,
			 .eo = { .time_src = ".ts", .eval_timeout = 100,
				 .eval_memory = (uint64_t)64 << 20, .max_overruns = 3 } };
	r.rules = xcalloc((size_t)argc + 1, sizeof *r.rules);
	int status = parse_options(&t, &r, argc, argv);
	if (status) {
		free(r.rules);
		if (status == TOOL_DONE)
			return tool_finish(&t, 0);
		out_free(&t.out);
		return status;
	}
	tool_start(&t);
	jqx_init(r.check ? 0 : r.eo.eval_timeout, r.check ? 0 : (size_t)r.eo.eval_memory);
	struct ruleset rs;
	struct engine *e = NULL;
	int lockfd = -1;
	char err[512];
	if (rules_load(r.rules, r.nrules, (uint32_t)r.max_keys, &rs) < 0) {
		status = diag_usage("the rules do not compile");
	} else if (r.check) {
		print_rules(&t, &rs);
		ruleset_free(&rs);
	} else {
		r.eo.out = &t.out;
		if (!(e = engine_new(&rs, &r.eo, err, sizeof err))) {
			ruleset_free(&rs);
			status = diag_usage("--time: %s", err);
		} else if (!r.state || !(status = open_state(e, r.state, &lockfd))) {
			tool_open_input(&t, argv + optind, argc - optind, true);
			engine_set_input(e, t.in);
			status = run_records(&t, e, &r);
		}
	}
	engine_free(e);
	jqx_shutdown();
	fast_shutdown();
	free(r.rules);
	if (lockfd >= 0)
		fs_unlock(lockfd);
	/* a usage error (the rules, --time) is reported as such, not as the
	 * state of stdout */
	if (status == CCE_EX_USAGE) {
		out_free(&t.out);
		return status;
	}
	return tool_finish(&t, status);
}
