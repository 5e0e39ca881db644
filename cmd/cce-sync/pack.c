/* pack: the sending side, a tree (or what differs from the receiver's
 * manifest) as a tar stream on stdout, compressed and optionally signed */
#include "sync.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "diag.h"
#include "json.h"
#include "ratelimit.h"
#include "sig.h"
#include "sign.h"
#include "timeutil.h"

#define DATA_BLOCK (1 << 20)

/* A manifest is JSON, so names must be UTF-8. */
static bool utf8(const char *s, const char **why)
{
	struct buf j = BUF_INIT;
	buf_add_json_str(&j, s, strlen(s));
	bool ok = json_valid(j.data, j.len, NULL);
	buf_free(&j);
	if (!ok)
		*why = "name is not UTF-8";
	return ok;
}

/* The manifest a pack promises: what unpack accepts. Special bits are
 * stripped (unpack refuses them) and the reserved .cce tree is left out. */
static void target_manifest(struct manifest *m)
{
	size_t k = 0;
	for (size_t i = 0; i < m->n; i++) {
		struct entry *e = &m->e[i];
		const char *why;
		if (!path_ok(e->path, &why) || !utf8(e->path, &why) || (e->target && !utf8(e->target, &why))) {
			diag_warn("leaving out '%s': %s", e->path, why);
			m->total_size -= e->size;
			free(e->path);
			free(e->target);
			continue;
		}
		if (e->mode & 07000) {
			diag_warn("stripping setuid, setgid and sticky bits from '%s'", e->path);
			e->mode &= 0777;
		}
		m->e[k++] = *e;
	}
	m->n = k;
}

static int add_blob(struct archive *a, const char *name, const char *data, size_t len)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)len);
	archive_entry_set_mtime(e, time_now_ms() / 1000, 0);
	int r = archive_write_header(a, e);
	archive_entry_free(e);
	if (r != ARCHIVE_OK || (len && archive_write_data(a, data, len) != (la_ssize_t)len))
		return -1;
	return 0;
}

static int add_file(struct archive *a, const char *dir, const struct op *op, char *block,
		    struct progress *pg, char *err, size_t errlen)
{
	const struct entry *n = op->new;
	struct buf p = BUF_INIT;
	buf_addf(&p, "%s/%s", dir, n->path);
	int fd = open(p.data, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	buf_free(&p);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "cannot open '%s': %s", n->path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	/* the scan hashed this very inode at this size and mtime; anything
	 * else means it changed since, and the receiver would refuse it */
	if ((uint64_t)st.st_size != n->size || st.st_ino != n->ino ||
	    (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec != n->mtime_ns) {
		snprintf(err, errlen, "'%s' changed while packing", n->path);
		close(fd);
		return -1;
	}
	uint64_t from = op->kind == OP_APPEND ? op->offset : 0;
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, n->path);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, n->mode & 0777);
	archive_entry_set_size(e, (la_int64_t)(n->size - from));
	archive_entry_set_mtime(e, n->mtime / 1000, (long)(n->mtime % 1000) * 1000000);
	int r = archive_write_header(a, e);
	archive_entry_free(e);
	if (r != ARCHIVE_OK) {
		snprintf(err, errlen, "cannot write the stream: %s", archive_error_string(a));
		close(fd);
		return -1;
	}
	uint64_t off = from;
	while (off < n->size && !sig_stop) {
		size_t want = n->size - off < DATA_BLOCK ? (size_t)(n->size - off) : DATA_BLOCK;
		ssize_t got = pread(fd, block, want, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			snprintf(err, errlen, got < 0 ? "cannot read '%s': %s" : "'%s' shrank while packing%s",
				 n->path, got < 0 ? strerror(errno) : "");
			break;
		}
		if (archive_write_data(a, block, (size_t)got) != got) {
			snprintf(err, errlen, "cannot write the stream: %s", archive_error_string(a));
			break;
		}
		off += (uint64_t)got;
		progress_tick(pg, 0, (uint64_t)got);
	}
	if (fstat(fd, &st) == 0 && (uint64_t)st.st_size != n->size)
		snprintf(err, errlen, "'%s' changed while packing", n->path);
	close(fd);
	if (off != n->size || (uint64_t)st.st_size != n->size) {
		if (sig_stop)
			snprintf(err, errlen, "interrupted");
		return -1;
	}
	progress_tick(pg, 1, 0);
	return 0;
}

/* --rate-limit: the stream's blocks written to stdout as the bucket
 * allows (a tenth of a second's bytes at a time, so the rate is even) */
static bool stopped(void *unused)
{
	return sig_stop;
}

static la_ssize_t paced_write(struct archive *a, void *rl, const void *buf, size_t n)
{
	ratelimit_pace(rl, n, stopped, NULL);
	for (size_t done = 0; done < n;) {
		ssize_t w = write(1, (const char *)buf + done, n - done);
		if (w < 0 && errno != EINTR) {
			archive_set_error(a, errno, "%s", strerror(errno));
			return -1;
		}
		done += w > 0 ? (size_t)w : 0;
	}
	return (la_ssize_t)n;
}

static int paced_close(struct archive *a, void *rl)
{
	ratelimit_free(rl);
	free(rl);
	return ARCHIVE_OK;
}

static int open_paced(struct archive *a, uint64_t rate)
{
	struct ratelimit *rl = xmalloc(sizeof *rl);
	ratelimit_init(rl, rate, ratelimit_now_ns());
	uint64_t block = rate / 10 / 512 * 512;
	archive_write_set_bytes_per_block(a, block < 512 ? 512 : block > (256 << 10) ? 256 << 10 : (int)block);
	return archive_write_open2(a, rl, NULL, paced_write, paced_close, NULL);
}

/* The stream on stdout: pax, compressed as o asks; 0, or -1 with a's
 * error. */
static int open_stream(const struct pack_opts *o, struct archive *a)
{
	archive_write_set_format_pax_restricted(a);
	char lvl[16];
	snprintf(lvl, sizeof lvl, "%d", o->level);
	int fr = o->compress == COMPRESS_GZIP ? archive_write_add_filter_gzip(a)
					      : archive_write_add_filter_zstd(a);
	if (fr == ARCHIVE_OK && o->level >= 0)
		fr = archive_write_set_filter_option(a, NULL, "compression-level", lvl);
	/* zstd compresses in worker threads while this one reads files */
	if (fr == ARCHIVE_OK && o->compress == COMPRESS_ZSTD) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		char nt[24];
		snprintf(nt, sizeof nt, "%ld", cpus > 1 ? cpus : 1);
		archive_write_set_filter_option(a, "zstd", "threads", nt);
	}
	/* without this libarchive pads the last block, which zstd readers
	 * take for a broken frame */
	archive_write_set_bytes_in_last_block(a, 1);
	/* write in large blocks (libarchive's default is 10 KiB) into a large
	 * pipe: fewer wakeups on both sides, and the receiver can fall behind
	 * for a moment without stalling us; not a pipe: no matter */
	archive_write_set_bytes_per_block(a, 256 << 10);
	fcntl(1, F_SETPIPE_SZ, 1 << 20);
	if (fr == ARCHIVE_OK && o->rate_limit)
		return open_paced(a, o->rate_limit) == ARCHIVE_OK ? 0 : -1;
	return fr == ARCHIVE_OK && archive_write_open_fd(a, 1) == ARCHIVE_OK ? 0 : -1;
}

int cmd_pack(const struct pack_opts *o)
{
	char err[512] = "";
	struct manifest local, remote;
	struct ops ops = { 0 };
	struct buf mtext = BUF_INIT, otext = BUF_INIT;
	struct archive *a = NULL;
	char *block = NULL;
	int status = CCE_EX_IOERR;
	memset(&remote, 0, sizeof remote);
	/* the same tree `manifest DIR` describes: a release directory's current */
	char *root = tree_root(o->dir);

	int64_t t0 = time_mono_ms();
	if (manifest_scan(root, o->cache, &local, err, sizeof err) < 0)
		goto fail;
	diag_debug("pack: scanned %zu entries in %jd ms", local.n, (intmax_t)(time_mono_ms() - t0));
	target_manifest(&local);
	if (o->against && manifest_load(o->against, &remote, err, sizeof err) < 0) {
		status = CCE_EX_DATAERR;
		goto fail;
	}
	manifest_diff(&remote, &local, root, &ops, err, sizeof err);
	manifest_write(&local, &mtext);
	for (size_t i = 0; i < ops.n; i++) {
		op_json(&ops.o[i], &otext);
		buf_addc(&otext, '\n');
	}
	char sig[SIG_HEX_LEN + 1];
	if (o->sign) {
		if (sign_make(o->sign, mtext.data, mtext.len, otext.data, otext.len, sig, err,
			      sizeof err) < 0) {
			status = CCE_EX_USAGE;
			goto fail;
		}
		strcat(sig, "\n");
	}

	a = archive_write_new();
	if (open_stream(o, a) < 0) {
		snprintf(err, sizeof err, "cannot start the stream: %s", archive_error_string(a));
		goto fail;
	}
	if (add_blob(a, ".cce/manifest.jsonl", mtext.data, mtext.len) < 0 ||
	    add_blob(a, ".cce/ops.jsonl", otext.data, otext.len) < 0 ||
	    (o->sign && add_blob(a, ".cce/signature", sig, strlen(sig)) < 0)) {
		snprintf(err, sizeof err, "cannot write the stream: %s", archive_error_string(a));
		goto fail;
	}
	block = xmalloc(DATA_BLOCK);
	struct progress pg;
	progress_init(&pg, o->progress);
	for (size_t i = 0; i < ops.n; i++) {
		if (op_has_data(&ops.o[i]) &&
		    add_file(a, root, &ops.o[i], block, &pg, err, sizeof err) < 0)
			goto fail;
	}
	progress_end(&pg);
	if (archive_write_close(a) != ARCHIVE_OK) {
		snprintf(err, sizeof err, "cannot write the stream: %s", archive_error_string(a));
		goto fail;
	}
	diag_debug("pack: done in %jd ms", (intmax_t)(time_mono_ms() - t0));
	status = 0;
fail:
	if (status && a && archive_errno(a) == EPIPE)
		status = 0; /* the reader went away: stop quietly, as every tool does */
	else if (status)
		diag_error("%s", err);
	if (a)
		archive_write_free(a);
	free(block);
	buf_free(&mtext);
	buf_free(&otext);
	ops_free(&ops);
	manifest_free(&local);
	manifest_free(&remote);
	free(root);
	return status;
}
