/*
 * The file store: a directory holding
 *   snapshot   {"registry":1,"gen":G} then one stored node per line,
 *              replaced crash-safely by compact
 *   log.G      the ops applied since snapshot G, one JSON line each,
 *              appended and fsynced per batch before any is acknowledged
 *   lock       flock'd by every writer for the whole of a batch
 *   expire     the liveness states `expire` last reported
 * Every log line is an assignment (see registry.h), so the state is the
 * snapshot plus its log replayed in order. A writer killed in mid-append
 * leaves at most an incomplete last line: readers ignore whatever follows
 * the last newline, and the next writer (holding the lock) cuts it off.
 * Compaction writes snapshot G+1, creates log.G+1, then removes log.G; a
 * reader that finds its log.G gone starts again from the new snapshot.
 */
#include "backend.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"
#include "fsutil.h"
#include "sig.h"
#include "timeutil.h"

/* compact when the log outgrows both AUTO_COMPACT_MIN and the snapshot's
 * size divided by AUTO_COMPACT_DIVISOR: readers replay the log, so it
 * stays within the size of the snapshot. Compacting more often costs
 * apply a fsynced snapshot each time (at 4, apply of a million heartbeats
 * for 100,000 nodes took twice as long), while a heartbeat costs list
 * little to replay (replay_heartbeat). */
#define AUTO_COMPACT_MIN ((off_t)8 << 20)
#define AUTO_COMPACT_DIVISOR 1

struct fstore {
	char *dir, *snap, *lockp, *expirep;
	struct store_opts o;
	struct registry reg;     /* the state as of (gen, log_off), for commits */
	bool loaded;
	int64_t gen;
	off_t log_off;
	off_t snap_size;
	struct json_doc doc;
	struct buf line;         /* log lines of the batch being committed */
};

static char *path_join(const char *dir, const char *name)
{
	struct buf b = BUF_INIT;
	buf_addf(&b, "%s/%s", dir, name);
	return buf_detach(&b, NULL);
}

static char *log_path(const struct fstore *s, int64_t gen)
{
	struct buf b = BUF_INIT;
	buf_addf(&b, "%s/log.%" PRId64, s->dir, gen);
	return buf_detach(&b, NULL);
}

struct fstore *fstore_open(const char *dir, const struct store_opts *o)
{
	struct fstore *s = xcalloc(1, sizeof *s);
	s->dir = xstrdup(dir);
	s->snap = path_join(dir, "snapshot");
	s->lockp = path_join(dir, "lock");
	s->expirep = path_join(dir, "expire");
	s->o = *o;
	reg_init(&s->reg);
	json_doc_init(&s->doc);
	buf_init(&s->line);
	return s;
}

void fstore_close(struct fstore *s)
{
	reg_free(&s->reg);
	json_doc_free(&s->doc);
	buf_free(&s->line);
	free(s->dir);
	free(s->snap);
	free(s->lockp);
	free(s->expirep);
	free(s);
}

static int fail_errno(char *err, size_t errlen, const char *what, const char *path)
{
	int e = errno;
	snprintf(err, errlen, "%s '%s': %s", what, path, strerror(e));
	return e == ENOSPC || e == EIO || e == EDQUOT || e == EROFS ? CCE_EX_IOERR : CCE_EX_IOERR;
}

static int no_store(struct fstore *s, char *err, size_t errlen)
{
	snprintf(err, errlen, "no registry at '%s' (run 'cce-register init')", s->dir);
	return CCE_EX_UNAVAILABLE;
}

/* ---- reading lines in chunks (the log can be far larger than memory) */

struct lines {
	int fd;
	struct buf b;
	size_t pos;          /* start of the next line in b */
	off_t base;          /* file offset of b.data[0] */
	bool eof;
};

static void lines_init(struct lines *l, int fd, off_t off)
{
	l->fd = fd;
	buf_init(&l->b);
	l->pos = 0;
	l->base = off;
	l->eof = false;
}

/* 1 a line (without "\n"), 0 no complete line left, -1 read error */
static int lines_next(struct lines *l, const char **p, size_t *n)
{
	for (;;) {
		char *nl = memchr(l->b.data + l->pos, '\n', l->b.len - l->pos);
		if (nl) {
			*p = l->b.data + l->pos;
			*n = (size_t)(nl - *p);
			l->pos += *n + 1;
			return 1;
		}
		if (l->eof)
			return 0;
		/* keep the partial line, drop what was consumed */
		memmove(l->b.data, l->b.data + l->pos, l->b.len - l->pos);
		l->b.len -= l->pos;
		l->base += (off_t)l->pos;
		l->pos = 0;
		buf_grow(&l->b, 1 << 20);
		ssize_t r = pread(l->fd, l->b.data + l->b.len, l->b.cap - l->b.len - 1,
				  l->base + (off_t)l->b.len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			l->eof = true;
		l->b.len += (size_t)r;
		l->b.data[l->b.len] = 0;
	}
}

/* offset just after the last line returned */
static off_t lines_off(const struct lines *l)
{
	return l->base + (off_t)l->pos;
}

/* ---- replaying */

static char *tok_name(const struct json_doc *d, int v, char out[NAME_MAX_LEN + 1])
{
	if (v < 0 || json_type_of(d, v) != JSON_STRING || d->tok[v].escaped ||
	    !name_valid(d->text + d->tok[v].start, d->tok[v].len))
		return NULL;
	memcpy(out, d->text + d->tok[v].start, d->tok[v].len);
	out[d->tok[v].len] = 0;
	return out;
}

/* digits of a positive int64 at *p (at most 18, no leading zero) */
static bool fast_int(const char **p, const char *end, int64_t *v)
{
	const char *s = *p;
	int64_t x = 0;
	if (s >= end || *s < '1' || *s > '9')
		return false;
	while (s < end && *s >= '0' && *s <= '9' && s - *p < 18)
		x = x * 10 + (*s++ - '0');
	if (s < end && *s >= '0' && *s <= '9')
		return false;
	*p = s;
	*v = x;
	return true;
}

static bool fast_lit(const char **p, const char *end, const char *lit, size_t n)
{
	if ((size_t)(end - *p) < n || memcmp(*p, lit, n) != 0)
		return false;
	*p += n;
	return true;
}

#define LIT(s) fast_lit(&q, end, s, sizeof(s) - 1)

/*
 * The heartbeat line exactly as log_applied writes it, without a full
 * parse: most of a log is heartbeats, and list replays all of them.
 * 1 applied, 0 not in that form (the caller parses it in full). Accepts
 * only lines the full parse reads the same way.
 */
static int replay_heartbeat(struct registry *reg, const char *p, size_t n)
{
	const char *q = p, *end = p + n;
	int64_t ts, seen;
	if (!LIT("{\"ev\":\"heartbeat\",\"ts\":") || !fast_int(&q, end, &ts) ||
	    !LIT(",\"node\":\""))
		return 0;
	const char *name = q;
	while (q < end && *q != '"')
		q++;
	size_t nlen = (size_t)(q - name);
	if (!name_valid(name, nlen) || !LIT("\",\"last_seen\":") || !fast_int(&q, end, &seen) ||
	    !LIT(",\"load\":"))
		return 0;
	const char *load = q;
	size_t llen = (size_t)(end - q) - 1;
	if (end - q < 3 || *q != '{' || end[-1] != '}' || load[llen - 1] != '}' ||
	    !json_valid(load, llen, &(struct json_error){ 0 }))
		return 0;
	char nm[NAME_MAX_LEN + 1];
	memcpy(nm, name, nlen);
	nm[nlen] = 0;
	struct node *nd = reg_get(reg, nm);
	if (!nd || !nd->present)
		return 1;
	nd->last_seen = seen;
	if (llen == 2) {
		free(nd->load);
		nd->load = NULL;
	} else if (nd->load && strlen(nd->load) >= llen) {
		/* in place: no heap churn for a node's every heartbeat */
		memcpy(nd->load, load, llen);
		nd->load[llen] = 0;
	} else {
		free(nd->load);
		nd->load = xstrndup(load, llen);
	}
	return 1;
}

#undef LIT

/*
 * Loading a snapshot or replaying a log of heartbeats is one table lookup
 * per line, each a cache miss or two over a table of 100,000 nodes. A
 * prefetcher walks the lines already read ahead of the one being replayed
 * and asks for their slots (far ahead) and nodes (nearer), so that the
 * misses overlap. It only hints: what it reads changes nothing.
 */
struct ahead {
	off_t base;          /* l->base when pos was taken */
	size_t pos;          /* next line to look at, in l->b */
	int lead;            /* lines between l->pos and pos */
};

#define AHEAD_SLOT 16
#define AHEAD_NODE 8

static void ahead_step(struct ahead *a, const struct lines *l, const struct registry *reg,
		       int dist, bool node)
{
	static const char pre[] = "{\"ev\":\"heartbeat\",\"ts\":";
	if (a->base != l->base || a->pos < l->pos || a->lead < 0) {
		a->base = l->base;
		a->pos = l->pos;
		a->lead = 0;
	}
	while (a->lead < dist && a->pos < l->b.len) {
		const char *p = l->b.data + a->pos, *end = l->b.data + l->b.len;
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			return;
		a->pos = (size_t)(nl + 1 - l->b.data);
		a->lead++;
		if (nl - p > 9 && !memcmp(p, "{\"node\":\"", 9)) {
			p += 9; /* a snapshot line */
		} else {
			if ((size_t)(nl - p) < sizeof pre + 20 || memcmp(p, pre, sizeof pre - 1))
				continue;
			p += sizeof pre - 1;
			while (p < nl && *p >= '0' && *p <= '9')
				p++;
			if (nl - p < 10 || memcmp(p, ",\"node\":\"", 9))
				continue;
			p += 9;
		}
		const char *q = memchr(p, '"', (size_t)(nl - p));
		if (!q)
			continue;
		uint64_t h = map_hash(p, (size_t)(q - p));
		if (node)
			reg_prefetch_node(reg, h);
		else
			reg_prefetch_slot(reg, h);
	}
}

/* One log line into reg. -1 when it is not a log line. */
static int replay_line(struct registry *reg, struct json_doc *d, const char *p, size_t n)
{
	if (replay_heartbeat(reg, p, n))
		return 0;
	if (json_parse(d, p, n, &(struct json_error){ 0 }) < 0 || json_type_of(d, 0) != JSON_OBJECT)
		return -1;
	int ev = json_get(d, 0, "ev");
	char name[NAME_MAX_LEN + 1];
	if (ev < 0)
		return -1;
	if (json_str_eq(d, ev, "heartbeat")) {
		int64_t seen;
		int v = json_get(d, 0, "last_seen");
		if (!tok_name(d, json_get(d, 0, "node"), name) || v < 0 || !json_int(d, v, &seen))
			return -1;
		struct node *nd = reg_get(reg, name);
		if (!nd || !nd->present)
			return 0;
		nd->last_seen = seen;
		v = json_get(d, 0, "load");
		if (v >= 0 && json_type_of(d, v) == JSON_OBJECT) {
			size_t len;
			const char *raw = json_raw(d, v, &len);
			free(nd->load);
			nd->load = len == 2 ? NULL : xstrndup(raw, len);
		}
		/* absent: the heartbeat kept the node's tasks */
		v = json_get(d, 0, "tasks");
		if (v >= 0 && json_type_of(d, v) == JSON_ARRAY) {
			size_t len;
			const char *raw = json_raw(d, v, &len);
			free(nd->tasks);
			nd->tasks = len == 2 ? NULL : xstrndup(raw, len);
		}
		return 0;
	}
	if (json_str_eq(d, ev, "left")) {
		if (!tok_name(d, json_get(d, 0, "node"), name))
			return -1;
		struct node *nd = reg_get(reg, name);
		if (nd) {
			node_clear(nd);
			if (!nd->revoked)
				reg_del(reg, name);
		}
		return 0;
	}
	if (json_str_eq(d, ev, "revoked")) {
		int64_t t;
		int v = json_get(d, 0, "revoked");
		if (!tok_name(d, json_get(d, 0, "node"), name) || v < 0 || !json_int(d, v, &t))
			return -1;
		struct node *nd = reg_add(reg, name);
		nd->revoked = t;
		nd->tok_ok = false;
		return 0;
	}
	int rec = json_get(d, 0, "rec");
	if (rec < 0)
		return -1;
	return node_load_json(reg, d, rec);
}

/* Reads the snapshot header: its generation, or -1 with err (and a code). */
static int read_gen(struct fstore *s, int64_t *gen, char *err, size_t errlen)
{
	int fd = open(s->snap, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return no_store(s, err, errlen);
		return fail_errno(err, errlen, "cannot open", s->snap);
	}
	char hdr[128];
	ssize_t r = pread(fd, hdr, sizeof hdr - 1, 0);
	close(fd);
	if (r < 0)
		return fail_errno(err, errlen, "cannot read", s->snap);
	hdr[r] = 0;
	char *nl = strchr(hdr, '\n');
	if (!nl || sscanf(hdr, "{\"registry\":1,\"gen\":%" SCNd64 "}", gen) != 1) {
		snprintf(err, errlen, "'%s' is not a registry snapshot", s->snap);
		return CCE_EX_IOERR;
	}
	return 0;
}

/*
 * Loads snapshot and log into reg (emptied first). *gen and *off tell where
 * the log was read up to; *tail says the log held bytes after that (a torn
 * or unreadable last line). Retries when a compaction ran meanwhile.
 */
/* The snapshot into reg (emptied first), its generation into *gen. */
static int load_snapshot(struct fstore *s, struct registry *reg, int64_t *gen, char *err,
			 size_t errlen)
{
	reg_free(reg);
	reg_init(reg);
	int fd = open(s->snap, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return no_store(s, err, errlen);
		return fail_errno(err, errlen, "cannot open", s->snap);
	}
	struct stat st;
	fstat(fd, &st);
	s->snap_size = st.st_size;
	/* stored nodes take some 300 bytes: no rehashing as they load */
	reg_reserve(reg, (size_t)st.st_size / 256);
	struct lines l;
	lines_init(&l, fd, 0);
	const char *p;
	size_t n;
	int r, lineno = 0;
	bool header = false;
	struct ahead slots = { -1, 0, 0 };
	while ((r = lines_next(&l, &p, &n)) == 1) {
		lineno++;
		slots.lead--;
		ahead_step(&slots, &l, reg, AHEAD_SLOT, false);
		if (lineno == 1) {
			header = sscanf(p, "{\"registry\":1,\"gen\":%" SCNd64 "}", gen) == 1;
			if (!header)
				break;
			continue;
		}
		if (json_parse(&s->doc, p, n, &(struct json_error){ 0 }) < 0 ||
		    node_load_json(reg, &s->doc, 0) < 0)
			diag_warn("%s:%d: skipping a malformed node record", s->snap, lineno);
	}
	buf_free(&l.b);
	close(fd);
	if (r < 0)
		return fail_errno(err, errlen, "cannot read", s->snap);
	if (!header) {
		snprintf(err, errlen, "'%s' is not a registry snapshot", s->snap);
		return CCE_EX_IOERR;
	}
	return 0;
}

/* The log lp, open on fd (closed here), replayed onto reg: *off where its
 * last good record ends, *tail whether anything follows it. */
static int replay_log(struct fstore *s, struct registry *reg, int fd, const char *lp, off_t *off,
		      bool *tail, char *err, size_t errlen)
{
	struct lines l;
	lines_init(&l, fd, 0);
	const char *p;
	size_t n;
	int r;
	off_t good = 0;
	bool bad_last = false;
	struct ahead nodes = { -1, 0, 0 }, slots = { -1, 0, 0 };
	while ((r = lines_next(&l, &p, &n)) == 1) {
		slots.lead--;
		nodes.lead--;
		ahead_step(&slots, &l, reg, AHEAD_SLOT, false);
		ahead_step(&nodes, &l, reg, AHEAD_NODE, true);
		if (replay_line(reg, &s->doc, p, n) < 0) {
			/* a line that does not parse can only be the torn end
			 * of a write; if more follows, warn and go on */
			bad_last = true;
			continue;
		}
		if (bad_last)
			diag_warn("%s: skipping a malformed log line before offset %lld", lp,
				  (long long)lines_off(&l));
		bad_last = false;
		good = lines_off(&l);
	}
	struct stat lst;
	fstat(fd, &lst);
	buf_free(&l.b);
	close(fd);
	if (r < 0)
		return fail_errno(err, errlen, "cannot read", lp);
	*off = good;
	*tail = lst.st_size > good;
	return 0;
}

static int load_all(struct fstore *s, struct registry *reg, int64_t *gen, off_t *off, bool *tail,
		    char *err, size_t errlen)
{
	for (int attempt = 0; attempt < 100; attempt++) {
		int r = load_snapshot(s, reg, gen, err, errlen);
		if (r)
			return r;
		char *lp = log_path(s, *gen);
		int fd = open(lp, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			r = replay_log(s, reg, fd, lp, off, tail, err, errlen);
			free(lp);
			return r;
		}
		int e = errno;
		int64_t g2;
		if (e == ENOENT && read_gen(s, &g2, err, errlen) == 0 && g2 != *gen) {
			free(lp);
			continue; /* compacted under our feet */
		}
		if (e == ENOENT) { /* compaction died before creating it */
			free(lp);
			*off = 0;
			*tail = false;
			return 0;
		}
		errno = e;
		r = fail_errno(err, errlen, "cannot open", lp);
		free(lp);
		return r;
	}
	snprintf(err, errlen, "'%s' keeps changing under a compaction", s->dir);
	return CCE_EX_TEMPFAIL;
}

int fstore_load(struct fstore *s, struct registry *reg, char *err, size_t errlen)
{
	int64_t gen;
	off_t off;
	bool tail;
	return load_all(s, reg, &gen, &off, &tail, err, errlen);
}

/* ---- writing */

int fstore_init(struct fstore *s, char *err, size_t errlen)
{
	if (fs_mkdirs(s->dir, 0700) < 0)
		return fail_errno(err, errlen, "cannot create", s->dir);
	int lk = fs_lock(s->lockp, true, err, errlen);
	if (lk < 0)
		return CCE_EX_IOERR;
	int64_t gen;
	int r = 0;
	if (read_gen(s, &gen, err, errlen) == CCE_EX_UNAVAILABLE) {
		static const char hdr[] = "{\"registry\":1,\"gen\":0}\n";
		char *lp = log_path(s, 0);
		int fd = open(lp, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0 || fsync(fd) < 0)
			r = fail_errno(err, errlen, "cannot create", lp);
		if (fd >= 0)
			close(fd);
		free(lp);
		if (!r && fs_replace(s->snap, hdr, sizeof hdr - 1, 0600, err, errlen) < 0)
			r = CCE_EX_IOERR;
	}
	fs_unlock(lk);
	return r;
}

/* Writes snapshot gen+1 from reg and moves to a new log; lock held. */
static int compact_locked(struct fstore *s, struct registry *reg, char *err, size_t errlen)
{
	int64_t gen = s->gen + 1;
	char *tmp = path_join(s->dir, "snapshot.tmp");
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int r = 0;
	if (fd < 0) {
		r = fail_errno(err, errlen, "cannot create", tmp);
		free(tmp);
		return r;
	}
	struct buf b = BUF_INIT;
	buf_addf(&b, "{\"registry\":1,\"gen\":%" PRId64 "}\n", gen);
	off_t size = 0;
	/* in name order: list, which wants that order, then loads the nodes
	 * into memory in it, and walks them in order of address */
	size_t count;
	struct node **v = reg_sorted(reg, false, &count);
	for (size_t i = 0; i < count; i++) {
		node_store_json(&b, v[i], -1);
		buf_addc(&b, '\n');
		if (b.len >= (1 << 20)) {
			if (fs_write_all(fd, b.data, b.len) < 0)
				goto fail;
			size += (off_t)b.len;
			buf_reset(&b);
		}
	}
	if (fs_write_all(fd, b.data, b.len) < 0 || fsync(fd) < 0)
		goto fail;
	size += (off_t)b.len;
	free(v);
	v = NULL;
	close(fd);
	fd = -1;
	/* the new log exists before the snapshot that names it */
	char *lp = log_path(s, gen);
	int lfd = open(lp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (lfd < 0 || fsync(lfd) < 0) {
		r = fail_errno(err, errlen, "cannot create", lp);
		if (lfd >= 0)
			close(lfd);
		free(lp);
		unlink(tmp);
		goto out;
	}
	close(lfd);
	free(lp);
	if (rename(tmp, s->snap) < 0) {
		r = fail_errno(err, errlen, "cannot replace", s->snap);
		unlink(tmp);
		goto out;
	}
	fs_fsync_dir(s->snap);
	lp = log_path(s, s->gen);
	unlink(lp);
	free(lp);
	s->gen = gen;
	s->log_off = 0;
	s->snap_size = size;
	goto out;
fail:
	r = fail_errno(err, errlen, "cannot write", tmp);
	if (fd >= 0)
		close(fd);
	unlink(tmp);
out:
	free(v);
	buf_free(&b);
	free(tmp);
	return r;
}

/* Brings s->reg up to date with the files (lock held); cuts a torn tail. */
static int catch_up(struct fstore *s, char *err, size_t errlen)
{
	int64_t gen;
	int r = read_gen(s, &gen, err, errlen);
	if (r)
		return r;
	bool tail = false;
	if (!s->loaded || gen != s->gen) {
		s->loaded = false;
		r = load_all(s, &s->reg, &s->gen, &s->log_off, &tail, err, errlen);
		if (r)
			return r;
		s->loaded = true;
	} else {
		char *lp = log_path(s, s->gen);
		int fd = open(lp, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			r = fail_errno(err, errlen, "cannot open", lp);
			free(lp);
			s->loaded = false;
			return r;
		}
		struct lines l;
		lines_init(&l, fd, s->log_off);
		const char *p;
		size_t n;
		while ((r = lines_next(&l, &p, &n)) == 1) {
			/* as in load_all: a bad line counts only when it is the last */
			if (replay_line(&s->reg, &s->doc, p, n) == 0)
				s->log_off = lines_off(&l);
		}
		struct stat st;
		fstat(fd, &st);
		tail = st.st_size > s->log_off;
		buf_free(&l.b);
		close(fd);
		free(lp);
		if (r < 0) {
			s->loaded = false;
			return fail_errno(err, errlen, "cannot read", s->dir);
		}
	}
	if (tail) {
		char *lp = log_path(s, s->gen);
		if (truncate(lp, s->log_off) < 0) {
			r = fail_errno(err, errlen, "cannot truncate the torn end of", lp);
			free(lp);
			s->loaded = false;
			return r;
		}
		diag_warn("%s: cut off a torn last line at offset %lld", lp, (long long)s->log_off);
		free(lp);
	}
	return 0;
}

static void log_applied(void *arg, struct registry *reg, const struct item *it, int64_t now)
{
	struct fstore *s = arg;
	struct buf *b = &s->line;
	struct node *n = reg_get(reg, it->op.name);
	buf_adds(b, "{\"ev\":\"");
	buf_adds(b, ev_name(it->ev));
	buf_adds(b, "\",\"ts\":");
	buf_add_i64(b, now);
	switch (it->ev) {
	case EV_HEARTBEAT: /* the hot path: no printf */
		buf_adds(b, ",\"node\":\"");
		buf_adds(b, n->name);
		buf_adds(b, "\",\"last_seen\":");
		buf_add_i64(b, n->last_seen);
		buf_adds(b, ",\"load\":");
		buf_adds(b, n->load ? n->load : "{}");
		/* only when the op carried them (the fast replay then declines
		 * the line): tasks are kept by a heartbeat without them */
		if (it->op.tasks) {
			buf_adds(b, ",\"tasks\":");
			buf_adds(b, n->tasks ? n->tasks : "[]");
		}
		buf_adds(b, "}\n");
		return;
	case EV_LEFT:
		buf_addf(b, ",\"node\":\"%s\"}\n", it->op.name);
		return;
	case EV_REVOKED:
		buf_addf(b, ",\"node\":\"%s\",\"revoked\":%" PRId64 "}\n", n->name, n->revoked);
		return;
	default:
		buf_adds(b, ",\"node\":\"");
		buf_adds(b, n->name);
		buf_adds(b, "\",\"rec\":");
		node_store_json(b, n, -1);
		buf_adds(b, "}\n");
	}
}

/* Takes the store's lock and catches up with the log: 0 with *lk held, or
 * the exit status (the lock already released). */
static int lock_current(struct fstore *s, int *lk, char *err, size_t errlen)
{
	*lk = fs_lock(s->lockp, true, err, errlen);
	if (*lk < 0)
		return access(s->dir, F_OK) < 0 ? no_store(s, err, errlen) : CCE_EX_IOERR;
	int r = catch_up(s, err, errlen);
	if (r) {
		fs_unlock(*lk);
		*lk = -1;
	}
	return r;
}

int fstore_commit(struct fstore *s, struct item *items, size_t n, verify_fn verify, void *arg,
		  char *err, size_t errlen)
{
	int lk;
	int r = lock_current(s, &lk, err, errlen);
	if (r)
		return r;
	buf_reset(&s->line);
	batch_decide(&s->reg, items, n, time_now_ms(), verify, arg, log_applied, s);
	if (s->line.len) {
		char *lp = log_path(s, s->gen);
		int fd = open(lp, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (fd < 0 || fs_write_all(fd, s->line.data, s->line.len) < 0 || fsync(fd) < 0) {
			r = fail_errno(err, errlen, fd < 0 ? "cannot open" : "cannot append to", lp);
			/* nothing of the batch is acknowledged: take it back */
			if (fd >= 0 && ftruncate(fd, s->log_off) < 0)
				s->log_off = -1;
			s->loaded = false;
		} else {
			s->log_off += (off_t)s->line.len;
		}
		if (fd >= 0)
			close(fd);
		free(lp);
		if (!r && s->log_off > AUTO_COMPACT_MIN &&
		    s->log_off * AUTO_COMPACT_DIVISOR > s->snap_size) {
			char e2[256];
			/* the batch is durable already; a failed compaction only
			 * leaves a longer log */
			if (compact_locked(s, &s->reg, e2, sizeof e2))
				diag_warn("%s", e2);
		}
	}
	fs_unlock(lk);
	return r;
}

int fstore_compact(struct fstore *s, char *err, size_t errlen)
{
	int lk;
	s->loaded = false; /* compact from what is on disk, whatever is in memory */
	int r = lock_current(s, &lk, err, errlen);
	if (r)
		return r;
	r = compact_locked(s, &s->reg, err, errlen);
	fs_unlock(lk);
	return r;
}

int fstore_expire(struct fstore *s, int64_t ttl, struct buf *events, char *err, size_t errlen)
{
	int lk;
	int r = lock_current(s, &lk, err, errlen);
	if (r)
		return r;
	struct buf prev = BUF_INIT, next = BUF_INIT;
	struct json_doc d;
	json_doc_init(&d);
	bool have = false;
	if (fs_read_file(s->expirep, (size_t)1 << 30, &prev, err, errlen) == 0)
		have = json_parse(&d, prev.data, prev.len, &(struct json_error){ 0 }) == 0;
	else if (errno != ENOENT)
		diag_warn("%s", err);
	expire_diff(&s->reg, have ? &d : NULL, time_now_ms(), ttl, false, events, &next);
	buf_addc(&next, '\n');
	if (fs_replace(s->expirep, next.data, next.len, 0600, err, errlen) < 0)
		r = CCE_EX_IOERR;
	json_doc_free(&d);
	buf_free(&prev);
	buf_free(&next);
	fs_unlock(lk);
	return r;
}

/* ---- watch: follow the log */

static void watch_line(struct fstore *s, struct out *out, const char *p, size_t n)
{
	struct json_doc *d = &s->doc;
	if (json_parse(d, p, n, &(struct json_error){ 0 }) < 0)
		return;
	int ev = json_get(d, 0, "ev"), nd = json_get(d, 0, "node"), ts = json_get(d, 0, "ts");
	if (ev < 0 || nd < 0 || json_type_of(d, ev) != JSON_STRING)
		return;
	if (!s->o.verbose && json_str_eq(d, ev, "heartbeat"))
		return;
	struct buf b = BUF_INIT;
	size_t len;
	const char *raw;
	buf_adds(&b, "{\"event\":");
	raw = json_raw(d, ev, &len);
	buf_add(&b, raw, len);
	buf_adds(&b, ",\"node\":");
	raw = json_raw(d, nd, &len);
	buf_add(&b, raw, len);
	if (ts >= 0) {
		buf_adds(&b, ",\"ts\":");
		raw = json_raw(d, ts, &len);
		buf_add(&b, raw, len);
	}
	/* a heartbeat's load: a watch log is then the fleet's history */
	int ld = json_str_eq(d, ev, "heartbeat") ? json_get(d, 0, "load") : -1;
	if (ld >= 0 && json_type_of(d, ld) == JSON_OBJECT) {
		buf_adds(&b, ",\"load\":");
		raw = json_raw(d, ld, &len);
		buf_add(&b, raw, len);
	}
	buf_addc(&b, '}');
	out_line(out, b.data, b.len);
	buf_free(&b);
}

int fstore_watch(struct fstore *s, struct out *out, char *err, size_t errlen)
{
	int64_t gen;
	int r = read_gen(s, &gen, err, errlen);
	if (r)
		return r;
	char *lp = log_path(s, gen);
	struct stat st;
	off_t off = stat(lp, &st) == 0 ? st.st_size : 0;
	free(lp);
	/* start at the end of the log: watch shows what happens from now on */
	while (!sig_stop && !out_done(out)) {
		int64_t g2;
		r = read_gen(s, &g2, err, errlen);
		if (r)
			return r;
		lp = log_path(s, gen);
		int fd = open(lp, O_RDONLY | O_CLOEXEC);
		free(lp);
		if (fd >= 0) {
			struct lines l;
			lines_init(&l, fd, off);
			const char *p;
			size_t n;
			while (lines_next(&l, &p, &n) == 1)
				watch_line(s, out, p, n);
			off = lines_off(&l);
			buf_free(&l.b);
			close(fd);
		}
		if (g2 != gen) {
			/* compacted: what log.gen held is read; go on with the new one */
			gen = g2;
			off = 0;
			continue;
		}
		out_flush(out);
		poll(NULL, 0, 100);
	}
	return 0;
}
