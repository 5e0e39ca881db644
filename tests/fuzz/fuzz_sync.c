/*
 * fuzz_sync: cce-sync's manifest parser under libFuzzer.
 *
 * The manifest is the first thing unpack reads from an untrusted stream.
 * For any input: nothing crashes, leaks or reads out of bounds; a manifest
 * accepted under unpack's strict rules has only safe paths and symlinks
 * (path_ok holds for each, and every parent is a directory of it), and
 * writing it back and parsing that again gives the same text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cce-sync/tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct manifest m, again;
	struct limits lim = { .max_size = (uint64_t)1 << 40, .max_files = 10000 };
	char err[512];
	if (manifest_parse((const char *)data, size, true, &lim, &m, err, sizeof err) == 0) {
		for (size_t i = 0; i < m.n; i++) {
			const char *why;
			if (!path_ok(m.e[i].path, &why))
				abort();
			if (m.e[i].type == ENT_SYMLINK && m.e[i].target[0] == '/')
				abort();
		}
		struct buf a = BUF_INIT, b = BUF_INIT;
		manifest_write(&m, &a);
		if (manifest_parse(a.data, a.len, true, &lim, &again, err, sizeof err) != 0)
			abort();
		manifest_write(&again, &b);
		if (a.len != b.len || memcmp(a.data, b.data, a.len))
			abort();
		manifest_free(&again);
		buf_free(&a);
		buf_free(&b);
	}
	manifest_free(&m);
	if (manifest_parse((const char *)data, size, false, NULL, &m, err, sizeof err) == 0) {
		struct ops ops;
		manifest_diff(&m, &m, NULL, &ops, err, sizeof err);
		if (ops.n)
			abort();
		ops_free(&ops);
	}
	manifest_free(&m);
	return 0;
}
