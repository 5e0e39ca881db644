/*
 * sync: the subcommands of cce-sync, each returning the tool's exit code
 * after reporting its own errors through diag.
 *
 * Layout of a release directory DIR: DIR/releases/ID (one tree per
 * release), DIR/current (a symlink "releases/ID"),
 * DIR/.cce-sync.manifests/ID.jsonl (the manifest each release was built
 * from), DIR/.cce-sync.stage.* (staging, removed by the next run after
 * a crash) and DIR/.cce-sync.pending (a release not yet current, during
 * --check; removed by the next run unless it became current). Merge and mirror keep DIR as the tree itself and the last
 * manifest in DIR/.cce-sync.manifest.jsonl. Runs lock DIR itself (flock).
 */
#ifndef CCE_SYNC_SYNC_H
#define CCE_SYNC_SYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "out.h"
#include "tree.h"

enum compress { COMPRESS_ZSTD, COMPRESS_GZIP };
enum unpack_mode { MODE_RELEASE, MODE_MERGE, MODE_MIRROR };

struct pack_opts {
	const char *dir, *against, *sign, *cache;
	enum compress compress;
	int level;          /* -1: the compressor's default */
	bool progress;
	uint64_t rate_limit; /* bytes a second on stdout, 0: none */
};

struct unpack_opts {
	const char *dir, *verify, *check;
	enum unpack_mode mode;
	unsigned keep;
	struct limits lim;
	bool progress;
	int in_fd;
};

int cmd_manifest(struct out *out, const char *dir, const char *cache);
/* dir: the tree of new, where a grown file is checked for an append */
int cmd_diff(struct out *out, const char *old, const char *new, const char *dir);
int cmd_pack(const struct pack_opts *o);
int cmd_unpack(struct out *out, const struct unpack_opts *o);
int cmd_rollback(struct out *out, const char *dir, const char *to);
int cmd_releases(struct out *out, const char *dir);
int cmd_verify(struct out *out, const char *dir, const char *manifest);
int cmd_keygen(const char *keyfile);

/* The tree a manifest of DIR describes: DIR/current when DIR holds
 * releases, else DIR. Caller frees. */
char *tree_root(const char *dir);

/* Progress on stderr, at most a few times a second, when enabled. */
struct progress {
	bool on;
	uint64_t files, bytes;
	int64_t start, last;
};
void progress_init(struct progress *p, bool want);
void progress_tick(struct progress *p, uint64_t files, uint64_t bytes);
void progress_end(struct progress *p);

#endif
