/*
 * fast: jq expressions simple enough to evaluate on lib/json tokens,
 * without building a jq value.
 *
 * Promises: fexpr_compile accepts only a small subset of jq, and returns
 * NULL for anything else (the caller then uses libjq): paths (.a, .a.b,
 * ."a", .["a"]), literals (numbers, strings without interpolation, true,
 * false, null), the comparisons == != < <= > >=, and, or, and parentheses.
 * fexpr_eval gives exactly jq 1.6's verdict (the first output is neither
 * false nor null), with jq's ordering of types (null < false < true <
 * numbers < strings < arrays < objects), a missing field read as null, and
 * byte-wise string comparison. Where jq would raise an error (indexing a
 * number) it returns -1, and the caller asks libjq for the exact error.
 * fpath_* does the same for a bare path (key, value, time fields).
 */
#ifndef CCE_RULE_FAST_H
#define CCE_RULE_FAST_H

#include <stdbool.h>

#include <jq.h>

#include "buf.h"
#include "json.h"

struct fexpr;
struct fpath;

struct fexpr *fexpr_compile(const char *src);
void fexpr_free(struct fexpr *e);
/* 1 holds, 0 does not, -1 jq would fail: ask libjq */
int fexpr_eval(const struct fexpr *e, const struct json_doc *d, struct buf *scratch);

struct fpath *fpath_compile(const char *src);
void fpath_free(struct fpath *p);
/* the token at the path (>= 0), -2 when missing (jq: null), -1 when jq
 * would fail */
int fpath_get(const struct fpath *p, const struct json_doc *d);
/* the value of number token t that fpath_get(p, d) returned */
double fpath_number(const struct fpath *p, const struct json_doc *d, int t);

/* A hash of the value at the path, kept beside it in the cache by whoever
 * computed it (the engine's key hash: ten rules keyed alike hash once). */
bool fpath_hash(const struct fpath *p, const struct json_doc *d, uint64_t *h);
void fpath_set_hash(const struct fpath *p, const struct json_doc *d, uint64_t h);

/* The jq value of token t (0: the whole document), equal to what libjq's
 * parser makes of the same text; tmp is scratch space. Recursion is
 * bounded by JSON_MAX_DEPTH. */
jv fast_jv(const struct json_doc *d, int t, struct buf *tmp);

/* the value of number token t, exactly as strtod reads it */
double fast_number(const struct json_doc *d, int t);

/* Lookups in document d are cached from fast_begin until fast_end (d must
 * not change in between); other documents are never cached. */
void fast_begin(const struct json_doc *d);
void fast_end(void);
void fast_shutdown(void);

#endif
