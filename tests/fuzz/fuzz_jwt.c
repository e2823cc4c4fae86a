/*
 * fuzz_jwt.c - libFuzzer target for JWT verification.
 *
 * The first input byte picks what the rest is: a raw token (gates 1-3:
 * shape, header, signature), the claims of a token the harness signs with
 * the verifier's secret (gate 4: claim checks behind a valid signature), or
 * the header of such a token. Accepted identities must be well formed.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/slice.h"
#include "gateway/auth.h"

#define SECRET "fuzz-secret-0123456789"
#define NOW 1700000000

static auth_verifier *hs;

static void b64url(rc_buf *out, const unsigned char *p, size_t len)
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

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    auth_config c = {"HS256", SECRET, NULL, "iss", "aud", 30};
    char err[256];
    hs = auth_verifier_new(&c, err, sizeof err);
    if (!hs)
        abort();
    return 0;
}

static void check(const char *tok, size_t len)
{
    auth_identity *id = NULL;
    const char *reason = NULL;
    int code = auth_verify(hs, tok, len, NOW, &id, &reason);
    if (!reason)
        abort();
    if (code != AUTH_OK) {
        if (id || (code != AUTH_TOKEN_MISSING && code != AUTH_TOKEN_INVALID &&
                   code != AUTH_TOKEN_EXPIRED))
            abort();
        return;
    }
    if (!id || !id->sub || !id->sub[0])
        abort();
    if (id->nprograms && !id->programs)
        abort();
    for (size_t i = 0; i < id->nprograms; i++)
        if (!id->programs[i] || !id->programs[i][0])
            abort();
    auth_identity_free(id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int mode = data[0] % 3;
    const unsigned char *in = data + 1;
    size_t len = size - 1;

    if (mode == 0) {
        check((const char *)in, len);
        return 0;
    }
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    static const char claims[] =
        "{\"sub\":\"u1\",\"iss\":\"iss\",\"aud\":\"aud\",\"exp\":1700003600}";
    rc_buf t = {0};
    if (mode == 1) {
        b64url(&t, (const unsigned char *)header, sizeof header - 1);
        rc_buf_append(&t, ".", 1);
        b64url(&t, in, len);
    } else {
        b64url(&t, in, len);
        rc_buf_append(&t, ".", 1);
        b64url(&t, (const unsigned char *)claims, sizeof claims - 1);
    }
    if (!t.p)
        return 0;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (unsigned char *)t.p,
         t.len, mac, &maclen);
    rc_buf_append(&t, ".", 1);
    b64url(&t, mac, maclen);
    check(t.p, t.len);
    rc_buf_free(&t);
    return 0;
}
