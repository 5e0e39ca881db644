/*
 * fuzz_rule: differential fuzzing of what cce-rule reads.
 *
 * Input starting with 'E': the rest is a jq expression. Whatever the fast
 * subset (cce-rule/fast.c) accepts must compile in libjq and give libjq's
 * verdict on a few fixed records (or libjq must fail where fast says -1).
 *
 * Any other input: a JSON text. Whatever lib/json accepts (strict RFC
 * 8259), jq 1.6's jv_parse_sized must accept too and give an equal value,
 * built here from lib/json's tokens, and cce-rule's own fast_jv must give
 * the same value, dumped to the same text; fast paths read from the tokens
 * must agree with libjq's.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jq.h>

#include "buf.h"
#include "json.h"
#include "cce-rule/fast.h"
#include "jqx.h"

static jv from_tokens(const struct json_doc *d, int t, struct buf *tmp)
{
	switch (json_type_of(d, t)) {
	case JSON_NULL: return jv_null();
	case JSON_FALSE: return jv_false();
	case JSON_TRUE: return jv_true();
	case JSON_NUMBER: {
		double v;
		json_num(d, t, &v);
		return jv_number(v);
	}
	case JSON_STRING:
		buf_reset(tmp);
		json_str(d, t, tmp);
		return jv_string_sized(tmp->data, (int)tmp->len);
	case JSON_ARRAY: {
		jv a = jv_array();
		for (int e = json_first(d, t); e >= 0; e = json_next_elem(d, t, e))
			a = jv_array_append(a, from_tokens(d, e, tmp));
		return a;
	}
	default: {
		jv o = jv_object();
		for (int k = json_first(d, t); k >= 0; k = json_next_member(d, t, k)) {
			buf_reset(tmp);
			json_str(d, k, tmp);
			jv key = jv_string_sized(tmp->data, (int)tmp->len);
			o = jv_object_set(o, key, from_tokens(d, k + 1, tmp));
		}
		return o;
	}
	}
}

static const char *const records[] = {
	"{\"temp\":81,\"name\":\"abc\",\"flag\":true,\"obj\":{\"x\":1,\"y\":{\"z\":\"a\"}},\"arr\":[1],\"n\":null}",
	"{\"temp\":\"81\",\"name\":5,\"obj\":[],\"arr\":{\"x\":2},\"e\":\"\\u00e9\\\"\"}",
	"{}",
};

static void check_expr(const char *src)
{
	struct fexpr *fe = fexpr_compile(src);
	struct fpath *fp = fe ? NULL : fpath_compile(src);
	if (!fe && !fp)
		return;
	char err[512];
	struct jqx *x = jqx_compile(src, err, sizeof err);
	if (!x) {
		fprintf(stderr, "fast accepts what libjq refuses: '%s': %s\n", src, err);
		abort();
	}
	struct json_doc d;
	json_doc_init(&d);
	struct buf scratch;
	buf_init(&scratch);
	for (size_t i = 0; i < sizeof records / sizeof records[0]; i++) {
		const char *r = records[i];
		if (json_parse(&d, r, strlen(r), NULL) < 0)
			abort();
		jv in = jv_parse(r);
		if (fe) {
			bool t;
			int st = jqx_truth(x, in, &t, err, sizeof err);
			int v = fexpr_eval(fe, &d, &scratch);
			if (v >= 0 && (st != JQX_OK || t != (v == 1))) {
				fprintf(stderr, "'%s' on %s: fast %d, libjq %d/%d\n", src, r, v, st, t);
				abort();
			}
		} else {
			jv out;
			int st = jqx_first(x, in, &out, err, sizeof err);
			int k = fpath_get(fp, &d);
			if (k != -1) {
				if (st != JQX_OK)
					abort();
				jv want = k == -2 ? jv_null() : from_tokens(&d, k, &scratch);
				if (!jv_equal(want, out))
					abort();
			} else if (st == JQX_OK) {
				jv_free(out);
			}
		}
	}
	buf_free(&scratch);
	json_doc_free(&d);
	jqx_free(x);
	fexpr_free(fe);
	fpath_free(fp);
}

static void check_json(const uint8_t *data, size_t size)
{
	struct json_doc d;
	json_doc_init(&d);
	struct json_error e;
	if (json_parse(&d, (const char *)data, size, &e) == 0) {
		jv got = jv_parse_sized((const char *)data, (int)size);
		if (!jv_is_valid(got)) {
			jv m = jv_invalid_get_msg(got);
			fprintf(stderr, "lib/json accepts what jq refuses: %s\n",
				jv_get_kind(m) == JV_KIND_STRING ? jv_string_value(m) : "?");
			abort();
		}
		struct buf tmp;
		buf_init(&tmp);
		jv want = from_tokens(&d, 0, &tmp);
		jv fast = fast_jv(&d, 0, &tmp);
		buf_free(&tmp);
		/* jv_equal consumes its arguments */
		if (!jv_equal(jv_copy(want), jv_copy(got))) {
			fprintf(stderr, "lib/json and jq read different values\n");
			abort();
		}
		/* what cce-rule hands to libjq (built from tokens), and that the
		 * two agree as text too: key order, number forms */
		jv a = jv_dump_string(fast, 0), b = jv_dump_string(got, 0);
		if (strcmp(jv_string_value(a), jv_string_value(b)) != 0) {
			fprintf(stderr, "fast_jv gives %s, jq %s\n", jv_string_value(a), jv_string_value(b));
			abort();
		}
		jv_free(a);
		jv_free(b);
		jv_free(want);
	} else if (json_valid((const char *)data, size, NULL)) {
		abort(); /* the two entry points must agree */
	}
	json_doc_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 16)
		return 0;
	if (size && data[0] == 'E') {
		char *s = malloc(size);
		memcpy(s, data + 1, size - 1);
		s[size - 1] = 0;
		if (strlen(s) == size - 1)
			check_expr(s);
		free(s);
		return 0;
	}
	check_json(data, size);
	return 0;
}
