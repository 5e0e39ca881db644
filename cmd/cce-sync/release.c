/*
 * release: staging becomes releases/ID, then current. The release is
 * named in DIR/.cce-sync.pending while it is not yet current, so that the
 * run after a kill -9 (during --check, say) removes it; --check runs in
 * the new release before the switch; old releases beyond --keep go.
 */
#include "unpack.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "diag.h"
#include "fsutil.h"
#include "layout.h"
#include "timeutil.h"

/* Staging left behind by a killed run (we hold the lock: nobody else's). */
void clean_leftovers(int dirfd)
{
	int fd = dup(dirfd);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strncmp(de->d_name, STAGE_PREFIX, strlen(STAGE_PREFIX))) {
			diag_debug("removing leftover staging '%s'", de->d_name);
			rm_tree_at(dirfd, de->d_name);
		}
	}
	closedir(d);
	unlinkat(dirfd, CURRENT_TMP, 0);
	char id[256], err[256] = "";
	int fd2 = openat(dirfd, PENDING, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd2 < 0 ? -1 : read(fd2, id, sizeof id - 1);
	if (fd2 >= 0)
		close(fd2);
	if (n <= 0)
		return;
	id[n] = 0;
	char *cur = current_release(dirfd, err, sizeof err);
	const char *why;
	if (path_ok(id, &why) && !strchr(id, '/') && (!cur || strcmp(cur, id))) {
		diag_debug("removing release '%s' left by a killed run", id);
		int rfd = openat(dirfd, "releases", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (rfd >= 0) {
			rm_tree_at(rfd, id);
			fsync(rfd);
			close(rfd);
		}
	}
	free(cur);
	unlinkat(dirfd, PENDING, 0);
	fsync(dirfd);
}

static void prune(struct unpack *u, const char *keep_id)
{
	size_t n;
	char **v = list_releases(u->dirfd, &n);
	int rfd = openat(u->dirfd, "releases", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	size_t kept = 0;
	for (size_t i = n; i-- > 0 && rfd >= 0;) {
		if (!strcmp(v[i], keep_id) || kept < u->o->keep) {
			kept++;
			continue;
		}
		char m[600];
		snprintf(m, sizeof m, MANIFESTS "/%s.jsonl", v[i]);
		if (rm_tree_at(rfd, v[i]) < 0)
			diag_warn("cannot remove old release '%s': %s", v[i], strerror(errno));
		unlinkat(u->dirfd, m, 0);
	}
	if (rfd >= 0) {
		fsync(rfd);
		close(rfd);
	}
	free_list(v, n);
}

static int run_check(struct unpack *u, const char *id)
{
	char path[4200], dir[PATH_MAX];
	if (!realpath(u->o->dir, dir))
		snprintf(dir, sizeof dir, "%s", u->o->dir);
	snprintf(path, sizeof path, "%s/releases/%s", dir, id);
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return fail(u, CCE_EX_FAIL, "cannot run --check: %s", strerror(errno));
	if (pid == 0) {
		/* the check's output must not mix with our report on stdout, and
		 * what is left of the stream is not its input */
		dup2(2, 1);
		int nul = open("/dev/null", O_RDONLY);
		if (nul >= 0)
			dup2(nul, 0);
		if (chdir(path) < 0)
			_exit(127);
		setenv("CCE_SYNC_RELEASE", id, 1);
		setenv("CCE_SYNC_DIR", dir, 1);
		setenv("CCE_SYNC_TREE", path, 1);
		execl("/bin/sh", "sh", "-c", u->o->check, (char *)NULL);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return fail(u, CCE_EX_FAIL, "cannot wait for --check: %s", strerror(errno));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return fail(u, CCE_EX_FAIL, "--check failed (%s %d): 'current' left as it was",
			    WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	return 0;
}

static void release_id(const struct buf *mtext, char *id, size_t idlen)
{
	unsigned char d[SHA256_LEN];
	char hex[SHA256_HEX_LEN];
	sha256(mtext->data, mtext->len, d);
	hex_encode(d, SHA256_LEN, hex);
	int64_t ms = time_now_ms();
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&s, &tm);
	char t[32];
	strftime(t, sizeof t, "%Y%m%dT%H%M%S", &tm);
	snprintf(id, idlen, "%s.%03dZ-%.8s", t, (int)(ms % 1000), hex);
}

/* A release moved into releases/ but not yet current is named in
 * DIR/.cce-sync.pending until it is current or removed, so that the run
 * after a kill -9 (during --check, say) knows what to remove. */
static void drop_release(struct unpack *u, const char *id)
{
	int rfd = openat(u->dirfd, "releases", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rfd >= 0) {
		rm_tree_at(rfd, id);
		fsync(rfd);
		close(rfd);
	}
	unlinkat(u->dirfd, PENDING, 0);
	fsync(u->dirfd);
}

int commit_release(struct unpack *u, const struct buf *mtext, char *id, size_t idlen)
{
	char err[512];
	release_id(mtext, id, idlen);
	if (fchmod(u->treefd, 0755) < 0)
		return fail(u, CCE_EX_IOERR, "cannot set the mode of the new release: %s", strerror(errno));
	if (mkdirat(u->dirfd, "releases", 0755) < 0 && errno != EEXIST)
		return fail(u, CCE_EX_IOERR, "cannot create 'releases': %s", strerror(errno));
	struct buf p = BUF_INIT;
	buf_addf(&p, "%s/" PENDING, u->o->dir);
	int r = fs_replace(p.data, id, strlen(id), 0644, err, sizeof err);
	buf_free(&p);
	if (r < 0)
		return fail(u, CCE_EX_IOERR, "%s", err);
	int rfd = openat(u->dirfd, "releases", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0 || renameat(u->stagefd, "tree", rfd, id) < 0 || fsync(rfd) < 0) {
		fail(u, CCE_EX_IOERR, "cannot move the new release to 'releases/%s': %s", id, strerror(errno));
		if (rfd >= 0)
			close(rfd);
		drop_release(u, id);
		return -1;
	}
	close(rfd);
	if (u->o->check && run_check(u, id) < 0) {
		drop_release(u, id);
		return -1;
	}
	buf_addf(&p, "%s/" MANIFESTS, u->o->dir);
	fs_mkdirs(p.data, 0755);
	buf_addf(&p, "/%s.jsonl", id);
	r = fs_replace(p.data, mtext->data, mtext->len, 0644, err, sizeof err);
	buf_free(&p);
	if (r < 0 || flip(u->dirfd, id, err, sizeof err) < 0) {
		/* current still names the old release: the new one is dropped */
		drop_release(u, id);
		return fail(u, CCE_EX_IOERR, "%s", err);
	}
	unlinkat(u->dirfd, PENDING, 0);
	fsync(u->dirfd);
	prune(u, id);
	return 0;
}
