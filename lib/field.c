#include "field.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void fields_init(struct fields *f, const struct json_doc *d, int obj, char *err, size_t errlen)
{
	f->d = d;
	f->obj = obj;
	f->up = NULL;
	f->name = NULL;
	f->err = err;
	f->errlen = errlen;
}

/* f's path ("a.b") into out[0..n), cut short to fit: its length */
static size_t put_path(const struct fields *f, char *out, size_t n)
{
	if (!f || !f->name)
		return 0;
	size_t k = put_path(f->up, out, n);
	int w = snprintf(out + k, n - k, "%s%s", k ? "." : "", f->name);
	return w < 0 ? k : k + (size_t)w >= n ? n - 1 : k + (size_t)w;
}

static int vfail(const struct fields *f, const char *key, const char *fmt, va_list ap)
{
	if (!f->errlen)
		return -1;
	size_t n = f->errlen, k = put_path(f, f->err, n);
	if (key) {
		int w = snprintf(f->err + k, n - k, "%s%s", k ? "." : "", key);
		k = w < 0 ? k : k + (size_t)w >= n ? n - 1 : k + (size_t)w;
	}
	if (k + 3 <= n) {
		memcpy(f->err + k, ": ", 3);
		vsnprintf(f->err + k + 2, n - k - 2, fmt, ap);
	}
	return -1;
}

int field_fail(const struct fields *f, const char *key, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(f, key, fmt, ap);
	va_end(ap);
	return -1;
}

/* the member's token: -1 when absent (an error when required) */
static int member(const struct fields *f, const char *key, int flags, int *tok)
{
	*tok = json_get(f->d, f->obj, key);
	if (*tok >= 0 && (!(flags & FIELD_NULL) || json_type_of(f->d, *tok) != JSON_NULL))
		return 1;
	*tok = -1;
	return flags & FIELD_REQUIRED ? field_fail(f, key, "missing") : 0;
}

static int wrong(const struct fields *f, const char *key, const char *want, int tok)
{
	return field_fail(f, key, "expected %s, got %s", want,
			  json_type_name(json_type_of(f->d, tok)));
}

int field_str_at(const struct fields *f, const char *key, int tok, int flags, size_t max,
		 char **out)
{
	*out = NULL;
	if (json_type_of(f->d, tok) != JSON_STRING)
		return wrong(f, key, "a string", tok);
	bool nul;
	char *s = json_cstr(f->d, tok, &nul);
	if (!s)
		return field_fail(f, key, "%s", JSON_NUL_REASON);
	if ((flags & FIELD_NONEMPTY) && !*s) {
		free(s);
		return field_fail(f, key, "empty");
	}
	if (max && strlen(s) > max) {
		free(s);
		return field_fail(f, key, "longer than %zu bytes", max);
	}
	*out = s;
	return 1;
}

int field_str(const struct fields *f, const char *key, int flags, size_t max, char **out)
{
	int tok, r = member(f, key, flags, &tok);
	*out = NULL;
	return r <= 0 ? r : field_str_at(f, key, tok, flags, max, out);
}

int field_key(const struct fields *f, int k, char **out)
{
	bool nul;
	*out = json_cstr(f->d, k, &nul);
	if (!*out)
		return field_fail(f, NULL, "a key %s", JSON_NUL_REASON);
	return 1;
}

int field_num(const struct fields *f, const char *key, int flags, double *out)
{
	int tok, r = member(f, key, flags, &tok);
	if (r <= 0)
		return r;
	double v;
	bool nonneg = flags & FIELD_NONNEG;
	if (!json_num(f->d, tok, &v))
		return wrong(f, key, nonneg ? "a non-negative number" : "a number", tok);
	/* 1e999 reads as infinity, which JSON cannot write back */
	if (!isfinite(v) || (nonneg && v < 0))
		return field_fail(f, key, "expected a %snumber", nonneg ? "non-negative " : "finite ");
	*out = v;
	return 1;
}

int field_int(const struct fields *f, const char *key, int flags, int64_t min, int64_t max,
	      int64_t *out)
{
	int tok, r = member(f, key, flags, &tok);
	if (r <= 0)
		return r;
	if (json_type_of(f->d, tok) != JSON_NUMBER)
		return wrong(f, key, "an integer", tok);
	int64_t v;
	if (json_int(f->d, tok, &v) && v >= min && v <= max) {
		*out = v;
		return 1;
	}
	if (min == INT64_MIN && max == INT64_MAX)
		return field_fail(f, key, "expected an integer");
	if (max == INT64_MAX)
		return field_fail(f, key, "expected an integer of at least %lld", (long long)min);
	return field_fail(f, key, "expected an integer from %lld to %lld", (long long)min,
			  (long long)max);
}

int field_bool(const struct fields *f, const char *key, int flags, bool *out)
{
	int tok, r = member(f, key, flags, &tok);
	if (r <= 0)
		return r;
	return json_bool(f->d, tok, out) ? 1 : wrong(f, key, "a boolean", tok);
}

int field_obj(const struct fields *f, const char *key, int flags, struct fields *sub)
{
	int tok, r = member(f, key, flags, &tok);
	fields_init(sub, f->d, -1, f->err, f->errlen);
	sub->up = f;
	sub->name = key;
	if (r <= 0)
		return r;
	if (json_type_of(f->d, tok) != JSON_OBJECT)
		return wrong(f, key, "an object", tok);
	sub->obj = tok;
	return 1;
}

int field_array(const struct fields *f, const char *key, int flags, int *tok)
{
	int r = member(f, key, flags, tok);
	if (r <= 0) {
		*tok = -1;
		return r;
	}
	return json_type_of(f->d, *tok) == JSON_ARRAY ? 1 : wrong(f, key, "an array", *tok);
}

/* a number, or the string of a duration or a size for parse */
static int scaled(const struct fields *f, const char *key, int flags, double unit, int64_t *out,
		  const char *what, const char *eg, bool (*parse)(const char *, int64_t *))
{
	int tok, r = member(f, key, flags, &tok);
	if (r <= 0)
		return r;
	double v;
	if (json_num(f->d, tok, &v)) {
		if (!(v >= 0) || v * unit > 9e15)
			return field_fail(f, key, "invalid %s %.*s", what,
					  (int)f->d->tok[tok].len, f->d->text + f->d->tok[tok].start);
		*out = (int64_t)llround(v * unit);
		return 1;
	}
	char *s;
	if (field_str_at(f, key, tok, 0, 0, &s) < 0) {
		if (json_type_of(f->d, tok) == JSON_STRING)
			return -1; /* NUL */
		return field_fail(f, key, "expected a %s (%s), got %s", what, eg,
				  json_type_name(json_type_of(f->d, tok)));
	}
	if (!parse(s, out)) {
		field_fail(f, key, "invalid %s '%s' (use e.g. %s)", what, s, eg);
		free(s);
		return -1;
	}
	free(s);
	return 1;
}

static bool dur(const char *s, int64_t *v)
{
	return parse_duration(s, v) == 0;
}

static bool size(const char *s, int64_t *v)
{
	uint64_t b;
	if (parse_size(s, &b) < 0 || b > INT64_MAX)
		return false;
	*v = (int64_t)b;
	return true;
}

int field_duration(const struct fields *f, const char *key, int flags, int64_t *ms)
{
	return scaled(f, key, flags, 1000, ms, "duration", "250ms, 30s, 5m, 2h, 7d", dur);
}

int field_size(const struct fields *f, const char *key, int flags, uint64_t *bytes)
{
	int64_t v;
	int r = scaled(f, key, flags, 1, &v, "size", "512, 64KiB, 10MiB, 1GiB", size);
	if (r > 0)
		*bytes = (uint64_t)v;
	return r;
}
