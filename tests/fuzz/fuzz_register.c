/*
 * libFuzzer harness for cce-register's record handling: every input is
 * taken as an op record (op_parse, then reg_apply against a table that
 * lives across inputs) and as a stored node record (node_load_json, then
 * written back and loaded again, which must give the same text).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "cce-register/registry.h"

static struct registry reg;
static int ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ready) {
		reg_init(&reg);
		ready = 1;
	}
	if (reg.count > 10000) { /* keep memory bounded across inputs */
		reg_free(&reg);
		reg_init(&reg);
	}
	struct json_doc d;
	json_doc_init(&d);
	struct json_error je;
	if (json_parse(&d, (const char *)data, size, &je) == 0) {
		struct op op;
		char why[160];
		if (op_parse(&d, size, &op, why, sizeof why) == 0) {
			reg_apply(&reg, &op, 1700000000000, why, sizeof why);
			op_free(&op);
		} else if (!why[0]) {
			abort(); /* a refusal always says why */
		}
		struct registry r;
		reg_init(&r);
		if (node_load_json(&r, &d, 0) == 0) {
			struct node *n;
			REG_FOREACH(&r, i, n) {
				struct buf a = BUF_INIT, b = BUF_INIT;
				node_store_json(&a, n, -1);
				struct json_doc d2;
				json_doc_init(&d2);
				struct registry r2;
				reg_init(&r2);
				if (json_parse(&d2, a.data, a.len, &je) < 0 || node_load_json(&r2, &d2, 0) < 0)
					abort(); /* what we write we can read */
				node_store_json(&b, reg_get(&r2, n->name), -1);
				if (a.len != b.len || memcmp(a.data, b.data, a.len))
					abort();
				reg_free(&r2);
				json_doc_free(&d2);
				buf_free(&a);
				buf_free(&b);
			}
		}
		reg_free(&r);
	}
	json_doc_free(&d);
	return 0;
}
