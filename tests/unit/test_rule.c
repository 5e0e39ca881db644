/* Unit tests of cce-rule's fast path (cmd/cce-rule/fast.c, linked from
 * the tool's parts) and of its jq wrapper (lib/jqx.c). */
#include <malloc.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../cmd/cce-rule/fast.h"
#include "jqx.h"
#include "t.h"

static struct json_doc doc;
static struct buf scratch;

/* fexpr_eval of src on the record text: 1, 0, -1; -9 when not fast */
static int ev(const char *src, const char *rec)
{
	struct fexpr *e = fexpr_compile(src);
	if (!e)
		return -9;
	if (json_parse(&doc, rec, strlen(rec), NULL) < 0)
		return -8;
	int v = fexpr_eval(e, &doc, &scratch);
	fexpr_free(e);
	return v;
}

static bool fast(const char *src)
{
	struct fexpr *e = fexpr_compile(src);
	fexpr_free(e);
	return e != NULL;
}

/* jqx_compile of src (err: its message) compiles */
static bool allowed(const char *src, char err[512])
{
	err[0] = 0;
	struct jqx *x = jqx_compile(src, err, 512);
	jqx_free(x);
	return x != NULL;
}

static int64_t ms_of(clockid_t c)
{
	struct timespec t;
	clock_gettime(c, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The time budget is the evaluating thread's processor time: an evaluation
 * slowed down by other work on its processor runs to its end. Last: it
 * leaves this thread on one processor at the lowest priority. */
static void budget_is_processor_time(void)
{
	char err[512];
	jv out;
	/* an evaluation of at least 20ms of processor time, without a budget */
	struct jqx *x = NULL;
	int64_t cost = 0;
	for (int n = 1 << 15; n < 1 << 27 && cost < 20; n *= 2) {
		char src[64];
		snprintf(src, sizeof src, "reduce range(%d) as $i (0; . + 1)", n);
		jqx_free(x);
		x = jqx_compile(src, err, sizeof err);
		int64_t t0 = ms_of(CLOCK_THREAD_CPUTIME_ID);
		jqx_first(x, jv_null(), &out, err, sizeof err);
		jv_free(out);
		cost = ms_of(CLOCK_THREAD_CPUTIME_ID) - t0;
	}
	int64_t budget_ms = 3 * cost;
	jqx_init(budget_ms, 1 << 20);
	/* a busy process on this thread's processor, and this thread (not the
	 * watchdog, made before) below it */
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	sched_setaffinity((pid_t)syscall(SYS_gettid), sizeof one, &one);
	pid_t hog = fork();
	if (hog == 0) {
		for (;;)
			;
	}
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
	int64_t w0 = ms_of(CLOCK_MONOTONIC);
	int st = jqx_first(x, jv_null(), &out, err, sizeof err);
	int64_t wall = ms_of(CLOCK_MONOTONIC) - w0;
	kill(hog, SIGKILL);
	waitpid(hog, NULL, 0);
	if (st == JQX_OK)
		jv_free(out);
	if (wall <= budget_ms)
		printf("ok %d # skip the evaluation was not slowed down (%lld ms of wall time)\n", ++t_count,
		       (long long)wall);
	else
		ok(st == JQX_OK, "an evaluation of %lld ms of processor time, %lld ms of wall time, "
		   "within a budget of %lld ms runs: %s", (long long)cost, (long long)wall,
		   (long long)budget_ms, st == JQX_OK ? "ok" : err);
	jqx_free(x);
}

int main(void)
{
	json_doc_init(&doc);
	buf_init(&scratch);

	/* the subset */
	ok(fast(".temp > 80"), "a comparison");
	ok(fast("80 < .temp"), "a literal first");
	ok(fast(".a.b == \"x\" and (.c != null or .d)"), "and, or, parentheses, truthiness");
	ok(fast(".[\"a b\"] >= -5.5e3"), "bracketed key, negative exponent literal");
	ok(fast(".a.\"b\" == 1") && fast(".a[\"b\"] == 1"), "quoted keys after a field");
	ok(!fast(".a.[\"b\"] == 1"), "not .a.[\"b\"], which jq 1.6 refuses");
	ok(!fast(".a | not") && !fast(".a // 1") && !fast(".a[0] > 1") && !fast(".a? > 1"),
	   "pipes, alternatives, indexes, ? are for libjq");
	ok(!fast(".a == \"\\(.b)\""), "string interpolation is for libjq");
	ok(!fast(".a == 1 == true") && !fast("(.a) == 1"), "chained comparisons are for libjq");
	ok(!fast(".a >\r1"), "carriage return is no white space to jq 1.6");
	ok(!fast(".if == 1") && !fast(".and"), "keywords as field names are for libjq");
	ok(!fast(".e5 == 1") && !fast(".a.E12") && fast(".e5x == 1") && fast(".e == 1"),
	   "jq 1.6 lexes .e5 as a number");
	ok(!fast(".a == \"\\ud800\""), "a lone surrogate in a literal is for libjq");
	ok(!fast(".a > 1e999"), "an infinite literal is for libjq");

	/* jq's semantics */
	const char *r = "{\"t\":81,\"s\":\"abc\",\"n\":null,\"b\":false,\"o\":{\"x\":1},\"a\":[1],\"e\":\"a\\u00e9\"}";
	ok(ev(".t > 80", r) == 1 && ev(".t > 81", r) == 0 && ev(".t >= 81", r) == 1, "numbers");
	ok(ev(".missing > 80", r) == 0 && ev(".missing < 80", r) == 1, "missing is null: below numbers");
	ok(ev(".missing == null", r) == 1 && ev(".n == null", r) == 1, "missing equals null");
	ok(ev(".b < true", r) == 1 && ev(".b > null", r) == 1, "null < false < true");
	ok(ev("true < 0", r) == 1 && ev(".s > 99999", r) == 1, "booleans < numbers < strings");
	ok(ev(".a > \"zzz\"", r) == 1 && ev(".o > .a", r) == 1, "strings < arrays < objects");
	ok(ev(".s < \"abd\"", r) == 1 && ev(".s < \"ab\"", r) == 0 && ev(".s > \"ab\"", r) == 1,
	   "strings compare byte-wise, a prefix first");
	ok(ev(".e == \"a\\u00e9\"", r) == 1 && ev(".e == \"a\xc3\xa9\"", r) == 1, "escapes are decoded");
	ok(ev(".o.x == 1", r) == 1 && ev(".n.x == null", r) == 1, "nested fields, null.x is null");
	ok(ev(".t.x == 1", r) == -1 && ev(".s.x", r) == -1 && ev(".a.x", r) == -1,
	   "indexing a number, string or array is jq's error");
	ok(ev(".t > 100 and .t.x", r) == 0 && ev(".t > 1 or .t.x", r) == 1, "and/or short-circuit as jq's");
	ok(ev(".b", r) == 0 && ev(".n", r) == 0 && ev(".t", r) == 1 && ev(".a", r) == 1, "truthiness");
	ok(ev(".o == .o", r) == -1, "deep equality is libjq's");
	ok(ev(".d > 1", "{\"d\":1,\"d\":2}") == 1 && ev(".d < 2", "{\"d\":3,\"d\":1}") == 1,
	   "the last of repeated keys wins");
	ok(ev(".x == 1", "{\"x\":1.0}") == 1 && ev(".x == 100", "{\"x\":1e2}") == 1, "number forms");
	ok(ev(".x > 1", "{\"x\":1e400}") == -1, "a number out of range is for libjq");

	/* the per-record cache reads the same as a plain lookup */
	const char *c = "{\"a\":1,\"b\":{\"c\":\"x\"},\"a\":2.5}";
	json_parse(&doc, c, strlen(c), NULL);
	struct fpath *pa = fpath_compile(".a"), *pbc = fpath_compile(".b.c"), *pz = fpath_compile(".z");
	int ta = fpath_get(pa, &doc), tbc = fpath_get(pbc, &doc), tz = fpath_get(pz, &doc);
	fast_begin(&doc);
	ok(fpath_get(pa, &doc) == ta && fpath_get(pbc, &doc) == tbc && fpath_get(pz, &doc) == tz &&
	   tz == -2, "cached lookups");
	ok(fpath_number(pa, &doc, ta) == 2.5, "cached number, last key wins");
	fast_end();
	const char *c2 = "{\"\\u0061\":7}";
	json_parse(&doc, c2, strlen(c2), NULL);
	fast_begin(&doc);
	int t7 = fpath_get(pa, &doc);
	ok(t7 >= 0 && fpath_number(pa, &doc, t7) == 7, "escaped member names are decoded");
	fast_end();
	fpath_free(pa);
	fpath_free(pbc);
	fpath_free(pz);

	/* the number reader is strtod's equal */
	srand(1);
	int same = 1;
	for (int i = 0; i < 20000; i++) {
		char txt[64];
		switch (i % 4) {
		case 0: snprintf(txt, sizeof txt, "{\"v\":%d.%d}", rand() % 100000, rand() % 1000); break;
		case 1: snprintf(txt, sizeof txt, "{\"v\":-%d.%06d}", rand(), rand() % 1000000); break;
		case 2: snprintf(txt, sizeof txt, "{\"v\":%d}", rand()); break;
		default: snprintf(txt, sizeof txt, "{\"v\":0.%09d%09d}", rand() % 1000000000, rand() % 1000000000); break;
		}
		json_parse(&doc, txt, strlen(txt), NULL);
		double want;
		json_num(&doc, 2, &want);
		if (fast_number(&doc, 2) != want) {
			same = 0;
			printf("# %s: %.17g != %.17g\n", txt, fast_number(&doc, 2), want);
			break;
		}
	}
	ok(same, "20000 decimals read as strtod reads them");

	/* jqx */
	char err[512];
	ok(allowed(".halt == 1 and \"halt\" != .x", err), "halt as a field or in a string");
	ok(!allowed("\"\\(halt)\"", err) && !strcmp(err, "'halt' is not allowed in rules"),
	   "halt inside an interpolation");
	ok(!allowed("1 | halt_error", err) && !strcmp(err, "'halt_error' is not allowed in rules"),
	   "halt_error");
	ok(allowed("# halt\n.a", err), "halt in a comment");
	ok(!allowed("include \"x\"; .", err) && !strcmp(err, "'include' is not allowed in rules"),
	   "include");
	jqx_init(0, 1 << 20);
	struct jqx *x = jqx_compile(".a.b", err, sizeof err);
	ok(x != NULL, "compile");
	jv out;
	ok(jqx_first(x, jv_parse("{\"a\":{\"b\":3}}"), &out, err, sizeof err) == JQX_OK &&
	   jv_number_value(out) == 3, "first output");
	jv_free(out);
	ok(jqx_first(x, jv_parse("{\"a\":5}"), &out, err, sizeof err) == JQX_ERROR &&
	   strstr(err, "Cannot index number"), "run-time error: %s", err);
	jqx_free(x);
	x = jqx_compile("empty", err, sizeof err);
	bool t = true;
	ok(jqx_truth(x, jv_null(), &t, err, sizeof err) == JQX_OK && !t, "no output is false");
	jqx_free(x);
	ok(jqx_compile(".a |||", err, sizeof err) == NULL && strstr(err, "syntax error") &&
	   !strchr(err, '\n'), "compile errors on one line: %s", err);
	x = jqx_lazy(".a");
	ok(jqx_first(x, jv_parse("{\"a\":1}"), &out, err, sizeof err) == JQX_OK, "lazy compile");
	jv_free(out);
	ok(jqx_first(x, jv_invalid_with_msg(jv_string("deep")), &out, err, sizeof err) == JQX_ERROR &&
	   strstr(err, "deep"), "an input libjq could not parse is an error, not a crash");
	jqx_free(x);

	/* the memory budget: 1MiB */
	x = jqx_compile("[range(100000)] | length", err, sizeof err);
	ok(jqx_first(x, jv_null(), &out, err, sizeof err) == JQX_MEMORY &&
	   strstr(err, "memory budget"), "an evaluation past the memory budget is abandoned: %s", err);
	ok(jqx_first(x, jv_null(), &out, err, sizeof err) == JQX_MEMORY && jqx_dead(x),
	   "and its expression is dead");
	{
		/* libjq's allocations outside an evaluation are not counted */
		jv outside = jv_parse("[1, \"two\", {\"three\": 3}]");
		ok(jqx_counted() == 0, "nothing is counted after it");
		jv_free(outside);
	}
	jqx_free(x);
	x = jqx_compile("reduce range(40) as $i (\"x\"; . + .) | length", err, sizeof err);
	ok(jqx_first(x, jv_null(), &out, err, sizeof err) == JQX_MEMORY,
	   "a string doubled forty times stops at the budget");
	jqx_free(x);
	x = jqx_compile("[range(1000)] | tostring | length", err, sizeof err);
	ok(jqx_first(x, jv_null(), &out, err, sizeof err) == JQX_OK && jv_number_value(out) == 3891,
	   "an evaluation within the budget runs");
	jv_free(out);
	ok(jqx_first(x, jv_null(), &out, err, sizeof err) == JQX_OK && jv_number_value(out) == 3891,
	   "and runs again");
	jv_free(out);
	jqx_free(x);
	x = jqx_compile("[range(30000)] | map(tostring) | length", err, sizeof err);
	ok(jqx_first(x, jv_null(), &out, err, sizeof err) == JQX_MEMORY,
	   "many small blocks count too");
	jqx_free(x);
	/* regular expressions: bounded by oniguruma's limits, an error */
	x = jqx_compile("test(\"^(a|a)*$\")", err, sizeof err);
	ok(jqx_first(x, jv_string("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"), &out, err, sizeof err) == JQX_REGEX &&
	   strcmp(err, "Regex failure: retry-limit-in-match over") == 0,
	   "a backtracking regex stops at its step limit: %s", err);
	ok(jqx_first(x, jv_string("aaa"), &out, err, sizeof err) == JQX_OK && jv_get_kind(out) == JV_KIND_TRUE,
	   "and its expression lives on");
	jv_free(out);
	jqx_free(x);
	x = jqx_compile("test(\"^(a|b)*$\")", err, sizeof err);
	{
		char *long_a = xmalloc(100001);
		memset(long_a, 'a', 100000);
		long_a[100000] = 0;
		ok(jqx_first(x, jv_string(long_a), &out, err, sizeof err) == JQX_REGEX &&
		   strcmp(err, "Regex failure: match-stack limit over") == 0,
		   "its stack is bounded by the memory budget: %s", err);
		free(long_a);
	}
	jqx_free(x);
	x = jqx_compile("error(\"Regex failure: parse depth limit over\")", err, sizeof err);
	ok(jqx_first(x, jv_null(), &out, err, sizeof err) == JQX_ERROR, "other errors are errors");
	jqx_free(x);

	/* what an abandoned evaluation allocated is freed: seen through glibc's
	 * counters, which say nothing when another malloc (a sanitizer's,
	 * valgrind's) stands in */
	char *volatile probe = malloc(1 << 20);  /* volatile: not optimized away */
	probe[0] = 1;
	struct mallinfo2 m0 = mallinfo2();
	free(probe);
	struct mallinfo2 m1 = mallinfo2();
	if (m0.uordblks + m0.hblkhd < m1.uordblks + m1.hblkhd + (1 << 20)) {
		printf("ok %d # skip mallinfo2 does not see this malloc (a sanitizer's or valgrind's)\n",
		       ++t_count);
	} else {
		x = jqx_compile("[range(1000) | tostring] + [range(100000)]", err, sizeof err);
		m0 = mallinfo2();
		ok(jqx_first(x, jv_null(), &out, err, sizeof err) == JQX_MEMORY, "abandoned");
		m1 = mallinfo2();
		ok(m1.uordblks + m1.hblkhd < m0.uordblks + m0.hblkhd + (64 << 10),
		   "and what it allocated is freed (%zu bytes more in use)",
		   m1.uordblks + m1.hblkhd - (m0.uordblks + m0.hblkhd));
		jqx_free(x);
	}
	budget_is_processor_time();
	jqx_shutdown();

	fast_shutdown();
	json_doc_free(&doc);
	buf_free(&scratch);
	return done_testing();
}
