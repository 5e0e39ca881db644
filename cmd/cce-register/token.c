#include "token.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "fsutil.h"
#include "hash.h"

int secret_create(const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (stat(path, &st) == 0)
		return 0;
	if (errno != ENOENT) {
		snprintf(err, errlen, "cannot stat '%s': %s", path, strerror(errno));
		return -1;
	}
	unsigned char key[SECRET_LEN];
	char hex[2 * SECRET_LEN + 2];
	if (random_bytes(key, sizeof key) < 0) {
		snprintf(err, errlen, "cannot read random bytes for '%s'", path);
		return -1;
	}
	hex_encode(key, sizeof key, hex);
	strcat(hex, "\n");
	if (fs_replace(path, hex, strlen(hex), 0600, err, errlen) < 0)
		return -1;
	return 1;
}

int secret_load(const char *path, struct secret *s, char *err, size_t errlen)
{
	struct buf b = BUF_INIT;
	if (fs_read_file(path, 4096, &b, err, errlen) < 0) {
		buf_free(&b);
		return -1;
	}
	while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
		b.len--;
	int r = hex_decode(b.data, b.len, s->key, SECRET_LEN);
	buf_free(&b);
	if (r < 0) {
		snprintf(err, errlen, "'%s' is not a cluster secret (64 hex digits)", path);
		return -1;
	}
	return 0;
}

static void mac_hex(const struct secret *s, const char *node, int64_t issued, int64_t expires,
		    char out[SHA256_HEX_LEN])
{
	char msg[160];
	int n = snprintf(msg, sizeof msg, "cce-register:1:%s:%" PRId64 ":%" PRId64, node, issued,
			 expires);
	unsigned char mac[SHA256_LEN];
	if (hmac_sha256(s->key, SECRET_LEN, msg, (size_t)n, mac) < 0)
		memset(mac, 0, sizeof mac); /* never matches a real MAC */
	hex_encode(mac, SHA256_LEN, out);
}

void token_make(const struct secret *s, const char *node, int64_t issued, int64_t expires,
		char *out)
{
	char mac[SHA256_HEX_LEN];
	mac_hex(s, node, issued, expires, mac);
	snprintf(out, TOKEN_MAX, "1.%" PRId64 ".%" PRId64 ".%s", issued, expires, mac);
}

static int num(const char **p, int64_t *v)
{
	const char *s = *p;
	int64_t x = 0;
	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (x > (INT64_MAX - 9) / 10)
			return -1;
		x = x * 10 + (*s - '0');
	}
	if (*s != '.')
		return -1;
	*p = s + 1;
	*v = x;
	return 0;
}

int token_times(const char *tok, int64_t *issued, int64_t *expires)
{
	if (strncmp(tok, "1.", 2) != 0)
		return -1;
	const char *p = tok + 2;
	if (num(&p, issued) < 0 || num(&p, expires) < 0)
		return -1;
	if (strlen(p) != 2 * SHA256_LEN || strspn(p, "0123456789abcdef") != 2 * SHA256_LEN)
		return -1;
	/* only the text token_make writes is a token: "1.0123..." reads as
	 * the same times, and would pass the MAC of the real one */
	char canon[TOKEN_MAX];
	snprintf(canon, sizeof canon, "1.%" PRId64 ".%" PRId64 ".%s", *issued, *expires, p);
	return strcmp(canon, tok) == 0 ? 0 : -1;
}

int token_check(const struct secret *s, const char *node, const char *tok, int64_t now,
		const char **why)
{
	int64_t issued, expires;
	if (token_times(tok, &issued, &expires) < 0) {
		*why = "bad token";
		return -1;
	}
	char mac[SHA256_HEX_LEN];
	mac_hex(s, node, issued, expires, mac);
	if (!hash_equal(mac, tok + strlen(tok) - 2 * SHA256_LEN, 2 * SHA256_LEN)) {
		*why = "bad token";
		return -1;
	}
	if (expires <= now) {
		*why = "expired token";
		return -1;
	}
	return 0;
}
