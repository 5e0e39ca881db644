/*
 * apply: ops in batches, from input lines or from the subcommands.
 *
 * Promises: applier_run reads op records with the contract's reader
 * (rejects, --strict, --max-line), parses each (op_parse), and commits
 * batches of up to 8192 ops whenever the input would block, when a batch
 * is full and at the end; --strict commits op by op and stops at the first
 * rejection. applier_commit prints each op's event only after the store
 * made the batch durable, and rejects every op the store refused the way
 * the reader rejects a line ("SOURCE:LINE: NODE: reason" on stderr, the
 * rejects file, --strict), counting it in rejected. A failed commit is
 * reported once, kept in status, and ends the run; its ops are not
 * acknowledged. A rejection that ends the run (--strict, a failed rejects
 * file) is kept in stopped.
 */
#ifndef CCE_REGISTER_APPLY_H
#define CCE_REGISTER_APPLY_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"
#include "tool.h"

struct applier {
	struct tool *t;
	struct store *store;
	verify_fn verify;
	void *verify_arg;
	bool verbose;            /* heartbeat events from input too */
	struct item *items;      /* the batch not yet committed */
	size_t nitems;
	uint64_t rejected;       /* ops the store refused */
	int status;              /* exit code of a failed commit */
	int stopped;             /* exit code of a rejection that ends the run */
};

/* The whole `apply` run over files (none: stdin); its exit code. */
int applier_run(struct applier *a, char **files, int nfiles);
/* Commits a->items[0..nitems) and prints their events; from_input says
 * the ops came from input lines (heartbeat events only when verbose,
 * stderr lines with SOURCE:LINE). 0 or the failed commit's exit code. */
int applier_commit(struct applier *a, bool from_input);
void applier_item_free(struct item *it);

#endif
