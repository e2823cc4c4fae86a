/*
 * auth.c - JWT verification (and HS256 signing for the demo and tests).
 *
 * Implementation notes. A token goes through four gates, cheapest first:
 *  1. shape: at most AUTH_MAX_TOKEN bytes, three non-empty base64url parts
 *     and nothing else (no padding, no whitespace);
 *  2. header, decoded here: a JSON object whose "alg" is exactly the
 *     configured algorithm, without "crit" (no extension is understood).
 *     This is what stops "none" and the HS/RS confusion: libjwt picks the
 *     verification method from the token's own header, so an HS256 token
 *     checked against an RSA public key would be an HMAC keyed with the PEM
 *     text;
 *  3. signature, by libjwt's jwt_decode with the configured key (the HMAC
 *     secret, or the public key re-serialised as PEM after it was checked at
 *     construction; for ES256 libjwt 1.10 takes the JOSE R||S form and
 *     converts it to DER itself);
 *  4. claims, decoded here from the payload (strict base64url, strict JSON,
 *     duplicate keys refused): sub, iss, aud, name, programs, then nbf and
 *     exp last, so that TOKEN_EXPIRED only ever means "fine but expired,
 *     fetch a new one".
 * "exp" is optional (identity exp = 0). A null "name" or "programs" counts as
 * absent. Program ids must be non-empty strings or integers.
 * The verifier is immutable after construction; verification uses only
 * locals, so concurrent calls are safe. OpenSSL's per-thread error queue is
 * cleared after every libjwt call, so failures never leak into the TLS code
 * sharing the thread.
 */
#include "auth.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUTH_MAX_TOKEN 8192
#define AUTH_MAX_KEY_FILE 65536
#define AUTH_MIN_RSA_BITS 2048

struct auth_verifier {
    jwt_alg_t alg;
    const char *alg_name;  /* static */
    unsigned char *key;    /* owned: HMAC secret, or PEM public key */
    size_t keylen;
    char *issuer;          /* owned, NULL = not checked */
    char *audience;        /* owned, NULL = not checked */
    int leeway_s;
};

static void set_err(char *errstr, size_t errlen, const char *fmt,
                    const char *arg)
{
    if (errstr && errlen)
        snprintf(errstr, errlen, fmt, arg ? arg : "");
}

static char *dup_nonempty(const char *s)
{
    return s && s[0] ? strdup(s) : NULL;
}

/* Reads a PEM public key of the type alg needs; returns owned PEM text. */
static unsigned char *load_public_key(const char *path, jwt_alg_t alg,
                                      size_t *len, char *errstr, size_t errlen)
{
    unsigned char *out = NULL;
    char *text = NULL;
    FILE *f = NULL;
    BIO *in = NULL, *mem = NULL;
    EVP_PKEY *pkey = NULL;

    if (!path || !path[0]) {
        set_err(errstr, errlen, "jwt-public-key is required for %s",
                jwt_alg_str(alg));
        goto fail;
    }
    f = fopen(path, "rb");
    if (!f) {
        set_err(errstr, errlen, "cannot open public key file %s", path);
        goto fail;
    }
    text = malloc(AUTH_MAX_KEY_FILE + 1);
    if (!text) {
        set_err(errstr, errlen, "out of memory%s", NULL);
        goto fail;
    }
    size_t n = fread(text, 1, AUTH_MAX_KEY_FILE + 1, f);
    if (ferror(f) || n == 0 || n > AUTH_MAX_KEY_FILE) {
        set_err(errstr, errlen, "cannot read public key file %s "
                "(empty, unreadable or over 64 KiB)", path);
        goto fail;
    }
    in = BIO_new_mem_buf(text, (int)n);
    if (!in)
        goto nomem;
    pkey = PEM_read_bio_PUBKEY(in, NULL, NULL, NULL);
    if (!pkey) {
        set_err(errstr, errlen, "%s holds no PEM public key "
                "(-----BEGIN PUBLIC KEY-----)", path);
        goto fail;
    }
    if (alg == JWT_ALG_RS256) {
        if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
            set_err(errstr, errlen, "%s is not an RSA public key (RS256)",
                    path);
            goto fail;
        }
        if (EVP_PKEY_get_bits(pkey) < AUTH_MIN_RSA_BITS) {
            set_err(errstr, errlen, "%s: RSA key under 2048 bits", path);
            goto fail;
        }
    } else {
        char group[64];
        if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC ||
            !EVP_PKEY_get_group_name(pkey, group, sizeof group, NULL) ||
            strcmp(group, "prime256v1") != 0) {
            set_err(errstr, errlen, "%s is not a P-256 EC public key (ES256)",
                    path);
            goto fail;
        }
    }
    mem = BIO_new(BIO_s_mem());
    if (!mem || !PEM_write_bio_PUBKEY(mem, pkey))
        goto nomem;
    char *pem;
    long pemlen = BIO_get_mem_data(mem, &pem);
    if (pemlen <= 0 || !(out = malloc((size_t)pemlen + 1)))
        goto nomem;
    memcpy(out, pem, (size_t)pemlen);
    out[pemlen] = '\0';
    *len = (size_t)pemlen;
    goto done;
nomem:
    set_err(errstr, errlen, "out of memory reading %s", path);
fail:
    free(out);
    out = NULL;
done:
    ERR_clear_error();
    EVP_PKEY_free(pkey);
    BIO_free(mem);
    BIO_free(in);
    free(text);
    if (f)
        fclose(f);
    return out;
}

auth_verifier *auth_verifier_new(const auth_config *cfg, char *errstr,
                                 size_t errlen)
{
    auth_verifier *v = calloc(1, sizeof *v);
    if (!v) {
        set_err(errstr, errlen, "out of memory%s", NULL);
        return NULL;
    }
    const char *alg = cfg->alg ? cfg->alg : "";
    if (strcmp(alg, "HS256") == 0) {
        v->alg = JWT_ALG_HS256;
        v->alg_name = "HS256";
    } else if (strcmp(alg, "RS256") == 0) {
        v->alg = JWT_ALG_RS256;
        v->alg_name = "RS256";
    } else if (strcmp(alg, "ES256") == 0) {
        v->alg = JWT_ALG_ES256;
        v->alg_name = "ES256";
    } else {
        set_err(errstr, errlen,
                "jwt-alg \"%s\" not supported (HS256, RS256 or ES256)", alg);
        goto fail;
    }
    if (cfg->leeway_s < 0) {
        set_err(errstr, errlen, "jwt-leeway must not be negative%s", NULL);
        goto fail;
    }
    v->leeway_s = cfg->leeway_s;

    if (v->alg == JWT_ALG_HS256) {
        if (!cfg->secret || !cfg->secret[0]) {
            set_err(errstr, errlen, "jwt-secret is required for HS256%s",
                    NULL);
            goto fail;
        }
        v->keylen = strlen(cfg->secret);
        if (v->keylen > AUTH_MAX_KEY_FILE) {
            set_err(errstr, errlen, "jwt-secret too long%s", NULL);
            goto fail;
        }
        v->key = (unsigned char *)strdup(cfg->secret);
        if (!v->key)
            goto nomem;
    } else {
        v->key = load_public_key(cfg->public_key_file, v->alg, &v->keylen,
                                 errstr, errlen);
        if (!v->key)
            goto fail;
    }
    if (cfg->issuer && cfg->issuer[0] && !(v->issuer = dup_nonempty(cfg->issuer)))
        goto nomem;
    if (cfg->audience && cfg->audience[0] &&
        !(v->audience = dup_nonempty(cfg->audience)))
        goto nomem;
    return v;
nomem:
    set_err(errstr, errlen, "out of memory%s", NULL);
fail:
    auth_verifier_destroy(v);
    return NULL;
}

void auth_verifier_destroy(auth_verifier *v)
{
    if (!v)
        return;
    if (v->key)
        OPENSSL_cleanse(v->key, v->keylen);
    free(v->key);
    free(v->issuer);
    free(v->audience);
    free(v);
}

void auth_identity_free(auth_identity *id)
{
    if (!id)
        return;
    free(id->sub);
    free(id->name);
    for (size_t i = 0; i < id->nprograms; i++)
        free(id->programs[i]);
    free(id->programs);
    free(id);
}

const char *auth_code_name(int code)
{
    switch (code) {
    case AUTH_OK: return "OK";
    case AUTH_TOKEN_MISSING: return "TOKEN_MISSING";
    case AUTH_TOKEN_EXPIRED: return "TOKEN_EXPIRED";
    default: return "TOKEN_INVALID";
    }
}

/* ---- base64url (RFC 4648 section 5, unpadded, canonical) ---- */

static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Decodes into out (room for len * 3 / 4 bytes); returns length or -1. */
static long b64url_decode(const char *in, size_t len, unsigned char *out)
{
    if (len % 4 == 1)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64url_value((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* non-canonical trailing bits */
        return -1;
    return (long)o;
}

/* Decodes one base64url part as a JSON object; NULL if it is not one. */
static json_t *decode_json_part(const char *p, size_t len)
{
    unsigned char buf[AUTH_MAX_TOKEN];
    long n = b64url_decode(p, len, buf);
    if (n <= 0)
        return NULL;
    json_error_t err;
    json_t *j = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES,
                           &err);
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
        json_array_foreach(aud, i, v) {
            if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
                return 1;
        }
    }
    return 0;
}

/* Fills id from the claims; returns an AUTH_* code and a reason. */
static int check_claims(const auth_verifier *v, const json_t *claims,
                        int64_t now, auth_identity *id, const char **why)
{
    const json_t *sub = json_object_get(claims, "sub");
    if (!json_is_string(sub) || json_string_length(sub) == 0) {
        *why = "sub missing";
        return AUTH_TOKEN_INVALID;
    }
    if (v->issuer) {
        const json_t *iss = json_object_get(claims, "iss");
        if (!json_is_string(iss) || strcmp(json_string_value(iss), v->issuer)) {
            *why = "issuer mismatch";
            return AUTH_TOKEN_INVALID;
        }
    }
    if (v->audience && !audience_ok(json_object_get(claims, "aud"),
                                    v->audience)) {
        *why = "audience mismatch";
        return AUTH_TOKEN_INVALID;
    }
    const json_t *name = json_object_get(claims, "name");
    if (name && !json_is_null(name) && !json_is_string(name)) {
        *why = "name not a string";
        return AUTH_TOKEN_INVALID;
    }
    const json_t *progs = json_object_get(claims, "programs");
    if (progs && !json_is_null(progs) && !json_is_array(progs)) {
        *why = "programs not an array";
        return AUTH_TOKEN_INVALID;
    }
    int64_t exp = 0, nbf = 0;
    const json_t *jexp = json_object_get(claims, "exp");
    const json_t *jnbf = json_object_get(claims, "nbf");
    if ((jexp && numeric_date(jexp, &exp) < 0) ||
        (jnbf && numeric_date(jnbf, &nbf) < 0)) {
        *why = "exp or nbf not a number";
        return AUTH_TOKEN_INVALID;
    }

    id->sub = strdup(json_string_value(sub));
    if (!id->sub)
        goto nomem;
    if (json_is_string(name) && !(id->name = strdup(json_string_value(name))))
        goto nomem;
    if (json_is_array(progs) && json_array_size(progs) > 0) {
        size_t n = json_array_size(progs);
        id->programs = calloc(n, sizeof *id->programs);
        if (!id->programs)
            goto nomem;
        for (size_t i = 0; i < n; i++) {
            const json_t *p = json_array_get(progs, i);
            char num[32];
            const char *s;
            if (json_is_string(p) && json_string_length(p) > 0) {
                s = json_string_value(p);
            } else if (json_is_integer(p)) {
                snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT,
                         json_integer_value(p));
                s = num;
            } else {
                *why = "programs holds a value that is not an id";
                return AUTH_TOKEN_INVALID;
            }
            if (!(id->programs[i] = strdup(s)))
                goto nomem;
            id->nprograms = i + 1;
        }
    }
    id->exp = jexp ? exp : 0;

    if (jnbf && nbf > sat_add(now, v->leeway_s)) {
        *why = "token not yet valid";
        return AUTH_TOKEN_INVALID;
    }
    if (jexp && now >= sat_add(exp, v->leeway_s)) {
        *why = "token expired";
        return AUTH_TOKEN_EXPIRED;
    }
    return AUTH_OK;
nomem:
    *why = "out of memory";
    return AUTH_TOKEN_INVALID;
}

int auth_verify(const auth_verifier *v, const char *token, size_t len,
                int64_t now, auth_identity **out, const char **reason)
{
    const char *why = NULL;
    int code = AUTH_TOKEN_INVALID;
    json_t *header = NULL, *claims = NULL;
    char *copy = NULL;
    jwt_t *jwt = NULL;
    auth_identity *id = NULL;

    if (out)
        *out = NULL;
    if (!token || len == 0) {
        why = "no token";
        code = AUTH_TOKEN_MISSING;
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
        } else if (b64url_value((unsigned char)token[i]) < 0) {
            ndots = 3;
            break;
        }
    }
    if (ndots != 2 || dots[0] == 0 || dots[1] == dots[0] + 1 ||
        dots[1] + 1 == len) {
        why = "malformed token";
        goto done;
    }

    /* 2. header */
    header = decode_json_part(token, dots[0]);
    if (!header) {
        why = "malformed header";
        goto done;
    }
    const json_t *alg = json_object_get(header, "alg");
    if (!json_is_string(alg) || strcmp(json_string_value(alg), v->alg_name)) {
        why = "alg mismatch";
        goto done;
    }
    if (json_object_get(header, "crit")) {
        why = "unsupported crit header";
        goto done;
    }

    /* 3. signature */
    copy = malloc(len + 1);
    if (!copy) {
        why = "out of memory";
        goto done;
    }
    memcpy(copy, token, len);
    copy[len] = '\0';
    int rc = jwt_decode(&jwt, copy, v->key, (int)v->keylen);
    ERR_clear_error();
    if (rc != 0 || !jwt || jwt_get_alg(jwt) != v->alg) {
        why = "bad signature";
        goto done;
    }

    /* 4. claims */
    claims = decode_json_part(token + dots[0] + 1, dots[1] - dots[0] - 1);
    if (!claims) {
        why = "malformed claims";
        goto done;
    }
    id = calloc(1, sizeof *id);
    if (!id) {
        why = "out of memory";
        goto done;
    }
    code = check_claims(v, claims, now, id, &why);
    if (code == AUTH_OK && out) {
        *out = id;
        id = NULL;
    }
done:
    auth_identity_free(id);
    if (jwt)
        jwt_free(jwt);
    free(copy);
    json_decref(header);
    json_decref(claims);
    if (reason)
        *reason = code == AUTH_OK ? "ok" : why;
    return code;
}

char *auth_sign_hs256(const char *secret, const char *sub, const char *name,
                      const char *const *programs, size_t nprograms,
                      int64_t exp)
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
        jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)secret,
                    (int)strlen(secret)) != 0)
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
