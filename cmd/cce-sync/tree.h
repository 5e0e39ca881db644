/*
 * tree: manifests of directory trees, their JSON lines form, and diffs.
 *
 * Promises: a manifest is an array of entries sorted by path (strcmp),
 * each path relative, '/'-separated, without "", "." or ".." components.
 * manifest_scan never follows symlinks and never leaves ROOT; it skips the
 * top-level names reserved by cce-sync (".cce-sync*"). manifest_parse with
 * strict set refuses everything unpack must refuse (bad paths, a path
 * twice, a parent that is not a directory of the manifest, modes with
 * setuid/setgid/sticky bits, symlinks whose target is absolute or resolves
 * outside the tree, totals over the limits) with a one-line reason in err.
 * Entries own their strings; manifest_free releases them.
 */
#ifndef CCE_SYNC_TREE_H
#define CCE_SYNC_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "hash.h"

enum ent_type { ENT_FILE, ENT_DIR, ENT_SYMLINK };

struct entry {
	char *path;
	char *target;          /* symlinks only */
	enum ent_type type;
	mode_t mode;           /* permission bits (07777) */
	uint64_t size;         /* files only */
	int64_t mtime;         /* milliseconds since the epoch */
	char sha[SHA256_HEX_LEN];
	/* local scans only */
	ino_t ino;
	int64_t mtime_ns, ctime_ns;
};

struct manifest {
	struct entry *e;
	size_t n, cap;
	uint64_t total_size;
};

struct limits {
	uint64_t max_size;
	uint64_t max_files;
};

void manifest_free(struct manifest *m);
/* the entry for path, or NULL */
struct entry *manifest_find(const struct manifest *m, const char *path);

/* Scans root. cache: path of the (inode, size, mtime) -> sha256 cache, or
 * NULL; it is read when it exists and rewritten crash-safely. */
int manifest_scan(const char *root, const char *cache, struct manifest *m,
		  char *err, size_t errlen);
/* One JSON line per entry. */
void manifest_write(const struct manifest *m, struct buf *out);
void entry_json(const struct entry *e, struct buf *out);
/* Parses JSON lines. strict: unpack's rules and lim (may be NULL). */
int manifest_parse(const char *text, size_t len, bool strict, const struct limits *lim,
		   struct manifest *m, char *err, size_t errlen);
int manifest_load(const char *file, struct manifest *m, char *err, size_t errlen);

/* A path that unpack accepts: relative, no empty, "." or ".." component,
 * not reserved (".cce", ".cce/...", ".cce-sync*"). */
bool path_ok(const char *p, const char **why);

/* sha256 of the first len bytes of fd from offset 0 (len UINT64_MAX: all);
 * -1 with errno on a read error or when the file is shorter. */
int hash_fd(int fd, uint64_t len, char hex[SHA256_HEX_LEN]);

enum op_kind { OP_ADD, OP_MODIFY, OP_APPEND, OP_DELETE, OP_META };
extern const char *const op_names[];

struct op {
	enum op_kind kind;
	const struct entry *old, *new; /* old NULL for add, new NULL for delete */
	uint64_t offset;               /* append: bytes the remote already has */
};

struct ops {
	struct op *o;
	size_t n, cap;
};

/* Ops turning old into new. append_dir: when not NULL, a file that grew
 * is checked against its first old->size bytes under that directory and
 * becomes an append when they match. Its path is opened beneath
 * append_dir, following no symlink: one that would leave it is a modify. */
int manifest_diff(const struct manifest *old, const struct manifest *new,
		  const char *append_dir, struct ops *ops, char *err, size_t errlen);
void op_json(const struct op *op, struct buf *out);
void ops_free(struct ops *ops);
/* op carries content in a pack */
static inline bool op_has_data(const struct op *op)
{
	return op->new && op->new->type == ENT_FILE &&
	       (op->kind == OP_ADD || op->kind == OP_MODIFY || op->kind == OP_APPEND);
}

#endif
