/*
 * cce-task's parts. spec.c is pure (no systemd, no file system but
 * getpwnam): a placement line read into a task_spec, its unit name, and
 * the unit file systemd is given. bus.c wraps sd-bus: the connection to
 * PID 1, jobs waited for, unit properties read. apply.c, status.c, run.c
 * and logs.c are the subcommands; they report through diag and return the
 * contract's exit codes.
 *
 * Memory: a spec owns its strings (spec_free); apply holds every placement
 * read (each at most --max-line) and one rendered unit (at most
 * UNIT_MAX_BYTES) at a time; run keeps at most --output-max of the job's
 * output; status and logs hold one unit or one journal entry at a time.
 */
#ifndef CCE_TASK_H
#define CCE_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "json.h"
#include "out.h"

#define UNIT_DIR_DEFAULT "/etc/systemd/system"
#define UNIT_MAX_BYTES (64 * 1024)
#define UNIT_NAME_MAX 255
#define TASK_PIDS_DEFAULT 512
/* where the units' ExecStopPost= step leaves what systemd forgets: on
 * cgroup v1 whether the last stop was an OOM kill, and the memory peak */
#define TASK_RUN_DIR "/run/cce-task"

enum restart_policy { RESTART_ON_FAILURE, RESTART_ALWAYS, RESTART_NEVER };
enum task_kind { KIND_SERVICE, KIND_JOB };

struct task_spec {
	char *task;
	int64_t replica;
	char **argv;             /* NULL-terminated */
	size_t argc;
	char **env;              /* "KEY=VALUE", NULL-terminated */
	size_t nenv;
	char *dir;               /* the app's directory, default /opt/TASK */
	char *user;              /* NULL: root */
	enum restart_policy restart;
	enum task_kind kind;
	int64_t timeout_ms;      /* 0: none */
	int64_t cpu_milli;       /* thousandths of a CPU, 0: no quota */
	int64_t mem_mb;          /* 0: no limit */
	int64_t pids;
};

/* The placement in object token 0 of d into s: 0, or -1 with err
 * ("run: missing", "restart: 'x' is not always, on-failure or never",
 * "user: 'x' does not exist"). check_user looks the user up (getpwnam). */
int spec_parse(const struct json_doc *d, struct task_spec *s, bool check_user, char *err,
	       size_t errlen);
void spec_free(struct task_spec *s);

/* "cce-TASK@REPLICA.service", the task escaped as \xNN where systemd
 * would refuse a byte; -1 when the name would be over UNIT_NAME_MAX */
int unit_name(const char *task, int64_t replica, char *out, size_t outlen);
/* The inverse: task (unescaped, caller frees) and replica of a unit name
 * cce-task made, or -1 for any other name. */
int unit_parse_name(const char *unit, char **task, int64_t *replica);
/* The argument as a unit file's ExecStart= or Environment= reads it back:
 * double-quoted with C escapes; '%' doubled (specifiers) with QUOTE_PCT,
 * '$' doubled (ExecStart= expands $NAME) with QUOTE_DOLLAR. */
enum { QUOTE_PCT = 1, QUOTE_DOLLAR = 2 };
void unit_quote(struct buf *b, const char *s, unsigned how);
/* The argument for a transient unit (no specifiers): '$' doubled. */
char *unit_dollar_escape(const char *s);
/* The unit file of s; release is the release id that dir/current names
 * ("" when none), kept in the file so that a new release restarts it. */
int unit_render(const struct task_spec *s, const char *release, struct buf *out, char *err,
		size_t errlen);
/* The shell step run as ExecStopPost= that records the stop in
 * TASK_RUN_DIR/UNIT.stop as "oom=0|1 oom_kill=N peak=BYTES cpu_us=N" (its
 * $1 is the unit's name; $2, $3 and $4, when given, replace /sys/fs/cgroup,
 * /proc/self/cgroup and TASK_RUN_DIR); plain text, to be escaped as
 * ExecStart= is. */
const char *unit_stoppost_script(void);
/* "%.1f"-like CPUQuota= percent of thousandths: 500 -> "50%" */
void unit_cpu_quota(struct buf *b, int64_t cpu_milli);

/* ---- subcommands ---- */

/* Connects to systemd (bus_open) for a subcommand, or says why not:
 * 0, or the exit code (69 without systemd as PID 1). */
struct sd_bus;
int task_bus(struct sd_bus **bus);
struct sd_bus;
struct task_opts {
	const char *unit_dir;
	bool unbuffered;
	int64_t wait_ms;         /* how long a start or stop may take */
};
struct tool;
int cmd_apply(struct tool *t, const struct task_opts *o, char *const *files, int nfiles);
int cmd_status(struct out *out, const struct task_opts *o, char *const *tasks, int ntasks);
int cmd_stop_restart(struct out *out, const struct task_opts *o, bool restart,
		     char *const *tasks, int ntasks);
struct run_opts {
	struct task_spec spec;
	uint64_t output_max;
};
int cmd_run(struct out *out, const struct task_opts *o, struct run_opts *r);
int cmd_logs(struct out *out, const char *task, int64_t since_ms, bool follow);

#endif
