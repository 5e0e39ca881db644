#include "tree.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "field.h"
#include "fsutil.h"
#include "json.h"

const char *const op_names[] = { "add", "modify", "append", "delete", "meta" };

#define HASH_BLOCK (128 << 10)
#define MAX_HASH_THREADS 8
#define MAX_SYMLINK_DEPTH 40

static void seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void manifest_free(struct manifest *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->e[i].path);
		free(m->e[i].target);
	}
	free(m->e);
	memset(m, 0, sizeof *m);
}

static struct entry *manifest_add(struct manifest *m)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 256;
		m->e = xrealloc(m->e, m->cap * sizeof *m->e);
	}
	struct entry *e = &m->e[m->n++];
	memset(e, 0, sizeof *e);
	return e;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->path, ((const struct entry *)b)->path);
}

struct entry *manifest_find(const struct manifest *m, const char *path)
{
	struct entry key = { .path = (char *)path };
	if (!m->n)
		return NULL;
	return bsearch(&key, m->e, m->n, sizeof *m->e, cmp_entry);
}

int hash_fd(int fd, uint64_t len, char hex[SHA256_HEX_LEN])
{
	char block[HASH_BLOCK]; /* on the stack: scans hash in several threads */
	struct sha256_ctx c;
	if (sha256_init(&c) < 0)
		return -1;
	uint64_t done = 0;
	while (done < len) {
		size_t want = len - done < HASH_BLOCK ? (size_t)(len - done) : HASH_BLOCK;
		ssize_t r = pread(fd, block, want, (off_t)done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			sha256_abort(&c);
			return -1;
		}
		if (r == 0) {
			if (len == UINT64_MAX)
				break;
			sha256_abort(&c);
			errno = ENODATA;
			return -1;
		}
		sha256_update(&c, block, (size_t)r);
		done += (uint64_t)r;
	}
	unsigned char d[SHA256_LEN];
	if (sha256_final(&c, d) < 0)
		return -1;
	hex_encode(d, SHA256_LEN, hex);
	return 0;
}

/* --- the hash cache: "sha ino size mtime_ns ctime_ns path\n", sorted --- */

struct cache {
	struct manifest m; /* reuses entries: path, sha, ino, size, mtime_ns, ctime_ns */
};

static void cache_load(const char *file, struct cache *c)
{
	struct buf b = BUF_INIT;
	char err[256];
	memset(c, 0, sizeof *c);
	if (fs_read_file(file, (size_t)1 << 31, &b, err, sizeof err) < 0) {
		buf_free(&b);
		return; /* a missing or unreadable cache only costs hashing */
	}
	char *p = b.data, *end = b.data + b.len;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			break;
		*nl = 0;
		char sha[65];
		uintmax_t ino, size;
		intmax_t mt, ct;
		int off = 0;
		if (sscanf(p, "%64[0-9a-f] %ju %ju %jd %jd %n", sha, &ino, &size, &mt, &ct, &off) == 5 &&
		    off > 0 && strlen(sha) == 64 && p[off]) {
			struct entry *e = manifest_add(&c->m);
			e->path = xstrdup(p + off);
			memcpy(e->sha, sha, 65);
			e->ino = (ino_t)ino;
			e->size = size;
			e->mtime_ns = mt;
			e->ctime_ns = ct;
		}
		p = nl + 1;
	}
	buf_free(&b);
	if (c->m.n > 1)
		qsort(c->m.e, c->m.n, sizeof *c->m.e, cmp_entry);
}

static int cache_save(const char *file, const struct manifest *m, char *err, size_t errlen)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < m->n; i++) {
		const struct entry *e = &m->e[i];
		if (e->type != ENT_FILE || strchr(e->path, '\n'))
			continue;
		buf_addf(&b, "%s %ju %ju %jd %jd %s\n", e->sha, (uintmax_t)e->ino,
			 (uintmax_t)e->size, (intmax_t)e->mtime_ns, (intmax_t)e->ctime_ns, e->path);
	}
	int r = fs_replace(file, b.data, b.len, 0600, err, errlen);
	buf_free(&b);
	return r;
}

/* --- scanning --- */

struct scan {
	struct manifest *m;
	struct cache *cache;
	size_t cache_hits;
	char *err;
	size_t errlen;
};

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static int scan_dir(struct scan *s, int dfd, const char *rel);

static int scan_one(struct scan *s, int dfd, const char *name, const char *rel)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		seterr(s->err, s->errlen, "cannot stat '%s': %s", rel, strerror(errno));
		return -1;
	}
	struct entry e = { 0 };
	e.mode = st.st_mode & 07777;
	e.mtime_ns = ts_ns(&st.st_mtim);
	e.ctime_ns = ts_ns(&st.st_ctim);
	e.mtime = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
	e.ino = st.st_ino;
	if (S_ISREG(st.st_mode)) {
		e.type = ENT_FILE;
		e.size = (uint64_t)st.st_size;
		struct entry *c = s->cache ? manifest_find(&s->cache->m, rel) : NULL;
		if (c && c->ino == e.ino && c->size == e.size && c->mtime_ns == e.mtime_ns &&
		    c->ctime_ns == e.ctime_ns) {
			memcpy(e.sha, c->sha, sizeof e.sha);
			s->cache_hits++;
		} else {
			e.sha[0] = 0; /* hashed by hash_pending, after the walk */
		}
	} else if (S_ISDIR(st.st_mode)) {
		e.type = ENT_DIR;
	} else if (S_ISLNK(st.st_mode)) {
		e.type = ENT_SYMLINK;
		char t[4096];
		ssize_t n = readlinkat(dfd, name, t, sizeof t - 1);
		if (n < 0) {
			seterr(s->err, s->errlen, "cannot read link '%s': %s", rel, strerror(errno));
			return -1;
		}
		t[n] = 0;
		e.target = xstrdup(t);
	} else {
		seterr(s->err, s->errlen, "'%s' is not a file, directory or symlink", rel);
		return -1;
	}
	*manifest_add(s->m) = e;
	s->m->e[s->m->n - 1].path = xstrdup(rel);
	if (e.type == ENT_DIR) {
		int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0) {
			seterr(s->err, s->errlen, "cannot open '%s': %s", rel, strerror(errno));
			return -1;
		}
		return scan_dir(s, sub, rel);
	}
	return 0;
}

/* takes ownership of dfd */
static int scan_dir(struct scan *s, int dfd, const char *rel)
{
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		seterr(s->err, s->errlen, "cannot read '%s': %s", *rel ? rel : ".", strerror(errno));
		return -1;
	}
	struct dirent *de;
	int r = 0;
	struct buf path = BUF_INIT;
	while ((errno = 0, de = readdir(d))) {
		const char *n = de->d_name;
		if (!strcmp(n, ".") || !strcmp(n, ".."))
			continue;
		if (!*rel && !strncmp(n, ".cce-sync", 9))
			continue; /* our lock, staging and state */
		buf_reset(&path);
		if (*rel) {
			buf_adds(&path, rel);
			buf_addc(&path, '/');
		}
		buf_adds(&path, n);
		if ((r = scan_one(s, dirfd(d), n, path.data)) < 0)
			break;
	}
	if (!r && errno) {
		seterr(s->err, s->errlen, "cannot read '%s': %s", *rel ? rel : ".", strerror(errno));
		r = -1;
	}
	buf_free(&path);
	closedir(d);
	return r;
}

/* Files the cache did not know are hashed in parallel: a tree of many
 * files is hashed at the speed of all cores, not of one. */
struct hasher {
	const char *root;
	struct entry **todo;
	size_t n;
	size_t next;          /* taken with __atomic_fetch_add */
	int failed;           /* first failure: errno, and which entry */
	const struct entry *bad;
	pthread_mutex_t lock;
};

static void *hash_worker(void *arg)
{
	struct hasher *h = arg;
	struct buf p = BUF_INIT;
	for (;;) {
		size_t i = __atomic_fetch_add(&h->next, 1, __ATOMIC_RELAXED);
		if (i >= h->n || __atomic_load_n(&h->failed, __ATOMIC_RELAXED))
			break;
		struct entry *e = h->todo[i];
		buf_reset(&p);
		buf_addf(&p, "%s/%s", h->root, e->path);
		int fd = open(p.data, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		struct stat st;
		int bad = 0;
		if (fd < 0 || fstat(fd, &st) < 0)
			bad = errno;
		else if (st.st_ino != e->ino) /* not the file the walk saw */
			bad = ESTALE;
		else if (hash_fd(fd, UINT64_MAX, e->sha) < 0)
			bad = errno;
		if (fd >= 0)
			close(fd);
		if (bad) {
			pthread_mutex_lock(&h->lock);
			if (!h->failed) {
				h->bad = e;
				__atomic_store_n(&h->failed, bad, __ATOMIC_RELAXED);
			}
			pthread_mutex_unlock(&h->lock);
			break;
		}
	}
	buf_free(&p);
	return NULL;
}

static int hash_pending(const char *root, struct manifest *m, char *err, size_t errlen)
{
	struct hasher h = { .root = root };
	uint64_t bytes = 0;
	h.todo = xmalloc((m->n ? m->n : 1) * sizeof *h.todo);
	for (size_t i = 0; i < m->n; i++)
		if (m->e[i].type == ENT_FILE && !m->e[i].sha[0]) {
			h.todo[h.n++] = &m->e[i];
			bytes += m->e[i].size;
		}
	pthread_mutex_init(&h.lock, NULL);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t nt = cpus < 1 ? 1 : cpus > MAX_HASH_THREADS ? MAX_HASH_THREADS : (size_t)cpus;
	if (bytes < (8 << 20) || h.n < 2)
		nt = 1;
	pthread_t t[MAX_HASH_THREADS];
	size_t started = 0;
	for (; started + 1 < nt; started++)
		if (pthread_create(&t[started], NULL, hash_worker, &h) != 0)
			break;
	hash_worker(&h);
	for (size_t i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	pthread_mutex_destroy(&h.lock);
	free(h.todo);
	if (h.failed) {
		seterr(err, errlen, h.failed == ESTALE ? "'%s' changed while scanning%s" : "cannot read '%s': %s",
		       h.bad->path, h.failed == ESTALE ? "" : strerror(h.failed));
		return -1;
	}
	return 0;
}

int manifest_scan(const char *root, const char *cachefile, struct manifest *m,
		  char *err, size_t errlen)
{
	struct cache cache;
	struct scan s = { .m = m, .err = err, .errlen = errlen };
	memset(m, 0, sizeof *m);
	if (cachefile) {
		cache_load(cachefile, &cache);
		s.cache = &cache;
	}
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r;
	if (fd < 0) {
		seterr(err, errlen, "cannot open '%s': %s", root, strerror(errno));
		r = -1;
	} else {
		r = scan_dir(&s, fd, "");
	}
	if (r == 0) {
		if (m->n > 1)
			qsort(m->e, m->n, sizeof *m->e, cmp_entry);
		r = hash_pending(root, m, err, errlen);
	}
	if (r == 0) {
		for (size_t i = 0; i < m->n; i++)
			m->total_size += m->e[i].size;
		size_t files = 0;
		for (size_t i = 0; i < m->n; i++)
			files += m->e[i].type == ENT_FILE && !strchr(m->e[i].path, '\n');
		/* rewritten only when it would change: every file found in it,
		 * and nothing else in it */
		if (cachefile && (s.cache_hits != files || cache.m.n != files) &&
		    cache_save(cachefile, m, err, errlen) < 0)
			r = -1;
	}
	if (cachefile)
		manifest_free(&cache.m);
	return r;
}

/* --- JSON --- */

void entry_json(const struct entry *e, struct buf *b)
{
	static const char *const types[] = { "file", "dir", "symlink" };
	buf_adds(b, "{\"path\":");
	buf_add_json_str(b, e->path, strlen(e->path));
	buf_addf(b, ",\"type\":\"%s\"", types[e->type]);
	if (e->type == ENT_FILE)
		buf_addf(b, ",\"size\":%ju", (uintmax_t)e->size);
	buf_addf(b, ",\"mode\":\"%04o\",\"mtime\":%jd", (unsigned)e->mode, (intmax_t)e->mtime);
	if (e->type == ENT_FILE)
		buf_addf(b, ",\"sha256\":\"%s\"", e->sha);
	if (e->type == ENT_SYMLINK) {
		buf_adds(b, ",\"target\":");
		buf_add_json_str(b, e->target, strlen(e->target));
	}
	buf_addc(b, '}');
}

void manifest_write(const struct manifest *m, struct buf *out)
{
	for (size_t i = 0; i < m->n; i++) {
		entry_json(&m->e[i], out);
		buf_addc(out, '\n');
	}
}

bool path_ok(const char *p, const char **why)
{
	*why = NULL;
	if (!*p)
		*why = "empty path";
	else if (*p == '/')
		*why = "absolute path";
	else if (strlen(p) >= 4096)
		*why = "path too long";
	else if (!strcmp(p, ".cce") || !strncmp(p, ".cce/", 5) || !strncmp(p, ".cce-sync", 9))
		*why = "reserved name";
	if (*why)
		return false;
	for (const char *c = p;;) {
		const char *s = strchr(c, '/');
		size_t n = s ? (size_t)(s - c) : strlen(c);
		if (n == 0)
			*why = "empty path component";
		else if (n == 1 && c[0] == '.')
			*why = "'.' component";
		else if (n == 2 && c[0] == '.' && c[1] == '.')
			*why = "'..' component";
		if (*why)
			return false;
		if (!s)
			return true;
		c = s + 1;
	}
}

enum resolved { INSIDE, OUTSIDE, LOOP, TOO_DEEP };

/* Resolves target as the symlink at path would, through the manifest's own
 * symlinks: OUTSIDE when it would climb above the root or is absolute,
 * LOOP when it comes back to a symlink it is resolving (the kernel would
 * say ELOOP), TOO_DEEP past MAX_SYMLINK_DEPTH links. Components that the
 * manifest does not name are taken as plain names. seen holds the links
 * being resolved, depth of them. */
static enum resolved resolve_inside(const struct manifest *m, struct buf *cur, const char *target,
				    const struct entry **seen, int depth)
{
	if (*target == '/')
		return OUTSIDE;
	for (const char *c = target; *c;) {
		const char *s = strchr(c, '/');
		size_t n = s ? (size_t)(s - c) : strlen(c);
		if (n == 2 && c[0] == '.' && c[1] == '.') {
			if (!cur->len)
				return OUTSIDE;
			char *slash = memrchr(cur->data, '/', cur->len);
			cur->len = slash ? (size_t)(slash - cur->data) : 0;
			cur->data[cur->len] = 0;
		} else if (n && !(n == 1 && c[0] == '.')) {
			size_t before = cur->len;
			if (cur->len)
				buf_addc(cur, '/');
			buf_add(cur, c, n);
			const struct entry *e = manifest_find(m, cur->data);
			if (e && e->type == ENT_SYMLINK) {
				for (int i = 0; i < depth; i++)
					if (seen[i] == e)
						return LOOP;
				if (depth == MAX_SYMLINK_DEPTH)
					return TOO_DEEP;
				seen[depth] = e;
				cur->len = before;
				cur->data[before] = 0;
				enum resolved r = resolve_inside(m, cur, e->target, seen, depth + 1);
				if (r != INSIDE)
					return r;
			}
		}
		if (!s)
			break;
		c = s + 1;
	}
	return INSIDE;
}

/* One manifest line into e: 0, or -1 with the reason in why. */
static int parse_entry(const struct json_doc *d, struct entry *e, char *why, size_t whylen)
{
	struct fields f;
	fields_init(&f, d, 0, why, whylen);
	char *s = NULL, *endp;
	unsigned long u;
	int64_t size = 0;
	if (field_str(&f, "path", FIELD_REQUIRED, 0, &e->path) < 0 ||
	    field_str(&f, "type", FIELD_REQUIRED, 0, &s) < 0)
		return -1;
	if (!strcmp(s, "file"))
		e->type = ENT_FILE;
	else if (!strcmp(s, "dir"))
		e->type = ENT_DIR;
	else if (!strcmp(s, "symlink"))
		e->type = ENT_SYMLINK;
	else {
		free(s);
		return field_fail(&f, "type", "expected file, dir or symlink");
	}
	free(s);
	if (field_str(&f, "mode", FIELD_REQUIRED | FIELD_NONEMPTY, 0, &s) < 0)
		return -1;
	if ((u = strtoul(s, &endp, 8), *endp) || u > 07777) {
		free(s);
		return field_fail(&f, "mode", "expected octal permission bits (0644)");
	}
	free(s);
	e->mode = (mode_t)u;
	if (field_int(&f, "mtime", FIELD_REQUIRED, INT64_MIN, INT64_MAX, &e->mtime) < 0)
		return -1;
	if (e->type == ENT_FILE) {
		if (field_int(&f, "size", FIELD_REQUIRED, 0, INT64_MAX, &size) < 0 ||
		    field_str(&f, "sha256", FIELD_REQUIRED, 0, &s) < 0)
			return -1;
		e->size = (uint64_t)size;
		if (strlen(s) != 64 || strspn(s, "0123456789abcdef") != 64) {
			free(s);
			return field_fail(&f, "sha256", "expected 64 lowercase hex digits");
		}
		memcpy(e->sha, s, 65);
		free(s);
	} else if (e->type == ENT_SYMLINK) {
		if (field_str(&f, "target", FIELD_REQUIRED | FIELD_NONEMPTY, 0, &e->target) < 0)
			return -1;
	}
	return 0;
}

/* One manifest line (its number: lineno) into a new entry of m, checked
 * as unpack must when strict, and counted against lim: 0 or -1 with err. */
static int parse_line(struct json_doc *d, const char *p, size_t n, uint64_t lineno, bool strict,
		      const struct limits *lim, struct manifest *m, char *err, size_t errlen)
{
	struct json_error je;
	char why[160];
	const char *bad = NULL;
	if (json_parse(d, p, n, &je) < 0) {
		seterr(err, errlen, "manifest line %ju: %s", (uintmax_t)lineno, je.msg);
		return -1;
	}
	if (json_type_of(d, 0) != JSON_OBJECT) {
		seterr(err, errlen, "manifest line %ju: not an object", (uintmax_t)lineno);
		return -1;
	}
	struct entry *e = manifest_add(m);
	if (parse_entry(d, e, why, sizeof why) < 0) {
		seterr(err, errlen, "manifest line %ju: %s", (uintmax_t)lineno, why);
		return -1;
	}
	if (strict && !path_ok(e->path, &bad)) {
		seterr(err, errlen, "manifest line %ju: %s '%s'", (uintmax_t)lineno, bad, e->path);
		return -1;
	}
	if (strict && (e->mode & 07000)) {
		seterr(err, errlen, "manifest line %ju: setuid, setgid or sticky mode %04o on '%s'",
		       (uintmax_t)lineno, (unsigned)e->mode, e->path);
		return -1;
	}
	m->total_size += e->size;
	if (lim && (m->n > lim->max_files || m->total_size > lim->max_size)) {
		seterr(err, errlen, "manifest exceeds %s (%ju)", m->n > lim->max_files ?
		       "--max-files" : "--max-size", m->n > lim->max_files ?
		       (uintmax_t)lim->max_files : (uintmax_t)lim->max_size);
		return -1;
	}
	return 0;
}

/* Every entry's parent is a directory of the manifest, and every symlink
 * resolves inside the tree. */
static int check_tree(const struct manifest *m, char *err, size_t errlen)
{
	struct buf cur = BUF_INIT;
	int r = 0;
	for (size_t i = 0; i < m->n && r == 0; i++) {
		const struct entry *e = &m->e[i];
		char *slash = strrchr(e->path, '/');
		if (slash) {
			buf_reset(&cur);
			buf_add(&cur, e->path, (size_t)(slash - e->path));
			struct entry *parent = manifest_find(m, cur.data);
			if (!parent || parent->type != ENT_DIR) {
				seterr(err, errlen, "manifest entry '%s' has no parent directory in the manifest",
				       e->path);
				r = -1;
			}
		}
		if (r < 0 || e->type != ENT_SYMLINK)
			continue;
		buf_reset(&cur);
		if (slash)
			buf_add(&cur, e->path, (size_t)(slash - e->path));
		const struct entry *seen[MAX_SYMLINK_DEPTH] = { e };
		enum resolved res = resolve_inside(m, &cur, e->target, seen, 1);
		if (res != INSIDE)
			r = -1;
		if (res == OUTSIDE)
			seterr(err, errlen, "symlink '%s' -> '%s' points outside the tree", e->path, e->target);
		else if (res == LOOP)
			seterr(err, errlen, "symlink '%s' -> '%s' leads into a symlink loop: %s", e->path,
			       e->target, strerror(ELOOP));
		else if (res == TOO_DEEP)
			seterr(err, errlen, "symlink '%s' -> '%s': %s", e->path, e->target, strerror(ELOOP));
	}
	buf_free(&cur);
	return r;
}

int manifest_parse(const char *text, size_t len, bool strict, const struct limits *lim,
		   struct manifest *m, char *err, size_t errlen)
{
	struct json_doc d;
	json_doc_init(&d);
	memset(m, 0, sizeof *m);
	uint64_t lineno = 0;
	int r = 0;
	for (const char *p = text, *end = text + len; p < end && r == 0;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		lineno++;
		if (le > p)
			r = parse_line(&d, p, (size_t)(le - p), lineno, strict, lim, m, err, errlen);
		p = nl ? nl + 1 : end;
	}
	json_doc_free(&d);
	if (r < 0)
		return -1;
	if (!strict)
		if (m->n > 1)
			qsort(m->e, m->n, sizeof *m->e, cmp_entry);
	for (size_t i = 1; i < m->n; i++) {
		int c = strcmp(m->e[i - 1].path, m->e[i].path);
		if (c == 0) {
			seterr(err, errlen, "manifest names '%s' twice", m->e[i].path);
			return -1;
		}
		if (c > 0) {
			seterr(err, errlen, "manifest is not sorted at '%s'", m->e[i].path);
			return -1;
		}
	}
	return strict ? check_tree(m, err, errlen) : 0;
}

int manifest_load(const char *file, struct manifest *m, char *err, size_t errlen)
{
	struct buf b = BUF_INIT;
	int r = 0;
	memset(m, 0, sizeof *m);
	if (!strcmp(file, "-")) {
		char chunk[65536];
		ssize_t n;
		while ((n = read(0, chunk, sizeof chunk)) != 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				seterr(err, errlen, "cannot read stdin: %s", strerror(errno));
				r = -1;
				break;
			}
			buf_add(&b, chunk, (size_t)n);
		}
		file = "stdin";
	} else {
		r = fs_read_file(file, (size_t)1 << 31, &b, err, errlen);
	}
	if (r == 0)
		r = manifest_parse(b.data, b.len, false, NULL, m, err, errlen);
	if (r < 0 && !*err)
		seterr(err, errlen, "cannot read '%s'", file);
	else if (r < 0) {
		char e2[512];
		snprintf(e2, sizeof e2, "%s: %s", file, err);
		snprintf(err, errlen, "%s", e2);
	}
	buf_free(&b);
	return r;
}

/* --- diff --- */

static void ops_add(struct ops *ops, enum op_kind k, const struct entry *o, const struct entry *n)
{
	if (ops->n == ops->cap) {
		ops->cap = ops->cap ? ops->cap * 2 : 64;
		ops->o = xrealloc(ops->o, ops->cap * sizeof *ops->o);
	}
	ops->o[ops->n++] = (struct op){ .kind = k, .old = o, .new = n };
}

void ops_free(struct ops *ops)
{
	free(ops->o);
	memset(ops, 0, sizeof *ops);
}

/* Is old a prefix of the file at dir/new->path? */
/* The file at the relative path under dir, opened without following a
 * symlink anywhere on the way and without leaving dir: the path may come
 * from a manifest someone else wrote. -1 for anything else. */
static int open_beneath(const char *dir, const char *path)
{
	if (!path[0] || path[0] == '/')
		return -1;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (const char *c = path; fd >= 0;) {
		const char *slash = strchr(c, '/');
		size_t n = slash ? (size_t)(slash - c) : strlen(c);
		char name[NAME_MAX + 1];
		if (n == 0 || n > NAME_MAX || (n == 1 && c[0] == '.') ||
		    (n == 2 && c[0] == '.' && c[1] == '.')) {
			close(fd);
			return -1;
		}
		memcpy(name, c, n);
		name[n] = 0;
		int next = openat(fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (slash ? O_DIRECTORY : 0));
		close(fd);
		fd = next;
		if (!slash)
			break;
		c = slash + 1;
	}
	return fd;
}

static bool is_prefix(const char *dir, const struct entry *old, const struct entry *new)
{
	int fd = open_beneath(dir, new->path);
	if (fd < 0)
		return false;
	char hex[SHA256_HEX_LEN];
	bool yes = hash_fd(fd, old->size, hex) == 0 && !strcmp(hex, old->sha);
	close(fd);
	return yes;
}

int manifest_diff(const struct manifest *old, const struct manifest *new,
		  const char *append_dir, struct ops *ops, char *err, size_t errlen)
{
	size_t i = 0, j = 0;
	memset(ops, 0, sizeof *ops);
	while (i < old->n || j < new->n) {
		int c = i == old->n ? 1 : j == new->n ? -1 : strcmp(old->e[i].path, new->e[j].path);
		if (c < 0) {
			ops_add(ops, OP_DELETE, &old->e[i++], NULL);
			continue;
		}
		if (c > 0) {
			ops_add(ops, OP_ADD, NULL, &new->e[j++]);
			continue;
		}
		const struct entry *o = &old->e[i++], *n = &new->e[j++];
		bool same_meta = o->mode == n->mode && o->mtime == n->mtime;
		if (o->type != n->type) {
			ops_add(ops, OP_MODIFY, o, n);
		} else if (n->type == ENT_FILE && (o->size != n->size || strcmp(o->sha, n->sha))) {
			if (append_dir && o->size < n->size && is_prefix(append_dir, o, n)) {
				ops_add(ops, OP_APPEND, o, n);
				ops->o[ops->n - 1].offset = o->size;
			} else {
				ops_add(ops, OP_MODIFY, o, n);
			}
		} else if (n->type == ENT_SYMLINK && strcmp(o->target, n->target)) {
			ops_add(ops, OP_MODIFY, o, n);
		} else if (!same_meta) {
			ops_add(ops, OP_META, o, n);
		}
	}
	(void)err;
	(void)errlen;
	return 0;
}

void op_json(const struct op *op, struct buf *b)
{
	const struct entry *e = op->new ? op->new : op->old;
	buf_addf(b, "{\"op\":\"%s\",\"path\":", op_names[op->kind]);
	buf_add_json_str(b, e->path, strlen(e->path));
	if (op->kind == OP_APPEND)
		buf_addf(b, ",\"offset\":%ju", (uintmax_t)op->offset);
	if (op->new && op->new->type == ENT_FILE && op->kind != OP_META)
		buf_addf(b, ",\"size\":%ju,\"sha256\":\"%s\"", (uintmax_t)op->new->size, op->new->sha);
	if (op->kind == OP_META)
		buf_addf(b, ",\"mode\":\"%04o\",\"mtime\":%jd", (unsigned)op->new->mode,
			 (intmax_t)op->new->mtime);
	buf_addc(b, '}');
}
