/*
 * The HTTP interface on libmicrohttpd (see gateway.h and cce-gateway(1)).
 *
 * Each --listen address is a daemon with one polling thread. A POST's body
 * is gathered (up to --max-body, inflated up to --max-body again), parsed
 * into records on the polling thread, handed to the writer as a job, and
 * the connection is suspended until the writer has made the group durable;
 * then the answer is queued. Memory per connection: libmicrohttpd's pool
 * (64 KiB), the body, its inflated copy and the records made of it, so at
 * most about 3 x --max-body while a request is in hand, freed when it is
 * answered; a query holds one batch of 256 rows.
 *
 * libmicrohttpd's connection timeout (--idle-timeout) restarts at every
 * byte, so a client trickling a header byte at a time would keep its slot
 * for ever: each connection has a slot here, and a watchdog thread shuts
 * down the socket of one whose request head has not all arrived within
 * --request-timeout of the connection's start or of its previous answer
 * (libmicrohttpd then sees the end and closes it). A body is held to the
 * same deadline by the handler.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <gnutls/gnutls.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "diag.h"
#include "fsutil.h"
#include "gateway.h"
#include "hash.h"
#include "map.h"
#include "timeutil.h"

#define QUERY_BATCH 256

struct token {
	char *secret;
	char **scope;       /* device patterns; none: every device */
	size_t nscope;
	double bucket;      /* records that may be sent now (rate limit) */
	int64_t filled;
};

/* a connection, for the watchdog */
struct slot {
	MHD_socket fd;
	int64_t since;       /* the head phase began (mono ms); 0: a request is in hand */
	bool cut;
	struct slot *prev, *next;
};

struct server {
	const struct gw_opts *o;
	struct store *s;
	struct writer *w;
	struct follower *f;
	struct MHD_Daemon *d[16];
	int nd;
	struct token *tok;
	size_t ntok;
	struct nodes *nodes;    /* --registry */
	struct map node_rate;   /* node name (copied) -> its struct token (bucket only) */
	struct buf cert, key, cacert;   /* PEM, kept for the daemons */
	pthread_mutex_t mu;     /* tokens' buckets and the counters */
	uint64_t requests, rejects, limited;
	_Atomic int inflight;
	int64_t started;
	pthread_mutex_t slots_mu;   /* the slots and the watchdog's stop */
	pthread_cond_t wd_wake;
	struct slot *slots;
	pthread_t watchdog;
	bool wd_running, wd_stop;
};

enum route { R_NONE, R_INGEST, R_QUERY, R_LIST, R_CONNECT, R_DISCONNECT, R_STATUS };

struct req {
	struct server *sv;
	struct MHD_Connection *conn;
	enum route route;
	int64_t deadline;
	struct buf body;
	bool too_big, submitted, done;
	char *device, *stream, *key;
	int tok;
	char *node;             /* authenticated with this node's registry token */
	struct body_result recs;
	struct job job;
};

static const char *arg(struct MHD_Connection *c, const char *k)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, k);
}

static enum MHD_Result reply(struct MHD_Connection *c, int status, const char *ctype,
			     const char *body, size_t len, const char *hname, const char *hval)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", ctype);
	if (hname)
		MHD_add_response_header(r, hname, hval);
	enum MHD_Result rc = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result reply_error(struct req *q, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static enum MHD_Result reply_error(struct req *q, int status, const char *fmt, ...)
{
	char m[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m, sizeof m, fmt, ap);
	va_end(ap);
	struct buf b = BUF_INIT;
	buf_init(&b);
	buf_adds(&b, "{\"error\":");
	buf_add_json_str(&b, m, strlen(m));
	buf_adds(&b, "}\n");
	if (status >= 400) {
		pthread_mutex_lock(&q->sv->mu);
		q->sv->rejects++;
		pthread_mutex_unlock(&q->sv->mu);
	}
	q->route = R_NONE;   /* answered: a body still coming is dropped */
	enum MHD_Result rc = reply(q->conn, status, "application/json", b.data, b.len,
				   status == 401 ? "WWW-Authenticate" : NULL, "Bearer");
	buf_free(&b);
	return rc;
}

/* A device or stream name: 1 to 256 bytes, no '/', no control character. */
static bool good_name(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 256)
		return false;
	for (; *s; s++)
		if (*s == '/' || (unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static const char *bearer(struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	return h && strncasecmp(h, "Bearer ", 7) == 0 ? h + 7 : NULL;
}

/* The --token-file token's index, -1 for none or a bad one. */
static int find_token(struct server *sv, struct MHD_Connection *c)
{
	const char *h = bearer(c);
	if (!h)
		return -1;
	size_t n = strlen(h);
	unsigned char want[SHA256_LEN], have[SHA256_LEN];
	sha256(h, n, want);
	int found = -1;
	/* every token is compared, in constant time, so that timing tells nothing */
	for (size_t i = 0; i < sv->ntok; i++) {
		sha256(sv->tok[i].secret, strlen(sv->tok[i].secret), have);
		if (hash_equal(want, have, SHA256_LEN))
			found = (int)i;
	}
	return found;
}

static bool in_scope(const struct token *t, const char *device)
{
	if (!t || !t->nscope)
		return true;
	for (size_t i = 0; i < t->nscope; i++)
		if (device && fnmatch(t->scope[i], device, 0) == 0)
			return true;
	return false;
}

/* the rate limit: 0, or the seconds to wait */
static long rate_wait(struct server *sv, int tok, const char *node, uint32_t n)
{
	static struct token anon;
	double rate = sv->o->rate;
	if (rate <= 0)
		return 0;
	pthread_mutex_lock(&sv->mu);
	struct token *t = tok >= 0 ? &sv->tok[tok] : &anon;
	if (node) {
		/* each node's token has its own bucket */
		bool added;
		struct map_ent *e = map_put(&sv->node_rate, node, strlen(node), &added);
		if (added)
			e->val = xcalloc(1, sizeof *t);
		t = e->val;
	}
	int64_t now = time_mono_ms();
	if (!t->filled)
		t->bucket = rate;
	else
		t->bucket = fmin(rate, t->bucket + rate * (double)(now - t->filled) / 1000.0);
	t->filled = now;
	long wait = 0;
	/* a batch may overdraw the bucket: the average still holds */
	if (t->bucket > 0)
		t->bucket -= n;
	else
		wait = (long)ceil(-t->bucket / rate) + 1;
	if (wait)
		sv->limited++;
	pthread_mutex_unlock(&sv->mu);
	return wait;
}

static void job_done(struct job *j)
{
	struct req *q = j->arg;
	q->done = true;
	MHD_resume_connection(q->conn);
}

/* A time parameter: epoch ms or RFC 3339; absent leaves *v as it is. */
static bool time_arg(struct MHD_Connection *c, const char *k, int64_t *v)
{
	const char *s = arg(c, k);
	if (!s)
		return true;
	char *end;
	errno = 0;
	long long n = strtoll(s, &end, 10);
	if (*s && !*end && !errno) {
		*v = n;
		return true;
	}
	return time_parse_rfc3339(s, strlen(s), v) == 0;
}


struct query {
	struct store_reader *r;
	struct jqx *x;
	struct buf rows, out;       /* a batch of rows; what is sent of it */
	size_t *off, *len;
	size_t sent;
	bool eof;
};

static void query_free(void *cls)
{
	struct query *qq = cls;
	store_reader_close(qq->r);
	filter_free(qq->x);
	buf_free(&qq->rows);
	buf_free(&qq->out);
	free(qq->off);
	free(qq->len);
	free(qq);
}

/* The next batch into qq->out: 0, or <0 with err (the store's code, or
 * -1 for the filter) */
static int query_fill(struct query *qq, char *err, size_t errlen)
{
	buf_reset(&qq->out);
	qq->sent = 0;
	while (!qq->out.len && !qq->eof) {
		buf_reset(&qq->rows);
		size_t n = 0;
		int64_t id;
		const char *body;
		size_t len;
		int rc;
		while (n < QUERY_BATCH &&
		       (rc = store_next(qq->r, &id, &body, &len, err, errlen)) == 1) {
			qq->off[n] = qq->rows.len;
			qq->len[n++] = len;
			buf_add(&qq->rows, body, len);
			if (!qq->x)
				buf_addc(&qq->rows, '\n');
		}
		if (n < QUERY_BATCH) {
			if (rc < 0)
				return rc;
			qq->eof = true;
		}
		if (!qq->x)
			buf_add(&qq->out, qq->rows.data, qq->rows.len);
		else if (filter_run(qq->x, qq->rows.data, qq->off, qq->len, n, &qq->out, err,
				    errlen) < 0)
			return -1;
	}
	return 0;
}

static ssize_t query_read(void *cls, uint64_t pos, char *dst, size_t max)
{
	struct query *qq = cls;
	if (qq->sent == qq->out.len) {
		char err[512];
		if (qq->eof)
			return MHD_CONTENT_READER_END_OF_STREAM;
		/* the status is sent: a failure now can only cut the answer short */
		if (query_fill(qq, err, sizeof err) < 0) {
			diag_warn("query: %s", err);
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
		if (!qq->out.len)
			return MHD_CONTENT_READER_END_OF_STREAM;
	}
	size_t n = qq->out.len - qq->sent;
	if (n > max)
		n = max;
	memcpy(dst, qq->out.data + qq->sent, n);
	qq->sent += n;
	return (ssize_t)n;
}

static enum MHD_Result query_route(struct req *q)
{
	struct MHD_Connection *c = q->conn;
	int64_t start = INT64_MIN, end = INT64_MAX;
	uint64_t limit = 0;
	char err[1024];
	if (!time_arg(c, "startTimestamp", &start) || !time_arg(c, "endTimestamp", &end))
		return reply_error(q, 400, "startTimestamp and endTimestamp are epoch "
				   "milliseconds or RFC 3339 times");
	const char *l = arg(c, "limit");
	if (l && cli_uint("limit", l, 1, INT64_MAX, &limit, err, sizeof err) < 0)
		return reply_error(q, 400, "%s", err);
	struct query *qq = xcalloc(1, sizeof *qq);
	buf_init(&qq->rows);
	buf_init(&qq->out);
	qq->off = xcalloc(QUERY_BATCH, sizeof *qq->off);
	qq->len = xcalloc(QUERY_BATCH, sizeof *qq->len);
	const char *fx = arg(c, "filterExpression");
	int status = 400;
	if (fx && !(qq->x = filter_compile(fx, err, sizeof err))) {
		if (strstr(err, "refused until a restart"))
			status = 503;
		goto failed;
	}
	status = 503;
	if (!(qq->r = store_reader_open(q->sv->s, err, sizeof err)) ||
	    store_query(qq->r, q->device, q->stream, start, end, limit, err, sizeof err) < 0)
		goto failed;
	/* the first batch before the status, so that its failure is one: 503
	 * for a store that may do better when asked again, 500 when it will not
	 * (records that do not decode, a query past its bound) */
	int filled = query_fill(qq, err, sizeof err);
	if (filled < 0) {
		if (qq->x && strncmp(err, "filterExpression", 16) == 0)
			status = 422;
		else if (filled == STORE_DAMAGED || filled == STORE_TOO_MUCH)
			status = 500;
		goto failed;
	}
	struct MHD_Response *r =
		MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, query_read, qq,
						  query_free);
	if (!r) {
		query_free(qq);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/x-ndjson");
	enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return rc;
failed:
	query_free(qq);
	return reply_error(q, status, "%s%s",
			   status == 400 && strncmp(err, "filterExpression", 16) ? "filterExpression: " : "",
			   err);
}

static enum MHD_Result list_route(struct req *q)
{
	char err[512];
	struct buf b = BUF_INIT;
	buf_init(&b);
	struct store_reader *r = store_reader_open(q->sv->s, err, sizeof err);
	if (!r || store_list(r, &b, err, sizeof err) < 0) {
		store_reader_close(r);
		buf_free(&b);
		return reply_error(q, 503, "%s", err);
	}
	store_reader_close(r);
	enum MHD_Result rc = reply(q->conn, 200, "application/x-ndjson", b.data, b.len, NULL, NULL);
	buf_free(&b);
	return rc;
}

void server_status(struct server *sv, struct buf *b)
{
	int64_t now = time_now_ms();
	double up = (double)(now - sv->started) / 1000.0;
	uint64_t recs = writer_records(sv->w);
	unsigned conns = 0;
	for (int i = 0; i < sv->nd; i++) {
		const union MHD_DaemonInfo *di =
			MHD_get_daemon_info(sv->d[i], MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
		if (di)
			conns += di->num_connections;
	}
	uint64_t size = 0;
	int64_t avail = -1;
	char err[512];
	struct store_reader *r = store_reader_open(sv->s, err, sizeof err);
	if (!r || store_size(r, &size, &avail, err, sizeof err) < 0)
		diag_debug("status: %s", err);
	store_reader_close(r);
	pthread_mutex_lock(&sv->mu);
	buf_addf(b, "{\"ts\":%lld,\"uptime_s\":%.3f,\"requests\":%llu,\"records\":%llu,"
		 "\"records_per_s\":%.1f,\"rejects\":%llu,\"rate_limited\":%llu,",
		 (long long)now, up, (unsigned long long)sv->requests, (unsigned long long)recs,
		 up > 0 ? (double)recs / up : 0.0, (unsigned long long)sv->rejects,
		 (unsigned long long)sv->limited);
	pthread_mutex_unlock(&sv->mu);
	buf_addf(b, "\"commits\":%llu,\"store\":\"%s\",\"store_bytes\":%llu,\"disk_free\":",
		 (unsigned long long)writer_commits(sv->w), store_kind(sv->s),
		 (unsigned long long)size);
	if (avail < 0)
		buf_adds(b, "null");
	else
		buf_add_i64(b, avail);
	buf_addf(b, ",\"connections\":%u,\"stdout_id\":%lld}\n", conns,
		 (long long)(sv->f ? follower_id(sv->f) : 0));
}

static enum MHD_Result status_route(struct req *q)
{
	struct buf b = BUF_INIT;
	buf_init(&b);
	server_status(q->sv, &b);
	enum MHD_Result rc = reply(q->conn, 200, "application/json", b.data, b.len, NULL, NULL);
	buf_free(&b);
	return rc;
}

static enum MHD_Result ingest_final(struct req *q)
{
	struct server *sv = q->sv;
	if (q->too_big)
		return reply_error(q, 413, "body larger than %llu bytes",
				   (unsigned long long)sv->o->max_body);
	const char *text = q->body.data;
	size_t len = q->body.len;
	struct buf inflated = BUF_INIT;
	buf_init(&inflated);
	const char *ce = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "Content-Encoding");
	if (ce && strcasecmp(ce, "gzip") == 0) {
		char err[256];
		if (body_gunzip(text, len, sv->o->max_body, &inflated, err, sizeof err) < 0) {
			buf_free(&inflated);
			return reply_error(q, strstr(err, "larger") ? 413 : 400, "body: %s", err);
		}
		text = inflated.data;
		len = inflated.len;
	} else if (ce && strcasecmp(ce, "identity") != 0) {
		return reply_error(q, 415, "Content-Encoding '%s' is not supported (gzip is)", ce);
	}
	int64_t now = time_now_ms();
	body_parse(text, len, q->device, q->stream, now, &q->recs);
	buf_free(&inflated);
	buf_free(&q->body);
	long wait = rate_wait(sv, q->tok, q->node, q->recs.nrec);
	if (wait) {
		char ra[32];
		snprintf(ra, sizeof ra, "%ld", wait);
		pthread_mutex_lock(&sv->mu);
		sv->rejects++;
		pthread_mutex_unlock(&sv->mu);
		static const char m[] = "{\"error\":\"too many records, retry later\"}\n";
		return reply(q->conn, 429, "application/json", m, sizeof m - 1, "Retry-After", ra);
	}
	q->job.kind = JOB_INGEST;
	q->job.device = q->device;
	q->job.stream = q->stream;
	q->job.key = q->key;
	q->job.body = &q->recs;
	q->job.recv = now;
	q->job.auto_connect = sv->o->auto_connect;
	q->job.done = job_done;
	q->job.arg = q;
	q->submitted = true;
	MHD_suspend_connection(q->conn);
	writer_submit(sv->w, &q->job);
	return MHD_YES;
}

static enum MHD_Result answer_job(struct req *q)
{
	struct job *j = &q->job;
	if (j->status >= 400) {
		pthread_mutex_lock(&q->sv->mu);
		q->sv->rejects++;
		pthread_mutex_unlock(&q->sv->mu);
	}
	buf_addc(&j->answer, '\n');
	return reply(q->conn, j->status, "application/json", j->answer.data, j->answer.len,
		     j->replayed ? "Idempotent-Replayed" : NULL, "true");
}

static enum MHD_Result connect_route(struct req *q, bool on)
{
	const char *dev = arg(q->conn, "id"), *st = arg(q->conn, "streamType");
	if (!good_name(dev) || !good_name(st))
		return reply_error(q, 400, "id and streamType must name a device and a stream "
				   "(1 to 256 bytes, no '/' or control characters)");
	q->device = xstrdup(dev);
	q->stream = xstrdup(st);
	q->job.kind = on ? JOB_CONNECT : JOB_DISCONNECT;
	q->job.device = q->device;
	q->job.stream = q->stream;
	q->job.done = job_done;
	q->job.arg = q;
	q->submitted = true;
	MHD_suspend_connection(q->conn);
	writer_submit(q->sv->w, &q->job);
	return MHD_YES;
}

/* With --cacert: the client sent a certificate that the CA signed. */
static bool client_verified(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	unsigned status = 1;
	if (!ci || !ci->tls_session)
		return false;
	gnutls_session_t tls = (gnutls_session_t)ci->tls_session;
	if (gnutls_certificate_type_get(tls) != GNUTLS_CRT_X509 ||
	    gnutls_certificate_verify_peers2(tls, &status) < 0)
		return false;
	return status == 0;
}

/* The first call of a request: route, authenticate, check what can be. */
static enum MHD_Result first_call(struct req *q, const char *url, const char *method, int *tok)
{
	struct server *sv = q->sv;
	struct MHD_Connection *c = q->conn;
	bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
	if (strcmp(url, "/status") == 0 && get)
		q->route = R_STATUS;
	else if (strcmp(url, "/data/list") == 0 && get)
		q->route = R_LIST;
	else if (strcmp(url, "/data/connect") == 0 && post)
		q->route = R_CONNECT;
	else if (strcmp(url, "/data/disconnect") == 0 && strcmp(method, "DELETE") == 0)
		q->route = R_DISCONNECT;
	else if (strncmp(url, "/data/", 6) == 0 && (get || post))
		q->route = post ? R_INGEST : R_QUERY;
	else if (strncmp(url, "/data/", 6) == 0 || strcmp(url, "/status") == 0)
		return reply_error(q, 405, "method %s is not allowed on %s", method, url);
	else
		return reply_error(q, 404, "no such endpoint: %s", url);
	if (sv->o->cacert && !client_verified(c))
		return reply_error(q, 401, "a client certificate signed by the --cacert CA is required");
	const char *dev = q->route == R_INGEST || q->route == R_QUERY ? url + 6
			  : q->route == R_CONNECT || q->route == R_DISCONNECT ? arg(c, "id") : NULL;
	*tok = -1;
	if ((sv->ntok || sv->nodes) && (*tok = find_token(sv, c)) < 0) {
		/* a node's token: for the node's devices, which name the node */
		const char *why = "a valid bearer token is required", *b = bearer(c);
		if (!sv->nodes || !b || !dev || !good_name(dev) ||
		    nodes_check(sv->nodes, dev, b, time_now_ms(), &why) < 0)
			return reply_error(q, 401, "%s", b && sv->nodes && dev ? why
					   : "a valid bearer token is required");
		q->node = xstrndup(dev, strcspn(dev, ":"));
	}
	const struct token *t = *tok >= 0 ? &sv->tok[*tok] : NULL;
	if (t && t->nscope && (!dev ? true : !in_scope(t, dev)))
		return reply_error(q, 403, "the token may not use %s", dev ? dev : url);
	if (q->route != R_INGEST && q->route != R_QUERY)
		return MHD_YES;
	if (!good_name(dev))
		return reply_error(q, 400, "bad device name in %s", url);
	const char *st = arg(c, "streamType");
	if (st && !good_name(st))
		return reply_error(q, 400, "bad streamType");
	q->device = xstrdup(dev);
	q->stream = st ? xstrdup(st) : q->route == R_INGEST ? xstrdup("default") : NULL;
	const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
	if (key && (strlen(key) == 0 || strlen(key) > 200))
		return reply_error(q, 400, "Idempotency-Key must be 1 to 200 bytes");
	q->key = key ? xstrdup(key) : NULL;
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
	unsigned long long len = cl ? strtoull(cl, NULL, 10) : 0;
	if (len > sv->o->max_body)
		return reply_error(q, 413, "body larger than %llu bytes",
				   (unsigned long long)sv->o->max_body);
	/* the body in one allocation, not a copy at each doubling */
	if (q->route == R_INGEST && len)
		buf_grow(&q->body, (size_t)len);
	return MHD_YES;
}

/* the connection's head phase ends (a request is in hand) or begins again */
static void head_phase(struct server *sv, struct MHD_Connection *c, bool begins)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct slot *sl = ci ? ci->socket_context : NULL;
	if (!sl)
		return;
	pthread_mutex_lock(&sv->slots_mu);
	sl->since = begins ? time_mono_ms() : 0;
	pthread_mutex_unlock(&sv->slots_mu);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **ctx)
{
	struct server *sv = cls;
	struct req *q = *ctx;
	if (!q) {
		q = xcalloc(1, sizeof *q);
		q->sv = sv;
		q->conn = c;
		q->deadline = time_mono_ms() + sv->o->request_timeout_ms;
		buf_init(&q->body);
		buf_init(&q->job.answer);
		body_init(&q->recs);
		*ctx = q;
		head_phase(sv, c, false);
		atomic_fetch_add(&sv->inflight, 1);
		pthread_mutex_lock(&sv->mu);
		sv->requests++;
		pthread_mutex_unlock(&sv->mu);
		int tok = -1;
		enum MHD_Result rc = first_call(q, url, method, &tok);
		if (rc != MHD_YES || q->route == R_NONE)
			return rc;
		q->tok = tok;
		return MHD_YES;
	}
	if (q->route == R_NONE) {
		*upload_size = 0;   /* answered already: the body is dropped */
		return MHD_YES;
	}
	if (*upload_size) {
		/* a slow body (slowloris) does not keep its slot past the request timeout */
		if (time_mono_ms() > q->deadline)
			return MHD_NO;
		if (q->route != R_INGEST || q->too_big || q->body.len + *upload_size > sv->o->max_body)
			q->too_big = true;
		else
			buf_add(&q->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (q->done)
		return answer_job(q);
	if (q->submitted)
		return MHD_YES;
	switch (q->route) {
	case R_INGEST: return ingest_final(q);
	case R_QUERY: return query_route(q);
	case R_LIST: return list_route(q);
	case R_STATUS: return status_route(q);
	case R_CONNECT: return connect_route(q, true);
	case R_DISCONNECT: return connect_route(q, false);
	default: return MHD_NO;
	}
}

static void completed(void *cls, struct MHD_Connection *c, void **ctx,
		      enum MHD_RequestTerminationCode why)
{
	struct server *sv = cls;
	struct req *q = *ctx;
	head_phase(sv, c, true);
	if (!q)
		return;
	buf_free(&q->body);
	buf_free(&q->job.answer);
	body_free(&q->recs);
	free(q->device);
	free(q->stream);
	free(q->key);
	free(q->node);
	free(q);
	*ctx = NULL;
	atomic_fetch_sub(&sv->inflight, 1);
}

/* libmicrohttpd calls this before it closes the socket: a slot in the
 * list always names an open socket of its own */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
			  enum MHD_ConnectionNotificationCode what)
{
	struct server *sv = cls;
	struct slot *sl = *socket_ctx;
	pthread_mutex_lock(&sv->slots_mu);
	if (what == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		sl = xcalloc(1, sizeof *sl);
		sl->fd = ci ? ci->connect_fd : MHD_INVALID_SOCKET;
		sl->since = time_mono_ms();
		sl->next = sv->slots;
		if (sv->slots)
			sv->slots->prev = sl;
		sv->slots = sl;
		*socket_ctx = sl;
	} else if (sl) {
		if (sl->prev)
			sl->prev->next = sl->next;
		else
			sv->slots = sl->next;
		if (sl->next)
			sl->next->prev = sl->prev;
		free(sl);
		*socket_ctx = NULL;
	}
	pthread_mutex_unlock(&sv->slots_mu);
}

static void *watchdog_main(void *arg)
{
	struct server *sv = arg;
	int64_t limit = sv->o->request_timeout_ms;
	int64_t period = limit / 4 < 50 ? 50 : limit / 4 > 1000 ? 1000 : limit / 4;
	pthread_mutex_lock(&sv->slots_mu);
	while (!sv->wd_stop) {
		int64_t now = time_mono_ms();
		for (struct slot *sl = sv->slots; sl; sl = sl->next)
			if (sl->since && !sl->cut && now - sl->since > limit &&
			    sl->fd != MHD_INVALID_SOCKET) {
				shutdown(sl->fd, SHUT_RDWR);
				sl->cut = true;
			}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += period % 1000 * 1000000L;
		ts.tv_sec += period / 1000 + ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&sv->wd_wake, &sv->slots_mu, &ts);
	}
	pthread_mutex_unlock(&sv->slots_mu);
	return NULL;
}

/* --token-file: "TOKEN [DEVICE-PATTERN...]" per line, '#' comments */
static int load_tokens(struct server *sv, const char *path, char *err, size_t errlen)
{
	struct buf b = BUF_INIT;
	buf_init(&b);
	if (fs_read_file(path, 1 << 20, &b, err, errlen) < 0) {
		buf_free(&b);
		return -1;
	}
	char *save = NULL;
	for (char *line = strtok_r(b.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *w, *s2 = NULL;
		if (!(w = strtok_r(line, " \t\r", &s2)) || *w == '#')
			continue;
		sv->tok = xrealloc(sv->tok, (sv->ntok + 1) * sizeof *sv->tok);
		struct token *t = &sv->tok[sv->ntok++];
		memset(t, 0, sizeof *t);
		t->secret = xstrdup(w);
		while ((w = strtok_r(NULL, " \t\r", &s2))) {
			t->scope = xrealloc(t->scope, (t->nscope + 1) * sizeof *t->scope);
			t->scope[t->nscope++] = xstrdup(w);
		}
	}
	buf_free(&b);
	if (!sv->ntok) {
		snprintf(err, errlen, "%s: no token in the file", path);
		return -1;
	}
	return 0;
}

/* ADDR:PORT, [V6]:PORT or :PORT (every address) */
int server_parse_listen(const char *spec, struct sockaddr_storage *sa, char *err, size_t errlen)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	if (!colon || !colon[1] || (size_t)(colon - spec) >= sizeof host)
		goto bad;
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = 0;
	char *h = host;
	if (*h == '[' && h[strlen(h) - 1] == ']') {
		h[strlen(h) - 1] = 0;
		h++;
	}
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
				  .ai_socktype = SOCK_STREAM }, *ai;
	if (getaddrinfo(*h ? h : NULL, colon + 1, &hints, &ai) != 0)
		goto bad;
	memcpy(sa, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	return 0;
bad:
	snprintf(err, errlen, "--listen: bad address '%s' (use e.g. 127.0.0.1:8080, [::1]:8080 "
		 "or :8080)", spec);
	return -1;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char m[512];
	vsnprintf(m, sizeof m, fmt, ap);
	m[strcspn(m, "\n")] = 0;
	diag_debug("libmicrohttpd: %s", m);
}

static int listen_on(struct server *sv, const char *spec, char *err, size_t errlen)
{
	struct sockaddr_storage sa;
	if (server_parse_listen(spec, &sa, err, errlen) < 0)
		return -1;
	const struct gw_opts *o = sv->o;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_USE_ERROR_LOG;
	if (sa.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	unsigned idle = (unsigned)((o->idle_timeout_ms + 999) / 1000);
	struct MHD_OptionItem tls[4] = { { MHD_OPTION_END, 0, NULL } };
	int nt = 0;
	if (o->cert) {
		flags |= MHD_USE_TLS;
		tls[nt++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, sv->cert.data };
		tls[nt++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, sv->key.data };
		if (o->cacert)
			tls[nt++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_TRUST, 0,
							     sv->cacert.data };
		tls[nt] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	}
	struct MHD_Daemon *d = MHD_start_daemon(
		flags, 0, NULL, NULL, handle, sv,
		MHD_OPTION_ARRAY, tls,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
		MHD_OPTION_CONNECTION_LIMIT, o->max_conn,
		MHD_OPTION_CONNECTION_TIMEOUT, idle ? idle : 1,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
		MHD_OPTION_NOTIFY_COMPLETED, completed, sv,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, sv,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_END);
	if (!d) {
		snprintf(err, errlen, "cannot listen on %s: %s", spec,
			 errno ? strerror(errno) : "libmicrohttpd refused");
		return -1;
	}
	sv->d[sv->nd++] = d;
	return 0;
}

struct server *server_start(const struct gw_opts *o, struct store *s, struct writer *w,
			    struct follower *f, char *err, size_t errlen)
{
	struct server *sv = xcalloc(1, sizeof *sv);
	sv->o = o;
	sv->s = s;
	sv->w = w;
	sv->f = f;
	sv->started = time_now_ms();
	pthread_mutex_init(&sv->mu, NULL);
	pthread_mutex_init(&sv->slots_mu, NULL);
	pthread_cond_init(&sv->wd_wake, NULL);
	map_init(&sv->node_rate, MAP_COPY_KEYS);
	buf_init(&sv->cert);
	buf_init(&sv->key);
	buf_init(&sv->cacert);
	if (o->token_file && load_tokens(sv, o->token_file, err, errlen) < 0)
		goto failed;
	if (o->registry && !(sv->nodes = nodes_open(o->registry, o->registry_secret, err, errlen)))
		goto failed;
	if ((o->cert && fs_read_file(o->cert, 1 << 20, &sv->cert, err, errlen) < 0) ||
	    (o->key && fs_read_file(o->key, 1 << 20, &sv->key, err, errlen) < 0) ||
	    (o->cacert && fs_read_file(o->cacert, 1 << 20, &sv->cacert, err, errlen) < 0))
		goto failed;
	if (pthread_create(&sv->watchdog, NULL, watchdog_main, sv) != 0) {
		snprintf(err, errlen, "cannot start a thread");
		goto failed;
	}
	sv->wd_running = true;
	for (int i = 0; i < o->nlisten; i++) {
		errno = 0;
		if (listen_on(sv, o->listen[i], err, errlen) < 0)
			goto failed;
	}
	return sv;
failed:
	server_stop(sv, 0);
	return NULL;
}

void server_stop(struct server *sv, int64_t grace_ms)
{
	for (int i = 0; i < sv->nd; i++) {
		MHD_socket fd = MHD_quiesce_daemon(sv->d[i]);
		if (fd != MHD_INVALID_SOCKET)
			close(fd);
	}
	/* requests in flight finish: their answers are sent */
	int64_t end = time_mono_ms() + grace_ms;
	while (atomic_load(&sv->inflight) > 0 && time_mono_ms() < end) {
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
	for (int i = 0; i < sv->nd; i++)
		MHD_stop_daemon(sv->d[i]);
	if (sv->wd_running) {
		pthread_mutex_lock(&sv->slots_mu);
		sv->wd_stop = true;
		pthread_cond_signal(&sv->wd_wake);
		pthread_mutex_unlock(&sv->slots_mu);
		pthread_join(sv->watchdog, NULL);
	}
	for (size_t i = 0; i < sv->ntok; i++) {
		free(sv->tok[i].secret);
		for (size_t k = 0; k < sv->tok[i].nscope; k++)
			free(sv->tok[i].scope[k]);
		free(sv->tok[i].scope);
	}
	free(sv->tok);
	nodes_close(sv->nodes);
	MAP_FOREACH(&sv->node_rate, e)
		free(e->val);
	map_free(&sv->node_rate);
	buf_free(&sv->cert);
	/* the key is not left in freed memory */
	if (sv->key.data)
		explicit_bzero(sv->key.data, sv->key.len);
	buf_free(&sv->key);
	buf_free(&sv->cacert);
	pthread_mutex_destroy(&sv->mu);
	pthread_mutex_destroy(&sv->slots_mu);
	pthread_cond_destroy(&sv->wd_wake);
	free(sv);
}
