/* Unit tests of cce-register's node table, op records and tokens
 * (cmd/cce-register/registry.c and token.c, linked from the tool's parts). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../cmd/cce-register/registry.h"
#include "../../cmd/cce-register/token.h"
#include "t.h"

static int parse_op(const char *text, struct op *op, char *why, size_t whylen)
{
	struct json_doc d;
	json_doc_init(&d);
	struct json_error je;
	int r = json_parse(&d, text, strlen(text), &je);
	if (r == 0)
		r = op_parse(&d, strlen(text), op, why, whylen);
	json_doc_free(&d);
	return r;
}

static void test_names(void)
{
	ok(name_valid("edge-17", 7), "edge-17 is a name");
	ok(name_valid("a", 1), "one character");
	ok(name_valid("A.b_c-9", 7), "every allowed class");
	ok(!name_valid("", 0), "empty is not a name");
	ok(!name_valid("edge 17", 7), "no spaces");
	ok(!name_valid("edge/17", 7), "no slashes (etcd keys)");
	ok(!name_valid("\xc3\xa9t\xc3\xa9", 6), "ASCII only");
	char long64[65];
	memset(long64, 'a', 64);
	long64[64] = 0;
	ok(!name_valid(long64, 64), "64 characters is too long");
	ok(name_valid(long64, 63), "63 is fine");
}

static void test_ops(void)
{
	struct op op;
	char why[160];
	ok(parse_op("{\"op\":\"join\",\"node\":\"e1\",\"token\":\"t\",\"addr\":\"10.0.0.1\","
		    "\"labels\": {\"arch\" : \"arm64\"},\"capacity\":{\"cpu\":4},"
		    "\"services\":[{\"name\":\"mqtt\",\"port\":1883}],\"cost\":0.5}",
		    &op, why, sizeof why) == 0, "a full join parses");
	is_str(op.labels, "{\"arch\":\"arm64\"}", "labels are made compact");
	is_str(op.services, "[{\"name\":\"mqtt\",\"port\":1883}]", "services normalised");
	ok(op.kind == OP_JOIN && op.cpu == 4 && op.cost == 0.5, "numbers");
	op_free(&op);
	ok(parse_op("{\"op\":\"heartbeat\",\"node\":\"e1\",\"ts\":\"2024-05-01T12:00:00Z\"}", &op, why,
		    sizeof why) == 0 && op.ts == 1714564800000, "RFC 3339 ts");
	op_free(&op);
	static const struct {
		const char *in, *why;
	} bad[] = {
		{ "[1]", "an op must be a JSON object" },
		{ "{\"node\":\"e1\"}", "op: missing" },
		{ "{\"op\":\"reboot\",\"node\":\"e1\"}", "\"op\" must be one of join, heartbeat, leave, cordon, uncordon" },
		{ "{\"op\":\"revoke\",\"node\":\"e1\"}", "\"op\" must be one of join, heartbeat, leave, cordon, uncordon" },
		{ "{\"op\":\"join\",\"node\":\"e\\u0031\"}", "bad node name (1-63 of A-Z a-z 0-9 . _ -)" },
		{ "{\"op\":\"join\",\"node\":\"e1\",\"addr\":\"a\\u0000b\"}", "addr: contains a NUL character" },
		{ "{\"op\":\"join\",\"node\":\"e1\\u0000x\"}", "node: contains a NUL character" },
		{ "{\"op\":\"join\",\"node\":\"e1\",\"token\":\"1.2\\u0000x\"}", "token: contains a NUL character" },
		{ "{\"op\":\"join\",\"node\":\"e1\",\"labels\":{\"a\\u0000\":\"b\"}}", "labels: a key contains a NUL character" },
		{ "{\"op\":\"join\",\"node\":\"e1\",\"labels\":{\"a\":\"b\\u0000\"}}", "labels.a: contains a NUL character" },
		{ "{\"op\":\"join\",\"node\":\"e1\",\"capacity\":{\"gpu\":1}}", "\"capacity\" takes only cpu, mem_mb, disk_mb and net_mbps" },
		{ "{\"op\":\"join\",\"node\":\"e1\",\"capacity\":{\"cpu\":-1}}", "capacity.cpu: expected a non-negative number" },
		{ "{\"op\":\"join\",\"node\":\"e1\",\"services\":[{\"name\":\"a b\",\"port\":1}]}", "a service needs a \"name\" of 1-63 of A-Z a-z 0-9 . _ -" },
		{ "{\"op\":\"join\",\"node\":\"e1\",\"services\":[{\"name\":\"a\",\"port\":1.5}]}", "a service needs a \"port\" from 1 to 65535" },
		{ "{\"op\":\"leave\",\"node\":\"e1\",\"force\":1}", "force: expected a boolean, got number" },
		{ "{\"op\":\"heartbeat\",\"node\":\"e1\",\"ts\":-5}", "\"ts\" must be milliseconds since the epoch or an RFC 3339 time" },
		{ "{\"op\":\"heartbeat\",\"node\":\"e1\",\"load\":[]}", "load: expected an object, got array" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		why[0] = 0;
		ok(parse_op(bad[i].in, &op, why, sizeof why) < 0, "refused: %s", t_show(bad[i].in));
		is_str(why, bad[i].why, "reason for %s", t_show(bad[i].in));
	}
}

static void test_table(void)
{
	struct registry r;
	reg_init(&r);
	char name[32];
	/* enough to grow several times, then delete every other one */
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof name, "n%d", i);
		reg_add(&r, name)->joined = i;
	}
	ok(r.count == 5000, "5000 entries");
	for (int i = 0; i < 5000; i += 2) {
		snprintf(name, sizeof name, "n%d", i);
		reg_del(&r, name);
	}
	int found = 0, right = 0;
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof name, "n%d", i);
		struct node *n = reg_get(&r, name);
		found += n != NULL;
		right += (n != NULL) == (i % 2 == 1) && (!n || n->joined == i);
	}
	ok(found == 2500 && right == 5000 && r.count == 2500,
	   "deletes keep every other entry findable (found %d, right %d)", found, right);
	reg_free(&r);
}

static void test_apply(void)
{
	struct registry r;
	reg_init(&r);
	struct op op;
	char why[160];
	parse_op("{\"op\":\"heartbeat\",\"node\":\"e1\",\"token\":\"x\"}", &op, why, sizeof why);
	ok(reg_apply(&r, &op, 1000, why, sizeof why) == EV_REJECTED, "heartbeat of an unknown node");
	is_str(why, "unknown node", "its reason");
	op_free(&op);
	parse_op("{\"op\":\"join\",\"node\":\"e1\",\"addr\":\"a\",\"region\":\"sh\"}", &op, why, sizeof why);
	ok(reg_apply(&r, &op, 1000, why, sizeof why) == EV_JOINED, "join");
	ok(reg_apply(&r, &op, 2000, why, sizeof why) == EV_UPDATED, "join again updates");
	op_free(&op);
	struct node *n = reg_get(&r, "e1");
	ok(n && n->joined == 1000 && n->last_seen == 2000, "join time kept, last_seen moved");
	parse_op("{\"op\":\"heartbeat\",\"node\":\"e1\",\"ts\":1500,\"load\":{\"cpu\":1}}", &op, why,
		 sizeof why);
	reg_apply(&r, &op, 3000, why, sizeof why);
	ok(n->last_seen == 2000, "an older heartbeat does not move last_seen back");
	is_str(n->load, "{\"cpu\":1}", "but its load is taken");
	op_free(&op);
	parse_op("{\"op\":\"heartbeat\",\"node\":\"e1\",\"ts\":99999}", &op, why, sizeof why);
	reg_apply(&r, &op, 5000, why, sizeof why);
	ok(n->last_seen == 5000, "a heartbeat from the future counts as now");
	op_free(&op);
	ok(node_state(n, 5000 + 29999, 30000) == ST_READY, "ready within a ttl");
	ok(node_state(n, 5000 + 30000, 30000) == ST_SUSPECT, "suspect after one ttl");
	ok(node_state(n, 5000 + 90000, 30000) == ST_DEAD, "dead after three");

	/* stored form round trip */
	struct buf b = BUF_INIT;
	node_store_json(&b, n, -1);
	struct registry r2;
	reg_init(&r2);
	struct json_doc d;
	json_doc_init(&d);
	ok(json_parse(&d, b.data, b.len, &(struct json_error){ 0 }) == 0 &&
	   node_load_json(&r2, &d, 0) == 0, "the stored form loads");
	struct buf b2 = BUF_INIT;
	node_store_json(&b2, reg_get(&r2, "e1"), -1);
	is_str(b2.data, b.data, "and stores the same");
	buf_reset(&b);
	node_list_json(&b, n, ST_READY);
	is_str(b.data, "{\"node\":\"e1\",\"addr\":\"a\",\"region\":\"sh\",\"zone\":\"\",\"labels\":{},"
		       "\"capacity\":{\"cpu\":0,\"mem_mb\":0,\"disk_mb\":0},\"load\":{\"cpu\":1},"
		       "\"tasks\":[],\"services\":[],\"cost\":0,\"state\":\"ready\",\"joined\":1000,\"last_seen\":5000}",
	       "the list form");
	json_doc_free(&d);
	buf_free(&b2);
	reg_free(&r2);

	/* tasks: kept by a heartbeat without them, replaced, cleared by [] */
	parse_op("{\"op\":\"heartbeat\",\"node\":\"e1\",\"tasks\":[{\"task\":\"w\",\"replica\":1,"
		 "\"state\":\"failed\",\"restarts\":3,\"oom\":true,\"pid\":7}]}", &op, why, sizeof why);
	ok(reg_apply(&r, &op, 6000, why, sizeof why) == EV_HEARTBEAT, "a heartbeat with tasks");
	op_free(&op);
	is_str(n->tasks, "[{\"task\":\"w\",\"replica\":1,\"state\":\"failed\",\"restarts\":3,"
			 "\"oom\":true}]", "its summary, without the other members");
	parse_op("{\"op\":\"heartbeat\",\"node\":\"e1\"}", &op, why, sizeof why);
	reg_apply(&r, &op, 6000, why, sizeof why);
	op_free(&op);
	ok(n->tasks != NULL, "a heartbeat without tasks keeps them");
	buf_reset(&b);
	node_store_json(&b, n, -1);
	reg_init(&r2);
	json_doc_init(&d);
	ok(json_parse(&d, b.data, b.len, &(struct json_error){ 0 }) == 0 &&
	   node_load_json(&r2, &d, 0) == 0 && reg_get(&r2, "e1")->tasks &&
	   !strcmp(reg_get(&r2, "e1")->tasks, n->tasks), "the stored form keeps them");
	json_doc_free(&d);
	reg_free(&r2);
	parse_op("{\"op\":\"heartbeat\",\"node\":\"e1\",\"tasks\":[]}", &op, why, sizeof why);
	reg_apply(&r, &op, 6000, why, sizeof why);
	op_free(&op);
	ok(n->tasks == NULL, "[] clears them, keeping no string");
	buf_reset(&b);
	node_store_json(&b, n, -1);
	ok(!strstr(b.data, "tasks"), "nor a stored member");
	buf_free(&b);

	/* revocation voids older tokens only */
	memset(&op, 0, sizeof op);
	op.kind = OP_REVOKE;
	strcpy(op.name, "e1");
	ok(reg_apply(&r, &op, 7000, why, sizeof why) == EV_REVOKED, "revoke");
	char tok[TOKEN_MAX];
	struct secret s;
	memset(&s, 7, sizeof s);
	token_make(&s, "e1", 6999, 99999, tok);
	parse_op("{\"op\":\"heartbeat\",\"node\":\"e1\"}", &op, why, sizeof why);
	op.token = xstrdup(tok);
	ok(reg_apply(&r, &op, 8000, why, sizeof why) == EV_REJECTED, "a token issued before is void");
	is_str(why, "revoked token", "its reason");
	free(op.token);
	token_make(&s, "e1", 7001, 99999, tok);
	op.token = xstrdup(tok);
	ok(reg_apply(&r, &op, 8000, why, sizeof why) == EV_HEARTBEAT, "a later token works");
	op_free(&op);
	parse_op("{\"op\":\"leave\",\"node\":\"e1\",\"force\":true}", &op, why, sizeof why);
	ok(reg_apply(&r, &op, 9000, why, sizeof why) == EV_LEFT, "leave");
	op_free(&op);
	n = reg_get(&r, "e1");
	ok(n && !n->present && n->revoked == 7000, "the revocation outlives the node");
	reg_free(&r);
}

static void test_tokens(void)
{
	struct secret s, other;
	memset(&s, 1, sizeof s);
	memset(&other, 2, sizeof other);
	char tok[TOKEN_MAX];
	const char *why = NULL;
	token_make(&s, "edge-1", 1000, 2000, tok);
	ok(token_check(&s, "edge-1", tok, 1500, &why) == 0, "valid token");
	ok(token_check(&s, "edge-2", tok, 1500, &why) < 0 && !strcmp(why, "bad token"), "other node");
	ok(token_check(&other, "edge-1", tok, 1500, &why) < 0 && !strcmp(why, "bad token"), "other secret");
	ok(token_check(&s, "edge-1", tok, 2000, &why) < 0 && !strcmp(why, "expired token"), "expired");
	char forged[TOKEN_MAX];
	snprintf(forged, sizeof forged, "%s", tok);
	forged[2] = '9'; /* a later issue time, same MAC */
	ok(token_check(&s, "edge-1", forged, 1500, &why) < 0, "times are covered by the MAC");
	for (size_t i = 0; tok[i]; i++)
		if (tok[i] >= 'a' && tok[i] <= 'f')
			forged[i] = (char)(tok[i] - 32);
	ok(token_check(&s, "edge-1", forged, 1500, &why) < 0, "upper-case hex is not the token");
	int64_t issued, expires;
	ok(token_times(tok, &issued, &expires) == 0 && issued == 1000 && expires == 2000, "times");
	ok(token_times("1.2.3.abc", &issued, &expires) < 0, "short MAC");
	ok(token_times("2.1.2.x", &issued, &expires) < 0, "other version");
	ok(token_times("1.99999999999999999999.2.x", &issued, &expires) < 0, "overflow");
	/* other spellings of the same numbers are not the token */
	const char *mac = tok + strlen(tok) - 64;
	const char *const variants[][2] = {
		{ "1.01000.2000.", "" }, { "1.1000.02000.", "" }, { "1.+1000.2000.", "" },
		{ "01.1000.2000.", "" }, { " 1.1000.2000.", "" }, { "1.1000.2000.", " " },
		{ "1.1000.2000.", "\n" }, { "1.1000.2000.", "." }, { "1.1000.2000.", "x" },
	};
	for (size_t i = 0; i < sizeof variants / sizeof *variants; i++) {
		snprintf(forged, sizeof forged, "%s%s%s", variants[i][0], mac, variants[i][1]);
		ok(token_check(&s, "edge-1", forged, 1500, &why) < 0 && !strcmp(why, "bad token") &&
		   token_times(forged, &issued, &expires) < 0, "not the token: %s", t_show(forged));
	}
}

static int by_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_sorted(void)
{
	/* names that tie on their first 8 and 16 bytes, prefixes of each
	 * other, and bytes above 0x7f (the table does not check names) */
	static const char *const names[] = {
		"edge-10", "edge-2", "edge-1", "a", "edge-100000", "b", "aaaaaaaaaaaaaaaaZ",
		"aaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaaA", "aaaaaaaaaaaaaaab", "aaaaaaaa", "aaaaaaaa\xc3",
		"aaaaaaa", "Z", "edge-1.sh", "edge-1-", "aaaaaaaaaaaaaaaaZZ",
	};
	size_t nn = sizeof names / sizeof *names;
	struct registry r;
	reg_init(&r);
	for (size_t i = 0; i < nn; i++)
		reg_add(&r, names[i])->present = i % 3 != 0;
	const char *want[32];
	size_t nw = 0;
	for (size_t i = 0; i < nn; i++)
		want[nw++] = names[i];
	qsort(want, nw, sizeof *want, by_strcmp);
	size_t k;
	struct node **v = reg_sorted(&r, false, &k);
	int right = k == nn;
	for (size_t i = 0; right && i < k; i++)
		right = !strcmp(v[i]->name, want[i]);
	ok(right, "reg_sorted orders every entry as strcmp does");
	free(v);
	v = reg_sorted(&r, true, &k);
	right = k == nn - (nn + 2) / 3;
	for (size_t i = 1; right && i < k; i++)
		right = v[i]->present && strcmp(v[i - 1]->name, v[i]->name) < 0;
	ok(right, "and only the present ones when asked (%zu)", k);
	free(v);
	reg_free(&r);
}

/* the stored form loads back into the same record, escapes and all */
static void test_load(void)
{
	static const char *const recs[] = {
		"{\"node\":\"e1\",\"addr\":\"a\\\"b\\u00e9\",\"region\":\"sh\",\"zone\":\"\","
		"\"labels\":{\"k\\n\":\"v\"},\"capacity\":{\"cpu\":0.25,\"mem_mb\":4096,"
		"\"disk_mb\":1e3},\"load\":{\"cpu\":1.5},\"services\":[{\"name\":\"m\",\"port\":1}],"
		"\"cost\":0.02,\"cordoned\":true,\"joined\":1,\"last_seen\":2,\"revoked\":3}",
		"{\"node\":\"e2\",\"addr\":\"\",\"region\":\"\",\"zone\":\"z\",\"labels\":{},"
		"\"capacity\":{\"cpu\":0,\"mem_mb\":0,\"disk_mb\":0},\"load\":{},\"services\":[],"
		"\"cost\":0.03,\"cordoned\":false,\"joined\":5,\"last_seen\":6}",
		"{\"node\":\"e3\",\"revoked\":9}",
	};
	static const char *const want[] = {
		"{\"node\":\"e1\",\"addr\":\"a\\\"b\xc3\xa9\",\"region\":\"sh\",\"zone\":\"\","
		"\"labels\":{\"k\\n\":\"v\"},\"capacity\":{\"cpu\":0.25,\"mem_mb\":4096,"
		"\"disk_mb\":1000},\"load\":{\"cpu\":1.5},\"services\":[{\"name\":\"m\",\"port\":1}],"
		"\"cost\":0.02,\"cordoned\":true,\"joined\":1,\"last_seen\":2,\"revoked\":3}",
		NULL,
		NULL,
	};
	struct registry r;
	reg_init(&r);
	struct json_doc d;
	json_doc_init(&d);
	struct buf b = BUF_INIT;
	/* twice: the second pass formats the costs again, from memory */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < sizeof recs / sizeof *recs; i++) {
			ok(json_parse(&d, recs[i], strlen(recs[i]), &(struct json_error){ 0 }) == 0 &&
			   node_load_json(&r, &d, 0) == 0, "record %zu loads", i);
			char name[4] = { 'e', (char)('1' + i), 0, 0 };
			buf_reset(&b);
			node_store_json(&b, reg_get(&r, name), -1);
			is_str(b.data, want[i] ? want[i] : recs[i], "and stores the same (pass %d)", pass);
		}
	}
	static const char *const bad[] = {
		"{\"node\":\"e1\",\"addr\":1,\"joined\":1}",
		"{\"node\":\"e1\",\"labels\":[],\"joined\":1}",
		"{\"node\":\"e1\",\"capacity\":{\"cpu\":\"4\"},\"joined\":1}",
		"{\"node\":\"e 1\",\"joined\":1}",
		"{\"node\":\"e1\"}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		ok(json_parse(&d, bad[i], strlen(bad[i]), &(struct json_error){ 0 }) == 0 &&
		   node_load_json(&r, &d, 0) < 0, "malformed record %zu refused", i);
	buf_reset(&b);
	node_store_json(&b, reg_get(&r, "e1"), -1);
	is_str(b.data, want[0], "and the node is unchanged");
	json_doc_free(&d);
	buf_free(&b);
	reg_free(&r);
}

int main(void)
{
	test_names();
	test_ops();
	test_table();
	test_sorted();
	test_load();
	test_apply();
	test_tokens();
	return done_testing();
}
