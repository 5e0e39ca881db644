#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static int failf(char *err, size_t errlen, const char *what, const char *path)
{
	int e = errno;
	if (err)
		snprintf(err, errlen, "%s '%s': %s", what, path, strerror(e));
	errno = e;
	return -1;
}

int fs_write_all(int fd, const void *p, size_t n)
{
	const char *s = p;
	while (n) {
		ssize_t w = write(fd, s, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

int fs_fsync_dir(const char *path)
{
	struct stat st;
	char *copy = xstrdup(path);
	const char *dir = (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) ? path : dirname(copy);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = -1;
	if (fd >= 0) {
		r = fsync(fd);
		int e = errno;
		close(fd);
		errno = e;
	}
	free(copy);
	return r;
}

int fs_replace(const char *path, const void *data, size_t len, mode_t mode,
	       char *err, size_t errlen)
{
	size_t n = strlen(path) + 32;
	char *tmp = xmalloc(n);
	snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		failf(err, errlen, "cannot create", tmp);
		free(tmp);
		return -1;
	}
	if (fs_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		failf(err, errlen, "cannot write", tmp);
		close(fd);
		unlink(tmp);
		free(tmp);
		return -1;
	}
	if (close(fd) < 0) {
		failf(err, errlen, "cannot write", tmp);
		unlink(tmp);
		free(tmp);
		return -1;
	}
	if (rename(tmp, path) < 0) {
		int e = errno;
		if (err)
			snprintf(err, errlen, "cannot rename '%s' to '%s': %s", tmp, path, strerror(e));
		unlink(tmp);
		free(tmp);
		errno = e;
		return -1;
	}
	free(tmp);
	if (fs_fsync_dir(path) < 0)
		return failf(err, errlen, "cannot sync the directory of", path);
	return 0;
}

int fs_mkdirs(const char *path, mode_t mode)
{
	char *p = xstrdup(path);
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = 0;
	for (char *s = p + 1; ; s++) {
		if (*s == '/' || !*s) {
			char c = *s;
			*s = 0;
			if (mkdir(p, mode) < 0 && errno != EEXIST) {
				int e = errno;
				free(p);
				errno = e;
				return -1;
			}
			*s = c;
			if (!c)
				break;
		}
	}
	struct stat st;
	int r = stat(p, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
	if (r < 0 && errno == 0)
		errno = ENOTDIR;
	free(p);
	return r;
}

int fs_append(const char *path, const void *p, size_t n, mode_t mode, bool sync,
	      char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode);
	if (fd < 0)
		return failf(err, errlen, "cannot open", path);
	if (fs_write_all(fd, p, n) < 0 || (sync && fsync(fd) < 0)) {
		failf(err, errlen, "cannot write", path);
		close(fd);
		return -1;
	}
	if (close(fd) < 0)
		return failf(err, errlen, "cannot write", path);
	return 0;
}

int fs_read_file(const char *path, size_t max, struct buf *out, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return failf(err, errlen, "cannot open", path);
	size_t start = out->len;
	for (;;) {
		buf_grow(out, 65536);
		ssize_t r = read(fd, out->data + out->len, 65536);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			failf(err, errlen, "cannot read", path);
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		out->len += (size_t)r;
		out->data[out->len] = 0;
		if (out->len - start > max) {
			close(fd);
			if (err)
				snprintf(err, errlen, "'%s' is larger than %zu bytes", path, max);
			errno = EFBIG;
			return -1;
		}
	}
	close(fd);
	return 0;
}

int fs_lock(const char *lockpath, bool wait, char *err, size_t errlen)
{
	int fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return failf(err, errlen, "cannot open lock file", lockpath);
	while (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
		if (errno == EINTR && wait)
			continue;
		int e = errno;
		if (e == EWOULDBLOCK) {
			char pid[32] = "";
			ssize_t r = pread(fd, pid, sizeof pid - 1, 0);
			if (r > 0)
				pid[r] = 0;
			pid[strcspn(pid, "\n")] = 0;
			if (err)
				snprintf(err, errlen, "'%s' is locked by pid %s", lockpath,
					 *pid ? pid : "(unknown)");
		} else if (err) {
			snprintf(err, errlen, "cannot lock '%s': %s", lockpath, strerror(e));
		}
		close(fd);
		errno = e;
		return -1;
	}
	char pid[32];
	int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)n, 0) < 0) {
		/* the pid is only for the message of a refused lock */
	}
	return fd;
}

void fs_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

/* Where the state directory comes from: base, the directory a variable
 * names, and what lies below it (rest, "" for CCE_HOME). */
static int home_parts(const char **var, const char **base, const char **rest)
{
	const char *h;
	if ((h = getenv("CCE_HOME")) && *h) {
		*var = "CCE_HOME", *base = h, *rest = "";
	} else if ((h = getenv("XDG_STATE_HOME")) && *h == '/') {
		*var = "XDG_STATE_HOME", *base = h, *rest = "/cce";
	} else if ((h = getenv("HOME")) && *h) {
		*var = "HOME", *base = h, *rest = "/.local/state/cce";
	} else {
		errno = ENOENT;
		return -1;
	}
	return 0;
}

int cce_home(char *out, size_t outlen)
{
	const char *var, *base, *rest;
	if (home_parts(&var, &base, &rest) < 0)
		return -1;
	int n = snprintf(out, outlen, "%s%s", base, rest);
	if (n < 0 || (size_t)n >= outlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static int home_fail(char *err, size_t errlen, const char *verb, const char *var,
		     const char *dir, int e)
{
	snprintf(err, errlen, "%s %s '%s': %s", verb, var, dir, strerror(e));
	errno = e;
	return -1;
}

/* mkdir of the directory a variable names, when its parent exists */
static int make_named(const char *var, const char *dir, char *err, size_t errlen)
{
	char *parent = xstrdup(dir);
	size_t n = strlen(parent);
	while (n > 1 && parent[n - 1] == '/')
		parent[--n] = 0;
	char *slash = strrchr(parent, '/');
	if (!slash)
		strcpy(parent, ".");
	else
		slash[slash == parent] = 0; /* "/a" has the parent "/" */
	struct stat st;
	int r = stat(parent, &st);
	if (r < 0 || !S_ISDIR(st.st_mode)) {
		int e = r < 0 ? errno : ENOTDIR;
		const char *why = e == ENOENT ? "does not exist" : e == ENOTDIR ? "is not a directory" : NULL;
		if (why)
			snprintf(err, errlen, "cannot create %s '%s': '%s' %s", var, dir, parent, why);
		else
			snprintf(err, errlen, "cannot create %s '%s': '%s': %s", var, dir, parent,
				 strerror(e));
		free(parent);
		errno = e;
		return -1;
	}
	free(parent);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return home_fail(err, errlen, "cannot create", var, dir, errno);
	return 0;
}

int cce_home_ready(char *out, size_t outlen, char *err, size_t errlen)
{
	const char *var, *base, *rest;
	if (home_parts(&var, &base, &rest) < 0) {
		snprintf(err, errlen, "cannot find a state directory: set CCE_HOME or HOME");
		return -1;
	}
	if (cce_home(out, outlen) < 0)
		return home_fail(err, errlen, "cannot use", var, base, errno);
	struct stat st;
	if (stat(base, &st) < 0) {
		/* HOME is never made, the others only below what exists */
		if (errno != ENOENT || !strcmp(var, "HOME"))
			return home_fail(err, errlen, "cannot use", var, base, errno);
		if (make_named(var, base, err, errlen) < 0)
			return -1;
	} else if (!S_ISDIR(st.st_mode)) {
		return home_fail(err, errlen, "cannot use", var, base, ENOTDIR);
	}
	if (*rest && fs_mkdirs(out, 0700) < 0)
		return failf(err, errlen, "cannot create", out);
	return 0;
}
