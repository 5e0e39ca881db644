#include "target.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.';
}

static void add_part(struct target *t, struct tpart p)
{
	t->parts = xrealloc(t->parts, (t->nparts + 1) * sizeof *t->parts);
	t->parts[t->nparts++] = p;
}

static void add_text(struct target *t, const char *s, size_t n)
{
	if (n)
		add_part(t, (struct tpart){ PART_TEXT, xstrndup(s, n), 0 });
}

/* Split s into text and {placeholders}. */
static void parse_template(struct target *t, const char *s)
{
	const char *lit = s;
	for (const char *p = s; *p; p++) {
		if (*p != '{')
			continue;
		const char *q = p + 1;
		while (name_char(*q))
			q++;
		if (*q != '}' || q == p + 1)
			continue;
		add_text(t, lit, (size_t)(p - lit));
		size_t n = (size_t)(q - p - 1);
		if (n == 5 && memcmp(p + 1, "batch", 5) == 0) {
			add_part(t, (struct tpart){ PART_BATCH, NULL, 0 });
			t->has_batch = true;
		} else {
			size_t k;
			for (k = 0; k < t->nfields; k++)
				if (strlen(t->fields[k]) == n && memcmp(t->fields[k], p + 1, n) == 0)
					break;
			if (k == t->nfields) {
				t->fields = xrealloc(t->fields, (t->nfields + 1) * sizeof *t->fields);
				t->fields[t->nfields++] = xstrndup(p + 1, n);
			}
			add_part(t, (struct tpart){ PART_FIELD, NULL, k });
		}
		lit = q + 1;
		p = q;
	}
	add_text(t, lit, strlen(lit));
}

int target_parse(struct target *t, const char *url, char *err, size_t errlen)
{
	memset(t, 0, sizeof *t);
	t->url = xstrdup(url);
	if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0) {
		t->kind = SINK_HTTP;
		t->tls = url[4] == 's';
		const char *host = strstr(url, "://") + 3;
		if (!*host || *host == '/') {
			snprintf(err, errlen, "invalid URL '%s': no host", url);
			return -1;
		}
		parse_template(t, url);
		goto check;
	}
	if (strncmp(url, "file:", 5) == 0) {
		t->kind = SINK_FILE;
		const char *path = url + 5;
		if (strncmp(path, "//", 2) == 0)
			path += 2; /* file:///x and file:x both name /x and x */
		if (!*path) {
			snprintf(err, errlen, "invalid URL '%s': no path", url);
			return -1;
		}
		parse_template(t, path);
		goto check;
	}
	if (strncmp(url, "mqtt://", 7) == 0 || strncmp(url, "mqtts://", 8) == 0) {
		t->kind = SINK_MQTT;
		t->tls = url[4] == 's';
		const char *h = strstr(url, "://") + 3;
		const char *slash = strchr(h, '/');
		if (!slash || !slash[1]) {
			snprintf(err, errlen, "invalid URL '%s': no topic (mqtt://host[:port]/TOPIC)", url);
			return -1;
		}
		const char *colon = memchr(h, ':', (size_t)(slash - h));
		const char *hend = colon ? colon : slash;
		if (hend == h) {
			snprintf(err, errlen, "invalid URL '%s': no host", url);
			return -1;
		}
		if (memchr(h, '@', (size_t)(slash - h))) {
			snprintf(err, errlen, "invalid URL '%s': credentials belong in --user-file", url);
			return -1;
		}
		t->host = xstrndup(h, (size_t)(hend - h));
		t->port = t->tls ? 8883 : 1883;
		if (colon) {
			char *end;
			long p = strtol(colon + 1, &end, 10);
			if (end != slash || p < 1 || p > 65535) {
				snprintf(err, errlen, "invalid URL '%s': bad port", url);
				return -1;
			}
			t->port = (int)p;
		}
		const char *topic = slash + 1;
		if (strpbrk(topic, "+#")) {
			snprintf(err, errlen, "invalid URL '%s': wildcards in a topic to publish to", url);
			return -1;
		}
		parse_template(t, topic);
		goto check;
	}
	snprintf(err, errlen, "unsupported URL '%s' (use http://, https://, mqtt://, mqtts:// or file:)",
		 url);
	return -1;
check:
	if (t->nfields > 64) {
		snprintf(err, errlen, "invalid URL '%s': more than 64 placeholders", url);
		return -1;
	}
	return 0;
}

void target_free(struct target *t)
{
	for (size_t i = 0; i < t->nparts; i++)
		free(t->parts[i].text);
	for (size_t i = 0; i < t->nfields; i++)
		free(t->fields[i]);
	free(t->parts);
	free(t->fields);
	free(t->url);
	free(t->host);
	memset(t, 0, sizeof *t);
}

int target_key(const struct target *t, const struct json_doc *d, struct buf *key,
	       char *err, size_t errlen)
{
	for (size_t k = 0; k < t->nfields; k++) {
		const char *name = t->fields[k];
		int v = json_get(d, 0, name);
		if (v < 0) {
			snprintf(err, errlen, "no field '%s' for the URL placeholder {%s}", name, name);
			return -1;
		}
		size_t start = key->len;
		enum json_type ty = json_type_of(d, v);
		if (ty == JSON_STRING) {
			json_str(d, v, key);
		} else if (ty == JSON_NUMBER || ty == JSON_TRUE || ty == JSON_FALSE) {
			size_t n;
			const char *raw = json_raw(d, v, &n);
			buf_add(key, raw, n);
		} else {
			snprintf(err, errlen, "field '%s' for the URL placeholder is %s, not a string or number",
				 name, json_type_name(ty));
			return -1;
		}
		const char *val = key->data + start;
		size_t n = key->len - start;
		const char *bad = NULL;
		if (memchr(val, 0, n))
			bad = "a NUL character";
		else if (t->kind == SINK_MQTT && (memchr(val, '+', n) || memchr(val, '#', n)))
			bad = "an MQTT wildcard";
		else if (t->kind == SINK_FILE &&
			 (!n || memchr(val, '/', n) || (n == 1 && val[0] == '.') ||
			  (n == 2 && val[0] == '.' && val[1] == '.')))
			bad = "a path separator or an empty or dot name";
		if (bad) {
			snprintf(err, errlen, "field '%s' for the URL placeholder holds %s", name, bad);
			return -1;
		}
		buf_addc(key, 0);
	}
	return 0;
}

static void add_escaped(struct buf *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			buf_addc(out, (char)c);
		} else {
			buf_addc(out, '%');
			buf_addc(out, hex[c >> 4]);
			buf_addc(out, hex[c & 15]);
		}
	}
}

int target_expand(const struct target *t, const char *key, size_t keylen, const char *batch,
		  struct buf *out)
{
	/* split the key into its values */
	const char *vals[64];
	size_t lens[64], nv = 0;
	for (size_t i = 0; i < keylen;) {
		const char *z = memchr(key + i, 0, keylen - i);
		if (!z || nv == 64)
			return -1;
		vals[nv] = key + i;
		lens[nv++] = (size_t)(z - (key + i));
		i = (size_t)(z - key) + 1;
	}
	if (nv != t->nfields)
		return -1;
	buf_reset(out);
	for (size_t i = 0; i < t->nparts; i++) {
		const struct tpart *p = &t->parts[i];
		if (p->kind == PART_TEXT)
			buf_adds(out, p->text);
		else if (p->kind == PART_BATCH)
			buf_adds(out, batch);
		else if (t->kind == SINK_HTTP)
			add_escaped(out, vals[p->field], lens[p->field]);
		else
			buf_add(out, vals[p->field], lens[p->field]);
	}
	return 0;
}
