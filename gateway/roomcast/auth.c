/*
 * auth.c - JWT verification (and HS256 signing for the demo and tests).
 *
 * Implementation notes. Construction does all the slow work once: the alg
 * list is parsed into a bit set, every PEM file and JWKS key is read,
 * checked (type, size, curve point) and re-serialised as PEM text, which is
 * the form libjwt 1.10 takes (it parses that PEM again on every
 * jwt_decode; nothing else is re-read per token). JWKS keys are turned into
 * EVP_PKEYs with EVP_PKEY_fromdata from their RFC 7518 parameters (n/e for
 * RSA, x/y for EC P-256), so no deprecated RSA_* or EC_KEY_* call is
 * needed. HS256 and the asymmetric algorithms are never mixed: with a
 * secret and public keys side by side, a token could pick which one it is
 * checked with.
 *
 * A token goes through four gates, cheapest first:
 *  1. shape: at most AUTH_MAX_TOKEN bytes, three non-empty base64url parts
 *     and nothing else (no padding, no whitespace);
 *  2. header, decoded here: a JSON object whose "alg" is exactly one of the
 *     configured algorithms, without "crit" (no extension is understood);
 *     then the candidate keys: the one named by "kid" (whose algorithm must
 *     be the header's), or without kid every key of the header's algorithm
 *     up to AUTH_MAX_TRIES. This is what stops "none" and the HS/RS
 *     confusion: libjwt picks the verification method from the token's own
 *     header, so an HS256 token checked against an RSA public key would be
 *     an HMAC keyed with the PEM text;
 *  3. signature, by libjwt's jwt_decode with each candidate key in turn
 *     until one verifies (for ES256 libjwt 1.10 takes the JOSE R||S form
 *     and converts it to DER itself);
 *  4. claims, decoded here from the payload (strict base64url, strict JSON,
 *     duplicate keys refused): sub, iss, aud, name, programs, then nbf and
 *     exp last, so that TOKEN_EXPIRED only ever means "fine but expired,
 *     fetch a new one".
 * "exp" is optional (identity exp = 0). A null "name" or "programs" counts as
 * absent. Program ids must be non-empty strings or integers.
 * The verifier is immutable after construction except for its atomic
 * reference count; verification uses only locals, so concurrent calls are
 * safe. OpenSSL's per-thread error queue is cleared after every OpenSSL or
 * libjwt call that may fail, so failures never leak into the TLS code
 * sharing the thread.
 */
#include "gateway/roomcast/auth.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/base64.h"
#include "core/errstr.h"
#include "core/file.h"
#include "core/log.h"
#include "core/slice.h"

#define AUTH_MAX_TOKEN 8192
#define AUTH_MAX_KEY_FILE 65536
#define AUTH_MAX_JWKS_FILE (1024 * 1024)
#define AUTH_MAX_KEYS 64
#define AUTH_MAX_TRIES 16
#define AUTH_MAX_KID 256
#define AUTH_MIN_RSA_BITS 2048
#define AUTH_MAX_RSA_BITS 16384 /* OpenSSL's own limit for verification */
#define AUTH_P256_COORD 32

/* The algorithms understood; an index is an A_* value. */
enum { A_HS256, A_RS256, A_ES256, A_COUNT };
#define ALG_BIT(a) (1u << (a))

static const struct {
    const char *name;
    jwt_alg_t jwt;
} alg_table[A_COUNT] = {
    [A_HS256] = {"HS256", JWT_ALG_HS256},
    [A_RS256] = {"RS256", JWT_ALG_RS256},
    [A_ES256] = {"ES256", JWT_ALG_ES256},
};

typedef struct auth_key {
    char *kid;          /* owned; NULL = none (HS256, JWKS keys without kid) */
    int alg;            /* A_* */
    unsigned char *key; /* owned, NUL-terminated: HMAC secret or PEM text */
    size_t keylen;
} auth_key;

struct rc_auth_verifier {
    atomic_uint refs;
    unsigned algs; /* ALG_BIT() of every accepted algorithm */
    auth_key keys[AUTH_MAX_KEYS];
    size_t nkeys;   /* HS256: exactly one, the secret */
    char *issuer;   /* owned, NULL = not checked */
    char *audience; /* owned, NULL = not checked */
    int leeway_s;
    char *summary; /* owned, for rc_auth_verifier_describe */
};

static int nonempty(const char *s)
{
    return s && s[0];
}

/* The string of j when it is a JSON string without NUL bytes, else NULL. */
static const char *json_cstr(const json_t *j)
{
    if (!json_is_string(j))
        return NULL;
    const char *s = json_string_value(j);
    return strlen(s) == json_string_length(j) ? s : NULL;
}

/* The A_* of an algorithm name, or -1. */
static int alg_index(const char *name, size_t len)
{
    for (int a = 0; a < A_COUNT; a++)
        if (strlen(alg_table[a].name) == len && memcmp(alg_table[a].name, name, len) == 0)
            return a;
    return -1;
}

/* s[0..len) without leading and trailing whitespace. */
static rc_slice trim(const char *s, size_t len)
{
    while (len && isspace((unsigned char)*s)) {
        s++;
        len--;
    }
    while (len && isspace((unsigned char)s[len - 1]))
        len--;
    return (rc_slice){s, len};
}

/* "RS256,ES256": the accepted algorithms in canonical order. */
static void algs_str(unsigned algs, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (int a = 0; a < A_COUNT && o < cap; a++)
        if (algs & ALG_BIT(a))
            o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? "," : "", alg_table[a].name);
}

static int parse_algs(const char *list, unsigned *out, char *errstr, size_t errlen)
{
    const char *s = list ? list : "";
    unsigned algs = 0;
    for (;;) {
        size_t n = strcspn(s, ",");
        rc_slice name = trim(s, n);
        int a = alg_index(name.p, name.len);
        if (a < 0) {
            /* Names are case-sensitive, as in a token's header (RFC 7515
             * 4.1.1): "hs256" is refused, with the hint. */
            for (int c = 0; c < A_COUNT; c++)
                if (strlen(alg_table[c].name) == name.len &&
                    strncasecmp(alg_table[c].name, name.p, name.len) == 0)
                    return rc_errf(errstr, errlen,
                                   "jwt-alg \"%.*s\" not supported: did you mean %s? "
                                   "(algorithm names are case-sensitive, as in tokens)",
                                   (int)name.len, name.p, alg_table[c].name);
            rc_errf(errstr, errlen,
                    "jwt-alg \"%.*s\" not supported (HS256, or RS256 and/or "
                    "ES256, comma-separated)",
                    (int)(name.len > 64 ? 64 : name.len), name.p);
            return -1;
        }
        algs |= ALG_BIT(a);
        if (!s[n])
            break;
        s += n + 1;
    }
    if ((algs & ALG_BIT(A_HS256)) && algs != ALG_BIT(A_HS256)) {
        rc_errf(errstr, errlen,
                "jwt-alg \"%s\": HS256 cannot be combined with RS256 or "
                "ES256 (a shared secret next to public keys would enable "
                "key-confusion attacks)",
                list);
        return -1;
    }
    *out = algs;
    return 0;
}

/* Reads a whole key file of at most max bytes (rc_file_read); an empty
 * one is refused. */
static char *read_file(const char *path, size_t max, size_t *len, const char *what, char *errstr,
                       size_t errlen)
{
    char *text = rc_file_read(path, what, max, len, errstr, errlen);
    if (text && *len == 0) {
        rc_errf(errstr, errlen, "cannot read %s file %s: it is empty", what, path);
        free(text);
        return NULL;
    }
    return text;
}

/* ---- public keys ---- */

/* The A_* a public key verifies, or -1; kind gets what the key is. */
static int pkey_alg(EVP_PKEY *pkey, char *kind, size_t cap)
{
    int id = EVP_PKEY_get_base_id(pkey);
    if (id == EVP_PKEY_RSA) {
        snprintf(kind, cap, "an RSA key");
        return A_RS256;
    }
    if (id == EVP_PKEY_EC) {
        char group[64] = "";
        if (!EVP_PKEY_get_group_name(pkey, group, sizeof group, NULL))
            snprintf(group, sizeof group, "unknown curve");
        snprintf(kind, cap, "an EC %s key", group);
        return strcmp(group, "prime256v1") == 0 ? A_ES256 : -1;
    }
    const char *t = EVP_PKEY_get0_type_name(pkey);
    snprintf(kind, cap, "a %.32s key", t ? t : "unknown");
    return -1;
}

static const char *expected_keys(unsigned algs)
{
    if (algs == ALG_BIT(A_RS256))
        return "an RSA public key (RS256)";
    if (algs == ALG_BIT(A_ES256))
        return "a P-256 EC public key (ES256)";
    return "an RSA or P-256 EC public key (RS256, ES256)";
}

/*
 * Checks that pkey verifies one of algs and is sound: RSA of 2048 to 16384
 * bits with an odd exponent >= 3, or a valid P-256 point. what names the
 * key in errors. Sets *alg.
 */
static int check_key(EVP_PKEY *pkey, unsigned algs, const char *what, int *alg, char *errstr,
                     size_t errlen)
{
    char kind[96];
    int a = pkey_alg(pkey, kind, sizeof kind);
    if (a < 0 || !(algs & ALG_BIT(a))) {
        rc_errf(errstr, errlen, "%s is not %s: it is %s%s%s%s", what, expected_keys(algs), kind,
                a >= 0 ? "; add " : "", a >= 0 ? alg_table[a].name : "",
                a >= 0 ? " to jwt-alg to accept it" : "");
        return -1;
    }
    if (a == A_RS256) {
        int bits = EVP_PKEY_get_bits(pkey);
        BIGNUM *e = NULL;
        int e_ok = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) && BN_is_odd(e) &&
                   !BN_is_one(e) && BN_num_bits(e) <= 64;
        BN_free(e);
        if (bits < AUTH_MIN_RSA_BITS) {
            rc_errf(errstr, errlen, "%s: RSA key under %d bits (%d)", what, AUTH_MIN_RSA_BITS,
                    bits);
            return -1;
        }
        if (bits > AUTH_MAX_RSA_BITS) {
            rc_errf(errstr, errlen, "%s: RSA key over %d bits", what, AUTH_MAX_RSA_BITS);
            return -1;
        }
        if (!e_ok) {
            rc_errf(errstr, errlen,
                    "%s: RSA public exponent is not an odd "
                    "number between 3 and 2^64",
                    what);
            return -1;
        }
    } else {
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        int ok = c && EVP_PKEY_public_check(c) == 1;
        EVP_PKEY_CTX_free(c);
        if (!ok) {
            rc_errf(errstr, errlen, "%s: not a valid P-256 public point", what);
            return -1;
        }
    }
    *alg = a;
    return 0;
}

/*
 * Stores pkey (borrowed) as PEM text under kid (owned, transferred; NULL =
 * no kid). Kids are unique.
 */
static int add_key(rc_auth_verifier *v, char *kid, int alg, EVP_PKEY *pkey, const char *what,
                   char *errstr, size_t errlen)
{
    BIO *mem = NULL;
    for (size_t i = 0; kid && i < v->nkeys; i++) {
        if (v->keys[i].kid && strcmp(v->keys[i].kid, kid) == 0) {
            rc_errf(errstr, errlen,
                    "%s: kid \"%s\" is already used by "
                    "another key",
                    what, kid);
            goto fail;
        }
    }
    if (v->nkeys == AUTH_MAX_KEYS) {
        rc_errf(errstr, errlen, "%s: more than %d keys configured", what, AUTH_MAX_KEYS);
        goto fail;
    }
    char *pem;
    long pemlen;
    mem = BIO_new(BIO_s_mem());
    if (!mem || !PEM_write_bio_PUBKEY(mem, pkey) || (pemlen = BIO_get_mem_data(mem, &pem)) <= 0)
        goto nomem;
    auth_key *k = &v->keys[v->nkeys];
    k->key = malloc((size_t)pemlen + 1);
    if (!k->key)
        goto nomem;
    memcpy(k->key, pem, (size_t)pemlen);
    k->key[pemlen] = '\0';
    k->keylen = (size_t)pemlen;
    k->alg = alg;
    k->kid = kid;
    v->nkeys++;
    BIO_free(mem);
    return 0;
nomem:
    rc_errf(errstr, errlen, "%s: out of memory", what);
fail:
    BIO_free(mem);
    free(kid);
    return -1;
}

/* "/etc/roomcast/keys/2026-11.pem" -> "2026-11" (owned). */
static char *kid_of_path(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    return strndup(base, n);
}

static int load_pem_key(rc_auth_verifier *v, const char *path, char *errstr, size_t errlen)
{
    int rc = -1, alg;
    size_t len;
    char *kid = NULL;
    BIO *in = NULL;
    EVP_PKEY *pkey = NULL;
    char *text = read_file(path, AUTH_MAX_KEY_FILE, &len, "public key", errstr, errlen);
    if (!text)
        goto done;
    in = BIO_new_mem_buf(text, (int)len);
    if (!in) {
        rc_errf(errstr, errlen, "out of memory reading %s", path);
        goto done;
    }
    pkey = PEM_read_bio_PUBKEY(in, NULL, NULL, NULL);
    if (!pkey) {
        /* an identity provider's signing certificate: its key only */
        BIO_free(in);
        in = BIO_new_mem_buf(text, (int)len);
        X509 *cert = in ? PEM_read_bio_X509(in, NULL, NULL, NULL) : NULL;
        if (cert)
            pkey = X509_get_pubkey(cert);
        X509_free(cert);
    }
    if (!pkey) {
        rc_errf(errstr, errlen,
                "%s holds no PEM public key "
                "(-----BEGIN PUBLIC KEY----- or CERTIFICATE-----)",
                path);
        goto done;
    }
    if (check_key(pkey, v->algs, path, &alg, errstr, errlen) < 0)
        goto done;
    kid = kid_of_path(path);
    if (!kid || !kid[0] || strlen(kid) > AUTH_MAX_KID) {
        rc_errf(errstr, errlen,
                "%s: the file name gives no usable kid "
                "(1 to %d bytes)",
                path, AUTH_MAX_KID);
        goto done;
    }
    rc = add_key(v, kid, alg, pkey, path, errstr, errlen);
    kid = NULL;
done:
    ERR_clear_error();
    free(kid);
    EVP_PKEY_free(pkey);
    BIO_free(in);
    free(text);
    return rc;
}

/* list: comma-separated paths, whitespace around commas ignored. */
static int load_pem_files(rc_auth_verifier *v, const char *list, char *errstr, size_t errlen)
{
    const char *s = list;
    for (;;) {
        size_t n = strcspn(s, ",");
        rc_slice item = trim(s, n);
        if (item.len == 0) {
            rc_errf(errstr, errlen,
                    "jwt-public-key \"%s\" has an empty "
                    "entry",
                    list);
            return -1;
        }
        char *path = strndup(item.p, item.len);
        if (!path) {
            rc_errf(errstr, errlen, "out of memory");
            return -1;
        }
        int rc = load_pem_key(v, path, errstr, errlen);
        free(path);
        if (rc < 0)
            return -1;
        if (!s[n])
            return 0;
        s += n + 1;
    }
}

const char *rc_auth_code_name(int code)
{
    switch (code) {
    case RC_AUTH_OK:
        return "OK";
    case RC_AUTH_TOKEN_MISSING:
        return "TOKEN_MISSING";
    case RC_AUTH_TOKEN_EXPIRED:
        return "TOKEN_EXPIRED";
    default:
        return "TOKEN_INVALID";
    }
}

/* Decodes one base64url part as a JSON object; NULL if it is not one. */
static json_t *decode_json_part(const char *p, size_t len)
{
    unsigned char buf[AUTH_MAX_TOKEN];
    size_t n;
    if (rc_base64_decode(p, len, buf, sizeof buf, &n, RC_B64_URL) < 0 || n == 0)
        return NULL;
    json_error_t err;
    json_t *j = json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, &err);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* NumericDate (RFC 7519): an integer or a real, in seconds. */
static int numeric_date(const json_t *j, int64_t *out)
{
    if (json_is_integer(j)) {
        *out = (int64_t)json_integer_value(j);
        return 0;
    }
    if (json_is_real(j)) {
        double d = json_real_value(j);
        if (d >= 9.2e18)
            *out = INT64_MAX;
        else if (d <= -9.2e18)
            *out = INT64_MIN;
        else
            *out = (int64_t)d - (d < 0 && (double)(int64_t)d != d);
        return 0;
    }
    return -1;
}

static int64_t sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

static int audience_ok(const json_t *aud, const char *want)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    if (json_is_array(aud)) {
        size_t i;
        json_t *v;
        json_array_foreach(aud, i, v)
        {
            if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
                return 1;
        }
    }
    return 0;
}

/* Fills id from the claims; returns an AUTH_* code and a reason. */
/* A program id of the "programs" claim: a non-empty string, or an integer
 * written into num (32 bytes); NULL for anything else. */
static const char *program_id(const void *progs, size_t i, char *num)
{
    const json_t *p = json_array_get(progs, i);
    if (json_is_string(p) && json_string_length(p) > 0)
        return json_string_value(p);
    if (!json_is_integer(p))
        return NULL;
    snprintf(num, 32, "%" JSON_INTEGER_FORMAT, json_integer_value(p));
    return num;
}

/* Checks the claims; RC_AUTH_OK with the identity in *out, or a failure
 * with *why. */
static int check_claims(const rc_auth_verifier *v, const json_t *claims, int64_t now,
                        rc_auth_identity **out, const char **why)
{
    const json_t *sub = json_object_get(claims, "sub");
    if (!json_is_string(sub) || json_string_length(sub) == 0) {
        *why = "sub missing";
        return RC_AUTH_TOKEN_INVALID;
    }
    if (v->issuer) {
        const json_t *iss = json_object_get(claims, "iss");
        if (!json_is_string(iss) || strcmp(json_string_value(iss), v->issuer)) {
            *why = "issuer mismatch";
            return RC_AUTH_TOKEN_INVALID;
        }
    }
    if (v->audience && !audience_ok(json_object_get(claims, "aud"), v->audience)) {
        *why = "audience mismatch";
        return RC_AUTH_TOKEN_INVALID;
    }
    const json_t *name = json_object_get(claims, "name");
    if (name && !json_is_null(name) && !json_is_string(name)) {
        *why = "name not a string";
        return RC_AUTH_TOKEN_INVALID;
    }
    const json_t *progs = json_object_get(claims, "programs");
    if (progs && !json_is_null(progs) && !json_is_array(progs)) {
        *why = "programs not an array";
        return RC_AUTH_TOKEN_INVALID;
    }
    int64_t exp = 0, nbf = 0;
    const json_t *jexp = json_object_get(claims, "exp");
    const json_t *jnbf = json_object_get(claims, "nbf");
    if ((jexp && numeric_date(jexp, &exp) < 0) || (jnbf && numeric_date(jnbf, &nbf) < 0)) {
        *why = "exp or nbf not a number";
        return RC_AUTH_TOKEN_INVALID;
    }

    size_t n = json_is_array(progs) ? json_array_size(progs) : 0;
    for (size_t i = 0; i < n; i++) {
        char num[32];
        if (!program_id(progs, i, num)) {
            *why = "programs holds a value that is not an id";
            return RC_AUTH_TOKEN_INVALID;
        }
    }
    if (jnbf && nbf > sat_add(now, v->leeway_s)) {
        *why = "token not yet valid";
        return RC_AUTH_TOKEN_INVALID;
    }
    if (jexp && now >= sat_add(exp, v->leeway_s)) {
        *why = "token expired";
        return RC_AUTH_TOKEN_EXPIRED;
    }
    rc_auth_identity *id = rc_auth_identity_build(
        json_string_value(sub), json_is_string(name) ? json_string_value(name) : NULL, n,
        program_id, progs, jexp ? exp : 0);
    if (!id) {
        *why = "out of memory";
        return RC_AUTH_TOKEN_INVALID;
    }
    *out = id;
    return RC_AUTH_OK;
}

/* ---- JSON Web Key Sets (RFC 7517, parameters from RFC 7518 section 6) ---- */

static void skip_key(const char *path, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void skip_key(const char *path, const char *label, const char *fmt, ...)
{
    char why[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    LOG_WARN("auth", "JWKS file %s: key %s skipped: %s", path, label, why);
}

/* Decodes the base64url member field of jwk into out (at most cap bytes). */
static int jwk_bytes(const json_t *jwk, const char *field, unsigned char *out, size_t cap,
                     size_t *outlen, const char *what, char *errstr, size_t errlen)
{
    const json_t *j = json_object_get(jwk, field);
    if (!json_is_string(j)) {
        rc_errf(errstr, errlen, "%s: \"%s\" missing or not a string", what, field);
        return -1;
    }
    size_t len = json_string_length(j);
    if (len == 0 || len > (cap * 4 + 2) / 3) {
        rc_errf(errstr, errlen,
                "%s: \"%s\" is empty or longer than %zu "
                "bytes",
                what, field, cap);
        return -1;
    }
    size_t n;
    if (rc_base64_decode(json_string_value(j), len, out, cap, &n, RC_B64_URL) < 0 || n == 0) {
        rc_errf(errstr, errlen,
                "%s: \"%s\" is not base64url (RFC 4648 "
                "section 5, unpadded)",
                what, field);
        return -1;
    }
    *outlen = n;
    return 0;
}

/* An EVP_PKEY of type from params bld; NULL if OpenSSL refuses them. */
static EVP_PKEY *pkey_from_bld(const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1 &&
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

static EVP_PKEY *jwk_rsa(const json_t *jwk, const char *what, char *errstr, size_t errlen)
{
    unsigned char n[AUTH_MAX_RSA_BITS / 8], e[8];
    size_t nlen, elen;
    EVP_PKEY *pkey = NULL;
    BIGNUM *bn = NULL, *be = NULL;
    OSSL_PARAM_BLD *bld = NULL;

    if (jwk_bytes(jwk, "n", n, sizeof n, &nlen, what, errstr, errlen) < 0 ||
        jwk_bytes(jwk, "e", e, sizeof e, &elen, what, errstr, errlen) < 0)
        return NULL;
    bn = BN_bin2bn(n, (int)nlen, NULL);
    be = BN_bin2bn(e, (int)elen, NULL);
    bld = OSSL_PARAM_BLD_new();
    if (bn && be && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
        pkey = pkey_from_bld("RSA", bld);
    if (!pkey)
        rc_errf(errstr, errlen, "%s: n and e do not make an RSA public key", what);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    return pkey;
}

static EVP_PKEY *jwk_ec(const json_t *jwk, const char *what, char *errstr, size_t errlen)
{
    /* SEC 1 uncompressed point: 0x04 || x || y */
    unsigned char pt[1 + 2 * AUTH_P256_COORD];
    size_t xlen, ylen;
    EVP_PKEY *pkey = NULL;

    pt[0] = 0x04;
    if (jwk_bytes(jwk, "x", pt + 1, AUTH_P256_COORD, &xlen, what, errstr, errlen) < 0 ||
        jwk_bytes(jwk, "y", pt + 1 + AUTH_P256_COORD, AUTH_P256_COORD, &ylen, what, errstr,
                  errlen) < 0)
        return NULL;
    if (xlen != AUTH_P256_COORD || ylen != AUTH_P256_COORD) {
        rc_errf(errstr, errlen,
                "%s: x and y must be %d bytes each for "
                "P-256",
                what, AUTH_P256_COORD);
        return NULL;
    }
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof pt))
        pkey = pkey_from_bld("EC", bld);
    if (!pkey)
        rc_errf(errstr, errlen, "%s: x and y are not a point on P-256", what);
    OSSL_PARAM_BLD_free(bld);
    return pkey;
}

static int has_string(const json_t *arr, const char *s)
{
    size_t i;
    const json_t *x;
    if (!json_is_array(arr))
        return 0;
    json_array_foreach(arr, i, x)
    {
        const char *xs = json_cstr(x);
        if (xs && strcmp(xs, s) == 0)
            return 1;
    }
    return 0;
}

/* Adds keys[i] of a JWKS; returns 1 added, 0 skipped (logged), -1 error. */
static int load_jwk(rc_auth_verifier *v, const char *path, size_t i, const json_t *jwk,
                    char *errstr, size_t errlen)
{
    char label[AUTH_MAX_KID + 32], what[sizeof label + 256];
    EVP_PKEY *pkey = NULL;
    int rc = -1, alg;

    if (!json_is_object(jwk)) {
        rc_errf(errstr, errlen, "JWKS file %s: keys[%zu] is not an object", path, i);
        return -1;
    }
    const json_t *jkid = json_object_get(jwk, "kid");
    const char *kid = json_cstr(jkid);
    if (jkid && (!kid || !kid[0] || strlen(kid) > AUTH_MAX_KID)) {
        rc_errf(errstr, errlen,
                "JWKS file %s: keys[%zu]: kid must be a "
                "string of 1 to %d bytes",
                path, i, AUTH_MAX_KID);
        return -1;
    }
    if (kid)
        snprintf(label, sizeof label, "\"%s\"", kid);
    else
        snprintf(label, sizeof label, "keys[%zu] (no kid)", i);
    snprintf(what, sizeof what, "JWKS file %.200s, key %s", path, label);

    const json_t *use = json_object_get(jwk, "use");
    const char *use_s = json_cstr(use);
    if (use && !(use_s && strcmp(use_s, "sig") == 0)) {
        skip_key(path, label, "use is \"%.32s\", not \"sig\"", use_s ? use_s : "?");
        return 0;
    }
    const json_t *ops = json_object_get(jwk, "key_ops");
    if (ops && !has_string(ops, "verify")) {
        skip_key(path, label, "key_ops lacks \"verify\"");
        return 0;
    }
    const char *kty = json_cstr(json_object_get(jwk, "kty"));
    if (kty && strcmp(kty, "RSA") == 0) {
        alg = A_RS256;
    } else if (kty && strcmp(kty, "EC") == 0) {
        const char *crv = json_cstr(json_object_get(jwk, "crv"));
        if (!crv || strcmp(crv, "P-256") != 0) {
            skip_key(path, label, "curve %.32s not supported (P-256 only)", crv ? crv : "?");
            return 0;
        }
        alg = A_ES256;
    } else {
        skip_key(path, label, "kty %.32s not supported (RSA or EC)", kty ? kty : "?");
        return 0;
    }
    const json_t *jalg = json_object_get(jwk, "alg");
    const char *alg_s = json_cstr(jalg);
    if (jalg) {
        int a = alg_s ? alg_index(alg_s, strlen(alg_s)) : -1;
        if (a < 0 || !(v->algs & ALG_BIT(a))) {
            skip_key(path, label, "alg %.32s is not in jwt-alg", alg_s ? alg_s : "?");
            return 0;
        }
        if (a != alg) {
            skip_key(path, label, "alg %s does not fit kty %s", alg_s, kty);
            return 0;
        }
    }
    if (!(v->algs & ALG_BIT(alg))) {
        skip_key(path, label, "%s key but jwt-alg has no %s", kty, alg_table[alg].name);
        return 0;
    }

    pkey = alg == A_RS256 ? jwk_rsa(jwk, what, errstr, errlen) : jwk_ec(jwk, what, errstr, errlen);
    if (!pkey || check_key(pkey, v->algs, what, &alg, errstr, errlen) < 0)
        goto done;
    char *kid_copy = NULL;
    if (kid && !(kid_copy = strdup(kid))) {
        rc_errf(errstr, errlen, "%s: out of memory", what);
        goto done;
    }
    if (add_key(v, kid_copy, alg, pkey, what, errstr, errlen) < 0)
        goto done;
    rc = 1;
done:
    ERR_clear_error();
    EVP_PKEY_free(pkey);
    return rc;
}

static int load_jwks(rc_auth_verifier *v, const char *path, char *errstr, size_t errlen)
{
    int rc = -1;
    size_t len, added = 0, i;
    json_t *doc = NULL;
    const json_t *jwk;
    json_error_t jerr;
    char *text = read_file(path, AUTH_MAX_JWKS_FILE, &len, "JWKS", errstr, errlen);
    if (!text)
        return -1;
    doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        rc_errf(errstr, errlen, "JWKS file %s is not JSON (line %d: %.80s)", path, jerr.line,
                jerr.text);
        goto done;
    }
    const json_t *keys = json_object_get(doc, "keys");
    if (!json_is_array(keys)) {
        rc_errf(errstr, errlen, "JWKS file %s has no \"keys\" array", path);
        goto done;
    }
    json_array_foreach(keys, i, jwk)
    {
        int r = load_jwk(v, path, i, jwk, errstr, errlen);
        if (r < 0)
            goto done;
        added += (size_t)r;
    }
    if (added == 0) {
        rc_errf(errstr, errlen,
                "JWKS file %s has no usable key (%zu "
                "skipped; see the warnings)",
                path, json_array_size(keys));
        goto done;
    }
    rc = 0;
done:
    json_decref(doc);
    free(text);
    return rc;
}

/* ---- the verifier ---- */

static char *build_summary(const rc_auth_verifier *v)
{
    rc_buf b = {0};
    int rc = 0;
    char algs[32];

    if (v->algs == ALG_BIT(A_HS256)) {
        rc |= rc_buf_puts(&b, "HS256 with a shared secret");
    } else {
        algs_str(v->algs, algs, sizeof algs);
        rc |= rc_buf_printf(&b, "%s with %zu key%s:", algs, v->nkeys, v->nkeys == 1 ? "" : "s");
        for (size_t i = 0; i < v->nkeys; i++)
            rc |= rc_buf_printf(&b, "%s %s", i ? "," : "",
                                v->keys[i].kid ? v->keys[i].kid : "(no kid)");
    }
    if (v->issuer)
        rc |= rc_buf_printf(&b, "; issuer %s", v->issuer);
    if (v->audience)
        rc |= rc_buf_printf(&b, "; audience %s", v->audience);
    if (rc) {
        rc_buf_free(&b);
        return NULL;
    }
    return b.p;
}

rc_auth_verifier *rc_auth_verifier_new(const rc_auth_config *cfg, char *errstr, size_t errlen)
{
    char algs[32];
    rc_auth_verifier *v = calloc(1, sizeof *v);
    if (!v) {
        rc_errf(errstr, errlen, "out of memory");
        return NULL;
    }
    atomic_init(&v->refs, 1);
    if (parse_algs(cfg->alg, &v->algs, errstr, errlen) < 0)
        goto fail;
    algs_str(v->algs, algs, sizeof algs);
    if (cfg->leeway_s < 0) {
        rc_errf(errstr, errlen, "jwt-leeway must not be negative");
        goto fail;
    }
    v->leeway_s = cfg->leeway_s;

    if (v->algs == ALG_BIT(A_HS256)) {
        if (!nonempty(cfg->secret)) {
            rc_errf(errstr, errlen, "jwt-secret is required for HS256");
            goto fail;
        }
        if (nonempty(cfg->public_key_file) || nonempty(cfg->jwks_file)) {
            rc_errf(errstr, errlen,
                    "jwt-public-key and jwt-jwks hold RS256/"
                    "ES256 keys, but jwt-alg is HS256: set jwt-alg to the "
                    "keys' algorithm(s)");
            goto fail;
        }
        size_t len = strlen(cfg->secret);
        if (len > AUTH_MAX_KEY_FILE) {
            rc_errf(errstr, errlen, "jwt-secret too long");
            goto fail;
        }
        v->keys[0].key = (unsigned char *)strdup(cfg->secret);
        if (!v->keys[0].key)
            goto nomem;
        v->keys[0].keylen = len;
        v->keys[0].alg = A_HS256;
        v->nkeys = 1;
    } else {
        if (!nonempty(cfg->public_key_file) && !nonempty(cfg->jwks_file)) {
            rc_errf(errstr, errlen,
                    "jwt-public-key or jwt-jwks is required "
                    "for %s",
                    algs);
            goto fail;
        }
        if (nonempty(cfg->secret))
            LOG_WARN("auth", "jwt-secret is ignored: jwt-alg is %s", algs);
        if (nonempty(cfg->public_key_file) &&
            load_pem_files(v, cfg->public_key_file, errstr, errlen) < 0)
            goto fail;
        if (nonempty(cfg->jwks_file) && load_jwks(v, cfg->jwks_file, errstr, errlen) < 0)
            goto fail;
        for (int a = A_RS256; a < A_COUNT; a++) {
            size_t n = 0;
            for (size_t i = 0; i < v->nkeys; i++)
                n += v->keys[i].alg == a;
            if ((v->algs & ALG_BIT(a)) && n == 0)
                LOG_WARN("auth",
                         "jwt-alg lists %s but no %s key is "
                         "configured: %s tokens will be refused",
                         alg_table[a].name, alg_table[a].name, alg_table[a].name);
        }
    }
    if (nonempty(cfg->issuer) && !(v->issuer = strdup(cfg->issuer)))
        goto nomem;
    if (nonempty(cfg->audience) && !(v->audience = strdup(cfg->audience)))
        goto nomem;
    if (!(v->summary = build_summary(v)))
        goto nomem;
    return v;
nomem:
    rc_errf(errstr, errlen, "out of memory");
fail:
    rc_auth_verifier_unref(v);
    return NULL;
}

rc_auth_verifier *rc_auth_verifier_ref(rc_auth_verifier *v)
{
    if (v)
        atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
    return v;
}

void rc_auth_verifier_unref(rc_auth_verifier *v)
{
    if (!v || atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < v->nkeys; i++) {
        OPENSSL_cleanse(v->keys[i].key, v->keys[i].keylen);
        free(v->keys[i].key);
        free(v->keys[i].kid);
    }
    free(v->issuer);
    free(v->audience);
    free(v->summary);
    free(v);
}

size_t rc_auth_verifier_key_count(const rc_auth_verifier *v)
{
    return v ? v->nkeys : 0;
}

const char *rc_auth_verifier_describe(const rc_auth_verifier *v)
{
    return v ? v->summary : "no verifier";
}

/* The key with this kid, or NULL. */
static const auth_key *find_kid(const rc_auth_verifier *v, const char *kid)
{
    for (size_t i = 0; i < v->nkeys; i++)
        if (v->keys[i].kid && strcmp(v->keys[i].kid, kid) == 0)
            return &v->keys[i];
    return NULL;
}

int rc_auth_verify(const rc_auth_verifier *v, const char *token, size_t len, int64_t now,
                   rc_auth_identity **out, const char **reason)
{
    const char *why = NULL;
    int code = RC_AUTH_TOKEN_INVALID;
    json_t *header = NULL, *claims = NULL;
    char *copy = NULL;
    jwt_t *jwt = NULL;
    rc_auth_identity *id = NULL;
    const auth_key *cand[AUTH_MAX_TRIES];
    size_t ncand = 0;

    if (out)
        *out = NULL;
    if (!token || len == 0) {
        why = "no token";
        code = RC_AUTH_TOKEN_MISSING;
        goto done;
    }
    if (len > AUTH_MAX_TOKEN) {
        why = "token too long";
        goto done;
    }

    /* 1. shape */
    size_t dots[2], ndots = 0;
    for (size_t i = 0; i < len; i++) {
        if (token[i] == '.') {
            if (ndots == 2) {
                ndots = 3;
                break;
            }
            dots[ndots++] = i;
        } else if (rc_base64_value((unsigned char)token[i], RC_B64_URL) < 0) {
            ndots = 3;
            break;
        }
    }
    if (ndots != 2 || dots[0] == 0 || dots[1] == dots[0] + 1 || dots[1] + 1 == len) {
        why = "malformed token";
        goto done;
    }

    /* 2. header and key selection */
    header = decode_json_part(token, dots[0]);
    if (!header) {
        why = "malformed header";
        goto done;
    }
    const char *alg_s = json_cstr(json_object_get(header, "alg"));
    int alg = alg_s ? alg_index(alg_s, strlen(alg_s)) : -1;
    if (alg < 0 || !(v->algs & ALG_BIT(alg))) {
        why = "alg mismatch";
        goto done;
    }
    if (json_object_get(header, "crit")) {
        why = "unsupported crit header";
        goto done;
    }
    const json_t *jkid = json_object_get(header, "kid");
    if (alg == A_HS256) {
        cand[ncand++] = &v->keys[0];
    } else if (jkid) {
        const char *kid = json_cstr(jkid);
        if (!kid) {
            why = "malformed kid";
            goto done;
        }
        const auth_key *k = find_kid(v, kid);
        if (!k) {
            why = "unknown kid";
            goto done;
        }
        if (k->alg != alg) {
            why = "kid alg mismatch";
            goto done;
        }
        cand[ncand++] = k;
    } else {
        for (size_t i = 0; i < v->nkeys && ncand < AUTH_MAX_TRIES; i++)
            if (v->keys[i].alg == alg)
                cand[ncand++] = &v->keys[i];
        if (ncand == 0) {
            why = "no key for alg";
            goto done;
        }
    }

    /* 3. signature */
    copy = malloc(len + 1);
    if (!copy) {
        why = "out of memory";
        goto done;
    }
    memcpy(copy, token, len);
    copy[len] = '\0';
    int verified = 0;
    for (size_t i = 0; i < ncand && !verified; i++) {
        int rc = jwt_decode(&jwt, copy, cand[i]->key, (int)cand[i]->keylen);
        ERR_clear_error();
        verified = rc == 0 && jwt && jwt_get_alg(jwt) == alg_table[alg].jwt;
        if (jwt) {
            jwt_free(jwt);
            jwt = NULL;
        }
    }
    if (!verified) {
        why = "bad signature";
        goto done;
    }

    /* 4. claims */
    claims = decode_json_part(token + dots[0] + 1, dots[1] - dots[0] - 1);
    if (!claims) {
        why = "malformed claims";
        goto done;
    }
    code = check_claims(v, claims, now, &id, &why);
    if (code == RC_AUTH_OK && out) {
        *out = id;
        id = NULL;
    }
done:
    rc_auth_identity_free(id);
    free(copy);
    json_decref(header);
    json_decref(claims);
    if (reason)
        *reason = code == RC_AUTH_OK ? "ok" : why;
    return code;
}

char *rc_auth_sign_hs256(const char *secret, const char *sub, const char *name,
                         const char *const *programs, size_t nprograms, int64_t exp)
{
    jwt_t *jwt = NULL;
    json_t *claims = NULL, *arr = NULL;
    char *json = NULL, *tok = NULL, *out = NULL;

    if (!secret || !secret[0] || !sub || !sub[0])
        return NULL;
    claims = json_object();
    if (!claims || json_object_set_new(claims, "sub", json_string(sub)) < 0)
        goto done;
    if (name && json_object_set_new(claims, "name", json_string(name)) < 0)
        goto done;
    if (nprograms) {
        arr = json_array();
        if (!arr)
            goto done;
        for (size_t i = 0; i < nprograms; i++)
            if (json_array_append_new(arr, json_string(programs[i])) < 0)
                goto done;
        if (json_object_set(claims, "programs", arr) < 0)
            goto done;
    }
    if (exp && json_object_set_new(claims, "exp", json_integer(exp)) < 0)
        goto done;
    json = json_dumps(claims, JSON_COMPACT);
    if (!json || jwt_new(&jwt) != 0 || jwt_add_grants_json(jwt, json) != 0 ||
        jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)secret, (int)strlen(secret)) != 0)
        goto done;
    tok = jwt_encode_str(jwt);
    if (tok)
        out = strdup(tok);
done:
    ERR_clear_error();
    free(tok);
    if (jwt)
        jwt_free(jwt);
    free(json);
    json_decref(arr);
    json_decref(claims);
    return out;
}
