/*
 * token: the cluster secret and node tokens.
 *
 * A token is "1.ISSUED.EXPIRES.MAC": times in ms since the epoch and MAC the
 * hex HMAC-SHA256, keyed with the cluster secret, of
 * "cce-register:1:NODE:ISSUED:EXPIRES". Holding a token for a name is what
 * lets an op act as that node; the issue time lets `revoke` void every
 * token issued before it.
 *
 * Promises: secret_create writes 32 random bytes as hex to a new file of
 * mode 0600 (crash-safely) and never replaces an existing secret;
 * secret_load reads one back. token_check compares MACs in constant time
 * and names the failure ("bad token", "expired token"). Errors fill err.
 */
#ifndef CCE_REGISTER_TOKEN_H
#define CCE_REGISTER_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SECRET_LEN 32
#define TOKEN_MAX 128

struct secret {
	unsigned char key[SECRET_LEN];
};

/* 1 created, 0 existed already, -1 error */
int secret_create(const char *path, char *err, size_t errlen);
int secret_load(const char *path, struct secret *s, char *err, size_t errlen);

/* out needs TOKEN_MAX bytes */
void token_make(const struct secret *s, const char *node, int64_t issued, int64_t expires,
		char *out);
/* The times inside a well-formed token; -1 if it is not one, or not
 * exactly as token_make spells it (a leading zero, a '+', upper-case hex,
 * anything before or after). */
int token_times(const char *tok, int64_t *issued, int64_t *expires);
/* 0 when tok is a valid, unexpired token for node; else -1 with why. */
int token_check(const struct secret *s, const char *node, const char *tok, int64_t now,
		const char **why);

#endif
