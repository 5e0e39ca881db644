/*
 * jsonl: the JSON-lines reader every tool reads its input with.
 *
 * Promises:
 * - Reads the named files in order ("-" is stdin; none means stdin) in
 *   large blocks and yields one line at a time with its source name
 *   ("stdin" or the file name) and 1-based line number. The line points into
 *   the reader's buffer and stays valid until the next call.
 * - Handles "\r\n", a final line without "\n", a UTF-8 BOM at the start of
 *   each source, and skips blank lines (only spaces, tabs, "\r").
 * - A line longer than max_line is rejected without ever being held whole:
 *   it is streamed to the rejects file as it is read, then skipped.
 * - Rejecting a line (too long, invalid JSON, or a tool's own reason through
 *   jsonl_reject) reports it through opts.report, counts it, and appends the
 *   line byte for byte (as read, plus "\n") to the rejects file.
 * - Before it would block on a pipe or terminal, it calls
 *   opts.before_block (tools flush their output there).
 * - A signal interrupts a blocking wait: JSONL_INTR.
 * The reader prints nothing itself and never exits.
 */
#ifndef CCE_JSONL_H
#define CCE_JSONL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"

struct jsonl_opts {
	uint64_t max_line;          /* 0: the contract's default, 16MiB */
	const char *rejects;        /* path to append rejected lines to, or NULL */
	bool strict;                /* a rejected line ends the run (JSONL_FATAL) */
	bool objects_only;          /* jsonl_next_json: reject non-objects */
	void (*report)(void *arg, const char *source, uint64_t lineno, const char *msg);
	void (*before_block)(void *arg);
	void *arg;
};

struct jsonl_line {
	const char *data;   /* the content: no BOM, no "\r\n" */
	size_t len;
	const char *raw;    /* as read, without the final "\n" */
	size_t raw_len;
	const char *source;
	uint64_t lineno;
};

enum jsonl_status {
	JSONL_EOF = 0,      /* every source read */
	JSONL_LINE = 1,
	JSONL_TIMEOUT = 2,  /* nothing arrived within timeout_ms */
	JSONL_INTR = 3,     /* a signal arrived while waiting */
	JSONL_IOERR = -1,   /* a source could not be opened or read; see
			       jsonl_error; the reader has moved on to the next */
	JSONL_FATAL = -2,   /* --strict rejection, or the rejects file failed;
			       jsonl_fatal_exit says with which exit code */
};

struct jsonl_reader;

struct jsonl_reader *jsonl_open(char *const *files, int nfiles, const struct jsonl_opts *opts);
void jsonl_close(struct jsonl_reader *r);

/* Next non-blank line. timeout_ms < 0 waits forever. */
int jsonl_next(struct jsonl_reader *r, struct jsonl_line *line, int timeout_ms);
/* Next line that is valid JSON (an object when objects_only), parsed into
 * doc; invalid lines are rejected with a precise reason and skipped. With
 * doc NULL the line is only validated (json_valid: the same verdict and
 * reasons, several times faster). */
int jsonl_next_json(struct jsonl_reader *r, struct jsonl_line *line, struct json_doc *doc,
		    int timeout_ms);
/* Reject a line for a tool's own reason (wrong type of a field...): it is
 * reported (as line->source:line->lineno, so a line kept from an earlier
 * source can be rejected later), counted, then appended to the rejects
 * file. Returns 0, or JSONL_FATAL when the run must end. */
int jsonl_reject(struct jsonl_reader *r, const struct jsonl_line *line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

uint64_t jsonl_rejected(const struct jsonl_reader *r);
uint64_t jsonl_lines(const struct jsonl_reader *r);  /* non-blank lines yielded or rejected */
const char *jsonl_error(const struct jsonl_reader *r);
/* After JSONL_FATAL: 74 when the rejects file failed (jsonl_error says
 * which and why), 65 when --strict met a rejected line. */
int jsonl_fatal_exit(const struct jsonl_reader *r);
/* true while the current source is a pipe or terminal */
bool jsonl_interactive(const struct jsonl_reader *r);
/* the descriptor being read, for tools that poll it with others; -1 when none */
int jsonl_fd(const struct jsonl_reader *r);

#endif
