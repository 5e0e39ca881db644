/*
 * sign: Ed25519 keys and detached signatures over a pack's metadata.
 *
 * Promises: keys are PEM files (PKCS#8 private key, SubjectPublicKeyInfo
 * public key) that openssl(1) reads; the private key is created 0600 and
 * never replaced. What is signed is the text "cce-sync-v1\n" followed by
 * the hex sha256 of the manifest and of the ops, each followed by "\n",
 * so that neither can be swapped or cut. A signature is 128 hex digits and
 * "\n". Every failure returns -1 with a one-line reason in err.
 */
#ifndef CCE_SYNC_SIGN_H
#define CCE_SYNC_SIGN_H

#include <stddef.h>

#define SIG_HEX_LEN 129

int sign_keygen(const char *keyfile, char *err, size_t errlen);
int sign_make(const char *keyfile, const char *manifest, size_t mlen, const char *ops, size_t olen,
	      char sig[SIG_HEX_LEN], char *err, size_t errlen);
int sign_check(const char *pubfile, const char *manifest, size_t mlen, const char *ops, size_t olen,
	       const char *sig, size_t siglen, char *err, size_t errlen);

#endif
