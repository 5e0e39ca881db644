#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
	const char *s;
	size_t n, i;
	struct json_doc *d;
	struct json_error *err;
	int depth;
};

/* 1 for bytes that may appear unescaped in a string and need no check */
static unsigned char plain[256];
static void init_tables(void)
{
	if (plain['a'])
		return;
	for (int c = 0x20; c < 0x80; c++)
		plain[c] = 1;
	plain['"'] = plain['\\'] = 0;
}

void json_doc_init(struct json_doc *d)
{
	memset(d, 0, sizeof *d);
}

void json_doc_free(struct json_doc *d)
{
	free(d->tok);
	json_doc_init(d);
}

const char *json_type_name(enum json_type t)
{
	switch (t) {
	case JSON_NULL: return "null";
	case JSON_FALSE: case JSON_TRUE: return "boolean";
	case JSON_NUMBER: return "number";
	case JSON_STRING: return "string";
	case JSON_ARRAY: return "array";
	case JSON_OBJECT: return "object";
	}
	return "?";
}

static int fail(struct parser *p, size_t at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct parser *p, size_t at, const char *fmt, ...)
{
	if (p->err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(p->err->msg, sizeof p->err->msg, fmt, ap);
		va_end(ap);
		p->err->offset = at;
	}
	return -1;
}

/* "'x'" for printable ASCII, "byte 0xNN" otherwise */
static const char *show(unsigned char c, char out[16])
{
	if (c > 0x20 && c < 0x7f)
		snprintf(out, 16, "'%c'", c);
	else
		snprintf(out, 16, "byte 0x%02x", c);
	return out;
}

static uint32_t push(struct parser *p, enum json_type t, size_t start)
{
	struct json_doc *d = p->d;
	if (d->ntok == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 64;
		d->tok = xrealloc(d->tok, d->cap * sizeof *d->tok);
	}
	struct json_tok *k = &d->tok[d->ntok];
	k->type = (uint8_t)t;
	k->escaped = 0;
	k->start = (uint32_t)start;
	k->len = 0;
	k->count = 0;
	k->next = d->ntok + 1;
	return d->ntok++;
}

static void skip_ws(struct parser *p)
{
	while (p->i < p->n) {
		char c = p->s[p->i];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		p->i++;
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

static int read_u4(struct parser *p, size_t at, unsigned *out)
{
	if (at + 4 > p->n)
		return -1;
	unsigned v = 0;
	for (int k = 0; k < 4; k++) {
		int h = hexval(p->s[at + k]);
		if (h < 0)
			return -1;
		v = v << 4 | (unsigned)h;
	}
	*out = v;
	return 0;
}

/* Length of the valid UTF-8 sequence at i (lead byte >= 0x80), or 0. */
static size_t utf8_len(const unsigned char *s, size_t i, size_t n)
{
	unsigned char c = s[i];
	size_t need;
	unsigned char lo = 0x80, hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf) need = 1;
	else if (c == 0xe0) { need = 2; lo = 0xa0; }
	else if (c >= 0xe1 && c <= 0xec) need = 2;
	else if (c == 0xed) { need = 2; hi = 0x9f; }
	else if (c >= 0xee && c <= 0xef) need = 2;
	else if (c == 0xf0) { need = 3; lo = 0x90; }
	else if (c >= 0xf1 && c <= 0xf3) need = 3;
	else if (c == 0xf4) { need = 3; hi = 0x8f; }
	else return 0;
	if (i + need >= n)
		return 0;
	if (s[i + 1] < lo || s[i + 1] > hi)
		return 0;
	for (size_t k = 2; k <= need; k++)
		if (s[i + k] < 0x80 || s[i + k] > 0xbf)
			return 0;
	return need + 1;
}

static int parse_string(struct parser *p, uint32_t *tokp)
{
	const unsigned char *s = (const unsigned char *)p->s;
	size_t start = ++p->i;
	uint32_t t = push(p, JSON_STRING, start);
	uint8_t escaped = 0;
	char sh[16];
	for (;;) {
		while (p->i < p->n && plain[s[p->i]])
			p->i++;
		if (p->i >= p->n)
			return fail(p, start - 1, "unterminated string");
		unsigned char c = s[p->i];
		if (c == '"')
			break;
		if (c == '\\') {
			escaped = 1;
			if (p->i + 1 >= p->n)
				return fail(p, start - 1, "unterminated string");
			char e = (char)s[p->i + 1];
			if (strchr("\"\\/bfnrt", e) && e) {
				p->i += 2;
				continue;
			}
			if (e != 'u')
				return fail(p, p->i, "invalid escape '\\%c' in string", e >= 0x20 && e < 0x7f ? e : '?');
			unsigned u;
			if (read_u4(p, p->i + 2, &u) < 0)
				return fail(p, p->i, "invalid \\u escape in string (needs 4 hex digits)");
			if (u >= 0xdc00 && u <= 0xdfff)
				return fail(p, p->i, "lone low surrogate \\u%04x in string", u);
			if (u >= 0xd800 && u <= 0xdbff) {
				unsigned lo;
				if (p->i + 7 >= p->n || s[p->i + 6] != '\\' || s[p->i + 7] != 'u' ||
				    read_u4(p, p->i + 8, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
					return fail(p, p->i, "lone high surrogate \\u%04x in string", u);
				p->i += 12;
			} else {
				p->i += 6;
			}
			continue;
		}
		if (c < 0x20)
			return fail(p, p->i, "raw control character 0x%02x in string (must be escaped)", c);
		size_t k = utf8_len(s, p->i, p->n);
		if (!k)
			return fail(p, p->i, "invalid UTF-8 (%s) in string", show(c, sh));
		p->i += k;
	}
	struct json_tok *k = &p->d->tok[t];
	k->len = (uint32_t)(p->i - start);
	k->escaped = escaped;
	p->i++;
	if (tokp)
		*tokp = t;
	return 0;
}

static int parse_number(struct parser *p)
{
	const char *s = p->s;
	size_t start = p->i;
	if (s[p->i] == '-')
		p->i++;
	if (p->i >= p->n || !(s[p->i] >= '0' && s[p->i] <= '9')) {
		if (p->i < p->n && (s[p->i] == 'I' || s[p->i] == 'i'))
			return fail(p, start, "invalid literal '-Infinity' (not JSON)");
		return fail(p, p->i, "digit expected in number");
	}
	if (s[p->i] == '0') {
		p->i++;
		if (p->i < p->n && s[p->i] >= '0' && s[p->i] <= '9')
			return fail(p, start, "leading zero in number");
	} else {
		while (p->i < p->n && s[p->i] >= '0' && s[p->i] <= '9')
			p->i++;
	}
	if (p->i < p->n && s[p->i] == '.') {
		p->i++;
		if (p->i >= p->n || !(s[p->i] >= '0' && s[p->i] <= '9'))
			return fail(p, p->i, "digit expected after '.' in number");
		while (p->i < p->n && s[p->i] >= '0' && s[p->i] <= '9')
			p->i++;
	}
	if (p->i < p->n && (s[p->i] == 'e' || s[p->i] == 'E')) {
		p->i++;
		if (p->i < p->n && (s[p->i] == '+' || s[p->i] == '-'))
			p->i++;
		if (p->i >= p->n || !(s[p->i] >= '0' && s[p->i] <= '9'))
			return fail(p, p->i, "digit expected in exponent");
		while (p->i < p->n && s[p->i] >= '0' && s[p->i] <= '9')
			p->i++;
	}
	uint32_t t = push(p, JSON_NUMBER, start);
	p->d->tok[t].len = (uint32_t)(p->i - start);
	return 0;
}

static int parse_value(struct parser *p);

static int literal(struct parser *p, const char *word, enum json_type t)
{
	size_t n = strlen(word);
	size_t start = p->i;
	if (p->n - p->i >= n && memcmp(p->s + p->i, word, n) == 0) {
		size_t end = p->i + n;
		/* "truex" is one bad word, not "true" followed by junk */
		if (end >= p->n || !((p->s[end] >= 'a' && p->s[end] <= 'z') ||
				     (p->s[end] >= 'A' && p->s[end] <= 'Z') ||
				     (p->s[end] >= '0' && p->s[end] <= '9') || p->s[end] == '_')) {
			uint32_t k = push(p, t, start);
			p->d->tok[k].len = (uint32_t)n;
			p->i = end;
			return 0;
		}
	}
	size_t end = p->i;
	while (end < p->n && end - start < 20 &&
	       ((p->s[end] >= 'a' && p->s[end] <= 'z') || (p->s[end] >= 'A' && p->s[end] <= 'Z') ||
		(p->s[end] >= '0' && p->s[end] <= '9') || p->s[end] == '_'))
		end++;
	return fail(p, start, "invalid literal '%.*s'", (int)(end - start), p->s + start);
}

static int parse_container(struct parser *p, bool object)
{
	size_t open = p->i;
	if (++p->depth > JSON_MAX_DEPTH)
		return fail(p, open, "nesting deeper than %d levels", JSON_MAX_DEPTH);
	uint32_t t = push(p, object ? JSON_OBJECT : JSON_ARRAY, open);
	const char *what = object ? "object" : "array";
	char close = object ? '}' : ']';
	char sh[16];
	uint32_t count = 0;
	p->i++;
	skip_ws(p);
	if (p->i < p->n && p->s[p->i] == close) {
		p->i++;
		goto done;
	}
	for (;;) {
		skip_ws(p);
		if (p->i >= p->n)
			return fail(p, open, "unterminated %s", what);
		if (object) {
			char c = p->s[p->i];
			if (c == close)
				return fail(p, p->i, "trailing comma in %s", what);
			if (c == '\'')
				return fail(p, p->i, "strings must be in double quotes");
			if (c != '"')
				return fail(p, p->i, "expected a string key in object, found %s",
					    show((unsigned char)c, sh));
			if (parse_string(p, NULL) < 0)
				return -1;
			skip_ws(p);
			if (p->i >= p->n)
				return fail(p, open, "unterminated object");
			if (p->s[p->i] != ':')
				return fail(p, p->i, "expected ':' after object key, found %s",
					    show((unsigned char)p->s[p->i], sh));
			p->i++;
			skip_ws(p);
		} else if (p->s[p->i] == close) {
			return fail(p, p->i, "trailing comma in %s", what);
		}
		if (p->i >= p->n)
			return fail(p, open, "unterminated %s", what);
		if (parse_value(p) < 0)
			return -1;
		count++;
		skip_ws(p);
		if (p->i >= p->n)
			return fail(p, open, "unterminated %s", what);
		char c = p->s[p->i];
		if (c == ',') {
			p->i++;
			continue;
		}
		if (c == close) {
			p->i++;
			break;
		}
		return fail(p, p->i, "expected ',' or '%c' in %s, found %s", close, what,
			    show((unsigned char)c, sh));
	}
done:
	p->d->tok[t].count = count;
	p->d->tok[t].len = (uint32_t)(p->i - open);
	p->d->tok[t].next = p->d->ntok;
	p->depth--;
	return 0;
}

static int parse_value(struct parser *p)
{
	char sh[16];
	if (p->i >= p->n)
		return fail(p, p->i, "expected a JSON value, found end of line");
	unsigned char c = (unsigned char)p->s[p->i];
	switch (c) {
	case '{': return parse_container(p, true);
	case '[': return parse_container(p, false);
	case '"': return parse_string(p, NULL);
	case 't': return literal(p, "true", JSON_TRUE);
	case 'f': return literal(p, "false", JSON_FALSE);
	case 'n': return literal(p, "null", JSON_NULL);
	case '-': case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		return parse_number(p);
	case '+':
		return fail(p, p->i, "'+' sign not allowed in number");
	case '.':
		return fail(p, p->i, "number must start with a digit");
	case '\'':
		return fail(p, p->i, "strings must be in double quotes");
	case '/':
		return fail(p, p->i, "comments are not allowed in JSON");
	case ',':
		return fail(p, p->i, "expected a JSON value, found ','");
	default:
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
			return literal(p, "\x01", JSON_NULL); /* reports the word */
		if (c == 0xef && p->n - p->i >= 3 && memcmp(p->s + p->i, "\xef\xbb\xbf", 3) == 0)
			return fail(p, p->i, "byte order mark (U+FEFF) only allowed at the start of a file");
		if (c >= 0x80 && !utf8_len((const unsigned char *)p->s, p->i, p->n))
			return fail(p, p->i, "invalid UTF-8 (%s)", show(c, sh));
		return fail(p, p->i, "expected a JSON value, found %s", show(c, sh));
	}
}

int json_parse(struct json_doc *d, const char *text, size_t len, struct json_error *err)
{
	init_tables();
	struct parser p = { text, len, 0, d, err, 0 };
	d->text = text;
	d->text_len = len;
	d->ntok = 0;
	if (len >= UINT32_MAX)
		return fail(&p, 0, "value longer than 4 GiB");
	skip_ws(&p);
	if (parse_value(&p) < 0)
		return -1;
	skip_ws(&p);
	if (p.i < len) {
		char sh[16];
		unsigned char c = (unsigned char)text[p.i];
		if (c == ',')
			return fail(&p, p.i, "unexpected ',' after the JSON value");
		return fail(&p, p.i, "unexpected %s after the JSON value (one value per line)",
			    show(c, sh));
	}
	return 0;
}

/* The validator below accepts exactly what json_parse accepts (the fuzz
 * harness fuzz_jsonl checks both ways) without building tokens: one loop,
 * a container stack, and strings skipped eight bytes at a time. It says
 * only yes or no; json_valid asks json_parse for the reason. */

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Some byte of the word is '"', '\\', a control character or >= 0x80: the
 * exact test for "this word may need the byte loop" (borrows may flag
 * bytes after the first hit, never miss one). */
static inline bool word_special(uint64_t w)
{
	uint64_t q = w ^ (ONES * '"'), b = w ^ (ONES * '\\');
	return ((w | ((w - ONES * 0x20) & ~w) | ((q - ONES) & ~q) | ((b - ONES) & ~b)) & HIGHS) != 0;
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static size_t valid_u4(const unsigned char *s, size_t i, size_t n, unsigned *u)
{
	if (i + 4 > n)
		return 0;
	unsigned v = 0;
	for (int k = 0; k < 4; k++) {
		int h = hexval((char)s[i + k]);
		if (h < 0)
			return 0;
		v = v << 4 | (unsigned)h;
	}
	*u = v;
	return 4;
}

/* s[*ip] is the byte after the opening quote; on success *ip is after the
 * closing one. */
static bool valid_string(const unsigned char *s, size_t n, size_t *ip)
{
	size_t i = *ip;
	for (;;) {
		uint64_t w;
		while (i + 8 <= n && (memcpy(&w, s + i, 8), !word_special(w)))
			i += 8;
		while (i < n && plain[s[i]])
			i++;
		if (i >= n)
			return false;
		unsigned char c = s[i];
		if (c == '"') {
			*ip = i + 1;
			return true;
		}
		if (c == '\\') {
			if (i + 1 >= n)
				return false;
			unsigned char e = s[i + 1];
			if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
			    e == 'r' || e == 't') {
				i += 2;
				continue;
			}
			unsigned u, lo;
			if (e != 'u' || !valid_u4(s, i + 2, n, &u) || (u >= 0xdc00 && u <= 0xdfff))
				return false;
			if (u >= 0xd800 && u <= 0xdbff) {
				if (i + 7 >= n || s[i + 6] != '\\' || s[i + 7] != 'u' ||
				    !valid_u4(s, i + 8, n, &lo) || lo < 0xdc00 || lo > 0xdfff)
					return false;
				i += 12;
			} else {
				i += 6;
			}
			continue;
		}
		if (c < 0x20)
			return false;
		size_t k = utf8_len(s, i, n);
		if (!k)
			return false;
		i += k;
	}
}

static bool valid_number(const unsigned char *s, size_t n, size_t *ip)
{
	size_t i = *ip;
	if (s[i] == '-')
		i++;
	if (i >= n || !is_digit(s[i]))
		return false;
	if (s[i] == '0')
		i++;
	else
		while (i < n && is_digit(s[i]))
			i++;
	if (i < n && s[i] == '.') {
		i++;
		if (i >= n || !is_digit(s[i]))
			return false;
		while (i < n && is_digit(s[i]))
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= n || !is_digit(s[i]))
			return false;
		while (i < n && is_digit(s[i]))
			i++;
	}
	*ip = i;
	return true;
}

static inline size_t skip_space(const unsigned char *s, size_t n, size_t i)
{
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

static bool valid_fast(const unsigned char *s, size_t n)
{
	unsigned char close[JSON_MAX_DEPTH]; /* the closing byte of each open container */
	int depth = 0;
	size_t i = skip_space(s, n, 0);
value:
	if (i >= n)
		return false;
	switch (s[i]) {
	case '"':
		i++;
		if (!valid_string(s, n, &i))
			return false;
		break;
	case '{':
	case '[':
		if (depth == JSON_MAX_DEPTH)
			return false;
		close[depth++] = s[i] == '{' ? '}' : ']';
		i = skip_space(s, n, i + 1);
		if (i < n && s[i] == close[depth - 1]) {
			depth--;
			i++;
			break;
		}
		if (close[depth - 1] == '}')
			goto key;
		goto value;
	case 't':
		if (n - i < 4 || memcmp(s + i, "true", 4))
			return false;
		i += 4;
		break;
	case 'f':
		if (n - i < 5 || memcmp(s + i, "false", 5))
			return false;
		i += 5;
		break;
	case 'n':
		if (n - i < 4 || memcmp(s + i, "null", 4))
			return false;
		i += 4;
		break;
	default:
		if (!valid_number(s, n, &i))
			return false;
	}
after_value:
	i = skip_space(s, n, i);
	if (depth == 0)
		return i == n;
	if (i >= n)
		return false;
	if (s[i] == close[depth - 1]) {
		depth--;
		i++;
		goto after_value;
	}
	if (s[i] != ',')
		return false;
	i = skip_space(s, n, i + 1);
	if (close[depth - 1] == ']')
		goto value;
key:
	if (i >= n || s[i] != '"')
		return false;
	i++;
	if (!valid_string(s, n, &i))
		return false;
	i = skip_space(s, n, i);
	if (i >= n || s[i] != ':')
		return false;
	i = skip_space(s, n, i + 1);
	goto value;
}

bool json_valid(const char *text, size_t len, struct json_error *err)
{
	init_tables();
	if (len < UINT32_MAX && valid_fast((const unsigned char *)text, len))
		return true;
	if (!err)
		return false;
	/* the reason, from the parser that knows how to say it */
	struct json_doc d;
	json_doc_init(&d);
	int r = json_parse(&d, text, len, err);
	json_doc_free(&d);
	return r == 0;
}

int json_first(const struct json_doc *d, int c)
{
	if (c < 0 || (d->tok[c].type != JSON_OBJECT && d->tok[c].type != JSON_ARRAY) ||
	    d->tok[c].count == 0)
		return -1;
	return c + 1;
}

int json_next_elem(const struct json_doc *d, int arr, int elem)
{
	uint32_t nx = d->tok[elem].next;
	return nx < d->tok[arr].next ? (int)nx : -1;
}

int json_next_member(const struct json_doc *d, int obj, int key)
{
	uint32_t nx = d->tok[key + 1].next;
	return nx < d->tok[obj].next ? (int)nx : -1;
}

static bool key_eq(const struct json_doc *d, int k, const char *key, size_t keylen)
{
	const struct json_tok *t = &d->tok[k];
	if (!t->escaped)
		return t->len == keylen && memcmp(d->text + t->start, key, keylen) == 0;
	struct buf b = BUF_INIT;
	json_unescape(d->text + t->start, t->len, &b);
	bool eq = b.len == keylen && memcmp(b.data, key, keylen) == 0;
	buf_free(&b);
	return eq;
}

int json_getn(const struct json_doc *d, int obj, const char *key, size_t keylen)
{
	if (obj < 0 || d->tok[obj].type != JSON_OBJECT)
		return -1;
	int found = -1;
	for (int k = json_first(d, obj); k >= 0; k = json_next_member(d, obj, k))
		if (key_eq(d, k, key, keylen))
			found = k + 1;
	return found;
}

int json_get(const struct json_doc *d, int obj, const char *key)
{
	return json_getn(d, obj, key, strlen(key));
}

int json_index(const struct json_doc *d, int arr, uint32_t i)
{
	if (arr < 0 || d->tok[arr].type != JSON_ARRAY || i >= d->tok[arr].count)
		return -1;
	int e = arr + 1;
	while (i--)
		e = (int)d->tok[e].next;
	return e;
}

const char *json_raw(const struct json_doc *d, int i, size_t *len)
{
	const struct json_tok *t = &d->tok[i];
	if (t->type == JSON_STRING) {
		*len = t->len + 2;
		return d->text + t->start - 1;
	}
	*len = t->len;
	return d->text + t->start;
}

static void add_utf8(struct buf *out, unsigned cp)
{
	char u[4];
	size_t n;
	if (cp < 0x80) { u[0] = (char)cp; n = 1; }
	else if (cp < 0x800) { u[0] = (char)(0xc0 | cp >> 6); u[1] = (char)(0x80 | (cp & 0x3f)); n = 2; }
	else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12); u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f)); n = 3;
	} else {
		u[0] = (char)(0xf0 | cp >> 18); u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); u[3] = (char)(0x80 | (cp & 0x3f)); n = 4;
	}
	buf_add(out, u, n);
}

void json_unescape(const char *s, size_t n, struct buf *out)
{
	size_t run = 0;
	buf_grow(out, n);
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\\')
			continue;
		buf_add(out, s + run, i - run);
		char e = s[++i];
		switch (e) {
		case 'b': buf_addc(out, '\b'); break;
		case 'f': buf_addc(out, '\f'); break;
		case 'n': buf_addc(out, '\n'); break;
		case 'r': buf_addc(out, '\r'); break;
		case 't': buf_addc(out, '\t'); break;
		case 'u': {
			unsigned cp = 0;
			for (int k = 1; k <= 4; k++)
				cp = cp << 4 | (unsigned)hexval(s[i + k]);
			i += 4;
			if (cp >= 0xd800 && cp <= 0xdbff && i + 6 < n && s[i + 1] == '\\') {
				unsigned lo = 0;
				for (int k = 3; k <= 6; k++)
					lo = lo << 4 | (unsigned)hexval(s[i + k]);
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				i += 6;
			}
			add_utf8(out, cp);
			break;
		}
		default: buf_addc(out, e); break; /* " \ / */
		}
		run = i + 1;
	}
	buf_add(out, s + run, n - run);
}

bool json_str(const struct json_doc *d, int i, struct buf *out)
{
	if (i < 0 || d->tok[i].type != JSON_STRING)
		return false;
	const struct json_tok *t = &d->tok[i];
	if (t->escaped)
		json_unescape(d->text + t->start, t->len, out);
	else
		buf_add(out, d->text + t->start, t->len);
	return true;
}

bool json_str_eq(const struct json_doc *d, int i, const char *s)
{
	if (i < 0 || d->tok[i].type != JSON_STRING)
		return false;
	return key_eq(d, i, s, strlen(s));
}

char *json_strdup(const struct json_doc *d, int i)
{
	struct buf b = BUF_INIT;
	if (!json_str(d, i, &b))
		return NULL;
	return buf_detach(&b, NULL);
}

char *json_cstr(const struct json_doc *d, int i, bool *nul)
{
	struct buf b;
	buf_init(&b);
	*nul = false;
	if (!json_str(d, i, &b) || memchr(b.data, 0, b.len)) {
		*nul = i >= 0 && d->tok[i].type == JSON_STRING;
		buf_free(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

bool json_num(const struct json_doc *d, int i, double *v)
{
	if (i < 0 || d->tok[i].type != JSON_NUMBER)
		return false;
	const struct json_tok *t = &d->tok[i];
	char tmp[64];
	if (t->len < sizeof tmp) {
		memcpy(tmp, d->text + t->start, t->len);
		tmp[t->len] = 0;
		*v = strtod(tmp, NULL);
	} else {
		char *big = xstrndup(d->text + t->start, t->len);
		*v = strtod(big, NULL);
		free(big);
	}
	return true;
}

bool json_int(const struct json_doc *d, int i, int64_t *v)
{
	if (i < 0 || d->tok[i].type != JSON_NUMBER)
		return false;
	const struct json_tok *t = &d->tok[i];
	const char *s = d->text + t->start;
	if (t->len > 20 || memchr(s, '.', t->len) || memchr(s, 'e', t->len) || memchr(s, 'E', t->len))
		return false;
	char tmp[24];
	memcpy(tmp, s, t->len);
	tmp[t->len] = 0;
	errno = 0;
	long long x = strtoll(tmp, NULL, 10);
	if (errno)
		return false;
	*v = x;
	return true;
}

bool json_bool(const struct json_doc *d, int i, bool *v)
{
	if (i < 0)
		return false;
	if (d->tok[i].type == JSON_TRUE) { *v = true; return true; }
	if (d->tok[i].type == JSON_FALSE) { *v = false; return true; }
	return false;
}
