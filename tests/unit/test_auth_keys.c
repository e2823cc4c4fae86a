/*
 * test_auth_keys.c - JWT verification with key sets: several PEM files (kid =
 * file name), JWKS documents, RS256 and ES256 together; key selection by kid
 * and the bounded tries without one, rotation, the keys a JWKS loader skips
 * (and logs), refusals at construction, the verifier's description, and its
 * reference counting. One-key verification is tested in test_auth.c.
 *
 * Keys are generated here and written as PEM files and JWKS documents to a
 * temporary directory, removed before any token is verified. Tokens are
 * signed with the helpers of jwt_helpers.h.
 */
#include <fcntl.h>
#include <jwt.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/slice.h"
#include "gateway/roomcast/auth.h"
#include "tests/unit/check.h"
#include "tests/unit/jwt_helpers.h"

static EVP_PKEY *rsa_key, *rsa_key2, *rsa_key3, *rsa_key4, *ec_key, *ec_key2,
    *ec_key3, *rsa1024, *ec384;
#define NMANY 20
static EVP_PKEY *many[NMANY];
static char *rsa_pub_pem;   /* rsa_key's public key PEM text */
static char rsa_pub_path[64];
static char keydir[256];

/* One-key verifiers, to compare with the key sets. */
enum vid { V_HS, V_HS_ISS_AUD, V_RS, V_COUNT };
static rc_auth_verifier *vs[V_COUNT];

/* Writes keydir/name; returns the path (static ring of buffers). */
static const char *put_file(const char *name, const char *text)
{
    static char paths[16][512];
    static int next;
    char *path = paths[next++ % 16];
    snprintf(path, 512, "%s/%s", keydir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        CHECK(fwrite(text, 1, strlen(text), f) == strlen(text));
        fclose(f);
    }
    return path;
}

static const char *put_pem(const char *name, EVP_PKEY *k)
{
    char *pem = pem_of(k, 0);
    const char *path = put_file(name, pem);
    free(pem);
    return path;
}

static void b64url_bn(rc_buf *out, const BIGNUM *bn, int pad)
{
    unsigned char buf[1024];
    int n = pad ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
    CHECK(n > 0);
    b64url(out, buf, (size_t)(n > 0 ? n : 0));
}

/*
 * Appends the JWK of k's public half: kid (NULL = none) and extra members
 * (",\"use\":\"sig\"" style, may be ""). RSA: n, e; EC: crv, x, y.
 */
static void jwk_of(rc_buf *out, EVP_PKEY *k, const char *kid,
                   const char *extra)
{
    BIGNUM *a = NULL, *b = NULL;
    rc_buf_puts(out, "{");
    if (kid)
        rc_buf_printf(out, "\"kid\":\"%s\",", kid);
    if (EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA) {
        CHECK(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &a) == 1);
        CHECK(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &b) == 1);
        rc_buf_puts(out, "\"kty\":\"RSA\",\"n\":\"");
        b64url_bn(out, a, 0);
        rc_buf_puts(out, "\",\"e\":\"");
        b64url_bn(out, b, 0);
    } else {
        char group[64] = "";
        EVP_PKEY_get_group_name(k, group, sizeof group, NULL);
        int p256 = strcmp(group, "prime256v1") == 0;
        CHECK(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &a) == 1);
        CHECK(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &b) == 1);
        rc_buf_printf(out, "\"kty\":\"EC\",\"crv\":\"%s\",\"x\":\"",
                      p256 ? "P-256" : "P-384");
        b64url_bn(out, a, p256 ? 32 : 48);
        rc_buf_puts(out, "\",\"y\":\"");
        b64url_bn(out, b, p256 ? 32 : 48);
    }
    rc_buf_printf(out, "\"%s}", extra);
    BN_free(a);
    BN_free(b);
}

static rc_auth_verifier *mkv(const char *alg, const char *pem_files,
                          const char *jwks)
{
    char err[512] = "";
    rc_auth_config c = {.alg = alg, .public_key_file = pem_files,
                     .jwks_file = jwks};
    rc_auth_verifier *v = rc_auth_verifier_new(&c, err, sizeof err);
    if (!v)
        fprintf(stderr, "verifier %s [%s] [%s]: %s\n", alg,
                pem_files ? pem_files : "", jwks ? jwks : "", err);
    CHECK(v != NULL);
    return v;
}

enum mid { M_RS3, M_MIXED, M_JWKS, M_JWKS_RS, M_BOTH, M_OLD, M_NEW, M_MANY,
           M_EXT, M_LZ, M_CERT, M_NO_EC, M_COUNT };

/* A self-signed certificate for k, as identity providers publish them. */
static char *cert_pem_of(EVP_PKEY *k)
{
    X509 *x = X509_new();
    CHECK(x != NULL);
    if (!x)
        return strdup("");
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *)"idp", -1, -1, 0);
    X509_set_issuer_name(x, name);
    CHECK(X509_sign(x, k, EVP_sha256()) > 0);
    BIO *b = BIO_new(BIO_s_mem());
    CHECK(PEM_write_bio_X509(b, x) == 1);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    char *s = strndup(p, (size_t)n);
    BIO_free(b);
    X509_free(x);
    return s;
}
static rc_auth_verifier *ms[M_COUNT];

static void build_multi(void)
{
    char paths[1024];
    const char *p10 = put_pem("2026-10.pem", rsa_key);
    put_pem("2026-11.pem", rsa_key2);
    put_pem("2026-12.pem", rsa_key3);
    put_pem("ec-1.pem", ec_key);
    put_pem("ec-2.key.pem", ec_key3);

    /* whitespace around the commas is ignored */
    snprintf(paths, sizeof paths, "%s/2026-10.pem, %s/2026-11.pem ,\t%s/"
             "2026-12.pem", keydir, keydir, keydir);
    ms[M_RS3] = mkv("RS256", paths, NULL);
    snprintf(paths, sizeof paths, "%s/2026-11.pem,%s/ec-1.pem", keydir,
             keydir);
    ms[M_MIXED] = mkv(" RS256 , ES256 ", paths, NULL);
    ms[M_OLD] = mkv("RS256", p10, NULL);
    snprintf(paths, sizeof paths, "%s/2026-10.pem,%s/2026-11.pem", keydir,
             keydir);
    ms[M_NEW] = mkv("RS256", paths, NULL);
    snprintf(paths, sizeof paths, "%s/ec-2.key.pem", keydir);
    ms[M_EXT] = mkv("ES256", paths, NULL);
    char *cert = cert_pem_of(ec_key2);
    CHECK(strstr(cert, "-----BEGIN CERTIFICATE-----") != NULL);
    ms[M_CERT] = mkv("ES256", put_file("idp-cert.pem", cert), NULL);
    free(cert);

    /* an identity provider's key set, with keys that must be skipped */
    rc_buf j = {0};
    rc_buf_puts(&j, "{\"keys\":[");
    jwk_of(&j, rsa_key3, "kc-rsa", ",\"alg\":\"RS256\",\"use\":\"sig\"");
    rc_buf_puts(&j, ",");
    jwk_of(&j, ec_key2, "kc-ec", "");
    rc_buf_puts(&j, ",");
    jwk_of(&j, rsa_key2, "kc-enc", ",\"use\":\"enc\"");
    rc_buf_puts(&j, ",");
    jwk_of(&j, rsa_key4, "kc-oaep", ",\"use\":\"enc\",\"alg\":\"RSA-OAEP\"");
    rc_buf_puts(&j, ",");
    jwk_of(&j, rsa_key, "kc-384", ",\"alg\":\"RS384\"");
    rc_buf_puts(&j, ",");
    jwk_of(&j, rsa_key, "kc-es-on-rsa", ",\"alg\":\"ES256\"");
    rc_buf_puts(&j, ",");
    jwk_of(&j, rsa_key, "kc-ops", ",\"key_ops\":[\"encrypt\"]");
    rc_buf_puts(&j, ",");
    jwk_of(&j, ec384, "kc-p384", "");
    rc_buf_puts(&j, ",{\"kty\":\"oct\",\"kid\":\"kc-oct\",\"k\":\"c2VjcmV0\"}"
                ",{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"kc-ed\","
                "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"},");
    jwk_of(&j, ec_key3, NULL, ",\"key_ops\":[\"verify\"],\"x5t\":\"abc\"");
    rc_buf_puts(&j, "]}");
    const char *jwks = put_file("jwks.json", j.p);

    /* the skipped keys are logged by kid, without key material */
    char logpath[512];
    snprintf(logpath, sizeof logpath, "%s/log.txt", keydir);
    fflush(stderr);
    int saved = dup(2), fd = open(logpath, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    CHECK(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    ms[M_JWKS] = mkv("RS256,ES256", NULL, jwks);
    /* ES256 accepted but no EC key; a secret that has no use here */
    char err[256] = "";
    rc_auth_config no_ec = {.alg = "RS256,ES256", .secret = "leftover-secret",
                         .public_key_file = p10};
    ms[M_NO_EC] = rc_auth_verifier_new(&no_ec, err, sizeof err);
    CHECK(ms[M_NO_EC] != NULL);
    fflush(stderr);
    dup2(saved, 2);
    close(fd);
    close(saved);
    FILE *lf = fopen(logpath, "rb");
    char log[8192] = "";
    size_t ln = lf ? fread(log, 1, sizeof log - 1, lf) : 0;
    log[ln] = '\0';
    if (lf)
        fclose(lf);
    static const char *const skipped[] = {
        "kc-enc", "kc-oaep", "kc-384", "kc-es-on-rsa", "kc-ops", "kc-p384",
        "kc-oct", "kc-ed"};
    for (size_t i = 0; i < sizeof skipped / sizeof *skipped; i++) {
        char want[64];
        snprintf(want, sizeof want, "key \\\"%s\\\" skipped", skipped[i]);
        if (!strstr(log, want))
            fprintf(stderr, "  no warning for %s in:\n%s\n", skipped[i], log);
        CHECK(strstr(log, want) != NULL);
    }
    CHECK(strstr(log, "\"level\":\"warn\"") != NULL);
    CHECK(strstr(log, "jwt-alg lists ES256 but no ES256 key") != NULL);
    CHECK(strstr(log, "jwt-secret is ignored") != NULL);
    CHECK(strstr(log, "\"mod\":\"auth\"") != NULL);
    CHECK(strstr(log, "leftover-secret") == NULL);
    CHECK(strstr(log, "kc-rsa") == NULL);
    CHECK(strstr(log, "11qYAYKxCrfVS") == NULL);
    CHECK(strstr(log, "c2VjcmV0") == NULL);
    /* the other skips have been seen: keep the test output quiet */
    rc_log_min_level = RC_LOG_ERROR;

    ms[M_JWKS_RS] = mkv("RS256", NULL, jwks);

    /* PEM and JWKS together */
    rc_buf_reset(&j);
    rc_buf_puts(&j, "{\"keys\":[");
    jwk_of(&j, rsa_key2, "kc-2", "");
    rc_buf_puts(&j, "]}");
    ms[M_BOTH] = mkv("RS256", p10, put_file("jwks2.json", j.p));

    /* more keys without a usable kid than are tried */
    rc_buf_reset(&j);
    rc_buf_puts(&j, "{\"keys\":[");
    for (int i = 0; i < NMANY; i++) {
        char kid[16];
        snprintf(kid, sizeof kid, "m%d", i);
        if (i)
            rc_buf_puts(&j, ",");
        jwk_of(&j, many[i], kid, "");
    }
    rc_buf_puts(&j, "]}");
    ms[M_MANY] = mkv("ES256", NULL, put_file("many.json", j.p));

    /* n with a leading zero octet, as some producers write it */
    BIGNUM *n = NULL, *e = NULL;
    unsigned char nb[257];
    CHECK(EVP_PKEY_get_bn_param(rsa_key4, OSSL_PKEY_PARAM_RSA_N, &n) == 1);
    CHECK(EVP_PKEY_get_bn_param(rsa_key4, OSSL_PKEY_PARAM_RSA_E, &e) == 1);
    nb[0] = 0;
    CHECK(BN_bn2binpad(n, nb + 1, 256) == 256);
    rc_buf_reset(&j);
    rc_buf_puts(&j, "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"lz\",\"n\":\"");
    b64url(&j, nb, sizeof nb);
    rc_buf_puts(&j, "\",\"e\":\"");
    b64url_bn(&j, e, 0);
    rc_buf_puts(&j, "\"}]}");
    ms[M_LZ] = mkv("RS256", NULL, put_file("lz.json", j.p));
    BN_free(n);
    BN_free(e);
    rc_buf_free(&j);
}

typedef struct mcase {
    const char *what;
    enum mid v;
    const char *header;
    EVP_PKEY **signer;
    int code;
    const char *reason; /* NULL = not checked */
} mcase;

#define RSK(kid) "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"" kid "\"}"
#define ESK(kid) "{\"alg\":\"ES256\",\"kid\":\"" kid "\"}"

static const mcase mcases[] = {
    /* three RSA PEM files, kid = file name */
    {"kid selects 2026-11", M_RS3, RSK("2026-11"), &rsa_key2, RC_AUTH_OK, NULL},
    {"kid selects 2026-10", M_RS3, RSK("2026-10"), &rsa_key, RC_AUTH_OK, NULL},
    {"kid selects 2026-12", M_RS3, RSK("2026-12"), &rsa_key3, RC_AUTH_OK, NULL},
    {"kid of another key", M_RS3, RSK("2026-10"), &rsa_key2,
     RC_AUTH_TOKEN_INVALID, "bad signature"},
    {"unknown kid", M_RS3, RSK("2026-09"), &rsa_key, RC_AUTH_TOKEN_INVALID,
     "unknown kid"},
    {"kid with the extension", M_RS3, RSK("2026-11.pem"), &rsa_key2,
     RC_AUTH_TOKEN_INVALID, "unknown kid"},
    {"kid, other case", M_RS3, RSK("2026-1O"), &rsa_key2, RC_AUTH_TOKEN_INVALID,
     "unknown kid"},
    {"no kid: tries the keys (first)", M_RS3, RS, &rsa_key, RC_AUTH_OK, NULL},
    {"no kid: tries the keys (last)", M_RS3, RS, &rsa_key3, RC_AUTH_OK, NULL},
    {"no kid: key not configured", M_RS3, RS, &rsa_key4, RC_AUTH_TOKEN_INVALID,
     "bad signature"},
    {"kid not a string", M_RS3, "{\"alg\":\"RS256\",\"kid\":7}", &rsa_key,
     RC_AUTH_TOKEN_INVALID, "malformed kid"},
    {"kid null", M_RS3, "{\"alg\":\"RS256\",\"kid\":null}", &rsa_key,
     RC_AUTH_TOKEN_INVALID, "malformed kid"},
    {"kid with NUL", M_RS3, "{\"alg\":\"RS256\",\"kid\":\"2026-10\\u0000\"}",
     &rsa_key, RC_AUTH_TOKEN_INVALID, "malformed header"},
    {"alg with NUL", M_RS3, "{\"alg\":\"RS256\\u0000\",\"kid\":\"2026-10\"}",
     &rsa_key, RC_AUTH_TOKEN_INVALID, "malformed header"},
    {"ES256 when only RS256 configured", M_RS3, ESK("ec-1"), &ec_key,
     RC_AUTH_TOKEN_INVALID, "alg mismatch"},
    {"ES256 without kid, only RS256", M_RS3, ES, &ec_key, RC_AUTH_TOKEN_INVALID,
     "alg mismatch"},

    {"ES256 accepted, no EC key: no kid", M_NO_EC, ES, &ec_key,
     RC_AUTH_TOKEN_INVALID, "no key for alg"},
    {"ES256 accepted, no EC key: kid", M_NO_EC, ESK("ec-1"), &ec_key,
     RC_AUTH_TOKEN_INVALID, "unknown kid"},
    {"ES256 accepted, no EC key: RS256 works", M_NO_EC, RSK("2026-10"),
     &rsa_key, RC_AUTH_OK, NULL},

    /* RS256 and ES256 together */
    {"mixed: RS256 by kid", M_MIXED, RSK("2026-11"), &rsa_key2, RC_AUTH_OK,
     NULL},
    {"mixed: ES256 by kid", M_MIXED, ESK("ec-1"), &ec_key, RC_AUTH_OK, NULL},
    {"mixed: RS256 without kid", M_MIXED, RS, &rsa_key2, RC_AUTH_OK, NULL},
    {"mixed: ES256 without kid", M_MIXED, ES, &ec_key, RC_AUTH_OK, NULL},
    {"mixed: RS256 header, kid of the EC key", M_MIXED, RSK("ec-1"),
     &rsa_key2, RC_AUTH_TOKEN_INVALID, "kid alg mismatch"},
    {"mixed: ES256 header, kid of the RSA key", M_MIXED, ESK("2026-11"),
     &ec_key, RC_AUTH_TOKEN_INVALID, "kid alg mismatch"},
    {"mixed: ES256 signed by another EC key", M_MIXED, ESK("ec-1"), &ec_key2,
     RC_AUTH_TOKEN_INVALID, "bad signature"},
    {"mixed: HS256 refused", M_MIXED, HS, &rsa_key2, RC_AUTH_TOKEN_INVALID,
     "alg mismatch"},
    {"kid of a file with two dots", M_EXT, ESK("ec-2.key"), &ec_key3, RC_AUTH_OK,
     NULL},
    {"key from a certificate", M_CERT, ESK("idp-cert"), &ec_key2, RC_AUTH_OK,
     NULL},
    {"key from a certificate, other key", M_CERT, ESK("idp-cert"), &ec_key,
     RC_AUTH_TOKEN_INVALID, "bad signature"},

    /* JWKS */
    {"jwks: RSA key by kid", M_JWKS, RSK("kc-rsa"), &rsa_key3, RC_AUTH_OK, NULL},
    {"jwks: EC key by kid", M_JWKS, ESK("kc-ec"), &ec_key2, RC_AUTH_OK, NULL},
    {"jwks: EC key without kid", M_JWKS, ES, &ec_key3, RC_AUTH_OK, NULL},
    {"jwks: RSA without kid", M_JWKS, RS, &rsa_key3, RC_AUTH_OK, NULL},
    {"jwks: kid of a use=enc key", M_JWKS, RSK("kc-enc"), &rsa_key2,
     RC_AUTH_TOKEN_INVALID, "unknown kid"},
    {"jwks: use=enc key without kid", M_JWKS, RS, &rsa_key2,
     RC_AUTH_TOKEN_INVALID, "bad signature"},
    {"jwks: kid of an RS384 key", M_JWKS, RSK("kc-384"), &rsa_key,
     RC_AUTH_TOKEN_INVALID, "unknown kid"},
    {"jwks: kid of an alg/kty mismatch", M_JWKS, RSK("kc-es-on-rsa"),
     &rsa_key, RC_AUTH_TOKEN_INVALID, "unknown kid"},
    {"jwks: kid of key_ops without verify", M_JWKS, RSK("kc-ops"), &rsa_key,
     RC_AUTH_TOKEN_INVALID, "unknown kid"},
    {"jwks: kid of a P-384 key", M_JWKS, ESK("kc-p384"), &ec384,
     RC_AUTH_TOKEN_INVALID, "unknown kid"},
    {"jwks: kid of an oct key", M_JWKS, RSK("kc-oct"), &rsa_key,
     RC_AUTH_TOKEN_INVALID, "unknown kid"},
    {"jwks: no-kid key is not found by kid", M_JWKS, ESK("kc-ec"), &ec_key3,
     RC_AUTH_TOKEN_INVALID, "bad signature"},
    {"jwks RS256 only: EC key skipped", M_JWKS_RS, ESK("kc-ec"), &ec_key2,
     RC_AUTH_TOKEN_INVALID, "alg mismatch"},
    {"jwks RS256 only: RSA key", M_JWKS_RS, RSK("kc-rsa"), &rsa_key3, RC_AUTH_OK,
     NULL},
    {"jwks: n with a leading zero octet", M_LZ, RSK("lz"), &rsa_key4, RC_AUTH_OK,
     NULL},

    /* PEM and JWKS together */
    {"pem+jwks: PEM kid", M_BOTH, RSK("2026-10"), &rsa_key, RC_AUTH_OK, NULL},
    {"pem+jwks: JWKS kid", M_BOTH, RSK("kc-2"), &rsa_key2, RC_AUTH_OK, NULL},
    {"pem+jwks: no kid, JWKS key", M_BOTH, RS, &rsa_key2, RC_AUTH_OK, NULL},

    /* rotation: A has {old}, B has {old, new} */
    {"rotation: new key by kid on A", M_OLD, RSK("2026-11"), &rsa_key2,
     RC_AUTH_TOKEN_INVALID, "unknown kid"},
    {"rotation: new key without kid on A", M_OLD, RS, &rsa_key2,
     RC_AUTH_TOKEN_INVALID, "bad signature"},
    {"rotation: old key on A", M_OLD, RSK("2026-10"), &rsa_key, RC_AUTH_OK,
     NULL},
    {"rotation: new key by kid on B", M_NEW, RSK("2026-11"), &rsa_key2,
     RC_AUTH_OK, NULL},
    {"rotation: new key without kid on B", M_NEW, RS, &rsa_key2, RC_AUTH_OK,
     NULL},
    {"rotation: old key on B", M_NEW, RSK("2026-10"), &rsa_key, RC_AUTH_OK,
     NULL},

    /* bounded tries without kid */
    {"many: no kid, 1st key", M_MANY, ES, &many[0], RC_AUTH_OK, NULL},
    {"many: no kid, 16th key", M_MANY, ES, &many[15], RC_AUTH_OK, NULL},
    {"many: no kid, 17th key is not tried", M_MANY, ES, &many[16],
     RC_AUTH_TOKEN_INVALID, "bad signature"},
    {"many: no kid, 20th key is not tried", M_MANY, ES, &many[19],
     RC_AUTH_TOKEN_INVALID, "bad signature"},
    {"many: 20th key by kid", M_MANY, ESK("m19"), &many[19], RC_AUTH_OK, NULL},
    {"many: 17th key by kid", M_MANY, ESK("m16"), &many[16], RC_AUTH_OK, NULL},
};

static void test_multi_table(void)
{
    for (size_t i = 0; i < sizeof mcases / sizeof *mcases; i++) {
        const mcase *c = &mcases[i];
        char *tok = sign_token(c->header,
                               "{\"sub\":\"mk\",\"exp\":1700003600}",
                               *c->signer);
        rc_auth_identity *id = NULL;
        const char *reason = NULL;
        int code = rc_auth_verify(ms[c->v], tok, strlen(tok), NOW, &id, &reason);
        if (code != c->code || (c->reason && reason &&
                                strcmp(reason, c->reason)))
            fprintf(stderr, "  case \"%s\": %s (%s)\n", c->what,
                    rc_auth_code_name(code), reason ? reason : "-");
        CHECK_INT(code, c->code);
        if (c->reason)
            CHECK_STR(reason, c->reason);
        if (c->code == RC_AUTH_OK) {
            CHECK(id != NULL);
            if (id) {
                CHECK_STR(id->sub, "mk");
                CHECK_INT(id->exp, 1700003600);
            }
        } else {
            CHECK(id == NULL);
        }
        rc_auth_identity_free(id);
        free(tok);
    }

    /* claims are still checked behind a kid-selected key */
    char *tok = sign_token(RSK("2026-11"), "{\"sub\":\"mk\",\"exp\":1}",
                           rsa_key2);
    CHECK_INT(rc_auth_verify(ms[M_RS3], tok, strlen(tok), NOW, NULL, NULL),
              RC_AUTH_TOKEN_EXPIRED);
    free(tok);
    tok = sign_token(RSK("2026-11"), "{\"exp\":1700003600}", rsa_key2);
    CHECK_INT(rc_auth_verify(ms[M_RS3], tok, strlen(tok), NOW, NULL, NULL),
              RC_AUTH_TOKEN_INVALID);
    free(tok);

    /* HS/RS confusion with a kid: HMAC keyed with the PEM text of 2026-10 */
    tok = hs256_token("{\"alg\":\"HS256\",\"kid\":\"2026-10\"}", GOOD,
                      rsa_pub_pem);
    const char *reason = NULL;
    CHECK_INT(rc_auth_verify(ms[M_RS3], tok, strlen(tok), NOW, NULL, &reason),
              RC_AUTH_TOKEN_INVALID);
    CHECK_STR(reason, "alg mismatch");
    free(tok);

    /* HS256 ignores kid */
    tok = hs256_token("{\"alg\":\"HS256\",\"kid\":\"whatever\"}", GOOD,
                      SECRET);
    CHECK_INT(rc_auth_verify(vs[V_HS], tok, strlen(tok), NOW, NULL, NULL),
              RC_AUTH_OK);
    free(tok);
}

/* Tokens from libjwt with a kid header verify against the multi-key sets. */
static void test_libjwt_kid(void)
{
    static const struct {
        jwt_alg_t alg;
        EVP_PKEY **key;
        const char *kid;
        enum mid v;
    } t[] = {
        {JWT_ALG_RS256, &rsa_key2, "2026-11", M_MIXED},
        {JWT_ALG_ES256, &ec_key, "ec-1", M_MIXED},
        {JWT_ALG_ES256, &ec_key2, "kc-ec", M_JWKS},
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        char *priv = pem_of(*t[i].key, 1);
        jwt_t *jwt = NULL;
        CHECK_INT(jwt_new(&jwt), 0);
        jwt_add_grant(jwt, "sub", "lib-kid");
        CHECK_INT(jwt_add_header(jwt, "kid", t[i].kid), 0);
        CHECK_INT(jwt_set_alg(jwt, t[i].alg, (unsigned char *)priv,
                              (int)strlen(priv)), 0);
        char *tok = jwt_encode_str(jwt);
        CHECK(tok != NULL);
        if (tok) {
            const char *reason = NULL;
            int code = rc_auth_verify(ms[t[i].v], tok, strlen(tok), NOW, NULL,
                                   &reason);
            if (code)
                fprintf(stderr, "  libjwt kid %s: %s\n", t[i].kid, reason);
            CHECK_INT(code, RC_AUTH_OK);
        }
        free(tok);
        jwt_free(jwt);
        free(priv);
    }
}

static void test_describe(void)
{
    CHECK_STR(rc_auth_verifier_describe(vs[V_HS]), "HS256 with a shared secret");
    CHECK_STR(rc_auth_verifier_describe(vs[V_HS_ISS_AUD]),
              "HS256 with a shared secret; issuer https://id.example; "
              "audience roomcast");
    CHECK(strstr(rc_auth_verifier_describe(vs[V_HS]), SECRET) == NULL);
    CHECK_INT(rc_auth_verifier_key_count(vs[V_HS]), 1);
    CHECK(strncmp(rc_auth_verifier_describe(vs[V_RS]), "RS256 with 1 key: "
                  "rc_auth_", 26) == 0);
    CHECK_INT(rc_auth_verifier_key_count(vs[V_RS]), 1);
    CHECK_STR(rc_auth_verifier_describe(ms[M_RS3]),
              "RS256 with 3 keys: 2026-10, 2026-11, 2026-12");
    CHECK_INT(rc_auth_verifier_key_count(ms[M_RS3]), 3);
    CHECK_STR(rc_auth_verifier_describe(ms[M_MIXED]),
              "RS256,ES256 with 2 keys: 2026-11, ec-1");
    CHECK_STR(rc_auth_verifier_describe(ms[M_JWKS]),
              "RS256,ES256 with 3 keys: kc-rsa, kc-ec, (no kid)");
    CHECK_INT(rc_auth_verifier_key_count(ms[M_JWKS]), 3);
    CHECK_STR(rc_auth_verifier_describe(ms[M_JWKS_RS]),
              "RS256 with 1 key: kc-rsa");
    CHECK_INT(rc_auth_verifier_key_count(ms[M_JWKS_RS]), 1);
    CHECK_STR(rc_auth_verifier_describe(ms[M_BOTH]),
              "RS256 with 2 keys: 2026-10, kc-2");
    CHECK_STR(rc_auth_verifier_describe(ms[M_EXT]), "ES256 with 1 key: ec-2.key");
    CHECK_INT(rc_auth_verifier_key_count(ms[M_MANY]), NMANY);
    CHECK_STR(rc_auth_verifier_describe(ms[M_NO_EC]),
              "RS256,ES256 with 1 key: 2026-10");
    CHECK(strstr(rc_auth_verifier_describe(ms[M_NO_EC]), "leftover") == NULL);
    CHECK_INT(rc_auth_verifier_key_count(NULL), 0);
}

/* A verifier the test can build with one line of JWKS. */
static void expect_jwks_err(const char *alg, const char *pem, const char *json,
                            const char *err_has)
{
    char err[512] = "";
    const char *path = json ? put_file("bad.json", json) : NULL;
    rc_auth_config c = {.alg = alg, .public_key_file = pem,
                     .jwks_file = path ? path : "/nonexistent/jwks.json"};
    rc_auth_verifier *v = rc_auth_verifier_new(&c, err, sizeof err);
    CHECK(v == NULL);
    if (!strstr(err, err_has))
        fprintf(stderr, "  jwks %.60s: errstr \"%s\", expected \"%s\"\n",
                json ? json : "(missing)", err, err_has);
    CHECK(strstr(err, err_has) != NULL);
    rc_auth_verifier_unref(v);
}

static void test_multi_construction(void)
{
    char p10[512], p11[512], pec[512], p1024[512], p384[512], dup_dir[512],
        list_small[1100], list_empty[1100], list_missing[1100];
    snprintf(p10, sizeof p10, "%s/2026-10.pem", keydir);
    snprintf(p11, sizeof p11, "%s/2026-11.pem", keydir);
    snprintf(pec, sizeof pec, "%s/ec-1.pem", keydir);
    snprintf(p1024, sizeof p1024, "%s", put_pem("small.pem", rsa1024));
    snprintf(p384, sizeof p384, "%s", put_pem("p384.pem", ec384));
    snprintf(dup_dir, sizeof dup_dir, "%s/sub", keydir);
    CHECK(mkdir(dup_dir, 0700) == 0);
    put_pem("sub/2026-10.pem", rsa_key2);

    struct {
        const char *alg, *secret, *key;
        const char *err_has;
    } bad[] = {
        {"HS256,RS256", SECRET, p10, "key-confusion"},
        {"RS256,HS256", SECRET, p10, "key-confusion"},
        {"ES256, HS256", NULL, pec, "key-confusion"},
        {"RS256,PS256", NULL, p10, "\"PS256\" not supported"},
        {"RS256,", NULL, p10, "not supported"},
        {"RS256,,ES256", NULL, p10, "not supported"},
        {"RS256 ES256", NULL, p10, "not supported"},
        {"RS256", NULL, pec, "not an RSA public key"},
        {"RS256", NULL, pec, "add ES256 to jwt-alg"},
        {"ES256", NULL, p10, "not a P-256"},
        {"RS256,ES256", NULL, p384, "not an RSA or P-256 EC public key"},
        {"HS256", SECRET, p10, "jwt-alg is HS256"},
        {"RS256", NULL, "", "jwt-public-key or jwt-jwks"},
        {"RS256,ES256", NULL, NULL, "jwt-public-key or jwt-jwks"},
        {"RS256", NULL, list_small, "2048"},
        {"RS256", NULL, list_empty, "empty entry"},
        {"RS256", NULL, list_missing, "cannot open"},
    };
    snprintf(list_small, sizeof list_small, "%s,%s", p10, p1024);
    snprintf(list_empty, sizeof list_empty, "%s, ,%s", p10, p11);
    snprintf(list_missing, sizeof list_missing, "%s,/nonexistent/key.pem",
             p10);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char err[512] = "";
        rc_auth_config c = {.alg = bad[i].alg, .secret = bad[i].secret,
                         .public_key_file = bad[i].key};
        rc_auth_verifier *v = rc_auth_verifier_new(&c, err, sizeof err);
        CHECK(v == NULL);
        if (!strstr(err, bad[i].err_has))
            fprintf(stderr, "  multi case %zu: errstr \"%s\"\n", i, err);
        CHECK(strstr(err, bad[i].err_has) != NULL);
        rc_auth_verifier_unref(v);
    }
    /* the same kid twice: two files with one base name */
    char two[1100];
    snprintf(two, sizeof two, "%s,%s/2026-10.pem", p10, dup_dir);
    expect_jwks_err("RS256", two, "{\"keys\":[]}", "already used");
    /* a trailing comma is an empty entry too */
    snprintf(two, sizeof two, "%s,", p10);
    expect_jwks_err("RS256", two, "{\"keys\":[]}", "empty entry");
    /* HS256 with a JWKS */
    char err[256] = "";
    rc_auth_config hc = {.alg = "HS256", .secret = SECRET,
                      .jwks_file = put_file("hs.json", "{\"keys\":[]}")};
    CHECK(rc_auth_verifier_new(&hc, err, sizeof err) == NULL);
    CHECK(strstr(err, "jwt-alg is HS256") != NULL);

    /* malformed key sets */
    rc_buf ok = {0}, j = {0};
    jwk_of(&ok, rsa_key, "good", "");
    expect_jwks_err("RS256", NULL, NULL, "cannot open JWKS file");
    expect_jwks_err("RS256", NULL, "", "cannot read JWKS file");
    expect_jwks_err("RS256", NULL, "{\"keys\":[", "is not JSON");
    expect_jwks_err("RS256", NULL, "not json at all", "is not JSON");
    expect_jwks_err("RS256", NULL, "{\"keys\":[],\"keys\":[]}", "is not JSON");
    expect_jwks_err("RS256", NULL, "[]", "no \"keys\" array");
    expect_jwks_err("RS256", NULL, "{}", "no \"keys\" array");
    expect_jwks_err("RS256", NULL, "{\"keys\":{}}", "no \"keys\" array");
    expect_jwks_err("RS256", NULL, "{\"keys\":[]}", "no usable key");
    expect_jwks_err("RS256", NULL, "{\"keys\":[\"abc\"]}", "not an object");
    expect_jwks_err("ES256", NULL, "{\"keys\":[{\"kty\":\"oct\",\"k\":\"AA\"}]}",
                    "no usable key");

    static const struct {
        const char *alg, *json_fmt, *err_has;
    } jb[] = {
        /* %s is a valid RSA JWK ("kid":"good"), for keys after it */
        {"RS256", "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k\",\"e\":\"AQAB\"}]}",
         "\"n\" missing"},
        {"RS256", "{\"keys\":[{\"kty\":\"RSA\",\"n\":7,\"e\":\"AQAB\"}]}",
         "\"n\" missing or not a string"},
        {"RS256", "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\"}]}",
         "\"e\" missing"},
        {"RS256", "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"ab+/\",\"e\":\"AQAB\"}]}",
         "\"n\" is not base64url"},
        {"RS256", "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQ==\"}]}",
         "\"e\" is not base64url"},
        {"RS256", "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"\",\"e\":\"AQAB\"}]}",
         "\"n\" is empty"},
        {"RS256", "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}",
         "2048"},
        {"RS256", "{\"keys\":[%s,{\"kty\":\"RSA\",\"kid\":\"x\",\"n\":\"A\","
                  "\"e\":\"AQAB\"}]}",
         "\"n\" is not base64url"},
        {"RS256", "{\"keys\":[%s,%s]}", "already used"},
        {"RS256", "{\"keys\":[{\"kid\":5,\"kty\":\"RSA\"}]}", "kid must be"},
        {"RS256", "{\"keys\":[{\"kid\":\"\",\"kty\":\"RSA\"}]}", "kid must be"},
        {"ES256", "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\","
                  "\"y\":\"AAAA\"}]}",
         "32 bytes"},
        {"ES256", "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"y\":\"AAAA\"}]}",
         "\"x\" missing"},
        {"ES256", "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\","
                  "\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\","
                  "\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\"}]}",
         "not a point on P-256"},
        {"ES256", "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\","
                  "\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!\","
                  "\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\"}]}",
         "\"x\" is not base64url"},
    };
    for (size_t i = 0; i < sizeof jb / sizeof *jb; i++) {
        rc_buf_reset(&j);
        rc_buf_printf(&j, jb[i].json_fmt, ok.p, ok.p);
        expect_jwks_err(jb[i].alg, NULL, j.p, jb[i].err_has);
    }

    /* RSA exponents 1 and 2 are refused */
    static const char *const bad_e[] = {"AQ", "Ag"};
    for (size_t i = 0; i < 2; i++) {
        BIGNUM *n = NULL;
        CHECK(EVP_PKEY_get_bn_param(rsa_key, OSSL_PKEY_PARAM_RSA_N, &n) == 1);
        rc_buf_reset(&j);
        rc_buf_puts(&j, "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"");
        b64url_bn(&j, n, 0);
        rc_buf_printf(&j, "\",\"e\":\"%s\"}]}", bad_e[i]);
        expect_jwks_err("RS256", NULL, j.p, "exponent");
        BN_free(n);
    }
    /* a 1024-bit RSA key in a JWKS */
    rc_buf_reset(&j);
    rc_buf_puts(&j, "{\"keys\":[");
    jwk_of(&j, rsa1024, "small", "");
    rc_buf_puts(&j, "]}");
    expect_jwks_err("RS256", NULL, j.p, "under 2048 bits");
    /* a JWKS kid equal to a PEM file's kid */
    rc_buf_reset(&j);
    rc_buf_puts(&j, "{\"keys\":[");
    jwk_of(&j, rsa_key2, "2026-10", "");
    rc_buf_puts(&j, "]}");
    expect_jwks_err("RS256", p10, j.p, "\"2026-10\" is already used");
    /* only skipped keys */
    rc_buf_reset(&j);
    rc_buf_puts(&j, "{\"keys\":[");
    jwk_of(&j, rsa_key2, "e1", ",\"use\":\"enc\"");
    rc_buf_puts(&j, ",");
    jwk_of(&j, ec_key, "e2", "");
    rc_buf_puts(&j, "]}");
    expect_jwks_err("RS256", NULL, j.p, "no usable key");
    /* more than 64 keys */
    rc_buf_reset(&j);
    rc_buf_puts(&j, "{\"keys\":[");
    for (int i = 0; i < 65; i++) {
        char kid[16];
        snprintf(kid, sizeof kid, "k%d", i);
        if (i)
            rc_buf_puts(&j, ",");
        jwk_of(&j, ec_key, kid, "");
    }
    rc_buf_puts(&j, "]}");
    expect_jwks_err("ES256", NULL, j.p, "more than 64 keys");
    /* ...64 are fine */
    char *cut = strstr(j.p, ",{\"kid\":\"k64\"");
    CHECK(cut != NULL);
    if (cut) {
        strcpy(cut, "]}");
        rc_auth_verifier *v = mkv("ES256", NULL, put_file("64.json", j.p));
        CHECK_INT(rc_auth_verifier_key_count(v), 64);
        rc_auth_verifier_unref(v);
    }
    rc_buf_free(&ok);
    rc_buf_free(&j);
}

/* The verifier needs its files only while it is built. */
static void remove_keydir(void)
{
    static const char *const names[] = {
        "2026-10.pem", "2026-11.pem", "2026-12.pem", "ec-1.pem",
        "ec-2.key.pem", "jwks.json", "jwks2.json", "many.json", "lz.json",
        "log.txt", "small.pem", "p384.pem", "sub/2026-10.pem", "bad.json",
        "hs.json", "64.json", "idp-cert.pem"};
    char path[512];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(path, sizeof path, "%s/%s", keydir, names[i]);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/sub", keydir);
    CHECK(rmdir(path) == 0);
    CHECK(rmdir(keydir) == 0);
}

/* ---- reference counting ---- */

static atomic_int ref_failures;
static const char *ref_token;

static void *ref_worker(void *arg)
{
    rc_auth_verifier *shared = arg;
    for (int i = 0; i < 300; i++) {
        rc_auth_verifier *mine = rc_auth_verifier_ref(shared);
        if (mine != shared || rc_auth_verify(mine, ref_token, strlen(ref_token),
                                          NOW, NULL, NULL) != RC_AUTH_OK)
            atomic_fetch_add(&ref_failures, 1);
        rc_auth_verifier_unref(mine);
    }
    return NULL;
}

static void test_refcount(void)
{
    rc_auth_verifier *v = mk("HS256", SECRET, NULL, NULL, NULL, 0);
    if (!v)
        return;
    char *tok = hs256_token(HS, GOOD, SECRET);
    CHECK(rc_auth_verifier_ref(v) == v);
    rc_auth_verifier_unref(v); /* one reference left: still usable */
    CHECK_INT(rc_auth_verify(v, tok, strlen(tok), NOW, NULL, NULL), RC_AUTH_OK);
    CHECK_STR(rc_auth_verifier_describe(v), "HS256 with a shared secret");

    /* concurrent users take and drop references around their calls */
    ref_token = tok;
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&th[i], NULL, ref_worker, v) == 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    CHECK_INT(atomic_load(&ref_failures), 0);
    rc_auth_verifier_unref(v); /* the last reference: freed (ASan: once) */
    CHECK(rc_auth_verifier_ref(NULL) == NULL);

    /* a reload swap: an in-flight user keeps the old verifier alive */
    rc_auth_verifier *current = mk("HS256", SECRET, NULL, NULL, NULL, 0);
    rc_auth_verifier *inflight = rc_auth_verifier_ref(current);
    rc_auth_verifier *next = mk("HS256", "rotated-secret-0123456789", NULL, NULL,
                             NULL, 0);
    rc_auth_verifier *old = current;
    current = next;
    rc_auth_verifier_unref(old);
    char *tok2 = rc_auth_sign_hs256("rotated-secret-0123456789", "u", NULL, NULL,
                                 0, 0);
    CHECK_INT(rc_auth_verify(inflight, tok, strlen(tok), NOW, NULL, NULL),
              RC_AUTH_OK);
    CHECK_INT(rc_auth_verify(inflight, tok2, strlen(tok2), NOW, NULL, NULL),
              RC_AUTH_TOKEN_INVALID);
    CHECK_INT(rc_auth_verify(current, tok2, strlen(tok2), NOW, NULL, NULL),
              RC_AUTH_OK);
    CHECK_INT(rc_auth_verify(current, tok, strlen(tok), NOW, NULL, NULL),
              RC_AUTH_TOKEN_INVALID);
    rc_auth_verifier_unref(inflight);
    rc_auth_verifier_unref(current);
    free(tok2);
    free(tok);
}

int main(void)
{
    rsa_key = keygen_rsa(2048);
    rsa_key2 = keygen_rsa(2048);
    rsa_key3 = keygen_rsa(2048);
    rsa_key4 = keygen_rsa(2048);
    ec_key = keygen_ec("P-256");
    ec_key2 = keygen_ec("P-256");
    ec_key3 = keygen_ec("P-256");
    rsa1024 = keygen_rsa(1024);
    ec384 = keygen_ec("P-384");
    int keys_ok = rsa_key && rsa_key2 && rsa_key3 && rsa_key4 && ec_key &&
                  ec_key2 && ec_key3 && rsa1024 && ec384;
    for (int i = 0; i < NMANY; i++)
        keys_ok &= (many[i] = keygen_ec("P-256")) != NULL;
    if (!keys_ok)
        return CHECK_DONE();

    rsa_pub_pem = pem_of(rsa_key, 0);
    write_file(rsa_pub_path, rsa_pub_pem);
    const char *tmp = getenv("TMPDIR");
    snprintf(keydir, sizeof keydir, "%s/rc_auth_keys_XXXXXX",
             tmp && tmp[0] ? tmp : "/tmp");
    CHECK(mkdtemp(keydir) != NULL);

    vs[V_HS] = mk("HS256", SECRET, NULL, NULL, NULL, 0);
    vs[V_HS_ISS_AUD] = mk("HS256", SECRET, NULL, "https://id.example",
                          "roomcast", 0);
    vs[V_RS] = mk("RS256", NULL, rsa_pub_path, NULL, NULL, 0);
    build_multi();
    int all = 1;
    for (int i = 0; i < V_COUNT; i++)
        all &= vs[i] != NULL;
    for (int i = 0; i < M_COUNT; i++)
        all &= ms[i] != NULL;

    test_multi_construction();

    /* From here on no key file exists: verification needs none. */
    unlink(rsa_pub_path);
    remove_keydir();

    if (all) {
        test_multi_table();
        test_libjwt_kid();
        test_describe();
    }
    test_refcount();

    for (int i = 0; i < V_COUNT; i++)
        rc_auth_verifier_unref(vs[i]);
    for (int i = 0; i < M_COUNT; i++)
        rc_auth_verifier_unref(ms[i]);
    free(rsa_pub_pem);
    EVP_PKEY *all_keys[] = {rsa_key, rsa_key2, rsa_key3, rsa_key4, ec_key,
                            ec_key2, ec_key3, rsa1024, ec384};
    for (size_t i = 0; i < sizeof all_keys / sizeof *all_keys; i++)
        EVP_PKEY_free(all_keys[i]);
    for (int i = 0; i < NMANY; i++)
        EVP_PKEY_free(many[i]);
    return CHECK_DONE();
}
