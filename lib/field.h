/*
 * field: typed getters for the members of a record (a JSON object).
 *
 * Promises:
 * - One wording for what is wrong with a field, the one of lib/cli
 *   ("NAME: what is wrong"), written into the caller's err, never printed:
 *     "node: missing"
 *     "cpu: expected a number, got string"
 *     "replicas: expected an integer from 0 to 1000000"
 *     "capacity.cpu: expected a non-negative number"
 *     "node: contains a NUL character"       (JSON_NUL_REASON)
 *     "labels: a key contains a NUL character"
 *     "node: empty"
 *     "addr: longer than 255 bytes"
 *     "for: invalid duration 'x' (use e.g. 250ms, 30s, 5m, 2h, 7d)"
 *   NAME is the member's key, under the path of the object it is in
 *   ("capacity.cpu", "labels.arch").
 * - NUL policy (json.h): every string a getter returns is a C string, so a
 *   string holding U+0000 is refused, never cut short.
 * - A getter returns 1 when the member is there and taken, 0 when it is
 *   absent (the output then holds its default: NULL, or what the caller
 *   put there), -1 with err filled when it is there and wrong, or absent
 *   and FIELD_REQUIRED. A JSON null is a value like any other, wrong for
 *   every getter, unless FIELD_NULL makes it absent. A repeated key: the
 *   last one counts (json_get). The members of an absent object (obj -1,
 *   from field_obj) are all absent.
 * Ownership: strings are new copies the caller frees (none on error); the
 *   struct fields points into the doc, which must outlive it.
 * Cost: a member is found by json_get (a linear scan of the object); a
 *   getter allocates only the strings it returns, and formats only errors.
 */
#ifndef CCE_FIELD_H
#define CCE_FIELD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"

/* the members of one object, and where errors about them go */
struct fields {
	const struct json_doc *d;
	int obj;                        /* the object's token */
	/* its path, spelled only for a message: NULL at the top; inside
	 * "capacity", up is the record's fields and name "capacity" */
	const struct fields *up;
	const char *name;
	char *err;
	size_t errlen;
};

enum {
	FIELD_REQUIRED = 1,             /* absent is an error: "NAME: missing" */
	FIELD_NONEMPTY = 2,             /* strings: "" is an error: "NAME: empty" */
	FIELD_NONNEG = 4,               /* numbers: below 0 is an error */
	FIELD_NULL = 8,                 /* a JSON null is taken as absent */
};

/* The members of object token obj of d (the record: 0). */
void fields_init(struct fields *f, const struct json_doc *d, int obj, char *err, size_t errlen);

/* A string; max: its longest length in bytes (0: any). */
int field_str(const struct fields *f, const char *key, int flags, size_t max, char **out);
/* A finite number. */
int field_num(const struct fields *f, const char *key, int flags, double *out);
/* An integer (no fraction, no exponent) from min to max ("expected an
 * integer of at least MIN" when max is INT64_MAX). */
int field_int(const struct fields *f, const char *key, int flags, int64_t min, int64_t max,
	      int64_t *out);
int field_bool(const struct fields *f, const char *key, int flags, bool *out);
/* An object: sub gets its members, its path NAME (sub->obj -1 when absent).
 * sub refers to f and key: it must not outlive them. */
int field_obj(const struct fields *f, const char *key, int flags, struct fields *sub);
/* A JSON array: *tok its token (-1 when absent). */
int field_array(const struct fields *f, const char *key, int flags, int *tok);
/* A duration: a number of seconds or a string of cli.h's grammar ("5m"). */
int field_duration(const struct fields *f, const char *key, int flags, int64_t *ms);
/* A size: a number of bytes or a string of cli.h's grammar ("64KiB"). */
int field_size(const struct fields *f, const char *key, int flags, uint64_t *bytes);

/* Walking an object's members (json_first, json_next_member): the key of
 * member k as a C string (1, or -1 with "PATH: a key contains a NUL
 * character"), and a member's string value by its token (its NAME: PATH.key). */
int field_key(const struct fields *f, int k, char **out);
int field_str_at(const struct fields *f, const char *key, int tok, int flags, size_t max,
		 char **out);

/* "NAME: " and the message into f's err; returns -1. For the checks a tool
 * adds (a value out of its set), so that they read like the getters'. */
int field_fail(const struct fields *f, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
