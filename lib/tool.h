/*
 * tool: the skeleton every cmd/cce-NAME.c main shares.
 *
 * Promises: tool_init names the tool for diagnostics, makes sure that
 * descriptors 0, 1 and 2 are in use (see below), installs the signal flags
 * and sets the common options to their defaults. tool_open_input
 * wires the reader to the contract: rejected lines reported through diag as
 * "cce-NAME: SOURCE:LINE: reason", --rejects, --strict, --max-line, and the
 * output flushed whenever input would block. tool_finish flushes and closes
 * stdout and returns the contract's exit code for the run: 74 when output
 * or input failed, else 65 when lines were rejected, else the tool's own
 * status. This module reports through diag and never exits.
 */
#ifndef CCE_TOOL_H
#define CCE_TOOL_H

#include <stdbool.h>

#include "cli.h"
#include "diag.h"
#include "jsonl.h"
#include "out.h"

struct tool {
	struct cce_common common;
	struct out out;
	struct jsonl_reader *in;
	bool input_failed;    /* a source could not be read */
};

/* Call first in main, before any file is opened: a tool started with
 * stdin, stdout or stderr closed would otherwise give that number to the
 * next file it opens, and read its own lock file as input or write its
 * records into its state. Each closed one is held by /dev/null, opened the
 * other way round (stdin write-only, stdout and stderr read-only) so that
 * using it still fails with EBADF, as using the closed one would have.
 * Returns 0, or CCE_EX_IOERR (reported) when /dev/null cannot be opened:
 * main must then return that code at once. */
int tool_init(struct tool *t, const char *prog);
/* Call after options are parsed (applies -q and -u). */
void tool_start(struct tool *t);
struct jsonl_reader *tool_open_input(struct tool *t, char *const *files, int nfiles,
				     bool objects_only);
/* The contract's reader options for this run (--max-line, --rejects,
 * --strict, rejected lines reported through diag), without a before-block
 * hook: for tools that read a second input (a node file beside the tasks)
 * or wait on input with their own hook (a spool to sync first). */
struct jsonl_opts tool_jsonl_opts(const struct tool *t, bool objects_only);
/* jsonl_next_json with JSONL_IOERR reported and skipped: returns LINE, EOF,
 * TIMEOUT, INTR or FATAL (already reported). */
int tool_next(struct tool *t, struct jsonl_line *line, struct json_doc *doc, int timeout_ms);
/* The state directory made ready for use (cce_home_ready) into out: 0,
 * or the exit code after reporting why not: 64 when it cannot be found or
 * CCE_HOME is refused (its parent is missing, it is not a directory), 74
 * when it cannot be created. */
int tool_home(char *out, size_t outlen);
/* The end of a run that reader r stopped with JSONL_FATAL: reports why
 * (the rejects file that failed and its error, or the --strict stop) and
 * returns the exit code, 74 or 65. Every tool reports a FATAL through it. */
int tool_fatal(const struct jsonl_reader *r);
/* A side input (a node file, a state file, a report's sources): each JSON
 * object of path goes to take(arg, doc, line, err, errlen), which returns 0
 * or -1 with err, and a refused line is rejected through the contract
 * (--rejects, --strict). An unreadable input ends the read with 74 when
 * io_fatal, else it is reported, marks the run's input failed and the read
 * goes on. Adds the lines rejected to *rejected; returns 0, or the exit
 * status that ends the run (74, a --strict stop, a signal's). */
typedef int (*tool_take_fn)(void *arg, const struct json_doc *doc, const struct jsonl_line *line,
			    char *err, size_t errlen);
int tool_read_file(struct tool *t, const char *path, bool io_fatal, tool_take_fn take, void *arg,
		   uint64_t *rejected);
/* Flushes and closes stdout, closes the input and frees both; returns the
 * run's exit code given the tool's own status. */
int tool_finish(struct tool *t, int status);
/* -h and -V end every run the same way: given the option opts_next
 * returned ('h' or 'V'), prints on stdout the tool's help (the synopsis,
 * then the rows' lines, then the common options', see lib/opts) or the
 * version line, and returns TOOL_DONE. The option parser passes TOOL_DONE
 * up and main returns tool_finish(t, 0), which flushes the text and fails
 * the run with 74 when stdout cannot take it. */
#define TOOL_DONE (-1)
struct opt;
int tool_help_opts(struct tool *t, int opt, const char *synopsis, const struct opt *rows,
		   size_t n);

#endif
