/*
 * buf: a growable byte buffer.
 *
 * Promises: after buf_init, b->data is never NULL and always NUL-terminated
 * (the NUL is not counted in b->len), so it can be passed to C string
 * functions when it holds text. Growth aborts only on allocation failure
 * (the process cannot go on without memory; every tool is a filter). The
 * buffer owns its memory; buf_free releases it and leaves an empty buffer.
 */
#ifndef CCE_BUF_H
#define CCE_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
};

#define BUF_INIT { NULL, 0, 0 }

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);              /* len = 0, memory kept */
void buf_grow(struct buf *b, size_t extra); /* room for extra more bytes */
void buf_add(struct buf *b, const void *p, size_t n);
void buf_addc(struct buf *b, char c);
void buf_adds(struct buf *b, const char *s);
void buf_addf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_add_i64(struct buf *b, int64_t v);
void buf_add_u64(struct buf *b, uint64_t v);
/* Shortest text that reads back as the same double; integers print without
 * a fraction; NaN and infinities (not JSON) print as null. */
void buf_add_double(struct buf *b, double v);
/* A JSON string literal: quotes, escapes for '"', '\\' and controls. The
 * input is taken as UTF-8 and copied as is otherwise. */
void buf_add_json_str(struct buf *b, const char *s, size_t n);
/* Detaches the data (caller frees) and leaves b empty. */
char *buf_detach(struct buf *b, size_t *len);

/* The x-allocators end the process on failure (the one place lib/ gives
 * up); xalloc_fail is that end, for memory got some other way (mmap). */
void xalloc_fail(void) __attribute__((noreturn));
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
