/*
 * json: a strict RFC 8259 parser into a flat token array, and accessors.
 *
 * Promises: json_parse accepts exactly one RFC 8259 JSON value surrounded by
 * optional whitespace, and nothing else: no NaN/Infinity, no leading '+' or
 * zeros, no '.5' or '1.', no trailing commas, no comments, no raw control
 * characters in strings, only well-formed UTF-8 (no overlongs, no encoded
 * surrogates, nothing above U+10FFFF) and no lone surrogate escapes. On
 * failure it returns -1 and fills a json_error with the byte offset and a
 * short lowercase reason ("trailing comma in object"). Nesting deeper than
 * JSON_MAX_DEPTH (256, the depth jq 1.6 accepts, so that every line cce
 * accepts can also be handed to jq) is refused.
 *
 * Tokens point into the caller's text (not copied; the text must outlive the
 * doc). Token 0 is the root. A token's subtree occupies tokens
 * [i, tok[i].next); an object's children alternate key, value. The doc owns
 * only its token array and reuses it across parses: parse many lines with
 * one doc and free it once.
 */
#ifndef CCE_JSON_H
#define CCE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define JSON_MAX_DEPTH 256

enum json_type {
	JSON_NULL,
	JSON_FALSE,
	JSON_TRUE,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};

struct json_tok {
	uint8_t type;
	uint8_t escaped;  /* string holds backslash escapes */
	uint32_t start;   /* offset of first byte (string: after the quote) */
	uint32_t len;     /* bytes (string: between the quotes, raw) */
	uint32_t next;    /* index of the token after this subtree */
	uint32_t count;   /* array: elements; object: members */
};

struct json_doc {
	const char *text;
	size_t text_len;
	struct json_tok *tok;
	uint32_t ntok, cap;
};

struct json_error {
	size_t offset;
	char msg[80];
};

void json_doc_init(struct json_doc *d);
void json_doc_free(struct json_doc *d);
/* 0 on success, -1 with *err filled. Texts over 4 GiB are refused. */
int json_parse(struct json_doc *d, const char *text, size_t len, struct json_error *err);
/* Validation only, without tokens: accepts exactly what json_parse accepts,
 * several times faster; on failure fills *err (when not NULL) as json_parse
 * does. */
bool json_valid(const char *text, size_t len, struct json_error *err);

const char *json_type_name(enum json_type t);

/* Member value of object token obj named key, or -1. When a key repeats,
 * the last one wins, as in jq. */
int json_get(const struct json_doc *d, int obj, const char *key);
int json_getn(const struct json_doc *d, int obj, const char *key, size_t keylen);
/* i-th element of an array token, or -1. */
int json_index(const struct json_doc *d, int arr, uint32_t i);
/* Iterate an object's members: for (int k = json_first(d,o); k >= 0; k = json_next_member(d,o,k)) key k, value k+1 */
int json_first(const struct json_doc *d, int container);
int json_next_member(const struct json_doc *d, int obj, int key);
int json_next_elem(const struct json_doc *d, int arr, int elem);

static inline enum json_type json_type_of(const struct json_doc *d, int i)
{
	return (enum json_type)d->tok[i].type;
}
/* The token's raw JSON text (strings include their quotes). */
const char *json_raw(const struct json_doc *d, int i, size_t *len);
/* Decoded string value appended to out; false unless a string token. */
bool json_str(const struct json_doc *d, int i, struct buf *out);
/* String token equal to s (decoding escapes when needed). */
bool json_str_eq(const struct json_doc *d, int i, const char *s);
/* A NUL-terminated copy of the decoded string (caller frees), or NULL.
 * A U+0000 in the string is copied too, so the copy reads short as a C
 * string: names, keys, labels and paths go through json_cstr instead. */
char *json_strdup(const struct json_doc *d, int i);
/* The NUL policy of every tool: JSON allows U+0000 in a string
 * ("a\u0000b"), a C string cannot hold it and would read "a", another
 * name. So a string a tool uses as a C string is taken with json_cstr,
 * which refuses it, and the line is rejected as "FIELD" JSON_NUL_REASON.
 * json_cstr: a NUL-terminated copy of string token i (caller frees); NULL
 * when i is not a string, and NULL with *nul set when it holds U+0000. */
#define JSON_NUL_REASON "contains a NUL character"
char *json_cstr(const struct json_doc *d, int i, bool *nul);
bool json_num(const struct json_doc *d, int i, double *v);
/* Integer without fraction or exponent that fits in int64. */
bool json_int(const struct json_doc *d, int i, int64_t *v);
bool json_bool(const struct json_doc *d, int i, bool *v);

/* Decodes a raw JSON string body (between the quotes, already validated)
 * into out. */
void json_unescape(const char *s, size_t n, struct buf *out);

#endif
