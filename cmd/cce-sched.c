/*
 * cce-sched: place task replicas on the nodes of the pool, or say exactly
 * why they cannot be placed. A pure filter: the same nodes, state, tasks
 * and seed give the same bytes out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "sig.h"
#include "tool.h"
#include "cce-sched/sched.h"

static const char usage[] =
	"usage: cce-sched --nodes FILE [options] [TASKS...]\n"
	"  -n, --nodes FILE      the node pool, as printed by cce-register list\n"
	"  -s, --strategy NAME   spread, binpack, leastloaded, roundrobin, hash or cost\n"
	"                        (default spread)\n"
	"      --balance X       hash: no node takes more than X times its fair share\n"
	"                        (default 1.25)\n"
	"      --batch           read every task first, place by priority then size\n"
	"      --state FILE      placements made before: they use capacity and stay\n"
	"      --state-out FILE  write the placement the run leaves to FILE, for --state\n"
	"      --reschedule      move replicas of --state off gone, dead or unfit nodes,\n"
	"                        and those their node reports failed\n"
	"      --max-restarts N  --reschedule: also move those restarted more than N times\n"
	"      --preempt         evict replicas 10 or more priority lower to make room\n"
	"      --explain         add candidates, rejections and top scores to placements\n"
	"      --seed N          seed for breaking ties (default 0)\n"
	"      --exhaustive      score every node instead of using the index (checking)\n";

enum {
	OPT_BALANCE = CLI_OPT_TOOL, OPT_BATCH, OPT_STATE, OPT_STATE_OUT, OPT_RESCHEDULE,
	OPT_PREEMPT, OPT_EXPLAIN, OPT_SEED, OPT_EXHAUSTIVE, OPT_MAX_RESTARTS,
};

/* Reads the node or state file; 0, or the exit status that ends the run. */
static int load(struct tool *t, struct sched *s, const char *path, bool state, uint64_t *rejected)
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
			status = CCE_EX_IOERR;
			break;
		}
		if (st == JSONL_INTR) {
			if (sig_stop) {
				status = sig_exit_code();
				break;
			}
			continue;
		}
		if (st == JSONL_LINE) {
			int ok = state ? sched_add_state(s, &doc, err, sizeof err)
				       : sched_add_node(s, &doc, err, sizeof err);
			if (ok == 0)
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

/* --state-out: the run's status, or 74 when the file cannot be written */
static int save_state(const struct sched *s, const char *path, int status)
{
	struct buf b;
	char err[512];
	buf_init(&b);
	sched_state(s, &b);
	if (fs_replace(path, b.data ? b.data : "", b.len, 0644, err, sizeof err) < 0) {
		diag_error("%s", err);
		status = CCE_EX_IOERR;
	}
	buf_free(&b);
	return status;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{ "nodes", required_argument, NULL, 'n' },
		{ "strategy", required_argument, NULL, 's' },
		{ "balance", required_argument, NULL, OPT_BALANCE },
		{ "batch", no_argument, NULL, OPT_BATCH },
		{ "state", required_argument, NULL, OPT_STATE },
		{ "state-out", required_argument, NULL, OPT_STATE_OUT },
		{ "reschedule", no_argument, NULL, OPT_RESCHEDULE },
		{ "max-restarts", required_argument, NULL, OPT_MAX_RESTARTS },
		{ "preempt", no_argument, NULL, OPT_PREEMPT },
		{ "explain", no_argument, NULL, OPT_EXPLAIN },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "exhaustive", no_argument, NULL, OPT_EXHAUSTIVE },
		{ NULL, 0, NULL, 0 },
	};
	struct tool t;
	struct sched s;
	int status = tool_init(&t, "cce-sched");
	if (status)
		return status;
	sched_init(&s, &t.out);
	const char *nodes = NULL, *state = NULL, *state_out = NULL;
	bool reschedule = false;
	char err[512];
	int c;
	while ((c = cli_getopt(&t.common, argc, argv, ":" CLI_COMMON_SHORTOPTS "n:s:", longopts, err,
				 sizeof err)) != -1) {
		if (c == CLI_BAD) {
			status = diag_usage("%s", err);
			goto done;
		}
		uint64_t u;
		switch (c) {
		case 'h':
			fputs(usage, stdout);
			fputs(cli_common_help, stdout);
			goto done;
		case 'V':
			tool_print_version(&t);
			goto done;
		case 'n': nodes = optarg; break;
		case 's':
			if ((s.strategy = strategy_from_name(optarg)) < 0) {
				status = diag_usage("--strategy: unknown strategy '%s' (use spread, binpack, "
						    "leastloaded, roundrobin, hash or cost)", optarg);
				goto done;
			}
			break;
		case OPT_BALANCE:
			if (cli_number("--balance", optarg, 1, 1000, &s.balance, err, sizeof err) < 0) {
				status = diag_usage("%s", err);
				goto done;
			}
			break;
		case OPT_BATCH: s.batch = true; break;
		case OPT_STATE: state = optarg; break;
		case OPT_STATE_OUT: state_out = optarg; break;
		case OPT_RESCHEDULE: reschedule = true; break;
		case OPT_PREEMPT: s.preempt = true; break;
		case OPT_EXPLAIN: s.explain = true; break;
		case OPT_EXHAUSTIVE: s.exhaustive = true; break;
		case OPT_MAX_RESTARTS:
			if (cli_uint("--max-restarts", optarg, 0, INT32_MAX, &u, err, sizeof err) < 0) {
				status = diag_usage("%s", err);
				goto done;
			}
			s.max_restarts = (int64_t)u;
			break;
		case OPT_SEED:
			if (cli_uint("--seed", optarg, 0, UINT64_MAX, &u, err, sizeof err) < 0) {
				status = diag_usage("%s", err);
				goto done;
			}
			s.seed = u;
			break;
		}
	}
	if (!nodes) {
		status = diag_usage("missing --nodes FILE");
		goto done;
	}
	if (reschedule && !state) {
		status = diag_usage("--reschedule needs --state FILE");
		goto done;
	}
	if (s.max_restarts >= 0 && !reschedule) {
		status = diag_usage("--max-restarts needs --reschedule");
		goto done;
	}
	/* what the nodes report about their replicas only matters to a move */
	s.health = reschedule;
	tool_start(&t);

	uint64_t rejected = 0;
	if ((status = load(&t, &s, nodes, false, &rejected)) ||
	    (state && (status = load(&t, &s, state, true, &rejected))))
		goto finish;
	sched_ready(&s);
	/* streaming, replicas move before tasks are read; with --batch, after
	 * the tasks read are scaled down, so that no replica about to go
	 * moves first */
	if (reschedule && !s.batch)
		sched_reschedule(&s);

	tool_open_input(&t, argv + optind, argc - optind, true);
	struct json_doc doc;
	struct jsonl_line line;
	int *batch = NULL, nbatch = 0, st;
	json_doc_init(&doc);
	s.batch_total = s.hashed;
	while (!out_done(&t.out)) {
		st = tool_next(&t, &line, &doc, -1);
		if (st == JSONL_EOF)
			break;
		if (st == JSONL_FATAL) {
			status = jsonl_fatal_exit(t.in);
			break;
		}
		if (st == JSONL_INTR) {
			if (sig_stop)
				break;
			continue;
		}
		int ti;
		if (sched_parse_task(&s, &doc, false, &ti, err, sizeof err) < 0 ||
		    (sched_claim_name(&s, ti, err, sizeof err) < 0 && (sched_drop_task(&s, ti), 1))) {
			if (jsonl_reject(t.in, &line, "%s", err) == JSONL_FATAL) {
				status = tool_fatal(t.in);
				break;
			}
			continue;
		}
		if (s.batch) {
			batch = xrealloc(batch, ((size_t)nbatch + 1) * sizeof *batch);
			batch[nbatch++] = ti;
			sched_expect(&s, (uint64_t)s.tasks[ti].replicas);
		} else {
			sched_place_task(&s, ti);
		}
	}
	if (sig_stop && !status)
		status = sig_exit_code();
	if (s.batch && !status) {
		sched_batch_prepare(&s, batch, nbatch, reschedule);
		sched_sort_batch(&s, batch, nbatch);
		for (int i = 0; i < nbatch && !out_done(&t.out); i++)
			sched_place_task(&s, batch[i]);
	}
	free(batch);
	json_doc_free(&doc);
	if (!status && rejected)
		status = CCE_EX_DATAERR;
finish:
	status = tool_finish(&t, status);
	/* a run that finished (rejected lines skipped) leaves its placement;
	 * one cut short by a signal, or one whose input or output failed,
	 * leaves the file as it was */
	if (state_out && (status == 0 || status == CCE_EX_DATAERR))
		status = save_state(&s, state_out, status);
	if (t.in)
		jsonl_close(t.in);
done:
	out_free(&t.out);
	sched_free(&s);
	return status;
}
