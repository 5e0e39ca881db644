/*
 * cce-push: store-and-forward delivery of JSON lines to HTTP(S), MQTT or a
 * file, through a durable spool.
 *
 *   cce-push [options] URL [FILE...]
 *   cce-push --drain [options] URL
 *
 * The main thread reads records, groups them into batches per resolved URL,
 * and appends each batch to the spool (fsynced) before it counts as
 * accepted. Sender threads (cce-push/sender.c) deliver the spooled batches
 * and acknowledge them. See man/cce-push.1 for the guarantees.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "fsutil.h"
#include "hash.h"
#include "opts.h"
#include "sig.h"
#include "timeutil.h"
#include "tool.h"

#include "cce-push/batch.h"
#include "cce-push/sender.h"
#include "cce-push/sink.h"
#include "cce-push/spool.h"
#include "cce-push/stats.h"
#include "cce-push/target.h"

static const char synopsis[] =
	"usage: cce-push [options] URL [FILE...]\n"
	"       cce-push --drain [options] URL\n"
	"  URL is http://, https://, mqtt://host[:port]/TOPIC, mqtts://... or file:PATH;\n"
	"  {field} takes a record's field, {batch} the batch id\n";

enum {
	OPT_SPOOL = CLI_OPT_TOOL, OPT_NO_SPOOL, OPT_SPOOL_MAX, OPT_WHEN_FULL, OPT_DRAIN,
	OPT_BATCH_RECORDS, OPT_BATCH_BYTES, OPT_LINGER, OPT_METHOD, OPT_GZIP, OPT_HEADER,
	OPT_HEADER_FILE, OPT_BEARER_FILE, OPT_USER_FILE, OPT_CACERT, OPT_CERT, OPT_KEY, OPT_INSECURE,
	OPT_TIMEOUT, OPT_QOS, OPT_PARALLEL, OPT_BACKOFF, OPT_BACKOFF_MAX, OPT_RETRY_FOR,
	OPT_DEAD_LETTER, OPT_RECEIPTS, OPT_STATS, OPT_MQTT_VERSION, OPT_RATE_LIMIT,
};

static const struct opt options[] = {
	{ OPT_SPOOL, 0, "spool", "DIR", "spool directory (default $CCE_HOME/spool/NAME)", 0 },
	{ OPT_NO_SPOOL, 0, "no-spool", NULL, "keep batches in memory only: a crash loses them", 0 },
	{ OPT_SPOOL_MAX, 0, "spool-max", "SIZE", "most unacknowledged bytes to keep (1GiB)", 0 },
	{ OPT_WHEN_FULL, 0, "when-full", "POLICY", "block (default) or drop-oldest", 0 },
	{ OPT_DRAIN, 0, "drain", NULL, "deliver the spooled backlog, then exit", 0 },
	{ OPT_BATCH_RECORDS, 0, "batch-records", "N", "records per batch (500)", 0 },
	{ OPT_BATCH_BYTES, 0, "batch-bytes", "SIZE", "bytes per batch (1MiB)", 0 },
	{ OPT_LINGER, 0, "linger", "DUR", "longest wait of a partial batch (200ms)", 0 },
	{ OPT_METHOD, 0, "method", "METHOD", "POST (default) or PUT (the URL needs {batch})", 0 },
	{ OPT_GZIP, 0, "gzip", NULL, "compress HTTP request bodies", 0 },
	{ OPT_HEADER, 'H', "header", "LINE", "add 'Name: value' to every request", 0 },
	{ OPT_HEADER_FILE, 0, "header-file", "FILE", "add the header lines in FILE", 0 },
	{ OPT_BEARER_FILE, 0, "bearer-file", "FILE", "send the token in FILE as a bearer token", 0 },
	{ OPT_USER_FILE, 0, "user-file", "FILE", "user:password for HTTP basic auth or MQTT", 0 },
	{ OPT_CACERT, 0, "cacert", "FILE", "CA certificates to verify the server with", 0 },
	{ OPT_CERT, 0, "cert", "FILE", "client certificate", 0 },
	{ OPT_KEY, 0, "key", "FILE", "client key", 0 },
	{ OPT_INSECURE, 0, "insecure", NULL, "do not verify the server's certificate", 0 },
	{ OPT_TIMEOUT, 0, "timeout", "DUR", "per request (30s)", 0 },
	{ OPT_QOS, 0, "qos", "N", "MQTT quality of service, 0, 1 (default) or 2", 0 },
	{ OPT_MQTT_VERSION, 0, "mqtt-version", "V", "5 (default: batch ids as user properties) or 3.1.1",
	  0 },
	{ OPT_PARALLEL, 0, "parallel", "N", "batches in flight (1 keeps the order)", 0 },
	{ OPT_BACKOFF, 0, "backoff", "DUR", "first retry delay (1s)", 0 },
	{ OPT_BACKOFF_MAX, 0, "backoff-max", "DUR", "longest retry delay (5m)", 0 },
	{ OPT_RETRY_FOR, 0, "retry-for", "DUR", "give up on a batch after DUR (default never)", 0 },
	{ OPT_DEAD_LETTER, 0, "dead-letter", "FILE", "where refused batches go (beside the spool)", 0 },
	{ OPT_RECEIPTS, 0, "receipts", NULL, "print one line per delivered batch", 0 },
	{ OPT_STATS, 0, "stats", "DUR", "print a status line on stderr every DUR", 0 },
	{ OPT_RATE_LIMIT, 0, "rate-limit", "RATE", "send at most RATE bytes a second (e.g. 500K, 2MiB)",
	  0 },
};
#define NOPTIONS (sizeof options / sizeof options[0])

#define MAX_PARALLEL 64

struct config {
	const char *spool_dir, *dead_letter;
	bool no_spool, drop_oldest, drain, receipts;
	uint64_t spool_max, batch_records, batch_bytes, parallel;
	int64_t linger_ms, stats_ms;
	uint64_t rate_limit;          /* bytes a second, 0: none */
	struct ratelimit rate;
	struct sink_opts sink;
	struct sender_shared sh;
	char **headers;
	size_t nheaders;
};

/* A secret or a header file: its content without the final newline. */
static char *read_secret(const char *opt, const char *path, int *rc)
{
	struct buf b;
	char err[512];
	buf_init(&b);
	if (fs_read_file(path, 64 * 1024, &b, err, sizeof err) < 0) {
		*rc = diag_usage("%s: %s", opt, err);
		buf_free(&b);
		return NULL;
	}
	while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
		b.data[--b.len] = 0;
	if (!b.len || (memchr(b.data, '\n', b.len) && strcmp(opt, "--header-file") != 0)) {
		*rc = diag_usage("%s: '%s' must hold one non-empty line", opt, path);
		buf_free(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

static void add_header(struct config *c, const char *h)
{
	c->headers = xrealloc(c->headers, (c->nheaders + 1) * sizeof *c->headers);
	c->headers[c->nheaders++] = xstrdup(h);
}

static bool valid_header(const char *h)
{
	const char *colon = strchr(h, ':');
	return colon && colon > h && !strpbrk(h, "\r\n");
}

/* --header-file: every line a header: 1, or the usage error's exit code */
static int header_file(struct config *c, const char *path)
{
	int rc = 0;
	char *s = read_secret("--header-file", path, &rc);
	if (!s)
		return rc;
	for (char *line = strtok(s, "\r\n"); line; line = strtok(NULL, "\r\n")) {
		if (!valid_header(line)) {
			free(s);
			return diag_usage("--header-file: invalid header line in '%s'", path);
		}
		add_header(c, line);
	}
	free(s);
	return 1;
}

/* $CCE_HOME/spool/NAME: the URL made safe for a file name, plus a hash so
 * that two URLs never share a spool. */
static char *default_spool(const char *url, int *status)
{
	char home[4096];
	if ((*status = tool_home(home, sizeof home)) != 0)
		return NULL;
	struct buf b;
	buf_init(&b);
	buf_addf(&b, "%s/spool/", home);
	size_t n = 0;
	bool sep = false;
	for (const char *u = url; *u && n < 64; u++) {
		char ch = *u;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '.' || ch == '-') {
			buf_addc(&b, ch);
			sep = false;
			n++;
		} else if (!sep) {
			buf_addc(&b, '_');
			sep = true;
			n++;
		}
	}
	unsigned char d[SHA256_LEN];
	char hex[SHA256_HEX_LEN];
	sha256(url, strlen(url), d);
	hex_encode(d, 4, hex);
	buf_addf(&b, "-%s", hex);
	return buf_detach(&b, NULL);
}

/* --method, --gzip, headers, secrets, TLS, --timeout and MQTT: 1 when
 * ch was one of them, 0 when not, or the usage error's exit code. */
static int sink_option(struct config *c, int ch, const char *arg)
{
	char err[512];
	uint64_t v;
	int rc = 0;
	switch (ch) {
	case OPT_METHOD:
		if (strcmp(arg, "POST") == 0 || strcmp(arg, "post") == 0)
			c->sink.method = "POST";
		else if (strcmp(arg, "PUT") == 0 || strcmp(arg, "put") == 0)
			c->sink.method = "PUT";
		else
			return diag_usage("--method: invalid method '%s' (use POST or PUT)", arg);
		break;
	case OPT_GZIP: c->sink.gzip = true; break;
	case OPT_HEADER:
		if (!valid_header(arg))
			return diag_usage("--header: invalid header '%s' (use 'Name: value')", arg);
		add_header(c, arg);
		break;
	case OPT_HEADER_FILE: return header_file(c, arg);
	case OPT_BEARER_FILE:
		free((char *)c->sink.bearer);
		if (!(c->sink.bearer = read_secret("--bearer-file", arg, &rc)))
			return rc;
		break;
	case OPT_USER_FILE:
		free((char *)c->sink.user);
		if (!(c->sink.user = read_secret("--user-file", arg, &rc)))
			return rc;
		break;
	case OPT_CACERT: c->sink.cacert = arg; break;
	case OPT_CERT: c->sink.cert = arg; break;
	case OPT_KEY: c->sink.key = arg; break;
	case OPT_INSECURE: c->sink.insecure = true; break;
	case OPT_TIMEOUT:
		if (cli_duration("--timeout", arg, &c->sink.timeout_ms, err, sizeof err) < 0)
			return diag_usage("%s", err);
		/* 0 would mean "wait forever" to libcurl, and --retry-for
		 * could never give up on a server that never answers */
		if (c->sink.timeout_ms == 0)
			return diag_usage("--timeout: '%s' must be more than 0", arg);
		break;
	case OPT_QOS:
		if (cli_uint("--qos", arg, 0, 2, &v, err, sizeof err) < 0)
			return diag_usage("%s", err);
		c->sink.qos = (int)v;
		break;
	case OPT_MQTT_VERSION:
		if (strcmp(arg, "5") == 0)
			c->sink.mqtt_v5 = true;
		else if (strcmp(arg, "3.1.1") == 0 || strcmp(arg, "311") == 0)
			c->sink.mqtt_v5 = false;
		else
			return diag_usage("--mqtt-version: '%s' is not 5 or 3.1.1", arg);
		break;
	default: return 0;
	}
	return 1;
}

/* The spool, batching, retry and report options: 0, or the usage
 * error's exit code. */
static int run_option(struct config *c, int ch, const char *arg)
{
	char err[512];
	int rc = 0;
	switch (ch) {
	case OPT_SPOOL: c->spool_dir = arg; break;
	case OPT_NO_SPOOL: c->no_spool = true; break;
	case OPT_SPOOL_MAX:
		if ((rc = cli_size("--spool-max", arg, &c->spool_max, err, sizeof err)) == 0 &&
		    c->spool_max < 4096)
			return diag_usage("--spool-max: '%s' is below 4KiB", arg);
		break;
	case OPT_WHEN_FULL:
		if (strcmp(arg, "block") != 0 && strcmp(arg, "drop-oldest") != 0)
			return diag_usage("--when-full: invalid policy '%s' (use block or drop-oldest)", arg);
		c->drop_oldest = strcmp(arg, "drop-oldest") == 0;
		break;
	case OPT_DRAIN: c->drain = true; break;
	case OPT_BATCH_RECORDS:
		rc = cli_uint("--batch-records", arg, 1, 1000000, &c->batch_records, err, sizeof err);
		break;
	case OPT_BATCH_BYTES:
		if ((rc = cli_size("--batch-bytes", arg, &c->batch_bytes, err, sizeof err)) == 0 &&
		    (c->batch_bytes < 1 || c->batch_bytes > ((uint64_t)1 << 30)))
			return diag_usage("--batch-bytes: '%s' is out of range (1 to 1GiB)", arg);
		break;
	case OPT_LINGER: rc = cli_duration("--linger", arg, &c->linger_ms, err, sizeof err); break;
	case OPT_PARALLEL:
		rc = cli_uint("--parallel", arg, 1, MAX_PARALLEL, &c->parallel, err, sizeof err);
		break;
	case OPT_BACKOFF: rc = cli_duration("--backoff", arg, &c->sh.backoff_ms, err, sizeof err); break;
	case OPT_BACKOFF_MAX:
		rc = cli_duration("--backoff-max", arg, &c->sh.backoff_max_ms, err, sizeof err);
		break;
	case OPT_RETRY_FOR:
		rc = cli_duration("--retry-for", arg, &c->sh.retry_for_ms, err, sizeof err);
		break;
	case OPT_DEAD_LETTER: c->dead_letter = arg; break;
	case OPT_RECEIPTS: c->receipts = true; break;
	case OPT_RATE_LIMIT:
		rc = ratelimit_parse("--rate-limit", arg, &c->rate_limit, err, sizeof err);
		break;
	case OPT_STATS:
		if ((rc = cli_duration("--stats", arg, &c->stats_ms, err, sizeof err)) == 0 &&
		    c->stats_ms <= 0)
			return diag_usage("--stats: the interval must be above zero");
		break;
	}
	return rc < 0 ? diag_usage("%s", err) : 0;
}

static void config_init(struct config *c)
{
	memset(c, 0, sizeof *c);
	c->spool_max = (uint64_t)1 << 30;
	c->batch_records = 500;
	c->batch_bytes = 1 << 20;
	c->linger_ms = 200;
	c->parallel = 1;
	c->sink.method = "POST";
	c->sink.timeout_ms = 30000;
	c->sink.qos = 1;
	c->sink.mqtt_v5 = true;
	c->sh.backoff_ms = 1000;
	c->sh.backoff_max_ms = 5 * 60 * 1000;
	c->sh.retry_for_ms = -1;
	c->sink.stop = &c->sh.stop;
}

/* The options into c (and the common ones into t): 0, TOOL_DONE after
 * -h or -V, or the usage error's exit code. */
static int parse_options(int argc, char **argv, struct tool *t, struct config *c)
{
	char err[512];
	struct opts p;
	opts_init(&p, options, NOPTIONS);
	int ch;
	config_init(c);
	while ((ch = opts_next(&p, &t->common, argc, argv, err, sizeof err)) != -1) {
		if (ch == CLI_BAD)
			return diag_usage("%s", err);
		if (ch == 'h' || ch == 'V')
			return tool_help_opts(t, ch, synopsis, options, NOPTIONS);
		int rc = sink_option(c, ch, optarg);
		if (rc == 0)
			rc = run_option(c, ch, optarg);
		if (rc > 1)
			return rc;
	}
	/* secrets from the environment when no file names them */
	const char *env;
	if (!c->sink.bearer && (env = getenv("CCE_PUSH_BEARER")) && *env)
		c->sink.bearer = xstrdup(env);
	if (!c->sink.user && (env = getenv("CCE_PUSH_USER")) && *env)
		c->sink.user = xstrdup(env);
	return 0;
}

/* The operands and the options that go together: 0 with the target
 * parsed, or the usage error's exit code. */
static int check_args(int argc, char **argv, const struct config *c, struct target *tg)
{
	if (optind >= argc)
		return diag_usage("no URL given");
	const char *url = argv[optind];
	if (c->drain && optind + 1 < argc)
		return diag_usage("--drain reads no input files");
	if (c->drain && c->no_spool)
		return diag_usage("--drain needs a spool; it cannot go with --no-spool");
	if (c->no_spool && c->spool_dir)
		return diag_usage("--spool and --no-spool exclude each other");
	char err[1024];
	if (target_parse(tg, url, err, sizeof err) < 0)
		return diag_usage("%s", err);
	if (strcmp(c->sink.method, "PUT") == 0 && !tg->has_batch)
		return diag_usage("--method PUT needs {batch} in the URL, or every batch overwrites the last");
	if (tg->kind != SINK_HTTP && (strcmp(c->sink.method, "POST") != 0 || c->sink.gzip))
		return diag_usage("--method and --gzip apply to http:// and https:// URLs only");
	return 0;
}

/* The spool directory (NULL for --no-spool) and the dead-letter file
 * (--dead-letter, else SPOOL.dead.jsonl beside the spool, its parent
 * made): 0, or the exit code tool_home reported. */
static int open_paths(const struct config *c, const char *url, char **spool_dir, char **dead)
{
	int status = 0;
	*spool_dir = *dead = NULL;
	if (!c->no_spool) {
		*spool_dir = c->spool_dir ? xstrdup(c->spool_dir) : default_spool(url, &status);
		if (!*spool_dir)
			return status;
	}
	if (c->dead_letter) {
		*dead = xstrdup(c->dead_letter);
		return 0;
	}
	char *base = *spool_dir ? xstrdup(*spool_dir) : default_spool(url, &status);
	if (!base)
		return status;
	size_t n = strlen(base);
	while (n > 1 && base[n - 1] == '/')
		base[--n] = 0;
	struct buf b;
	buf_init(&b);
	buf_addf(&b, "%s.dead.jsonl", base);
	*dead = buf_detach(&b, NULL);
	free(base);
	char *slash = strrchr(*dead, '/');
	if (slash) {
		*slash = 0;
		fs_mkdirs(*dead, 0700);
		*slash = '/';
	}
	return 0;
}

/* The senders' libraries, their shared state and c->parallel threads:
 * 0, or 1 (reported, the spool aborted) when one could not start. */
static int start_senders(struct config *c, struct spool *spool, const struct target *tg,
			 const char *dead, struct out *rout, struct sender *senders, size_t *n)
{
	/* appends to a file go one batch at a time (its journal keeps them
	 * exactly once) */
	if (tg->kind == SINK_FILE)
		c->parallel = 1;
	c->sink.headers = c->headers;
	c->sink.nheaders = c->nheaders;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	mosquitto_lib_init();
	struct sender_shared *sh = &c->sh;
	pthread_mutex_init(&sh->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sh->ended, &ca);
	pthread_condattr_destroy(&ca);
	sh->spool = spool;
	sh->target = tg;
	sh->sink_opts = &c->sink;
	sh->dead_letter = dead;
	sh->receipts = c->receipts;
	if (c->rate_limit) {
		ratelimit_init(&c->rate, c->rate_limit, ratelimit_now_ns());
		sh->rate = &c->rate;
	}
	/* receipts go through their own writer, used by the senders only */
	out_init(rout, 1, true);
	sh->out = rout;
	char err[1024];
	for (*n = 0; *n < c->parallel; (*n)++) {
		if (sender_start(&senders[*n], sh, (int)*n, err, sizeof err) < 0) {
			diag_error("%s", err);
			spool_abort(spool);
			return CCE_EX_FAIL;
		}
	}
	return 0;
}

/* what start_senders set up, once every sender is joined */
static void senders_free(struct sender_shared *sh)
{
	if (sh->rate)
		ratelimit_free(sh->rate);
	pthread_cond_destroy(&sh->ended);
	pthread_mutex_destroy(&sh->mu);
	mosquitto_lib_cleanup();
	curl_global_cleanup();
}

/* Let the senders finish the backlog, unless stopped: woken when the last
 * one ends (not a polling nap, which would add its length to every run),
 * and every 50ms for signals and --stats. */
static void wait_senders(struct sender_shared *sh, struct stats *stats, struct sender *senders,
			 size_t n)
{
	for (;;) {
		pthread_mutex_lock(&sh->mu);
		if (sh->running) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_nsec += 50 * 1000000L;
			ts.tv_sec += ts.tv_nsec / 1000000000L;
			ts.tv_nsec %= 1000000000L;
			pthread_cond_timedwait(&sh->ended, &sh->mu, &ts);
		}
		int running = sh->running;
		pthread_mutex_unlock(&sh->mu);
		if (!running)
			break;
		if (sig_stop) {
			sh->stop = 1;
			spool_abort(sh->spool);
		}
		stats_due(stats);
	}
	for (size_t i = 0; i < n; i++)
		sender_join(&senders[i]);
}

/* The run's exit status from what the reader, the spool and the senders
 * went through, with the warnings that explain a drop or a backlog. */
static int run_status(int status, const struct batcher *b, const struct sender_shared *sh,
		      const char *spool_dir)
{
	struct spool_stats st;
	spool_stats(b->spool, &st);
	if (st.dropped_records)
		diag_warn("the spool was full: %" PRIu64 " records in %" PRIu64
			  " batches were dropped (--when-full drop-oldest)",
			  st.dropped_records, st.dropped_batches);
	if (!status) {
		if (b->failed || b->lost || b->unspooled || sh->failed)
			status = CCE_EX_IOERR;
		else if (b->fatal)
			status = b->fatal;
		else if (st.records)
			status = CCE_EX_TEMPFAIL;
		else if (sh->dead_records)
			status = CCE_EX_FAIL;
	}
	if (status == CCE_EX_TEMPFAIL)
		diag_warn("%" PRIu64 " records stay in the spool%s%s%s for a later run", st.records,
			  spool_dir ? " '" : " (memory: lost)", spool_dir ? spool_dir : "",
			  spool_dir ? "'" : "");
	return status;
}

static void config_free(struct config *c)
{
	for (size_t i = 0; i < c->nheaders; i++)
		free(c->headers[i]);
	free(c->headers);
	free((char *)c->sink.bearer);
	free((char *)c->sink.user);
}

/* stdout is the receipts' writer's: its state decides the exit code */
static int finish(struct tool *t, struct out *rout, int status)
{
	out_flush(rout);
	t->out.closed = rout->closed;
	t->out.err = rout->err;
	out_free(rout);
	status = tool_finish(t, status);
	jsonl_close(t->in);
	out_free(&t->out);
	return status;
}

int main(int argc, char **argv)
{
	struct tool t;
	struct config c;
	struct target tg = { 0 };
	char *spool_dir = NULL, *dead = NULL, err[1024];
	int held = tool_init(&t, "cce-push");
	if (held)
		return held;
	int status = parse_options(argc, argv, &t, &c);
	if (!status)
		status = check_args(argc, argv, &c, &tg);
	if (!status) {
		tool_start(&t);
		status = open_paths(&c, argv[optind], &spool_dir, &dead);
	}
	if (status) {
		target_free(&tg);
		config_free(&c);
		return status == TOOL_DONE ? tool_finish(&t, 0) : status;
	}

	struct batcher b = { .max_records = c.batch_records, .max_bytes = c.batch_bytes,
			     .linger_ms = c.linger_ms, .sh = &c.sh };
	struct stats stats;
	stats_init(&stats, c.stats_ms, &t, &c.sh, &b);
	b.stats = &stats;
	/* batches read in a burst share an fsync, up to 4MiB */
	struct spool_opts so = { spool_dir, c.spool_max, c.drop_oldest, 0, 4 << 20, stats_idle, &stats };
	if (!(b.spool = spool_open(&so, err, sizeof err))) {
		diag_error("%s", err);
		free(spool_dir);
		free(dead);
		target_free(&tg);
		config_free(&c);
		return errno == EWOULDBLOCK ? CCE_EX_TEMPFAIL : CCE_EX_IOERR;
	}
	c.sink.spool_dir = spool_dir;
	struct out rout;
	struct sender senders[MAX_PARALLEL];
	size_t nsenders;
	status = start_senders(&c, b.spool, &tg, dead, &rout, senders, &nsenders);

	if (!status && !c.drain) {
		/* the output is written by the senders only, under their lock;
		 * the reader syncs the spool whenever it would wait */
		struct jsonl_opts jo = tool_jsonl_opts(&t, true);
		jo.before_block = batch_before_block;
		jo.arg = &b;
		t.in = jsonl_open(argv + optind + 1, argc - optind - 1, &jo);
		batch_read_loop(&b, &t, &tg);
	}
	batch_finish(&b, dead);
	spool_close_input(b.spool);
	if (sig_stop || b.failed)
		spool_abort(b.spool);
	wait_senders(&c.sh, &stats, senders, nsenders);
	if (c.stats_ms > 0)
		stats_print(&stats); /* the last one: every record of the run counted */
	status = run_status(status, &b, &c.sh, spool_dir);
	spool_close(b.spool);
	status = finish(&t, &rout, status);
	target_free(&tg);
	config_free(&c);
	free(spool_dir);
	free(dead);
	senders_free(&c.sh);
	return status;
}
