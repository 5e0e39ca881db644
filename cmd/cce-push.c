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
#include "sig.h"
#include "timeutil.h"
#include "tool.h"

#include "cce-push/sender.h"
#include "cce-push/sink.h"
#include "cce-push/spool.h"
#include "cce-push/target.h"

static const char usage[] =
	"usage: cce-push [options] URL [FILE...]\n"
	"       cce-push --drain [options] URL\n"
	"  URL is http://, https://, mqtt://host[:port]/TOPIC, mqtts://... or file:PATH;\n"
	"  {field} takes a record's field, {batch} the batch id\n"
	"      --spool DIR           spool directory (default $CCE_HOME/spool/NAME)\n"
	"      --no-spool            keep batches in memory only: a crash loses them\n"
	"      --spool-max SIZE      most unacknowledged bytes to keep (1GiB)\n"
	"      --when-full POLICY    block (default) or drop-oldest\n"
	"      --drain               deliver the spooled backlog, then exit\n"
	"      --batch-records N     records per batch (500)\n"
	"      --batch-bytes SIZE    bytes per batch (1MiB)\n"
	"      --linger DUR          longest wait of a partial batch (200ms)\n"
	"      --method METHOD       POST (default) or PUT (the URL needs {batch})\n"
	"      --gzip                compress HTTP request bodies\n"
	"  -H, --header LINE         add 'Name: value' to every request\n"
	"      --header-file FILE    add the header lines in FILE\n"
	"      --bearer-file FILE    send the token in FILE as a bearer token\n"
	"      --user-file FILE      user:password for HTTP basic auth or MQTT\n"
	"      --cacert FILE         CA certificates to verify the server with\n"
	"      --cert FILE           client certificate\n"
	"      --key FILE            client key\n"
	"      --insecure            do not verify the server's certificate\n"
	"      --timeout DUR         per request (30s)\n"
	"      --qos N               MQTT quality of service, 0, 1 (default) or 2\n"
	"      --mqtt-version V      5 (default: batch ids as user properties) or 3.1.1\n"
	"      --parallel N          batches in flight (1 keeps the order)\n"
	"      --backoff DUR         first retry delay (1s)\n"
	"      --backoff-max DUR     longest retry delay (5m)\n"
	"      --retry-for DUR       give up on a batch after DUR (default never)\n"
	"      --dead-letter FILE    where refused batches go (beside the spool)\n"
	"      --receipts            print one line per delivered batch\n"
	"      --stats DUR           print a status line on stderr every DUR\n";

enum {
	OPT_SPOOL = CLI_OPT_TOOL, OPT_NO_SPOOL, OPT_SPOOL_MAX, OPT_WHEN_FULL, OPT_DRAIN,
	OPT_BATCH_RECORDS, OPT_BATCH_BYTES, OPT_LINGER, OPT_METHOD, OPT_GZIP, OPT_HEADER_FILE,
	OPT_BEARER_FILE, OPT_USER_FILE, OPT_CACERT, OPT_CERT, OPT_KEY, OPT_INSECURE, OPT_TIMEOUT,
	OPT_QOS, OPT_PARALLEL, OPT_BACKOFF, OPT_BACKOFF_MAX, OPT_RETRY_FOR, OPT_DEAD_LETTER,
	OPT_RECEIPTS, OPT_STATS, OPT_MQTT_VERSION,
};

static const struct option longopts[] = {
	CLI_COMMON_LONGOPTS,
	{ "spool", required_argument, NULL, OPT_SPOOL },
	{ "no-spool", no_argument, NULL, OPT_NO_SPOOL },
	{ "spool-max", required_argument, NULL, OPT_SPOOL_MAX },
	{ "when-full", required_argument, NULL, OPT_WHEN_FULL },
	{ "drain", no_argument, NULL, OPT_DRAIN },
	{ "batch-records", required_argument, NULL, OPT_BATCH_RECORDS },
	{ "batch-bytes", required_argument, NULL, OPT_BATCH_BYTES },
	{ "linger", required_argument, NULL, OPT_LINGER },
	{ "method", required_argument, NULL, OPT_METHOD },
	{ "gzip", no_argument, NULL, OPT_GZIP },
	{ "header", required_argument, NULL, 'H' },
	{ "header-file", required_argument, NULL, OPT_HEADER_FILE },
	{ "bearer-file", required_argument, NULL, OPT_BEARER_FILE },
	{ "user-file", required_argument, NULL, OPT_USER_FILE },
	{ "cacert", required_argument, NULL, OPT_CACERT },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "insecure", no_argument, NULL, OPT_INSECURE },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "qos", required_argument, NULL, OPT_QOS },
	{ "mqtt-version", required_argument, NULL, OPT_MQTT_VERSION },
	{ "parallel", required_argument, NULL, OPT_PARALLEL },
	{ "backoff", required_argument, NULL, OPT_BACKOFF },
	{ "backoff-max", required_argument, NULL, OPT_BACKOFF_MAX },
	{ "retry-for", required_argument, NULL, OPT_RETRY_FOR },
	{ "dead-letter", required_argument, NULL, OPT_DEAD_LETTER },
	{ "receipts", no_argument, NULL, OPT_RECEIPTS },
	{ "stats", required_argument, NULL, OPT_STATS },
	{ NULL, 0, NULL, 0 },
};

#define MAX_OPEN 64   /* batches being filled at once (distinct URLs) */
#define MAX_PARALLEL 64

struct config {
	const char *spool_dir, *dead_letter;
	bool no_spool, drop_oldest, drain, receipts;
	uint64_t spool_max, batch_records, batch_bytes, parallel;
	int64_t linger_ms, stats_ms;
	struct sink_opts sink;
	struct sender_shared sh;
	char **headers;
	size_t nheaders;
};

struct open_batch {
	struct buf key, data;
	uint32_t nrec;
	int64_t first_ms;
	const char *source;   /* where its first record came from */
	uint64_t first_line, last_line;
};

struct reader {
	struct spool *spool;
	struct config *c;
	struct tool *t;
	int64_t next_stats;   /* monotonic ms, -1: no --stats */
	struct open_batch ob[MAX_OPEN];
	size_t nob;
	bool failed;          /* the spool could not be written */
	int fatal;            /* exit code of a rejection that ended the input */
	uint64_t lost;        /* records read but never spooled, nor dead-lettered */
	uint64_t unspooled;   /* records read that went to the dead-letter file instead */
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

/* fsync what was spooled and hand it to the senders */
static void sync_spool(struct reader *r)
{
	char err[1024];
	if (!r->failed && spool_sync(r->spool, err, sizeof err) < 0) {
		diag_error("%s", err);
		r->failed = true;
	}
}

/* the reader is about to wait for input: nothing may wait with it */
static void before_block(void *arg)
{
	sync_spool(arg);
}

static int commit(struct reader *r, struct open_batch *ob, bool force)
{
	if (!ob->nrec)
		return 0;
	char err[1024];
	int rc = spool_append(r->spool, ob->key.data, ob->key.len, ob->data.data, ob->data.len,
			      ob->nrec, force, err, sizeof err);
	if (rc < 0) {
		diag_error("%s", err);
		r->failed = true;
		return -1;
	}
	if (rc > 0)
		return 1; /* stopped while waiting for room: kept open */
	buf_reset(&ob->data);
	ob->nrec = 0;
	return 0;
}

static void remove_batch(struct reader *r, size_t i)
{
	buf_free(&r->ob[i].key);
	buf_free(&r->ob[i].data);
	r->ob[i] = r->ob[--r->nob];
}

/* The open batch for a key, making room for a new one when needed. */
static struct open_batch *batch_for(struct reader *r, const struct buf *key, int64_t now)
{
	for (size_t i = 0; i < r->nob; i++)
		if (r->ob[i].key.len == key->len && memcmp(r->ob[i].key.data, key->data, key->len) == 0)
			return &r->ob[i];
	if (r->nob == MAX_OPEN) {
		size_t oldest = 0;
		for (size_t i = 1; i < r->nob; i++)
			if (r->ob[i].first_ms < r->ob[oldest].first_ms)
				oldest = i;
		if (commit(r, &r->ob[oldest], false) != 0)
			return NULL;
		remove_batch(r, oldest);
	}
	struct open_batch *ob = &r->ob[r->nob++];
	buf_init(&ob->key);
	buf_init(&ob->data);
	buf_add(&ob->key, key->data, key->len);
	ob->nrec = 0;
	ob->first_ms = now;
	return ob;
}

/* Commit the batches whose linger ran out; the time until the next one
 * runs out (-1: none open). */
static int64_t linger_due(struct reader *r, const struct config *c, int64_t now)
{
	int64_t next = -1;
	bool committed = false;
	for (size_t i = 0; i < r->nob;) {
		struct open_batch *ob = &r->ob[i];
		int64_t left = ob->first_ms + c->linger_ms - now;
		if (left <= 0) {
			if (commit(r, ob, false) != 0)
				return 0;
			remove_batch(r, i);
			committed = true;
			continue;
		}
		if (next < 0 || left < next)
			next = left;
		i++;
	}
	if (committed)
		sync_spool(r);
	return next;
}

/* A batch read but not spooled (the spool failed, or its file system is
 * full at the end): into the dead-letter file if it can be written, else
 * named on stderr as lost. Never silently. */
static void keep_unspooled(struct reader *r, struct open_batch *ob, const char *dead)
{
	if (!ob->nrec)
		return;
	char err[1024];
	if (dead && fs_append(dead, ob->data.data, ob->data.len, 0600, true, err, sizeof err) == 0) {
		diag_error("%" PRIu32 " records read (%s lines %" PRIu64 "-%" PRIu64
			   ") could not be spooled: written to the dead-letter file '%s'",
			   ob->nrec, ob->source, ob->first_line, ob->last_line, dead);
		r->unspooled += ob->nrec;
	} else {
		diag_error("%" PRIu32 " records read (%s lines %" PRIu64 "-%" PRIu64
			   ") could not be spooled and are lost", ob->nrec, ob->source,
			   ob->first_line, ob->last_line);
		r->lost += ob->nrec;
	}
	buf_reset(&ob->data);
	ob->nrec = 0;
}

static void print_stats(struct config *c, struct reader *r, struct tool *t)
{
	struct spool_stats st;
	spool_stats(r->spool, &st);
	struct sender_shared *sh = &c->sh;
	pthread_mutex_lock(&sh->mu);
	char line[1024];
	int n = snprintf(line, sizeof line,
			 "{\"tool\":\"cce-push\",\"ts\":%" PRId64 ",\"read\":%" PRIu64 ",\"rejected\":%" PRIu64
			 ",\"accepted\":%" PRIu64 ",\"delivered\":%" PRIu64 ",\"delivered_batches\":%" PRIu64
			 ",\"spooled\":%" PRIu64 ",\"spooled_bytes\":%" PRIu64 ",\"dropped\":%" PRIu64
			 ",\"dead_letter\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"retries\":%" PRIu64 "}\n",
			 time_now_ms(), t->in ? jsonl_lines(t->in) : 0, t->in ? jsonl_rejected(t->in) : 0,
			 st.appended_records, sh->delivered_records, sh->delivered_batches, st.records,
			 st.bytes, st.dropped_records, sh->dead_records + r->unspooled, r->lost,
			 sh->retries);
	pthread_mutex_unlock(&sh->mu);
	if (n > 0)
		diag_raw(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static bool senders_gave_up(struct sender_shared *sh)
{
	pthread_mutex_lock(&sh->mu);
	bool g = sh->gave_up || sh->failed;
	pthread_mutex_unlock(&sh->mu);
	return g;
}

/* A status record when SIGUSR1 asked for one or --stats is due. */
static void stats_due(struct reader *r)
{
	if (!sig_status && r->next_stats < 0)
		return; /* the common case, without a clock read per record */
	int64_t now = time_mono_ms();
	if (sig_status || (r->next_stats >= 0 && now >= r->next_stats)) {
		sig_status = 0;
		print_stats(r->c, r, r->t);
		if (r->next_stats >= 0)
			r->next_stats = now + r->c->stats_ms;
	}
}

static void spool_idle(void *arg)
{
	stats_due(arg);
}

/* Monotonic ms from the coarse clock: read once per record, where the
 * full clock cost several percent of the run; linger needs no better than
 * its few milliseconds of resolution. */
static int64_t coarse_ms(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) < 0)
		return time_mono_ms();
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read, batch and spool until the input ends, a signal, or the senders
 * give up. */
static void read_loop(struct tool *t, struct config *c, struct reader *r, const struct target *tg)
{
	struct json_doc doc;
	json_doc_init(&doc);
	struct buf key;
	buf_init(&key);
	char err[512];
	unsigned lines = 0;
	for (;;) {
		int64_t now = coarse_ms();
		int64_t wait = linger_due(r, c, now);
		/* the senders' lock, once in a while: a spool they aborted
		 * stops the appends at once anyway */
		if (r->failed || sig_stop || ((++lines & 1023) == 0 && senders_gave_up(&c->sh)))
			break;
		stats_due(r);
		if (r->next_stats >= 0 && (wait < 0 || r->next_stats - now < wait))
			wait = r->next_stats - now > 0 ? r->next_stats - now : 0;
		/* wake now and then to notice senders that gave up */
		if (wait < 0 || wait > 1000)
			wait = 1000;
		struct jsonl_line line;
		/* without placeholders a line is only validated: no tokens needed */
		int st = tool_next(t, &line, tg->nfields ? &doc : NULL, (int)wait);
		if (st != JSONL_LINE) {
			sync_spool(r);
			lines = 1023; /* check the senders on the next turn */
		}
		if (st == JSONL_FATAL) {
			r->fatal = jsonl_fatal_exit(t->in); /* tool_next said why */
			break;
		}
		if (st == JSONL_EOF)
			break;
		if (st != JSONL_LINE)
			continue;
		buf_reset(&key);
		if (target_key(tg, &doc, &key, err, sizeof err) < 0) {
			if (jsonl_reject(t->in, &line, "%s", err)) {
				r->fatal = tool_fatal(t->in);
				break;
			}
			continue;
		}
		struct open_batch *ob = batch_for(r, &key, now);
		if (!ob)
			break;
		if (ob->nrec && (ob->data.len + line.len + 1 > c->batch_bytes)) {
			if (commit(r, ob, false) != 0)
				break;
			ob->first_ms = now;
		}
		if (!ob->nrec) {
			ob->first_ms = now;
			ob->source = line.source;
			ob->first_line = line.lineno;
		}
		ob->last_line = line.lineno;
		buf_add(&ob->data, line.data, line.len);
		buf_addc(&ob->data, '\n');
		ob->nrec++;
		if (ob->nrec >= c->batch_records || ob->data.len >= c->batch_bytes)
			if (commit(r, ob, false) != 0)
				break;
	}
	json_doc_free(&doc);
	buf_free(&key);
	sync_spool(r);
}

static int parse_options(int argc, char **argv, struct tool *t, struct config *c)
{
	char err[512];
	int ch;
	while ((ch = cli_getopt(&t->common, argc, argv, ":" CLI_COMMON_SHORTOPTS "H:", longopts, err,
				 sizeof err)) != -1) {
		if (ch == CLI_BAD)
			return diag_usage("%s", err);
		uint64_t v;
		int rc = 0;
		switch (ch) {
		case 'h':
			fputs(usage, stdout);
			fputs(cli_common_help, stdout);
			exit(0);
		case 'V':
			tool_print_version(t);
			exit(0);
		case OPT_SPOOL: c->spool_dir = optarg; break;
		case OPT_NO_SPOOL: c->no_spool = true; break;
		case OPT_SPOOL_MAX:
			if (cli_size("--spool-max", optarg, &c->spool_max, err, sizeof err) < 0)
				return diag_usage("%s", err);
			if (c->spool_max < 4096)
				return diag_usage("--spool-max: '%s' is below 4KiB", optarg);
			break;
		case OPT_WHEN_FULL:
			if (strcmp(optarg, "block") == 0)
				c->drop_oldest = false;
			else if (strcmp(optarg, "drop-oldest") == 0)
				c->drop_oldest = true;
			else
				return diag_usage("--when-full: invalid policy '%s' (use block or drop-oldest)",
						  optarg);
			break;
		case OPT_DRAIN: c->drain = true; break;
		case OPT_BATCH_RECORDS:
			if (cli_uint("--batch-records", optarg, 1, 1000000, &c->batch_records, err,
				     sizeof err) < 0)
				return diag_usage("%s", err);
			break;
		case OPT_BATCH_BYTES:
			if (cli_size("--batch-bytes", optarg, &c->batch_bytes, err, sizeof err) < 0)
				return diag_usage("%s", err);
			if (c->batch_bytes < 1 || c->batch_bytes > ((uint64_t)1 << 30))
				return diag_usage("--batch-bytes: '%s' is out of range (1 to 1GiB)", optarg);
			break;
		case OPT_LINGER:
			if (cli_duration("--linger", optarg, &c->linger_ms, err, sizeof err) < 0)
				return diag_usage("%s", err);
			break;
		case OPT_METHOD:
			if (strcmp(optarg, "POST") == 0 || strcmp(optarg, "post") == 0)
				c->sink.method = "POST";
			else if (strcmp(optarg, "PUT") == 0 || strcmp(optarg, "put") == 0)
				c->sink.method = "PUT";
			else
				return diag_usage("--method: invalid method '%s' (use POST or PUT)", optarg);
			break;
		case OPT_GZIP: c->sink.gzip = true; break;
		case 'H':
			if (!valid_header(optarg))
				return diag_usage("--header: invalid header '%s' (use 'Name: value')", optarg);
			add_header(c, optarg);
			break;
		case OPT_HEADER_FILE: {
			char *s = read_secret("--header-file", optarg, &rc);
			if (!s)
				return rc;
			for (char *line = strtok(s, "\r\n"); line; line = strtok(NULL, "\r\n")) {
				if (!valid_header(line)) {
					free(s);
					return diag_usage("--header-file: invalid header line in '%s'", optarg);
				}
				add_header(c, line);
			}
			free(s);
			break;
		}
		case OPT_BEARER_FILE:
			free((char *)c->sink.bearer);
			if (!(c->sink.bearer = read_secret("--bearer-file", optarg, &rc)))
				return rc;
			break;
		case OPT_USER_FILE:
			free((char *)c->sink.user);
			if (!(c->sink.user = read_secret("--user-file", optarg, &rc)))
				return rc;
			break;
		case OPT_CACERT: c->sink.cacert = optarg; break;
		case OPT_CERT: c->sink.cert = optarg; break;
		case OPT_KEY: c->sink.key = optarg; break;
		case OPT_INSECURE: c->sink.insecure = true; break;
		case OPT_TIMEOUT:
			if (cli_duration("--timeout", optarg, &c->sink.timeout_ms, err, sizeof err) < 0)
				return diag_usage("%s", err);
			/* 0 would mean "wait forever" to libcurl, and --retry-for
			 * could never give up on a server that never answers */
			if (c->sink.timeout_ms == 0)
				return diag_usage("--timeout: '%s' must be more than 0", optarg);
			break;
		case OPT_QOS:
			if (cli_uint("--qos", optarg, 0, 2, &v, err, sizeof err) < 0)
				return diag_usage("%s", err);
			c->sink.qos = (int)v;
			break;
		case OPT_MQTT_VERSION:
			if (strcmp(optarg, "5") == 0)
				c->sink.mqtt_v5 = true;
			else if (strcmp(optarg, "3.1.1") == 0 || strcmp(optarg, "311") == 0)
				c->sink.mqtt_v5 = false;
			else
				return diag_usage("--mqtt-version: '%s' is not 5 or 3.1.1", optarg);
			break;
		case OPT_PARALLEL:
			if (cli_uint("--parallel", optarg, 1, MAX_PARALLEL, &c->parallel, err, sizeof err) < 0)
				return diag_usage("%s", err);
			break;
		case OPT_BACKOFF:
			if (cli_duration("--backoff", optarg, &c->sh.backoff_ms, err, sizeof err) < 0)
				return diag_usage("%s", err);
			break;
		case OPT_BACKOFF_MAX:
			if (cli_duration("--backoff-max", optarg, &c->sh.backoff_max_ms, err, sizeof err) < 0)
				return diag_usage("%s", err);
			break;
		case OPT_RETRY_FOR:
			if (cli_duration("--retry-for", optarg, &c->sh.retry_for_ms, err, sizeof err) < 0)
				return diag_usage("%s", err);
			break;
		case OPT_DEAD_LETTER: c->dead_letter = optarg; break;
		case OPT_RECEIPTS: c->receipts = true; break;
		case OPT_STATS:
			if (cli_duration("--stats", optarg, &c->stats_ms, err, sizeof err) < 0)
				return diag_usage("%s", err);
			if (c->stats_ms <= 0)
				return diag_usage("--stats: the interval must be above zero");
			break;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct tool t;
	int held = tool_init(&t, "cce-push");
	if (held)
		return held;
	struct config c;
	memset(&c, 0, sizeof c);
	c.spool_max = (uint64_t)1 << 30;
	c.batch_records = 500;
	c.batch_bytes = 1 << 20;
	c.linger_ms = 200;
	c.parallel = 1;
	c.sink.method = "POST";
	c.sink.timeout_ms = 30000;
	c.sink.qos = 1;
	c.sink.mqtt_v5 = true;
	c.sh.backoff_ms = 1000;
	c.sh.backoff_max_ms = 5 * 60 * 1000;
	c.sh.retry_for_ms = -1;
	c.sink.stop = &c.sh.stop;

	int rc = parse_options(argc, argv, &t, &c);
	if (rc)
		return rc;
	if (optind >= argc)
		return diag_usage("no URL given");
	const char *url = argv[optind++];
	if (c.drain && optind < argc)
		return diag_usage("--drain reads no input files");
	if (c.drain && c.no_spool)
		return diag_usage("--drain needs a spool; it cannot go with --no-spool");
	if (c.no_spool && c.spool_dir)
		return diag_usage("--spool and --no-spool exclude each other");
	/* secrets from the environment when no file names them */
	const char *env;
	if (!c.sink.bearer && (env = getenv("CCE_PUSH_BEARER")) && *env)
		c.sink.bearer = xstrdup(env);
	if (!c.sink.user && (env = getenv("CCE_PUSH_USER")) && *env)
		c.sink.user = xstrdup(env);

	struct target tg;
	char err[1024];
	if (target_parse(&tg, url, err, sizeof err) < 0) {
		target_free(&tg);
		return diag_usage("%s", err);
	}
	if (strcmp(c.sink.method, "PUT") == 0 && !tg.has_batch) {
		target_free(&tg);
		return diag_usage("--method PUT needs {batch} in the URL, or every batch overwrites the last");
	}
	if (tg.kind != SINK_HTTP && (strcmp(c.sink.method, "POST") != 0 || c.sink.gzip)) {
		target_free(&tg);
		return diag_usage("--method and --gzip apply to http:// and https:// URLs only");
	}
	tool_start(&t);

	char *spool_dir = NULL, *dead = NULL;
	int home_status = 0; /* tool_home reports why it is not 0 */
	if (!c.no_spool) {
		spool_dir = c.spool_dir ? xstrdup(c.spool_dir) : default_spool(url, &home_status);
		if (!spool_dir) {
			target_free(&tg);
			return home_status;
		}
	}
	if (c.dead_letter) {
		dead = xstrdup(c.dead_letter);
	} else {
		char *base = spool_dir ? xstrdup(spool_dir) : default_spool(url, &home_status);
		if (!base) {
			target_free(&tg);
			return home_status;
		}
		size_t n = strlen(base);
		while (n > 1 && base[n - 1] == '/')
			base[--n] = 0;
		struct buf b;
		buf_init(&b);
		buf_addf(&b, "%s.dead.jsonl", base);
		dead = buf_detach(&b, NULL);
		free(base);
		/* beside the spool: its parent must exist */
		char *slash = strrchr(dead, '/');
		if (slash) {
			*slash = 0;
			fs_mkdirs(dead, 0700);
			*slash = '/';
		}
	}

	/* batches read in a burst share an fsync, up to this much */
	struct reader r;
	memset(&r, 0, sizeof r);
	r.c = &c;
	r.t = &t;
	r.next_stats = c.stats_ms > 0 ? time_mono_ms() + c.stats_ms : -1;
	struct spool_opts so = { spool_dir, c.spool_max, c.drop_oldest, 0, 4 << 20, spool_idle, &r };
	r.spool = spool_open(&so, err, sizeof err);
	if (!r.spool) {
		diag_error("%s", err);
		free(spool_dir);
		free(dead);
		target_free(&tg);
		return errno == EWOULDBLOCK ? CCE_EX_TEMPFAIL : CCE_EX_IOERR;
	}

	c.sink.spool_dir = spool_dir;
	/* appends to a file go one batch at a time (its journal keeps them
	 * exactly once) */
	if (tg.kind == SINK_FILE)
		c.parallel = 1;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	mosquitto_lib_init();
	c.sink.headers = c.headers;
	c.sink.nheaders = c.nheaders;
	struct sender_shared *sh = &c.sh;
	pthread_mutex_init(&sh->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sh->ended, &ca);
	pthread_condattr_destroy(&ca);
	sh->spool = r.spool;
	sh->target = &tg;
	sh->sink_opts = &c.sink;
	sh->dead_letter = dead;
	sh->receipts = c.receipts;
	/* receipts go through their own writer, used by the senders only */
	struct out rout;
	out_init(&rout, 1, true);
	sh->out = &rout;
	struct sender senders[MAX_PARALLEL];
	size_t nsenders = 0;
	int status = 0;
	for (; nsenders < c.parallel; nsenders++) {
		if (sender_start(&senders[nsenders], sh, (int)nsenders, err, sizeof err) < 0) {
			diag_error("%s", err);
			status = CCE_EX_FAIL;
			spool_abort(r.spool);
			break;
		}
	}

	if (!status && !c.drain) {
		/* the output is written by the senders only, under their lock;
		 * the reader syncs the spool whenever it would wait */
		struct jsonl_opts jo = tool_jsonl_opts(&t, true);
		jo.before_block = before_block;
		jo.arg = &r;
		t.in = jsonl_open(argv + optind, argc - optind, &jo);
		read_loop(&t, &c, &r, &tg);
	}
	/* Persist what was read: over --spool-max if need be, since these
	 * records are out of the pipe already. */
	for (size_t i = 0; i < r.nob; i++)
		if (r.failed || commit(&r, &r.ob[i], true) != 0)
			keep_unspooled(&r, &r.ob[i], dead);
	while (r.nob)
		remove_batch(&r, r.nob - 1);
	if (!r.failed) {
		char e2[1024];
		if (spool_sync(r.spool, e2, sizeof e2) < 0) {
			diag_error("%s", e2);
			r.failed = true;
		}
	}
	spool_close_input(r.spool);
	if (sig_stop || r.failed)
		spool_abort(r.spool);

	/* Let the senders finish the backlog, unless stopped: woken when
	 * the last one ends (not a polling nap, which would add its length
	 * to every run), and every 50ms for signals and --stats. */
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
			spool_abort(r.spool);
		}
		stats_due(&r);
	}
	for (size_t i = 0; i < nsenders; i++)
		sender_join(&senders[i]);

	if (c.stats_ms > 0)
		print_stats(&c, &r, &t); /* the last one: every record of the run counted */
	struct spool_stats st;
	spool_stats(r.spool, &st);
	if (st.dropped_records)
		diag_warn("the spool was full: %" PRIu64 " records in %" PRIu64
			  " batches were dropped (--when-full drop-oldest)",
			  st.dropped_records, st.dropped_batches);
	if (!status) {
		if (r.failed || r.lost || r.unspooled || sh->failed)
			status = CCE_EX_IOERR;
		else if (r.fatal)
			status = r.fatal;
		else if (st.records)
			status = CCE_EX_TEMPFAIL;
		else if (sh->dead_records)
			status = CCE_EX_FAIL;
	}
	if (status == CCE_EX_TEMPFAIL)
		diag_warn("%" PRIu64 " records stay in the spool%s%s%s for a later run", st.records,
			  spool_dir ? " '" : " (memory: lost)", spool_dir ? spool_dir : "",
			  spool_dir ? "'" : "");
	spool_close(r.spool);
	out_flush(&rout);
	t.out.closed = rout.closed;
	t.out.err = rout.err;
	out_free(&rout);
	status = tool_finish(&t, status);
	jsonl_close(t.in);
	out_free(&t.out);
	target_free(&tg);
	for (size_t i = 0; i < c.nheaders; i++)
		free(c.headers[i]);
	free(c.headers);
	free((char *)c.sink.bearer);
	free((char *)c.sink.user);
	free(spool_dir);
	free(dead);
	pthread_cond_destroy(&sh->ended);
	pthread_mutex_destroy(&sh->mu);
	mosquitto_lib_cleanup();
	curl_global_cleanup();
	return status;
}
