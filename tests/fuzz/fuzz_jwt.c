/*
 * fuzz_jwt.c - libFuzzer target for JWT verification and key set loading.
 *
 * The first input byte (mod 6) picks what the rest is:
 *  0: a raw token for an HS256 verifier (gates 1-3: shape, header,
 *     signature);
 *  1: the claims of a token the harness signs with that verifier's secret
 *     (gate 4: claim checks behind a valid signature);
 *  2: the header of such a token;
 *  3: a raw token for a verifier with several keys (RS256 and ES256, PEM
 *     files with kid and a JWKS): kid lookup and the tries without kid;
 *  4: the header of a token the harness signs ES256 (JOSE R||S) with the
 *     key of kid "fz-ec", for that verifier;
 *  5: a JWKS document, loaded as a verifier's key set (RS256,ES256); when
 *     it is accepted, a token is checked with it.
 * Accepted identities must be well formed; a token accepted by the several
 * keys verifier must be signed by one of its keys, so in mode 4 the header
 * must say ES256. Keys are generated at start-up into a temporary directory
 * removed at exit. Tokens are assembled and signed with the unit tests'
 * helpers (tests/unit/jwt_helpers.h, which also gives NOW).
 */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/log.h"
#include "core/slice.h"
#include "gateway/roomcast/auth.h"

/* The shared helpers' failed steps abort, like every broken invariant. */
#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond))                                                          \
            abort();                                                          \
    } while (0)
#include "tests/unit/jwt_helpers.h"

#define FUZZ_SECRET "fuzz-secret-0123456789"

static rc_auth_verifier *hs, *multi;
static EVP_PKEY *ec_key, *rsa_key;
static char dir[256], ec_path[300], rsa_path[300], jwks_path[300],
    input_path[300];

static void write_text(const char *path, const void *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, len, f) != len)
        abort();
    fclose(f);
}

static void write_pem(const char *path, EVP_PKEY *k)
{
    char *pem = pem_of(k, 0);
    if (!pem || !pem[0])
        abort();
    write_text(path, pem, strlen(pem));
    free(pem);
}

static void cleanup(void)
{
    unlink(ec_path);
    unlink(rsa_path);
    unlink(jwks_path);
    unlink(input_path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[512];
    rc_log_min_level = RC_LOG_ERROR; /* skipped JWKS keys are routine here */

    rc_auth_config c = {.alg = "HS256", .secret = FUZZ_SECRET, .issuer = "iss",
                     .audience = "aud", .leeway_s = 30};
    hs = rc_auth_verifier_new(&c, err, sizeof err);
    if (!hs)
        abort();

    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/fuzz_jwt_XXXXXX",
             tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(dir))
        abort();
    snprintf(ec_path, sizeof ec_path, "%s/fz-ec.pem", dir);
    snprintf(rsa_path, sizeof rsa_path, "%s/fz-rsa.pem", dir);
    snprintf(jwks_path, sizeof jwks_path, "%s/jwks.json", dir);
    snprintf(input_path, sizeof input_path, "%s/input.json", dir);
    atexit(cleanup);
    ec_key = keygen_ec("P-256");
    rsa_key = keygen_rsa(2048);
    write_pem(ec_path, ec_key);
    write_pem(rsa_path, rsa_key);
    /* a JWKS key that is a point on P-256 (the generator) with a kid */
    static const char jwks[] =
        "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"fz-g\","
        "\"x\":\"axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY\","
        "\"y\":\"T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU\"},"
        "{\"kty\":\"oct\",\"k\":\"AA\"}]}";
    write_text(jwks_path, jwks, sizeof jwks - 1);

    char files[700];
    snprintf(files, sizeof files, "%s, %s", rsa_path, ec_path);
    rc_auth_config m = {.alg = "RS256,ES256", .public_key_file = files,
                     .jwks_file = jwks_path, .leeway_s = 30};
    multi = rc_auth_verifier_new(&m, err, sizeof err);
    if (!multi || rc_auth_verifier_key_count(multi) != 3) {
        fprintf(stderr, "fuzz_jwt: %s\n", multi ? "key count" : err);
        abort();
    }
    return 0;
}

static int check(const rc_auth_verifier *v, const char *tok, size_t len)
{
    rc_auth_identity *id = NULL;
    const char *reason = NULL;
    int code = rc_auth_verify(v, tok, len, NOW, &id, &reason);
    if (!reason)
        abort();
    if (code != RC_AUTH_OK) {
        if (id || (code != RC_AUTH_TOKEN_MISSING && code != RC_AUTH_TOKEN_INVALID &&
                   code != RC_AUTH_TOKEN_EXPIRED))
            abort();
        return code;
    }
    if (!id || !id->sub || !id->sub[0])
        abort();
    if (id->nprograms && !id->programs)
        abort();
    for (size_t i = 0; i < id->nprograms; i++)
        if (!id->programs[i] || !id->programs[i][0])
            abort();
    rc_auth_identity_free(id);
    return code;
}

static void fuzz_jwks(const uint8_t *in, size_t len)
{
    char err[512];
    write_text(input_path, in, len);
    rc_auth_config c = {.alg = "RS256,ES256", .jwks_file = input_path};
    rc_auth_verifier *v = rc_auth_verifier_new(&c, err, sizeof err);
    if (!v)
        return;
    const char *d = rc_auth_verifier_describe(v);
    if (!d || strncmp(d, "RS256,ES256 with ", 17) != 0 ||
        rc_auth_verifier_key_count(v) == 0 || rc_auth_verifier_key_count(v) > 64)
        abort();
    static const char tok[] =
        "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1MSJ9."
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAA";
    /* an all-zero signature never verifies */
    if (check(v, tok, sizeof tok - 1) == RC_AUTH_OK)
        abort();
    rc_auth_verifier_unref(rc_auth_verifier_ref(v));
    rc_auth_verifier_unref(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int mode = data[0] % 6;
    const unsigned char *in = data + 1;
    size_t len = size - 1;

    if (mode == 0) {
        check(hs, (const char *)in, len);
        return 0;
    }
    if (mode == 3) {
        check(multi, (const char *)in, len);
        return 0;
    }
    if (mode == 5) {
        fuzz_jwks(in, len);
        return 0;
    }
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    static const char claims[] =
        "{\"sub\":\"u1\",\"iss\":\"iss\",\"aud\":\"aud\",\"exp\":1700003600}";
    rc_buf t = {0};
    if (mode == 1)
        jwt_put_input(&t, header, sizeof header - 1, in, len);
    else
        jwt_put_input(&t, in, len, claims, sizeof claims - 1);
    if (!t.p)
        return 0;
    if (mode == 4) {
        jwt_put_signed(&t, ec_key); /* ES256, JOSE R||S */
        if (check(multi, t.p, t.len) == RC_AUTH_OK) {
            json_t *h = json_loadb((const char *)in, len, 0, NULL);
            const char *alg = json_string_value(json_object_get(h, "alg"));
            if (!alg || strcmp(alg, "ES256") != 0)
                abort();
            json_decref(h);
        }
    } else {
        jwt_put_hs256(&t, FUZZ_SECRET);
        check(hs, t.p, t.len);
    }
    rc_buf_free(&t);
    return 0;
}
