/*
 * unpack.h: the parts of cce-sync unpack, inside the tool. A run holds one
 * struct unpack: the stream is read (stream.c) and its files written by a
 * second thread (writer.c) into a staging directory inside DIR; the new
 * tree is completed there from the current one and checked (build.c);
 * only then does it become a release (release.c) or move into DIR
 * (inplace.c, merge and mirror). unpack.c holds the command and the
 * helpers the parts share.
 *
 * Promises: every part fails through fail(), which keeps the first
 * message in u->err and the exit code in u->status, and returns -1;
 * nothing prints but cmd_unpack, once, at the end.
 */
#ifndef CCE_SYNC_UNPACK_H
#define CCE_SYNC_UNPACK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "diag.h"
#include "hash.h"
#include "sync.h"

#define DATA_BLOCK (1 << 20)
#define META_MAX ((size_t)256 << 20) /* manifest and ops */
#define SIG_MAX 4096

enum fkind { F_NONE, F_FULL, F_APPEND };

struct fstate {
	uint8_t kind;
	bool received;
	uint64_t offset;
};

/* The parent directory last opened under the staging tree, kept open for
 * the next file: files come sorted, so mostly it is the same. */
struct parent {
	struct buf dir;
	int fd;
};

/* slots of received data between the main thread and the writer */
#define SLOTS 8
#define SLOT_BYTES ((size_t)1 << 20)

enum wop { W_OPEN, W_DATA, W_CLOSE, W_STOP };

struct wslot {
	enum wop op;
	size_t idx;   /* the manifest entry */
	bool ok;      /* W_CLOSE: received whole and verified */
	size_t len;   /* W_DATA */
	char *data;   /* SLOT_BYTES */
};

struct unpack;

struct writer {
	struct unpack *u;
	pthread_t thread;
	bool running;
	pthread_mutex_t lock;
	pthread_cond_t more, room;
	struct wslot slot[SLOTS];
	size_t head, tail; /* filled by main, done by the writer; under lock */
	int fd;            /* the writer's open file */
	struct parent par;
	int failed;        /* atomic; set after why */
	char why[1024];
};

struct unpack {
	const struct unpack_opts *o;
	int dirfd, stagefd, treefd, tailfd, basefd;
	char stage[64];
	char *base_id;
	struct manifest m;
	struct fstate *fs;
	unsigned counts[5];
	uint64_t bytes, deleted;
	char *block;
	struct progress pg;
	char err[1024];
	int status;
	int64_t t0; /* start, for the timings CCE_LOG=debug shows */
	struct parent par; /* for build() */
	struct writer w;
};

int fail(struct unpack *u, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The parent directory of path under treefd, kept open in p for the next
 * file (see struct parent); *leaf points at the last component. */
int parent_open(struct parent *p, int treefd, const char *path, const char **leaf);
void parent_free(struct parent *p, int treefd);
/* Copies len bytes of src (from offset 0) to dst, hashing them into c
 * when c is not NULL; -1 with errno (ENODATA: src is shorter). */
int copy_hash(struct unpack *u, int src, int dst, uint64_t len, struct sha256_ctx *c);
void hash_hex(struct sha256_ctx *c, char hex[SHA256_HEX_LEN]);

/* stream.c: the manifest, the ops and every file of the stream on
 * o->in_fd, received into staging (mtext, otext: the manifest's and the
 * ops' text). */
int read_stream(struct unpack *u, struct buf *mtext, struct buf *otext);

/* writer.c: the thread that writes the received files. */
int writer_start(struct unpack *u);
/* Waits for everything queued; -1 when the writer failed. */
int writer_stop(struct unpack *u);
bool writer_failed(struct writer *w);
/* The next free slot, waiting for the writer when all are taken; the
 * caller's until writer_put hands it over. */
struct wslot *writer_slot(struct writer *w);
void writer_put(struct writer *w);

/* build.c: the rest of the new tree in staging (directories, symlinks,
 * appended files and, for a release, the unchanged files), checked. */
int build(struct unpack *u);
/* Modes and times from the manifest under root (in_place: merge leaves
 * DIR's own files alone). */
int set_meta(struct unpack *u, int root, bool in_place);

/* release.c */
/* Staging and a pending release left by a killed run (the lock is held). */
void clean_leftovers(int dirfd);
/* staging's tree becomes releases/ID (named into id), --check runs, and
 * current is switched to it; old releases beyond --keep are pruned. */
int commit_release(struct unpack *u, const struct buf *mtext, char *id, size_t idlen);

/* inplace.c: merge and mirror */
/* Can DIR take the manifest without a conflict merge may not resolve? */
int precheck_in_place(struct unpack *u);
/* staging's files moved into DIR (mirror: what the manifest lacks
 * deleted), metadata set, DIR synced. */
int commit_in_place(struct unpack *u);

#endif
