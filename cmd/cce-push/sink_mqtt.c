/* MQTT sink: one message per record on a kept connection; a batch counts
 * as delivered when every message was acknowledged (PUBACK for QoS 1,
 * PUBCOMP for QoS 2; written to the socket for QoS 0). libmosquitto is
 * driven from the sender's thread with mosquitto_loop: no thread of its
 * own, so its callbacks run here. */
#include <errno.h>
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "sink_impl.h"
#include "timeutil.h"

struct mqtt_sink {
	const struct target *t;
	const struct sink_opts *o;
	struct mosquitto *m;
	bool connected, conn_done;
	int connack;
	unsigned char pending_bit[65536 / 8];
	size_t pending;
	struct buf topic;
};

static void on_connect(struct mosquitto *m, void *arg, int rc)
{
	struct mqtt_sink *s = arg;
	s->conn_done = true;
	s->connack = rc;
	s->connected = rc == 0;
}

static void on_disconnect(struct mosquitto *m, void *arg, int rc)
{
	struct mqtt_sink *s = arg;
	s->conn_done = true;
	s->connected = false;
}

static void on_publish(struct mosquitto *m, void *arg, int mid)
{
	struct mqtt_sink *s = arg;
	unsigned k = (unsigned)mid & 0xffff;
	if (s->pending_bit[k / 8] & (1u << (k % 8))) {
		s->pending_bit[k / 8] &= (unsigned char)~(1u << (k % 8));
		s->pending--;
	}
}

struct mqtt_sink *mqtt_new(const struct target *t, const struct sink_opts *o, char *err,
			   size_t errlen)
{
	struct mqtt_sink *s = xcalloc(1, sizeof *s);
	s->t = t;
	s->o = o;
	buf_init(&s->topic);
	/* unique per connection: a broker drops the older of two equal ids */
	static int seq;
	char id[64];
	snprintf(id, sizeof id, "cce-push-%ld-%d", (long)getpid(), __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED));
	s->m = mosquitto_new(id, true, s);
	if (!s->m) {
		snprintf(err, errlen, "cannot create an MQTT client");
		goto fail;
	}
	mosquitto_connect_callback_set(s->m, on_connect);
	mosquitto_disconnect_callback_set(s->m, on_disconnect);
	mosquitto_publish_callback_set(s->m, on_publish);
	/* the broker's default receive maximum: more unacknowledged QoS 2
	 * messages get the connection closed */
	mosquitto_max_inflight_messages_set(s->m, 20);
	if (o->user) {
		char *u = xstrdup(o->user);
		char *colon = strchr(u, ':');
		if (colon)
			*colon = 0;
		int rc = mosquitto_username_pw_set(s->m, u, colon ? colon + 1 : NULL);
		free(u);
		if (rc != MOSQ_ERR_SUCCESS) {
			snprintf(err, errlen, "invalid MQTT user name: %s", mosquitto_strerror(rc));
			goto fail;
		}
	}
	if (t->tls) {
		int rc = mosquitto_tls_set(s->m, o->cacert, o->cacert ? NULL : "/etc/ssl/certs",
					   o->cert, o->key, NULL);
		if (rc == MOSQ_ERR_SUCCESS && o->insecure)
			rc = mosquitto_tls_insecure_set(s->m, true);
		if (rc != MOSQ_ERR_SUCCESS) {
			snprintf(err, errlen, "cannot set up TLS for '%s': %s", t->url, mosquitto_strerror(rc));
			goto fail;
		}
	}
	return s;
fail:
	mqtt_free(s);
	return NULL;
}

static bool stopped(const struct mqtt_sink *s)
{
	return s->o->stop && *s->o->stop;
}

static void drop_connection(struct mqtt_sink *s)
{
	if (s->connected)
		mosquitto_disconnect(s->m);
	s->connected = false;
}

static enum verdict ensure_connected(struct mqtt_sink *s, int64_t deadline, struct attempt *a)
{
	if (s->connected)
		return V_OK;
	s->conn_done = false;
	s->connack = 0;
	int rc = mosquitto_connect(s->m, s->t->host, s->t->port, 30);
	if (rc != MOSQ_ERR_SUCCESS) {
		snprintf(a->msg, sizeof a->msg, "cannot connect to %s:%d: %s", s->t->host, s->t->port,
			 rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
		return V_RETRY;
	}
	while (!s->conn_done) {
		if (stopped(s))
			return V_STOPPED;
		if (time_mono_ms() > deadline) {
			snprintf(a->msg, sizeof a->msg, "no CONNACK from %s:%d", s->t->host, s->t->port);
			mosquitto_disconnect(s->m);
			return V_RETRY;
		}
		rc = mosquitto_loop(s->m, 100, 1);
		if (rc != MOSQ_ERR_SUCCESS && !s->conn_done) {
			snprintf(a->msg, sizeof a->msg, "connection to %s:%d lost: %s", s->t->host,
				 s->t->port, mosquitto_strerror(rc));
			return V_RETRY;
		}
	}
	if (!s->connected) {
		a->status = s->connack;
		snprintf(a->msg, sizeof a->msg, "%s:%d refused the connection: %s", s->t->host,
			 s->t->port, mosquitto_connack_string(s->connack));
		mosquitto_disconnect(s->m);
		return V_RETRY;
	}
	return V_OK;
}

enum verdict mqtt_send(struct mqtt_sink *s, const struct spool_batch *b, struct attempt *a)
{
	if (target_expand(s->t, b->key, b->keylen, b->id, &s->topic) < 0) {
		snprintf(a->msg, sizeof a->msg, "the spooled batch does not fit the URL's placeholders");
		return V_PERMANENT;
	}
	snprintf(a->where, sizeof a->where, "%s", s->topic.data);
	int64_t timeout = s->o->timeout_ms > 0 ? s->o->timeout_ms : 30000;
	int64_t deadline = time_mono_ms() + timeout;
	enum verdict v = ensure_connected(s, deadline, a);
	if (v != V_OK)
		return v;
	memset(s->pending_bit, 0, sizeof s->pending_bit);
	s->pending = 0;
	const char *p = b->data, *end = b->data + b->len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		int mid = 0;
		int rc = mosquitto_publish(s->m, &mid, s->topic.data, (int)n, p, s->o->qos, false);
		if (rc != MOSQ_ERR_SUCCESS) {
			snprintf(a->msg, sizeof a->msg, "cannot publish to '%s': %s", s->topic.data,
				 mosquitto_strerror(rc));
			drop_connection(s);
			return V_RETRY;
		}
		unsigned k = (unsigned)mid & 0xffff;
		if (!(s->pending_bit[k / 8] & (1u << (k % 8)))) {
			s->pending_bit[k / 8] |= (unsigned char)(1u << (k % 8));
			s->pending++;
		}
		p += n + 1;
		/* keep the queue short: let acknowledgements in as we go */
		if (s->pending >= 100)
			mosquitto_loop(s->m, 0, 1);
	}
	while (s->pending) {
		if (stopped(s)) {
			drop_connection(s);
			return V_STOPPED;
		}
		if (time_mono_ms() > deadline) {
			snprintf(a->msg, sizeof a->msg, "%zu of %u messages to '%s' not acknowledged in time",
				 s->pending, b->nrec, s->topic.data);
			drop_connection(s);
			return V_RETRY;
		}
		int rc = mosquitto_loop(s->m, 100, 1);
		if (rc != MOSQ_ERR_SUCCESS || !s->connected) {
			snprintf(a->msg, sizeof a->msg, "connection to %s:%d lost: %s", s->t->host,
				 s->t->port, mosquitto_strerror(rc));
			drop_connection(s);
			return V_RETRY;
		}
	}
	return V_OK;
}

void mqtt_free(struct mqtt_sink *s)
{
	if (!s)
		return;
	if (s->m) {
		if (s->connected) {
			mosquitto_disconnect(s->m);
			mosquitto_loop(s->m, 100, 1);
		}
		mosquitto_destroy(s->m);
	}
	buf_free(&s->topic);
	free(s);
}
