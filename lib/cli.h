/*
 * cli: the options every tool shares and the parsers for option values.
 *
 * Promises: value parsers never accept garbage: the whole string must be a
 * value, negative and overflowing values are refused, and the error text
 * (written into err, never printed) names the option and the culprit:
 * "--linger: invalid duration 'abc' (use e.g. 250ms, 30s, 5m, 2h, 7d)".
 * Tools put CLI_COMMON_LONGOPTS in their getopt_long table, pass every
 * option through cli_common_option first, and handle -h/-V themselves
 * (they own their usage text).
 */
#ifndef CCE_CLI_H
#define CCE_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CCE_DEFAULT_MAX_LINE ((uint64_t)16 << 20)
#define CCE_MAX_MAX_LINE ((uint64_t)1 << 30)

struct cce_common {
	bool quiet;
	bool unbuffered;
	bool strict;
	const char *rejects;
	uint64_t max_line;
};

/* Long-only option codes; tools number their own from CLI_OPT_TOOL. */
enum {
	CLI_OPT_REJECTS = 0x1000,
	CLI_OPT_STRICT,
	CLI_OPT_MAX_LINE,
	CLI_OPT_TOOL = 0x1100,
};

#define CLI_COMMON_SHORTOPTS "hVqu"
#define CLI_COMMON_LONGOPTS                                   \
	{ "help", no_argument, NULL, 'h' },                   \
	{ "version", no_argument, NULL, 'V' },                \
	{ "quiet", no_argument, NULL, 'q' },                  \
	{ "unbuffered", no_argument, NULL, 'u' },             \
	{ "rejects", required_argument, NULL, CLI_OPT_REJECTS }, \
	{ "strict", no_argument, NULL, CLI_OPT_STRICT },      \
	{ "max-line", required_argument, NULL, CLI_OPT_MAX_LINE }

/* The help lines for the common options, to end every usage text. */
extern const char cli_common_help[];

void cli_common_init(struct cce_common *c);
/* 1: the option was a common one and is taken; 0: not a common option;
 * -1: a bad value, err filled. */
int cli_common_option(struct cce_common *c, int opt, const char *arg, char *err, size_t errlen);
/* The message for getopt_long's '?' or ':' return (opterr must be 0 and
 * shortopts must start with ':'). */
void cli_bad_option(char **argv, int optind_now, int optopt_now, int ret, char *err, size_t errlen);

#define CLI_BAD (-2)
/* getopt_long (shortopts starting with ':' CLI_COMMON_SHORTOPTS) with the
 * common options taken into c: the next of the tool's own options, -1 at
 * the end, or CLI_BAD with err filled (an unknown option, a missing
 * argument, a bad value of a common option). */
int cli_getopt(struct cce_common *c, int argc, char **argv, const char *shortopts,
	       const struct option *longopts, char *err, size_t errlen);

/* 0 or -1 with err filled. Durations: 250ms 30s 5m 2h 7d or bare seconds
 * (fractions allowed: 1.5s, 0.2). Result in milliseconds. */
int cli_duration(const char *opt, const char *s, int64_t *ms, char *err, size_t errlen);
/* Sizes: 512, 64KiB or 64K, 10MiB or 10M, 1GiB or 1G, 1TiB (binary);
 * 1kB/1KB, 1MB, 1GB, 1TB (decimal). */
int cli_size(const char *opt, const char *s, uint64_t *bytes, char *err, size_t errlen);
/* A decimal integer in [min, max]. */
int cli_uint(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *v,
	     char *err, size_t errlen);
/* A finite decimal number in [min, max]. */
int cli_number(const char *opt, const char *s, double min, double max, double *v,
	       char *err, size_t errlen);

/* Same grammar as cli_duration, for values read from files and records. */
int parse_duration(const char *s, int64_t *ms);
int parse_size(const char *s, uint64_t *bytes);

#endif
