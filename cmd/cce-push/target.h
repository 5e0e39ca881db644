/*
 * target: the URL cce-push delivers to, with its {field} placeholders.
 *
 * Promises: target_parse accepts http://, https://, mqtt://, mqtts:// and
 * file: URLs and nothing else, with a reason naming the URL otherwise.
 * A record's placeholder values (its "key") are the top-level fields named
 * by the placeholders, in order of first appearance, each NUL-terminated;
 * records with equal keys go to the same resolved URL. {batch} is not a
 * field: it stands for the batch id. target_expand fills the template,
 * percent-encoding values in HTTP URLs. The target owns its strings.
 */
#ifndef CCE_PUSH_TARGET_H
#define CCE_PUSH_TARGET_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "json.h"

enum sink_kind { SINK_HTTP, SINK_MQTT, SINK_FILE };

struct tpart {
	enum { PART_TEXT, PART_FIELD, PART_BATCH } kind;
	char *text;     /* PART_TEXT */
	size_t field;   /* PART_FIELD: index into fields */
};

struct target {
	enum sink_kind kind;
	char *url;              /* as given */
	bool tls;               /* https, mqtts */
	/* the expandable part: the whole URL (http), the path (file), the
	 * topic (mqtt) */
	struct tpart *parts;
	size_t nparts;
	char **fields;
	size_t nfields;
	bool has_batch;
	/* mqtt */
	char *host;
	int port;
};

int target_parse(struct target *t, const char *url, char *err, size_t errlen);
void target_free(struct target *t);
/* The key of a record (appended to key): 0, or -1 with the reason. */
int target_key(const struct target *t, const struct json_doc *d, struct buf *key,
	       char *err, size_t errlen);
/* The resolved URL, path or topic into out (reset first): 0, or -1 when
 * the key does not fit the template (a spool written with another URL). */
int target_expand(const struct target *t, const char *key, size_t keylen, const char *batch,
		  struct buf *out);

#endif
