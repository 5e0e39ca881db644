/* manifest and diff: a tree's manifest, and the ops between two */
#include "sync.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "diag.h"

char *tree_root(const char *dir)
{
	struct buf b = BUF_INIT;
	struct stat st;
	buf_addf(&b, "%s/releases", dir);
	bool layout = stat(b.data, &st) == 0 && S_ISDIR(st.st_mode);
	buf_reset(&b);
	buf_addf(&b, "%s/current", dir);
	if (layout && lstat(b.data, &st) == 0 && S_ISLNK(st.st_mode)) {
		buf_adds(&b, "/");
		return buf_detach(&b, NULL);
	}
	buf_reset(&b);
	buf_adds(&b, dir);
	return buf_detach(&b, NULL);
}

int cmd_manifest(struct out *out, const char *dir, const char *cache)
{
	char err[512] = "";
	struct manifest m;
	char *root = tree_root(dir);
	int r = manifest_scan(root, cache, &m, err, sizeof err);
	free(root);
	if (r < 0) {
		diag_error("%s", err);
		manifest_free(&m);
		return CCE_EX_IOERR;
	}
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < m.n && !out_done(out); i++) {
		buf_reset(&b);
		entry_json(&m.e[i], &b);
		out_line(out, b.data, b.len);
	}
	buf_free(&b);
	manifest_free(&m);
	return 0;
}

int cmd_diff(struct out *out, const char *oldf, const char *newf, const char *dir)
{
	char err[512] = "";
	struct stat st;
	if (dir && stat(dir, &st) < 0) {
		diag_error("--dir '%s': %s", dir, strerror(errno));
		return CCE_EX_IOERR;
	}
	if (dir && !S_ISDIR(st.st_mode)) {
		diag_error("--dir '%s': not a directory", dir);
		return CCE_EX_IOERR;
	}
	struct manifest a, b;
	memset(&b, 0, sizeof b);
	if (manifest_load(oldf, &a, err, sizeof err) < 0 ||
	    manifest_load(newf, &b, err, sizeof err) < 0) {
		diag_error("%s", err);
		manifest_free(&a);
		manifest_free(&b);
		return CCE_EX_DATAERR;
	}
	struct ops ops;
	manifest_diff(&a, &b, dir, &ops, err, sizeof err); /* never fails */
	struct buf l = BUF_INIT;
	for (size_t i = 0; i < ops.n && !out_done(out); i++) {
		buf_reset(&l);
		op_json(&ops.o[i], &l);
		out_line(out, l.data, l.len);
	}
	buf_free(&l);
	ops_free(&ops);
	manifest_free(&a);
	manifest_free(&b);
	return 0;
}
