/*
 * inplace: merge and mirror, where DIR is the tree. The staged files move
 * into DIR one rename each, after a check that DIR can take them (merge
 * never replaces a directory with a file or the other way round); mirror
 * then deletes what the manifest does not hold.
 */
#include "unpack.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout.h"

/* Can DIR take the manifest without a conflict merge may not resolve? */
int precheck_in_place(struct unpack *u)
{
	const char *replaced = NULL; /* mirror: a directory path replaced wholesale */
	size_t rlen = 0;
	for (size_t i = 0; i < u->m.n; i++) {
		const struct entry *e = &u->m.e[i];
		if (replaced && !strncmp(e->path, replaced, rlen) && e->path[rlen] == '/')
			continue;
		struct stat st;
		if (fstatat(u->dirfd, e->path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			return fail(u, CCE_EX_IOERR, "cannot stat '%s': %s", e->path, strerror(errno));
		}
		bool isdir = S_ISDIR(st.st_mode);
		if ((e->type == ENT_DIR) != isdir) {
			if (u->o->mode == MODE_MERGE)
				return fail(u, CCE_EX_DATAERR, "refused: '%s' is a %s in DIR and a %s in the "
					    "manifest (merge never replaces one with the other)", e->path,
					    isdir ? "directory" : "non-directory", isdir ? "non-directory" : "directory");
			if (e->type == ENT_DIR) {
				replaced = e->path;
				rlen = strlen(e->path);
			}
		}
	}
	return 0;
}

static int delete_extra(struct unpack *u, int dfd, const char *rel)
{
	int fd = openat(dfd, *rel ? rel : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		if (fd >= 0)
			close(fd);
		return fail(u, CCE_EX_IOERR, "cannot read '%s': %s", *rel ? rel : ".", strerror(errno));
	}
	struct dirent *de;
	struct buf p = BUF_INIT;
	int r = 0;
	while (r == 0 && (de = readdir(d))) {
		const char *n = de->d_name;
		if (!strcmp(n, ".") || !strcmp(n, "..") || (!*rel && !strncmp(n, ".cce-sync", 9)))
			continue;
		buf_reset(&p);
		if (*rel)
			buf_addf(&p, "%s/", rel);
		buf_adds(&p, n);
		const struct entry *e = manifest_find(&u->m, p.data);
		if (!e) {
			if (rm_tree_at(dirfd(d), n) < 0)
				r = fail(u, CCE_EX_IOERR, "cannot delete '%s': %s", p.data, strerror(errno));
			u->deleted++;
		} else if (e->type == ENT_DIR) {
			r = delete_extra(u, dfd, p.data);
		}
	}
	buf_free(&p);
	closedir(d);
	return r;
}

int commit_in_place(struct unpack *u)
{
	for (size_t i = 0; i < u->m.n; i++) {
		const struct entry *e = &u->m.e[i];
		struct stat st, sst;
		bool exists = fstatat(u->dirfd, e->path, &st, AT_SYMLINK_NOFOLLOW) == 0;
		if (e->type == ENT_DIR) {
			if (exists && S_ISDIR(st.st_mode))
				continue;
			if (exists && rm_tree_at(u->dirfd, e->path) < 0)
				return fail(u, CCE_EX_IOERR, "cannot replace '%s': %s", e->path, strerror(errno));
			if (mkdirat(u->dirfd, e->path, 0700) < 0)
				return fail(u, CCE_EX_IOERR, "cannot create '%s': %s", e->path, strerror(errno));
			continue;
		}
		bool staged = e->type == ENT_FILE ? u->fs[i].kind != F_NONE
						  : fstatat(u->treefd, e->path, &sst, AT_SYMLINK_NOFOLLOW) == 0;
		if (!staged)
			continue;
		if (exists && S_ISDIR(st.st_mode) && rm_tree_at(u->dirfd, e->path) < 0)
			return fail(u, CCE_EX_IOERR, "cannot replace '%s': %s", e->path, strerror(errno));
		if (renameat(u->treefd, e->path, u->dirfd, e->path) < 0)
			return fail(u, CCE_EX_IOERR, "cannot move '%s' into place: %s", e->path, strerror(errno));
	}
	if (u->o->mode == MODE_MIRROR && delete_extra(u, u->dirfd, "") < 0)
		return -1;
	if (set_meta(u, u->dirfd, true) < 0)
		return -1;
	if (syncfs(u->dirfd) < 0)
		return fail(u, CCE_EX_IOERR, "cannot sync '%s': %s", u->o->dir, strerror(errno));
	return 0;
}
