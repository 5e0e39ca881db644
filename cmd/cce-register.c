/*
 * cce-register: the fleet's node registry, on a file store or on etcd.
 * See man/cce-register.1. The store is behind cce-register/store.h; the
 * node table and ops in cce-register/registry.h; tokens in token.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "hash.h"
#include "opts.h"
#include "sig.h"
#include "timeutil.h"
#include "tool.h"

#include "cce-register/apply.h"
#include "cce-register/local.h"
#include "cce-register/registry.h"
#include "cce-register/store.h"
#include "cce-register/token.h"

static const char synopsis[] =
	"usage: cce-register [--store URL] init [--secret FILE]\n"
	"       cce-register [--store URL] token NODE... [--ttl DUR]\n"
	"       cce-register [--store URL] revoke NODE...\n"
	"       cce-register [--store URL] apply [-v] [FILE...]\n"
	"       cce-register [--store URL] join|heartbeat|leave|cordon|uncordon NODE [fields...] [--print]\n"
	"       cce-register [--store URL] list [--alive|--all] [--selector k=v,...] [--region R] [--service NAME] [-o json|addr|text]\n"
	"       cce-register [--store URL] expire [--ttl DUR]\n"
	"       cce-register [--store URL] watch [-v]\n"
	"       cce-register [--store URL] compact\n";

/* The subcommands, in the order of their bits in the option rows. */
enum {
	INIT, TOKEN, REVOKE, APPLY, JOIN, HEARTBEAT, LEAVE, CORDON, UNCORDON, LIST, EXPIRE, WATCH,
	COMPACT,
};

enum {
	OPT_STORE = CLI_OPT_TOOL, OPT_CACERT, OPT_CERT, OPT_KEY, OPT_SECRET, OPT_TTL, OPT_VERBOSE,
	OPT_TOKEN, OPT_TOKEN_FILE, OPT_ADDR, OPT_REGION, OPT_ZONE, OPT_LABEL, OPT_CPU, OPT_MEM,
	OPT_DISK, OPT_NET, OPT_COST, OPT_SERVICE, OPT_LOAD, OPT_TASKS, OPT_FORCE, OPT_PRINT,
	OPT_ALIVE, OPT_ALL, OPT_SELECTOR, OPT_OUTPUT,
};

#define IN(c) (1u << (c))
/* the store's options and --ttl (a token's lifetime, the liveness of the
 * store's nodes and leases) apply to every subcommand: 0 */
#define NODE_OP (IN(JOIN) | IN(HEARTBEAT) | IN(LEAVE) | IN(CORDON) | IN(UNCORDON))
static const struct opt options[] = {
	{ OPT_STORE, 's', "store", "URL", "file:PATH, etcd://HOST:PORT[,...]/PREFIX or etcds://...", 0 },
	{ OPT_CACERT, 0, "cacert", "FILE", "CA certificate for etcds://", 0 },
	{ OPT_CERT, 0, "cert", "FILE", "client certificate for etcds://", 0 },
	{ OPT_KEY, 0, "key", "FILE", "client key for etcds://", 0 },
	{ OPT_SECRET, 0, "secret", "FILE", "the cluster secret (default $CCE_HOME/secret)",
	  IN(INIT) | IN(TOKEN) | IN(APPLY) | IN(JOIN) | IN(HEARTBEAT) | IN(LEAVE) },
	{ OPT_TTL, 0, "ttl", "DUR", "liveness ttl (default 30s); for token, its lifetime (default 30d)",
	  0 },
	{ OPT_VERBOSE, 'v', "verbose", NULL, "heartbeat events too (apply, watch)",
	  IN(APPLY) | IN(WATCH) },
	{ OPT_TOKEN, 0, "token", "T", "the node's token", NODE_OP },
	{ OPT_TOKEN_FILE, 0, "token-file", "F", "read the node's token from F", NODE_OP },
	{ OPT_ADDR, 0, "addr", "ADDR", "the node's address", IN(JOIN) },
	{ OPT_REGION, 0, "region", "R", "the node's region (list: only nodes in R)",
	  IN(JOIN) | IN(LIST) },
	{ OPT_ZONE, 0, "zone", "Z", "the node's zone", IN(JOIN) },
	{ OPT_LABEL, 0, "label", "K=V", "a label (repeatable)", IN(JOIN) },
	{ OPT_CPU, 0, "cpu", "N", "capacity: cpus", IN(JOIN) },
	{ OPT_MEM, 0, "mem-mb", "N", "capacity: memory in MiB", IN(JOIN) },
	{ OPT_DISK, 0, "disk-mb", "N", "capacity: disk in MiB", IN(JOIN) },
	{ OPT_NET, 0, "net-mbps", "N", "capacity: the node's link in Mbit/s", IN(JOIN) },
	{ OPT_COST, 0, "cost", "N", "cost per hour", IN(JOIN) },
	{ OPT_SERVICE, 0, "service", "S",
	  "join: NAME:PORT offered (repeatable); list: only nodes offering NAME", IN(JOIN) | IN(LIST) },
	{ OPT_LOAD, 0, "load", "L", "heartbeat: auto (from /proc) or k=N,...",
	  IN(JOIN) | IN(HEARTBEAT) },
	{ OPT_TASKS, 0, "tasks", "FILE",
	  "heartbeat: the units' summaries from cce-task status lines (-: stdin)", IN(HEARTBEAT) },
	{ OPT_FORCE, 0, "force", NULL, "leave without a token (operator)", IN(LEAVE) },
	{ OPT_PRINT, 0, "print", NULL, "print the op record instead of applying it", NODE_OP },
	{ OPT_ALIVE, 0, "alive", NULL, "list: ready nodes only", IN(LIST) },
	{ OPT_ALL, 0, "all", NULL, "list: dead nodes too", IN(LIST) },
	{ OPT_SELECTOR, 0, "selector", "K=V,..", "list: nodes with these labels", IN(LIST) },
	{ OPT_OUTPUT, 'o', "output", "FMT", "list: json (default), addr or text", IN(LIST) },
};
#define NOPTIONS (sizeof options / sizeof options[0])

#define MAX_REPEAT 64

static struct {
	struct tool t;
	const char *store_url, *secret_path, *token, *token_file, *load, *selector, *output;
	struct store_opts so;
	bool ttl_set, force, print, alive, all;
	int64_t ttl;
	/* op fields from options */
	const char *addr, *region, *zone, *cpu, *mem, *disk, *net, *cost, *tasks;
	const char *labels[MAX_REPEAT], *services[MAX_REPEAT];
	int nlabels, nservices;
	char home[4096], secret_buf[4200], store_buf[4200];
	/* apply */
	struct store *store;
	struct secret secret;
	bool have_secret;
	struct applier ap;
} g;

/* $CCE_HOME ready in g.home: 0, or the exit code (reported once) */
static int need_home(void)
{
	static int status = -1;
	if (status < 0)
		status = tool_home(g.home, sizeof g.home);
	return status;
}

/* NULL when the home is needed and cannot be used: need_home() says why */
static const char *secret_path(void)
{
	if (g.secret_path)
		return g.secret_path;
	if (need_home())
		return NULL;
	snprintf(g.secret_buf, sizeof g.secret_buf, "%s/secret", g.home);
	return g.secret_buf;
}

static int load_secret(void)
{
	const char *p = secret_path();
	char err[512];
	if (!p)
		return need_home();
	if (secret_load(p, &g.secret, err, sizeof err) < 0) {
		diag_error("cannot read the cluster secret: %s", err);
		return CCE_EX_IOERR;
	}
	g.have_secret = true;
	return 0;
}

static int open_store(void)
{
	const char *url = g.store_url ? g.store_url : getenv("CCE_STORE");
	if (!url || !*url) {
		int r = need_home();
		if (r)
			return r;
		snprintf(g.store_buf, sizeof g.store_buf, "file:%s/registry", g.home);
		url = g.store_buf;
	}
	char err[512];
	g.store = store_open(url, &g.so, err, sizeof err);
	if (!g.store)
		return diag_usage("%s", err);
	return 0;
}

/* ---- tokens */

static int verify(void *arg, struct node *n, const struct op *op, int64_t now, const char **why)
{
	if (!op->token) {
		*why = "missing token";
		return -1;
	}
	int64_t issued, expires;
	unsigned char mac[32];
	size_t len = strlen(op->token);
	bool parsed = token_times(op->token, &issued, &expires) == 0 &&
		      hex_decode(op->token + len - 64, 64, mac, sizeof mac) == 0;
	if (n && n->tok_ok && parsed && issued == n->tok_issued && expires == n->tok_expires &&
	    !memcmp(mac, n->tok_mac, sizeof mac)) {
		/* the very token found valid before: only time can void it */
		if (expires <= now) {
			*why = "expired token";
			return -1;
		}
		return 0;
	}
	if (token_check(&g.secret, op->name, op->token, now, why) < 0)
		return -1;
	if (n && parsed) {
		n->tok_ok = true;
		n->tok_issued = issued;
		n->tok_expires = expires;
		memcpy(n->tok_mac, mac, sizeof mac);
	}
	return 0;
}

static int cmd_token(const char *sub, char **names, int n)
{
	if (!n)
		return diag_usage("token needs at least one NODE");
	int r = load_secret();
	if (r)
		return r;
	int64_t now = time_now_ms();
	int64_t ttl = g.ttl_set ? g.ttl : (int64_t)30 * 86400 * 1000;
	for (int i = 0; i < n; i++)
		if (!name_valid(names[i], strlen(names[i])))
			return diag_usage("bad node name '%s' (1-63 of A-Z a-z 0-9 . _ -)", names[i]);
	struct buf b = BUF_INIT;
	for (int i = 0; i < n; i++) {
		char tok[TOKEN_MAX];
		token_make(&g.secret, names[i], now, now + ttl, tok);
		buf_reset(&b);
		buf_addf(&b, "{\"node\":\"%s\",\"token\":\"%s\",\"expires\":%" PRId64 "}", names[i], tok,
			 now + ttl);
		out_line(&g.t.out, b.data, b.len);
	}
	buf_free(&b);
	return 0;
}

/* ---- apply */

static int cmd_apply(const char *sub, char **files, int nfiles)
{
	int r = load_secret();
	if (r)
		return r;
	if ((r = open_store()))
		return r;
	g.ap.store = g.store;
	return applier_run(&g.ap, files, nfiles);
}

/* ---- the single-op subcommands */

static int read_token_file(const char *path, char **out)
{
	struct buf b = BUF_INIT;
	char err[512];
	if (fs_read_file(path, 4096, &b, err, sizeof err) < 0) {
		diag_error("%s", err);
		buf_free(&b);
		return CCE_EX_IOERR;
	}
	while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r' ||
			 b.data[b.len - 1] == ' '))
		b.data[--b.len] = 0;
	*out = buf_detach(&b, NULL);
	return 0;
}

static int add_num_opt(struct buf *b, const char *key, const char *opt, const char *val)
{
	double v;
	char err[256];
	if (cli_number(opt, val, 0, 1e15, &v, err, sizeof err) < 0)
		return diag_usage("%s", err);
	buf_addf(b, ",\"%s\":", key);
	buf_add_double(b, v);
	return 0;
}

/* The join op's own fields: addr, region, zone, labels, capacity, cost,
 * services. */
static int add_join_fields(struct buf *b)
{
	int r;
	const char *strs[][2] = { { "addr", g.addr }, { "region", g.region }, { "zone", g.zone } };
	for (size_t i = 0; i < 3; i++)
		if (strs[i][1]) {
			buf_addf(b, ",\"%s\":", strs[i][0]);
			buf_add_json_str(b, strs[i][1], strlen(strs[i][1]));
		}
	if (g.nlabels) {
		buf_adds(b, ",\"labels\":{");
		for (int i = 0; i < g.nlabels; i++) {
			const char *eq = strchr(g.labels[i], '=');
			if (!eq || eq == g.labels[i])
				return diag_usage("--label: expected KEY=VALUE, not '%s'", g.labels[i]);
			if (i)
				buf_addc(b, ',');
			buf_add_json_str(b, g.labels[i], (size_t)(eq - g.labels[i]));
			buf_addc(b, ':');
			buf_add_json_str(b, eq + 1, strlen(eq + 1));
		}
		buf_addc(b, '}');
	}
	if (g.cpu || g.mem || g.disk || g.net) {
		buf_adds(b, ",\"capacity\":{\"_\":0");
		if ((g.cpu && (r = add_num_opt(b, "cpu", "--cpu", g.cpu))) ||
		    (g.mem && (r = add_num_opt(b, "mem_mb", "--mem-mb", g.mem))) ||
		    (g.disk && (r = add_num_opt(b, "disk_mb", "--disk-mb", g.disk))) ||
		    (g.net && (r = add_num_opt(b, "net_mbps", "--net-mbps", g.net))))
			return r;
		buf_addc(b, '}');
		/* drop the placeholder that spared a comma test */
		char *p = strstr(b->data, "{\"_\":0,");
		if (p)
			memmove(p + 1, p + 7, strlen(p + 7) + 1), b->len -= 6;
	}
	if (g.cost && (r = add_num_opt(b, "cost", "--cost", g.cost)))
		return r;
	if (g.nservices) {
		buf_adds(b, ",\"services\":[");
		for (int i = 0; i < g.nservices; i++) {
			const char *c = strrchr(g.services[i], ':');
			uint64_t port;
			char err[256];
			if (!c || c == g.services[i])
				return diag_usage("--service: expected NAME:PORT, not '%s'",
						  g.services[i]);
			if (cli_uint("--service", c + 1, 1, 65535, &port, err, sizeof err) < 0)
				return diag_usage("%s", err);
			if (i)
				buf_addc(b, ',');
			buf_adds(b, "{\"name\":");
			buf_add_json_str(b, g.services[i], (size_t)(c - g.services[i]));
			buf_addf(b, ",\"port\":%d}", (int)port);
		}
		buf_addc(b, ']');
	}
	return 0;
}

static int build_op(const char *opname, const char *node, struct buf *b)
{
	int r;
	buf_adds(b, "{\"op\":");
	buf_add_json_str(b, opname, strlen(opname));
	buf_adds(b, ",\"node\":");
	buf_add_json_str(b, node, strlen(node));
	char *tok = NULL;
	if (g.token)
		tok = xstrdup(g.token);
	else if (g.token_file) {
		if ((r = read_token_file(g.token_file, &tok)))
			return r;
	} else if (getenv("CCE_TOKEN"))
		tok = xstrdup(getenv("CCE_TOKEN"));
	if (tok) {
		buf_adds(b, ",\"token\":");
		buf_add_json_str(b, tok, strlen(tok));
		free(tok);
	}
	if (g.force)
		buf_adds(b, ",\"force\":true");
	if (!strcmp(opname, "join") && (r = add_join_fields(b)))
		return r;
	if (!strcmp(opname, "join") || !strcmp(opname, "heartbeat")) {
		if (g.load) {
			buf_adds(b, ",\"load\":");
			if (!strcmp(g.load, "auto")) {
				/* the home's file system, if it has one; nothing is made
				 * but the network counters' file in an existing home */
				char home[4096], net[4200];
				bool has_home = cce_home(home, sizeof home) == 0;
				snprintf(net, sizeof net, "%s/net.last", home);
				load_auto(b, has_home ? home : "/",
					  has_home && access(home, W_OK) == 0 ? net : NULL);
			} else {
				char err[256];
				if (load_pairs(b, g.load, err, sizeof err) < 0)
					return diag_usage("%s", err);
			}
		}
		if (g.tasks && !strcmp(opname, "heartbeat")) {
			char err[512];
			buf_adds(b, ",\"tasks\":");
			int tr = tasks_read(b, g.tasks, err, sizeof err);
			if (tr < 0) {
				diag_error("%s", err);
				return tr == -1 ? CCE_EX_IOERR : CCE_EX_DATAERR;
			}
		}
		buf_addf(b, ",\"ts\":%" PRId64, time_now_ms());
	}
	buf_addc(b, '}');
	return 0;
}

static int cmd_single(const char *opname, char **args, int n)
{
	if (n != 1)
		return diag_usage("%s takes exactly one NODE", opname);
	if (!name_valid(args[0], strlen(args[0])))
		return diag_usage("bad node name '%s' (1-63 of A-Z a-z 0-9 . _ -)", args[0]);
	struct buf b = BUF_INIT;
	int r = build_op(opname, args[0], &b);
	if (r) {
		buf_free(&b);
		return r;
	}
	if (g.print) {
		out_line(&g.t.out, b.data, b.len);
		buf_free(&b);
		return 0;
	}
	struct json_doc d;
	json_doc_init(&d);
	struct json_error je;
	struct item it;
	memset(&it, 0, sizeof it);
	if (json_parse(&d, b.data, b.len, &je) < 0 ||
	    op_parse(&d, b.len, &it.op, it.why, sizeof it.why) < 0) {
		diag_error("%s: %s", args[0], it.why);
		json_doc_free(&d);
		buf_free(&b);
		op_free(&it.op);
		return CCE_EX_USAGE;
	}
	json_doc_free(&d);
	buf_free(&b);
	bool token_op = it.op.kind == OP_JOIN || it.op.kind == OP_HEARTBEAT ||
			(it.op.kind == OP_LEAVE && !it.op.force);
	if (token_op && !it.op.token) {
		op_free(&it.op);
		return diag_usage("%s needs --token, --token-file or CCE_TOKEN (or --force)", opname);
	}
	if ((token_op && (r = load_secret())) || (r = open_store())) {
		op_free(&it.op);
		return r;
	}
	g.ap.store = g.store;
	g.ap.items = &it;
	g.ap.nitems = 1;
	r = applier_commit(&g.ap, false);
	g.ap.items = NULL;
	if (r)
		return r;
	return g.ap.rejected ? CCE_EX_DATAERR : 0;
}

static int cmd_revoke(const char *sub, char **names, int n)
{
	if (n < 1)
		return diag_usage("revoke needs at least one NODE");
	for (int i = 0; i < n; i++)
		if (!name_valid(names[i], strlen(names[i])))
			return diag_usage("bad node name '%s' (1-63 of A-Z a-z 0-9 . _ -)", names[i]);
	int r = open_store();
	if (r)
		return r;
	g.ap.store = g.store;
	g.ap.items = xcalloc((size_t)n, sizeof *g.ap.items);
	for (int i = 0; i < n; i++) {
		g.ap.items[i].op.kind = OP_REVOKE;
		snprintf(g.ap.items[i].op.name, sizeof g.ap.items[i].op.name, "%s", names[i]);
	}
	g.ap.nitems = (size_t)n;
	r = applier_commit(&g.ap, false);
	free(g.ap.items);
	g.ap.items = NULL;
	return r;
}

/* ---- reading */

/* -o text's TASKS: "UP/ALL up" (UP: units whose state is active), "-"
 * when the node reported none; d is scratch space */
static void tasks_text(char *out, size_t len, const struct node *n, struct json_doc *d)
{
	snprintf(out, len, "-");
	if (!n->tasks || json_parse(d, n->tasks, strlen(n->tasks), &(struct json_error){ 0 }) < 0)
		return;
	int all = 0, up = 0;
	for (int e = json_first(d, 0); e >= 0; e = json_next_elem(d, 0, e), all++) {
		int st = json_type_of(d, e) == JSON_OBJECT ? json_get(d, e, "state") : -1;
		up += st >= 0 && json_str_eq(d, st, "active");
	}
	snprintf(out, len, "%d/%d up", up, all);
}

static int cmd_list(const char *sub, char **args, int nargs)
{
	enum { FMT_JSON, FMT_ADDR, FMT_TEXT } fmt = FMT_JSON;
	if (g.output && !strcmp(g.output, "addr"))
		fmt = FMT_ADDR;
	else if (g.output && !strcmp(g.output, "text"))
		fmt = FMT_TEXT;
	else if (g.output && strcmp(g.output, "json"))
		return diag_usage("-o: unknown format '%s' (use json, addr or text)", g.output);
	if (g.alive && g.all)
		return diag_usage("--alive and --all exclude each other");
	const char *svc = g.nservices ? g.services[0] : NULL;
	int r = open_store();
	if (r)
		return r;
	struct registry reg;
	reg_init(&reg);
	char err[512];
	if ((r = store_load(g.store, &reg, err, sizeof err))) {
		diag_error("%s", err);
		reg_free(&reg);
		return r;
	}
	size_t k;
	struct node **v = reg_sorted(&reg, true, &k), *n;
	int64_t now = time_now_ms();
	struct buf b = BUF_INIT;
	struct json_doc d;
	json_doc_init(&d);
	if (fmt == FMT_TEXT) {
		buf_addf(&b, "%-24s %-9s %-16s %-10s %-10s %-24s %s", "NODE", "STATE", "ADDR",
			 "REGION", "ZONE", "LAST_SEEN", "TASKS");
		out_line(&g.t.out, b.data, b.len);
	}
	for (size_t i = 0; i < k && !out_done(&g.t.out); i++) {
		n = v[i];
		enum node_state st = node_state(n, now, g.ttl);
		if (g.alive ? st != ST_READY : (!g.all && st == ST_DEAD))
			continue;
		if (g.region && (!n->region || strcmp(n->region, g.region)))
			continue;
		int64_t port = 0;
		if (svc && !node_offers(n, svc, &d, &port))
			continue;
		if (!node_selected(n, g.selector, &d))
			continue;
		buf_reset(&b);
		if (fmt == FMT_JSON) {
			node_list_json(&b, n, st);
		} else if (fmt == FMT_ADDR) {
			if (!n->addr)
				continue;
			buf_adds(&b, n->addr);
			if (svc)
				buf_addf(&b, ":%" PRId64, port);
		} else {
			char ts[32], tasks[32];
			time_format_rfc3339(n->last_seen, ts);
			tasks_text(tasks, sizeof tasks, n, &d);
			buf_addf(&b, "%-24s %-9s %-16s %-10s %-10s %-24s %s", n->name,
				 state_name(st), n->addr ? n->addr : "-",
				 n->region ? n->region : "-", n->zone ? n->zone : "-", ts, tasks);
		}
		out_line(&g.t.out, b.data, b.len);
	}
	json_doc_free(&d);
	buf_free(&b);
	free(v);
	reg_free(&reg);
	return 0;
}

static int cmd_simple(const char *sub, char **args, int n)
{
	int r = open_store();
	if (r)
		return r;
	char err[512];
	if (!strcmp(sub, "init")) {
		const char *sp = secret_path();
		if (!sp)
			return need_home();
		if ((r = store_init(g.store, err, sizeof err)) == 0) {
			char *slash = strrchr(sp, '/');
			if (slash && slash != sp) {
				char *dir = xstrndup(sp, (size_t)(slash - sp));
				fs_mkdirs(dir, 0700);
				free(dir);
			}
			if (secret_create(sp, err, sizeof err) < 0)
				r = CCE_EX_IOERR;
		}
	} else if (!strcmp(sub, "expire")) {
		struct buf ev = BUF_INIT;
		r = store_expire(g.store, g.ttl, &ev, err, sizeof err);
		if (!r && ev.len)
			out_write(&g.t.out, ev.data, ev.len);
		buf_free(&ev);
	} else if (!strcmp(sub, "watch")) {
		r = store_watch(g.store, &g.t.out, err, sizeof err);
	} else {
		r = store_compact(g.store, err, sizeof err);
	}
	if (r)
		diag_error("%s", err);
	return r;
}

/* each subcommand's run, and whether it takes operands (the options
 * that apply to it are in the rows above) */
static const struct sub {
	const char *name;
	bool noargs;
	int (*run)(const char *sub, char **args, int n);
} subs[] = {
	[INIT] = { "init", true, cmd_simple },
	[TOKEN] = { "token", false, cmd_token },
	[REVOKE] = { "revoke", false, cmd_revoke },
	[APPLY] = { "apply", false, cmd_apply },
	[JOIN] = { "join", false, cmd_single },
	[HEARTBEAT] = { "heartbeat", false, cmd_single },
	[LEAVE] = { "leave", false, cmd_single },
	[CORDON] = { "cordon", false, cmd_single },
	[UNCORDON] = { "uncordon", false, cmd_single },
	[LIST] = { "list", true, cmd_list },
	[EXPIRE] = { "expire", true, cmd_simple },
	[WATCH] = { "watch", true, cmd_simple },
	[COMPACT] = { "compact", true, cmd_simple },
};

/* The subcommand named by the first operand into *sub, once it is known
 * and every option given applies to it: 0, or the usage error's exit
 * code. */
static int find_sub(int argc, char **argv, const struct opts *p, const struct sub **sub)
{
	char err[256];
	if (optind >= argc)
		return diag_usage("no subcommand (init, token, revoke, apply, join, heartbeat, "
				  "leave, cordon, uncordon, list, expire, watch, compact)");
	const char *name = argv[optind];
	for (size_t i = 0; i < sizeof subs / sizeof *subs; i++) {
		if (strcmp(name, subs[i].name))
			continue;
		if (opts_check_scope(p, (unsigned)i, name, err, sizeof err) < 0)
			return diag_usage("%s", err);
		if (subs[i].noargs && optind + 1 < argc)
			return diag_usage("%s takes no arguments: '%s'", name, argv[optind + 1]);
		*sub = &subs[i];
		return 0;
	}
	return diag_usage("unknown subcommand '%s'", name);
}

/* The options into g, the subcommand into *sub once it is known and every
 * option given applies to it: 0, TOOL_DONE after -h or -V, or the usage
 * error's exit code. */
static int parse_options(int argc, char **argv, const struct sub **sub)
{
	char err[256];
	struct opts p;
	opts_init(&p, options, NOPTIONS);
	int c;
	while ((c = opts_next(&p, &g.t.common, argc, argv, err, sizeof err)) != -1) {
		switch (c) {
		case CLI_BAD: return diag_usage("%s", err);
		case 'h': case 'V': return tool_help_opts(&g.t, c, synopsis, options, NOPTIONS);
		case OPT_STORE: g.store_url = optarg; break;
		case OPT_VERBOSE: g.so.verbose = true; break;
		case OPT_OUTPUT: g.output = optarg; break;
		case OPT_CACERT: g.so.cacert = optarg; break;
		case OPT_CERT: g.so.cert = optarg; break;
		case OPT_KEY: g.so.key = optarg; break;
		case OPT_SECRET: g.secret_path = optarg; break;
		case OPT_TTL:
			if (cli_duration("--ttl", optarg, &g.ttl, err, sizeof err) < 0)
				return diag_usage("%s", err);
			if (g.ttl <= 0)
				return diag_usage("--ttl: must be more than 0");
			g.ttl_set = true;
			break;
		case OPT_TOKEN: g.token = optarg; break;
		case OPT_TOKEN_FILE: g.token_file = optarg; break;
		case OPT_ADDR: g.addr = optarg; break;
		case OPT_REGION: g.region = optarg; break;
		case OPT_ZONE: g.zone = optarg; break;
		case OPT_CPU: g.cpu = optarg; break;
		case OPT_MEM: g.mem = optarg; break;
		case OPT_DISK: g.disk = optarg; break;
		case OPT_NET: g.net = optarg; break;
		case OPT_COST: g.cost = optarg; break;
		case OPT_LOAD: g.load = optarg; break;
		case OPT_TASKS: g.tasks = optarg; break;
		case OPT_FORCE: g.force = true; break;
		case OPT_PRINT: g.print = true; break;
		case OPT_ALIVE: g.alive = true; break;
		case OPT_ALL: g.all = true; break;
		case OPT_SELECTOR: g.selector = optarg; break;
		case OPT_LABEL:
		case OPT_SERVICE: {
			const char **arr = c == OPT_LABEL ? g.labels : g.services;
			int *cnt = c == OPT_LABEL ? &g.nlabels : &g.nservices;
			if (*cnt == MAX_REPEAT)
				return diag_usage("too many --%s options (at most %d)",
						  c == OPT_LABEL ? "label" : "service", MAX_REPEAT);
			arr[(*cnt)++] = optarg;
			break;
		}
		}
	}
	return find_sub(argc, argv, &p, sub);
}

int main(int argc, char **argv)
{
	int status = tool_init(&g.t, "cce-register");
	if (status)
		return status;
	g.ap.t = &g.t;
	g.ap.verify = verify;
	const struct sub *sub = NULL;
	status = parse_options(argc, argv, &sub);
	if (!status) {
		tool_start(&g.t);
		if (!g.ttl_set)
			g.ttl = 30000;
		g.so.ttl = g.ttl;
		g.ap.verbose = g.so.verbose;
		status = sub->run(sub->name, argv + optind + 1, argc - optind - 1);
	}
	status = tool_finish(&g.t, status == TOOL_DONE ? 0 : status);
	store_close(g.store);
	if (g.t.in)
		jsonl_close(g.t.in);
	out_free(&g.t.out);
	return status;
}
