/* Unit tests of lib/opts: one option table gives parsing, scope and help. */
#include <string.h>

#include "opts.h"
#include "t.h"

enum { SUB_A, SUB_B };
enum { OPT_SINCE = CLI_OPT_TOOL, OPT_FOLLOW, OPT_DIR, OPT_WIDE };
static const struct opt rows[] = {
	{ OPT_SINCE, 0, "since", "DUR", "from DUR ago", 1u << SUB_B },
	{ OPT_FOLLOW, 'f', "follow", NULL, "keep printing", 1u << SUB_B },
	{ OPT_DIR, 'd', "dir", "DIR", "a directory with a long name", 0 },
	{ OPT_WIDE, 0, "a-very-wide-option", "VALUE", "its help\nbelow it", 0 },
};
#define NROWS (sizeof rows / sizeof rows[0])

/* Parses argv (NULL-terminated) into codes, joined as text: "S:1h F D:x |2". */
static void parse(struct opts *p, struct cce_common *c, char **argv, char *got, size_t gotlen,
		  char *err, size_t errlen)
{
	int argc = 0;
	while (argv[argc])
		argc++;
	opts_init(p, rows, NROWS);
	cli_common_init(c);
	optind = 0;
	got[0] = 0;
	err[0] = 0;
	int ch;
	while ((ch = opts_next(p, c, argc, argv, err, errlen)) != -1) {
		char one[64];
		if (ch == CLI_BAD)
			snprintf(one, sizeof one, "BAD ");
		else if (ch == 'h' || ch == 'V')
			snprintf(one, sizeof one, "%c ", ch);
		else
			snprintf(one, sizeof one, "%d%s%s ", ch - CLI_OPT_TOOL, optarg ? ":" : "",
				 optarg ? optarg : "");
		strncat(got, one, gotlen - strlen(got) - 1);
		if (ch == CLI_BAD)
			break;
	}
	char rest[16];
	snprintf(rest, sizeof rest, "|%d", argc - optind);
	strncat(got, rest, gotlen - strlen(got) - 1);
}

int main(void)
{
	struct opts p;
	struct cce_common c;
	char got[256], err[256];

	char *a1[] = { "x", "--since", "1h", "-f", "-q", "--dir=/d", "-d", "e", "op1", "op2", NULL };
	parse(&p, &c, a1, got, sizeof got, err, sizeof err);
	is_str(got, "0:1h 1 2:/d 2:e |2", "long, short, = and separate arguments; operands left");
	ok(c.quiet, "a common option is taken into cce_common, not returned");
	ok(opts_check_scope(&p, SUB_B, "b", err, sizeof err) == 0, "every option applies to b");
	ok(opts_check_scope(&p, SUB_A, "a", err, sizeof err) < 0, "--since does not apply to a");
	is_str(err, "--since does not apply to 'a'", "scope message names the first such option");

	char *a2[] = { "x", "-d", "/d", "op", NULL };
	parse(&p, &c, a2, got, sizeof got, err, sizeof err);
	ok(opts_check_scope(&p, SUB_A, "a", err, sizeof err) == 0, "an option for all applies to a");

	char *a3[] = { "x", "--frob", NULL };
	parse(&p, &c, a3, got, sizeof got, err, sizeof err);
	is_str(got, "BAD |0", "unknown option");
	is_str(err, "unknown or ambiguous option '--frob'", "unknown option message");

	char *a4[] = { "x", "--since", NULL };
	parse(&p, &c, a4, got, sizeof got, err, sizeof err);
	is_str(err, "option '--since' requires an argument", "missing argument message");

	char *a5[] = { "x", "--follow=yes", NULL };
	parse(&p, &c, a5, got, sizeof got, err, sizeof err);
	is_str(err, "option '--follow' does not take an argument", "flag with an argument");

	char *a6[] = { "x", "-h", NULL };
	parse(&p, &c, a6, got, sizeof got, err, sizeof err);
	is_str(got, "h |0", "-h is returned for the tool's help");

	char *a7[] = { "x", "--max-line", "1", NULL };
	parse(&p, &c, a7, got, sizeof got, err, sizeof err);
	is_str(err, "--max-line: '1' out of range (2 to 1GiB)", "a bad common value is CLI_BAD");

	struct buf b;
	buf_init(&b);
	opts_help(&b, "usage: x [opts]\n", rows, NROWS);
	const char *want =
		"usage: x [opts]\n"
		"      --since DUR       from DUR ago\n"
		"  -f, --follow          keep printing\n"
		"  -d, --dir DIR         a directory with a long name\n"
		"      --a-very-wide-option VALUE\n"
		"                        its help\n"
		"                        below it\n";
	ok(!strncmp(b.data, want, strlen(want)), "help: synopsis, then one aligned line per row");
	ok(strstr(b.data, "      --max-line SIZE") != NULL, "help ends with the common options");
	buf_free(&b);

	struct opt many[OPTS_MAX + 1];
	memset(many, 0, sizeof many);
	ok(opts_init(&p, many, OPTS_MAX + 1) < 0, "more rows than OPTS_MAX are refused");
	return done_testing();
}
