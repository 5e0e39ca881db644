/* MQTT sink: one message per record on a kept connection; a batch counts
 * as delivered when every message was acknowledged (PUBACK for QoS 1,
 * PUBCOMP for QoS 2; written to the socket for QoS 0). With MQTT 5 (the
 * default) every message carries the user properties batch (the batch id)
 * and record (its index in the batch), the same on every resend, so that
 * receivers can drop duplicates; and a broker that refuses a message says
 * why in its PUBACK (not authorized: permanent). libmosquitto is driven
 * from the sender's thread with mosquitto_loop: no thread of its own, so
 * its callbacks run here. */
#include <errno.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <stdint.h>
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
	int refused;                    /* a PUBACK/PUBREC reason >= 0x80, or 0 */
};

static void on_connect(struct mosquitto *m, void *arg, int rc, int flags,
		       const mosquitto_property *props)
{
	struct mqtt_sink *s = arg;
	s->conn_done = true;
	s->connack = rc;
	s->connected = rc == 0;
}

static void on_disconnect(struct mosquitto *m, void *arg, int rc, const mosquitto_property *props)
{
	struct mqtt_sink *s = arg;
	s->conn_done = true;
	s->connected = false;
}

static void on_publish(struct mosquitto *m, void *arg, int mid, int reason,
		       const mosquitto_property *props)
{
	struct mqtt_sink *s = arg;
	if (reason >= 0x80 && !s->refused)
		s->refused = reason;
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
	/* unique per connection: a broker drops the older of two equal ids */
	static int seq;
	char id[64];
	snprintf(id, sizeof id, "cce-push-%ld-%d", (long)getpid(), __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED));
	s->m = mosquitto_new(id, true, s);
	if (!s->m) {
		snprintf(err, errlen, "cannot create an MQTT client");
		goto fail;
	}
	mosquitto_int_option(s->m, MOSQ_OPT_PROTOCOL_VERSION,
			     o->mqtt_v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
	mosquitto_connect_v5_callback_set(s->m, on_connect);
	mosquitto_disconnect_v5_callback_set(s->m, on_disconnect);
	mosquitto_publish_v5_callback_set(s->m, on_publish);
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
	int rc = mosquitto_connect_bind_v5(s->m, s->t->host, s->t->port, 30, NULL, NULL);
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
	if (!s->connected && s->connack == 0) {
		snprintf(a->msg, sizeof a->msg, "%s:%d closed the connection before its CONNACK",
			 s->t->host, s->t->port);
		return V_RETRY;
	}
	if (!s->connected) {
		a->status = s->connack;
		bool old_broker = s->o->mqtt_v5 && (s->connack == MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION ||
						    s->connack == CONNACK_REFUSED_PROTOCOL_VERSION);
		snprintf(a->msg, sizeof a->msg, "%s:%d refused the connection: %s%s", s->t->host,
			 s->t->port, s->o->mqtt_v5 ? mosquitto_reason_string(s->connack)
						   : mosquitto_connack_string(s->connack),
			 old_broker ? " (a broker without MQTT 5: try --mqtt-version 3.1.1)" : "");
		mosquitto_disconnect(s->m);
		return V_RETRY;
	}
	return V_OK;
}

enum verdict mqtt_send(struct mqtt_sink *s, const struct spool_batch *b, const char *topic,
			struct attempt *a)
{
	int64_t timeout = s->o->timeout_ms > 0 ? s->o->timeout_ms : 30000;
	int64_t deadline = time_mono_ms() + timeout;
	enum verdict v = ensure_connected(s, deadline, a);
	if (v != V_OK)
		return v;
	memset(s->pending_bit, 0, sizeof s->pending_bit);
	s->pending = 0;
	s->refused = 0;
	const char *p = b->data, *end = b->data + b->len;
	for (uint32_t index = 0; p < end; index++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		int mid = 0;
		mosquitto_property *props = NULL;
		if (s->o->mqtt_v5) {
			char num[16];
			snprintf(num, sizeof num, "%u", index);
			mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, "batch", b->id);
			mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, "record", num);
		}
		int rc = mosquitto_publish_v5(s->m, &mid, topic, (int)n, p, s->o->qos, false, props);
		mosquitto_property_free_all(&props);
		if (rc != MOSQ_ERR_SUCCESS) {
			snprintf(a->msg, sizeof a->msg, "cannot publish to '%s': %s", topic,
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
				 s->pending, b->nrec, topic);
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
	if (s->refused) {
		a->status = s->refused;
		snprintf(a->msg, sizeof a->msg, "%s (MQTT reason code %d)",
			 mosquitto_reason_string(s->refused), s->refused);
		/* what a later attempt will not change */
		return s->refused == MQTT_RC_NOT_AUTHORIZED || s->refused == MQTT_RC_TOPIC_NAME_INVALID ||
				       s->refused == MQTT_RC_PAYLOAD_FORMAT_INVALID
			       ? V_PERMANENT
			       : V_RETRY;
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
	free(s);
}
