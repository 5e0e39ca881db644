/* HTTP(S) sink: one request per batch over a kept-alive libcurl handle. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sink_impl.h"

struct http_sink {
	const struct sink_opts *o;
	CURL *c;
	struct curl_slist *base;   /* headers every request carries */
	struct buf body, gz;
	char errbuf[CURL_ERROR_SIZE];
};

static size_t keep_body(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t len = size * n;
	/* enough of the answer to explain a failure */
	if (b->len < 200)
		buf_add(b, p, len < 200 - b->len ? len : 200 - b->len);
	return len;
}

static int progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	const struct http_sink *h = arg;
	return h->o->stop && *h->o->stop ? 1 : 0;
}

struct http_sink *http_new(const struct target *t, const struct sink_opts *o, char *err,
			   size_t errlen)
{
	struct http_sink *h = xcalloc(1, sizeof *h);
	h->o = o;
	buf_init(&h->body);
	buf_init(&h->gz);
	h->c = curl_easy_init();
	if (!h->c) {
		snprintf(err, errlen, "cannot initialise libcurl");
		free(h);
		return NULL;
	}
	struct curl_slist *l = NULL;
	l = curl_slist_append(l, "Content-Type: application/x-ndjson");
	l = curl_slist_append(l, "Expect:"); /* no round trip before each body */
	if (o->gzip)
		l = curl_slist_append(l, "Content-Encoding: gzip");
	if (o->bearer) {
		struct buf a = BUF_INIT;
		buf_init(&a);
		buf_addf(&a, "Authorization: Bearer %s", o->bearer);
		l = curl_slist_append(l, a.data);
		buf_free(&a);
	}
	for (size_t i = 0; i < o->nheaders; i++)
		l = curl_slist_append(l, o->headers[i]);
	h->base = l;
	CURL *c = h->c;
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &h->body);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, h);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_USERAGENT, "cce-push/" CCE_VERSION);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	if (o->timeout_ms > 0) {
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
				 (long)(o->timeout_ms < 10000 ? o->timeout_ms : 10000));
	}
	if (o->user) {
		curl_easy_setopt(c, CURLOPT_USERPWD, o->user);
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
	}
	if (o->cacert)
		curl_easy_setopt(c, CURLOPT_CAINFO, o->cacert);
	if (o->cert)
		curl_easy_setopt(c, CURLOPT_SSLCERT, o->cert);
	if (o->key)
		curl_easy_setopt(c, CURLOPT_SSLKEY, o->key);
	if (o->insecure) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (strcmp(o->method, "POST") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, o->method);
	return h;
}

enum verdict http_send(struct http_sink *h, const struct spool_batch *b, const char *url,
			struct attempt *a)
{
	const char *body = b->data;
	size_t len = b->len;
	if (h->o->gzip) {
		if (gzip_buf(b->data, b->len, &h->gz) < 0) {
			snprintf(a->msg, sizeof a->msg, "cannot compress the batch");
			return V_RETRY;
		}
		body = h->gz.data;
		len = h->gz.len;
	}
	char idem[64 + SPOOL_ID_LEN];
	snprintf(idem, sizeof idem, "Idempotency-Key: %s", b->id);
	struct curl_slist key = { idem, h->base };
	CURL *c = h->c;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, &key);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	buf_reset(&h->body);
	h->errbuf[0] = 0;
	CURLcode rc = curl_easy_perform(c);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	if (rc == CURLE_ABORTED_BY_CALLBACK && h->o->stop && *h->o->stop)
		return V_STOPPED;
	if (rc != CURLE_OK) {
		snprintf(a->msg, sizeof a->msg, "%s", h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc));
		return V_RETRY;
	}
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	a->status = status;
	curl_off_t ra = -1;
	if (curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
		a->retry_after_ms = (int64_t)ra * 1000;
	enum verdict v = http_verdict(status);
	if (v != V_OK) {
		/* the first line of the answer, printable */
		size_t n = strcspn(h->body.data, "\r\n");
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)h->body.data[i] < 32)
				h->body.data[i] = ' ';
		snprintf(a->msg, sizeof a->msg, "HTTP %ld%s%.*s", status, n ? ": " : "", (int)n,
			 h->body.data);
	}
	return v;
}

void http_free(struct http_sink *h)
{
	if (!h)
		return;
	curl_easy_cleanup(h->c);
	curl_slist_free_all(h->base);
	buf_free(&h->body);
	buf_free(&h->gz);
	free(h);
}
