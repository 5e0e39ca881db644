/*
 * bus: sd-bus calls to systemd's manager and units (see bus.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "bus.h"
#include "buf.h"
#include "timeutil.h"

#define DEST "org.freedesktop.systemd1"
#define MGR_PATH "/org/freedesktop/systemd1"
#define MGR "org.freedesktop.systemd1.Manager"

static int fail_bus(char *err, size_t errlen, const char *what, const sd_bus_error *e, int r)
{
	snprintf(err, errlen, "%s: %s", what,
		 e && sd_bus_error_is_set(e) && e->message ? e->message : strerror(r < 0 ? -r : r));
	return -1;
}

int bus_open(sd_bus **bus, char *err, size_t errlen)
{
	*bus = NULL;
	if (sd_booted() <= 0) {
		snprintf(err, errlen, "systemd is not running as PID 1 here; cce-task needs it");
		return -1;
	}
	int r;
	if (geteuid() == 0) {
		/* the private socket answers even without a dbus-daemon */
		r = sd_bus_new(bus);
		if (r >= 0)
			r = sd_bus_set_address(*bus, "unix:path=/run/systemd/private");
		if (r >= 0)
			r = sd_bus_start(*bus);
	} else {
		r = sd_bus_open_system(bus);
	}
	if (r < 0) {
		*bus = sd_bus_unref(*bus);
		fail_bus(err, errlen, "cannot connect to systemd", NULL, r);
		return -2;
	}
	sd_bus_error e = SD_BUS_ERROR_NULL;
	r = sd_bus_call_method(*bus, DEST, MGR_PATH, MGR, "Subscribe", &e, NULL, "");
	if (r < 0) {
		fail_bus(err, errlen, "cannot subscribe to systemd's job events", &e, r);
		sd_bus_error_free(&e);
		*bus = sd_bus_unref(*bus);
		return -2;
	}
	return 0;
}

int bus_job(sd_bus *bus, const char *method, struct bus_job *j)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *m = NULL;
	const char *path;
	j->path = NULL;
	j->result[0] = 0;
	int r = sd_bus_call_method(bus, DEST, MGR_PATH, MGR, method, &e, &m, "ss", j->unit, "replace");
	if (r >= 0)
		r = sd_bus_message_read(m, "o", &path);
	if (r < 0) {
		fail_bus(j->err, sizeof j->err, method, &e, r);
		snprintf(j->result, sizeof j->result, "failed");
	} else {
		j->path = strdup(path);
	}
	sd_bus_error_free(&e);
	sd_bus_message_unref(m);
	return r < 0 ? -1 : 0;
}

struct wait_ctx {
	struct bus_job *jobs;
	size_t n, left;
};

static int on_job_removed(sd_bus_message *m, void *arg, sd_bus_error *e)
{
	struct wait_ctx *w = arg;
	uint32_t id;
	const char *path, *unit, *result;
	if (sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) < 0)
		return 0;
	for (size_t i = 0; i < w->n; i++)
		if (w->jobs[i].path && !w->jobs[i].result[0] && !strcmp(w->jobs[i].path, path)) {
			snprintf(w->jobs[i].result, sizeof w->jobs[i].result, "%s", result);
			w->left--;
		}
	return 0;
}

void bus_jobs_wait(sd_bus *bus, struct bus_job *jobs, size_t n, int64_t timeout_ms)
{
	struct wait_ctx w = { jobs, n, 0 };
	for (size_t i = 0; i < n; i++)
		if (jobs[i].path && !jobs[i].result[0])
			w.left++;
	/* JobRemoved signals that arrived while the jobs were queued are in
	 * the connection's queue already: the match sees them too */
	sd_bus_slot *slot = NULL;
	sd_bus_match_signal(bus, &slot, DEST, MGR_PATH, MGR, "JobRemoved", on_job_removed, &w);
	int64_t deadline = time_mono_ms() + timeout_ms;
	while (w.left > 0) {
		int r = sd_bus_process(bus, NULL);
		if (r < 0)
			break;
		if (r > 0)
			continue;
		int64_t now = time_mono_ms();
		if (now >= deadline)
			break;
		if (sd_bus_wait(bus, (uint64_t)(deadline - now) * 1000) < 0)
			break;
	}
	for (size_t i = 0; i < n; i++)
		if (!jobs[i].result[0])
			snprintf(jobs[i].result, sizeof jobs[i].result, "timeout");
	sd_bus_slot_unref(slot);
}

void bus_job_free(struct bus_job *j)
{
	free(j->path);
	j->path = NULL;
}

int bus_reload(sd_bus *bus, char *err, size_t errlen)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	/* Reload answers once the reload is done */
	int r = sd_bus_call_method(bus, DEST, MGR_PATH, MGR, "Reload", &e, NULL, "");
	if (r < 0)
		fail_bus(err, errlen, "daemon-reload", &e, r);
	sd_bus_error_free(&e);
	return r < 0 ? -1 : 0;
}

static void read_str(sd_bus_message *m, char *out, size_t outlen)
{
	const char *s = "";
	if (sd_bus_message_read(m, "v", "s", &s) >= 0)
		snprintf(out, outlen, "%s", s);
}

/* one property of GetAll's a{sv} into p, or skipped */
static int read_prop(sd_bus_message *m, const char *name, struct unit_props *p)
{
	static const struct {
		const char *name;
		char type;
		size_t off, len;
	} tab[] = {
#define S(n, f) { n, 's', offsetof(struct unit_props, f), sizeof ((struct unit_props *)0)->f }
#define T(n, c, f) { n, c, offsetof(struct unit_props, f), 0 }
		S("LoadState", load), S("ActiveState", active), S("SubState", sub),
		S("Result", result), S("ControlGroup", cgroup),
		T("StateChangeTimestamp", 't', state_change_us),
		T("InactiveExitTimestamp", 't', inactive_exit_us),
		T("ExecMainStartTimestamp", 't', exec_start_us),
		T("MemoryCurrent", 't', mem_current), T("CPUUsageNSec", 't', cpu_ns),
		T("NRestarts", 'u', restarts), T("MainPID", 'u', main_pid),
		T("ExecMainCode", 'i', exec_code), T("ExecMainStatus", 'i', exec_status),
		T("NeedDaemonReload", 'b', need_reload),
#undef S
#undef T
	};
	for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
		if (strcmp(tab[i].name, name))
			continue;
		char *f = (char *)p + tab[i].off;
		if (tab[i].type == 's') {
			read_str(m, f, tab[i].len);
			return 0;
		}
		if (tab[i].type == 'b') {
			int b = 0;
			int r = sd_bus_message_read(m, "v", "b", &b);
			*(bool *)f = b;
			return r;
		}
		char sig[2] = { tab[i].type, 0 };
		return sd_bus_message_read(m, "v", sig, f);
	}
	return sd_bus_message_skip(m, "v");
}

static int get_all(sd_bus *bus, const char *path, const char *iface, struct unit_props *p,
		   char *err, size_t errlen)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *m = NULL;
	int r = sd_bus_call_method(bus, DEST, path, "org.freedesktop.DBus.Properties", "GetAll", &e,
				   &m, "s", iface);
	if (r < 0) {
		fail_bus(err, errlen, "cannot read the unit's properties", &e, r);
		sd_bus_error_free(&e);
		return -1;
	}
	r = sd_bus_message_enter_container(m, 'a', "{sv}");
	while (r > 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		const char *name;
		if ((r = sd_bus_message_read(m, "s", &name)) < 0 || (r = read_prop(m, name, p)) < 0 ||
		    (r = sd_bus_message_exit_container(m)) < 0)
			break;
		r = 1;
	}
	sd_bus_message_unref(m);
	if (r < 0)
		return fail_bus(err, errlen, "cannot parse the unit's properties", NULL, r);
	return 0;
}

int bus_unit_props(sd_bus *bus, const char *unit, struct unit_props *p, char *err, size_t errlen)
{
	memset(p, 0, sizeof *p);
	char *path = NULL;
	if (sd_bus_path_encode("/org/freedesktop/systemd1/unit", unit, &path) < 0)
		return fail_bus(err, errlen, "cannot encode the unit's path", NULL, ENOMEM);
	int r = get_all(bus, path, "org.freedesktop.systemd1.Unit", p, err, errlen);
	if (r == 0 && strcmp(p->load, "not-found"))
		r = get_all(bus, path, "org.freedesktop.systemd1.Service", p, err, errlen);
	free(path);
	return r;
}

char **bus_list_units(sd_bus *bus, const char *pattern, char *err, size_t errlen)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *m = NULL, *q = NULL;
	int r = sd_bus_message_new_method_call(bus, &q, DEST, MGR_PATH, MGR, "ListUnitsByPatterns");
	if (r >= 0)
		r = sd_bus_message_append_strv(q, (char *[]){ NULL });
	if (r >= 0)
		r = sd_bus_message_append_strv(q, (char *[]){ (char *)pattern, NULL });
	if (r >= 0)
		r = sd_bus_call(bus, q, 0, &e, &m);
	sd_bus_message_unref(q);
	size_t n = 0, cap = 16;
	char **v = xcalloc(cap, sizeof *v);
	if (r >= 0)
		r = sd_bus_message_enter_container(m, 'a', "(ssssssouso)");
	const char *name, *load, *active;
	while (r > 0 && (r = sd_bus_message_read(m, "(ssssssouso)", &name, NULL, &load, &active,
						  NULL, NULL, NULL, NULL, NULL, NULL)) > 0) {
		/* a failed unit whose file is gone stays loaded until reset:
		 * nothing of it is left to stop */
		if (!strcmp(load, "not-found") && (!strcmp(active, "inactive") || !strcmp(active, "failed")))
			continue;
		if (n + 1 >= cap)
			v = xrealloc(v, (cap *= 2) * sizeof *v);
		v[n++] = xstrdup(name);
		v[n] = NULL;
	}
	sd_bus_message_unref(m);
	if (r < 0) {
		fail_bus(err, errlen, "cannot list units", &e, r);
		sd_bus_error_free(&e);
		for (size_t i = 0; i < n; i++)
			free(v[i]);
		free(v);
		return NULL;
	}
	return v;
}
