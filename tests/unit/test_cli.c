/* Unit tests of lib/cli: durations, sizes, numbers, common options. */
#include "cli.h"
#include "t.h"

int main(void)
{
	char err[256];
	int64_t ms;
	static const struct { const char *s; int64_t ms; } durs[] = {
		{ "250ms", 250 }, { "30s", 30000 }, { "5m", 300000 }, { "2h", 7200000 },
		{ "7d", 604800000 }, { "10", 10000 }, { "1.5s", 1500 }, { "0", 0 }, { "0.2", 200 },
	};
	for (size_t i = 0; i < sizeof durs / sizeof *durs; i++)
		ok(cli_duration("--x", durs[i].s, &ms, err, sizeof err) == 0 && ms == durs[i].ms,
		   "duration %s", durs[i].s);
	static const char *bad_durs[] = { "", "abc", "-5s", "5 s", "5x", "1e3", "inf", "nan", "s", "5ss", "0x10" };
	for (size_t i = 0; i < sizeof bad_durs / sizeof *bad_durs; i++)
		ok(cli_duration("--linger", bad_durs[i], &ms, err, sizeof err) < 0, "bad duration '%s'", bad_durs[i]);
	cli_duration("--linger", "abc", &ms, err, sizeof err);
	is_str(err, "--linger: invalid duration 'abc' (use e.g. 250ms, 30s, 5m, 2h, 7d)", "duration message");

	uint64_t b;
	static const struct { const char *s; uint64_t b; } sizes[] = {
		{ "512", 512 }, { "64KiB", 65536 }, { "64K", 65536 }, { "10MiB", 10485760 },
		{ "1GiB", 1073741824 }, { "1kB", 1000 }, { "2MB", 2000000 }, { "0", 0 }, { "1.5KiB", 1536 },
	};
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
		ok(cli_size("--x", sizes[i].s, &b, err, sizeof err) == 0 && b == sizes[i].b, "size %s", sizes[i].s);
	static const char *bad_sizes[] = { "", "x", "-1", "1.3B", "10 MiB", "10mib", "99999999999TiB" };
	for (size_t i = 0; i < sizeof bad_sizes / sizeof *bad_sizes; i++)
		ok(cli_size("--max-line", bad_sizes[i], &b, err, sizeof err) < 0, "bad size '%s'", bad_sizes[i]);
	cli_size("--max-line", "lots", &b, err, sizeof err);
	is_str(err, "--max-line: invalid size 'lots' (use e.g. 512, 64KiB, 10MiB, 1GiB)", "size message");

	uint64_t u;
	ok(cli_uint("-j", "8", 1, 64, &u, err, sizeof err) == 0 && u == 8, "uint");
	ok(cli_uint("-j", "0", 1, 64, &u, err, sizeof err) < 0, "uint below range");
	is_str(err, "-j: '0' out of range (1 to 64)", "range message");
	ok(cli_uint("-j", "8x", 1, 64, &u, err, sizeof err) < 0, "uint garbage");
	double d;
	ok(cli_number("--balance", "1.25", 1, 10, &d, err, sizeof err) == 0 && d == 1.25, "number");
	ok(cli_number("--balance", "-1", -5, 10, &d, err, sizeof err) == 0 && d == -1, "negative number");
	ok(cli_number("--balance", "1e3", 1, 10, &d, err, sizeof err) < 0, "no exponents");

	struct cce_common c;
	cli_common_init(&c);
	ok(c.max_line == 16u << 20, "default max-line 16MiB");
	ok(cli_common_option(&c, CLI_OPT_MAX_LINE, "1KiB", err, sizeof err) == 1 && c.max_line == 1024, "--max-line");
	ok(cli_common_option(&c, CLI_OPT_MAX_LINE, "1", err, sizeof err) == -1, "--max-line too small");
	ok(cli_common_option(&c, CLI_OPT_MAX_LINE, "2GiB", err, sizeof err) == -1, "--max-line too large");
	ok(cli_common_option(&c, 'q', NULL, err, sizeof err) == 1 && c.quiet, "-q");
	ok(cli_common_option(&c, 'x', NULL, err, sizeof err) == 0, "not common");
	return done_testing();
}
