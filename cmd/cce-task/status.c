/*
 * status, stop and restart: what systemd says of this node's task units,
 * read over sd-bus (never systemctl's text), one JSON line per unit.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "diag.h"
#include "fsutil.h"
#include "task.h"
#include "units.h"

/* the memory peak of a live unit from its cgroup (v1, then v2), or 0 */
static uint64_t cgroup_peak(const char *cg)
{
	char path[1024];
	for (size_t i = 0; i < 2 && cg[0]; i++) {
		if (i == 0)
			snprintf(path, sizeof path, "/sys/fs/cgroup/memory%s/memory.max_usage_in_bytes", cg);
		else
			snprintf(path, sizeof path, "/sys/fs/cgroup%s/memory.peak", cg);
		FILE *f = fopen(path, "r");
		unsigned long long v;
		if (!f)
			continue;
		int ok = fscanf(f, "%llu", &v) == 1;
		fclose(f);
		if (ok)
			return v;
	}
	return 0;
}

/* the release id kept in the unit file's second line */
static void file_release(const char *unit_dir, const char *unit, struct buf *b)
{
	char path[1024], line[512];
	snprintf(path, sizeof path, "%s/%s", unit_dir, unit);
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "# release: ", 11)) {
			line[strcspn(line, "\n")] = 0;
			if (line[11])
				buf_add_json_str(b, line + 11, strlen(line + 11));
			break;
		}
	fclose(f);
}

static void mb(struct buf *b, const char *key, uint64_t bytes)
{
	/* MemoryCurrent is UINT64_MAX when unknown */
	if (bytes == UINT64_MAX || bytes == 0)
		buf_addf(b, ",\"%s\":null", key);
	else
		buf_addf(b, ",\"%s\":%.1f", key, (double)bytes / (1 << 20));
}

void status_line(struct buf *b, const char *unit_dir, const char *unit, const struct unit_props *p)
{
	units_head(b, unit);
	buf_addf(b, ",\"state\":\"%s\",\"sub\":\"%s\",\"since\":%llu,\"restarts\":%u,\"pid\":%u",
		 p->active, p->sub, (unsigned long long)(p->state_change_us / 1000), p->restarts,
		 p->main_pid);
	bool oom;
	uint64_t peak, cpu_us, cpu_ns = p->cpu_ns;
	units_stop_record(unit, &oom, &peak, &cpu_us);
	if (p->cgroup[0])
		peak = cgroup_peak(p->cgroup);
	if (cpu_ns == UINT64_MAX)
		cpu_ns = p->cgroup[0] ? units_cgroup_cpu_ns(p->cgroup)
				      : cpu_us == UINT64_MAX ? cpu_us : cpu_us * 1000;
	mb(b, "mem_mb", p->cgroup[0] ? p->mem_current : 0);
	mb(b, "mem_peak_mb", peak);
	if (cpu_ns == UINT64_MAX)
		buf_adds(b, ",\"cpu_ms\":null");
	else
		buf_addf(b, ",\"cpu_ms\":%llu", (unsigned long long)(cpu_ns / 1000000));
	/* ExecMainCode is a CLD_* code: 1 exited, 2 killed, 3 dumped */
	if (p->exec_code == 1)
		buf_addf(b, ",\"exit\":%d,\"signal\":null", p->exec_status);
	else if (p->exec_code == 2 || p->exec_code == 3)
		buf_addf(b, ",\"exit\":null,\"signal\":\"%s\"", sigabbrev_np(p->exec_status) ?
			 sigabbrev_np(p->exec_status) : "?");
	else
		buf_adds(b, ",\"exit\":null,\"signal\":null");
	buf_addf(b, ",\"result\":\"%s\",\"oom\":%s,\"release\":", p->result,
		 oom || !strcmp(p->result, "oom-kill") ? "true" : "false");
	size_t before = b->len;
	file_release(unit_dir, unit, b);
	if (b->len == before)
		buf_adds(b, "null");
	buf_addc(b, '}');
}

int cmd_status(struct out *out, const struct task_opts *o, char *const *tasks, int ntasks)
{
	sd_bus *bus;
	char err[512];
	int r = task_bus(&bus);
	if (r)
		return r;
	struct unit_list l;
	if (units_list(bus, o->unit_dir, tasks, ntasks, &l, err, sizeof err) < 0) {
		diag_error("%s", err);
		sd_bus_flush_close_unref(bus);
		return CCE_EX_FAIL;
	}
	int st = 0;
	struct buf b;
	buf_init(&b);
	struct unit_props *p = xcalloc(l.n + 1, sizeof *p);
	if (bus_units_props(bus, l.v, l.n, false, p, err, sizeof err) < 0) {
		diag_error("%s", err);
		st = CCE_EX_FAIL;
	}
	for (size_t i = 0; i < l.n && !out_done(out) && !st; i++) {
		buf_reset(&b);
		status_line(&b, o->unit_dir, l.v[i], &p[i]);
		out_line(out, b.data, b.len);
	}
	free(p);
	for (int i = 0; i < ntasks; i++) {
		bool found = false;
		for (size_t k = 0; k < l.n && !found; k++) {
			char *task;
			int64_t rep;
			if (unit_parse_name(l.v[k], &task, &rep) == 0) {
				found = !strcmp(task, tasks[i]);
				free(task);
			}
		}
		if (!found) {
			diag_error("no unit of task '%s' on this node", tasks[i]);
			st = CCE_EX_FAIL;
		}
	}
	buf_free(&b);
	units_free(&l);
	sd_bus_flush_close_unref(bus);
	return st;
}

/* the job's outcome as an apply/stop/restart line's end */
void job_outcome(struct buf *b, sd_bus *bus, const struct bus_job *j, const char *done)
{
	if (!strcmp(j->result, "done")) {
		buf_addf(b, ",\"action\":\"%s\"}", done);
		return;
	}
	struct unit_props p;
	char err[256];
	buf_adds(b, ",\"action\":\"failed\",\"error\":");
	struct buf e;
	buf_init(&e);
	if (j->err[0])
		buf_adds(&e, j->err);
	else if (bus_unit_props(bus, j->unit, &p, err, sizeof err) == 0)
		buf_addf(&e, "job %s, unit %s/%s, result %s", j->result, p.active, p.sub, p.result);
	else
		buf_addf(&e, "job %s", j->result);
	buf_add_json_str(b, e.data, e.len);
	buf_free(&e);
	buf_addc(b, '}');
}

int cmd_stop_restart(struct out *out, const struct task_opts *o, bool restart,
		     char *const *tasks, int ntasks)
{
	sd_bus *bus;
	char err[512];
	int r = task_bus(&bus);
	if (r)
		return r;
	int st = 0;
	struct unit_list l;
	if (units_list(bus, o->unit_dir, tasks, ntasks, &l, err, sizeof err) < 0) {
		diag_error("%s", err);
		sd_bus_flush_close_unref(bus);
		return CCE_EX_FAIL;
	}
	if (l.n == 0) {
		diag_error("no unit of %s on this node", ntasks == 1 ? tasks[0] : "these tasks");
		st = CCE_EX_FAIL;
	}
	struct bus_job *jobs = xcalloc(l.n + 1, sizeof *jobs);
	for (size_t i = 0; i < l.n; i++) {
		snprintf(jobs[i].unit, sizeof jobs[i].unit, "%s", l.v[i]);
		bus_job(bus, restart ? "RestartUnit" : "StopUnit", &jobs[i]);
	}
	bus_jobs_wait(bus, jobs, l.n, o->wait_ms);
	struct buf b;
	buf_init(&b);
	for (size_t i = 0; i < l.n; i++) {
		buf_reset(&b);
		units_head(&b, l.v[i]);
		job_outcome(&b, bus, &jobs[i], restart ? "restarted" : "stopped");
		out_line(out, b.data, b.len);
		if (strcmp(jobs[i].result, "done"))
			st = CCE_EX_FAIL;
		bus_job_free(&jobs[i]);
	}
	free(jobs);
	buf_free(&b);
	units_free(&l);
	sd_bus_flush_close_unref(bus);
	return st;
}
