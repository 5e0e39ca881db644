/*
 * cce-gateway: the edge gateway's data service over HTTP, and the cloud's
 * receiver of cce-push: devices POST records, which are stored durably
 * (SQLite) before they are acknowledged, written to stdout in arrival
 * order, and served back by device and time range.
 */
#include <malloc.h>
#include <signal.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "opts.h"
#include "sig.h"
#include "tool.h"
#include "cce-gateway/gateway.h"

static const char synopsis[] = "usage: cce-gateway [options]\n";

enum {
	OPT_LISTEN = CLI_OPT_TOOL, OPT_STORE, OPT_TOKEN_FILE, OPT_AUTO_CONNECT, OPT_MAX_BODY,
	OPT_MAX_CONN, OPT_IDLE_TIMEOUT, OPT_REQUEST_TIMEOUT, OPT_RATE, OPT_RETAIN, OPT_RETAIN_SIZE,
	OPT_IDEM, OPT_EVAL_TIMEOUT, OPT_EVAL_MEMORY, OPT_STDOUT_FROM, OPT_CERT, OPT_KEY, OPT_CACERT,
	OPT_REGISTRY, OPT_REGISTRY_SECRET,
};

static const struct opt options[] = {
	{ OPT_LISTEN, 'l', "listen", "ADDR:PORT", "listen there (repeatable; default 127.0.0.1:8080)", 0 },
	{ OPT_STORE, 's', "store", "DIR|URL",
	  "the store: a directory (SQLite; default\n$CCE_HOME/gateway) or a postgresql:// URL", 0 },
	{ OPT_TOKEN_FILE, 0, "token-file", "FILE",
	  "bearer tokens, one per line, each optionally\nfollowed by the device patterns it may use", 0 },
	{ OPT_REGISTRY, 0, "registry", "STORE",
	  "also accept the node tokens cce-register issued\n(its file store: file:PATH or PATH); a node's\n"
	  "token may use devices NODE and NODE:*", 0 },
	{ OPT_REGISTRY_SECRET, 0, "registry-secret", "FILE",
	  "the registry's cluster secret\n(default $CCE_HOME/secret)", 0 },
	{ OPT_CERT, 0, "cert", "FILE", "serve HTTPS with this certificate (PEM)", 0 },
	{ OPT_KEY, 0, "key", "FILE", "and this key (PEM)", 0 },
	{ OPT_CACERT, 0, "cacert", "FILE", "require client certificates signed by these CAs", 0 },
	{ OPT_AUTO_CONNECT, 0, "auto-connect", NULL, "accept data for streams not connected before", 0 },
	{ OPT_MAX_BODY, 0, "max-body", "SIZE", "largest request body, also once inflated (default 8MiB)",
	  0 },
	{ OPT_MAX_CONN, 0, "max-connections", "N", "connections at once (default 64)", 0 },
	{ OPT_IDLE_TIMEOUT, 0, "idle-timeout", "DUR", "close a connection silent for DUR (default 30s)",
	  0 },
	{ OPT_REQUEST_TIMEOUT, 0, "request-timeout", "DUR", "a body must arrive within DUR (default 60s)",
	  0 },
	{ OPT_RATE, 0, "rate", "N", "records per second per token (default: no limit)", 0 },
	{ OPT_RETAIN, 0, "retain", "DUR", "delete records received longer than DUR ago", 0 },
	{ OPT_RETAIN_SIZE, 0, "retain-size", "SIZE", "delete the oldest records past SIZE of records", 0 },
	{ OPT_IDEM, 0, "idempotency-window", "DUR", "remember Idempotency-Keys for DUR (default 7d)", 0 },
	{ OPT_EVAL_TIMEOUT, 0, "eval-timeout", "DUR",
	  "time budget of filterExpression on one record\n(default 100ms)", 0 },
	{ OPT_EVAL_MEMORY, 0, "eval-memory", "SIZE",
	  "memory budget of filterExpression on one record\n(default 64MiB)", 0 },
	{ OPT_STDOUT_FROM, 0, "stdout-from", "ID",
	  "write stored records after id ID to stdout first\n(default: only records stored from now on)",
	  0 },
};
#define NOPTIONS (sizeof options / sizeof options[0])

static void defaults(struct gw_opts *o)
{
	memset(o, 0, sizeof *o);
	o->max_body = 8 << 20;
	o->max_conn = 64;
	o->idle_timeout_ms = 30000;
	o->request_timeout_ms = 60000;
	o->idem_window_ms = 7LL * 86400 * 1000;
	o->eval_timeout_ms = 100;
	o->eval_memory = 64 << 20;
	o->stdout_from = -1;
}

/* one option of the tool's own: 0, or -1 with err */
static int option(struct gw_opts *o, int c, const char *a, char *err, size_t errlen)
{
	uint64_t u;
	switch (c) {
	case OPT_LISTEN:
		if (o->nlisten == 16) {
			snprintf(err, errlen, "--listen: at most 16 addresses");
			return -1;
		}
		o->listen[o->nlisten++] = a;
		struct sockaddr_storage sa;
		return server_parse_listen(a, &sa, err, errlen);
	case OPT_STORE: o->store_dir = a; return 0;
	case OPT_TOKEN_FILE: o->token_file = a; return 0;
	case OPT_REGISTRY: o->registry = a; return 0;
	case OPT_REGISTRY_SECRET: o->registry_secret = a; return 0;
	case OPT_CERT: o->cert = a; return 0;
	case OPT_KEY: o->key = a; return 0;
	case OPT_CACERT: o->cacert = a; return 0;
	case OPT_AUTO_CONNECT: o->auto_connect = true; return 0;
	case OPT_MAX_BODY: return cli_size("--max-body", a, &o->max_body, err, errlen);
	case OPT_MAX_CONN:
		if (cli_uint("--max-connections", a, 1, 100000, &u, err, errlen) < 0)
			return -1;
		o->max_conn = (unsigned)u;
		return 0;
	case OPT_IDLE_TIMEOUT: return cli_duration("--idle-timeout", a, &o->idle_timeout_ms, err, errlen);
	case OPT_REQUEST_TIMEOUT:
		return cli_duration("--request-timeout", a, &o->request_timeout_ms, err, errlen);
	case OPT_RATE: return cli_number("--rate", a, 0, 1e9, &o->rate, err, errlen);
	case OPT_RETAIN: return cli_duration("--retain", a, &o->retain_ms, err, errlen);
	case OPT_RETAIN_SIZE: return cli_size("--retain-size", a, &o->retain_size, err, errlen);
	case OPT_IDEM: return cli_duration("--idempotency-window", a, &o->idem_window_ms, err, errlen);
	case OPT_EVAL_TIMEOUT:
		if (cli_duration("--eval-timeout", a, &o->eval_timeout_ms, err, errlen) < 0)
			return -1;
		if (o->eval_timeout_ms <= 0) {
			snprintf(err, errlen, "--eval-timeout: must be positive");
			return -1;
		}
		return 0;
	case OPT_EVAL_MEMORY:
		if (cli_size("--eval-memory", a, &o->eval_memory, err, errlen) < 0)
			return -1;
		if (o->eval_memory < 65536) {
			snprintf(err, errlen, "--eval-memory: must be at least 64KiB");
			return -1;
		}
		return 0;
	case OPT_STDOUT_FROM:
		if (cli_uint("--stdout-from", a, 0, INT64_MAX, &u, err, errlen) < 0)
			return -1;
		o->stdout_from = (int64_t)u;
		return 0;
	}
	snprintf(err, errlen, "unknown option");
	return -1;
}

/* serves until a signal; the exit status */
static int serve(struct tool *t, struct gw_opts *o, const char *where)
{
	char err[1024], origin[512], host[256] = "localhost";
	/* on a shared PostgreSQL store, this gateway's records are its own */
	gethostname(host, sizeof host - 1);
	snprintf(origin, sizeof origin, "%s %s", host, o->listen[0]);
	struct store *s = store_open(where, origin, err, sizeof err);
	if (!s) {
		diag_error("%s", err);
		return CCE_EX_UNAVAILABLE;
	}
	/* the threads leave the tool's signals to this one */
	sigset_t old;
	sig_block_handled(&old);
	struct writer *w = writer_start(s, o);
	struct follower *f = w ? follower_start(s, w, o->stdout_from, o->unbuffered,
						err, sizeof err) : NULL;
	bool filters = f && filter_start(o->eval_timeout_ms, o->eval_memory) == 0;
	struct server *sv = filters ? server_start(o, s, w, f, err, sizeof err) : NULL;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	int status = 0;
	if (!sv) {
		diag_error("%s", err);
		status = CCE_EX_UNAVAILABLE;
	} else {
		diag_debug("listening; store %s", store_where(s));
		while (!sig_stop) {
			struct timespec ts = { 0, 100 * 1000000L };
			nanosleep(&ts, NULL);
			if (sig_status) {
				sig_status = 0;
				struct buf b = BUF_INIT;
				buf_init(&b);
				server_status(sv, &b);
				diag_raw(b.data, b.len);
				buf_free(&b);
			}
		}
		server_stop(sv, 30000);
	}
	if (filters)
		filter_stop();
	if (f && follower_stop(f) < 0)
		status = CCE_EX_IOERR;
	if (w)
		writer_stop(w);
	store_close(s);
	(void)t;
	return status;
}

int main(int argc, char **argv)
{
	struct tool t;
	struct gw_opts o;
	int status = tool_init(&t, "cce-gateway");
	if (status)
		return status;
	defaults(&o);
	char err[512];
	struct opts p;
	opts_init(&p, options, NOPTIONS);
	int c;
	while ((c = opts_next(&p, &t.common, argc, argv, err, sizeof err)) != -1) {
		if (c == CLI_BAD)
			return diag_usage("%s", err);
		if (c == 'h' || c == 'V') {
			tool_help_opts(&t, c, synopsis, options, NOPTIONS);
			return tool_finish(&t, 0);
		}
		if (option(&o, c, optarg, err, sizeof err) < 0)
			return diag_usage("%s", err);
	}
	if (optind < argc)
		return diag_usage("unexpected argument '%s'", argv[optind]);
	if (!o.cert != !o.key || (o.cacert && !o.cert))
		return diag_usage("--cert and --key go together, and --cacert needs them");
	tool_start(&t);
	/* each request allocates and frees its body and records (tens of KiB):
	 * without this, glibc gives the freed top of each thread's heap back
	 * with madvise and takes it again with page faults, request after
	 * request (a tenth of the ingest's CPU). At most 4 MiB kept per heap. */
	mallopt(M_TRIM_THRESHOLD, 4 << 20);
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	o.unbuffered = t.common.unbuffered;
	if (!o.nlisten)
		o.listen[o.nlisten++] = "127.0.0.1:8080";
	if (o.registry_secret && !o.registry)
		return diag_usage("--registry-secret needs --registry");
	char dir[4096], secret[4096];
	if (o.registry && !o.registry_secret) {
		if ((status = tool_home(secret, sizeof secret - 16)) != 0)
			return status;
		strcat(secret, "/secret");
		o.registry_secret = secret;
	}
	if (!o.store_dir) {
		if ((status = tool_home(dir, sizeof dir - 16)) != 0)
			return status;
		strcat(dir, "/gateway");
		o.store_dir = dir;
	}
	status = serve(&t, &o, o.store_dir);
	/* stdout was the follower's; nothing of the tool's own is buffered */
	return status;
}
