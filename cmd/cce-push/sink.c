/* The sink dispatch, the file sink, and the retry arithmetic. */
#include "sink.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
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

/* file: append the batch and fsync it before it counts */
struct file_sink {
	const struct target *t;
	struct buf path;
	char *open_path;
	int fd;
};

static struct file_sink *file_new(const struct target *t)
{
	struct file_sink *f = xcalloc(1, sizeof *f);
	f->t = t;
	f->fd = -1;
	buf_init(&f->path);
	return f;
}

static void file_free(struct file_sink *f)
{
	if (f->fd >= 0)
		close(f->fd);
	free(f->open_path);
	buf_free(&f->path);
	free(f);
}

static enum verdict file_send(struct file_sink *f, const struct spool_batch *b, struct attempt *a)
{
	if (target_expand(f->t, b->key, b->keylen, b->id, &f->path) < 0) {
		snprintf(a->msg, sizeof a->msg, "the spooled batch does not fit the URL's placeholders");
		return V_PERMANENT;
	}
	snprintf(a->where, sizeof a->where, "%s", f->path.data);
	if (f->fd < 0 || strcmp(f->open_path, f->path.data) != 0) {
		if (f->fd >= 0)
			close(f->fd);
		free(f->open_path);
		f->open_path = xstrdup(f->path.data);
		f->fd = open(f->path.data, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (f->fd < 0) {
			snprintf(a->msg, sizeof a->msg, "cannot open '%s': %s", f->path.data, strerror(errno));
			return V_RETRY;
		}
	}
	off_t before = lseek(f->fd, 0, SEEK_END);
	if (fs_write_all(f->fd, b->data, b->len) < 0 || fdatasync(f->fd) < 0) {
		snprintf(a->msg, sizeof a->msg, "cannot write '%s': %s", f->path.data, strerror(errno));
		/* take back a partial batch so that the retry does not leave
		 * a torn line in the middle of the file */
		if (before >= 0 && ftruncate(f->fd, before) < 0) {
			/* nothing more to do: the retry appends after it */
		}
		close(f->fd);
		f->fd = -1;
		return V_RETRY;
	}
	return V_OK;
}

struct sink {
	enum sink_kind kind;
	void *impl;
};

struct sink *sink_new(const struct target *t, const struct sink_opts *o, char *err, size_t errlen)
{
	struct sink *s = xcalloc(1, sizeof *s);
	s->kind = t->kind;
	switch (t->kind) {
	case SINK_FILE: s->impl = file_new(t); break;
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
	switch (s->kind) {
	case SINK_FILE: return file_send(s->impl, b, a);
	case SINK_HTTP: return http_send(s->impl, b, a);
	case SINK_MQTT: return mqtt_send(s->impl, b, a);
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
	free(s);
}
