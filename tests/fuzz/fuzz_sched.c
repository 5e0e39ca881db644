/*
 * fuzz_sched: cce-sched's parsing and placement under libFuzzer.
 *
 * The input's first byte picks the strategy and --preempt/--batch/
 * --reschedule; then come node lines and --state lines (objects with a
 * "task" key), a line "--", and task lines. Every line goes through the
 * record parsers (bad ones are skipped, as the tool does) and the tasks are
 * placed twice, with the index and by scoring every node. Checks:
 * - nothing crashes, leaks or reads out of bounds (ASan, UBSan);
 * - both runs write the same bytes (the index is exact);
 * - without state lines (which may overcommit on purpose), no ready node
 *   ends over capacity.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cce-sched/sched.h"

static size_t run(const uint8_t *data, size_t size, bool exhaustive, char **outp)
{
	int fd = memfd_create("fuzz-sched", 0);
	if (fd < 0)
		abort();
	struct out o;
	struct sched s;
	out_init(&o, fd, false);
	sched_init(&s, &o);
	s.strategy = data[0] % NSTRAT;
	s.preempt = data[0] & 0x10;
	s.batch = data[0] & 0x20;
	s.exhaustive = exhaustive;
	struct json_doc d;
	struct json_error e;
	char err[256];
	json_doc_init(&d);
	const char *p = (const char *)data + 1, *end = (const char *)data + size;
	bool tasks = false, state = false;
	int *order = NULL, n = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (len == 2 && !memcmp(p, "--", 2) && !tasks) {
			tasks = true;
			sched_ready(&s);
			s.batch_total = s.hashed;
			if ((data[0] & 0x40) && !s.batch)
				sched_reschedule(&s);
		} else if (json_parse(&d, p, len, &e) == 0 && json_type_of(&d, 0) == JSON_OBJECT) {
			int ti;
			if (!tasks && json_get(&d, 0, "task") >= 0) {
				if (sched_add_state(&s, &d, err, sizeof err) == 0)
					state = true;
			} else if (!tasks) {
				sched_add_node(&s, &d, err, sizeof err);
			} else if (sched_parse_task(&s, &d, false, &ti, err, sizeof err) == 0) {
				if (sched_claim_name(&s, ti, err, sizeof err) < 0)
					sched_drop_task(&s, ti);
				else if (s.batch) {
					order = realloc(order, ((size_t)n + 1) * sizeof *order);
					order[n++] = ti;
					sched_expect(&s, (uint64_t)s.tasks[ti].replicas);
				} else
					sched_place_task(&s, ti);
			}
		}
		p += len + 1;
	}
	if (!tasks) {
		sched_ready(&s);
		s.batch_total = s.hashed;
		if ((data[0] & 0x40) && !s.batch)
			sched_reschedule(&s);
	}
	if (s.batch) {
		/* as cmd/cce-sched.c does */
		sched_batch_prepare(&s, order, n, data[0] & 0x40);
		sched_sort_batch(&s, order, n);
		for (int i = 0; i < n; i++)
			sched_place_task(&s, order[i]);
	}
	free(order);
	for (int i = 0; i < s.nnodes; i++)
		for (int r = 0; r < NRES; r++)
			if (!state && s.nodes[i].st == N_READY && s.nodes[i].alloc[r] > s.nodes[i].cap[r]) {
				fprintf(stderr, "node %s over capacity\n", s.nodes[i].name);
				abort();
			}
	out_flush(&o);
	off_t sz = lseek(fd, 0, SEEK_END);
	*outp = malloc((size_t)sz + 1);
	if (pread(fd, *outp, (size_t)sz, 0) != sz)
		abort();
	close(fd);
	json_doc_free(&d);
	sched_free(&s);
	out_free(&o);
	return (size_t)sz;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 8192)
		return 0;
	char *a, *b;
	size_t na = run(data, size, false, &a), nb = run(data, size, true, &b);
	if (na != nb || memcmp(a, b, na)) {
		fprintf(stderr, "index and score-every-node differ:\n%.*s\n--\n%.*s\n", (int)na, a, (int)nb, b);
		abort();
	}
	free(a);
	free(b);
	return 0;
}
