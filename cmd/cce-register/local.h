/*
 * local: what a node says about itself, for `join`/`heartbeat` --print and
 * the op records the subcommands build from options.
 *
 * Promises: load_auto appends a JSON object of the machine's own load
 * (1-minute load average as cpu, memory in use, disk in use under dir,
 * and rx_bps and tx_bps: the bytes per second received and sent by all
 * interfaces but lo, summed, since the call that left net_state) and
 * skips what it cannot read. load_pairs turns "k=v,k=v" into an object of
 * numbers or fails with err filled. tasks_read turns `cce-task status`
 * lines into the "tasks" array of a heartbeat: each line's task, replica,
 * state, restarts and oom as they are (op_parse judges them), the rest of
 * the line dropped; it stops reading past OP_MAX_RECORD (the op is then
 * refused as too large). Nothing prints.
 */
#ifndef CCE_REGISTER_LOCAL_H
#define CCE_REGISTER_LOCAL_H

#include <stddef.h>

#include "buf.h"

/* net_state: the file that keeps the network counters between calls
 * (replaced crash-safely), NULL for no network figures */
void load_auto(struct buf *b, const char *dir, const char *net_state);
int load_pairs(struct buf *b, const char *spec, char *err, size_t errlen);
/* FILE ("-": stdin) into b: 0, -1 when it cannot be read, -2 when a line
 * is not a JSON object; err says which ("--tasks: FILE:LINE: ...") */
int tasks_read(struct buf *b, const char *path, char *err, size_t errlen);

#endif
