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

struct prop_call {
	struct unit_props *p;
	const char *name;
	size_t *left;
	int *r;
	char *err;
	size_t errlen;
};

static int on_prop(sd_bus_message *m, void *arg, sd_bus_error *ret)
{
	struct prop_call *c = arg;
	(*c->left)--;
	const sd_bus_error *e = sd_bus_message_get_error(m);
	int r = e ? -sd_bus_message_get_errno(m) : read_prop(m, c->name, c->p);
	/* a unit is there or not as LoadState says; a property a unit of
	 * another kind lacks is left unknown */
	if (r < 0 && *c->r == 0 && !strcmp(c->name, "LoadState")) {
		*c->r = r;
		fail_bus(c->err, c->errlen, "cannot read the unit's properties", e, r);
	}
	return 0;
}

/* the properties each use needs (GetAll of a service makes systemd read
 * every cgroup statistic and costs ~1 ms; one Get is cheap) */
static const struct {
	const char *iface, *name;
	bool apply;
} wanted_props[] = {
	{ "Unit", "LoadState", true }, { "Unit", "ActiveState", true },
	{ "Unit", "InactiveExitTimestamp", true }, { "Unit", "NeedDaemonReload", true },
	{ "Unit", "SubState", false }, { "Unit", "StateChangeTimestamp", false },
	{ "Service", "Result", false }, { "Service", "ControlGroup", false },
	{ "Service", "MemoryCurrent", false }, { "Service", "CPUUsageNSec", false },
	{ "Service", "NRestarts", false }, { "Service", "MainPID", false },
	{ "Service", "ExecMainCode", false }, { "Service", "ExecMainStatus", false },
};
#define NPROPS (sizeof wanted_props / sizeof wanted_props[0])

int bus_units_props(sd_bus *bus, char *const *units, size_t n, bool for_apply,
		    struct unit_props *p, char *err, size_t errlen)
{
	struct prop_call *calls = xcalloc(n * NPROPS + 1, sizeof *calls);
	size_t left = 0, k = 0;
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		memset(&p[i], 0, sizeof p[i]);
		p[i].mem_current = p[i].cpu_ns = UINT64_MAX;
		char *path = NULL;
		if (sd_bus_path_encode("/org/freedesktop/systemd1/unit", units[i], &path) < 0)
			return fail_bus(err, errlen, "cannot encode the unit's path", NULL, ENOMEM);
		for (size_t j = 0; j < NPROPS && r == 0; j++) {
			if (for_apply && !wanted_props[j].apply)
				continue;
			char iface[64];
			snprintf(iface, sizeof iface, "org.freedesktop.systemd1.%s", wanted_props[j].iface);
			struct prop_call *c = &calls[k++];
			*c = (struct prop_call){ &p[i], wanted_props[j].name, &left, &r, err, errlen };
			/* the call's slot is floating: it goes with its reply */
			int q = sd_bus_call_method_async(bus, NULL, DEST, path, "org.freedesktop.DBus.Properties",
							 "Get", on_prop, c, "ss", iface, wanted_props[j].name);
			if (q < 0)
				r = fail_bus(err, errlen, "cannot ask for the unit's properties", NULL, q);
			else
				left++;
		}
		free(path);
	}
	while (left > 0) {
		int q = sd_bus_process(bus, NULL);
		if (q < 0) {
			r = fail_bus(err, errlen, "lost systemd", NULL, q);
			break;
		}
		if (q == 0 && sd_bus_wait(bus, UINT64_MAX) < 0)
			break;
	}
	free(calls);
	return r < 0 ? -1 : 0;
}

int bus_unit_props(sd_bus *bus, const char *unit, struct unit_props *p, char *err, size_t errlen)
{
	char *units[] = { (char *)unit, NULL };
	return bus_units_props(bus, units, 1, false, p, err, errlen);
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
