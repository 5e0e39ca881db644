/*
 * local: what a node says about itself, for `join`/`heartbeat` --print and
 * the op records the subcommands build from options.
 *
 * Promises: load_auto appends a JSON object of the machine's own load
 * (1-minute load average as cpu, memory in use, disk in use under dir) and
 * skips what it cannot read. load_pairs turns "k=v,k=v" into an object of
 * numbers or fails with err filled. Nothing prints.
 */
#ifndef CCE_REGISTER_LOCAL_H
#define CCE_REGISTER_LOCAL_H

#include <stddef.h>

#include "buf.h"

void load_auto(struct buf *b, const char *dir);
int load_pairs(struct buf *b, const char *spec, char *err, size_t errlen);

#endif
