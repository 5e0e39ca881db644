/*
 * backend: the two implementations behind store.h. Each function has the
 * meaning and error convention of its store_* counterpart.
 */
#ifndef CCE_REGISTER_BACKEND_H
#define CCE_REGISTER_BACKEND_H

#include "store.h"

struct fstore;
struct fstore *fstore_open(const char *dir, const struct store_opts *o);
void fstore_close(struct fstore *s);
int fstore_init(struct fstore *s, char *err, size_t errlen);
int fstore_load(struct fstore *s, struct registry *reg, char *err, size_t errlen);
int fstore_commit(struct fstore *s, struct item *items, size_t n, verify_fn verify, void *arg,
		  char *err, size_t errlen);
int fstore_expire(struct fstore *s, int64_t ttl, struct buf *events, char *err, size_t errlen);
int fstore_watch(struct fstore *s, struct out *out, char *err, size_t errlen);
int fstore_compact(struct fstore *s, char *err, size_t errlen);

struct estore;
struct estore *estore_open(const char *url, const struct store_opts *o, char *err,
			   size_t errlen);
void estore_close(struct estore *s);
int estore_init(struct estore *s, char *err, size_t errlen);
int estore_load(struct estore *s, struct registry *reg, char *err, size_t errlen);
int estore_commit(struct estore *s, struct item *items, size_t n, verify_fn verify, void *arg,
		  char *err, size_t errlen);
int estore_expire(struct estore *s, int64_t ttl, struct buf *events, char *err, size_t errlen);
int estore_watch(struct estore *s, struct out *out, char *err, size_t errlen);
int estore_compact(struct estore *s, char *err, size_t errlen);

#endif
