/*
 * units: the cce-task units of this node, as files and as systemd knows
 * them, and their status lines. A unit is ours when its name is one
 * unit_name makes; the set is the union of the unit files in the unit
 * directory and the units systemd has loaded, so that a unit whose file an
 * interrupted apply already removed is still found and stopped.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "diag.h"
#include "fsutil.h"
#include "task.h"
#include "units.h"

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool wanted(const char *unit, char *const *tasks, int ntasks)
{
	char *task;
	int64_t replica;
	if (unit_parse_name(unit, &task, &replica) < 0)
		return false;
	bool ok = ntasks == 0;
	for (int i = 0; i < ntasks && !ok; i++)
		ok = !strcmp(tasks[i], task);
	free(task);
	return ok;
}

static void add(struct unit_list *l, const char *name)
{
	if (l->n + 1 >= l->cap)
		l->v = xrealloc(l->v, (l->cap = l->cap ? l->cap * 2 : 64) * sizeof *l->v);
	l->v[l->n++] = xstrdup(name);
	l->v[l->n] = NULL;
}

int units_list(sd_bus *bus, const char *unit_dir, char *const *tasks, int ntasks,
	       struct unit_list *l, char *err, size_t errlen)
{
	memset(l, 0, sizeof *l);
	DIR *d = opendir(unit_dir);
	if (!d && errno != ENOENT) {
		snprintf(err, errlen, "cannot read '%s': %s", unit_dir, strerror(errno));
		return -1;
	}
	for (struct dirent *e; d && (e = readdir(d));)
		if (wanted(e->d_name, tasks, ntasks))
			add(l, e->d_name);
	if (d)
		closedir(d);
	char **loaded = bus_list_units(bus, "cce-*@*.service", err, errlen);
	if (!loaded)
		return -1;
	for (char **p = loaded; *p; p++) {
		if (wanted(*p, tasks, ntasks))
			add(l, *p);
		free(*p);
	}
	free(loaded);
	if (l->n)
		qsort(l->v, l->n, sizeof *l->v, cmp_str);
	size_t k = 0;
	for (size_t i = 0; i < l->n; i++) {
		if (k && !strcmp(l->v[k - 1], l->v[i]))
			free(l->v[i]);
		else
			l->v[k++] = l->v[i];
	}
	l->n = k;
	if (l->v)
		l->v[k] = NULL;
	return 0;
}

void units_free(struct unit_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof *l);
}

bool units_has(const struct unit_list *l, const char *unit)
{
	return l->n && bsearch(&unit, l->v, l->n, sizeof *l->v, cmp_str);
}

void units_head(struct buf *b, const char *unit)
{
	char *task;
	int64_t replica;
	buf_adds(b, "{\"task\":");
	if (unit_parse_name(unit, &task, &replica) == 0) {
		buf_add_json_str(b, task, strlen(task));
		free(task);
	} else {
		buf_adds(b, "null");
		replica = 0;
	}
	buf_addf(b, ",\"replica\":%lld,\"unit\":", (long long)replica);
	buf_add_json_str(b, unit, strlen(unit));
}

/* "oom=K oom_kill=N peak=BYTES cpu_us=N", what the units' stop step wrote */
void units_stop_record(const char *unit, bool *oom, uint64_t *peak, uint64_t *cpu_us)
{
	units_stop_record_in(TASK_RUN_DIR, unit, oom, peak, cpu_us);
}

void units_stop_record_in(const char *dir, const char *unit, bool *oom, uint64_t *peak,
			  uint64_t *cpu_us)
{
	char path[1024], line[256];
	*oom = false;
	*peak = 0;
	*cpu_us = UINT64_MAX;
	snprintf(path, sizeof path, "%s/%s.stop", dir, unit);
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	if (fgets(line, sizeof line, f)) {
		char *p = strstr(line, "oom=");
		*oom = p && p[4] == '1';
		p = strstr(line, "peak=");
		if (p)
			*peak = strtoull(p + 5, NULL, 10);
		p = strstr(line, "cpu_us=");
		if (p && p[7] != '0')
			*cpu_us = strtoull(p + 7, NULL, 10);
	}
	fclose(f);
}

uint64_t units_cgroup_cpu_ns(const char *cg)
{
	static const char *const base[] = { "/sys/fs/cgroup/unified", "/sys/fs/cgroup" };
	char path[1024], line[128];
	for (size_t i = 0; i < 2 && cg[0]; i++) {
		snprintf(path, sizeof path, "%s%s/cpu.stat", base[i], cg);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		unsigned long long us;
		while (fgets(line, sizeof line, f))
			if (sscanf(line, "usage_usec %llu", &us) == 1) {
				fclose(f);
				return (uint64_t)us * 1000;
			}
		fclose(f);
	}
	return UINT64_MAX;
}
