/*
 * jqx: libjq 1.6, made safe to embed.
 *
 * Promises: jqx_compile refuses what libjq 1.6 cannot run safely inside a
 * long-lived process (halt, halt_error, input, inputs, import, include,
 * modules) with a message naming the culprit, and otherwise returns jq's own
 * compile error text. Every jq_state has its input, debug and error
 * callbacks set, JQ_LIBRARY_PATH set to [] and is compiled with an object of
 * arguments. jqx_first runs an expression on one input and returns its first
 * output under a time and a memory budget (jqx_init): a runaway evaluation
 * is abandoned (its jq_state is kept aside, never touched again, and what
 * the evaluation allocated through libjq is freed) and JQX_TIMEOUT or
 * JQX_MEMORY is returned; that expression then always returns the same.
 * Inputs are consumed (jv ownership passes to jqx). jqx is for one thread.
 */
#ifndef CCE_JQX_H
#define CCE_JQX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jq.h>

enum jqx_status {
	JQX_OK = 0,       /* *out holds the first output */
	JQX_EMPTY = 1,    /* no output */
	JQX_ERROR = 2,    /* run-time error, message in err */
	JQX_TIMEOUT = 3,  /* ran past the time budget; the expression is dead */
	JQX_MEMORY = 4,   /* ran past the memory budget; the expression is dead */
	JQX_REGEX = 5,    /* a regular expression hit its limits (JQX_REGEX_STEPS
			     backtracking steps, a stack of a 32nd of the memory
			     budget): an error, message in err */
};

/* Oniguruma cannot be interrupted: its searches are bounded instead. */
#define JQX_REGEX_STEPS 1000000

struct jqx;

/* Starts the watchdog: evaluations longer than budget_ms are abandoned, and
 * so are those that hold more than mem_budget bytes allocated by libjq at
 * once (0: no limit). Sets oniguruma's limits (process-wide). */
void jqx_init(int64_t budget_ms, size_t mem_budget);
void jqx_shutdown(void);

struct jqx *jqx_compile(const char *src, char *err, size_t errlen);
/* Compiled on first use: for texts already known to be valid jq (the fast
 * subset), since libjq 1.6 takes tens of milliseconds per compilation. */
struct jqx *jqx_lazy(const char *src);
void jqx_free(struct jqx *x);
const char *jqx_source(const struct jqx *x);
bool jqx_dead(const struct jqx *x);

int jqx_first(struct jqx *x, jv in, jv *out, char *err, size_t errlen);
/* The first output is neither false nor null (no output: false). */
int jqx_truth(struct jqx *x, jv in, bool *truth, char *err, size_t errlen);

/* The bytes libjq allocated in the evaluation under way, as the memory
 * budget counts them: 0 between evaluations, after an abandoned one too
 * (what it held was freed); what libjq allocates for the caller between
 * evaluations is never counted. */
size_t jqx_counted(void);

/* jv as compact JSON appended to out (numbers as jq prints them). */
struct buf;
void jqx_dump(jv v, struct buf *out);

#endif
