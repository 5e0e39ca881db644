/* The sink dispatch, the file sink, and the retry arithmetic. */
#include "sink.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "diag.h"
#include "fsutil.h"
#include "sink_impl.h"

enum verdict http_verdict(long status)
{
	if (status >= 200 && status < 300)
		return V_OK;
	/* a server that is busy, overloaded or restarting will answer
	 * differently later; any other client error will not */
	if (status == 408 || status == 429 || status >= 500 || status == 0)
		return V_RETRY;
	return V_PERMANENT;
}

int64_t backoff_delay(int n, int64_t base, int64_t max, int64_t retry_after, uint32_t r)
{
	if (retry_after >= 0)
		return retry_after < max ? retry_after : max;
	int64_t cap = base;
	for (int i = 1; i < n && cap < max; i++)
		cap *= 2;
	if (cap > max)
		cap = max;
	if (cap <= 0)
		return 0;
	return (int64_t)((uint64_t)r % ((uint64_t)cap + 1));
}

/*
 * file: append the batch and fsync it before it counts.
 *
 * Exactly once into a regular file, across kill -9: before a batch is
 * appended, a journal in the spool directory records its id and where the
 * file ended (device, inode, size), fsynced. When the same batch comes
 * again (its acknowledgement never reached the spool), whatever an
 * earlier attempt appended after that offset is cut off first, so the
 * batch is in the file once. This assumes cce-push is the file's only
 * writer; a file replaced since (rotated: another inode) just gets the
 * batch appended. FIFOs and devices (/dev/stdout) are written without
 * fsync or journal. A file system with no room for a new journal (the
 * spool's, full of the backlog this sink drains) gets appends without one:
 * draining matters more than the rare duplicate, and stderr says so.
 */
#define JOURNAL_NAME "file-sink.journal"

struct journal {
	bool valid;
	char id[SPOOL_ID_LEN + 1];
	unsigned long long dev, ino, off;
};

struct file_sink {
	char *open_path;
	int fd;
	bool regular;
	char *journal_path;             /* NULL without a spool */
	int jfd;
	struct journal j;               /* what the journal file holds */
};

static struct file_sink *file_new(const struct sink_opts *o)
{
	struct file_sink *f = xcalloc(1, sizeof *f);
	f->fd = f->jfd = -1;
	if (o->spool_dir) {
		struct buf b;
		buf_init(&b);
		buf_addf(&b, "%s/%s", o->spool_dir, JOURNAL_NAME);
		f->journal_path = buf_detach(&b, NULL);
	}
	return f;
}

static void file_free(struct file_sink *f)
{
	if (f->fd >= 0)
		close(f->fd);
	if (f->jfd >= 0)
		close(f->jfd);
	free(f->open_path);
	free(f->journal_path);
	free(f);
}

/* The journal is one record of JOURNAL_LEN bytes, "ID DEV INO OFF",
 * space-padded, ending in '\n', rewritten in place: its block is
 * allocated when the journal is made, so that a full file system (the
 * spool's, whose backlog this sink is draining) never stops a rewrite. */
#define JOURNAL_LEN 128

static bool journal_parse(const char *text, size_t n, struct journal *j)
{
	char buf[JOURNAL_LEN + 1];
	if (n != JOURNAL_LEN || text[JOURNAL_LEN - 1] != '\n')
		return false;
	memcpy(buf, text, n);
	buf[n - 1] = 0;
	int used = 0;
	if (sscanf(buf, "%32[0-9a-f] %llu %llu %llu%n", j->id, &j->dev, &j->ino, &j->off, &used) != 4 ||
	    strlen(j->id) != SPOOL_ID_LEN)
		return false;
	for (size_t k = (size_t)used; k < n - 1; k++)
		if (buf[k] != ' ')
			return false;
	return true;
}

/* Open (or make) the journal and read what the last run left in it. 0, or
 * -1 with msg; 1 when the file system has no room for a new journal: the
 * sink then appends without one (said once on stderr). */
static int journal_unavailable(struct file_sink *f)
{
	diag_warn("no room for '%s': batches are appended without it, so one "
		  "re-sent after a crash may appear twice", f->journal_path);
	if (f->jfd >= 0)
		close(f->jfd);
	f->jfd = -1;
	unlink(f->journal_path);
	free(f->journal_path);
	f->journal_path = NULL;
	return 1;
}

static int journal_open(struct file_sink *f, struct attempt *a)
{
	f->jfd = open(f->journal_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (f->jfd < 0 && (errno == ENOSPC || errno == EDQUOT))
		return journal_unavailable(f); /* no inode, or no directory block */
	struct stat st;
	if (f->jfd < 0 || fstat(f->jfd, &st) < 0) {
		snprintf(a->msg, sizeof a->msg, "cannot open '%s': %s", f->journal_path, strerror(errno));
		if (f->jfd >= 0)
			close(f->jfd);
		f->jfd = -1;
		return -1;
	}
	if (st.st_size < JOURNAL_LEN) {
		int e = posix_fallocate(f->jfd, 0, JOURNAL_LEN);
		if (e == ENOSPC || e == EDQUOT)
			return journal_unavailable(f);
		if (e != 0 && e != EOPNOTSUPP && e != EINVAL) {
			snprintf(a->msg, sizeof a->msg, "cannot allocate '%s': %s", f->journal_path,
				 strerror(e));
			close(f->jfd);
			f->jfd = -1;
			return -1;
		}
	}
	char text[JOURNAL_LEN];
	ssize_t n = pread(f->jfd, text, sizeof text, 0);
	/* a torn or foreign journal is no journal: the batch is appended */
	f->j.valid = n > 0 && journal_parse(text, (size_t)n, &f->j);
	return 0;
}

static int journal_write(struct file_sink *f, const struct journal *j, struct attempt *a)
{
	char text[JOURNAL_LEN + 1];
	int n = snprintf(text, sizeof text, "%s %llu %llu %llu", j->id, j->dev, j->ino, j->off);
	memset(text + n, ' ', JOURNAL_LEN - 1 - (size_t)n);
	text[JOURNAL_LEN - 1] = '\n';
	errno = 0;
	if (pwrite(f->jfd, text, JOURNAL_LEN, 0) != JOURNAL_LEN || fdatasync(f->jfd) < 0) {
		snprintf(a->msg, sizeof a->msg, "cannot write '%s': %s", f->journal_path,
			 strerror(errno ? errno : EIO));
		f->j.valid = false;
		return -1;
	}
	f->j = *j;
	return 0;
}

static enum verdict file_send(struct file_sink *f, const struct spool_batch *b, const char *path,
			      struct attempt *a)
{
	if (f->fd < 0 || strcmp(f->open_path, path) != 0) {
		if (f->fd >= 0)
			close(f->fd);
		free(f->open_path);
		f->open_path = xstrdup(path);
		f->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		struct stat st;
		if (f->fd < 0 || fstat(f->fd, &st) < 0) {
			snprintf(a->msg, sizeof a->msg, "cannot open '%s': %s", path, strerror(errno));
			if (f->fd >= 0)
				close(f->fd);
			f->fd = -1;
			return V_RETRY;
		}
		f->regular = S_ISREG(st.st_mode);
	}
	if (!f->regular) {
		if (fs_write_all(f->fd, b->data, b->len) < 0) {
			snprintf(a->msg, sizeof a->msg, "cannot write '%s': %s", path, strerror(errno));
			close(f->fd);
			f->fd = -1;
			return V_RETRY;
		}
		return V_OK;
	}
	struct stat st;
	if (fstat(f->fd, &st) < 0) {
		snprintf(a->msg, sizeof a->msg, "cannot stat '%s': %s", path, strerror(errno));
		return V_RETRY;
	}
	off_t before = st.st_size;
	if (f->journal_path && f->jfd < 0 && journal_open(f, a) < 0)
		return V_RETRY;
	if (f->jfd >= 0) {
		struct journal j = { true, "", (unsigned long long)st.st_dev,
				     (unsigned long long)st.st_ino, 0 };
		memcpy(j.id, b->id, sizeof j.id);
		if (f->j.valid && !strcmp(f->j.id, b->id) && f->j.dev == j.dev && f->j.ino == j.ino &&
		    (unsigned long long)before >= f->j.off) {
			/* this batch was appended (maybe in part) by an attempt
			 * whose acknowledgement was lost: take it back */
			before = (off_t)f->j.off;
			if (ftruncate(f->fd, before) < 0) {
				snprintf(a->msg, sizeof a->msg, "cannot truncate '%s': %s", path,
					 strerror(errno));
				return V_RETRY;
			}
		} else {
			j.off = (unsigned long long)before;
			if (journal_write(f, &j, a) < 0)
				return V_RETRY;
		}
	}
	if (fs_write_all(f->fd, b->data, b->len) < 0 || fdatasync(f->fd) < 0) {
		snprintf(a->msg, sizeof a->msg, "cannot write '%s': %s", path, strerror(errno));
		/* take back a partial batch so that the retry does not leave
		 * a torn line in the middle of the file */
		if (ftruncate(f->fd, before) < 0) {
			/* nothing more to do: the journal cuts it on the retry */
		}
		close(f->fd);
		f->fd = -1;
		return V_RETRY;
	}
	return V_OK;
}

struct sink {
	enum sink_kind kind;
	const struct target *t;
	struct buf where;               /* the URL, path or topic of this batch */
	void *impl;
};

struct sink *sink_new(const struct target *t, const struct sink_opts *o, char *err, size_t errlen)
{
	struct sink *s = xcalloc(1, sizeof *s);
	s->kind = t->kind;
	s->t = t;
	buf_init(&s->where);
	switch (t->kind) {
	case SINK_FILE: s->impl = file_new(o); break;
	case SINK_HTTP: s->impl = http_new(t, o, err, errlen); break;
	case SINK_MQTT: s->impl = mqtt_new(t, o, err, errlen); break;
	}
	if (!s->impl) {
		free(s);
		return NULL;
	}
	return s;
}

enum verdict sink_send(struct sink *s, const struct spool_batch *b, struct attempt *a)
{
	a->status = 0;
	a->retry_after_ms = -1;
	a->msg[0] = a->where[0] = 0;
	if (target_expand(s->t, b->key, b->keylen, b->id, &s->where) < 0) {
		snprintf(a->msg, sizeof a->msg, "the spooled batch does not fit the URL's placeholders");
		return V_PERMANENT;
	}
	snprintf(a->where, sizeof a->where, "%s", s->where.data);
	switch (s->kind) {
	case SINK_FILE: return file_send(s->impl, b, s->where.data, a);
	case SINK_HTTP: return http_send(s->impl, b, s->where.data, a);
	case SINK_MQTT: return mqtt_send(s->impl, b, s->where.data, a);
	}
	return V_PERMANENT;
}

void sink_free(struct sink *s)
{
	if (!s)
		return;
	switch (s->kind) {
	case SINK_FILE: file_free(s->impl); break;
	case SINK_HTTP: http_free(s->impl); break;
	case SINK_MQTT: mqtt_free(s->impl); break;
	}
	buf_free(&s->where);
	free(s);
}
