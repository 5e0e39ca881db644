/*
 * build: the new tree in staging, completed from the base (the current
 * release, or DIR for merge and mirror): directories and symlinks made,
 * appended files joined to their base, unchanged files linked or copied,
 * and every file checked against the manifest's sha256.
 */
#include "unpack.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sig.h"

static int tree_parent(struct unpack *u, const char *path, const char **leaf)
{
	return parent_open(&u->par, u->treefd, path, leaf);
}

static struct timespec ms_ts(int64_t ms)
{
	int64_t s = ms / 1000, r = ms % 1000;
	if (r < 0) {
		s--;
		r += 1000;
	}
	return (struct timespec){ .tv_sec = (time_t)s, .tv_nsec = (long)r * 1000000 };
}

/* Opens path under the base tree (the current release, or DIR) without
 * following a symlink at the end; intermediate components are the base's
 * own directories. */
static int base_open(struct unpack *u, const char *path, struct stat *st)
{
	if (u->basefd < 0) {
		errno = ENOENT;
		return -1;
	}
	int fd = openat(u->basefd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && (fstat(fd, st) < 0 || !S_ISREG(st->st_mode))) {
		close(fd);
		errno = EINVAL;
		fd = -1;
	}
	return fd;
}

/* An appended file: the base's first offset bytes, then the received tail,
 * checked against the manifest as a whole. */
static int build_append(struct unpack *u, size_t i)
{
	const struct entry *e = &u->m.e[i];
	struct stat st;
	int src = base_open(u, e->path, &st);
	if (src < 0)
		return fail(u, CCE_EX_DATAERR, "cannot append to '%s': %s", e->path, strerror(errno));
	char tail[32];
	snprintf(tail, sizeof tail, "%zu", i);
	int tfd = openat(u->tailfd, tail, O_RDONLY | O_CLOEXEC);
	const char *leaf;
	int pfd = tree_parent(u, e->path, &leaf);
	int dst = pfd < 0 ? -1 : openat(pfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	int r = 0;
	struct sha256_ctx c;
	sha256_init(&c);
	if (tfd < 0 || dst < 0)
		r = fail(u, CCE_EX_IOERR, "cannot stage '%s': %s", e->path, strerror(errno));
	else if (copy_hash(u, src, dst, u->fs[i].offset, &c) < 0 ||
		 copy_hash(u, tfd, dst, e->size - u->fs[i].offset, &c) < 0)
		r = fail(u, errno == ENODATA ? CCE_EX_DATAERR : CCE_EX_IOERR, "cannot append to '%s': %s",
			 e->path, errno == ENODATA ? "the local file is shorter than the offset" : strerror(errno));
	char hex[SHA256_HEX_LEN];
	hash_hex(&c, hex);
	if (r == 0 && strcmp(hex, e->sha))
		r = fail(u, CCE_EX_DATAERR, "refused: '%s' after the append does not match its sha256 "
			 "(the local file is not the one the stream was made against)", e->path);
	if (src >= 0)
		close(src);
	if (tfd >= 0)
		close(tfd);
	if (dst >= 0 && close(dst) < 0 && r == 0)
		r = fail(u, CCE_EX_IOERR, "cannot write '%s' in staging: %s", e->path, strerror(errno));
	return r;
}

/* An unchanged file of a release: linked from the current release when its
 * metadata is the same (a link shares mode and mtime), else copied; either
 * way checked against the manifest. */
static int build_unchanged(struct unpack *u, size_t i)
{
	const struct entry *e = &u->m.e[i];
	struct stat st;
	int src = base_open(u, e->path, &st);
	if (src < 0)
		return fail(u, CCE_EX_DATAERR, "'%s' is neither in the stream nor in the current release "
			    "(was the stream made against another manifest?)", e->path);
	char hex[SHA256_HEX_LEN];
	int r = 0;
	if ((uint64_t)st.st_size != e->size || hash_fd(src, UINT64_MAX, hex) < 0 || strcmp(hex, e->sha)) {
		close(src);
		return fail(u, CCE_EX_DATAERR, "'%s' in the current release does not match the manifest "
			    "and is not in the stream", e->path);
	}
	const char *leaf;
	int pfd = tree_parent(u, e->path, &leaf);
	int64_t mt = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
	if (pfd >= 0 && (st.st_mode & 07777) == e->mode && mt == e->mtime &&
	    linkat(u->basefd, e->path, pfd, leaf, 0) == 0) {
		close(src);
		return 0;
	}
	int dst = pfd < 0 ? -1 : openat(pfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (dst < 0 || copy_hash(u, src, dst, e->size, NULL) < 0)
		r = fail(u, CCE_EX_IOERR, "cannot copy '%s' into staging: %s", e->path, strerror(errno));
	close(src);
	if (dst >= 0 && close(dst) < 0 && r == 0)
		r = fail(u, CCE_EX_IOERR, "cannot write '%s' in staging: %s", e->path, strerror(errno));
	return r;
}

/* Mirror: a file not in the stream must already be right in DIR. */
static int check_unchanged(struct unpack *u, size_t i)
{
	const struct entry *e = &u->m.e[i];
	struct stat st;
	char hex[SHA256_HEX_LEN];
	int src = base_open(u, e->path, &st);
	bool okay = src >= 0 && (uint64_t)st.st_size == e->size && hash_fd(src, UINT64_MAX, hex) == 0 &&
		    !strcmp(hex, e->sha);
	if (src >= 0)
		close(src);
	if (!okay)
		return fail(u, CCE_EX_DATAERR, "'%s' in DIR does not match the manifest and is not in the "
			    "stream (was the stream made against another manifest?)", e->path);
	return 0;
}

int build(struct unpack *u)
{
	for (size_t i = 0; i < u->m.n; i++) {
		const struct entry *e = &u->m.e[i];
		const char *leaf;
		int pfd;
		if (sig_stop)
			return fail(u, sig_exit_code(), "interrupted");
		switch (e->type) {
		case ENT_DIR:
			pfd = tree_parent(u, e->path, &leaf);
			if (pfd < 0 || (mkdirat(pfd, leaf, 0700) < 0 && errno != EEXIST))
				return fail(u, CCE_EX_IOERR, "cannot create '%s' in staging: %s", e->path,
					    strerror(errno));
			break;
		case ENT_SYMLINK:
			pfd = tree_parent(u, e->path, &leaf);
			if (pfd < 0 || symlinkat(e->target, pfd, leaf) < 0)
				return fail(u, CCE_EX_IOERR, "cannot create '%s' in staging: %s", e->path,
					    strerror(errno));
			break;
		case ENT_FILE:
			if (u->fs[i].kind == F_APPEND) {
				if (build_append(u, i) < 0)
					return -1;
			} else if (u->fs[i].kind == F_NONE) {
				if (u->o->mode == MODE_RELEASE && build_unchanged(u, i) < 0)
					return -1;
				if (u->o->mode == MODE_MIRROR && check_unchanged(u, i) < 0)
					return -1;
			}
			break;
		}
	}
	return 0;
}

/* Modes and times from the manifest, children before parents so that a
 * directory's mtime is not disturbed afterwards. only_written: skip files
 * not in the stream (merge and mirror leave DIR's own files alone). */
int set_meta(struct unpack *u, int root, bool in_place)
{
	for (size_t k = u->m.n; k-- > 0;) {
		const struct entry *e = &u->m.e[k];
		struct timespec ts[2];
		ts[0] = ts[1] = ms_ts(e->mtime);
		if (in_place && e->type == ENT_FILE && u->fs[k].kind == F_NONE && u->o->mode == MODE_MERGE)
			continue;
		if (e->type == ENT_SYMLINK) {
			if (utimensat(root, e->path, ts, AT_SYMLINK_NOFOLLOW) < 0 && errno != ENOENT)
				return fail(u, CCE_EX_IOERR, "cannot set the time of '%s': %s", e->path,
					    strerror(errno));
			continue;
		}
		if (fchmodat(root, e->path, e->mode, 0) < 0 || utimensat(root, e->path, ts, 0) < 0)
			return fail(u, CCE_EX_IOERR, "cannot set the mode or time of '%s': %s", e->path,
				    strerror(errno));
	}
	return 0;
}
