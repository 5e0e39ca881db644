/*
 * cce-task: run this node's placed tasks under systemd, limited and
 * supervised, and report on them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cce-task/bus.h"
#include "cce-task/task.h"
#include "diag.h"
#include "opts.h"
#include "timeutil.h"
#include "tool.h"

static const char synopsis[] =
	"usage: cce-task apply [--unit-dir DIR] [PLACEMENTS...]\n"
	"usage: cce-task status [--unit-dir DIR] [TASK...]\n"
	"usage: cce-task run [--task NAME] [--cpu N] [--mem-mb N] [--pids N] [--timeout DUR] [--user USER] [--dir DIR] [--env K=V]... [--output-max SIZE] -- CMD...\n"
	"usage: cce-task logs TASK [--since DUR] [-f]\n"
	"usage: cce-task stop [--unit-dir DIR] TASK...\n"
	"usage: cce-task restart [--unit-dir DIR] TASK...\n";

/* The subcommands, in the order of their bits in the option rows. */
enum { APPLY, STATUS, RUN, LOGS, STOP, RESTART };
static const struct {
	const char *name;
	int min_operands;
} cmds[] = {
	[APPLY] = { "apply", 0 }, [STATUS] = { "status", 0 }, [RUN] = { "run", 1 },
	[LOGS] = { "logs", 1 }, [STOP] = { "stop", 1 }, [RESTART] = { "restart", 1 },
};

enum {
	OPT_UNIT_DIR = CLI_OPT_TOOL, OPT_WAIT, OPT_TASK, OPT_CPU, OPT_MEM, OPT_PIDS, OPT_TIMEOUT,
	OPT_USER, OPT_DIR, OPT_ENV, OPT_OUTPUT_MAX, OPT_SINCE, OPT_FOLLOW,
};

#define IN(c) (1u << (c))
#define RUN_ONLY IN(RUN)
static const struct opt options[] = {
	{ OPT_UNIT_DIR, 0, "unit-dir", "DIR", "where unit files go (default /etc/systemd/system)",
	  IN(APPLY) | IN(STATUS) | IN(STOP) | IN(RESTART) },
	{ OPT_WAIT, 0, "wait", "DUR", "how long a start or stop may take (default 30s)",
	  IN(APPLY) | IN(RUN) | IN(STOP) | IN(RESTART) },
	{ OPT_TASK, 0, "task", "NAME", "run: the job's name (default job)", RUN_ONLY },
	{ OPT_CPU, 0, "cpu", "N", "run: CPUs it may use (CPUQuota=)", RUN_ONLY },
	{ OPT_MEM, 0, "mem-mb", "N", "run: memory limit in MiB (MemoryMax=)", RUN_ONLY },
	{ OPT_PIDS, 0, "pids", "N", "run: process limit (TasksMax=, default 512)", RUN_ONLY },
	{ OPT_TIMEOUT, 0, "timeout", "DUR", "run: kill it after DUR", RUN_ONLY },
	{ OPT_USER, 0, "user", "USER", "run: run it as USER", RUN_ONLY },
	{ OPT_DIR, 0, "dir", "DIR", "run: the app's directory (DIR/current is the working directory)",
	  RUN_ONLY },
	{ OPT_ENV, 0, "env", "K=V", "run: an environment variable (repeatable)", RUN_ONLY },
	{ OPT_OUTPUT_MAX, 0, "output-max", "SIZE", "run: keep the last SIZE of its output (default 64KiB)",
	  RUN_ONLY },
	{ OPT_SINCE, 0, "since", "DUR", "logs: from DUR ago", IN(LOGS) },
	{ OPT_FOLLOW, 'f', "follow", NULL, "logs: keep printing new entries", IN(LOGS) },
};
#define NOPTIONS (sizeof options / sizeof options[0])

static int run_option(int c, const char *arg, struct run_opts *r, char *err, size_t errlen)
{
	struct task_spec *s = &r->spec;
	uint64_t v;
	double d;
	switch (c) {
	case OPT_TASK: free(s->task); s->task = xstrdup(arg); return 0;
	case OPT_CPU:
		if (cli_number("--cpu", arg, 0.001, 1e6, &d, err, errlen) < 0)
			return -1;
		s->cpu_milli = (int64_t)(d * 1000 + 0.5);
		return 0;
	case OPT_MEM:
		if (cli_uint("--mem-mb", arg, 1, 1000000000, &v, err, errlen) < 0)
			return -1;
		s->mem_mb = (int64_t)v;
		return 0;
	case OPT_PIDS:
		if (cli_uint("--pids", arg, 1, 4194304, &v, err, errlen) < 0)
			return -1;
		s->pids = (int64_t)v;
		return 0;
	case OPT_TIMEOUT: return cli_duration("--timeout", arg, &s->timeout_ms, err, errlen);
	case OPT_USER: free(s->user); s->user = xstrdup(arg); return 0;
	case OPT_DIR: free(s->dir); s->dir = xstrdup(arg); return 0;
	case OPT_ENV: {
		const char *eq = strchr(arg, '=');
		if (!eq || eq == arg) {
			snprintf(err, errlen, "--env: '%s' is not NAME=VALUE", arg);
			return -1;
		}
		s->env = xrealloc(s->env, (s->nenv + 2) * sizeof *s->env);
		s->env[s->nenv++] = xstrdup(arg);
		s->env[s->nenv] = NULL;
		return 0;
	}
	case OPT_OUTPUT_MAX:
		return cli_size("--output-max", arg, &r->output_max, err, errlen);
	}
	return 0;
}

static int dispatch(struct tool *t, int k, struct task_opts *o, struct run_opts *r,
		    int64_t since_ms, bool follow, char **arg, int narg)
{
	switch (k) {
	case APPLY: return cmd_apply(t, o, arg, narg);
	case STATUS: return cmd_status(&t->out, o, arg, narg);
	case RUN:
		r->spec.argv = arg;
		r->spec.argc = (size_t)narg;
		if (!r->spec.task)
			r->spec.task = xstrdup("job");
		return cmd_run(&t->out, o, r);
	case LOGS:
		if (narg != 1)
			return diag_usage("'logs' takes one task, not %d", narg);
		return cmd_logs(&t->out, arg[0], since_ms, follow);
	default: return cmd_stop_restart(&t->out, o, k == RESTART, arg, narg);
	}
}

int task_bus(sd_bus **bus)
{
	char err[512];
	int r = bus_open(bus, err, sizeof err);
	if (r < 0) {
		diag_error("%s", err);
		return r == -1 ? CCE_EX_UNAVAILABLE : CCE_EX_FAIL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct tool t;
	int held = tool_init(&t, "cce-task");
	if (held)
		return held;
	struct task_opts o = { .unit_dir = UNIT_DIR_DEFAULT, .wait_ms = 30000 };
	struct run_opts r = { .spec = { .pids = TASK_PIDS_DEFAULT }, .output_max = 64 * 1024 };
	int64_t since_ms = 0;
	bool follow = false;
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
		case OPT_UNIT_DIR: o.unit_dir = optarg; break;
		case OPT_WAIT:
			if (cli_duration("--wait", optarg, &o.wait_ms, err, sizeof err) < 0)
				return diag_usage("%s", err);
			break;
		case OPT_SINCE:
			if (cli_duration("--since", optarg, &since_ms, err, sizeof err) < 0)
				return diag_usage("%s", err);
			break;
		case OPT_FOLLOW: follow = true; break;
		default:
			if (run_option(c, optarg, &r, err, sizeof err) < 0)
				return diag_usage("%s", err);
		}
	}
	if (optind >= argc)
		return diag_usage("missing subcommand (apply, status, run, logs, stop or restart)");
	const char *sub = argv[optind++];
	int k = -1;
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		if (!strcmp(sub, cmds[i].name))
			k = (int)i;
	if (k < 0)
		return diag_usage("unknown subcommand '%s'", sub);
	if (opts_check_scope(&p, (unsigned)k, sub, err, sizeof err) < 0)
		return diag_usage("%s", err);
	if (argc - optind < cmds[k].min_operands)
		return diag_usage("'%s' needs %s", sub, k == RUN ? "a command (after --)" : "a task");
	tool_start(&t);
	int st = dispatch(&t, k, &o, &r, since_ms, follow, argv + optind, argc - optind);
	r.spec.argv = NULL;
	spec_free(&r.spec);
	st = tool_finish(&t, st);
	out_free(&t.out);
	return st;
}
