/*
 * hash: SHA-256 and HMAC-SHA256 over libcrypto, hex, and the fast
 * non-cryptographic hashing of in-memory tables (FNV-1a and a mixer).
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

/*
 * FNV-1a over n bytes, continuing from h (a basis, or an earlier result to
 * hash several parts as one). Not for anything an attacker must not
 * collide: tables, tie-breaks, check words.
 * FNV_BASIS is FNV's offset basis. CCE_FNV_BASIS is the one cce-sched and
 * cce-register have always started from (FNV's, short of its last digit):
 * FNV works from any basis, and this one is kept because what it decides
 * is visible (cce-sched's tie-breaks and hash placements, the order of
 * cce-register's table) and stays as it was.
 */
#define FNV_BASIS 0xcbf29ce484222325ULL
#define CCE_FNV_BASIS 1469598103934665603ULL
static inline uint64_t fnv1a64(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 0x100000001b3ULL;
	return h;
}

/* splitmix64's finaliser: every input bit flips each output bit with
 * probability about 1/2 (FNV alone leaves the low bits of keys that differ
 * only at the end, edge-1, edge-2, close together). */
static inline uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

#endif
