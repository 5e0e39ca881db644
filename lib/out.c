#include "out.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"

#define OUT_BUFSIZE (64 * 1024)

void out_init(struct out *o, int fd, bool unbuffered)
{
	memset(o, 0, sizeof *o);
	o->fd = fd;
	o->unbuffered = unbuffered;
	/* the buffer comes with the first write, so that a run that ends
	 * before writing (usage errors) has nothing to free */
}

void out_free(struct out *o)
{
	free(o->buf);
	o->buf = NULL;
	o->len = o->cap = 0;
}

static void write_all(struct out *o, const char *p, size_t n)
{
	while (n && !out_done(o)) {
		ssize_t w = write(o->fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EPIPE)
				o->closed = true;
			else
				o->err = errno;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

int out_flush(struct out *o)
{
	if (o->len && !out_done(o))
		write_all(o, o->buf, o->len);
	o->len = 0;
	return out_done(o) ? -1 : 0;
}

void out_flush_hook(void *o)
{
	out_flush(o);
}

void out_write(struct out *o, const void *p, size_t n)
{
	if (out_done(o) || n == 0)
		return;
	if (!o->buf) {
		o->cap = OUT_BUFSIZE;
		o->buf = xmalloc(o->cap);
	}
	if (o->len + n > o->cap) {
		out_flush(o);
		if (n >= o->cap) {
			write_all(o, p, n);
			return;
		}
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

void out_line(struct out *o, const void *p, size_t n)
{
	out_write(o, p, n);
	out_write(o, "\n", 1);
	o->records++;
	if (o->unbuffered)
		out_flush(o);
}
