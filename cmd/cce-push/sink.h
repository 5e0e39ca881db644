/*
 * sink: delivering one batch to where the URL points, once.
 *
 * Promises: sink_send makes one attempt and says what became of it: OK
 * only when the receiver acknowledged every record (HTTP 2xx, every MQTT
 * PUBACK/PUBCOMP, or the file appended and fsynced: once, even when the
 * batch comes again after a lost acknowledgement); RETRY for failures
 * that may pass (connection refused, timeouts, 408, 429, 5xx, MQTT
 * disconnects, a full disk); PERMANENT for answers that will not change
 * (any other 4xx, a URL the batch cannot fill); STOPPED when *stop became
 * true during the attempt. The verdict for HTTP answers is taken in one
 * place, http_verdict; the URL is filled from the batch in one place,
 * sink_send, for every kind of sink. A sink is used by one thread at a time.
 */
#ifndef CCE_PUSH_SINK_H
#define CCE_PUSH_SINK_H

#include <stdbool.h>
#include <stdint.h>

#include "spool.h"
#include "target.h"

enum verdict { V_OK, V_RETRY, V_PERMANENT, V_STOPPED };

struct sink_opts {
	const char *method;         /* POST or PUT */
	char **headers;             /* "Name: value" */
	size_t nheaders;
	const char *bearer;         /* token, or NULL */
	const char *user;           /* "user:password", or NULL */
	const char *cacert, *cert, *key;
	bool insecure, gzip;
	int64_t timeout_ms;
	int qos;
	bool mqtt_v5;               /* MQTT 5 (batch and record user properties) or 3.1.1 */
	volatile int *stop;         /* checked during an attempt */
	const char *spool_dir;      /* the file sink keeps its journal there; NULL: none */
};

struct attempt {
	long status;                /* HTTP status, MQTT reason, 0 */
	int64_t retry_after_ms;     /* -1 when the server said nothing */
	char msg[256];              /* why it failed */
	char where[512];            /* the resolved URL, path or topic */
};

struct sink;

struct sink *sink_new(const struct target *t, const struct sink_opts *o, char *err, size_t errlen);
enum verdict sink_send(struct sink *s, const struct spool_batch *b, struct attempt *a);
void sink_free(struct sink *s);

/* The verdict on an HTTP status after a completed exchange. */
enum verdict http_verdict(long status);
/* Milliseconds to wait before attempt number n (1 for the first retry):
 * full jitter over base * 2^(n-1), capped at max; a server's retry_after
 * (>= 0) wins, clamped to max. r is a random 32-bit value. */
int64_t backoff_delay(int n, int64_t base, int64_t max, int64_t retry_after, uint32_t r);

#endif
