/*
 * stream: the receiving end of a cce-sync stream. The first entries are
 * the manifest, the ops and, when signed, the signature: read whole (at
 * most META_MAX), verified, parsed. Then every file of the stream, each
 * refused unless the ops announce it with the size the manifest gives,
 * hashed as it is read and handed to the writer thread.
 */
#include "unpack.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "diag.h"
#include "json.h"
#include "sig.h"
#include "sign.h"
#include "timeutil.h"

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

/* A reader of o->in_fd through src (libarchive's own fd reader would
 * retry EINTR), with the formats and filters a stream may use: NULL after
 * fail(). */
static struct archive *open_stream(struct unpack *u, struct source *src)
{
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	if (archive_version_number() < 3006002) {
		fail(u, CCE_EX_FAIL, "libarchive %s is too old (3.6.2 with Debian's security fixes needed)",
		     archive_version_string());
	} else if (archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
		   archive_read_support_filter_zstd(a) != ARCHIVE_OK) {
		fail(u, CCE_EX_FAIL, "libarchive lacks built-in gzip or zstd support");
	} else {
		src->fd = u->o->in_fd;
		/* a larger pipe lets the sender run ahead while this side
		 * writes; not a pipe, or not allowed: no matter */
		fcntl(src->fd, F_SETPIPE_SZ, 1 << 20);
		if (archive_read_open(a, src, NULL, source_read, NULL) == ARCHIVE_OK)
			return a;
		fail(u, CCE_EX_DATAERR, "cannot read the stream: %s", archive_error_string(a));
	}
	archive_read_free(a);
	return NULL;
}

static const char *entry_name(struct archive_entry *ae)
{
	const char *n = archive_entry_pathname(ae);
	return n ? n : "";
}

/* The stream's head: the manifest and the ops, read whole, the signature
 * checked with --verify, both parsed. *h: what next_header said of the
 * entry after them (1: *ae is the first file). */
static int read_head(struct unpack *u, struct archive *a, struct archive_entry **ae,
		     struct buf *mtext, struct buf *otext, int *h)
{
	if ((*h = next_header(u, a, ae)) == 0)
		return fail(u, CCE_EX_DATAERR, "empty stream");
	if (*h < 0)
		return -1;
	if (strcmp(entry_name(*ae), ".cce/manifest.jsonl"))
		return fail(u, CCE_EX_DATAERR, "not a cce-sync stream (first entry '%s', not '.cce/manifest.jsonl')",
			    entry_name(*ae));
	if (read_blob(u, a, *ae, mtext, META_MAX) < 0 || next_header(u, a, ae) <= 0 ||
	    strcmp(entry_name(*ae), ".cce/ops.jsonl") || read_blob(u, a, *ae, otext, META_MAX) < 0)
		return u->status ? -1 : fail(u, CCE_EX_DATAERR, "not a cce-sync stream (no '.cce/ops.jsonl')");
	if ((*h = next_header(u, a, ae)) < 0)
		return -1;
	struct buf sig = BUF_INIT;
	bool have_sig = *h > 0 && !strcmp(entry_name(*ae), ".cce/signature");
	int r = have_sig ? read_blob(u, a, *ae, &sig, SIG_MAX) : 0;
	if (r == 0 && u->o->verify && !have_sig)
		r = fail(u, CCE_EX_DATAERR, "refused: the stream is not signed and --verify is given");
	else if (r == 0 && u->o->verify &&
		 sign_check(u->o->verify, mtext->data, mtext->len, otext->data, otext->len, sig.data,
			    sig.len, u->err, sizeof u->err) < 0) {
		u->status = CCE_EX_DATAERR; /* u->err says why */
		r = -1;
	}
	buf_free(&sig);
	if (r < 0)
		return -1;
	if (manifest_parse(mtext->data, mtext->len, true, &u->o->lim, &u->m, u->err, sizeof u->err) < 0) {
		/* "refused: " before the parser's words */
		size_t n = strnlen(u->err, sizeof u->err - 10);
		memmove(u->err + 9, u->err, n);
		memcpy(u->err, "refused: ", 9);
		u->err[9 + n] = 0;
		u->status = CCE_EX_DATAERR;
		return -1;
	}
	if (parse_ops(u, otext->data, otext->len) < 0)
		return -1;
	if (have_sig)
		*h = next_header(u, a, ae);
	return 0;
}

/* The files of the stream, from *ae on (h: next_header's word on it),
 * then a check that none the ops announce is missing. */
static int read_files(struct unpack *u, struct archive *a, struct archive_entry *ae, int h)
{
	uint64_t data_total = 0;
	while (h > 0) {
		if (sig_stop)
			return fail(u, sig_exit_code(), "interrupted");
		if (receive(u, a, ae, &data_total) < 0)
			return -1;
		h = next_header(u, a, &ae);
	}
	if (h < 0)
		return -1;
	for (size_t i = 0; i < u->m.n; i++)
		if (u->fs[i].kind != F_NONE && !u->fs[i].received)
			return fail(u, CCE_EX_DATAERR, "'%s' is missing from the stream (truncated?)",
				    u->m.e[i].path);
	return 0;
}

int read_stream(struct unpack *u, struct buf *mtext, struct buf *otext)
{
	struct source *src = xmalloc(sizeof *src);
	src->failed = false;
	struct archive *a = open_stream(u, src);
	struct archive_entry *ae;
	int h, r = -1;
	if (a && read_head(u, a, &ae, mtext, otext, &h) == 0) {
		diag_debug("unpack: manifest and ops read at %jd ms", (intmax_t)(time_mono_ms() - u->t0));
		if (writer_start(u) == 0)
			r = read_files(u, a, ae, h);
	}
	/* everything received is written (or the writer failed) before the
	 * tree is built, checked or removed */
	if (writer_stop(u) < 0 && r == 0)
		r = fail(u, CCE_EX_IOERR, "%s", u->w.why);
	if (r < 0 && sig_stop)
		fail(u, sig_exit_code(), "interrupted");
	else if (r < 0 && src->failed && u->status == CCE_EX_DATAERR)
		u->status = CCE_EX_IOERR;
	if (a)
		archive_read_free(a);
	free(src);
	return r;
}
