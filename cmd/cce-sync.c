/*
 * cce-sync: ship directory trees through pipes and ssh, verified, and
 * switch releases atomically.
 */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cce-sync/sync.h"
#include "opts.h"
#include "ratelimit.h"
#include "sig.h"
#include "tool.h"

static const char synopsis[] =
	"usage: cce-sync manifest DIR [--cache FILE]\n"
	"usage: cce-sync diff OLD_MANIFEST NEW_MANIFEST [--dir DIR]\n"
	"usage: cce-sync pack DIR [--against MANIFEST] [--sign KEY] [--gzip|--zstd] [--level N] [--cache FILE] [--progress] [--rate-limit RATE]\n"
	"usage: cce-sync unpack DIR [--mode release|merge|mirror] [--verify PUBKEY] [--keep N] [--check CMD] [--max-size SIZE] [--max-files N] [--progress]\n"
	"usage: cce-sync rollback DIR [--to RELEASE]\n"
	"usage: cce-sync releases DIR\n"
	"usage: cce-sync verify DIR [--manifest FILE]\n"
	"usage: cce-sync keygen --out KEYFILE\n";

/* The subcommands, in the order of their bits in the option rows, and
 * how many operands each takes. */
enum { MANIFEST, DIFF, PACK, UNPACK, ROLLBACK, RELEASES, VERIFY, KEYGEN };
static const struct {
	const char *name;
	int operands;
} cmds[] = {
	[MANIFEST] = { "manifest", 1 }, [DIFF] = { "diff", 2 },     [PACK] = { "pack", 1 },
	[UNPACK] = { "unpack", 1 },     [ROLLBACK] = { "rollback", 1 }, [RELEASES] = { "releases", 1 },
	[VERIFY] = { "verify", 1 },     [KEYGEN] = { "keygen", 0 },
};

enum {
	OPT_CACHE = CLI_OPT_TOOL, OPT_AGAINST, OPT_SIGN, OPT_GZIP, OPT_ZSTD, OPT_LEVEL,
	OPT_PROGRESS, OPT_MODE, OPT_VERIFY, OPT_KEEP, OPT_CHECK, OPT_MAX_SIZE, OPT_MAX_FILES,
	OPT_TO, OPT_MANIFEST, OPT_OUT, OPT_DIR, OPT_RATE_LIMIT,
};

#define IN(c) (1u << (c))
static const struct opt options[] = {
	{ OPT_CACHE, 0, "cache", "FILE", "remember file hashes by inode, size and mtime in FILE",
	  IN(MANIFEST) | IN(PACK) },
	{ OPT_AGAINST, 0, "against", "MANIFEST", "send only what differs from MANIFEST (the receiver's)",
	  IN(PACK) },
	{ OPT_DIR, 0, "dir", "DIR", "diff: the tree of NEW_MANIFEST, to tell appends", IN(DIFF) },
	{ OPT_SIGN, 0, "sign", "KEY", "sign the stream with the Ed25519 KEY from keygen", IN(PACK) },
	{ OPT_GZIP, 0, "gzip", NULL, "compress with gzip", IN(PACK) },
	{ OPT_ZSTD, 0, "zstd", NULL, "compress with zstd (the default)", IN(PACK) },
	{ OPT_LEVEL, 0, "level", "N", "compression level", IN(PACK) },
	{ OPT_PROGRESS, 0, "progress", NULL, "show files, bytes and rate on stderr (a terminal)",
	  IN(PACK) | IN(UNPACK) },
	{ OPT_RATE_LIMIT, 0, "rate-limit", "RATE",
	  "pack: write at most RATE bytes a second (e.g. 500K, 2MiB)", IN(PACK) },
	{ OPT_MODE, 0, "mode", "MODE", "release (default), merge (never deletes) or mirror", IN(UNPACK) },
	{ OPT_VERIFY, 0, "verify", "PUBKEY", "refuse streams not signed by PUBKEY", IN(UNPACK) },
	{ OPT_KEEP, 0, "keep", "N", "releases to keep (default 5)", IN(UNPACK) },
	{ OPT_CHECK, 0, "check", "CMD", "run CMD in the new release; switch only if it succeeds",
	  IN(UNPACK) },
	{ OPT_MAX_SIZE, 0, "max-size", "SIZE", "refuse trees or streams over SIZE (default 4GiB)",
	  IN(UNPACK) },
	{ OPT_MAX_FILES, 0, "max-files", "N", "refuse manifests over N entries (default 1000000)",
	  IN(UNPACK) },
	{ OPT_TO, 0, "to", "RELEASE", "roll back to RELEASE instead of the previous one", IN(ROLLBACK) },
	{ OPT_MANIFEST, 0, "manifest", "FILE", "verify against FILE instead of the last manifest",
	  IN(VERIFY) },
	{ OPT_OUT, 0, "out", "KEYFILE",
	  "write the private key to KEYFILE and the public to KEYFILE.pub", IN(KEYGEN) },
};
#define NOPTIONS (sizeof options / sizeof options[0])

/* What the options ask for. */
struct args {
	struct pack_opts po;
	struct unpack_opts uo;
	const char *cache, *to, *manifest, *keyout, *dir;
	bool progress;
};

/* An option that takes a value to check: 0, or the usage error's exit
 * code. */
static int value_option(struct args *o, int c, const char *arg)
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

/* The options into o, and the subcommand into *k (its index in cmds)
 * once every option given applies to it and it has its operands: 0,
 * TOOL_DONE after -h or -V, or the usage error's exit code. */
static int parse_options(int argc, char **argv, struct tool *t, struct args *o, int *k)
{
	char err[256];
	struct opts p;
	opts_init(&p, options, NOPTIONS);
	int c;
	while ((c = opts_next(&p, &t->common, argc, argv, err, sizeof err)) != -1) {
		switch (c) {
		case CLI_BAD: return diag_usage("%s", err);
		case 'h': case 'V': return tool_help_opts(t, c, synopsis, options, NOPTIONS);
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
	if (opts_check_scope(&p, (unsigned)*k, sub, err, sizeof err) < 0)
		return diag_usage("%s", err);
	if (argc - optind != cmds[*k].operands)
		return diag_usage("'%s' takes %d operand%s, not %d", sub, cmds[*k].operands,
				  cmds[*k].operands == 1 ? "" : "s", argc - optind);
	if (*k == KEYGEN && !o->keyout)
		return diag_usage("keygen needs --out KEYFILE");
	return 0;
}

static int run(struct tool *t, int k, char **arg, struct args *o)
{
	switch (k) {
	case MANIFEST: return cmd_manifest(&t->out, arg[0], o->cache);
	case DIFF: return cmd_diff(&t->out, arg[0], arg[1], o->dir);
	case PACK:
		o->po.dir = arg[0];
		o->po.cache = o->cache;
		o->po.progress = o->progress;
		return cmd_pack(&o->po);
	case UNPACK:
		o->uo.dir = arg[0];
		o->uo.progress = o->progress;
		return cmd_unpack(&t->out, &o->uo);
	case ROLLBACK: return cmd_rollback(&t->out, arg[0], o->to);
	case RELEASES: return cmd_releases(&t->out, arg[0]);
	case VERIFY: return cmd_verify(&t->out, arg[0], o->manifest);
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
	struct args o = {
		.po = { .compress = COMPRESS_ZSTD, .level = -1 },
		.uo = { .mode = MODE_RELEASE, .keep = 5, .in_fd = 0,
			.lim = { .max_size = (uint64_t)4 << 30, .max_files = 1000000 } },
	};
	int k = 0, st = parse_options(argc, argv, &t, &o, &k);
	if (!st) {
		tool_start(&t);
		st = run(&t, k, argv + optind, &o);
	}
	st = tool_finish(&t, st == TOOL_DONE ? 0 : st);
	out_free(&t.out);
	return st;
}
