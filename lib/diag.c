#include "diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *prog = "cce";
static int quiet;
static int debug;

void diag_init(const char *name)
{
	prog = name;
	const char *log = getenv("CCE_LOG");
	debug = log && strcmp(log, "debug") == 0;
}

const char *diag_prog(void) { return prog; }
void diag_set_quiet(int q) { quiet = q; }
int diag_debug_enabled(void) { return debug; }

/* One fputs per message keeps lines whole when several processes share
 * stderr. */
static void emit(const char *where, const char *fmt, va_list ap)
{
	char msg[2048];
	int n = snprintf(msg, sizeof msg, "%s: %s", prog, where ? where : "");
	if (n < 0 || (size_t)n >= sizeof msg)
		n = 0;
	vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
	size_t len = strlen(msg);
	if (len == sizeof msg - 1)
		len--;
	msg[len++] = '\n';
	diag_raw(msg, len);
}

void diag_raw(const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(2, s, n);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

void diag_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit(NULL, fmt, ap);
	va_end(ap);
}

void diag_warn(const char *fmt, ...)
{
	if (quiet)
		return;
	va_list ap;
	va_start(ap, fmt);
	emit(NULL, fmt, ap);
	va_end(ap);
}

void diag_debug(const char *fmt, ...)
{
	if (!debug)
		return;
	va_list ap;
	va_start(ap, fmt);
	emit("debug: ", fmt, ap);
	va_end(ap);
}

void diag_at(const char *source, uint64_t line, const char *fmt, ...)
{
	char where[512];
	snprintf(where, sizeof where, "%s:%llu: ", source, (unsigned long long)line);
	va_list ap;
	va_start(ap, fmt);
	emit(where, fmt, ap);
	va_end(ap);
}

int diag_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit(NULL, fmt, ap);
	va_end(ap);
	char hint[256];
	int n = snprintf(hint, sizeof hint, "Try '%s --help' for more information.\n", prog);
	if (n > 0)
		diag_raw(hint, (size_t)n < sizeof hint ? (size_t)n : sizeof hint - 1);
	return CCE_EX_USAGE;
}
