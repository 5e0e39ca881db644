/*
 * Unit tests of cce-sched's engine (cmd/cce-sched/, linked as parts.a): record
 * parsing, and the index against scoring every node
 * after every single placement, with the heap and treap invariants checked
 * along the way (index_sound).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../cmd/cce-sched/index.h"
#include "../../cmd/cce-sched/place.h"
#include "../../cmd/cce-sched/sched.h"
#include "t.h"

static int parse_into(struct json_doc *d, const char *text)
{
	struct json_error e;
	return json_parse(d, text, strlen(text), &e);
}

static int node_line(struct sched *s, const char *text, char *err, size_t n)
{
	struct json_doc d;
	json_doc_init(&d);
	int r = parse_into(&d, text) < 0 ? -1 : sched_add_node(s, &d, err, n);
	json_doc_free(&d);
	return r;
}

static int add_task(struct sched *s, const char *text, char *err, size_t n)
{
	struct json_doc d;
	int ti = -1;
	json_doc_init(&d);
	if (parse_into(&d, text) < 0 || sched_parse_task(s, &d, false, &ti, err, n) < 0)
		ti = -1;
	else if (sched_claim_name(s, ti, err, n) < 0) {
		sched_drop_task(s, ti);
		ti = -1;
	}
	json_doc_free(&d);
	return ti;
}

static void test_parse(void)
{
	struct out o;
	struct sched s;
	char err[256];
	out_init(&o, -1, false);
	sched_init(&s, &o);
	ok(node_line(&s, "{\"node\":\"a\",\"capacity\":{\"cpu\":1.5,\"mem_mb\":10}}", err, sizeof err) == 0,
	   "a minimal node");
	ok(s.nodes[0].cap[R_CPU] == 1500 && s.nodes[0].cap[R_MEM] == 10000 && s.nodes[0].st == N_READY,
	   "capacity in thousandths, ready by default");
	ok(node_line(&s, "{\"node\":\"a\",\"capacity\":{\"cpu\":1,\"mem_mb\":1}}", err, sizeof err) < 0,
	   "duplicate node refused");
	is_str(err, "node: duplicate node 'a'", "its message");
	ok(node_line(&s, "{\"node\":\"b\",\"capacity\":{\"cpu\":1e13,\"mem_mb\":1}}", err, sizeof err) < 0,
	   "absurd capacity refused");
	is_str(err, "capacity.cpu: value 1e+13 too large", "its message");
	ok(node_line(&s, "{\"node\":\"\",\"capacity\":{\"cpu\":1,\"mem_mb\":1}}", err, sizeof err) < 0,
	   "empty node name refused");
	is_str(err, "node: empty", "its message");

	int ti = add_task(&s, "{\"task\":\"t\",\"cpu\":0.25,\"image\":\"x\",\"replicas\":2,\"n\":[1,2]}",
			  err, sizeof err);
	ok(ti >= 0 && s.tasks[ti].req[R_CPU] == 250 && s.tasks[ti].replicas == 2, "a task");
	ok(ti >= 0 && strcmp(s.tasks[ti].extra, ",\"cpu\":0.25,\"image\":\"x\",\"n\":[1,2]") == 0,
	   "other fields ride along, in order, without task and replicas");
	ok(add_task(&s, "{\"task\":\"t\"}", err, sizeof err) < 0, "duplicate task refused");
	is_str(err, "task: duplicate task 't'", "its message");
	ok(add_task(&s, "{\"task\":\"u\",\"prefer\":[]}", err, sizeof err) < 0, "prefer must be an object");
	is_str(err, "prefer: expected an object, got array", "its message");
	ok(add_task(&s, "{\"task\":\"u\",\"replicas\":-1}", err, sizeof err) < 0, "negative replicas");
	ok(add_task(&s, "{\"task\":\"u\",\"key\":null}", err, sizeof err) < 0, "null key");
	is_str(err, "key: expected a string, got null", "its message");
	ok(add_task(&s, "{\"task\":\"u\",\"selector\":{\"a\":\"1\",\"a\":\"2\"}}", err, sizeof err) >= 0 &&
	   s.tasks[s.ntasks - 1].nselector == 1 && !strcmp(s.tasks[s.ntasks - 1].selector[0].v, "2"),
	   "a repeated selector key: the last wins");
	ok(strategy_from_name("binpack") == S_BINPACK && strategy_from_name("nope") < 0, "strategy names");
	sched_free(&s);
	out_free(&o);
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void test_index(void)
{
	static const char *const zones[] = { "a", "b", "c" };
	static const int cpus[] = { 2, 4, 8 };
	int mismatches = 0, unsound = 0, placements = 0, badnodes = 0;
	for (int round = 0; round < 12; round++) {
		struct out o;
		struct sched s;
		char err[256], text[512];
		out_init(&o, open("/dev/null", O_WRONLY), false);
		sched_init(&s, &o);
		s.seed = (uint64_t)round;
		int st = round % NINDEXED;
		s.strategy = st;
		int nn = 20 + (int)(next() % 60);
		for (int i = 0; i < nn; i++) {
			int c = cpus[next() % 3];
			snprintf(text, sizeof text,
				 "{\"node\":\"n%d\",\"zone\":\"%s\",\"labels\":{\"arch\":\"%s\"},"
				 "\"capacity\":{\"cpu\":%d,\"mem_mb\":%d},\"load\":{\"cpu\":%.1f},"
				 "\"cost\":%d,\"state\":\"%s\"}",
				 i, zones[next() % 3], next() % 2 ? "arm64" : "amd64", c, c * 1024,
				 (double)(next() % 20) / 10, (int)(next() % 3),
				 next() % 10 ? "ready" : "cordoned");
			if (node_line(&s, text, err, sizeof err) < 0)
				badnodes++;
		}
		sched_ready(&s);
		for (int k = 0; k < 300; k++) {
			snprintf(text, sizeof text,
				 "{\"task\":\"t%d\",\"replicas\":%d,\"cpu\":%.2f,\"mem_mb\":%d%s%s}", k,
				 1 + (int)(next() % 3), (double)(next() % 300) / 100, (int)(next() % 2048),
				 next() % 4 ? "" : ",\"selector\":{\"arch\":\"arm64\"}",
				 next() % 4 ? "" : ",\"spread\":\"zone\"");
			int ti = add_task(&s, text, err, sizeof err);
			if (ti < 0)
				continue;
			struct pctx c;
			ctx_init(&s, &c, ti, -1, -1);
			for (int64_t r = 0; r < s.tasks[ti].replicas; r++) {
				ctx_replica(&c, r);
				struct cand a, b;
				s.exhaustive = false;
				int fast = choose(&s, &c, &a);
				s.exhaustive = true;
				int slow = choose(&s, &c, &b);
				mismatches += fast != slow;
				if (fast >= 0) {
					int ri = sched_new_rep(&s, ti, c.tn, r);
					commit(&s, ri, fast);
					ctx_take(&s, &c, fast);
					placements++;
				}
				unsound += !index_sound(&s);
			}
			free(c.zones);
		}
		/* give some back: eviction and rescheduling paths change keys too */
		for (int i = 0; i < s.nreps; i += 3)
			if (s.reps[i].live) {
				uncommit(&s, i);
				s.reps[i].live = false;
			}
		unsound += !index_sound(&s);
		close(o.fd);
		sched_free(&s);
		out_free(&o);
	}
	ok(badnodes == 0, "generated nodes parse");
	ok(placements > 1000, "the random rounds placed %d replicas", placements);
	ok(mismatches == 0, "index and score-every-node agree on every replica (%d differ)", mismatches);
	ok(unsound == 0, "heaps and treaps keep their order and aggregates (%d broken)", unsound);
}

int main(void)
{
	test_parse();
	test_index();
	return done_testing();
}
