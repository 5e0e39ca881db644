/*
 * The etcd store, through etcd's v3 JSON gateway (POST /v3/...; etcd 3.4
 * serves both /v3/ and /v3beta/, 3.5 only /v3/). Keys and values travel
 * base64; 64-bit ids and revisions are JSON strings and stay strings here.
 *
 *   PREFIX/nodes/NAME     the stored node (registry.h), on a lease of 3 ttls
 *                         that every write of the node renews
 *   PREFIX/revoked/NAME   {"node":..,"revoked":T}, no lease
 *   PREFIX/meta/registry  written by init
 *   PREFIX/meta/expire    the states `expire` last reported
 *
 * A batch is decided on cached node entries (read in one transaction when
 * not cached) and written in one transaction that compares the mod_revision
 * of every key it decided on; when another writer got there first the
 * transaction fails, the entries are read again and the ops decided again.
 * etcd caps a transaction at 128 operations (--max-txn-ops), so a batch
 * goes in chunks of at most 64 nodes.
 *
 * Every request goes to the current endpoint; a connection failure, a
 * timeout or a 5xx moves on to the next, and the whole list is retried
 * (through a leader election, which can hold requests for seconds) before
 * the store counts as unavailable: for REFUSED_MS when no endpoint even
 * accepts a connection, for RETRY_MS when they do but cannot answer. A
 * transaction that timed out may have been applied: its retry then fails
 * the revision compare, reads again and decides again, which for the
 * assignments ops are (registry.h) gives the same state.
 */
#include "backend.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "sig.h"
#include "timeutil.h"

#define CHUNK_NODES 64
#define RANGE_PAGE 5000
#define RETRY_MS 20000          /* a cluster that answers but cannot commit */
#define REFUSED_MS 3000         /* no endpoint accepts a connection at all */
#define REQUEST_MS 3000
#define TXN_RETRIES 50

struct estore {
	char **ep;              /* base URLs: http[s]://host:port */
	int nep, cur;
	char *prefix;           /* without a trailing slash */
	struct store_opts o;
	CURL *curl;
	struct buf body, resp;
	struct json_doc doc;
	struct registry cache;  /* entries known from reads or our own writes */
	char lease[32];
	int64_t lease_until;    /* reuse the lease until then */
	struct out *watch_out;  /* watch: where events go */
	bool checked;           /* the registry was found initialised */
	struct buf watch_buf;
	int64_t watch_rev;      /* the last revision watch has shown */
};

/* ---- base64 */

static void b64_add(struct buf *b, const void *p, size_t n)
{
	buf_grow(b, 4 * ((n + 2) / 3) + 1);
	int k = EVP_EncodeBlock((unsigned char *)b->data + b->len, p, (int)n);
	b->len += (size_t)k;
	b->data[b->len] = 0;
}

static void b64_adds(struct buf *b, const char *s)
{
	b64_add(b, s, strlen(s));
}

/* decodes a JSON string token holding base64 into out; -1 if malformed */
static int b64_tok(const struct json_doc *d, int v, struct buf *out)
{
	if (v < 0 || json_type_of(d, v) != JSON_STRING)
		return -1;
	const char *s = d->text + d->tok[v].start;
	size_t n = d->tok[v].len;
	if (n % 4)
		return -1;
	buf_reset(out);
	buf_grow(out, n / 4 * 3 + 1);
	int k = n ? EVP_DecodeBlock((unsigned char *)out->data, (const unsigned char *)s, (int)n) : 0;
	if (k < 0)
		return -1;
	while (n && s[n - 1] == '=') { /* DecodeBlock counts the padding */
		n--;
		k--;
	}
	out->len = (size_t)k;
	out->data[out->len] = 0;
	return 0;
}

/* ---- setup */

struct estore *estore_open(const char *url, const struct store_opts *o, char *err, size_t errlen)
{
	bool tls = !strncmp(url, "etcds://", 8);
	const char *hosts = url + (tls ? 8 : 7);
	const char *slash = strchr(hosts, '/');
	size_t hlen = slash ? (size_t)(slash - hosts) : strlen(hosts);
	if (!hlen) {
		snprintf(err, errlen, "no host in store '%s'", url);
		return NULL;
	}
	struct estore *s = xcalloc(1, sizeof *s);
	char *h = xstrndup(hosts, hlen), *save = NULL;
	for (char *t = strtok_r(h, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		s->ep = xrealloc(s->ep, (size_t)(s->nep + 1) * sizeof *s->ep);
		struct buf b = BUF_INIT;
		buf_addf(&b, "%s://%s", tls ? "https" : "http", t);
		s->ep[s->nep++] = buf_detach(&b, NULL);
	}
	free(h);
	const char *pfx = slash ? slash + 1 : "";
	size_t plen = strlen(pfx);
	while (plen && pfx[plen - 1] == '/')
		plen--;
	if (!plen) {
		pfx = "cce";
		plen = 3;
	}
	s->prefix = xstrndup(pfx, plen);
	s->o = *o;
	buf_init(&s->body);
	buf_init(&s->resp);
	buf_init(&s->watch_buf);
	json_doc_init(&s->doc);
	reg_init(&s->cache);
	if (!s->nep) {
		snprintf(err, errlen, "no host in store '%s'", url);
		estore_close(s);
		return NULL;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	s->curl = curl_easy_init();
	if (!s->curl) {
		snprintf(err, errlen, "cannot initialise libcurl");
		estore_close(s);
		return NULL;
	}
	return s;
}

void estore_close(struct estore *s)
{
	if (s->curl)
		curl_easy_cleanup(s->curl);
	for (int i = 0; i < s->nep; i++)
		free(s->ep[i]);
	free(s->ep);
	free(s->prefix);
	buf_free(&s->body);
	buf_free(&s->resp);
	buf_free(&s->watch_buf);
	json_doc_free(&s->doc);
	reg_free(&s->cache);
	free(s);
}

/* ---- requests */

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	buf_add(arg, p, size * n);
	return size * n;
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	return sig_stop ? 1 : 0;
}

static void setup_curl(struct estore *s, const char *url, const char *body, size_t len,
		       long timeout_ms)
{
	CURL *c = s->curl;
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	if (s->o.cacert)
		curl_easy_setopt(c, CURLOPT_CAINFO, s->o.cacert);
	if (s->o.cert)
		curl_easy_setopt(c, CURLOPT_SSLCERT, s->o.cert);
	if (s->o.key)
		curl_easy_setopt(c, CURLOPT_SSLKEY, s->o.key);
}

/* The gateway's error text from a failed response, if it has one. */
static void gateway_error(struct estore *s, char *out, size_t outlen)
{
	out[0] = 0;
	if (json_parse(&s->doc, s->resp.data, s->resp.len, &(struct json_error){ 0 }) < 0 ||
	    json_type_of(&s->doc, 0) != JSON_OBJECT)
		return;
	int v = json_get(&s->doc, 0, "error");
	if (v < 0)
		v = json_get(&s->doc, 0, "message");
	char *m = v >= 0 ? json_strdup(&s->doc, v) : NULL;
	if (m)
		snprintf(out, outlen, "%s", m);
	free(m);
}

/*
 * POSTs s->body to path and parses the answer into s->doc. Fails over
 * between endpoints and retries for RETRY_MS. 0, or an exit code with err.
 */
static int post(struct estore *s, const char *path, char *err, size_t errlen)
{
	int64_t start = time_mono_ms();
	bool only_refused = true;
	char url[512], why[256] = "";
	for (int attempt = 0;; attempt++) {
		const char *ep = s->ep[s->cur];
		snprintf(url, sizeof url, "%s%s", ep, path);
		buf_reset(&s->resp);
		setup_curl(s, url, s->body.data, s->body.len, REQUEST_MS);
		curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, on_data);
		curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, &s->resp);
		char detail[CURL_ERROR_SIZE] = "";
		curl_easy_setopt(s->curl, CURLOPT_ERRORBUFFER, detail);
		CURLcode rc = curl_easy_perform(s->curl);
		long code = 0;
		curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &code);
		if (sig_stop) {
			snprintf(err, errlen, "interrupted");
			return CCE_EX_TEMPFAIL;
		}
		if (rc == CURLE_OK && code == 200) {
			if (json_parse(&s->doc, s->resp.data, s->resp.len, &(struct json_error){ 0 }) < 0 ||
			    json_type_of(&s->doc, 0) != JSON_OBJECT) {
				snprintf(err, errlen, "%s: the answer is not a JSON object", url);
				return CCE_EX_FAIL;
			}
			return 0;
		}
		if (rc == CURLE_OK && code >= 400 && code < 500) {
			char msg[200];
			gateway_error(s, msg, sizeof msg);
			snprintf(err, errlen, "%s: HTTP %ld%s%s", url, code, *msg ? ": " : "", msg);
			return CCE_EX_FAIL;
		}
		if (rc == CURLE_SSL_CACERT || rc == CURLE_SSL_CERTPROBLEM ||
		    rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CONNECT_ERROR) {
			snprintf(err, errlen, "%s: %s", url, curl_easy_strerror(rc));
			return CCE_EX_UNAVAILABLE;
		}
		/* a TLS alert (no client certificate, an unknown CA) will not go
		 * away by retrying */
		if (rc != CURLE_OK && strstr(detail, " alert ")) {
			snprintf(err, errlen, "%s: %s", url, detail);
			return CCE_EX_UNAVAILABLE;
		}
		if (rc != CURLE_COULDNT_CONNECT)
			only_refused = false;
		if (rc != CURLE_OK) {
			snprintf(why, sizeof why, "%s", curl_easy_strerror(rc));
		} else {
			char msg[200];
			gateway_error(s, msg, sizeof msg);
			snprintf(why, sizeof why, "HTTP %ld%s%s", code, *msg ? ": " : "", msg);
		}
		diag_debug("%s: %s; trying the next endpoint", url, why);
		s->cur = (s->cur + 1) % s->nep;
		int64_t spent = time_mono_ms() - start;
		if (spent > RETRY_MS || (only_refused && spent > REFUSED_MS))
			break;
		/* after every endpoint failed once, wait a little (elections) */
		if ((attempt + 1) % s->nep == 0)
			poll(NULL, 0, 200);
	}
	snprintf(err, errlen, "etcd unavailable at %s (last: %s)", s->nep > 1 ? "every endpoint" : url,
		 why);
	return CCE_EX_UNAVAILABLE;
}

static void key_add(struct buf *b, struct estore *s, const char *kind, const char *name)
{
	struct buf k = BUF_INIT;
	buf_addf(&k, "%s/%s/%s", s->prefix, kind, name ? name : "");
	b64_add(b, k.data, k.len);
	buf_free(&k);
}

/* range_end for every key starting with PREFIX/kind/ */
static void key_end_add(struct buf *b, struct estore *s, const char *kind)
{
	struct buf k = BUF_INIT;
	buf_addf(&k, "%s/%s0", s->prefix, kind); /* '0' follows '/' */
	b64_add(b, k.data, k.len);
	buf_free(&k);
}

/* The kind and name of a key under our prefix, from a base64 token. */
static int key_parse(struct estore *s, const struct json_doc *d, int v, char kind[16],
		     char name[NAME_MAX_LEN + 1])
{
	struct buf k = BUF_INIT;
	int r = -1;
	size_t pl = strlen(s->prefix);
	if (b64_tok(d, v, &k) == 0 && k.len > pl + 1 && !memcmp(k.data, s->prefix, pl) &&
	    k.data[pl] == '/') {
		const char *rest = k.data + pl + 1, *sl = strchr(rest, '/');
		if (sl && (size_t)(sl - rest) < 16 && name_valid(sl + 1, strlen(sl + 1))) {
			memcpy(kind, rest, (size_t)(sl - rest));
			kind[sl - rest] = 0;
			snprintf(name, NAME_MAX_LEN + 1, "%s", sl + 1);
			r = 0;
		}
	}
	buf_free(&k);
	return r;
}

static char *str_tok(const struct json_doc *d, int v)
{
	return v >= 0 && json_type_of(d, v) == JSON_STRING ? json_strdup(d, v) : NULL;
}

/* One kv of a range answer into reg (and its revision into the entry). */
static void load_kv(struct estore *s, struct registry *reg, const struct json_doc *d, int kv,
		    struct json_doc *vd, struct buf *val)
{
	char kind[16], name[NAME_MAX_LEN + 1];
	if (key_parse(s, d, json_get(d, kv, "key"), kind, name) < 0)
		return;
	if (b64_tok(d, json_get(d, kv, "value"), val) < 0 ||
	    json_parse(vd, val->data, val->len, &(struct json_error){ 0 }) < 0) {
		diag_warn("etcd: skipping a malformed value at %s/%s/%s", s->prefix, kind, name);
		return;
	}
	bool nodes = !strcmp(kind, "nodes");
	if (!nodes && strcmp(kind, "revoked"))
		return;
	if (node_load_json(reg, vd, 0) < 0) {
		diag_warn("etcd: skipping a malformed record at %s/%s/%s", s->prefix, kind, name);
		return;
	}
	struct node *n = reg_get(reg, name);
	if (!n)
		return;
	char *rev = str_tok(d, json_get(d, kv, "mod_revision"));
	if (nodes) {
		free(n->rev);
		n->rev = rev;
	} else {
		free(n->revoke_rev);
		n->revoke_rev = rev;
	}
}

/* ---- init, load */

int estore_init(struct estore *s, char *err, size_t errlen)
{
	buf_reset(&s->body);
	buf_adds(&s->body, "{\"compare\":[{\"key\":\"");
	key_add(&s->body, s, "meta", "registry");
	buf_adds(&s->body, "\",\"target\":\"VERSION\",\"version\":\"0\",\"result\":\"EQUAL\"}],"
			   "\"success\":[{\"request_put\":{\"key\":\"");
	key_add(&s->body, s, "meta", "registry");
	buf_adds(&s->body, "\",\"value\":\"");
	b64_adds(&s->body, "{\"registry\":1}");
	buf_adds(&s->body, "\"}}]}");
	return post(s, "/v3/kv/txn", err, errlen);
}

static int load_kind(struct estore *s, struct registry *reg, const char *kind, char *err,
		     size_t errlen)
{
	struct buf from = BUF_INIT, val = BUF_INIT;
	struct json_doc vd;
	json_doc_init(&vd);
	key_add(&from, s, kind, NULL);
	char rev[32] = "";
	int r = 0;
	for (;;) {
		buf_reset(&s->body);
		buf_addf(&s->body, "{\"key\":\"%s\",\"range_end\":\"", from.data);
		key_end_add(&s->body, s, kind);
		buf_addf(&s->body, "\",\"limit\":\"%d\"", RANGE_PAGE);
		if (*rev)
			buf_addf(&s->body, ",\"revision\":\"%s\"", rev);
		buf_addc(&s->body, '}');
		if ((r = post(s, "/v3/kv/range", err, errlen)))
			break;
		struct json_doc *d = &s->doc;
		if (!*rev) {
			int h = json_get(d, 0, "header"), rv = h >= 0 ? json_get(d, h, "revision") : -1;
			char *x = str_tok(d, rv);
			snprintf(rev, sizeof rev, "%s", x ? x : "");
			free(x);
		}
		int kvs = json_get(d, 0, "kvs"), last = -1;
		for (int kv = kvs >= 0 ? json_first(d, kvs) : -1; kv >= 0; kv = json_next_elem(d, kvs, kv)) {
			load_kv(s, reg, d, kv, &vd, &val);
			last = kv;
		}
		int more = json_get(d, 0, "more");
		bool m = false;
		if (more < 0 || !json_bool(d, more, &m) || !m || last < 0)
			break;
		/* the next page starts just after the last key */
		struct buf k = BUF_INIT;
		b64_tok(d, json_get(d, last, "key"), &k);
		buf_addc(&k, 0);
		buf_reset(&from);
		b64_add(&from, k.data, k.len);
		buf_free(&k);
	}
	json_doc_free(&vd);
	buf_free(&val);
	buf_free(&from);
	return r;
}

static int check_init(struct estore *s, char *err, size_t errlen)
{
	if (s->checked)
		return 0;
	buf_reset(&s->body);
	buf_adds(&s->body, "{\"key\":\"");
	key_add(&s->body, s, "meta", "registry");
	buf_adds(&s->body, "\",\"count_only\":true}");
	int r = post(s, "/v3/kv/range", err, errlen);
	if (r)
		return r;
	int c = json_get(&s->doc, 0, "count");
	if (c < 0) {
		snprintf(err, errlen, "no registry under '%s/' at %s (run 'cce-register init')",
			 s->prefix, s->ep[s->cur]);
		return CCE_EX_UNAVAILABLE;
	}
	s->checked = true;
	return 0;
}

int estore_load(struct estore *s, struct registry *reg, char *err, size_t errlen)
{
	int r = check_init(s, err, errlen);
	if (!r)
		r = load_kind(s, reg, "revoked", err, errlen);
	if (!r)
		r = load_kind(s, reg, "nodes", err, errlen);
	return r;
}

/* ---- commit */

static int lease_get(struct estore *s, char *err, size_t errlen)
{
	int64_t now = time_now_ms();
	if (*s->lease && now < s->lease_until)
		return 0;
	/* 3 ttls, whole seconds, rounded up */
	int64_t secs = (3 * s->o.ttl + 999) / 1000;
	buf_reset(&s->body);
	buf_addf(&s->body, "{\"TTL\":\"%" PRId64 "\"}", secs);
	int r = post(s, "/v3/lease/grant", err, errlen);
	if (r)
		return r;
	char *id = str_tok(&s->doc, json_get(&s->doc, 0, "ID"));
	if (!id || strlen(id) >= sizeof s->lease) {
		free(id);
		snprintf(err, errlen, "etcd granted no lease");
		return CCE_EX_FAIL;
	}
	snprintf(s->lease, sizeof s->lease, "%s", id);
	free(id);
	/* keys put from now on live at least 2 ttls past their put */
	s->lease_until = now + s->o.ttl;
	return 0;
}

/* reads the names not in the cache, in one transaction */
static int read_missing(struct estore *s, char **names, int n, char *err, size_t errlen)
{
	int k = 0;
	buf_reset(&s->body);
	buf_adds(&s->body, "{\"success\":[");
	for (int i = 0; i < n; i++) {
		if (reg_get(&s->cache, names[i]))
			continue;
		buf_adds(&s->body, k ? ",{\"request_range\":{\"key\":\"" : "{\"request_range\":{\"key\":\"");
		key_add(&s->body, s, "nodes", names[i]);
		buf_adds(&s->body, "\"}},{\"request_range\":{\"key\":\"");
		key_add(&s->body, s, "revoked", names[i]);
		buf_adds(&s->body, "\"}}");
		k++;
	}
	buf_adds(&s->body, "]}");
	if (!k)
		return 0;
	int r = post(s, "/v3/kv/txn", err, errlen);
	if (r)
		return r;
	/* the answer's doc is reused by load_kv's value parse: copy it away */
	struct buf resp = BUF_INIT, val = BUF_INIT;
	buf_add(&resp, s->resp.data, s->resp.len);
	struct json_doc d, vd;
	json_doc_init(&d);
	json_doc_init(&vd);
	if (json_parse(&d, resp.data, resp.len, &(struct json_error){ 0 }) == 0) {
		int rs = json_get(&d, 0, "responses");
		for (int e = rs >= 0 ? json_first(&d, rs) : -1; e >= 0; e = json_next_elem(&d, rs, e)) {
			int rr = json_get(&d, e, "response_range");
			int kvs = rr >= 0 ? json_get(&d, rr, "kvs") : -1;
			for (int kv = kvs >= 0 ? json_first(&d, kvs) : -1; kv >= 0;
			     kv = json_next_elem(&d, kvs, kv))
				load_kv(s, &s->cache, &d, kv, &vd, &val);
		}
	}
	json_doc_free(&d);
	json_doc_free(&vd);
	buf_free(&resp);
	buf_free(&val);
	/* what was not found is known to be absent */
	for (int i = 0; i < n; i++)
		reg_add(&s->cache, names[i]);
	return 0;
}

struct touched {
	char name[NAME_MAX_LEN + 1];
	char *rev, *revoke_rev;   /* as read: compared in the write */
	int64_t revoked;
	bool existed;
	bool touched;             /* an accepted op changed it: write it */
	enum ev_kind last;
};

static int find_name(char **names, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return i;
	return -1;
}

/* What the cache holds of each name before the ops are decided: the
 * revisions the transaction compares against. */
static void snapshot(struct estore *s, char **names, int nn, struct touched *t)
{
	for (int i = 0; i < nn; i++) {
		struct node *c = reg_get(&s->cache, names[i]);
		snprintf(t[i].name, sizeof t[i].name, "%s", names[i]);
		t[i].rev = c->rev ? xstrdup(c->rev) : NULL;
		t[i].revoke_rev = c->revoke_rev ? xstrdup(c->revoke_rev) : NULL;
		t[i].revoked = c->revoked;
		t[i].existed = c->present;
		t[i].touched = false;
		t[i].last = EV_UPDATED;
	}
}

static void free_touched(struct touched *t, int nn)
{
	for (int i = 0; i < nn; i++) {
		free(t[i].rev);
		free(t[i].revoke_rev);
	}
}

/* Marks the names an accepted op changed; false when there is nothing to
 * write. *need_lease: a node is written (on the lease). */
static bool mark_touched(struct estore *s, const struct item *items, size_t n, char **names, int nn,
			 struct touched *t, bool *need_lease)
{
	bool writes = false;
	for (size_t i = 0; i < n; i++) {
		if (items[i].decided || items[i].ev == EV_REJECTED)
			continue;
		writes = true;
		int k = find_name(names, nn, items[i].op.name);
		t[k].last = items[i].ev;
		t[k].touched = true;
		struct node *c = reg_get(&s->cache, names[k]);
		if (c && c->present)
			*need_lease = true;
	}
	return writes;
}

/* One compare of the transaction: key's mod_revision is still rev. */
static void txn_compare(struct buf *b, struct estore *s, const char *kind, const char *name,
			const char *rev)
{
	buf_adds(b, "{\"key\":\"");
	key_add(b, s, kind, name);
	buf_addf(b, "\",\"target\":\"MOD\",\"mod_revision\":\"%s\",\"result\":\"EQUAL\"}",
		 rev ? rev : "0");
}

/* One put of the transaction (lease: NULL for none). */
static void txn_put(struct buf *b, struct estore *s, const char *kind, const char *name,
		    const struct buf *val, const char *lease)
{
	buf_adds(b, "{\"request_put\":{\"key\":\"");
	key_add(b, s, kind, name);
	buf_adds(b, "\",\"value\":\"");
	b64_add(b, val->data, val->len);
	if (lease)
		buf_addf(b, "\",\"lease\":\"%s\"}}", lease);
	else
		buf_adds(b, "\"}}");
}

/* The transaction into s->body: if no touched node and no revocation
 * changed since it was read, write them all (a node gone: deleted). */
static void txn_build(struct estore *s, char **names, int nn, const struct touched *t)
{
	struct buf *b = &s->body;
	buf_reset(b);
	buf_adds(b, "{\"compare\":[");
	bool first = true;
	for (int i = 0; i < nn; i++) {
		if (!t[i].touched)
			continue;
		buf_adds(b, first ? "" : ",");
		first = false;
		txn_compare(b, s, "nodes", names[i], t[i].rev);
		buf_addc(b, ',');
		txn_compare(b, s, "revoked", names[i], t[i].revoke_rev);
	}
	buf_adds(b, "],\"success\":[");
	first = true;
	struct buf val = BUF_INIT;
	for (int i = 0; i < nn; i++) {
		struct node *c = t[i].touched ? reg_get(&s->cache, names[i]) : NULL;
		if (c && c->present) {
			buf_reset(&val);
			node_store_json(&val, c, (int)t[i].last);
			buf_adds(b, first ? "" : ",");
			txn_put(b, s, "nodes", names[i], &val, s->lease);
			first = false;
		} else if (t[i].touched && t[i].existed) {
			buf_adds(b, first ? "" : ",");
			buf_adds(b, "{\"request_delete_range\":{\"key\":\"");
			key_add(b, s, "nodes", names[i]);
			buf_adds(b, "\"}}");
			first = false;
		}
		if (c && c->revoked != t[i].revoked) {
			buf_reset(&val);
			buf_addf(&val, "{\"node\":\"%s\",\"revoked\":%" PRId64 "}", names[i], c->revoked);
			buf_adds(b, first ? "" : ",");
			txn_put(b, s, "revoked", names[i], &val, NULL);
			first = false;
		}
	}
	buf_free(&val);
	buf_adds(b, "]}");
}

/* Did the transaction in s->doc succeed? When it did, the cache takes
 * the revision it wrote at. */
static bool txn_succeeded(struct estore *s, char **names, int nn, const struct touched *t)
{
	bool ok = false;
	int sv = json_get(&s->doc, 0, "succeeded");
	if (sv >= 0)
		json_bool(&s->doc, sv, &ok);
	if (!ok)
		return false;
	int h = json_get(&s->doc, 0, "header");
	char *rev = str_tok(&s->doc, h >= 0 ? json_get(&s->doc, h, "revision") : -1);
	for (int i = 0; i < nn; i++) {
		struct node *c = reg_get(&s->cache, names[i]);
		if (!t[i].touched)
			continue;
		if (!c) {
			reg_add(&s->cache, names[i]); /* known absent */
			continue;
		}
		free(c->rev);
		c->rev = c->present && rev ? xstrdup(rev) : NULL;
		if (c->revoked != t[i].revoked) {
			free(c->revoke_rev);
			c->revoke_rev = rev ? xstrdup(rev) : NULL;
		}
	}
	free(rev);
	return true;
}

static int commit_chunk(struct estore *s, struct item *items, size_t n, verify_fn verify,
			void *arg, char *err, size_t errlen)
{
	char *names[CHUNK_NODES];
	int nn = 0;
	for (size_t i = 0; i < n; i++)
		if (!items[i].decided && find_name(names, nn, items[i].op.name) < 0)
			names[nn++] = items[i].op.name;
	if (!nn)
		return 0;
	struct touched t[CHUNK_NODES];
	for (int attempt = 0; attempt < TXN_RETRIES; attempt++) {
		int r = read_missing(s, names, nn, err, errlen);
		if (r)
			return r;
		snapshot(s, names, nn, t);
		batch_decide(&s->cache, items, n, time_now_ms(), verify, arg, NULL, NULL);
		bool need_lease = false, done = true;
		if (mark_touched(s, items, n, names, nn, t, &need_lease) &&
		    !(need_lease && (r = lease_get(s, err, errlen)))) {
			txn_build(s, names, nn, t);
			if (!(r = post(s, "/v3/kv/txn", err, errlen)))
				done = txn_succeeded(s, names, nn, t);
		}
		free_touched(t, nn);
		if (done) {
			if (r)
				for (int i = 0; i < nn; i++)
					reg_del(&s->cache, names[i]);
			return r;
		}
		/* someone else wrote first: forget what we knew, decide again */
		for (int i = 0; i < nn; i++)
			reg_del(&s->cache, names[i]);
		diag_debug("etcd: transaction lost a race, retrying (%d)", attempt + 1);
		poll(NULL, 0, attempt < 5 ? 1 : 10 * attempt);
	}
	snprintf(err, errlen, "etcd: gave up after %d conflicting transactions", TXN_RETRIES);
	return CCE_EX_TEMPFAIL;
}

int estore_commit(struct estore *s, struct item *items, size_t n, verify_fn verify, void *arg,
		  char *err, size_t errlen)
{
	int r = check_init(s, err, errlen);
	if (r)
		return r;
	/* chunks of at most CHUNK_NODES distinct nodes, in order */
	size_t start = 0;
	while (start < n) {
		char *names[CHUNK_NODES];
		int nn = 0;
		size_t end = start;
		for (; end < n; end++) {
			if (items[end].decided)
				continue;
			if (find_name(names, nn, items[end].op.name) < 0) {
				if (nn == CHUNK_NODES)
					break;
				names[nn++] = items[end].op.name;
			}
		}
		if ((r = commit_chunk(s, items + start, end - start, verify, arg, err, errlen)))
			return r;
		start = end;
	}
	return 0;
}

/* ---- expire, watch, compact */

int estore_expire(struct estore *s, int64_t ttl, struct buf *events, char *err, size_t errlen)
{
	struct registry reg;
	reg_init(&reg);
	int r = estore_load(s, &reg, err, errlen);
	struct buf prev = BUF_INIT, next = BUF_INIT;
	struct json_doc d;
	json_doc_init(&d);
	char *rev = NULL;
	if (!r) {
		buf_reset(&s->body);
		buf_adds(&s->body, "{\"key\":\"");
		key_add(&s->body, s, "meta", "expire");
		buf_adds(&s->body, "\"}");
		r = post(s, "/v3/kv/range", err, errlen);
	}
	bool have = false;
	if (!r) {
		int kvs = json_get(&s->doc, 0, "kvs");
		int kv = kvs >= 0 ? json_first(&s->doc, kvs) : -1;
		if (kv >= 0) {
			rev = str_tok(&s->doc, json_get(&s->doc, kv, "mod_revision"));
			have = b64_tok(&s->doc, json_get(&s->doc, kv, "value"), &prev) == 0 &&
			       json_parse(&d, prev.data, prev.len, &(struct json_error){ 0 }) == 0;
		}
		expire_diff(&reg, have ? &d : NULL, time_now_ms(), ttl, true, events, &next);
		/* only one expire reports a transition: compare the revision read */
		buf_reset(&s->body);
		buf_adds(&s->body, "{\"compare\":[{\"key\":\"");
		key_add(&s->body, s, "meta", "expire");
		buf_addf(&s->body, "\",\"target\":\"MOD\",\"mod_revision\":\"%s\",\"result\":\"EQUAL\"}],"
				   "\"success\":[{\"request_put\":{\"key\":\"", rev ? rev : "0");
		key_add(&s->body, s, "meta", "expire");
		buf_adds(&s->body, "\",\"value\":\"");
		b64_add(&s->body, next.data, next.len);
		buf_adds(&s->body, "\"}}]}");
		r = post(s, "/v3/kv/txn", err, errlen);
		bool ok = false;
		int sv = r ? -1 : json_get(&s->doc, 0, "succeeded");
		if (!r && (sv < 0 || !json_bool(&s->doc, sv, &ok) || !ok)) {
			snprintf(err, errlen, "another expire ran at the same time; run again");
			buf_reset(events);
			r = CCE_EX_TEMPFAIL;
		}
	}
	free(rev);
	json_doc_free(&d);
	buf_free(&prev);
	buf_free(&next);
	reg_free(&reg);
	return r;
}

static void watch_event(struct estore *s, const char *p, size_t n)
{
	struct json_doc d, vd;
	json_doc_init(&d);
	json_doc_init(&vd);
	struct buf val = BUF_INIT, ev = BUF_INIT;
	diag_debug("watch: %.*s", (int)(n > 300 ? 300 : n), p);
	if (json_parse(&d, p, n, &(struct json_error){ 0 }) < 0)
		goto out;
	int res = json_get(&d, 0, "result");
	int evs = res >= 0 ? json_get(&d, res, "events") : -1;
	/* where to resume after a lost connection: revisions are strings */
	int h = res >= 0 ? json_get(&d, res, "header") : -1;
	char *hr = h >= 0 && evs < 0 ? str_tok(&d, json_get(&d, h, "revision")) : NULL;
	if (hr && strtoll(hr, NULL, 10) > s->watch_rev)
		s->watch_rev = strtoll(hr, NULL, 10);
	free(hr);
	/* a canceled watch is retried from the same revision (a member that
	 * lags calls it "a future revision"), unless history was compacted
	 * away: then from the oldest revision left */
	int cancel = res >= 0 ? json_get(&d, res, "compact_revision") : -1;
	char *cr = cancel >= 0 ? str_tok(&d, cancel) : NULL;
	if (cr && strtoll(cr, NULL, 10) > 0)
		s->watch_rev = strtoll(cr, NULL, 10) - 1;
	free(cr);
	for (int e = evs >= 0 ? json_first(&d, evs) : -1; e >= 0; e = json_next_elem(&d, evs, e)) {
		int kv = json_get(&d, e, "kv"), ty = json_get(&d, e, "type");
		char kind[16], name[NAME_MAX_LEN + 1];
		char *mr = kv >= 0 ? str_tok(&d, json_get(&d, kv, "mod_revision")) : NULL;
		if (mr && strtoll(mr, NULL, 10) > s->watch_rev)
			s->watch_rev = strtoll(mr, NULL, 10);
		free(mr);
		if (kv < 0 || key_parse(s, &d, json_get(&d, kv, "key"), kind, name) < 0)
			continue;
		const char *what = NULL;
		char evname[32] = "";
		if (ty >= 0 && json_str_eq(&d, ty, "DELETE")) {
			if (!strcmp(kind, "nodes"))
				what = "left";
		} else if (!strcmp(kind, "revoked")) {
			what = "revoked";
		} else if (!strcmp(kind, "nodes") &&
			   b64_tok(&d, json_get(&d, kv, "value"), &val) == 0 &&
			   json_parse(&vd, val.data, val.len, &(struct json_error){ 0 }) == 0) {
			int v = json_get(&vd, 0, "ev");
			char *x = str_tok(&vd, v);
			snprintf(evname, sizeof evname, "%s", x ? x : "updated");
			free(x);
			what = evname;
		}
		if (!what || (!s->o.verbose && !strcmp(what, "heartbeat")))
			continue;
		buf_reset(&ev);
		event_json(&ev, what, name, strlen(name), time_now_ms(), NULL);
		/* a heartbeat's load: a watch log is then the fleet's history */
		int ld = !strcmp(what, "heartbeat") ? json_get(&vd, 0, "load") : -1;
		if (ld >= 0 && json_type_of(&vd, ld) == JSON_OBJECT && ev.len &&
		    ev.data[ev.len - 1] == '}') {
			size_t len;
			const char *raw = json_raw(&vd, ld, &len);
			ev.len--;
			buf_adds(&ev, ",\"load\":");
			buf_add(&ev, raw, len);
			buf_addc(&ev, '}');
		}
		out_line(s->watch_out, ev.data, ev.len);
	}
out:
	out_flush(s->watch_out);
	json_doc_free(&d);
	json_doc_free(&vd);
	buf_free(&val);
	buf_free(&ev);
}

static size_t on_watch(char *p, size_t size, size_t n, void *arg)
{
	struct estore *s = arg;
	buf_add(&s->watch_buf, p, size * n);
	char *nl;
	size_t off = 0;
	while ((nl = memchr(s->watch_buf.data + off, '\n', s->watch_buf.len - off))) {
		watch_event(s, s->watch_buf.data + off, (size_t)(nl - s->watch_buf.data - off));
		off = (size_t)(nl - s->watch_buf.data) + 1;
	}
	memmove(s->watch_buf.data, s->watch_buf.data + off, s->watch_buf.len - off);
	s->watch_buf.len -= off;
	return out_done(s->watch_out) ? 0 : size * n;
}

int estore_watch(struct estore *s, struct out *out, char *err, size_t errlen)
{
	int r = check_init(s, err, errlen);
	if (r)
		return r;
	s->watch_out = out;
	while (!sig_stop && !out_done(out)) {
		buf_reset(&s->body);
		buf_adds(&s->body, "{\"create_request\":{\"key\":\"");
		/* every key under PREFIX/ */
		struct buf k = BUF_INIT;
		buf_addf(&k, "%s/", s->prefix);
		b64_add(&s->body, k.data, k.len);
		buf_adds(&s->body, "\",\"range_end\":\"");
		buf_reset(&k);
		buf_addf(&k, "%s0", s->prefix);
		b64_add(&s->body, k.data, k.len);
		buf_free(&k);
		buf_adds(&s->body, "\"");
		if (s->watch_rev) /* resume where the lost connection left off */
			buf_addf(&s->body, ",\"start_revision\":\"%" PRId64 "\"", s->watch_rev + 1);
		buf_adds(&s->body, "}}");
		char url[512];
		snprintf(url, sizeof url, "%s/v3/watch", s->ep[s->cur]);
		setup_curl(s, url, s->body.data, s->body.len, 0L);
		buf_reset(&s->watch_buf);
		curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, on_watch);
		curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, s);
		CURLcode rc = curl_easy_perform(s->curl);
		if (sig_stop || out_done(out))
			break;
		diag_warn("etcd watch at %s ended (%s); reconnecting", url, curl_easy_strerror(rc));
		s->cur = (s->cur + 1) % s->nep;
		poll(NULL, 0, 500);
	}
	return 0;
}

int estore_compact(struct estore *s, char *err, size_t errlen)
{
	int r = check_init(s, err, errlen);
	if (r)
		return r;
	buf_reset(&s->body);
	buf_adds(&s->body, "{\"key\":\"");
	key_add(&s->body, s, "meta", "registry");
	buf_adds(&s->body, "\",\"count_only\":true}");
	if ((r = post(s, "/v3/kv/range", err, errlen)))
		return r;
	int h = json_get(&s->doc, 0, "header");
	char *rev = str_tok(&s->doc, h >= 0 ? json_get(&s->doc, h, "revision") : -1);
	if (!rev) {
		snprintf(err, errlen, "etcd: no revision in the answer");
		return CCE_EX_FAIL;
	}
	buf_reset(&s->body);
	buf_addf(&s->body, "{\"revision\":\"%s\",\"physical\":true}", rev);
	free(rev);
	return post(s, "/v3/kv/compaction", err, errlen);
}
