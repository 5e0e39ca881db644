/*
 * hash: SHA-256 and HMAC-SHA256 over libcrypto, and hex.
 *
 * Promises: digests are 32 raw bytes; hex forms are 64 lowercase chars plus
 * NUL. hash_equal compares in constant time (for tokens and MACs).
 * sha256_ctx is an incremental hash the caller owns (init, update, final);
 * it never fails short of memory exhaustion inside libcrypto, reported as -1.
 */
#ifndef CCE_HASH_H
#define CCE_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32
#define SHA256_HEX_LEN 65

struct sha256_ctx {
	void *md; /* EVP_MD_CTX */
};

int sha256_init(struct sha256_ctx *c);
int sha256_update(struct sha256_ctx *c, const void *p, size_t n);
int sha256_final(struct sha256_ctx *c, unsigned char out[SHA256_LEN]); /* frees c */
void sha256_abort(struct sha256_ctx *c);

int sha256(const void *p, size_t n, unsigned char out[SHA256_LEN]);
int hmac_sha256(const void *key, size_t keylen, const void *p, size_t n,
		unsigned char out[SHA256_LEN]);
void hex_encode(const unsigned char *p, size_t n, char *out); /* out: 2n+1 */
/* -1 unless s is exactly 2*n hex digits */
int hex_decode(const char *s, size_t slen, unsigned char *out, size_t n);
bool hash_equal(const void *a, const void *b, size_t n);
/* n bytes from the OS's CSPRNG */
int random_bytes(void *p, size_t n);

#endif
