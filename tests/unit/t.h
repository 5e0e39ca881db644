/*
 * t.h: a minimal TAP producer for the C unit tests.
 *
 * ok(cond, "what") prints "ok N - what" or "not ok N - what" with the
 * failing expression and line; done_testing() prints the plan and returns
 * the exit code (1 if anything failed). Each test file is one program.
 */
#ifndef CCE_T_H
#define CCE_T_H

#include <stdio.h>
#include <string.h>

static int t_count, t_failed;

#define ok(cond, ...) do { \
	int c_ = !!(cond); \
	t_count++; \
	if (c_) { printf("ok %d - ", t_count); } \
	else { t_failed++; printf("not ok %d - ", t_count); } \
	printf(__VA_ARGS__); printf("\n"); \
	if (!c_) printf("#   %s:%d: %s\n", __FILE__, __LINE__, #cond); \
} while (0)

/* a printable, one-line rendering of test input for test names */
static inline const char *t_show(const char *s)
{
	static char out[4][256];
	static int k;
	char *o = out[k++ & 3];
	size_t j = 0;
	for (; *s && j < sizeof out[0] - 5; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 0x20 && c < 0x7f) o[j++] = (char)c;
		else { snprintf(o + j, 5, "\\x%02x", c); j += 4; }
	}
	o[j] = 0;
	return o;
}

#define is_str(got, want, ...) do { \
	const char *g_ = (got), *w_ = (want); \
	int eq_ = g_ && w_ && strcmp(g_, w_) == 0; \
	ok(eq_, __VA_ARGS__); \
	if (!eq_) printf("#   got: '%s'\n#   want: '%s'\n", g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
} while (0)

static inline int done_testing(void)
{
	printf("1..%d\n", t_count);
	return t_failed ? 1 : 0;
}

#endif
