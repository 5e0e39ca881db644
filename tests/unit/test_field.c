/* Unit tests of lib/field: each getter, its one wording and the NUL policy. */
#include <stdlib.h>

#include "field.h"
#include "t.h"

static struct json_doc doc;
static char err[160];

/* the fields of record text (kept parsed in doc until the next call) */
static struct fields rec(const char *text)
{
	struct fields f;
	struct json_error je;
	if (json_parse(&doc, text, strlen(text), &je) < 0)
		printf("# bad test record %s: %s\n", text, je.msg);
	err[0] = 0;
	fields_init(&f, &doc, 0, err, sizeof err);
	return f;
}

static void test_str(void)
{
	struct fields f = rec("{\"a\":\"x\\u00e9\",\"n\":1,\"z\":\"a\\u0000b\",\"e\":\"\",\"l\":\"abcd\"}");
	char *s = (char *)1;
	ok(field_str(&f, "a", FIELD_REQUIRED, 0, &s) == 1 && strcmp(s, "x\xc3\xa9") == 0, "a string, decoded");
	free(s);
	ok(field_str(&f, "b", 0, 0, &s) == 0 && s == NULL, "absent: 0 and NULL");
	ok(field_str(&f, "b", FIELD_REQUIRED, 0, &s) == -1, "absent and required");
	is_str(err, "b: missing", "its wording");
	ok(field_str(&f, "n", 0, 0, &s) == -1 && s == NULL, "a number is not a string");
	is_str(err, "n: expected a string, got number", "its wording");
	ok(field_str(&f, "z", 0, 0, &s) == -1 && s == NULL, "U+0000 is refused");
	is_str(err, "z: " JSON_NUL_REASON, "its wording");
	ok(field_str(&f, "e", 0, 0, &s) == 1 && *s == 0, "empty is a string");
	free(s);
	ok(field_str(&f, "e", FIELD_NONEMPTY, 0, &s) == -1, "unless nonempty");
	is_str(err, "e: empty", "its wording");
	ok(field_str(&f, "l", 0, 4, &s) == 1, "at the length limit");
	free(s);
	ok(field_str(&f, "l", 0, 3, &s) == -1, "over it");
	is_str(err, "l: longer than 3 bytes", "its wording");
}

static void test_numbers(void)
{
	struct fields f = rec("{\"x\":1.5,\"i\":-3,\"s\":\"1\",\"big\":1e999,\"b\":true,\"nul\":null}");
	double v = 7;
	int64_t i = 9;
	bool b = false;
	ok(field_num(&f, "x", 0, &v) == 1 && v == 1.5, "a number");
	ok(field_num(&f, "q", 0, &v) == 0 && v == 1.5, "absent: left as it was");
	ok(field_num(&f, "s", 0, &v) == -1, "a string is not a number");
	is_str(err, "s: expected a number, got string", "its wording");
	ok(field_num(&f, "big", 0, &v) == -1, "infinity is refused");
	is_str(err, "big: expected a finite number", "its wording");
	ok(field_num(&f, "i", FIELD_NONNEG, &v) == -1, "negative, when it must not be");
	is_str(err, "i: expected a non-negative number", "its wording");
	ok(field_num(&f, "nul", 0, &v) == -1, "null is a value, and wrong");
	is_str(err, "nul: expected a number, got null", "its wording");
	v = 7;
	ok(field_num(&f, "nul", FIELD_NULL, &v) == 0 && v == 7, "null as absent, when asked");
	ok(field_num(&f, "nul", FIELD_NULL | FIELD_REQUIRED, &v) == -1, "and then missing");
	is_str(err, "nul: missing", "its wording");
	ok(field_int(&f, "i", 0, -5, 5, &i) == 1 && i == -3, "an integer");
	ok(field_int(&f, "x", 0, -5, 5, &i) == -1, "a fraction is not an integer");
	is_str(err, "x: expected an integer from -5 to 5", "its wording");
	ok(field_int(&f, "i", 0, 0, INT64_MAX, &i) == -1, "below the least");
	is_str(err, "i: expected an integer of at least 0", "its wording");
	ok(field_int(&f, "s", 0, 0, 1, &i) == -1, "a string is not an integer");
	is_str(err, "s: expected an integer, got string", "its wording");
	ok(field_bool(&f, "b", 0, &b) == 1 && b, "a boolean");
	ok(field_bool(&f, "i", 0, &b) == -1, "a number is not a boolean");
	is_str(err, "i: expected a boolean, got number", "its wording");
}

static void test_nested(void)
{
	struct fields f = rec("{\"cap\":{\"cpu\":\"4\",\"in\":{\"k\":[]}},\"arr\":[1],\"o\":[]}");
	struct fields c, in;
	int tok;
	ok(field_obj(&f, "cap", FIELD_REQUIRED, &c) == 1, "an object");
	ok(field_num(&c, "cpu", 0, &(double){ 0 }) == -1, "a member of it");
	is_str(err, "cap.cpu: expected a number, got string", "named by its path");
	ok(field_obj(&c, "in", 0, &in) == 1 && field_str(&in, "k", 0, 0, &(char *){ NULL }) == -1,
	   "two levels down");
	is_str(err, "cap.in.k: expected a string, got array", "named by its path");
	ok(field_obj(&f, "o", 0, &c) == -1, "an array is not an object");
	is_str(err, "o: expected an object, got array", "its wording");
	ok(field_obj(&f, "none", 0, &c) == 0 && c.obj == -1, "absent object");
	ok(field_array(&f, "arr", 0, &tok) == 1 && json_type_of(&doc, tok) == JSON_ARRAY, "an array");
	ok(field_array(&f, "cap", 0, &tok) == -1, "an object is not an array");
	is_str(err, "cap: expected an array, got object", "its wording");
	f = rec("{\"labels\":{\"a\\u0000\":\"x\",\"b\":\"y\\u0000\"}}");
	ok(field_obj(&f, "labels", 0, &c) == 1, "labels");
	char *k = NULL, *v = NULL;
	int first = json_first(&doc, c.obj);
	ok(field_key(&c, first, &k) == -1 && k == NULL, "a key holding U+0000");
	is_str(err, "labels: a key " JSON_NUL_REASON, "its wording");
	int second = json_next_member(&doc, c.obj, first);
	ok(field_key(&c, second, &k) == 1 && field_str_at(&c, k, second + 1, 0, 0, &v) == -1,
	   "a value holding U+0000");
	is_str(err, "labels.b: " JSON_NUL_REASON, "its wording");
	free(k);
	field_fail(&c, "b", "unknown value '%s'", "y");
	is_str(err, "labels.b: unknown value 'y'", "a tool's own check reads the same");
}

static void test_units(void)
{
	struct fields f = rec("{\"d\":\"5m\",\"n\":1.5,\"bad\":\"5x\",\"z\":\"5\\u0000m\",\"b\":true,"
			      "\"s\":\"64KiB\",\"neg\":-1}");
	int64_t ms = 0;
	uint64_t bytes = 0;
	ok(field_duration(&f, "d", 0, &ms) == 1 && ms == 300000, "a duration string");
	ok(field_duration(&f, "n", 0, &ms) == 1 && ms == 1500, "a number of seconds");
	ok(field_duration(&f, "bad", 0, &ms) == -1, "a bad duration");
	is_str(err, "bad: invalid duration '5x' (use e.g. 250ms, 30s, 5m, 2h, 7d)", "its wording (as cli's)");
	ok(field_duration(&f, "z", 0, &ms) == -1, "U+0000 in a duration");
	is_str(err, "z: " JSON_NUL_REASON, "its wording");
	ok(field_duration(&f, "b", 0, &ms) == -1, "a boolean is not a duration");
	is_str(err, "b: expected a duration (250ms, 30s, 5m, 2h, 7d), got boolean", "its wording");
	ok(field_duration(&f, "neg", 0, &ms) == -1, "a negative duration");
	is_str(err, "neg: invalid duration -1", "its wording");
	ok(field_size(&f, "s", 0, &bytes) == 1 && bytes == 65536, "a size string");
	ok(field_size(&f, "n", 0, &bytes) == 1 && bytes == 2, "a number of bytes (rounded)");
	ok(field_size(&f, "bad", 0, &bytes) == -1, "a bad size");
	is_str(err, "bad: invalid size '5x' (use e.g. 512, 64KiB, 10MiB, 1GiB)", "its wording (as cli's)");
}

int main(void)
{
	json_doc_init(&doc);
	test_str();
	test_numbers();
	test_nested();
	test_units();
	json_doc_free(&doc);
	return done_testing();
}
