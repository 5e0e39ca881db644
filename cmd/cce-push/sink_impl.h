/* The sinks behind sink.h: each makes one attempt per call (see sink.h). */
#ifndef CCE_PUSH_SINK_IMPL_H
#define CCE_PUSH_SINK_IMPL_H

#include "sink.h"

struct http_sink;
struct http_sink *http_new(const struct target *t, const struct sink_opts *o, char *err,
			   size_t errlen);
/* url, topic: the target expanded for this batch */
enum verdict http_send(struct http_sink *h, const struct spool_batch *b, const char *url,
			struct attempt *a);
void http_free(struct http_sink *h);

struct mqtt_sink;
struct mqtt_sink *mqtt_new(const struct target *t, const struct sink_opts *o, char *err,
			   size_t errlen);
enum verdict mqtt_send(struct mqtt_sink *m, const struct spool_batch *b, const char *topic,
			struct attempt *a);
void mqtt_free(struct mqtt_sink *m);

/* gzip of p[0..n) into out (reset first): 0, or -1 */
int gzip_buf(const char *p, size_t n, struct buf *out);

#endif
