/*
 * out: the buffered record writer for stdout.
 *
 * Promises: records are written whole and in order. Output is held in a
 * buffer until it fills, until out_flush (which the line reader calls
 * whenever it is about to block on input, so an idle pipeline never holds
 * a record back), or after every record when unbuffered. A reader that went
 * away (EPIPE) sets `closed`, drops further output and is not an error;
 * any other write failure sets `err` (an errno) and drops further output.
 * SIGPIPE must be ignored (sig_install does) for EPIPE to be seen. The
 * buffer is allocated by the first write and released by out_free.
 */
#ifndef CCE_OUT_H
#define CCE_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct out {
	int fd;
	bool unbuffered;
	bool closed;    /* the reader went away: stop quietly */
	int err;        /* errno of a failed write, 0 if none */
	char *buf;
	size_t len, cap;
	uint64_t records;
};

void out_init(struct out *o, int fd, bool unbuffered);
void out_free(struct out *o);
void out_write(struct out *o, const void *p, size_t n);
/* p[0..n) plus '\n' as one record */
void out_line(struct out *o, const void *p, size_t n);
/* 0, or -1 when the output failed or was closed */
int out_flush(struct out *o);
/* for the reader's before-block hook */
void out_flush_hook(void *o);
/* true when writing is pointless (closed or failed) */
static inline bool out_done(const struct out *o) { return o->closed || o->err; }

#endif
