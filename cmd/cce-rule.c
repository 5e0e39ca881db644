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
#include "sig.h"
#include "timeutil.h"
#include "tool.h"

static const char usage[] =
	"usage: cce-rule [options] -r RULES [FILE...]\n"
	"       cce-rule --check -r RULES\n"
	"  -r, --rules FILE      rules: a JSON array of rule objects or JSON lines (repeatable)\n"
	"  -c, --check           compile the rules, print them with defaults, and exit\n"
	"      --time EXPR       jq path of the event time, epoch ms or RFC 3339 (default .ts)\n"
	"      --lateness DUR    how far out of order event time may go (default 0)\n"
	"      --state FILE      restore state from FILE and checkpoint it there\n"
	"      --checkpoint DUR  checkpoint state and status this often (default 10s)\n"
	"      --status FILE     write per-rule status records to FILE\n"
	"      --pass            copy every input record to stdout, alerts after it\n"
	"      --anomaly-score   with --pass, add to each record its anomaly score (0..1)\n"
	"      --emit-pending    also emit pending transitions\n"
	"      --eval-timeout DUR  time budget of one expression on one record (default 100ms)\n"
	"      --eval-memory SIZE  memory budget of one expression on one record (default 64MiB)\n"
	"      --max-overruns N  disable a rule whose regular expressions hit their limits\n"
	"                        N times (default 3)\n"
	"      --max-keys N      keys a rule keeps state for, the longest idle forgotten\n"
	"                        past it (default 100000; a rule's max_keys wins)\n";

enum {
	OPT_TIME = CLI_OPT_TOOL, OPT_LATENESS, OPT_STATE, OPT_CHECKPOINT, OPT_STATUS,
	OPT_PASS, OPT_ANOMALY_SCORE, OPT_PENDING, OPT_EVAL_TIMEOUT, OPT_EVAL_MEMORY, OPT_MAX_OVERRUNS, OPT_MAX_KEYS,
};

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

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{ "rules", required_argument, NULL, 'r' },
		{ "check", no_argument, NULL, 'c' },
		{ "time", required_argument, NULL, OPT_TIME },
		{ "lateness", required_argument, NULL, OPT_LATENESS },
		{ "state", required_argument, NULL, OPT_STATE },
		{ "checkpoint", required_argument, NULL, OPT_CHECKPOINT },
		{ "status", required_argument, NULL, OPT_STATUS },
		{ "pass", no_argument, NULL, OPT_PASS },
		{ "anomaly-score", no_argument, NULL, OPT_ANOMALY_SCORE },
		{ "emit-pending", no_argument, NULL, OPT_PENDING },
		{ "eval-timeout", required_argument, NULL, OPT_EVAL_TIMEOUT },
		{ "eval-memory", required_argument, NULL, OPT_EVAL_MEMORY },
		{ "max-overruns", required_argument, NULL, OPT_MAX_OVERRUNS },
		{ "max-keys", required_argument, NULL, OPT_MAX_KEYS },
		{ NULL, 0, NULL, 0 },
	};
	struct tool t;
	int held = tool_init(&t, "cce-rule");
	if (held)
		return held;
	char **rules = xcalloc((size_t)argc + 1, sizeof *rules);
	int nrules = 0;
	bool check = false;
	const char *state = NULL, *status = NULL;
	int64_t checkpoint = 10000;
	struct engine_opts eo = { .time_src = ".ts", .eval_timeout = 100,
				  .eval_memory = (uint64_t)64 << 20, .max_overruns = 3 };
	uint64_t overruns, max_keys = 100000;
	char err[512];
	int c;
#define USAGE(...) do { free(rules); return diag_usage(__VA_ARGS__); } while (0)
	while ((c = cli_getopt(&t.common, argc, argv, ":" CLI_COMMON_SHORTOPTS "r:c", longopts, err,
				 sizeof err)) != -1) {
		if (c == CLI_BAD)
			USAGE("%s", err);
		switch (c) {
		case 'h': fputs(usage, stdout); fputs(cli_common_help, stdout); free(rules); return 0;
		case 'V': tool_print_version(&t); free(rules); return 0;
		case 'r': rules[nrules++] = optarg; break;
		case 'c': check = true; break;
		case OPT_TIME: eo.time_src = optarg; break;
		case OPT_LATENESS:
			if (cli_duration("--lateness", optarg, &eo.lateness, err, sizeof err) < 0)
				USAGE("%s", err);
			break;
		case OPT_STATE: state = optarg; break;
		case OPT_STATUS: status = optarg; break;
		case OPT_CHECKPOINT:
			if (cli_duration("--checkpoint", optarg, &checkpoint, err, sizeof err) < 0)
				USAGE("%s", err);
			if (checkpoint <= 0)
				USAGE("--checkpoint: must be positive");
			break;
		case OPT_PASS: eo.pass = true; break;
		case OPT_ANOMALY_SCORE: eo.anomaly_score = true; break;
		case OPT_PENDING: eo.emit_pending = true; break;
		case OPT_EVAL_TIMEOUT:
			if (cli_duration("--eval-timeout", optarg, &eo.eval_timeout, err, sizeof err) < 0)
				USAGE("%s", err);
			if (eo.eval_timeout <= 0)
				USAGE("--eval-timeout: must be positive");
			break;
		case OPT_EVAL_MEMORY:
			/* libjq needs some memory to do anything at all */
			if (cli_size("--eval-memory", optarg, &eo.eval_memory, err, sizeof err) < 0)
				USAGE("%s", err);
			if (eo.eval_memory < 64 << 10)
				USAGE("--eval-memory: must be at least 64KiB");
			if (eo.eval_memory > (uint64_t)SIZE_MAX / 4)
				USAGE("--eval-memory: too large for this machine");
			break;
		case OPT_MAX_OVERRUNS:
			if (cli_uint("--max-overruns", optarg, 1, 1000000, &overruns, err, sizeof err) < 0)
				USAGE("%s", err);
			eo.max_overruns = (unsigned)overruns;
			break;
		case OPT_MAX_KEYS:
			if (cli_uint("--max-keys", optarg, 1, UINT32_MAX, &max_keys, err, sizeof err) < 0)
				USAGE("%s", err);
			break;
		}
	}
	if (!nrules)
		USAGE("no rules: give -r RULES");
	if (check && optind < argc)
		USAGE("--check takes no input files");
	if (eo.anomaly_score && !eo.pass)
		USAGE("--anomaly-score: only with --pass");
#undef USAGE
	tool_start(&t);
	jqx_init(check ? 0 : eo.eval_timeout, check ? 0 : (size_t)eo.eval_memory);

	struct ruleset rs;
	if (rules_load(rules, nrules, (uint32_t)max_keys, &rs) < 0) {
		jqx_shutdown();
		fast_shutdown();
		free(rules);
		return diag_usage("the rules do not compile");
	}
	if (check) {
		for (int i = 0; i < rs.n; i++)
			out_line(&t.out, rs.r[i]->desc, strlen(rs.r[i]->desc));
		ruleset_free(&rs);
		jqx_shutdown();
		fast_shutdown();
		free(rules);
		int st = tool_finish(&t, 0);
		out_free(&t.out);
		return st;
	}

	eo.out = &t.out;
	struct engine *e = engine_new(&rs, &eo, err, sizeof err);
	if (!e) {
		ruleset_free(&rs);
		jqx_shutdown();
		fast_shutdown();
		free(rules);
		return diag_usage("--time: %s", err);
	}
	int lockfd = -1;
	int status_code = 0;
	if (state) {
		size_t n = strlen(state) + 6;
		char *lp = xmalloc(n);
		snprintf(lp, n, "%s.lock", state);
		lockfd = fs_lock(lp, false, err, sizeof err);
		free(lp);
		if (lockfd < 0) {
			diag_error("cannot use state: %s", err);
			status_code = CCE_EX_TEMPFAIL;
			goto done;
		}
		if (engine_restore(e, state, err, sizeof err) < 0) {
			diag_error("cannot restore state: %s", err);
			status_code = CCE_EX_IOERR;
			goto done;
		}
	}

	tool_open_input(&t, argv + optind, argc - optind, true);
	engine_set_input(e, t.in);
	struct json_doc doc;
	json_doc_init(&doc);
	struct jsonl_line line;
	int64_t next_save = time_mono_ms() + checkpoint;
	unsigned tick = 0;
	int st = JSONL_EOF;
	while (!sig_stop && !out_done(&t.out)) {
		/* wake up at least every second when idle: deadmen and windows
		 * close on the wall clock while nothing arrives */
		st = tool_next(&t, &line, &doc, 1000);
		if (st == JSONL_LINE) {
			if (engine_record(e, &line, &doc) == JSONL_FATAL) {
				st = JSONL_FATAL;
				tool_fatal(t.in);
				break;
			}
		} else if (st == JSONL_TIMEOUT) {
			engine_idle(e);
		} else if (st == JSONL_EOF || st == JSONL_FATAL) {
			break;
		}
		if (sig_reload) {
			sig_reload = 0;
			struct ruleset nrs;
			if (rules_load(rules, nrules, (uint32_t)max_keys, &nrs) < 0) {
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
		if ((state || status) && (st != JSONL_LINE || (++tick & 255) == 0)) {
			int64_t now = time_mono_ms();
			if (now >= next_save) {
				out_flush(&t.out);
				save_all(e, state, status);
				next_save = now + checkpoint;
			}
		}
	}
	json_doc_free(&doc);
	if (st == JSONL_FATAL)
		status_code = jsonl_fatal_exit(t.in);
	/* alerts go out before the state that records them as sent */
	out_flush(&t.out);
	if (save_all(e, state, status) < 0 && !status_code)
		status_code = CCE_EX_IOERR;
	if (sig_stop && !status_code)
		status_code = sig_exit_code();
	if (engine_late(e))
		diag_warn("%llu late record(s): older than the watermark minus --lateness",
			  (unsigned long long)engine_late(e));
done:
	engine_free(e);
	jqx_shutdown();
	fast_shutdown();
	free(rules);
	if (lockfd >= 0)
		fs_unlock(lockfd);
	status_code = tool_finish(&t, status_code);
	jsonl_close(t.in);
	out_free(&t.out);
	return status_code;
}
