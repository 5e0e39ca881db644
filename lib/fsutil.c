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

int cce_home(char *out, size_t outlen)
{
	const char *h = getenv("CCE_HOME");
	int n;
	if (h && *h) {
		n = snprintf(out, outlen, "%s", h);
	} else if ((h = getenv("XDG_STATE_HOME")) && *h == '/') {
		n = snprintf(out, outlen, "%s/cce", h);
	} else if ((h = getenv("HOME")) && *h) {
		n = snprintf(out, outlen, "%s/.local/state/cce", h);
	} else {
		errno = ENOENT;
		return -1;
	}
	if (n < 0 || (size_t)n >= outlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}
