/* Unit tests of lib/json: exactly RFC 8259, precise reasons, accessors. */
#include <stdlib.h>

#include "json.h"
#include "t.h"

static const char *valid[] = {
	"{}", "[]", "0", "-0", "1.5", "-1.5e10", "1E+2", "1e-2", "123456789012345678901234567890",
	"\"\"", "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", "\"\\u00e9\\ud83d\\ude00\"",
	"\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", "true", "false", "null",
	" { \"a\" : [ 1 , 2 , { \"b\" : null } ] } ", "{\"a\":{\"a\":{\"a\":[]}}}",
	"[1,[2,[3]],\"x\",true,false,null,{}]", "\t\r\n{}\t\r\n",
};

static const struct { const char *text; const char *reason; } invalid[] = {
	{ "{\"a\":1,}", "trailing comma in object" },
	{ "[1,2,]", "trailing comma in array" },
	{ "NaN", "invalid literal 'NaN'" },
	{ "Infinity", "invalid literal 'Infinity'" },
	{ "-Infinity", "invalid literal '-Infinity' (not JSON)" },
	{ "+1", "'+' sign not allowed in number" },
	{ "-01", "leading zero in number" },
	{ "01", "leading zero in number" },
	{ ".5", "number must start with a digit" },
	{ "1.", "digit expected after '.' in number" },
	{ "2.e3", "digit expected after '.' in number" },
	{ "1e", "digit expected in exponent" },
	{ "{'a':1}", "strings must be in double quotes" },
	{ "'a'", "strings must be in double quotes" },
	{ "\"a\x01\"", "raw control character 0x01 in string (must be escaped)" },
	{ "\"a\tb\"", "raw control character 0x09 in string (must be escaped)" },
	{ "\"\xff\"", "invalid UTF-8 (byte 0xff) in string" },
	{ "\"\xc0\xaf\"", "invalid UTF-8 (byte 0xc0) in string" },
	{ "\"\xed\xa0\x80\"", "invalid UTF-8 (byte 0xed) in string" },
	{ "\"\xf4\x90\x80\x80\"", "invalid UTF-8 (byte 0xf4) in string" },
	{ "\"\xe2\x82\"", "invalid UTF-8 (byte 0xe2) in string" },
	{ "\"\\ud800\"", "lone high surrogate \\ud800 in string" },
	{ "\"\\udc00\"", "lone low surrogate \\udc00 in string" },
	{ "\"\\ud800\\u0041\"", "lone high surrogate \\ud800 in string" },
	{ "\"\\x\"", "invalid escape '\\x' in string" },
	{ "\"\\u12\"", "invalid \\u escape in string (needs 4 hex digits)" },
	{ "{\"a\":1} {\"b\":2}", "unexpected '{' after the JSON value (one value per line)" },
	{ "{\"a\":1},", "unexpected ',' after the JSON value" },
	{ "{\"a\":1", "unterminated object" },
	{ "{\"a\"", "unterminated object" },
	{ "[1", "unterminated array" },
	{ "\"abc", "unterminated string" },
	{ "{\"a\" 1}", "expected ':' after object key, found '1'" },
	{ "{\"a\":1 \"b\":2}", "expected ',' or '}' in object, found '\"'" },
	{ "[1 2]", "expected ',' or ']' in array, found '2'" },
	{ "{1:2}", "expected a string key in object, found '1'" },
	{ "", "expected a JSON value, found end of line" },
	{ "   ", "expected a JSON value, found end of line" },
	{ "[,1]", "expected a JSON value, found ','" },
	{ "tru", "invalid literal 'tru'" },
	{ "truex", "invalid literal 'truex'" },
	{ "nul", "invalid literal 'nul'" },
	{ "// c\n{}", "comments are not allowed in JSON" },
	{ "\xff", "invalid UTF-8 (byte 0xff)" },
};

int main(void)
{
	struct json_doc d;
	struct json_error e;
	json_doc_init(&d);

	for (size_t i = 0; i < sizeof valid / sizeof *valid; i++) {
		ok(json_parse(&d, valid[i], strlen(valid[i]), &e) == 0, "valid: %s", t_show(valid[i]));
		ok(json_valid(valid[i], strlen(valid[i]), NULL), "json_valid: %s", t_show(valid[i]));
	}

	for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++) {
		size_t n = strlen(invalid[i].text);
		int r = json_parse(&d, invalid[i].text, n, &e);
		ok(r == -1, "invalid: %s", t_show(invalid[i].text));
		if (r == -1)
			is_str(e.msg, invalid[i].reason, "reason for %s", t_show(invalid[i].text));
		ok(!json_valid(invalid[i].text, n, NULL), "json_valid refuses %s", t_show(invalid[i].text));
		/* the validator's reason is the parser's */
		struct json_error ve = { 0 };
		ok(!json_valid(invalid[i].text, n, &ve) && !strcmp(ve.msg, invalid[i].reason) &&
		   ve.offset == e.offset, "json_valid's reason for %s", t_show(invalid[i].text));
	}
	/* strings longer than a word, with every kind of byte the word scan stops at */
	static const char *const long_valid[] = {
		"\"abcdefghijklmnopqrstuvwxyz0123456789\"",
		"\"abcdefgh\\\"ijklmnop\\u00e9qrstuvw\"",
		"\"abcdefg\xc3\xa9hijklmno\xf0\x9f\x98\x80pqrstuvwxyz\"",
		"{\"aaaaaaaaaaaaaaaa\":\"bbbbbbbbbbbbbbbbbbbb\",\"c\":[1,2.5e-3,-0,true,false,null,{}]}",
	};
	for (size_t i = 0; i < sizeof long_valid / sizeof *long_valid; i++)
		ok(json_valid(long_valid[i], strlen(long_valid[i]), NULL), "json_valid: %s",
		   t_show(long_valid[i]));
	static const char *const long_invalid[] = {
		"\"abcdefghijklmnop\x01qrstuvwxyz\"",
		"\"abcdefghijklmnop\x7fqrstuvw\xffxyz\"",
		"\"abcdefghijklmnop\xed\xa0\x80qrstuvwxyz\"",
		"\"abcdefghijklmnopqrstuvwxyz",
		"{\"aaaaaaaaaaaaaaaa\":\"bbbbbbbbbbbbbbbbbbbb\",}",
	};
	for (size_t i = 0; i < sizeof long_invalid / sizeof *long_invalid; i++) {
		size_t n = strlen(long_invalid[i]);
		ok(!json_valid(long_invalid[i], n, NULL) && json_parse(&d, long_invalid[i], n, &e) < 0,
		   "both refuse %s", t_show(long_invalid[i]));
	}

	/* the embedded NUL case, explicitly */
	ok(json_parse(&d, "{}\0", 3, &e) == -1 && e.offset == 2, "NUL after value at offset 2");
	is_str(e.msg, "unexpected byte 0x00 after the JSON value (one value per line)", "NUL reason");

	/* depth */
	char deep[2 * JSON_MAX_DEPTH + 10];
	size_t k = 0;
	for (int i = 0; i < JSON_MAX_DEPTH + 1; i++)
		deep[k++] = '[';
	for (int i = 0; i < JSON_MAX_DEPTH + 1; i++)
		deep[k++] = ']';
	ok(json_parse(&d, deep, k, &e) == -1, "nesting over the limit refused");
	ok(json_parse(&d, deep + 1, k - 2, &e) == 0, "nesting at the limit accepted");
	ok(!json_valid(deep, k, NULL), "json_valid: nesting over the limit refused");
	ok(json_valid(deep + 1, k - 2, NULL), "json_valid: nesting at the limit accepted");

	/* accessors */
	const char *rec = "{\"device\":\"d-1\",\"temp\":81.5,\"n\":-3,\"ok\":true,"
			  "\"tags\":[\"a\",\"b\"],\"esc\\u0061\":\"x\\ny\",\"device\":\"d-2\"}";
	ok(json_parse(&d, rec, strlen(rec), &e) == 0, "record parses");
	ok(json_type_of(&d, 0) == JSON_OBJECT && d.tok[0].count == 7, "object with 7 members");
	ok(json_str_eq(&d, json_get(&d, 0, "device"), "d-2"), "last duplicate key wins");
	double v;
	ok(json_num(&d, json_get(&d, 0, "temp"), &v) && v == 81.5, "number");
	int64_t iv;
	ok(json_int(&d, json_get(&d, 0, "n"), &iv) && iv == -3, "integer");
	ok(!json_int(&d, json_get(&d, 0, "temp"), &iv), "81.5 is not an integer");
	bool b;
	ok(json_bool(&d, json_get(&d, 0, "ok"), &b) && b, "bool");
	int tags = json_get(&d, 0, "tags");
	ok(json_str_eq(&d, json_index(&d, tags, 1), "b"), "array index");
	ok(json_index(&d, tags, 2) == -1, "array index out of range");
	char *s = json_strdup(&d, json_get(&d, 0, "esca"));
	is_str(s, "x\ny", "escaped key found and value decoded");
	free(s);
	bool nul;
	s = json_cstr(&d, json_get(&d, 0, "esca"), &nul);
	ok(s && !nul && !strcmp(s, "x\ny"), "json_cstr: a string without U+0000");
	free(s);
	ok(!json_cstr(&d, json_get(&d, 0, "n"), &nul) && !nul, "json_cstr: not a string");
	ok(!json_cstr(&d, -1, &nul) && !nul, "json_cstr: absent");
	{
		struct json_doc d2;
		json_doc_init(&d2);
		const char *t = "{\"a\":\"x\\u0000y\"}";
		ok(json_parse(&d2, t, strlen(t), &e) == 0 && !json_cstr(&d2, json_get(&d2, 0, "a"), &nul) &&
		   nul, "json_cstr: U+0000 refused, not cut short");
		json_doc_free(&d2);
	}
	ok(json_get(&d, 0, "missing") == -1, "missing key");
	size_t rl;
	const char *raw = json_raw(&d, tags, &rl);
	ok(rl == 9 && memcmp(raw, "[\"a\",\"b\"]", 9) == 0, "raw text of an array");
	int members = 0;
	for (int m = json_first(&d, 0); m >= 0; m = json_next_member(&d, 0, m))
		members++;
	ok(members == 7, "member iteration");

	struct buf out = BUF_INIT;
	json_unescape("\\ud83d\\ude00\\u00e9", 18, &out);
	ok(out.len == 6 && memcmp(out.data, "\xf0\x9f\x98\x80\xc3\xa9", 6) == 0, "surrogate pair decoded");
	buf_reset(&out);
	buf_add_json_str(&out, "a\"b\\c\n\x01", 7);
	is_str(out.data, "\"a\\\"b\\\\c\\n\\u0001\"", "string escaping");
	buf_reset(&out);
	buf_add_double(&out, 0.1);
	buf_addc(&out, ' ');
	buf_add_double(&out, 3);
	buf_addc(&out, ' ');
	buf_add_double(&out, -2.5e-7);
	is_str(out.data, "0.1 3 -2.5e-07", "shortest doubles");
	buf_free(&out);

	json_doc_free(&d);
	return done_testing();
}
