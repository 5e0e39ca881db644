/*
 * cce-sched: place task replicas on the nodes of the pool, or say exactly
 * why they cannot be placed. A pure filter: the same nodes, state, tasks
 * and seed give the same bytes out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "opts.h"
#include "sig.h"
#include "tool.h"
#include "cce-sched/sched.h"

static const char synopsis[] = "usage: cce-sched --nodes FILE [options] [TASKS...]\n";

enum {
	OPT_NODES = CLI_OPT_TOOL, OPT_STRATEGY, OPT_BALANCE, OPT_BATCH, OPT_STATE, OPT_STATE_OUT,
	OPT_RESCHEDULE, OPT_MAX_RESTARTS, OPT_PREEMPT, OPT_EXPLAIN, OPT_SEED, OPT_EXHAUSTIVE,
};

static const struct opt options[] = {
	{ OPT_NODES, 'n', "nodes", "FILE", "the node pool, as printed by cce-register list", 0 },
	{ OPT_STRATEGY, 's', "strategy", "NAME",
	  "spread, binpack, leastloaded, roundrobin, hash or cost\n(default spread)", 0 },
	{ OPT_BALANCE, 0, "balance", "X",
	  "hash: no node takes more than X times its fair share\n(default 1.25)", 0 },
	{ OPT_BATCH, 0, "batch", NULL, "read every task first, place by priority then size", 0 },
	{ OPT_STATE, 0, "state", "FILE", "placements made before: they use capacity and stay", 0 },
	{ OPT_STATE_OUT, 0, "state-out", "FILE", "write the placement the run leaves to FILE, for --state",
	  0 },
	{ OPT_RESCHEDULE, 0, "reschedule", NULL,
	  "move replicas of --state off gone, dead or unfit nodes,\nand those their node reports failed",
	  0 },
	{ OPT_MAX_RESTARTS, 0, "max-restarts", "N",
	  "--reschedule: also move those restarted more than N times", 0 },
	{ OPT_PREEMPT, 0, "preempt", NULL, "evict replicas 10 or more priority lower to make room", 0 },
	{ OPT_EXPLAIN, 0, "explain", NULL, "add candidates, rejections and top scores to placements", 0 },
	{ OPT_SEED, 0, "seed", "N", "seed for breaking ties (default 0)", 0 },
	{ OPT_EXHAUSTIVE, 0, "exhaustive", NULL,
	  "score every node instead of using the index (checking)", 0 },
};
#define NOPTIONS (sizeof options / sizeof options[0])

/* What a run reads and writes besides the tasks. */
struct run {
	const char *nodes, *state, *state_out;
	bool reschedule;
};

static int take_node(void *s, const struct json_doc *d, const struct jsonl_line *line, char *err,
		     size_t errlen)
{
	return sched_add_node(s, d, err, errlen);
}

static int take_state(void *s, const struct json_doc *d, const struct jsonl_line *line, char *err,
		      size_t errlen)
{
	return sched_add_state(s, d, err, errlen);
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

/* One option with a value to check into s: 0, or the usage error's exit
 * code. */
static int value_option(struct sched *s, int c, const char *arg)
{
	char err[512];
	uint64_t u;
	switch (c) {
	case OPT_STRATEGY:
		if ((s->strategy = strategy_from_name(arg)) < 0)
			return diag_usage("--strategy: unknown strategy '%s' (use spread, binpack, "
					  "leastloaded, roundrobin, hash or cost)", arg);
		return 0;
	case OPT_BALANCE:
		if (cli_number("--balance", arg, 1, 1000, &s->balance, err, sizeof err) < 0)
			return diag_usage("%s", err);
		return 0;
	case OPT_MAX_RESTARTS:
		if (cli_uint("--max-restarts", arg, 0, INT32_MAX, &u, err, sizeof err) < 0)
			return diag_usage("%s", err);
		s->max_restarts = (int64_t)u;
		return 0;
	case OPT_SEED:
		if (cli_uint("--seed", arg, 0, UINT64_MAX, &u, err, sizeof err) < 0)
			return diag_usage("%s", err);
		s->seed = u;
		return 0;
	}
	return 0;
}

/* The options into s and r: 0, TOOL_DONE after -h or -V, or the usage
 * error's exit code. */
static int parse_options(struct tool *t, struct sched *s, struct run *r, int argc, char **argv)
{
	char err[512];
	struct opts p;
	opts_init(&p, options, NOPTIONS);
	int c, rc;
	while ((c = opts_next(&p, &t->common, argc, argv, err, sizeof err)) != -1) {
		switch (c) {
		case CLI_BAD: return diag_usage("%s", err);
		case 'h': case 'V': return tool_help_opts(t, c, synopsis, options, NOPTIONS);
		case OPT_NODES: r->nodes = optarg; break;
		case OPT_BATCH: s->batch = true; break;
		case OPT_STATE: r->state = optarg; break;
		case OPT_STATE_OUT: r->state_out = optarg; break;
		case OPT_RESCHEDULE: r->reschedule = true; break;
		case OPT_PREEMPT: s->preempt = true; break;
		case OPT_EXPLAIN: s->explain = true; break;
		case OPT_EXHAUSTIVE: s->exhaustive = true; break;
		default:
			if ((rc = value_option(s, c, optarg)))
				return rc;
		}
	}
	if (!r->nodes)
		return diag_usage("missing --nodes FILE");
	if (r->reschedule && !r->state)
		return diag_usage("--reschedule needs --state FILE");
	if (s->max_restarts >= 0 && !r->reschedule)
		return diag_usage("--max-restarts needs --reschedule");
	/* what the nodes report about their replicas only matters to a move */
	s->health = r->reschedule;
	return 0;
}

/* The tasks: each placed as it comes, or with --batch read first and
 * placed by priority then size. Returns the run's status. */
static int place_tasks(struct tool *t, struct sched *s, bool reschedule)
{
	struct json_doc doc;
	struct jsonl_line line;
	char err[512];
	int *batch = NULL, nbatch = 0, st, status = 0;
	json_doc_init(&doc);
	s->batch_total = s->hashed;
	while (!out_done(&t->out)) {
		st = tool_next(t, &line, &doc, -1);
		if (st == JSONL_EOF)
			break;
		if (st == JSONL_FATAL) {
			status = jsonl_fatal_exit(t->in);
			break;
		}
		if (st == JSONL_INTR) {
			if (sig_stop)
				break;
			continue;
		}
		int ti;
		if (sched_parse_task(s, &doc, false, &ti, err, sizeof err) < 0 ||
		    (sched_claim_name(s, ti, err, sizeof err) < 0 && (sched_drop_task(s, ti), 1))) {
			if (jsonl_reject(t->in, &line, "%s", err) == JSONL_FATAL) {
				status = tool_fatal(t->in);
				break;
			}
			continue;
		}
		if (s->batch) {
			batch = xrealloc(batch, ((size_t)nbatch + 1) * sizeof *batch);
			batch[nbatch++] = ti;
			sched_expect(s, (uint64_t)s->tasks[ti].replicas);
		} else {
			sched_place_task(s, ti);
		}
	}
	if (sig_stop && !status)
		status = sig_exit_code();
	if (s->batch && !status) {
		sched_batch_prepare(s, batch, nbatch, reschedule);
		sched_sort_batch(s, batch, nbatch);
		for (int i = 0; i < nbatch && !out_done(&t->out); i++)
			sched_place_task(s, batch[i]);
	}
	free(batch);
	json_doc_free(&doc);
	return status;
}

int main(int argc, char **argv)
{
	struct tool t;
	struct sched s;
	struct run r = { 0 };
	int status = tool_init(&t, "cce-sched");
	if (status)
		return status;
	sched_init(&s, &t.out);
	if ((status = parse_options(&t, &s, &r, argc, argv))) {
		if (status == TOOL_DONE)
			status = tool_finish(&t, 0);
		else
			out_free(&t.out);
		sched_free(&s);
		return status;
	}
	tool_start(&t);
	uint64_t rejected = 0;
	/* an unreadable node or state file ends the run: no placement from
	 * half a pool */
	if (!(status = tool_read_file(&t, r.nodes, true, take_node, &s, &rejected)) &&
	    !(r.state && (status = tool_read_file(&t, r.state, true, take_state, &s, &rejected)))) {
		sched_ready(&s);
		/* streaming, replicas move before tasks are read; with --batch,
		 * after the tasks read are scaled down, so that no replica about
		 * to go moves first */
		if (r.reschedule && !s.batch)
			sched_reschedule(&s);
		tool_open_input(&t, argv + optind, argc - optind, true);
		status = place_tasks(&t, &s, r.reschedule);
		if (!status && rejected)
			status = CCE_EX_DATAERR;
	}
	status = tool_finish(&t, status);
	/* a run that finished (rejected lines skipped) leaves its placement;
	 * one cut short by a signal, or one whose input or output failed,
	 * leaves the file as it was */
	if (r.state_out && (status == 0 || status == CCE_EX_DATAERR))
		status = save_state(&s, r.state_out, status);
	sched_free(&s);
	return status;
}
