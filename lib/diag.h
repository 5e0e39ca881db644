/*
 * diag: the toolkit's exit codes and its one voice on stderr.
 *
 * Promises: every message a tool prints goes through here and has the form
 * "cce-NAME: message" or "cce-NAME: SOURCE:LINE: message", one line, so
 * that scripts can grep them. diag is the only lib/ module that writes to
 * stderr, and only when cmd/ code calls it; nothing here exits. Warnings
 * are silenced by diag_set_quiet; errors are not. diag_debug prints only
 * when CCE_LOG=debug.
 */
#ifndef CCE_DIAG_H
#define CCE_DIAG_H

#include <stddef.h>
#include <stdint.h>

enum cce_exit {
	CCE_EX_OK = 0,
	CCE_EX_FAIL = 1,
	CCE_EX_USAGE = 64,
	CCE_EX_DATAERR = 65,
	CCE_EX_UNAVAILABLE = 69,
	CCE_EX_IOERR = 74,
	CCE_EX_TEMPFAIL = 75,
};

#define DIAG_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* prog is the tool's name ("cce-rule"), not argv[0] */
void diag_init(const char *prog);
const char *diag_prog(void);
void diag_set_quiet(int quiet);
int diag_debug_enabled(void);

void diag_error(const char *fmt, ...) DIAG_PRINTF(1, 2);
void diag_warn(const char *fmt, ...) DIAG_PRINTF(1, 2);
void diag_debug(const char *fmt, ...) DIAG_PRINTF(1, 2);
/* an error about one input line: "cce-NAME: SOURCE:LINE: message" */
void diag_at(const char *source, uint64_t line, const char *fmt, ...) DIAG_PRINTF(3, 4);
/* a usage error with the --help hint; returns CCE_EX_USAGE for `return diag_usage(...)` */
int diag_usage(const char *fmt, ...) DIAG_PRINTF(1, 2);
/* a raw line on stderr (status records), no prefix */
void diag_raw(const char *s, size_t n);

#endif
