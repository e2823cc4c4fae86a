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
 * Accepted tokens must deserve it: the identity is what the claims say
 * (sub, name, programs, exp; for the HS256 verifier iss "iss" and aud
 * "aud"), exp and nbf hold at NOW with the 30 s leeway, and TOKEN_EXPIRED
 * only ever comes for claims whose exp has passed. A raw token accepted by
 * the HS256 verifier carries, in canonical base64url, the HMAC of its
 * signing input with the secret (no forgery, no second spelling); one
 * accepted by the several keys verifier says RS256 or ES256, so in mode 4
 * the header must say ES256. Keys are generated at start-up into a
 * temporary directory removed at exit. Tokens are assembled and signed with
 * the unit tests' helpers (tests/unit/jwt_helpers.h, which also gives NOW).
 */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/base64.h"
#include "core/log.h"
#include "core/slice.h"
#include "gateway/roomcast/auth.h"

/* The shared helpers' failed steps abort, like every broken invariant. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)
#include "tests/unit/jwt_helpers.h"

#define FUZZ_SECRET "fuzz-secret-0123456789"

static rc_auth_verifier *hs, *multi;
static EVP_PKEY *ec_key, *rsa_key;
static char dir[256], ec_path[300], rsa_path[300], jwks_path[300], input_path[300];

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

    rc_auth_config c = {
        .alg = "HS256", .secret = FUZZ_SECRET, .issuer = "iss", .audience = "aud", .leeway_s = 30};
    hs = rc_auth_verifier_new(&c, err, sizeof err);
    if (!hs)
        abort();

    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/fuzz_jwt_XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
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
    static const char jwks[] = "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"fz-g\","
                               "\"x\":\"axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY\","
                               "\"y\":\"T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU\"},"
                               "{\"kty\":\"oct\",\"k\":\"AA\"}]}";
    write_text(jwks_path, jwks, sizeof jwks - 1);

    char files[700];
    snprintf(files, sizeof files, "%s, %s", rsa_path, ec_path);
    rc_auth_config m = {
        .alg = "RS256,ES256", .public_key_file = files, .jwks_file = jwks_path, .leeway_s = 30};
    multi = rc_auth_verifier_new(&m, err, sizeof err);
    if (!multi || rc_auth_verifier_key_count(multi) != 3) {
        fprintf(stderr, "fuzz_jwt: %s\n", multi ? "key count" : err);
        abort();
    }
    return 0;
}

#define LEEWAY 30

/* The claims (or header) part i of a token, decoded as the verifier does;
 * NULL when it is not a JSON object. */
static json_t *token_part(const char *tok, size_t len, int i)
{
    const char *p = tok, *end = tok + len;
    for (; i > 0; i--) {
        p = memchr(p, '.', (size_t)(end - p));
        if (!p)
            return NULL;
        p++;
    }
    const char *e = memchr(p, '.', (size_t)(end - p));
    size_t n = e ? (size_t)(e - p) : (size_t)(end - p), got;
    unsigned char *buf = malloc(n + 1);
    json_t *j = NULL;
    if (rc_base64_decode(p, n, buf, n + 1, &got, RC_B64_URL) == 0)
        j = json_loadb((const char *)buf, got, JSON_REJECT_DUPLICATES, NULL);
    free(buf);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* A NumericDate claim as an integer (reals are only bounded here). */
static int int_claim(const json_t *claims, const char *name, int64_t *out)
{
    const json_t *j = json_object_get(claims, name);
    if (!json_is_integer(j))
        return 0;
    *out = (int64_t)json_integer_value(j);
    return 1;
}

/* What an accepted (or expired) token's claims must say of it. */
static void check_claims(const json_t *claims, int code, const rc_auth_identity *id, int hs256)
{
    if (!claims)
        abort(); /* accepted claims are a JSON object */
    int64_t exp = 0, nbf = 0;
    int has_exp = int_claim(claims, "exp", &exp);
    if (code == RC_AUTH_TOKEN_EXPIRED) {
        if (!json_object_get(claims, "exp") || (has_exp && exp > NOW - LEEWAY))
            abort();
        return;
    }
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    if (!sub || !sub[0] || strcmp(sub, id->sub) != 0)
        abort();
    if (hs256) {
        const char *iss = json_string_value(json_object_get(claims, "iss"));
        const json_t *aud = json_object_get(claims, "aud");
        int aud_ok = json_is_string(aud) && !strcmp(json_string_value(aud), "aud");
        for (size_t i = 0; json_is_array(aud) && i < json_array_size(aud); i++)
            aud_ok |= json_is_string(json_array_get(aud, i)) &&
                      !strcmp(json_string_value(json_array_get(aud, i)), "aud");
        if (!iss || strcmp(iss, "iss") != 0 || !aud_ok)
            abort();
    }
    const char *name = json_string_value(json_object_get(claims, "name"));
    if (name ? !id->name || strcmp(name, id->name) : id->name != NULL)
        abort();
    const json_t *progs = json_object_get(claims, "programs");
    size_t np = json_is_array(progs) ? json_array_size(progs) : 0;
    if (id->nprograms != np)
        abort();
    for (size_t i = 0; i < np; i++) {
        const json_t *pj = json_array_get(progs, i);
        char num[32];
        const char *want = json_string_value(pj);
        if (json_is_integer(pj)) {
            snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(pj));
            want = num;
        }
        if (!want || !want[0] || strcmp(want, id->programs[i]) != 0)
            abort();
    }
    if (!json_object_get(claims, "exp") ? id->exp != 0
                                        : has_exp && (id->exp != exp || exp <= NOW - LEEWAY))
        abort();
    if (int_claim(claims, "nbf", &nbf) && nbf > NOW + LEEWAY)
        abort();
}

/* Verifies tok with v (hs256: the HS256 verifier) and checks the outcome
 * against what the token carries. Returns the code. */
static int check(const rc_auth_verifier *v, const char *tok, size_t len, int hs256)
{
    rc_auth_identity *id = NULL;
    const char *reason = NULL;
    int code = rc_auth_verify(v, tok, len, NOW, &id, &reason);
    if (!reason || !reason[0])
        abort();
    if (code != RC_AUTH_OK) {
        if (id || (code != RC_AUTH_TOKEN_MISSING && code != RC_AUTH_TOKEN_INVALID &&
                   code != RC_AUTH_TOKEN_EXPIRED))
            abort();
        if ((code == RC_AUTH_TOKEN_MISSING) != (len == 0))
            abort();
    } else if (!id || !id->sub || !id->sub[0] || (id->nprograms && !id->programs)) {
        abort();
    }
    if (code == RC_AUTH_OK || code == RC_AUTH_TOKEN_EXPIRED) {
        json_t *claims = token_part(tok, len, 1);
        check_claims(claims, code, id, hs256);
        json_decref(claims);
        /* the header names an algorithm of the verifier */
        json_t *h = token_part(tok, len, 0);
        const char *alg = json_string_value(json_object_get(h, "alg"));
        if (!alg || (hs256 ? strcmp(alg, "HS256") != 0
                           : strcmp(alg, "RS256") != 0 && strcmp(alg, "ES256") != 0))
            abort();
        json_decref(h);
    }
    if (code == RC_AUTH_OK && hs256) {
        /* signed with the secret, in the one canonical spelling */
        const char *dot = memrchr(tok, '.', len);
        unsigned char mac[EVP_MAX_MD_SIZE], sig[64];
        unsigned int n = 0;
        size_t got = 0;
        HMAC(EVP_sha256(), FUZZ_SECRET, (int)strlen(FUZZ_SECRET), (const unsigned char *)tok,
             (size_t)(dot - tok), mac, &n);
        if (rc_base64_decode(dot + 1, len - (size_t)(dot - tok) - 1, sig, sizeof sig, &got,
                             RC_B64_URL) != 0 ||
            got != n || memcmp(sig, mac, n) != 0)
            abort();
    }
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
    if (!d || strncmp(d, "RS256,ES256 with ", 17) != 0 || rc_auth_verifier_key_count(v) == 0 ||
        rc_auth_verifier_key_count(v) > 64)
        abort();
    static const char tok[] = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1MSJ9."
                              "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                              "AAAAAAAAAAAAAAAAAA";
    /* an all-zero signature never verifies */
    if (check(v, tok, sizeof tok - 1, 0) == RC_AUTH_OK)
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
        check(hs, (const char *)in, len, 1);
        return 0;
    }
    if (mode == 3) {
        check(multi, (const char *)in, len, 0);
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
        if (check(multi, t.p, t.len, 0) == RC_AUTH_OK) {
            json_t *h = json_loadb((const char *)in, len, 0, NULL);
            const char *alg = json_string_value(json_object_get(h, "alg"));
            if (!alg || strcmp(alg, "ES256") != 0)
                abort();
            json_decref(h);
        }
    } else {
        jwt_put_hs256(&t, FUZZ_SECRET);
        check(hs, t.p, t.len, 1);
    }
    rc_buf_free(&t);
    return 0;
}
