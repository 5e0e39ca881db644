/* the layout of a release directory: see layout.h */
#include "layout.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"
#include "fsutil.h"
#include "sync.h"

int rm_tree_at(int dfd, const char *name)
{
	if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -1;
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	struct dirent *de;
	int r = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (rm_tree_at(dirfd(d), de->d_name) < 0)
			r = -1;
	}
	closedir(d);
	if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		r = -1;
	return r;
}

char *current_release(int dirfd, char *err, size_t errlen)
{
	char t[512];
	ssize_t n = readlinkat(dirfd, "current", t, sizeof t - 1);
	if (n < 0) {
		if (errno != ENOENT && errno != EINVAL)
			snprintf(err, errlen, "cannot read 'current': %s", strerror(errno));
		else if (errno == EINVAL)
			snprintf(err, errlen, "'current' is not a symlink");
		return NULL;
	}
	t[n] = 0;
	const char *why;
	if (strncmp(t, "releases/", 9) || strchr(t + 9, '/') || !path_ok(t + 9, &why)) {
		snprintf(err, errlen, "'current' points to '%s', not to a release", t);
		return NULL;
	}
	return xstrdup(t + 9);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Release ids, sorted (they sort by time). */
char **list_releases(int dirfd, size_t *n)
{
	*n = 0;
	int fd = openat(dirfd, "releases", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	char **v = NULL;
	size_t cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (*n == cap)
			v = xrealloc(v, (cap = cap ? cap * 2 : 16) * sizeof *v);
		v[(*n)++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (v)
		qsort(v, *n, sizeof *v, cmp_str);
	return v;
}

void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* current -> releases/id, by renaming a new symlink over it */
int flip(int dirfd, const char *id, char *err, size_t errlen)
{
	char t[512];
	snprintf(t, sizeof t, "releases/%s", id);
	unlinkat(dirfd, CURRENT_TMP, 0);
	if (symlinkat(t, dirfd, CURRENT_TMP) < 0 || renameat(dirfd, CURRENT_TMP, dirfd, "current") < 0 ||
	    fsync(dirfd) < 0) {
		snprintf(err, errlen, "cannot switch 'current' to '%s': %s", id, strerror(errno));
		unlinkat(dirfd, CURRENT_TMP, 0);
		return -1;
	}
	return 0;
}

int lock_dir(const char *dir, int *dirfd, char *err, size_t errlen)
{
	if (fs_mkdirs(dir, 0755) < 0) {
		snprintf(err, errlen, "cannot create '%s': %s", dir, strerror(errno));
		return CCE_EX_IOERR;
	}
	*dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*dirfd < 0) {
		snprintf(err, errlen, "cannot open '%s': %s", dir, strerror(errno));
		return CCE_EX_IOERR;
	}
	/* the lock is on DIR itself, so that a run leaves no file of its own */
	if (flock(*dirfd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(err, errlen, errno == EWOULDBLOCK ? "'%s' is locked by another cce-sync run"
							    : "cannot lock '%s': %s", dir, strerror(errno));
		close(*dirfd);
		*dirfd = -1;
		return errno == EWOULDBLOCK ? CCE_EX_TEMPFAIL : CCE_EX_IOERR;
	}
	return 0;
}

/* --- rollback, releases, verify --- */
