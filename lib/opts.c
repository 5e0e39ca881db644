#include "opts.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Help lines put the text in this column, as cli_common_help does. */
#define HELP_COLUMN 24

int opts_init(struct opts *p, const struct opt *rows, size_t n)
{
	static const struct option common[] = { CLI_COMMON_LONGOPTS };
	size_t ncommon = sizeof common / sizeof common[0];
	if (n > OPTS_MAX)
		return -1;
	memset(p, 0, sizeof *p);
	p->rows = rows;
	p->n = n;
	/* ':' first: a missing argument is told apart from an unknown option */
	size_t s = (size_t)snprintf(p->shortopts, sizeof p->shortopts, ":%s", CLI_COMMON_SHORTOPTS);
	for (size_t i = 0; i < n; i++) {
		int has_arg = rows[i].arg ? required_argument : no_argument;
		p->longopts[i] = (struct option){ rows[i].name, has_arg, NULL, rows[i].code };
		if (rows[i].short_name) {
			p->shortopts[s++] = rows[i].short_name;
			if (rows[i].arg)
				p->shortopts[s++] = ':';
		}
	}
	p->shortopts[s] = 0;
	memcpy(p->longopts + n, common, sizeof common);
	p->longopts[n + ncommon] = (struct option){ 0 };
	return 0;
}

static int row_of(const struct opts *p, int code, int shortc)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->rows[i].code == code || (shortc && p->rows[i].short_name == shortc))
			return (int)i;
	return -1;
}

int opts_next(struct opts *p, struct cce_common *c, int argc, char **argv, char *err,
	      size_t errlen)
{
	int ch = cli_getopt(c, argc, argv, p->shortopts, p->longopts, err, errlen);
	if (ch == -1 || ch == CLI_BAD || ch == 'h' || ch == 'V')
		return ch;
	int i = row_of(p, ch, ch < 0x100 ? ch : 0);
	if (i < 0) {
		/* a row whose code and short name disagree with the table: a
		 * programming error, reported rather than ignored */
		snprintf(err, errlen, "option code %d has no row", ch);
		return CLI_BAD;
	}
	p->given |= (uint64_t)1 << i;
	return p->rows[i].code;
}

int opts_check_scope(const struct opts *p, unsigned sub, const char *name, char *err,
		     size_t errlen)
{
	for (size_t i = 0; i < p->n; i++) {
		uint32_t subs = p->rows[i].subs;
		if ((p->given >> i & 1) && subs && !(subs >> sub & 1)) {
			snprintf(err, errlen, "--%s does not apply to '%s'", p->rows[i].name, name);
			return -1;
		}
	}
	return 0;
}

void opts_help(struct buf *b, const char *synopsis, const struct opt *rows, size_t n)
{
	buf_adds(b, synopsis);
	for (size_t i = 0; i < n; i++) {
		size_t start = b->len;
		if (rows[i].short_name)
			buf_addf(b, "  -%c, --%s", rows[i].short_name, rows[i].name);
		else
			buf_addf(b, "      --%s", rows[i].name);
		if (rows[i].arg)
			buf_addf(b, " %s", rows[i].arg);
		size_t w = b->len - start;
		/* an option too wide for the column has its help start on the
		 * next line (git's parse-options), so that every help lines up */
		bool below = w + 2 > HELP_COLUMN;
		if (below)
			buf_addc(b, '\n');
		else
			buf_addf(b, "%*s", (int)(HELP_COLUMN - w), "");
		/* a help of several lines: each one after the first in the column */
		for (const char *h = rows[i].help, *nl; *h; h = nl + 1) {
			nl = strchr(h, '\n');
			if (h != rows[i].help || below)
				buf_addf(b, "%*s", HELP_COLUMN, "");
			if (!nl) {
				buf_addf(b, "%s\n", h);
				break;
			}
			buf_add(b, h, (size_t)(nl - h + 1));
		}
	}
	buf_adds(b, cli_common_help);
}
