/*
 * jwt_helpers.h - helpers shared by the JWT tests (test_auth.c, the
 * single-key verifiers; test_auth_keys.c, key sets; and the fuzz target
 * tests/fuzz/fuzz_jwt.c): base64url of test data, PEM text and files, key
 * generation, signing with EVP keys (ES256 in the JOSE R||S form that
 * jsonwebtoken and jose produce, not OpenSSL's DER), token assembly and the
 * construction of a verifier.
 *
 * Every includer uses a different subset, so the definitions are static
 * inline. A failed step is reported with CHECK: tests/unit/check.h's, which
 * counts it, unless the includer defines CHECK first (the fuzz target
 * aborts).
 */
#ifndef RC_TEST_JWT_HELPERS_H
#define RC_TEST_JWT_HELPERS_H

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/slice.h"
#include "gateway/roomcast/auth.h"

#ifndef CHECK
#include "tests/unit/check.h"
#endif

/* The clock the tests verify at; their tokens expire at 1700003600, an hour
 * later. SECRET is the unit tests' HS256 secret (the fuzz target's seed
 * tokens are signed with a secret of its own). */
#define NOW 1700000000LL
#define SECRET "test-secret-0123456789abcdef0123456789"

/* Headers and claims the unit tests' tokens use most. */
#define HS "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define RS "{\"alg\":\"RS256\",\"typ\":\"JWT\"}"
#define ES "{\"alg\":\"ES256\",\"typ\":\"JWT\"}"
#define GOOD "{\"sub\":\"u1\",\"exp\":1700003600}"

/* Appends base64url of p (no padding) to out. */
static inline void b64url(rc_buf *out, const unsigned char *p, size_t len)
{
    static const char a[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        unsigned w = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        char c[4] = {a[w >> 18], a[(w >> 12) & 63], a[(w >> 6) & 63],
                     a[w & 63]};
        rc_buf_append(out, c, 4);
    }
    if (len - i == 1) {
        unsigned w = (unsigned)p[i] << 16;
        char c[2] = {a[w >> 18], a[(w >> 12) & 63]};
        rc_buf_append(out, c, 2);
    } else if (len - i == 2) {
        unsigned w = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
        char c[3] = {a[w >> 18], a[(w >> 12) & 63], a[(w >> 6) & 63]};
        rc_buf_append(out, c, 3);
    }
}

/* PEM text of k's private (priv) or public half; caller frees. */
static inline char *pem_of(EVP_PKEY *k, int priv)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (priv)
        PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    else
        PEM_write_bio_PUBKEY(b, k);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    char *s = strndup(p, (size_t)n);
    BIO_free(b);
    return s;
}

/* Writes text to a new temporary file $TMPDIR/rc_auth_XXXXXX; its name is
 * left in path (64 bytes). */
static inline void write_file(char *path, const char *text)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path, 64, "%s/rc_auth_XXXXXX", dir && dir[0] ? dir : "/tmp");
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    size_t n = strlen(text);
    CHECK(write(fd, text, n) == (ssize_t)n);
    close(fd);
}

static inline EVP_PKEY *keygen_ec(const char *curve)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
    CHECK(k != NULL);
    return k;
}

static inline EVP_PKEY *keygen_rsa(size_t bits)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", bits);
    CHECK(k != NULL);
    return k;
}

/* Signs msg with k and md into sig (cap bytes); returns the length, 0 on
 * failure. EC keys give OpenSSL's DER form. */
static inline size_t sign_pkey(EVP_PKEY *k, const EVP_MD *md, const char *msg,
                               size_t len, unsigned char *sig, size_t cap)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    size_t n = cap;
    int ok = EVP_DigestSignInit(c, NULL, md, NULL, k) == 1 &&
             EVP_DigestSign(c, sig, &n, (const unsigned char *)msg, len) == 1;
    EVP_MD_CTX_free(c);
    CHECK(ok);
    return ok ? n : 0;
}

/* DER ECDSA signature -> JOSE R||S (32 + 32 bytes for P-256). */
static inline size_t der_to_jose(const unsigned char *der, size_t len,
                                 unsigned char *out)
{
    const unsigned char *p = der;
    ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)len);
    CHECK(s != NULL);
    if (!s)
        return 0;
    const BIGNUM *r, *ss;
    ECDSA_SIG_get0(s, &r, &ss);
    BN_bn2binpad(r, out, 32);
    BN_bn2binpad(ss, out + 32, 32);
    ECDSA_SIG_free(s);
    return 64;
}

/* ES256 signature of msg with the P-256 key k, JOSE R||S into out (64
 * bytes); returns its length. */
static inline size_t sign_es256(EVP_PKEY *k, const char *msg, size_t len,
                                unsigned char *out)
{
    unsigned char der[256];
    size_t dl = sign_pkey(k, EVP_sha256(), msg, len, der, sizeof der);
    return der_to_jose(der, dl, out);
}

/* Appends the signing input b64url(header) "." b64url(claims) to t. */
static inline void jwt_put_input(rc_buf *t, const void *header, size_t hlen,
                                 const void *claims, size_t clen)
{
    b64url(t, header, hlen);
    rc_buf_append(t, ".", 1);
    b64url(t, claims, clen);
}

/* Appends "." b64url(sig) to the signing input in t: the whole token. */
static inline void jwt_put_sig(rc_buf *t, const unsigned char *sig, size_t len)
{
    rc_buf_append(t, ".", 1);
    b64url(t, sig, len);
}

/* Signs the signing input in t HS256 (HMAC-SHA256 keyed with the text of
 * key) and appends the signature. */
static inline void jwt_put_hs256(rc_buf *t, const char *key)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    HMAC(EVP_sha256(), key, (int)strlen(key), (unsigned char *)t->p, t->len,
         mac, &n);
    jwt_put_sig(t, mac, n);
}

/* Signs the signing input in t with k, RS256 for RSA, ES256 (JOSE R||S) for
 * EC, and appends the signature. */
static inline void jwt_put_signed(rc_buf *t, EVP_PKEY *k)
{
    unsigned char s[1024];
    size_t n;
    if (EVP_PKEY_get_base_id(k) == EVP_PKEY_EC)
        n = sign_es256(k, t->p, t->len, s);
    else
        n = sign_pkey(k, EVP_sha256(), t->p, t->len, s, sizeof s);
    jwt_put_sig(t, s, n);
}

/* Signs header.claims with k: RS256 for RSA, ES256 (JOSE R||S) for EC.
 * Caller frees. */
static inline char *sign_token(const char *header, const char *claims,
                               EVP_PKEY *k)
{
    rc_buf t = {0};
    jwt_put_input(&t, header, strlen(header), claims, strlen(claims));
    jwt_put_signed(&t, k);
    return t.p;
}

/* Signs header.claims HS256 keyed with the text of key; caller frees. */
static inline char *hs256_token(const char *header, const char *claims,
                                const char *key)
{
    rc_buf t = {0};
    jwt_put_input(&t, header, strlen(header), claims, strlen(claims));
    jwt_put_hs256(&t, key);
    return t.p;
}

/* A verifier that must build; NULL (and a failed check) otherwise. */
static inline rc_auth_verifier *mk(const char *alg, const char *secret,
                                   const char *key, const char *iss,
                                   const char *aud, int leeway)
{
    char err[256] = "";
    rc_auth_config c = {.alg = alg, .secret = secret, .public_key_file = key,
                     .issuer = iss, .audience = aud, .leeway_s = leeway};
    rc_auth_verifier *v = rc_auth_verifier_new(&c, err, sizeof err);
    if (!v)
        fprintf(stderr, "verifier %s: %s\n", alg, err);
    CHECK(v != NULL);
    return v;
}

#endif
