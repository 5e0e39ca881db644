/*
 * apply: make this node's task units match its placements.
 *
 * Crash safety without a journal of its own: the unit files are the
 * state, written crash-safely, and a unit is (re)started whenever systemd
 * last started it (InactiveExitTimestamp) before its file was written. So
 * a run killed between writing a file and starting its unit leaves a file
 * newer than the unit's last start, and the next run starts it; a unit
 * that ran its current file and failed is left alone (it is reported, not
 * hidden by a restart). Units no longer placed are stopped before their
 * files go, and are found again from systemd's loaded units if a run was
 * killed after removing a file. Nothing is touched unless every placement
 * line was good.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus.h"
#include "fsutil.h"
#include "task.h"
#include "tool.h"
#include "units.h"

struct want {
	struct task_spec s;
	char unit[UNIT_NAME_MAX + 1];
	bool written, existed;
};

static void release_of(const char *dir, char *out, size_t outlen)
{
	char path[PATH_MAX], target[PATH_MAX];
	snprintf(path, sizeof path, "%s/current", dir);
	ssize_t n = readlink(path, target, sizeof target - 1);
	out[0] = 0;
	if (n > 0) {
		target[n] = 0;
		snprintf(out, outlen, "%s", basename(target));
	}
}

/* the unit file written when it differs; -1 with err */
static int write_unit(const struct task_opts *o, struct want *w, char *err, size_t errlen)
{
	char release[256], path[PATH_MAX];
	struct buf file, old;
	buf_init(&file);
	buf_init(&old);
	release_of(w->s.dir, release, sizeof release);
	int r = unit_render(&w->s, release, &file, err, errlen);
	snprintf(path, sizeof path, "%s/%s", o->unit_dir, w->unit);
	w->existed = fs_read_file(path, UNIT_MAX_BYTES * 2, &old, NULL, 0) == 0;
	if (r == 0 && (!w->existed || old.len != file.len || memcmp(old.data, file.data, file.len))) {
		r = fs_replace(path, file.data, file.len, 0644, err, errlen);
		w->written = r == 0;
	}
	if (r == 0 && w->s.kind == KIND_SERVICE) {
		/* enabled: the link `systemctl enable` would make */
		char link[PATH_MAX], tmp[PATH_MAX + 8];
		snprintf(link, sizeof link, "%s/multi-user.target.wants/%s", o->unit_dir, w->unit);
		snprintf(tmp, sizeof tmp, "%s.tmp", link);
		struct stat st;
		if (lstat(link, &st) < 0) {
			char wants[PATH_MAX];
			snprintf(wants, sizeof wants, "%s/multi-user.target.wants", o->unit_dir);
			fs_mkdirs(wants, 0755);
			unlink(tmp);
			if (symlink(path, tmp) < 0 || rename(tmp, link) < 0) {
				snprintf(err, errlen, "cannot enable '%.300s': %s", link, strerror(errno));
				r = -1;
			}
		}
	}
	buf_free(&file);
	buf_free(&old);
	return r;
}

static void remove_unit(const struct task_opts *o, const char *unit)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/multi-user.target.wants/%s", o->unit_dir, unit);
	unlink(path);
	snprintf(path, sizeof path, "%s/%s", o->unit_dir, unit);
	unlink(path);
	snprintf(path, sizeof path, TASK_RUN_DIR "/%s.stop", unit);
	unlink(path);
}

static int cmp_want(const void *a, const void *b)
{
	return strcmp(((const struct want *)a)->unit, ((const struct want *)b)->unit);
}

/* every placement line into ws; false when any was rejected */
static bool read_wants(struct tool *t, struct want **ws, size_t *n)
{
	struct jsonl_line line;
	struct json_doc doc;
	json_doc_init(&doc);
	size_t cap = 0;
	char err[512];
	int r;
	while ((r = tool_next(t, &line, &doc, -1)) == JSONL_LINE) {
		/* cce-sched's events and unplaced replicas are not placements */
		if (json_get(&doc, 0, "event") >= 0 || json_get(&doc, 0, "error") >= 0)
			continue;
		if (*n == cap)
			*ws = xrealloc(*ws, (cap = cap ? cap * 2 : 64) * sizeof **ws);
		struct want *w = &(*ws)[*n];
		memset(w, 0, sizeof *w);
		if (spec_parse(&doc, &w->s, true, err, sizeof err) < 0) {
			spec_free(&w->s);
			if (jsonl_reject(t->in, &line, "%s", err) == JSONL_FATAL)
				break;
			continue;
		}
		unit_name(w->s.task, w->s.replica, w->unit, sizeof w->unit);
		for (size_t i = 0; i < *n; i++)
			if (!strcmp((*ws)[i].unit, w->unit)) {
				spec_free(&w->s);
				jsonl_reject(t->in, &line, "task '%s' replica %lld: placed twice",
					     (*ws)[i].s.task, (long long)(*ws)[i].s.replica);
				goto next;
			}
		(*n)++;
next:;
	}
	json_doc_free(&doc);
	if (r == JSONL_FATAL)
		return false;
	if (*n)
		qsort(*ws, *n, sizeof **ws, cmp_want);
	return jsonl_rejected(t->in) == 0 && !t->input_failed;
}

/* stop and remove the units of ours that are not wanted; true when a file
 * went (systemd must reload) */
static bool stop_gone(sd_bus *bus, const struct task_opts *o, const struct unit_list *have,
		      const struct unit_list *keep, struct out *out, int *st)
{
	size_t n = 0;
	struct bus_job *jobs = xcalloc(have->n + 1, sizeof *jobs);
	for (size_t i = 0; i < have->n; i++)
		if (!units_has(keep, have->v[i])) {
			snprintf(jobs[n].unit, sizeof jobs[n].unit, "%s", have->v[i]);
			bus_job(bus, "StopUnit", &jobs[n++]);
		}
	bus_jobs_wait(bus, jobs, n, o->wait_ms);
	struct buf b;
	buf_init(&b);
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(jobs[i].result, "done")) {
			remove_unit(o, jobs[i].unit);
			/* a failed unit would stay loaded, and listed */
			sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
					   "org.freedesktop.systemd1.Manager", "ResetFailedUnit", NULL,
					   NULL, "s", jobs[i].unit);
		} else
			*st = CCE_EX_FAIL;
		buf_reset(&b);
		units_head(&b, jobs[i].unit);
		job_outcome(&b, bus, &jobs[i], "stopped");
		out_line(out, b.data, b.len);
		bus_job_free(&jobs[i]);
	}
	buf_free(&b);
	free(jobs);
	return n > 0;
}

/* file mtime in microseconds, 0 when missing */
static uint64_t mtime_us(const struct task_opts *o, const char *unit)
{
	char path[PATH_MAX];
	struct stat st;
	snprintf(path, sizeof path, "%s/%s", o->unit_dir, unit);
	if (stat(path, &st) < 0)
		return 0;
	return (uint64_t)st.st_mtim.tv_sec * 1000000 + (uint64_t)st.st_mtim.tv_nsec / 1000;
}

/* start or restart every wanted unit last started before its file was
 * written (p: their properties), then print one line per wanted unit */
static void start_wanted(sd_bus *bus, const struct task_opts *o, struct want *ws, size_t n,
			 const struct unit_props *p, struct out *out, int *st)
{
	struct bus_job *jobs = xcalloc(n + 1, sizeof *jobs);
	const char **done = xcalloc(n + 1, sizeof *done);
	for (size_t i = 0; i < n; i++) {
		snprintf(jobs[i].unit, sizeof jobs[i].unit, "%s", ws[i].unit);
		snprintf(jobs[i].result, sizeof jobs[i].result, "done");
		done[i] = "unchanged";
		if (p[i].inactive_exit_us > mtime_us(o, ws[i].unit))
			continue;
		bool live = !strcmp(p[i].active, "active") || !strcmp(p[i].active, "activating") ||
			    !strcmp(p[i].active, "reloading");
		done[i] = live ? "restarted" : "started";
		bus_job(bus, live ? "RestartUnit" : "StartUnit", &jobs[i]);
	}
	bus_jobs_wait(bus, jobs, n, o->wait_ms);
	struct buf b;
	buf_init(&b);
	for (size_t i = 0; i < n; i++) {
		buf_reset(&b);
		units_head(&b, ws[i].unit);
		job_outcome(&b, bus, &jobs[i], done[i]);
		out_line(out, b.data, b.len);
		if (strcmp(jobs[i].result, "done"))
			*st = CCE_EX_FAIL;
		bus_job_free(&jobs[i]);
	}
	buf_free(&b);
	free(done);
	free(jobs);
}

/* the wanted units' properties into p, systemd reloaded first when a file
 * changed or it still has an older one: 0, or -1 reported */
static int props_reloaded(sd_bus *bus, bool changed, struct want *ws, size_t n,
			  struct unit_props *p)
{
	char err[512];
	char **units = xcalloc(n + 1, sizeof *units);
	for (size_t i = 0; i < n; i++)
		units[i] = ws[i].unit;
	int r = changed ? 0 : bus_units_props(bus, units, n, true, p, err, sizeof err);
	for (size_t i = 0; i < n && r == 0 && !changed; i++)
		changed = p[i].need_reload;
	if (r == 0 && changed)
		r = bus_reload(bus, err, sizeof err);
	if (r == 0 && changed)
		r = bus_units_props(bus, units, n, true, p, err, sizeof err);
	if (r < 0)
		diag_error("%s", err);
	free(units);
	return r;
}

int cmd_apply(struct tool *t, const struct task_opts *o, char *const *files, int nfiles)
{
	sd_bus *bus;
	char err[512];
	int r = task_bus(&bus);
	if (r)
		return r;
	struct want *ws = NULL;
	size_t n = 0;
	int st = 0, lock = -1;
	tool_open_input(t, files, nfiles, true);
	if (!read_wants(t, &ws, &n)) {
		diag_error("nothing applied: %s", t->input_failed ? "the placements could not be read"
								  : "the placements had bad lines");
		st = t->input_failed ? CCE_EX_IOERR : CCE_EX_DATAERR;
		goto out;
	}
	fs_mkdirs(TASK_RUN_DIR, 0755);
	if ((lock = fs_lock(TASK_RUN_DIR "/apply.lock", true, err, sizeof err)) < 0 ||
	    fs_mkdirs(o->unit_dir, 0755) < 0) {
		diag_error("%s", lock < 0 ? err : o->unit_dir);
		st = CCE_EX_IOERR;
		goto out;
	}
	struct unit_list have, keep = { 0 };
	if (units_list(bus, o->unit_dir, NULL, 0, &have, err, sizeof err) < 0) {
		diag_error("%s", err);
		st = CCE_EX_FAIL;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		keep.v = xrealloc(keep.v, (i + 2) * sizeof *keep.v);
		keep.v[keep.n++] = ws[i].unit;
	}
	bool changed = stop_gone(bus, o, &have, &keep, &t->out, &st);
	free(keep.v);
	units_free(&have);
	for (size_t i = 0; i < n; i++) {
		if (write_unit(o, &ws[i], err, sizeof err) < 0) {
			diag_error("%s: %s", ws[i].unit, err);
			st = CCE_EX_IOERR;
			goto out;
		}
		changed |= ws[i].written;
	}
	struct unit_props *p = xcalloc(n + 1, sizeof *p);
	if (props_reloaded(bus, changed, ws, n, p) < 0)
		st = CCE_EX_FAIL;
	else
		start_wanted(bus, o, ws, n, p, &t->out, &st);
	free(p);
out:
	for (size_t i = 0; i < n; i++)
		spec_free(&ws[i].s);
	free(ws);
	if (lock >= 0)
		fs_unlock(lock);
	sd_bus_flush_close_unref(bus);
	return st;
}
