/*
 * bus: cce-task's conversation with systemd (PID 1) over sd-bus.
 *
 * Promises: bus_open connects as systemctl does (root: PID 1's private
 * socket, no dbus-daemon needed; others: the system bus) and subscribes
 * to job events, or says why not; nothing here prints or exits. Jobs are
 * started without waiting (bus_job) and waited for together (bus_jobs_wait),
 * so that a hundred units cost one round of waiting, not a hundred.
 * Errors come back as text in err, with systemd's own message.
 */
#ifndef CCE_TASK_BUS_H
#define CCE_TASK_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

/* 0; -1 (systemd is not PID 1: exit 69) or -2 (cannot connect) with err */
int bus_open(sd_bus **bus, char *err, size_t errlen);

struct bus_job {
	char unit[256];
	char *path;          /* the job's object path; NULL: no job (failed at once) */
	char result[32];     /* "done", "failed", "timeout"... once waited for */
	char err[256];       /* why the job could not even be queued */
};
/* method: StartUnit, RestartUnit, StopUnit. 0, or -1 with j->err */
int bus_job(sd_bus *bus, const char *method, struct bus_job *j);
/* Waits until every queued job is removed or timeout_ms passed (those
 * get result "timeout"). */
void bus_jobs_wait(sd_bus *bus, struct bus_job *jobs, size_t n, int64_t timeout_ms);
void bus_job_free(struct bus_job *j);
/* Reload (daemon-reload), waiting for it. */
int bus_reload(sd_bus *bus, char *err, size_t errlen);

struct unit_props {
	char load[32], active[32], sub[32], result[32];
	char cgroup[512];
	uint64_t state_change_us, inactive_exit_us;
	uint64_t mem_current, cpu_ns;
	uint32_t restarts, main_pid;
	int32_t exec_code, exec_status;
	bool need_reload;
};
/* The properties of the unit (loaded as needed): 0, or -1 with err.
 * Unknown numbers are UINT64_MAX (memory, CPU). */
int bus_unit_props(sd_bus *bus, const char *unit, struct unit_props *p, char *err, size_t errlen);
/* The same for n units into p[0..n), asked all at once and answered
 * together; for_apply: only LoadState, ActiveState, InactiveExitTimestamp
 * and NeedDaemonReload. */
int bus_units_props(sd_bus *bus, char *const *units, size_t n, bool for_apply,
		    struct unit_props *p, char *err, size_t errlen);
/* The names of the loaded units matching pattern (but those without a
 * file that no longer run), as a NULL-terminated
 * array (caller frees it and its strings), or NULL with err. */
char **bus_list_units(sd_bus *bus, const char *pattern, char *err, size_t errlen);

#endif
