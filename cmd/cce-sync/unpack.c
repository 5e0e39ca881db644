/*
 * unpack: the receiving side. Everything is built and verified in a
 * staging directory inside DIR first; the live tree changes only after
 * every file of the stream has been received, every file of the manifest
 * checked against its sha256 and everything synced to disk. The parts
 * are listed in unpack.h; here are the command and the helpers they
 * share.
 */
#include "unpack.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "layout.h"
#include "timeutil.h"

int fail(struct unpack *u, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(u->err, sizeof u->err, fmt, ap);
	va_end(ap);
	u->status = status;
	return -1;
}

/* --- small file system helpers, all relative to directory descriptors --- */

/* The parent directory of path under treefd (created 0700 when missing);
 * *leaf points at the last component. Paths were checked, and their
 * parents are directories this run created, so no symlink is met. */
int parent_open(struct parent *p, int treefd, const char *path, const char **leaf)
{
	const char *slash = strrchr(path, '/');
	*leaf = slash ? slash + 1 : path;
	size_t plen = slash ? (size_t)(slash - path) : 0;
	if (p->fd >= 0 && p->dir.len == plen && !memcmp(p->dir.data, path, plen))
		return p->fd;
	if (p->fd >= 0 && p->fd != treefd)
		close(p->fd);
	p->fd = -1;
	buf_reset(&p->dir);
	buf_add(&p->dir, path, plen);
	if (!plen)
		return p->fd = treefd;
	int fd = dup(treefd);
	for (const char *c = path; fd >= 0 && c < path + plen;) {
		const char *s = memchr(c, '/', (size_t)(path + plen - c));
		if (!s)
			s = path + plen;
		char name[4096];
		snprintf(name, sizeof name, "%.*s", (int)(s - c), c);
		if (mkdirat(fd, name, 0700) < 0 && errno != EEXIST) {
			close(fd);
			return -1;
		}
		int nfd = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = nfd;
		c = s + 1;
	}
	return p->fd = fd;
}

void parent_free(struct parent *p, int treefd)
{
	if (p->fd >= 0 && p->fd != treefd)
		close(p->fd);
	p->fd = -1;
	buf_free(&p->dir);
}

static int write_all_hash(int fd, const void *p, size_t n, struct sha256_ctx *c)
{
	if (c)
		sha256_update(c, p, n);
	return fs_write_all(fd, p, n);
}

/* Copies len bytes of src (from offset 0) to dst, hashing them. */
int copy_hash(struct unpack *u, int src, int dst, uint64_t len, struct sha256_ctx *c)
{
	uint64_t off = 0;
	while (off < len) {
		size_t want = len - off < DATA_BLOCK ? (size_t)(len - off) : DATA_BLOCK;
		ssize_t r = pread(src, u->block, want, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = ENODATA;
			return -1;
		}
		if (write_all_hash(dst, u->block, (size_t)r, c) < 0)
			return -1;
		off += (uint64_t)r;
	}
	return 0;
}

void hash_hex(struct sha256_ctx *c, char hex[SHA256_HEX_LEN])
{
	unsigned char d[SHA256_LEN];
	sha256_final(c, d);
	hex_encode(d, SHA256_LEN, hex);
}

/* --- the command --- */

static void report(struct out *out, struct unpack *u, const char *id, int64_t t0)
{
	static const char *const modes[] = { "release", "merge", "mirror" };
	struct buf b = BUF_INIT;
	buf_addf(&b, "{\"mode\":\"%s\"", modes[u->o->mode]);
	if (id) {
		buf_adds(&b, ",\"release\":");
		buf_add_json_str(&b, id, strlen(id));
	}
	uint64_t deleted = u->o->mode == MODE_RELEASE ? u->counts[OP_DELETE]
			   : u->o->mode == MODE_MIRROR ? u->deleted : 0;
	buf_addf(&b, ",\"added\":%u,\"modified\":%u,\"appended\":%u,\"deleted\":%ju,\"meta\":%u,"
		 "\"files\":%zu,\"bytes\":%ju,\"duration_ms\":%jd}", u->counts[OP_ADD], u->counts[OP_MODIFY],
		 u->counts[OP_APPEND], (uintmax_t)deleted, u->counts[OP_META], u->m.n, (uintmax_t)u->bytes,
		 (intmax_t)(time_mono_ms() - t0));
	out_line(out, b.data, b.len);
	buf_free(&b);
}

/* The tree the new one is built from: the current release (none on a
 * first run), or DIR itself for merge and mirror. */
static int open_base(struct unpack *u)
{
	if (u->o->mode != MODE_RELEASE) {
		u->basefd = dup(u->dirfd);
		return 0;
	}
	u->err[0] = 0;
	u->base_id = current_release(u->dirfd, u->err, sizeof u->err);
	if (!u->base_id && u->err[0]) {
		u->status = CCE_EX_FAIL;
		return -1;
	}
	if (!u->base_id)
		return 0;
	char p[600];
	snprintf(p, sizeof p, "releases/%s", u->base_id);
	u->basefd = openat(u->dirfd, p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (u->basefd < 0)
		return fail(u, CCE_EX_FAIL, "cannot open the current release '%s': %s", p, strerror(errno));
	return 0;
}

/* DIR/.cce-sync.stage.PID.MS with its tree and tails directories. */
static int make_staging(struct unpack *u)
{
	snprintf(u->stage, sizeof u->stage, STAGE_PREFIX "%d.%jd", (int)getpid(), (intmax_t)time_now_ms());
	if (mkdirat(u->dirfd, u->stage, 0700) < 0 ||
	    (u->stagefd = openat(u->dirfd, u->stage, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    mkdirat(u->stagefd, "tree", 0700) < 0 || mkdirat(u->stagefd, "tails", 0700) < 0 ||
	    (u->treefd = openat(u->stagefd, "tree", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (u->tailfd = openat(u->stagefd, "tails", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return fail(u, CCE_EX_IOERR, "cannot create staging in '%s': %s", u->o->dir, strerror(errno));
	return 0;
}

/* The built tree, synced, becomes the new release (id) or moves into DIR
 * (with the manifest kept beside it). */
static int commit(struct unpack *u, const struct buf *mtext, char *id, size_t idlen)
{
	bool release = u->o->mode == MODE_RELEASE;
	if (release && set_meta(u, u->treefd, false) < 0)
		return -1;
	/* one syncfs covers every file and directory of the new tree */
	if (syncfs(u->treefd) < 0)
		return fail(u, CCE_EX_IOERR, "cannot sync '%s': %s", u->o->dir, strerror(errno));
	if (release) {
		diag_debug("unpack: synced at %jd ms", (intmax_t)(time_mono_ms() - u->t0));
		return commit_release(u, mtext, id, idlen);
	}
	if (commit_in_place(u) < 0)
		return -1;
	char err[512];
	struct buf p = BUF_INIT;
	buf_addf(&p, "%s/" LAST_MANIFEST, u->o->dir);
	if (fs_replace(p.data, mtext->data, mtext->len, 0644, err, sizeof err) < 0)
		diag_warn("%s", err);
	buf_free(&p);
	return 0;
}

/* Says why the run failed, removes staging, closes and frees all. */
static void finish(struct unpack *u)
{
	progress_end(&u->pg);
	if (u->status)
		diag_error("%s", u->err);
	parent_free(&u->par, u->treefd);
	if (u->treefd >= 0)
		close(u->treefd);
	if (u->tailfd >= 0)
		close(u->tailfd);
	if (u->stagefd >= 0)
		close(u->stagefd);
	if (u->dirfd >= 0 && u->stage[0]) {
		rm_tree_at(u->dirfd, u->stage);
		fsync(u->dirfd);
	}
	if (u->basefd >= 0)
		close(u->basefd);
	if (u->dirfd >= 0)
		close(u->dirfd);
	free(u->base_id);
	free(u->fs);
	free(u->block);
	manifest_free(&u->m);
}

int cmd_unpack(struct out *out, const struct unpack_opts *o)
{
	struct unpack u = { .o = o, .dirfd = -1, .stagefd = -1, .treefd = -1,
			    .tailfd = -1, .basefd = -1, .par.fd = -1 };
	struct buf mtext = BUF_INIT, otext = BUF_INIT;
	char id[128] = "";
	int64_t t0 = u.t0 = time_mono_ms();
	buf_init(&u.par.dir);
	u.block = xmalloc(DATA_BLOCK);
	progress_init(&u.pg, o->progress);

	if ((u.status = lock_dir(o->dir, &u.dirfd, u.err, sizeof u.err)))
		goto out;
	clean_leftovers(u.dirfd);
	if (open_base(&u) < 0 || make_staging(&u) < 0 || read_stream(&u, &mtext, &otext) < 0)
		goto out;
	diag_debug("unpack: stream received at %jd ms", (intmax_t)(time_mono_ms() - t0));
	if (o->mode != MODE_RELEASE && precheck_in_place(&u) < 0)
		goto out;
	if (build(&u) < 0)
		goto out;
	diag_debug("unpack: tree built at %jd ms", (intmax_t)(time_mono_ms() - t0));
	if (commit(&u, &mtext, id, sizeof id) < 0)
		goto out;
	diag_debug("unpack: committed at %jd ms", (intmax_t)(time_mono_ms() - t0));
	report(out, &u, o->mode == MODE_RELEASE ? id : NULL, t0);
out:
	finish(&u);
	buf_free(&mtext);
	buf_free(&otext);
	return u.status;
}
