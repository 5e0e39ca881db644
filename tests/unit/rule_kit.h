/*
 * rule_kit.h: cce-rule's engine, whole, for the unit tests of its rule
 * kinds (tests/unit/test_rule_KIND.c).
 *
 * The tool's parts are included (unit tests link only lib/). kit_start
 * loads rules from JSON text and starts an engine writing to a temporary
 * file; kit_feed gives it one record; kit_out returns what it wrote since
 * the last call. kit_rule finds a rule by name, to look into its keys.
 */
#ifndef CCE_RULE_KIT_H
#define CCE_RULE_KIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../cmd/cce-rule/fast.c"
#include "../../lib/jqx.c"
#include "../../cmd/cce-rule/rule.c"
#include "../../cmd/cce-rule/keys.c"
#include "../../cmd/cce-rule/eval.c"
#include "../../cmd/cce-rule/engine.c"
#include "../../cmd/cce-rule/checkpoint.c"
#include "../../cmd/cce-rule/threshold.c"
#include "../../cmd/cce-rule/count.c"
#include "../../cmd/cce-rule/window.c"
#include "../../cmd/cce-rule/anomaly.c"
#include "../../cmd/cce-rule/context.c"
#include "../../cmd/cce-rule/entropy.c"
#include "../../cmd/cce-rule/deadman.c"
#include "../../cmd/cce-rule/predict.c"
#include "t.h"

struct kit {
	struct engine *e;
	struct out out;
	FILE *f;
	struct json_doc doc;
	struct buf got;
	char dir[64];
	/* engines restored from this one's state: they live as long as it
	 * does, since freeing an engine frees the fast paths of all */
	struct kit *twins[8];
	int ntwins;
};

static inline void kit_path(struct kit *k, const char *name, char *path, size_t len)
{
	snprintf(path, len, "%s/%s", k->dir, name);
}

/* Rules from JSON text (an array of rule objects); NULL when they do not
 * load. */
static inline struct engine *kit_start(struct kit *k, const char *rules)
{
	memset(k, 0, sizeof *k);
	snprintf(k->dir, sizeof k->dir, "/tmp/cce-unit-rule.XXXXXX");
	if (!mkdtemp(k->dir))
		return NULL;
	char path[128];
	kit_path(k, "rules.json", path, sizeof path);
	FILE *rf = fopen(path, "w");
	fputs(rules, rf);
	fclose(rf);
	struct ruleset rs = { 0 };
	char *files[] = { path };
	if (rules_load(files, 1, 100000, &rs) < 0)
		return NULL;
	k->f = tmpfile();
	out_init(&k->out, fileno(k->f), false);
	struct engine_opts o = { .time_src = ".ts", .eval_timeout = 1000,
				 .eval_memory = 64 << 20, .max_overruns = 3, .out = &k->out };
	char err[256];
	k->e = engine_new(&rs, &o, err, sizeof err);
	json_doc_init(&k->doc);
	buf_init(&k->got);
	return k->e;
}

static inline void kit_feed(struct kit *k, const char *rec)
{
	struct jsonl_line line = { .data = rec, .len = strlen(rec), .raw = rec,
				   .raw_len = strlen(rec), .source = "test", .lineno = 1 };
	if (json_parse(&k->doc, rec, strlen(rec), NULL) < 0) {
		ok(0, "test record is JSON: %s", rec);
		return;
	}
	engine_record(k->e, &line, &k->doc);
}

/* What the engine wrote since the last call ("" for nothing). */
static inline const char *kit_out(struct kit *k)
{
	out_flush(&k->out);
	buf_reset(&k->got);
	fseek(k->f, 0, SEEK_SET);
	char b[4096];
	size_t n;
	while ((n = fread(b, 1, sizeof b, k->f)) > 0)
		buf_add(&k->got, b, n);
	buf_addc(&k->got, 0);
	if (ftruncate(fileno(k->f), 0) < 0)
		return "";
	lseek(fileno(k->f), 0, SEEK_SET);
	fseek(k->f, 0, SEEK_SET);
	return k->got.data;
}

/* How many times s occurs in what the engine wrote last. */
static inline int kit_count(const char *out, const char *s)
{
	int n = 0;
	for (const char *p = out; (p = strstr(p, s)); p += strlen(s))
		n++;
	return n;
}

static inline struct rule *kit_rule(struct kit *k, const char *name)
{
	for (int i = 0; i < k->e->rs.n; i++)
		if (strcmp(k->e->rs.r[i]->name, name) == 0)
			return k->e->rs.r[i];
	return NULL;
}

static inline struct kstate *kit_key(struct kit *k, const char *rule, const char *key)
{
	return kmap_get(&kit_rule(k, rule)->rt->keys, key, strlen(key), false);
}

/* The engine's state file as text (saved into the kit's directory). */
static inline char *kit_state(struct kit *k, const char *name)
{
	char path[128], err[256];
	kit_path(k, name, path, sizeof path);
	if (engine_save(k->e, path, err, sizeof err) < 0)
		return NULL;
	struct buf b;
	buf_init(&b);
	fs_read_file(path, 1 << 20, &b, err, sizeof err);
	buf_addc(&b, 0);
	return buf_detach(&b, NULL);
}

/* A key's extras [wstart,wlast,head,em,ev,seen,cap,[ts..],..] save the
 * capacity of their arrays, which a restore makes as long as the entries
 * it reads: the capacity (the number before the second ",[" of a key's
 * line) is blanked in both texts before they are compared. */
static inline void kit_blank_cap(char *s)
{
	for (char *l = strstr(s, "\n["); l; l = strstr(l + 1, "\n[")) {
		char *x = strstr(l + 2, ",[");
		char *ts = x ? strstr(x + 2, ",[") : NULL;
		char *nl = strchr(l + 1, '\n');
		if (!ts || (nl && ts > nl))
			continue;
		for (char *p = ts - 1; p > x && *p >= '0' && *p <= '9'; p--)
			*p = 'C';
	}
}

/* A second engine of the same rules restored from k's state: its own state
 * must be the same (what each kind saves, it takes back). */
static inline int kit_roundtrip(struct kit *k, const char *rules)
{
	char *before = kit_state(k, "a.state");
	if (k->ntwins == 8)
		return -1;
	struct kit *k2 = xcalloc(1, sizeof *k2);
	k->twins[k->ntwins++] = k2;
	if (!kit_start(k2, rules))
		return -1;
	char path[128], err[256];
	kit_path(k, "a.state", path, sizeof path);
	int rc = engine_restore(k2->e, path, err, sizeof err);
	char *after = kit_state(k2, "b.state");
	if (before && after) {
		kit_blank_cap(before);
		kit_blank_cap(after);
	}
	int same = rc == 0 && before && after && strcmp(before, after) == 0;
	if (!same)
		printf("#   before: %s\n#   after: %s\n", before, after);
	free(before);
	free(after);
	return same;
}

static inline void kit_stop(struct kit *k)
{
	for (int i = 0; i < k->ntwins; i++) {
		kit_stop(k->twins[i]);
		free(k->twins[i]);
	}
	engine_free(k->e);
	out_free(&k->out);
	fclose(k->f);
	json_doc_free(&k->doc);
	buf_free(&k->got);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", k->dir);
	if (system(cmd) != 0)
		printf("# cannot remove %s\n", k->dir);
}

#endif
