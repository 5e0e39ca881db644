#include "sign.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "buf.h"
#include "hash.h"

static void message(struct buf *b, const char *m, size_t mlen, const char *o, size_t olen)
{
	unsigned char d[SHA256_LEN];
	char hex[SHA256_HEX_LEN];
	buf_adds(b, "cce-sync-v1\n");
	sha256(m, mlen, d);
	hex_encode(d, SHA256_LEN, hex);
	buf_adds(b, hex);
	buf_addc(b, '\n');
	sha256(o, olen, d);
	hex_encode(d, SHA256_LEN, hex);
	buf_adds(b, hex);
	buf_addc(b, '\n');
}

static FILE *create_file(const char *path, mode_t mode, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	FILE *f = fd < 0 ? NULL : fdopen(fd, "w");
	if (!f) {
		snprintf(err, errlen, "cannot create '%s': %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	return f;
}

static int close_file(FILE *f, const char *path, char *err, size_t errlen)
{
	if (fflush(f) || fsync(fileno(f)) || ferror(f)) {
		snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
		fclose(f);
		return -1;
	}
	fclose(f);
	return 0;
}

int sign_keygen(const char *keyfile, char *err, size_t errlen)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!k) {
		snprintf(err, errlen, "cannot generate an Ed25519 key");
		return -1;
	}
	char pub[4096];
	snprintf(pub, sizeof pub, "%s.pub", keyfile);
	int r = -1;
	FILE *f = create_file(keyfile, 0600, err, errlen);
	if (f) {
		if (!PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL)) {
			snprintf(err, errlen, "cannot write '%s'", keyfile);
			fclose(f);
		} else if (close_file(f, keyfile, err, errlen) == 0) {
			FILE *g = create_file(pub, 0644, err, errlen);
			if (g && !PEM_write_PUBKEY(g, k)) {
				snprintf(err, errlen, "cannot write '%s'", pub);
				fclose(g);
			} else if (g && close_file(g, pub, err, errlen) == 0) {
				r = 0;
			}
		}
	}
	EVP_PKEY_free(k);
	return r;
}

static EVP_PKEY *read_key(const char *file, int private, char *err, size_t errlen)
{
	FILE *f = fopen(file, "re");
	if (!f) {
		snprintf(err, errlen, "cannot open '%s': %s", file, strerror(errno));
		return NULL;
	}
	EVP_PKEY *k = private ? PEM_read_PrivateKey(f, NULL, NULL, NULL)
			      : PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	if (k && EVP_PKEY_get_base_id(k) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(k);
		k = NULL;
	}
	if (!k)
		snprintf(err, errlen, "'%s' is not an Ed25519 %s key in PEM form", file,
			 private ? "private" : "public");
	return k;
}

int sign_make(const char *keyfile, const char *m, size_t mlen, const char *o, size_t olen,
	      char sig[SIG_HEX_LEN], char *err, size_t errlen)
{
	EVP_PKEY *k = read_key(keyfile, 1, err, errlen);
	if (!k)
		return -1;
	struct buf msg = BUF_INIT;
	message(&msg, m, mlen, o, olen);
	unsigned char s[64];
	size_t slen = sizeof s;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int r = -1;
	if (c && EVP_DigestSignInit(c, NULL, NULL, NULL, k) == 1 &&
	    EVP_DigestSign(c, s, &slen, (unsigned char *)msg.data, msg.len) == 1 && slen == 64) {
		hex_encode(s, 64, sig);
		r = 0;
	} else {
		snprintf(err, errlen, "cannot sign with '%s'", keyfile);
	}
	EVP_MD_CTX_free(c);
	EVP_PKEY_free(k);
	buf_free(&msg);
	return r;
}

int sign_check(const char *pubfile, const char *m, size_t mlen, const char *o, size_t olen,
	       const char *sig, size_t siglen, char *err, size_t errlen)
{
	unsigned char s[64];
	while (siglen && (sig[siglen - 1] == '\n' || sig[siglen - 1] == '\r'))
		siglen--;
	if (hex_decode(sig, siglen, s, sizeof s) < 0) {
		snprintf(err, errlen, "malformed signature");
		return -1;
	}
	EVP_PKEY *k = read_key(pubfile, 0, err, errlen);
	if (!k)
		return -1;
	struct buf msg = BUF_INIT;
	message(&msg, m, mlen, o, olen);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int r = -1;
	if (c && EVP_DigestVerifyInit(c, NULL, NULL, NULL, k) == 1 &&
	    EVP_DigestVerify(c, s, sizeof s, (unsigned char *)msg.data, msg.len) == 1)
		r = 0;
	else
		snprintf(err, errlen, "bad signature (not made by the key in '%s')", pubfile);
	EVP_MD_CTX_free(c);
	EVP_PKEY_free(k);
	buf_free(&msg);
	return r;
}
