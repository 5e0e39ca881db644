/*
 * opts: a tool's options as one table (git's OPT_ rows).
 *
 * Promises: one row is the whole truth about an option. getopt_long's table,
 * the short option string and the --help lines are all made from the rows,
 * so no option can be parsed but missing from --help, or listed in --help but
 * not parsed. The common options (cli.h) are added by the parser, taken into
 * struct cce_common and listed after the tool's own. A row may name the
 * subcommands it applies to; opts_check_scope refuses one given to another
 * subcommand, in one wording for every tool. Nothing is printed: help text
 * goes into a buf, errors into err.
 */
#ifndef CCE_OPTS_H
#define CCE_OPTS_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "cli.h"

struct opt {
	int code;          /* what opts_next returns for it: an enum from CLI_OPT_TOOL */
	char short_name;   /* 'f' for -f, or 0 */
	const char *name;  /* the long name without "--" */
	const char *arg;   /* the argument's name in --help ("DUR"), or NULL: a flag */
	const char *help;  /* one line, or several separated by '\n' */
	uint32_t subs;     /* the subcommands it applies to (bit i: subcommand i); 0: all */
};

#define OPTS_MAX 48

struct opts {
	const struct opt *rows;
	size_t n;
	uint64_t given; /* bit i: rows[i] was on the command line */
	struct option longopts[OPTS_MAX + 8];
	char shortopts[2 * OPTS_MAX + 16];
};

/* rows must outlive p; at most OPTS_MAX rows (more is a programming
 * error: returns -1). */
int opts_init(struct opts *p, const struct opt *rows, size_t n);
/* The next option of argv: a row's code, 'h' for --help, 'V' for
 * --version (the common ones are taken into c and skipped), -1 at the end
 * (optind is then the first operand), or CLI_BAD with err filled (an
 * unknown option, a missing argument, a bad value of a common option). */
int opts_next(struct opts *p, struct cce_common *c, int argc, char **argv, char *err,
	      size_t errlen);
/* 0, or -1 with err "--since does not apply to 'apply'" when an option
 * given does not apply to subcommand number sub, named name. */
int opts_check_scope(const struct opts *p, unsigned sub, const char *name, char *err,
		     size_t errlen);
/* --help: synopsis (its own lines, as given), then one line per row
 * ("  -f, --follow          logs: keep printing new entries"; an option too
 * wide for the column has its help on the next line), then the common
 * options. */
void opts_help(struct buf *b, const char *synopsis, const struct opt *rows, size_t n);

#endif
