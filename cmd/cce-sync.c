/*
 * cce-sync: ship directory trees through pipes and ssh, verified, and
 * switch releases atomically.
 */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cce-sync/sync.h"
#include "ratelimit.h"
#include "sig.h"
#include "tool.h"

static const char usage[] =
	"usage: cce-sync manifest DIR [--cache FILE]\n"
	"usage: cce-sync diff OLD_MANIFEST NEW_MANIFEST [--dir DIR]\n"
	"usage: cce-sync pack DIR [--against MANIFEST] [--sign KEY] [--gzip|--zstd] [--level N] [--cache FILE] [--progress] [--rate-limit RATE]\n"
	"usage: cce-sync unpack DIR [--mode release|merge|mirror] [--verify PUBKEY] [--keep N] [--check CMD] [--max-size SIZE] [--max-files N] [--progress]\n"
	"usage: cce-sync rollback DIR [--to RELEASE]\n"
	"usage: cce-sync releases DIR\n"
	"usage: cce-sync verify DIR [--manifest FILE]\n"
	"usage: cce-sync keygen --out KEYFILE\n"
	"  --cache FILE          remember file hashes by inode, size and mtime in FILE\n"
	"  --against MANIFEST    send only what differs from MANIFEST (the receiver's)\n"
	"  --dir DIR             diff: the tree of NEW_MANIFEST, to tell appends\n"
	"  --sign KEY            sign the stream with the Ed25519 KEY from keygen\n"
	"  --gzip                compress with gzip\n"
	"  --zstd                compress with zstd (the default)\n"
	"  --level N             compression level\n"
	"  --progress            show files, bytes and rate on stderr (a terminal)\n"
	"  --rate-limit RATE     pack: write at most RATE bytes a second (e.g. 500K, 2MiB)\n"
	"  --mode MODE           release (default), merge (never deletes) or mirror\n"
	"  --verify PUBKEY       refuse streams not signed by PUBKEY\n"
	"  --keep N              releases to keep (default 5)\n"
	"  --check CMD           run CMD in the new release; switch only if it succeeds\n"
	"  --max-size SIZE       refuse trees or streams over SIZE (default 4GiB)\n"
	"  --max-files N         refuse manifests over N entries (default 1000000)\n"
	"  --to RELEASE          roll back to RELEASE instead of the previous one\n"
	"  --manifest FILE       verify against FILE instead of the last manifest\n"
	"  --out KEYFILE         write the private key to KEYFILE and the public to KEYFILE.pub\n";

enum {
	OPT_CACHE = CLI_OPT_TOOL, OPT_AGAINST, OPT_SIGN, OPT_GZIP, OPT_ZSTD, OPT_LEVEL,
	OPT_PROGRESS, OPT_MODE, OPT_VERIFY, OPT_KEEP, OPT_CHECK, OPT_MAX_SIZE, OPT_MAX_FILES,
	OPT_TO, OPT_MANIFEST, OPT_OUT, OPT_DIR, OPT_RATE_LIMIT,
};

static const char *const opt_names[] = {
	"--cache", "--against", "--sign", "--gzip", "--zstd", "--level", "--progress", "--mode",
	"--verify", "--keep", "--check", "--max-size", "--max-files", "--to", "--manifest", "--out",
	"--dir", "--rate-limit",
};

/* which options each subcommand takes, and how many operands */
static const struct {
	const char *name;
	int operands;
	unsigned opts;
} cmds[] = {
#define B(o) (1u << ((o) - OPT_CACHE))
	{ "manifest", 1, B(OPT_CACHE) },
	{ "diff", 2, B(OPT_DIR) },
	{ "pack", 1, B(OPT_AGAINST) | B(OPT_SIGN) | B(OPT_GZIP) | B(OPT_ZSTD) | B(OPT_LEVEL) |
		     B(OPT_CACHE) | B(OPT_PROGRESS) | B(OPT_RATE_LIMIT) },
	{ "unpack", 1, B(OPT_MODE) | B(OPT_VERIFY) | B(OPT_KEEP) | B(OPT_CHECK) | B(OPT_MAX_SIZE) |
		       B(OPT_MAX_FILES) | B(OPT_PROGRESS) },
	{ "rollback", 1, B(OPT_TO) },
	{ "releases", 1, 0 },
	{ "verify", 1, B(OPT_MANIFEST) },
	{ "keygen", 0, B(OPT_OUT) },
};


static const struct option longopts[] = {
	CLI_COMMON_LONGOPTS,
	{ "cache", required_argument, NULL, OPT_CACHE },
	{ "against", required_argument, NULL, OPT_AGAINST },
	{ "sign", required_argument, NULL, OPT_SIGN },
	{ "gzip", no_argument, NULL, OPT_GZIP },
	{ "zstd", no_argument, NULL, OPT_ZSTD },
	{ "level", required_argument, NULL, OPT_LEVEL },
	{ "progress", no_argument, NULL, OPT_PROGRESS },
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "verify", required_argument, NULL, OPT_VERIFY },
	{ "keep", required_argument, NULL, OPT_KEEP },
	{ "check", required_argument, NULL, OPT_CHECK },
	{ "max-size", required_argument, NULL, OPT_MAX_SIZE },
	{ "max-files", required_argument, NULL, OPT_MAX_FILES },
	{ "to", required_argument, NULL, OPT_TO },
	{ "manifest", required_argument, NULL, OPT_MANIFEST },
	{ "out", required_argument, NULL, OPT_OUT },
	{ "dir", required_argument, NULL, OPT_DIR },
	{ "rate-limit", required_argument, NULL, OPT_RATE_LIMIT },
	{ NULL, 0, NULL, 0 },
};

struct opts {
	struct pack_opts po;
	struct unpack_opts uo;
	const char *cache, *to, *manifest, *keyout, *dir;
	bool progress;
	unsigned given;   /* the bits (B) of the options given */
};

/* An option that takes a value to check: 0, or the usage error's exit
 * code. */
static int value_option(struct opts *o, int c, const char *arg)
{
	char err[256];
	uint64_t v;
	switch (c) {
	case OPT_LEVEL:
		if (cli_uint("--level", arg, 0, 19, &v, err, sizeof err) < 0)
			return diag_usage("%s", err);
		o->po.level = (int)v;
		break;
	case OPT_MODE:
		if (!strcmp(arg, "release"))
			o->uo.mode = MODE_RELEASE;
		else if (!strcmp(arg, "merge"))
			o->uo.mode = MODE_MERGE;
		else if (!strcmp(arg, "mirror"))
			o->uo.mode = MODE_MIRROR;
		else
			return diag_usage("--mode: '%s' is not release, merge or mirror", arg);
		break;
	case OPT_KEEP:
		if (cli_uint("--keep", arg, 1, 100000, &v, err, sizeof err) < 0)
			return diag_usage("%s", err);
		o->uo.keep = (unsigned)v;
		break;
	case OPT_MAX_SIZE:
		if (cli_size("--max-size", arg, &o->uo.lim.max_size, err, sizeof err) < 0)
			return diag_usage("%s", err);
		break;
	case OPT_RATE_LIMIT:
		if (ratelimit_parse("--rate-limit", arg, &o->po.rate_limit, err, sizeof err) < 0)
			return diag_usage("%s", err);
		break;
	case OPT_MAX_FILES:
		if (cli_uint("--max-files", arg, 0, UINT32_MAX, &o->uo.lim.max_files, err, sizeof err) < 0)
			return diag_usage("%s", err);
		break;
	}
	return 0;
}

/* The options into o: 0, TOOL_DONE after -h or -V, or the usage error's
 * exit code. */
static int parse_options(int argc, char **argv, struct tool *t, struct opts *o)
{
	char err[256];
	int c;
	while ((c = cli_getopt(&t->common, argc, argv, ":" CLI_COMMON_SHORTOPTS, longopts, err,
				 sizeof err)) != -1) {
		if (c == CLI_BAD)
			return diag_usage("%s", err);
		if (c >= OPT_CACHE && c <= OPT_RATE_LIMIT)
			o->given |= B(c);
		switch (c) {
		case 'h': case 'V': return tool_help(t, c, usage);
		case OPT_CACHE: o->cache = optarg; break;
		case OPT_AGAINST: o->po.against = optarg; break;
		case OPT_SIGN: o->po.sign = optarg; break;
		case OPT_GZIP: o->po.compress = COMPRESS_GZIP; break;
		case OPT_ZSTD: o->po.compress = COMPRESS_ZSTD; break;
		case OPT_PROGRESS: o->progress = true; break;
		case OPT_VERIFY: o->uo.verify = optarg; break;
		case OPT_CHECK: o->uo.check = optarg; break;
		case OPT_TO: o->to = optarg; break;
		case OPT_MANIFEST: o->manifest = optarg; break;
		case OPT_OUT: o->keyout = optarg; break;
		case OPT_DIR: o->dir = optarg; break;
		default: {
			int rc = value_option(o, c, optarg);
			if (rc)
				return rc;
		}
		}
	}
	return 0;
}

/* The subcommand into *k (its index in cmds), once every option given
 * applies to it and it has its operands: 0, or the usage error's exit
 * code. */
static int find_cmd(int argc, char **argv, const struct opts *o, int *k)
{
	if (optind >= argc)
		return diag_usage("missing subcommand (manifest, diff, pack, unpack, rollback, releases, "
				  "verify or keygen)");
	const char *sub = argv[optind++];
	*k = -1;
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		if (!strcmp(sub, cmds[i].name))
			*k = (int)i;
	if (*k < 0)
		return diag_usage("unknown subcommand '%s'", sub);
	for (unsigned b = 0; b < sizeof opt_names / sizeof opt_names[0]; b++)
		if ((o->given & (1u << b)) && !(cmds[*k].opts & (1u << b)))
			return diag_usage("%s does not apply to '%s'", opt_names[b], sub);
	if (argc - optind != cmds[*k].operands)
		return diag_usage("'%s' takes %d operand%s, not %d", sub, cmds[*k].operands,
				  cmds[*k].operands == 1 ? "" : "s", argc - optind);
	if (!strcmp(sub, "keygen") && !o->keyout)
		return diag_usage("keygen needs --out KEYFILE");
	return 0;
}

static int run(struct tool *t, int k, char **arg, struct opts *o)
{
	switch (k) {
	case 0: return cmd_manifest(&t->out, arg[0], o->cache);
	case 1: return cmd_diff(&t->out, arg[0], arg[1], o->dir);
	case 2:
		o->po.dir = arg[0];
		o->po.cache = o->cache;
		o->po.progress = o->progress;
		return cmd_pack(&o->po);
	case 3:
		o->uo.dir = arg[0];
		o->uo.progress = o->progress;
		return cmd_unpack(&t->out, &o->uo);
	case 4: return cmd_rollback(&t->out, arg[0], o->to);
	case 5: return cmd_releases(&t->out, arg[0]);
	case 6: return cmd_verify(&t->out, arg[0], o->manifest);
	default: return cmd_keygen(o->keyout);
	}
}

int main(int argc, char **argv)
{
	struct tool t;
	int held = tool_init(&t, "cce-sync");
	if (held)
		return held;
	/* paths are UTF-8 (manifests are JSON): libarchive must not try to
	 * convert them from the user's locale when it writes or reads pax */
	if (!setlocale(LC_CTYPE, "C.UTF-8"))
		setlocale(LC_CTYPE, "C.utf8");
	struct opts o = {
		.po = { .compress = COMPRESS_ZSTD, .level = -1 },
		.uo = { .mode = MODE_RELEASE, .keep = 5, .in_fd = 0,
			.lim = { .max_size = (uint64_t)4 << 30, .max_files = 1000000 } },
	};
	int k = 0, st = parse_options(argc, argv, &t, &o);
	if (!st)
		st = find_cmd(argc, argv, &o, &k);
	if (!st) {
		tool_start(&t);
		st = run(&t, k, argv + optind, &o);
	}
	st = tool_finish(&t, st == TOOL_DONE ? 0 : st);
	out_free(&t.out);
	return st;
}
