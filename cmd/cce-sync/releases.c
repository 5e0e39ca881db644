/* rollback and releases: switch current back, list the releases */
#include "sync.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"
#include "layout.h"

int cmd_rollback(struct out *out, const char *dir, const char *to)
{
	char err[512] = "";
	int dirfd;
	int st = lock_dir(dir, &dirfd, err, sizeof err);
	if (st) {
		diag_error("%s", err);
		return st;
	}
	size_t n;
	char **v = list_releases(dirfd, &n);
	char *cur = current_release(dirfd, err, sizeof err);
	const char *target = NULL;
	st = CCE_EX_FAIL;
	if (to) {
		for (size_t i = 0; i < n; i++)
			if (!strcmp(v[i], to))
				target = v[i];
		if (!target)
			snprintf(err, sizeof err, "no release '%s' in '%s/releases'", to, dir);
	} else if (!cur) {
		if (!err[0])
			snprintf(err, sizeof err, "'%s' has no current release", dir);
	} else {
		for (size_t i = 0; i < n; i++)
			if (!strcmp(v[i], cur) && i > 0)
				target = v[i - 1];
		if (!target)
			snprintf(err, sizeof err, "no release before '%s' in '%s/releases'", cur, dir);
	}
	if (target && flip(dirfd, target, err, sizeof err) == 0) {
		struct buf b = BUF_INIT;
		buf_adds(&b, "{\"release\":");
		buf_add_json_str(&b, target, strlen(target));
		if (cur) {
			buf_adds(&b, ",\"previous\":");
			buf_add_json_str(&b, cur, strlen(cur));
		}
		buf_addc(&b, '}');
		out_line(out, b.data, b.len);
		buf_free(&b);
		st = 0;
	}
	if (st)
		diag_error("%s", err);
	free(cur);
	free_list(v, n);
	close(dirfd);
	return st;
}

int cmd_releases(struct out *out, const char *dir)
{
	char err[512] = "";
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		diag_error("cannot open '%s': %s", dir, strerror(errno));
		return CCE_EX_IOERR;
	}
	size_t n;
	char **v = list_releases(dirfd, &n);
	char *cur = current_release(dirfd, err, sizeof err);
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		char p[600];
		snprintf(p, sizeof p, "releases/%s", v[i]);
		int64_t mt = fstatat(dirfd, p, &st, 0) == 0 ? (int64_t)st.st_mtim.tv_sec * 1000 : 0;
		buf_reset(&b);
		buf_adds(&b, "{\"release\":");
		buf_add_json_str(&b, v[i], strlen(v[i]));
		buf_addf(&b, ",\"current\":%s,\"ts\":%jd}", cur && !strcmp(cur, v[i]) ? "true" : "false",
			 (intmax_t)mt);
		out_line(out, b.data, b.len);
	}
	buf_free(&b);
	free(cur);
	free_list(v, n);
	close(dirfd);
	return 0;
}
