/*
 * test_sync: cce-sync's manifest rules (cmd/cce-sync/tree.c, linked from
 * the tool's parts): which paths and symlinks unpack accepts, the
 * manifest's JSON lines round trip, and diff.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../cmd/cce-sync/tree.h"

#include "t.h"

static const char *H = "0000000000000000000000000000000000000000000000000000000000000000";

/* a manifest from "type path [target]" lines joined by ';' */
static int parse(const char *spec, bool strict, struct manifest *m, char *err, size_t errlen)
{
	struct buf b = BUF_INIT;
	char *s = xstrdup(spec), *save = NULL;
	for (char *t = strtok_r(s, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
		char type[16], path[256], target[256] = "";
		if (sscanf(t, "%15s %255s %255s", type, path, target) < 2)
			continue;
		buf_addf(&b, "{\"path\":\"%s\",\"type\":\"%s\",\"mode\":\"0755\",\"mtime\":1", path, type);
		if (!strcmp(type, "file"))
			buf_addf(&b, ",\"size\":1,\"sha256\":\"%s\"", H);
		if (!strcmp(type, "symlink"))
			buf_addf(&b, ",\"target\":\"%s\"", target);
		buf_adds(&b, "}\n");
	}
	free(s);
	struct limits lim = { .max_size = 1000, .max_files = 100 };
	int r = manifest_parse(b.data, b.len, strict, &lim, m, err, errlen);
	buf_free(&b);
	return r;
}

static void accepts(const char *spec, const char *what)
{
	struct manifest m;
	char err[256] = "";
	int r = parse(spec, true, &m, err, sizeof err);
	ok(r == 0, "accepts %s", what);
	if (r)
		printf("#   %s\n", err);
	manifest_free(&m);
}

static void refuses(const char *spec, const char *why, const char *what)
{
	struct manifest m;
	char err[256] = "";
	int r = parse(spec, true, &m, err, sizeof err);
	ok(r < 0 && strstr(err, why), "refuses %s", what);
	if (!(r < 0 && strstr(err, why)))
		printf("#   err: '%s', want '%s'\n", err, why);
	manifest_free(&m);
}

static void paths(void)
{
	static const struct { const char *p; bool ok; } c[] = {
		{ "a", true }, { "a/b/c", true }, { "..a", true }, { "a..", true }, { ".hidden", true },
		{ "", false }, { "/etc", false }, { "a//b", false }, { "a/", false }, { "./a", false },
		{ "a/./b", false }, { "..", false }, { "../a", false }, { "a/..", false },
		{ "a/../b", false }, { ".cce", false }, { ".cce/x", false }, { ".cce-sync.stage.1", false },
		{ "a/.cce", true }, { ".ccex", true },
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		const char *why;
		ok(path_ok(c[i].p, &why) == c[i].ok, "path '%s' %s", t_show(c[i].p),
		   c[i].ok ? "accepted" : "refused");
	}
}

static void symlinks(void)
{
	accepts("dir d;symlink d/l ../x", "a symlink to a sibling of its directory");
	accepts("symlink l .", "a symlink to the root");
	accepts("dir a;dir a/b;symlink a/b/l ../../c", "climbing exactly to the root");
	accepts("dir d;symlink d/up ..;symlink ok d/up/d", "through an inside symlink");
	refuses("symlink a b;symlink b a", "'a' -> 'b' leads into a symlink loop: Too many levels of symbolic links",
		"a loop, as a loop");
	refuses("dir d;symlink l d/../l", "'l' -> 'd/../l' leads into a symlink loop", "a link to itself");
	refuses("symlink a l1;symlink l1 l2;symlink l2 l1", "'a' -> 'l1' leads into a symlink loop",
		"a link into a loop");
	{
		/* 40 links in a row resolve, as the kernel follows 40; 41 do not */
		struct buf chain = BUF_INIT;
		for (int i = 0; i < 40; i++)
			buf_addf(&chain, ";symlink l%02d l%02d", i, i + 1);
		buf_adds(&chain, ";file l40");
		struct buf spec = BUF_INIT;
		buf_addf(&spec, "dir d%s", chain.data);
		accepts(spec.data, "40 links in a row");
		buf_reset(&spec);
		buf_addf(&spec, "symlink k l00%s", chain.data);
		refuses(spec.data, "'k' -> 'l00': Too many levels of symbolic links", "41 links in a row");
		buf_free(&spec);
		buf_free(&chain);
	}
	refuses("symlink l ..", "points outside", "'..'");
	refuses("symlink l /etc", "points outside", "an absolute target");
	refuses("dir a;symlink a/l ../..", "points outside", "two levels up from depth one");
	refuses("dir d;symlink d/up ..;symlink esc d/up/..", "'esc' -> 'd/up/..' points outside",
		"an escape in two steps that reads as inside");
	refuses("symlink a b/../..", "points outside", "'..' after a plain name");
	refuses("dir d;symlink d/s ../t;symlink t ..", "points outside", "a chain that ends outside");
	refuses("symlink l x;file l/f", "no parent directory", "a file under a symlink");
}

static void rules(void)
{
	accepts("dir a;file a/f;file b", "a plain tree");
	refuses("file a;file a", "names 'a' twice", "a path twice");
	refuses("file b;file a", "not sorted", "an unsorted manifest");
	refuses("file a/b", "no parent directory", "a missing parent");
	refuses("file a;file a/b", "no parent directory", "a file as a parent");
	refuses("file ../x", "'..' component", "traversal");
	refuses("file /x", "absolute path", "an absolute path");
	refuses("file .cce/manifest.jsonl", "reserved name", "the stream's own metadata");

	struct manifest m;
	char err[256];
	struct limits lim = { 100, 1 };
	const char *two = "{\"path\":\"a\",\"type\":\"dir\",\"mode\":\"0755\",\"mtime\":1}\n"
			  "{\"path\":\"b\",\"type\":\"dir\",\"mode\":\"0755\",\"mtime\":1}\n";
	ok(manifest_parse(two, strlen(two), true, &lim, &m, err, sizeof err) < 0 &&
	   strstr(err, "--max-files"), "--max-files");
	manifest_free(&m);
	const char *su = "{\"path\":\"a\",\"type\":\"file\",\"size\":1,\"mode\":\"4755\",\"mtime\":1,"
			 "\"sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\"}\n";
	ok(manifest_parse(su, strlen(su), true, NULL, &m, err, sizeof err) < 0 && strstr(err, "setuid"),
	   "setuid refused when strict");
	manifest_free(&m);
	ok(manifest_parse(su, strlen(su), false, NULL, &m, err, sizeof err) == 0 && m.e[0].mode == 04755,
	   "setuid read as is when not strict");
	manifest_free(&m);
	static const char *const bad[] = {
		"{\"path\":\"a\",\"type\":\"fifo\",\"mode\":\"0644\",\"mtime\":1}",
		"{\"path\":\"a\",\"type\":\"dir\",\"mode\":\"0999\",\"mtime\":1}",
		"{\"path\":\"a\",\"type\":\"dir\",\"mode\":\"0644\",\"mtime\":1.5}",
		"{\"path\":\"a\",\"type\":\"file\",\"mode\":\"0644\",\"mtime\":1,\"size\":-1,\"sha256\":\"00\"}",
		"{\"path\":\"a\\u0000b\",\"type\":\"dir\",\"mode\":\"0644\",\"mtime\":1}",
		"{\"path\":\"a\",\"type\":\"symlink\",\"mode\":\"0777\",\"mtime\":1}",
		"[1]",
		"{\"path\":\"a\",",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ok(manifest_parse(bad[i], strlen(bad[i]), true, NULL, &m, err, sizeof err) < 0,
		   "malformed entry %zu refused (%s)", i, err);
		manifest_free(&m);
	}
}

static void round_trip_and_diff(void)
{
	struct manifest a, b;
	char err[256];
	const char *text =
		"{\"path\":\"a b\",\"type\":\"file\",\"size\":3,\"mode\":\"0640\",\"mtime\":-5,\"sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\"}\n"
		"{\"path\":\"d\",\"type\":\"dir\",\"mode\":\"0755\",\"mtime\":7}\n"
		"{\"path\":\"d/\xc3\xa9\\\"q\",\"type\":\"symlink\",\"mode\":\"0777\",\"mtime\":8,\"target\":\"../a b\"}\n";
	ok(manifest_parse(text, strlen(text), true, NULL, &a, err, sizeof err) == 0, "parses (%s)", err);
	struct buf out = BUF_INIT;
	manifest_write(&a, &out);
	is_str(out.data, text, "writes back the same text");
	buf_free(&out);
	const char *text2 =
		"{\"path\":\"a b\",\"type\":\"file\",\"size\":3,\"mode\":\"0600\",\"mtime\":-5,\"sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\"}\n"
		"{\"path\":\"d\",\"type\":\"dir\",\"mode\":\"0755\",\"mtime\":7}\n"
		"{\"path\":\"d/\\u00e9\\\"q\",\"type\":\"symlink\",\"mode\":\"0777\",\"mtime\":8,\"target\":\"../c\"}\n"
		"{\"path\":\"e\",\"type\":\"file\",\"size\":0,\"mode\":\"0644\",\"mtime\":1,\"sha256\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"}\n";
	ok(manifest_parse(text2, strlen(text2), true, NULL, &b, err, sizeof err) == 0, "parses the new one");
	struct ops ops;
	manifest_diff(&a, &b, NULL, &ops, err, sizeof err);
	struct buf d = BUF_INIT;
	for (size_t i = 0; i < ops.n; i++) {
		op_json(&ops.o[i], &d);
		buf_addc(&d, '\n');
	}
	is_str(d.data,
	       "{\"op\":\"meta\",\"path\":\"a b\",\"mode\":\"0600\",\"mtime\":-5}\n"
	       "{\"op\":\"modify\",\"path\":\"d/\xc3\xa9\\\"q\"}\n"
	       "{\"op\":\"add\",\"path\":\"e\",\"size\":0,\"sha256\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"}\n",
	       "diff: meta, modify, add");
	ops_free(&ops);
	manifest_diff(&b, &a, NULL, &ops, err, sizeof err);
	ok(ops.n == 3 && ops.o[2].kind == OP_DELETE, "diff back: a delete");
	ops_free(&ops);
	buf_free(&d);
	manifest_free(&a);
	manifest_free(&b);
}

int main(void)
{
	paths();
	symlinks();
	rules();
	round_trip_and_diff();
	return done_testing();
}
