#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cli_common_help[] =
	"  -h, --help            print this help and exit\n"
	"  -V, --version         print the version and exit\n"
	"  -q, --quiet           no warnings on stderr\n"
	"  -u, --unbuffered      flush output after every record\n"
	"      --rejects FILE    append every rejected input line to FILE\n"
	"      --strict          the first rejected input line is fatal\n"
	"      --max-line SIZE   reject lines longer than SIZE (default 16MiB)\n";

void cli_common_init(struct cce_common *c)
{
	memset(c, 0, sizeof *c);
	c->max_line = CCE_DEFAULT_MAX_LINE;
}

int cli_common_option(struct cce_common *c, int opt, const char *arg, char *err, size_t errlen)
{
	switch (opt) {
	case 'q': c->quiet = true; return 1;
	case 'u': c->unbuffered = true; return 1;
	case CLI_OPT_STRICT: c->strict = true; return 1;
	case CLI_OPT_REJECTS:
		if (!*arg) {
			snprintf(err, errlen, "--rejects: empty file name");
			return -1;
		}
		c->rejects = arg;
		return 1;
	case CLI_OPT_MAX_LINE:
		if (cli_size("--max-line", arg, &c->max_line, err, errlen) < 0)
			return -1;
		if (c->max_line < 2 || c->max_line > CCE_MAX_MAX_LINE) {
			snprintf(err, errlen, "--max-line: '%s' out of range (2 to 1GiB)", arg);
			return -1;
		}
		return 1;
	}
	return 0;
}

void cli_bad_option(char **argv, int optind_now, int optopt_now, int ret, char *err, size_t errlen)
{
	const char *arg = optind_now > 0 ? argv[optind_now - 1] : "";
	if (optopt_now && !(arg[0] == '-' && arg[1] == '-')) {
		if (ret == ':')
			snprintf(err, errlen, "option '-%c' requires an argument", optopt_now);
		else
			snprintf(err, errlen, "unknown option '-%c'", optopt_now);
		return;
	}
	size_t n = strcspn(arg, "=");
	if (ret == ':')
		snprintf(err, errlen, "option '%.*s' requires an argument", (int)n, arg);
	else if (arg[n] == '=' && optopt_now)
		snprintf(err, errlen, "option '%.*s' does not take an argument", (int)n, arg);
	else
		snprintf(err, errlen, "unknown or ambiguous option '%.*s'", (int)n, arg);
}

int cli_getopt(struct cce_common *c, int argc, char **argv, const char *shortopts,
	       const struct option *longopts, char *err, size_t errlen)
{
	opterr = 0;
	for (;;) {
		int ch = getopt_long(argc, argv, shortopts, longopts, NULL);
		if (ch == '?' || ch == ':') {
			cli_bad_option(argv, optind, optopt, ch, err, errlen);
			return CLI_BAD;
		}
		int r = ch == -1 ? 0 : cli_common_option(c, ch, optarg, err, errlen);
		if (r < 0)
			return CLI_BAD;
		if (r == 0)
			return ch;
	}
}

/* A non-negative decimal with optional fraction; end at the first other
 * byte. Refuses signs, hex, exponents, inf and nan that strtod accepts. */
static int number_prefix(const char *s, double *v, const char **end)
{
	const char *p = s;
	if (!isdigit((unsigned char)*p) && !(*p == '.' && isdigit((unsigned char)p[1])))
		return -1;
	while (isdigit((unsigned char)*p))
		p++;
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p))
			p++;
	}
	char tmp[64];
	if ((size_t)(p - s) >= sizeof tmp)
		return -1;
	memcpy(tmp, s, (size_t)(p - s));
	tmp[p - s] = 0;
	*v = strtod(tmp, NULL);
	*end = p;
	return 0;
}

int parse_duration(const char *s, int64_t *ms)
{
	double v;
	const char *unit;
	if (!s || number_prefix(s, &v, &unit) < 0)
		return -1;
	double mult;
	if (!*unit || !strcmp(unit, "s")) mult = 1000;
	else if (!strcmp(unit, "ms")) mult = 1;
	else if (!strcmp(unit, "m")) mult = 60e3;
	else if (!strcmp(unit, "h")) mult = 3600e3;
	else if (!strcmp(unit, "d")) mult = 86400e3;
	else return -1;
	double r = v * mult;
	if (!isfinite(r) || r > 9.2e18)
		return -1;
	*ms = (int64_t)llround(r);
	return 0;
}

int parse_size(const char *s, uint64_t *bytes)
{
	double v;
	const char *unit;
	if (!s || number_prefix(s, &v, &unit) < 0)
		return -1;
	static const struct { const char *u; double m; } units[] = {
		{ "", 1 }, { "B", 1 },
		{ "K", 1024.0 }, { "KiB", 1024.0 }, { "k", 1024.0 },
		{ "M", 1048576.0 }, { "MiB", 1048576.0 },
		{ "G", 1073741824.0 }, { "GiB", 1073741824.0 },
		{ "T", 1099511627776.0 }, { "TiB", 1099511627776.0 },
		{ "kB", 1e3 }, { "KB", 1e3 }, { "MB", 1e6 }, { "GB", 1e9 }, { "TB", 1e12 },
	};
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(unit, units[i].u))
			continue;
		double r = v * units[i].m;
		if (!isfinite(r) || r >= 1.8e19 || r != floor(r))
			return -1;
		*bytes = (uint64_t)r;
		return 0;
	}
	return -1;
}

int cli_duration(const char *opt, const char *s, int64_t *ms, char *err, size_t errlen)
{
	if (parse_duration(s, ms) == 0)
		return 0;
	snprintf(err, errlen, "%s: invalid duration '%s' (use e.g. 250ms, 30s, 5m, 2h, 7d)", opt, s);
	return -1;
}

int cli_size(const char *opt, const char *s, uint64_t *bytes, char *err, size_t errlen)
{
	if (parse_size(s, bytes) == 0)
		return 0;
	snprintf(err, errlen, "%s: invalid size '%s' (use e.g. 512, 64KiB, 10MiB, 1GiB)", opt, s);
	return -1;
}

int cli_uint(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *v,
	     char *err, size_t errlen)
{
	const char *p = s;
	while (isdigit((unsigned char)*p))
		p++;
	if (p == s || *p || p - s > 19) {
		snprintf(err, errlen, "%s: invalid number '%s'", opt, s);
		return -1;
	}
	unsigned long long x = strtoull(s, NULL, 10);
	if (x < min || x > max) {
		snprintf(err, errlen, "%s: '%s' out of range (%llu to %llu)", opt, s,
			 (unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	*v = x;
	return 0;
}

int cli_number(const char *opt, const char *s, double min, double max, double *v,
	       char *err, size_t errlen)
{
	const char *p = s;
	int neg = *p == '-';
	double x;
	const char *end;
	if (number_prefix(p + neg, &x, &end) < 0 || *end) {
		snprintf(err, errlen, "%s: invalid number '%s'", opt, s);
		return -1;
	}
	if (neg)
		x = -x;
	if (x < min || x > max) {
		snprintf(err, errlen, "%s: '%s' out of range (%g to %g)", opt, s, min, max);
		return -1;
	}
	*v = x;
	return 0;
}
