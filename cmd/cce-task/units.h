/*
 * units: this node's cce-task units (see units.c). Lists are sorted,
 * without duplicates, NULL-terminated, and own their strings.
 */
#ifndef CCE_TASK_UNITS_H
#define CCE_TASK_UNITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "buf.h"

struct unit_list {
	char **v;
	size_t n, cap;
};
/* The units of the given tasks (all when ntasks is 0): 0, or -1 with err */
int units_list(sd_bus *bus, const char *unit_dir, char *const *tasks, int ntasks,
	       struct unit_list *l, char *err, size_t errlen);
void units_free(struct unit_list *l);
bool units_has(const struct unit_list *l, const char *unit);
/* {"task":T,"replica":N,"unit":U  (no closing brace) */
void units_head(struct buf *b, const char *unit);
/* what the unit's last ExecStopPost= step recorded (false, 0, UINT64_MAX
 * when none) */
void units_stop_record(const char *unit, bool *oom, uint64_t *peak, uint64_t *cpu_us);
/* the same from the record in dir instead of TASK_RUN_DIR (for the tests) */
void units_stop_record_in(const char *dir, const char *unit, bool *oom, uint64_t *peak,
			  uint64_t *cpu_us);
/* CPU time of a live cgroup in ns from cgroup v2's (or the hybrid's
 * unified) cpu.stat, UINT64_MAX when unknown */
uint64_t units_cgroup_cpu_ns(const char *cg);

struct unit_props;
struct bus_job;
/* a status line for the unit (status.c) */
void status_line(struct buf *b, const char *unit_dir, const char *unit,
		 const struct unit_props *p);
/* ,"action":DONE} or ,"action":"failed","error":WHY} for a waited job */
void job_outcome(struct buf *b, sd_bus *bus, const struct bus_job *j, const char *done);

#endif
