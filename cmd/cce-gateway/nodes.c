/*
 * nodes: --registry, the edge nodes' tokens that cce-register issued (see
 * gateway.h and cce-register(1)).
 *
 * A node token is checked as cce-register checks it (its token.c, the one
 * definition of a token, is compiled in here): the HMAC with the cluster
 * secret over the node's name and the token's times, not expired, and not
 * issued at or before the node's revocation. The revocations are read from
 * the registry's file store (the snapshot, then its log replayed; see
 * cmd/cce-register/filestore.c): the log is followed by offset as it
 * grows, and a new snapshot (a compaction) is read whole. The files are
 * looked at again at most every NODES_RECHECK_MS, so a revocation takes
 * effect within that. The table holds one number per revoked node.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../cce-register/token.c"
#include "diag.h"
#include "fsutil.h"
#include "gateway.h"
#include "json.h"
#include "map.h"
#include "timeutil.h"

#define NODES_RECHECK_MS 200

struct nodes {
	pthread_mutex_t mu;
	struct secret secret;
	char *dir;
	struct map revoked;      /* node name (copied) -> revocation time, ms */
	int64_t gen;             /* the snapshot's generation, -1 before one */
	ino_t snap_ino;
	struct timespec snap_mtime;
	off_t log_off;           /* how far log.GEN was read */
	int64_t checked;         /* when the files were last looked at (mono ms) */
	struct json_doc doc;
};

/* one stored line: a revocation ("revoked" at the top, or in "rec") */
static void take_line(struct nodes *ns, const char *p, size_t n)
{
	struct json_error je;
	if (json_parse(&ns->doc, p, n, &je) < 0 || json_type_of(&ns->doc, 0) != JSON_OBJECT)
		return;
	int node = json_get(&ns->doc, 0, "node"), rev = json_get(&ns->doc, 0, "revoked");
	int rec = json_get(&ns->doc, 0, "rec");
	if (rev < 0 && rec >= 0 && json_type_of(&ns->doc, rec) == JSON_OBJECT)
		rev = json_get(&ns->doc, rec, "revoked");
	int64_t t;
	struct buf name = BUF_INIT;
	buf_init(&name);
	if (node >= 0 && rev >= 0 && json_int(&ns->doc, rev, &t) && json_str(&ns->doc, node, &name)) {
		bool added;
		struct map_ent *e = map_put(&ns->revoked, name.data, name.len, &added);
		if (t > e->num)
			e->num = (intptr_t)t;
	}
	buf_free(&name);
}

/* the whole lines of p[0..n) (a last line without its newline is a writer
 * in mid-append: left for later); the bytes taken */
static size_t take_lines(struct nodes *ns, const char *p, size_t n)
{
	size_t done = 0;
	for (const char *nl; (nl = memchr(p + done, '\n', n - done)); done = (size_t)(nl - p) + 1)
		take_line(ns, p + done, (size_t)(nl - (p + done)));
	return done;
}

static int read_snapshot(struct nodes *ns, const struct stat *st, char *err, size_t errlen)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/snapshot", ns->dir);
	struct buf b = BUF_INIT;
	buf_init(&b);
	if (fs_read_file(path, (size_t)1 << 30, &b, err, errlen) < 0) {
		buf_free(&b);
		return -1;
	}
	int64_t gen = -1;
	if (b.len && sscanf(b.data, "{\"registry\":1,\"gen\":%" SCNd64 "}", &gen) != 1) {
		snprintf(err, errlen, "%s: not a cce-register snapshot", path);
		buf_free(&b);
		return -1;
	}
	map_free(&ns->revoked);
	map_init(&ns->revoked, MAP_COPY_KEYS);
	take_lines(ns, b.data, b.len);
	buf_free(&b);
	ns->gen = gen;
	ns->snap_ino = st->st_ino;
	ns->snap_mtime = st->st_mtim;
	ns->log_off = 0;
	return 0;
}

/* the log's new lines; 1 when log.GEN is gone (compacted: read again) */
static int read_log(struct nodes *ns, char *err, size_t errlen)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/log.%" PRId64, ns->dir, ns->gen);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 1;
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) == 0 && st.st_size > ns->log_off) {
		size_t n = (size_t)(st.st_size - ns->log_off);
		char *p = xmalloc(n);
		ssize_t got = pread(fd, p, n, ns->log_off);
		if (got < 0) {
			snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
			rc = -1;
		} else {
			ns->log_off += (off_t)take_lines(ns, p, (size_t)got);
		}
		free(p);
	}
	close(fd);
	return rc;
}

/* the table up to date with the files: 0, or -1 with err */
static int refresh(struct nodes *ns, char *err, size_t errlen)
{
	for (int tries = 0; tries < 3; tries++) {
		char path[4200];
		struct stat st;
		snprintf(path, sizeof path, "%s/snapshot", ns->dir);
		if (stat(path, &st) < 0) {
			snprintf(err, errlen, "%s: no registry here (cce-register init): %s", ns->dir,
				 strerror(errno));
			return -1;
		}
		bool same = ns->gen >= 0 && st.st_ino == ns->snap_ino &&
			    st.st_mtim.tv_sec == ns->snap_mtime.tv_sec &&
			    st.st_mtim.tv_nsec == ns->snap_mtime.tv_nsec;
		if (!same && read_snapshot(ns, &st, err, errlen) < 0)
			return -1;
		int rc = read_log(ns, err, errlen);
		if (rc <= 0)
			return rc;
		ns->gen = -1;   /* compacted meanwhile: from the new snapshot */
	}
	snprintf(err, errlen, "%s: the registry keeps changing under the reader", ns->dir);
	return -1;
}

struct nodes *nodes_open(const char *store, const char *secret, char *err, size_t errlen)
{
	if (strstr(store, "://")) {
		snprintf(err, errlen, "--registry: only the file store is read (file:PATH or PATH), "
			 "not '%s'", store);
		return NULL;
	}
	struct nodes *ns = xcalloc(1, sizeof *ns);
	pthread_mutex_init(&ns->mu, NULL);
	ns->dir = xstrdup(strncmp(store, "file:", 5) == 0 ? store + 5 : store);
	ns->gen = -1;
	map_init(&ns->revoked, MAP_COPY_KEYS);
	json_doc_init(&ns->doc);
	if (secret_load(secret, &ns->secret, err, errlen) < 0 || refresh(ns, err, errlen) < 0) {
		nodes_close(ns);
		return NULL;
	}
	ns->checked = time_mono_ms();
	return ns;
}

void nodes_close(struct nodes *ns)
{
	if (!ns)
		return;
	explicit_bzero(&ns->secret, sizeof ns->secret);
	map_free(&ns->revoked);
	json_doc_free(&ns->doc);
	pthread_mutex_destroy(&ns->mu);
	free(ns->dir);
	free(ns);
}

int nodes_check(struct nodes *ns, const char *device, const char *token, int64_t now,
		const char **why)
{
	/* the node of device: its name up to a ':' */
	char node[257];
	size_t n = strcspn(device, ":");
	if (n >= sizeof node || n == 0) {
		*why = "bad token";
		return -1;
	}
	memcpy(node, device, n);
	node[n] = 0;
	if (token_check(&ns->secret, node, token, now, why) < 0)
		return -1;
	int64_t issued, expires;
	token_times(token, &issued, &expires);
	pthread_mutex_lock(&ns->mu);
	char err[512];
	int64_t mono = time_mono_ms();
	if (mono - ns->checked >= NODES_RECHECK_MS) {
		ns->checked = mono;
		/* a registry that cannot be read now keeps the revocations known */
		if (refresh(ns, err, sizeof err) < 0)
			diag_warn("--registry: %s", err);
	}
	struct map_ent *e = map_get(&ns->revoked, node, n);
	bool revoked = e && issued <= e->num;
	pthread_mutex_unlock(&ns->mu);
	if (revoked) {
		*why = "revoked token";
		return -1;
	}
	return 0;
}
