/*
 * unpack: the receiving side. Everything is built and verified in a
 * staging directory inside DIR first; the live tree changes only after
 * every file of the stream has been received, every file of the manifest
 * checked against its sha256 and everything synced to disk.
 */
#include "sync.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "diag.h"
#include "fsutil.h"
#include "json.h"
#include "layout.h"
#include "sig.h"
#include "sign.h"
#include "timeutil.h"

#define DATA_BLOCK (1 << 20)
#define META_MAX ((size_t)256 << 20) /* manifest and ops */
#define SIG_MAX 4096

enum fkind { F_NONE, F_FULL, F_APPEND };

struct fstate {
	uint8_t kind;
	bool received;
	uint64_t offset;
};

/* The parent directory last opened under the staging tree, kept open for
 * the next file: files come sorted, so mostly it is the same. */
struct parent {
	struct buf dir;
	int fd;
};

/* slots of received data between the main thread and the writer */
#define SLOTS 8
#define SLOT_BYTES ((size_t)1 << 20)

enum wop { W_OPEN, W_DATA, W_CLOSE, W_STOP };

struct wslot {
	enum wop op;
	size_t idx;   /* the manifest entry */
	bool ok;      /* W_CLOSE: received whole and verified */
	size_t len;   /* W_DATA */
	char *data;   /* SLOT_BYTES */
};

struct unpack;

struct writer {
	struct unpack *u;
	pthread_t thread;
	bool running;
	pthread_mutex_t lock;
	pthread_cond_t more, room;
	struct wslot slot[SLOTS];
	size_t head, tail; /* filled by main, done by the writer; under lock */
	int fd;            /* the writer's open file */
	struct parent par;
	int failed;        /* atomic; set after why */
	char why[1024];
};

struct unpack {
	const struct unpack_opts *o;
	int dirfd, stagefd, treefd, tailfd, basefd;
	char stage[64];
	char *base_id;
	struct manifest m;
	struct fstate *fs;
	unsigned counts[5];
	uint64_t bytes, deleted;
	char *block;
	struct progress pg;
	char err[1024];
	int status;
	int64_t t0; /* start, for the timings CCE_LOG=debug shows */
	struct parent par; /* for build() */
	struct writer w;
};

static int fail(struct unpack *u, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct unpack *u, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(u->err, sizeof u->err, fmt, ap);
	va_end(ap);
	u->status = status;
	return -1;
}

/* --- small file system helpers, all relative to directory descriptors --- */

/* The parent directory of path under treefd (created 0700 when missing);
 * *leaf points at the last component. Paths were checked, and their
 * parents are directories this run created, so no symlink is met. */
static int parent_open(struct parent *p, int treefd, const char *path, const char **leaf)
{
	const char *slash = strrchr(path, '/');
	*leaf = slash ? slash + 1 : path;
	size_t plen = slash ? (size_t)(slash - path) : 0;
	if (p->fd >= 0 && p->dir.len == plen && !memcmp(p->dir.data, path, plen))
		return p->fd;
	if (p->fd >= 0 && p->fd != treefd)
		close(p->fd);
	p->fd = -1;
	buf_reset(&p->dir);
	buf_add(&p->dir, path, plen);
	if (!plen)
		return p->fd = treefd;
	int fd = dup(treefd);
	for (const char *c = path; fd >= 0 && c < path + plen;) {
		const char *s = memchr(c, '/', (size_t)(path + plen - c));
		if (!s)
			s = path + plen;
		char name[4096];
		snprintf(name, sizeof name, "%.*s", (int)(s - c), c);
		if (mkdirat(fd, name, 0700) < 0 && errno != EEXIST) {
			close(fd);
			return -1;
		}
		int nfd = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = nfd;
		c = s + 1;
	}
	return p->fd = fd;
}

static void parent_free(struct parent *p, int treefd)
{
	if (p->fd >= 0 && p->fd != treefd)
		close(p->fd);
	p->fd = -1;
	buf_free(&p->dir);
}

static int tree_parent(struct unpack *u, const char *path, const char **leaf)
{
	return parent_open(&u->par, u->treefd, path, leaf);
}

static int write_all_hash(int fd, const void *p, size_t n, struct sha256_ctx *c)
{
	if (c)
		sha256_update(c, p, n);
	return fs_write_all(fd, p, n);
}

/* Copies len bytes of src (from offset 0) to dst, hashing them. */
static int copy_hash(struct unpack *u, int src, int dst, uint64_t len, struct sha256_ctx *c)
{
	uint64_t off = 0;
	while (off < len) {
		size_t want = len - off < DATA_BLOCK ? (size_t)(len - off) : DATA_BLOCK;
		ssize_t r = pread(src, u->block, want, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = ENODATA;
			return -1;
		}
		if (write_all_hash(dst, u->block, (size_t)r, c) < 0)
			return -1;
		off += (uint64_t)r;
	}
	return 0;
}

static void hash_hex(struct sha256_ctx *c, char hex[SHA256_HEX_LEN])
{
	unsigned char d[SHA256_LEN];
	sha256_final(c, d);
	hex_encode(d, SHA256_LEN, hex);
}

static struct timespec ms_ts(int64_t ms)
{
	int64_t s = ms / 1000, r = ms % 1000;
	if (r < 0) {
		s--;
		r += 1000;
	}
	return (struct timespec){ .tv_sec = (time_t)s, .tv_nsec = (long)r * 1000000 };
}

/* --- the stream --- */

/* A metadata entry, read as it comes (never trusting its header's size
 * for an allocation) and at most max bytes. */
static int read_blob(struct unpack *u, struct archive *a, struct archive_entry *e, struct buf *b,
		     size_t max)
{
	la_int64_t sz = archive_entry_size(e);
	if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e) || sz < 0 ||
	    (uint64_t)sz > max)
		return fail(u, CCE_EX_DATAERR, "refused: '%s' in the stream is not a file of at most %zu bytes",
			    archive_entry_pathname(e), max);
	buf_reset(b);
	la_ssize_t n;
	while ((n = archive_read_data(a, u->block, DATA_BLOCK)) > 0) {
		if (b->len + (size_t)n > (size_t)sz)
			return fail(u, CCE_EX_DATAERR, "'%s' is longer than its header says",
				    archive_entry_pathname(e));
		buf_add(b, u->block, (size_t)n);
	}
	if (n < 0 || b->len != (size_t)sz)
		return fail(u, CCE_EX_DATAERR, "cannot read the stream: %s",
			    n < 0 ? archive_error_string(a) : "truncated");
	return 0;
}

static int next_header(struct unpack *u, struct archive *a, struct archive_entry **e)
{
	int r = archive_read_next_header(a, e);
	if (r == ARCHIVE_EOF)
		return 0;
	if (r != ARCHIVE_OK)
		return fail(u, CCE_EX_DATAERR, "cannot read the stream: %s",
			    archive_error_string(a) ? archive_error_string(a) : "bad header");
	return 1;
}

static int parse_ops(struct unpack *u, const char *text, size_t len)
{
	struct json_doc d;
	json_doc_init(&d);
	u->fs = xcalloc(u->m.n ? u->m.n : 1, sizeof *u->fs);
	bool *seen = xcalloc(u->m.n ? u->m.n : 1, sizeof *seen);
	uint64_t lineno = 0;
	int r = 0;
	struct buf path = BUF_INIT;
	for (const char *p = text, *end = text + len; p < end && r == 0;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		struct json_error je;
		lineno++;
		if (le == p) {
			p = le + 1;
			continue;
		}
		int k, ov;
		int64_t off = 0;
		if (json_parse(&d, p, (size_t)(le - p), &je) < 0 || json_type_of(&d, 0) != JSON_OBJECT ||
		    (k = json_get(&d, 0, "op")) < 0 || json_type_of(&d, k) != JSON_STRING ||
		    (ov = json_get(&d, 0, "path")) < 0 || json_type_of(&d, ov) != JSON_STRING) {
			r = fail(u, CCE_EX_DATAERR, "ops line %ju: malformed", (uintmax_t)lineno);
			break;
		}
		int kind = -1;
		for (int i = 0; i < 5; i++)
			if (json_str_eq(&d, k, op_names[i]))
				kind = i;
		buf_reset(&path);
		json_str(&d, ov, &path);
		const char *why;
		struct entry *e = manifest_find(&u->m, path.data);
		if (kind < 0) {
			r = fail(u, CCE_EX_DATAERR, "ops line %ju: unknown op", (uintmax_t)lineno);
		} else if (memchr(path.data, 0, path.len)) { /* see json_cstr */
			r = fail(u, CCE_EX_DATAERR, "ops line %ju: path: %s", (uintmax_t)lineno,
				 JSON_NUL_REASON);
		} else if (!path_ok(path.data, &why)) {
			r = fail(u, CCE_EX_DATAERR, "ops line %ju: bad path '%s'", (uintmax_t)lineno, path.data);
		} else if (kind == OP_DELETE ? e != NULL : e == NULL) {
			r = fail(u, CCE_EX_DATAERR, "ops line %ju: '%s' %s the manifest", (uintmax_t)lineno,
				 path.data, e ? "is in" : "is not in");
		} else if (e && seen[e - u->m.e]) {
			r = fail(u, CCE_EX_DATAERR, "ops name '%s' twice", path.data);
		} else if (kind == OP_APPEND &&
			   (e->type != ENT_FILE || (ov = json_get(&d, 0, "offset")) < 0 ||
			    !json_int(&d, ov, &off) || off <= 0 || (uint64_t)off >= e->size)) {
			r = fail(u, CCE_EX_DATAERR, "ops line %ju: bad append", (uintmax_t)lineno);
		} else {
			u->counts[kind]++;
			if (e) {
				size_t i = (size_t)(e - u->m.e);
				seen[i] = true;
				if (e->type == ENT_FILE && (kind == OP_ADD || kind == OP_MODIFY))
					u->fs[i].kind = F_FULL;
				if (kind == OP_APPEND) {
					u->fs[i].kind = F_APPEND;
					u->fs[i].offset = (uint64_t)off;
				}
			}
		}
		p = nl ? nl + 1 : end;
	}
	buf_free(&path);
	free(seen);
	json_doc_free(&d);
	return r;
}

static const char *type_name(struct archive_entry *e)
{
	if (archive_entry_hardlink(e))
		return "hard link";
	switch (archive_entry_filetype(e)) {
	case AE_IFLNK: return "symlink";
	case AE_IFDIR: return "directory";
	case AE_IFCHR: return "character device";
	case AE_IFBLK: return "block device";
	case AE_IFIFO: return "FIFO";
	case AE_IFSOCK: return "socket";
	case AE_IFREG: return NULL;
	default: return "entry of unknown type";
	}
}

/* --- the writer: a second thread creates and writes the received files,
 * so that decompressing and hashing the stream (the main thread) overlap
 * with the kernel's work of allocating, copying and writing them back,
 * the larger part. (Two writers were measured on 2 cores: no faster.)
 * Nothing changes for safety: every file is still hashed (from the very
 * buffer that is written) and checked before the switch, and the stream
 * is done only once the writer has finished and reported no error. --- */

static bool writer_failed(struct writer *w)
{
	return __atomic_load_n(&w->failed, __ATOMIC_ACQUIRE);
}

/* The next free slot, waiting for the writer when all are taken. The slot
 * is the caller's until writer_put. */
static struct wslot *writer_slot(struct writer *w)
{
	pthread_mutex_lock(&w->lock);
	while (w->head - w->tail == SLOTS)
		pthread_cond_wait(&w->room, &w->lock);
	pthread_mutex_unlock(&w->lock);
	return &w->slot[w->head % SLOTS];
}

static void writer_put(struct writer *w)
{
	pthread_mutex_lock(&w->lock);
	w->head++;
	pthread_cond_signal(&w->more);
	pthread_mutex_unlock(&w->lock);
}

/* the first failure only: later slots are consumed and ignored */
static void writer_error(struct writer *w, const char *what, const char *name, int err)
{
	if (writer_failed(w))
		return;
	snprintf(w->why, sizeof w->why, "cannot %s '%s' in staging: %s", what, name, strerror(err));
	__atomic_store_n(&w->failed, 1, __ATOMIC_RELEASE);
}

static void writer_do(struct writer *w, struct wslot *s)
{
	struct unpack *u = w->u;
	if (s->op == W_STOP)
		return;
	const char *name = u->m.e[s->idx].path;
	switch (s->op) {
	case W_OPEN:
		w->fd = -1;
		if (writer_failed(w))
			break;
		if (u->fs[s->idx].kind == F_FULL) {
			const char *leaf;
			int pfd = parent_open(&w->par, u->treefd, name, &leaf);
			w->fd = pfd < 0 ? -1 : openat(pfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		} else {
			char tail[32];
			snprintf(tail, sizeof tail, "%zu", s->idx);
			w->fd = openat(u->tailfd, tail, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		}
		if (w->fd < 0)
			writer_error(w, "create", name, errno);
		break;
	case W_DATA:
		if (w->fd >= 0 && !writer_failed(w) && fs_write_all(w->fd, s->data, s->len) < 0)
			writer_error(w, "write", name, errno);
		break;
	case W_CLOSE:
		if (w->fd < 0)
			break;
		/* start writeback now, so that the syncfs before the switch waits less */
		if (s->ok && !writer_failed(w))
			sync_file_range(w->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		if (close(w->fd) < 0)
			writer_error(w, "write", name, errno);
		w->fd = -1;
		break;
	case W_STOP:
		break;
	}
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	for (;;) {
		pthread_mutex_lock(&w->lock);
		while (w->tail == w->head)
			pthread_cond_wait(&w->more, &w->lock);
		pthread_mutex_unlock(&w->lock);
		struct wslot *s = &w->slot[w->tail % SLOTS];
		writer_do(w, s);
		bool stop = s->op == W_STOP;
		pthread_mutex_lock(&w->lock);
		w->tail++;
		pthread_cond_signal(&w->room);
		pthread_mutex_unlock(&w->lock);
		if (stop)
			return NULL;
	}
}

static int writer_start(struct unpack *u)
{
	struct writer *w = &u->w;
	w->u = u;
	w->fd = -1;
	w->par.fd = -1;
	buf_init(&w->par.dir);
	for (size_t i = 0; i < SLOTS; i++)
		w->slot[i].data = xmalloc(SLOT_BYTES);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->more, NULL);
	pthread_cond_init(&w->room, NULL);
	/* signals go to the main thread, whose blocking read they must
	 * interrupt */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int e = pthread_create(&w->thread, NULL, writer_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	w->running = e == 0;
	if (e)
		return fail(u, CCE_EX_FAIL, "cannot start a thread: %s", strerror(e));
	return 0;
}

/* Waits for everything queued; -1 when the writer failed. */
static int writer_stop(struct unpack *u)
{
	struct writer *w = &u->w;
	if (w->running) {
		struct wslot *s = writer_slot(w);
		s->op = W_STOP;
		writer_put(w);
		pthread_join(w->thread, NULL);
		w->running = false;
	}
	if (w->u) {
		pthread_mutex_destroy(&w->lock);
		pthread_cond_destroy(&w->more);
		pthread_cond_destroy(&w->room);
		for (size_t i = 0; i < SLOTS; i++)
			free(w->slot[i].data);
		parent_free(&w->par, u->treefd);
		w->u = NULL;
	}
	return writer_failed(w) ? -1 : 0;
}

/* One file of the stream: into the tree (whole files) or the tails
 * directory (appends), hashed on the way. */
static int receive(struct unpack *u, struct archive *a, struct archive_entry *ae, uint64_t *data_total)
{
	const char *name = archive_entry_pathname(ae);
	const char *why, *tn;
	if (!name)
		return fail(u, CCE_EX_DATAERR, "refused: an entry without a name");
	if ((tn = type_name(ae)))
		return fail(u, CCE_EX_DATAERR, "refused: '%s' is a %s", name, tn);
	if (!path_ok(name, &why))
		return fail(u, CCE_EX_DATAERR, "refused: '%s': %s", name, why);
	if (archive_entry_perm(ae) & 07000)
		return fail(u, CCE_EX_DATAERR, "refused: '%s' has setuid, setgid or sticky bits", name);
	struct entry *e = manifest_find(&u->m, name);
	if (!e || e->type != ENT_FILE)
		return fail(u, CCE_EX_DATAERR, "refused: '%s' is not a file of the manifest", name);
	struct fstate *f = &u->fs[e - u->m.e];
	if (f->kind == F_NONE)
		return fail(u, CCE_EX_DATAERR, "refused: '%s' is in the stream but not in the ops", name);
	if (f->received)
		return fail(u, CCE_EX_DATAERR, "refused: '%s' is twice in the stream", name);
	f->received = true;
	uint64_t want = e->size - f->offset;
	if (!archive_entry_size_is_set(ae) || archive_entry_size(ae) < 0 ||
	    (uint64_t)archive_entry_size(ae) != want)
		return fail(u, CCE_EX_DATAERR, "refused: '%s' has %jd bytes in the stream, the manifest says %ju",
			    name, (intmax_t)archive_entry_size(ae), (uintmax_t)want);
	if (*data_total + want > u->o->lim.max_size)
		return fail(u, CCE_EX_DATAERR, "refused: the stream exceeds --max-size (%ju)",
			    (uintmax_t)u->o->lim.max_size);
	*data_total += want;

	struct writer *w = &u->w;
	if (writer_failed(w))
		return fail(u, CCE_EX_IOERR, "%s", w->why);
	size_t idx = (size_t)(e - u->m.e);
	struct wslot *s = writer_slot(w);
	s->op = W_OPEN;
	s->idx = idx;
	writer_put(w);
	struct sha256_ctx c;
	sha256_init(&c);
	uint64_t got = 0;
	la_ssize_t n;
	int r = 0;
	/* the data goes straight into the writer's slots: this thread
	 * decompresses and hashes, the writer writes */
	while ((s = writer_slot(w)), (n = archive_read_data(a, s->data, SLOT_BYTES)) > 0) {
		if (sig_stop) {
			r = fail(u, sig_exit_code(), "interrupted");
			break;
		}
		got += (uint64_t)n;
		if (got > want) {
			r = fail(u, CCE_EX_DATAERR, "refused: '%s' is longer than its header says", name);
			break;
		}
		if (writer_failed(w)) {
			r = fail(u, CCE_EX_IOERR, "%s", w->why);
			break;
		}
		sha256_update(&c, s->data, (size_t)n);
		s->op = W_DATA;
		s->idx = idx;
		s->len = (size_t)n;
		writer_put(w);
		progress_tick(&u->pg, 0, (uint64_t)n);
	}
	if (r == 0 && n < 0)
		r = fail(u, CCE_EX_DATAERR, "cannot read the stream at '%s': %s", name, archive_error_string(a));
	if (r == 0 && got != want)
		r = fail(u, CCE_EX_DATAERR, "'%s' is truncated in the stream", name);
	char hex[SHA256_HEX_LEN];
	hash_hex(&c, hex);
	if (r == 0 && f->kind == F_FULL && strcmp(hex, e->sha))
		r = fail(u, CCE_EX_DATAERR, "refused: '%s' does not match its sha256 in the manifest", name);
	s = writer_slot(w);
	s->op = W_CLOSE;
	s->idx = idx;
	s->ok = r == 0;
	writer_put(w);
	u->bytes += got;
	progress_tick(&u->pg, 1, 0);
	return r;
}

struct source {
	int fd;
	bool failed;  /* a read failed: what broke the stream is I/O, not data */
	char buf[1 << 20];
};

/* libarchive's own fd reader retries EINTR; this one gives up when a
 * SIGINT or SIGTERM arrived, so that a run waiting on a stalled stream
 * stops, cleans its staging and exits */
static la_ssize_t source_read(struct archive *a, void *arg, const void **out)
{
	struct source *s = arg;
	for (;;) {
		ssize_t n = sig_stop ? (errno = EINTR, -1) : read(s->fd, s->buf, sizeof s->buf);
		if (n >= 0) {
			*out = s->buf;
			return n;
		}
		if (errno != EINTR || sig_stop) {
			s->failed = !sig_stop;
			archive_set_error(a, errno, "%s", sig_stop ? "interrupted" : strerror(errno));
			return -1;
		}
	}
}

static int read_stream(struct unpack *u, struct buf *mtext, struct buf *otext)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	struct buf sig = BUF_INIT;
	struct source *src = NULL;
	int r = -1;
	if (archive_version_number() < 3006002) {
		fail(u, CCE_EX_FAIL, "libarchive %s is too old (3.6.2 with Debian's security fixes needed)",
		     archive_version_string());
		goto out;
	}
	archive_read_support_format_tar(a);
	if (archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
	    archive_read_support_filter_zstd(a) != ARCHIVE_OK) {
		fail(u, CCE_EX_FAIL, "libarchive lacks built-in gzip or zstd support");
		goto out;
	}
	src = xmalloc(sizeof *src);
	src->fd = u->o->in_fd;
	src->failed = false;
	/* a larger pipe lets the sender run ahead while this side writes;
	 * not a pipe, or not allowed: no matter */
	fcntl(src->fd, F_SETPIPE_SZ, 1 << 20);
	if (archive_read_open(a, src, NULL, source_read, NULL) != ARCHIVE_OK) {
		fail(u, CCE_EX_DATAERR, "cannot read the stream: %s", archive_error_string(a));
		goto out;
	}
	int h = next_header(u, a, &ae);
	if (h == 0)
		fail(u, CCE_EX_DATAERR, "empty stream");
	if (h <= 0)
		goto out;
	if (strcmp(archive_entry_pathname(ae) ? archive_entry_pathname(ae) : "", ".cce/manifest.jsonl")) {
		fail(u, CCE_EX_DATAERR, "not a cce-sync stream (first entry '%s', not '.cce/manifest.jsonl')",
		     archive_entry_pathname(ae) ? archive_entry_pathname(ae) : "");
		goto out;
	}
	if (read_blob(u, a, ae, mtext, META_MAX) < 0 || next_header(u, a, &ae) <= 0 ||
	    strcmp(archive_entry_pathname(ae) ? archive_entry_pathname(ae) : "", ".cce/ops.jsonl") ||
	    read_blob(u, a, ae, otext, META_MAX) < 0) {
		if (!u->status)
			fail(u, CCE_EX_DATAERR, "not a cce-sync stream (no '.cce/ops.jsonl')");
		goto out;
	}
	h = next_header(u, a, &ae);
	if (h < 0)
		goto out;
	bool have_sig = h > 0 && !strcmp(archive_entry_pathname(ae) ? archive_entry_pathname(ae) : "",
					 ".cce/signature");
	if (have_sig && read_blob(u, a, ae, &sig, SIG_MAX) < 0)
		goto out;
	if (u->o->verify) {
		if (!have_sig) {
			fail(u, CCE_EX_DATAERR, "refused: the stream is not signed and --verify is given");
			goto out;
		}
		if (sign_check(u->o->verify, mtext->data, mtext->len, otext->data, otext->len, sig.data,
			       sig.len, u->err, sizeof u->err) < 0) {
			u->status = CCE_EX_DATAERR;
			goto out;
		}
	}
	if (manifest_parse(mtext->data, mtext->len, true, &u->o->lim, &u->m, u->err, sizeof u->err) < 0) {
		u->status = CCE_EX_DATAERR;
		char e2[1024];
		snprintf(e2, sizeof e2, "refused: %s", u->err);
		snprintf(u->err, sizeof u->err, "%s", e2);
		goto out;
	}
	if (parse_ops(u, otext->data, otext->len) < 0)
		goto out;
	diag_debug("unpack: manifest and ops read at %jd ms", (intmax_t)(time_mono_ms() - u->t0));
	uint64_t data_total = 0;
	if (writer_start(u) < 0)
		goto out;
	if (have_sig)
		h = next_header(u, a, &ae);
	while (h > 0) {
		if (sig_stop) {
			fail(u, sig_exit_code(), "interrupted");
			goto out;
		}
		if (receive(u, a, ae, &data_total) < 0)
			goto out;
		h = next_header(u, a, &ae);
	}
	if (h < 0)
		goto out;
	for (size_t i = 0; i < u->m.n; i++)
		if (u->fs[i].kind != F_NONE && !u->fs[i].received) {
			fail(u, CCE_EX_DATAERR, "'%s' is missing from the stream (truncated?)", u->m.e[i].path);
			goto out;
		}
	r = 0;
out:
	/* everything received is written (or the writer failed) before the
	 * tree is built, checked or removed */
	if (writer_stop(u) < 0 && r == 0)
		r = fail(u, CCE_EX_IOERR, "%s", u->w.why);
	if (r < 0 && sig_stop)
		fail(u, sig_exit_code(), "interrupted");
	else if (r < 0 && src && src->failed && u->status == CCE_EX_DATAERR)
		u->status = CCE_EX_IOERR;
	buf_free(&sig);
	archive_read_free(a);
	free(src);
	return r;
}

/* --- building the new tree in staging --- */

/* Opens path under the base tree (the current release, or DIR) without
 * following a symlink at the end; intermediate components are the base's
 * own directories. */
static int base_open(struct unpack *u, const char *path, struct stat *st)
{
	if (u->basefd < 0) {
		errno = ENOENT;
		return -1;
	}
	int fd = openat(u->basefd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && (fstat(fd, st) < 0 || !S_ISREG(st->st_mode))) {
		close(fd);
		errno = EINVAL;
		fd = -1;
	}
	return fd;
}

/* An appended file: the base's first offset bytes, then the received tail,
 * checked against the manifest as a whole. */
static int build_append(struct unpack *u, size_t i)
{
	const struct entry *e = &u->m.e[i];
	struct stat st;
	int src = base_open(u, e->path, &st);
	if (src < 0)
		return fail(u, CCE_EX_DATAERR, "cannot append to '%s': %s", e->path, strerror(errno));
	char tail[32];
	snprintf(tail, sizeof tail, "%zu", i);
	int tfd = openat(u->tailfd, tail, O_RDONLY | O_CLOEXEC);
	const char *leaf;
	int pfd = tree_parent(u, e->path, &leaf);
	int dst = pfd < 0 ? -1 : openat(pfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	int r = 0;
	struct sha256_ctx c;
	sha256_init(&c);
	if (tfd < 0 || dst < 0)
		r = fail(u, CCE_EX_IOERR, "cannot stage '%s': %s", e->path, strerror(errno));
	else if (copy_hash(u, src, dst, u->fs[i].offset, &c) < 0 ||
		 copy_hash(u, tfd, dst, e->size - u->fs[i].offset, &c) < 0)
		r = fail(u, errno == ENODATA ? CCE_EX_DATAERR : CCE_EX_IOERR, "cannot append to '%s': %s",
			 e->path, errno == ENODATA ? "the local file is shorter than the offset" : strerror(errno));
	char hex[SHA256_HEX_LEN];
	hash_hex(&c, hex);
	if (r == 0 && strcmp(hex, e->sha))
		r = fail(u, CCE_EX_DATAERR, "refused: '%s' after the append does not match its sha256 "
			 "(the local file is not the one the stream was made against)", e->path);
	if (src >= 0)
		close(src);
	if (tfd >= 0)
		close(tfd);
	if (dst >= 0 && close(dst) < 0 && r == 0)
		r = fail(u, CCE_EX_IOERR, "cannot write '%s' in staging: %s", e->path, strerror(errno));
	return r;
}

/* An unchanged file of a release: linked from the current release when its
 * metadata is the same (a link shares mode and mtime), else copied; either
 * way checked against the manifest. */
static int build_unchanged(struct unpack *u, size_t i)
{
	const struct entry *e = &u->m.e[i];
	struct stat st;
	int src = base_open(u, e->path, &st);
	if (src < 0)
		return fail(u, CCE_EX_DATAERR, "'%s' is neither in the stream nor in the current release "
			    "(was the stream made against another manifest?)", e->path);
	char hex[SHA256_HEX_LEN];
	int r = 0;
	if ((uint64_t)st.st_size != e->size || hash_fd(src, UINT64_MAX, hex) < 0 || strcmp(hex, e->sha)) {
		close(src);
		return fail(u, CCE_EX_DATAERR, "'%s' in the current release does not match the manifest "
			    "and is not in the stream", e->path);
	}
	const char *leaf;
	int pfd = tree_parent(u, e->path, &leaf);
	int64_t mt = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
	if (pfd >= 0 && (st.st_mode & 07777) == e->mode && mt == e->mtime &&
	    linkat(u->basefd, e->path, pfd, leaf, 0) == 0) {
		close(src);
		return 0;
	}
	int dst = pfd < 0 ? -1 : openat(pfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (dst < 0 || copy_hash(u, src, dst, e->size, NULL) < 0)
		r = fail(u, CCE_EX_IOERR, "cannot copy '%s' into staging: %s", e->path, strerror(errno));
	close(src);
	if (dst >= 0 && close(dst) < 0 && r == 0)
		r = fail(u, CCE_EX_IOERR, "cannot write '%s' in staging: %s", e->path, strerror(errno));
	return r;
}

/* Mirror: a file not in the stream must already be right in DIR. */
static int check_unchanged(struct unpack *u, size_t i)
{
	const struct entry *e = &u->m.e[i];
	struct stat st;
	char hex[SHA256_HEX_LEN];
	int src = base_open(u, e->path, &st);
	bool okay = src >= 0 && (uint64_t)st.st_size == e->size && hash_fd(src, UINT64_MAX, hex) == 0 &&
		    !strcmp(hex, e->sha);
	if (src >= 0)
		close(src);
	if (!okay)
		return fail(u, CCE_EX_DATAERR, "'%s' in DIR does not match the manifest and is not in the "
			    "stream (was the stream made against another manifest?)", e->path);
	return 0;
}

static int build(struct unpack *u)
{
	for (size_t i = 0; i < u->m.n; i++) {
		const struct entry *e = &u->m.e[i];
		const char *leaf;
		int pfd;
		if (sig_stop)
			return fail(u, sig_exit_code(), "interrupted");
		switch (e->type) {
		case ENT_DIR:
			pfd = tree_parent(u, e->path, &leaf);
			if (pfd < 0 || (mkdirat(pfd, leaf, 0700) < 0 && errno != EEXIST))
				return fail(u, CCE_EX_IOERR, "cannot create '%s' in staging: %s", e->path,
					    strerror(errno));
			break;
		case ENT_SYMLINK:
			pfd = tree_parent(u, e->path, &leaf);
			if (pfd < 0 || symlinkat(e->target, pfd, leaf) < 0)
				return fail(u, CCE_EX_IOERR, "cannot create '%s' in staging: %s", e->path,
					    strerror(errno));
			break;
		case ENT_FILE:
			if (u->fs[i].kind == F_APPEND) {
				if (build_append(u, i) < 0)
					return -1;
			} else if (u->fs[i].kind == F_NONE) {
				if (u->o->mode == MODE_RELEASE && build_unchanged(u, i) < 0)
					return -1;
				if (u->o->mode == MODE_MIRROR && check_unchanged(u, i) < 0)
					return -1;
			}
			break;
		}
	}
	return 0;
}

/* Modes and times from the manifest, children before parents so that a
 * directory's mtime is not disturbed afterwards. only_written: skip files
 * not in the stream (merge and mirror leave DIR's own files alone). */
static int set_meta(struct unpack *u, int root, bool in_place)
{
	for (size_t k = u->m.n; k-- > 0;) {
		const struct entry *e = &u->m.e[k];
		struct timespec ts[2];
		ts[0] = ts[1] = ms_ts(e->mtime);
		if (in_place && e->type == ENT_FILE && u->fs[k].kind == F_NONE && u->o->mode == MODE_MERGE)
			continue;
		if (e->type == ENT_SYMLINK) {
			if (utimensat(root, e->path, ts, AT_SYMLINK_NOFOLLOW) < 0 && errno != ENOENT)
				return fail(u, CCE_EX_IOERR, "cannot set the time of '%s': %s", e->path,
					    strerror(errno));
			continue;
		}
		if (fchmodat(root, e->path, e->mode, 0) < 0 || utimensat(root, e->path, ts, 0) < 0)
			return fail(u, CCE_EX_IOERR, "cannot set the mode or time of '%s': %s", e->path,
				    strerror(errno));
	}
	return 0;
}

/* --- releases: staging becomes releases/ID, then current --- */

/* Staging left behind by a killed run (we hold the lock: nobody else's). */
static void clean_leftovers(int dirfd)
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

static int commit_release(struct unpack *u, const struct buf *mtext, char *id, size_t idlen)
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

/* --- merge and mirror: DIR is the tree --- */

/* Can DIR take the manifest without a conflict merge may not resolve? */
static int precheck_in_place(struct unpack *u)
{
	const char *replaced = NULL; /* mirror: a directory path replaced wholesale */
	size_t rlen = 0;
	for (size_t i = 0; i < u->m.n; i++) {
		const struct entry *e = &u->m.e[i];
		if (replaced && !strncmp(e->path, replaced, rlen) && e->path[rlen] == '/')
			continue;
		struct stat st;
		if (fstatat(u->dirfd, e->path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			return fail(u, CCE_EX_IOERR, "cannot stat '%s': %s", e->path, strerror(errno));
		}
		bool isdir = S_ISDIR(st.st_mode);
		if ((e->type == ENT_DIR) != isdir) {
			if (u->o->mode == MODE_MERGE)
				return fail(u, CCE_EX_DATAERR, "refused: '%s' is a %s in DIR and a %s in the "
					    "manifest (merge never replaces one with the other)", e->path,
					    isdir ? "directory" : "non-directory", isdir ? "non-directory" : "directory");
			if (e->type == ENT_DIR) {
				replaced = e->path;
				rlen = strlen(e->path);
			}
		}
	}
	return 0;
}

static int delete_extra(struct unpack *u, int dfd, const char *rel)
{
	int fd = openat(dfd, *rel ? rel : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		if (fd >= 0)
			close(fd);
		return fail(u, CCE_EX_IOERR, "cannot read '%s': %s", *rel ? rel : ".", strerror(errno));
	}
	struct dirent *de;
	struct buf p = BUF_INIT;
	int r = 0;
	while (r == 0 && (de = readdir(d))) {
		const char *n = de->d_name;
		if (!strcmp(n, ".") || !strcmp(n, "..") || (!*rel && !strncmp(n, ".cce-sync", 9)))
			continue;
		buf_reset(&p);
		if (*rel)
			buf_addf(&p, "%s/", rel);
		buf_adds(&p, n);
		const struct entry *e = manifest_find(&u->m, p.data);
		if (!e) {
			if (rm_tree_at(dirfd(d), n) < 0)
				r = fail(u, CCE_EX_IOERR, "cannot delete '%s': %s", p.data, strerror(errno));
			u->deleted++;
		} else if (e->type == ENT_DIR) {
			r = delete_extra(u, dfd, p.data);
		}
	}
	buf_free(&p);
	closedir(d);
	return r;
}

static int commit_in_place(struct unpack *u)
{
	for (size_t i = 0; i < u->m.n; i++) {
		const struct entry *e = &u->m.e[i];
		struct stat st, sst;
		bool exists = fstatat(u->dirfd, e->path, &st, AT_SYMLINK_NOFOLLOW) == 0;
		if (e->type == ENT_DIR) {
			if (exists && S_ISDIR(st.st_mode))
				continue;
			if (exists && rm_tree_at(u->dirfd, e->path) < 0)
				return fail(u, CCE_EX_IOERR, "cannot replace '%s': %s", e->path, strerror(errno));
			if (mkdirat(u->dirfd, e->path, 0700) < 0)
				return fail(u, CCE_EX_IOERR, "cannot create '%s': %s", e->path, strerror(errno));
			continue;
		}
		bool staged = e->type == ENT_FILE ? u->fs[i].kind != F_NONE
						  : fstatat(u->treefd, e->path, &sst, AT_SYMLINK_NOFOLLOW) == 0;
		if (!staged)
			continue;
		if (exists && S_ISDIR(st.st_mode) && rm_tree_at(u->dirfd, e->path) < 0)
			return fail(u, CCE_EX_IOERR, "cannot replace '%s': %s", e->path, strerror(errno));
		if (renameat(u->treefd, e->path, u->dirfd, e->path) < 0)
			return fail(u, CCE_EX_IOERR, "cannot move '%s' into place: %s", e->path, strerror(errno));
	}
	if (u->o->mode == MODE_MIRROR && delete_extra(u, u->dirfd, "") < 0)
		return -1;
	if (set_meta(u, u->dirfd, true) < 0)
		return -1;
	if (syncfs(u->dirfd) < 0)
		return fail(u, CCE_EX_IOERR, "cannot sync '%s': %s", u->o->dir, strerror(errno));
	return 0;
}

/* --- the command --- */

static void report(struct out *out, struct unpack *u, const char *id, int64_t t0)
{
	static const char *const modes[] = { "release", "merge", "mirror" };
	struct buf b = BUF_INIT;
	buf_addf(&b, "{\"mode\":\"%s\"", modes[u->o->mode]);
	if (id) {
		buf_adds(&b, ",\"release\":");
		buf_add_json_str(&b, id, strlen(id));
	}
	uint64_t deleted = u->o->mode == MODE_RELEASE ? u->counts[OP_DELETE]
			   : u->o->mode == MODE_MIRROR ? u->deleted : 0;
	buf_addf(&b, ",\"added\":%u,\"modified\":%u,\"appended\":%u,\"deleted\":%ju,\"meta\":%u,"
		 "\"files\":%zu,\"bytes\":%ju,\"duration_ms\":%jd}", u->counts[OP_ADD], u->counts[OP_MODIFY],
		 u->counts[OP_APPEND], (uintmax_t)deleted, u->counts[OP_META], u->m.n, (uintmax_t)u->bytes,
		 (intmax_t)(time_mono_ms() - t0));
	out_line(out, b.data, b.len);
	buf_free(&b);
}

int cmd_unpack(struct out *out, const struct unpack_opts *o)
{
	struct unpack u = { .o = o, .dirfd = -1, .stagefd = -1, .treefd = -1,
			    .tailfd = -1, .basefd = -1, .par.fd = -1 };
	struct buf mtext = BUF_INIT, otext = BUF_INIT;
	char id[128] = "";
	int64_t t0 = u.t0 = time_mono_ms();
	buf_init(&u.par.dir);
	u.block = xmalloc(DATA_BLOCK);
	progress_init(&u.pg, o->progress);

	int st = lock_dir(o->dir, &u.dirfd, u.err, sizeof u.err);
	if (st) {
		u.status = st;
		goto out;
	}
	clean_leftovers(u.dirfd);
	if (o->mode == MODE_RELEASE) {
		u.err[0] = 0;
		u.base_id = current_release(u.dirfd, u.err, sizeof u.err);
		if (!u.base_id && u.err[0]) {
			u.status = CCE_EX_FAIL;
			goto out;
		}
		if (u.base_id) {
			char p[600];
			snprintf(p, sizeof p, "releases/%s", u.base_id);
			u.basefd = openat(u.dirfd, p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (u.basefd < 0) {
				fail(&u, CCE_EX_FAIL, "cannot open the current release '%s': %s", p, strerror(errno));
				goto out;
			}
		}
	} else {
		u.basefd = dup(u.dirfd);
	}
	snprintf(u.stage, sizeof u.stage, STAGE_PREFIX "%d.%jd", (int)getpid(), (intmax_t)time_now_ms());
	if (mkdirat(u.dirfd, u.stage, 0700) < 0 ||
	    (u.stagefd = openat(u.dirfd, u.stage, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    mkdirat(u.stagefd, "tree", 0700) < 0 || mkdirat(u.stagefd, "tails", 0700) < 0 ||
	    (u.treefd = openat(u.stagefd, "tree", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (u.tailfd = openat(u.stagefd, "tails", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		fail(&u, CCE_EX_IOERR, "cannot create staging in '%s': %s", o->dir, strerror(errno));
		goto out;
	}
	if (read_stream(&u, &mtext, &otext) < 0)
		goto out;
	diag_debug("unpack: stream received at %jd ms", (intmax_t)(time_mono_ms() - t0));
	if (o->mode != MODE_RELEASE && precheck_in_place(&u) < 0)
		goto out;
	if (build(&u) < 0)
		goto out;
	diag_debug("unpack: tree built at %jd ms", (intmax_t)(time_mono_ms() - t0));
	if (o->mode == MODE_RELEASE) {
		if (set_meta(&u, u.treefd, false) < 0)
			goto out;
		/* one syncfs covers every file and directory of the new tree */
		if (syncfs(u.treefd) < 0) {
			fail(&u, CCE_EX_IOERR, "cannot sync '%s': %s", o->dir, strerror(errno));
			goto out;
		}
		diag_debug("unpack: synced at %jd ms", (intmax_t)(time_mono_ms() - t0));
		if (commit_release(&u, &mtext, id, sizeof id) < 0)
			goto out;
	} else {
		if (syncfs(u.treefd) < 0) {
			fail(&u, CCE_EX_IOERR, "cannot sync '%s': %s", o->dir, strerror(errno));
			goto out;
		}
		if (commit_in_place(&u) < 0)
			goto out;
		char err[512];
		struct buf p = BUF_INIT;
		buf_addf(&p, "%s/" LAST_MANIFEST, o->dir);
		if (fs_replace(p.data, mtext.data, mtext.len, 0644, err, sizeof err) < 0)
			diag_warn("%s", err);
		buf_free(&p);
	}
	diag_debug("unpack: committed at %jd ms", (intmax_t)(time_mono_ms() - t0));
	report(out, &u, o->mode == MODE_RELEASE ? id : NULL, t0);
out:
	progress_end(&u.pg);
	if (u.status)
		diag_error("%s", u.err);
	parent_free(&u.par, u.treefd);
	if (u.treefd >= 0)
		close(u.treefd);
	if (u.tailfd >= 0)
		close(u.tailfd);
	if (u.stagefd >= 0)
		close(u.stagefd);
	if (u.dirfd >= 0 && u.stage[0]) {
		rm_tree_at(u.dirfd, u.stage);
		fsync(u.dirfd);
	}
	if (u.basefd >= 0)
		close(u.basefd);
	if (u.dirfd >= 0)
		close(u.dirfd);
	free(u.base_id);
	free(u.fs);
	free(u.block);
	buf_free(&mtext);
	buf_free(&otext);
	manifest_free(&u.m);
	return u.status;
}

