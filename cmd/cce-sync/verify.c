/* verify: a tree checked against its manifest */
#include "sync.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "layout.h"

int cmd_verify(struct out *out, const char *dir, const char *mfile)
{
	char err[512] = "";
	struct buf p = BUF_INIT;
	if (!mfile) {
		int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		char *cur = dirfd < 0 ? NULL : current_release(dirfd, err, sizeof err);
		if (dirfd >= 0)
			close(dirfd);
		if (cur)
			buf_addf(&p, "%s/" MANIFESTS "/%s.jsonl", dir, cur);
		else
			buf_addf(&p, "%s/" LAST_MANIFEST, dir);
		free(cur);
		mfile = p.data;
	}
	struct manifest want, have;
	memset(&have, 0, sizeof have);
	int st = 0;
	char *root = tree_root(dir);
	if (manifest_load(mfile, &want, err, sizeof err) < 0) {
		st = CCE_EX_DATAERR;
	} else if (manifest_scan(root, NULL, &have, err, sizeof err) < 0) {
		st = CCE_EX_IOERR;
	}
	if (st) {
		diag_error("%s", err);
	} else {
		static const char *const problem[] = { "extra", "changed", "changed", "missing", "meta" };
		struct ops ops;
		manifest_diff(&want, &have, NULL, &ops, err, sizeof err);
		struct buf b = BUF_INIT;
		for (size_t i = 0; i < ops.n; i++) {
			const struct op *op = &ops.o[i];
			const struct entry *e = op->new ? op->new : op->old;
			buf_reset(&b);
			buf_adds(&b, "{\"path\":");
			buf_add_json_str(&b, e->path, strlen(e->path));
			buf_addf(&b, ",\"problem\":\"%s\"}", problem[op->kind]);
			out_line(out, b.data, b.len);
		}
		if (ops.n) {
			diag_error("'%s' differs from '%s' in %zu entries", root, mfile, ops.n);
			st = CCE_EX_FAIL;
		}
		buf_free(&b);
		ops_free(&ops);
	}
	free(root);
	buf_free(&p);
	manifest_free(&want);
	manifest_free(&have);
	return st;
}
