/*
 * test_auth.c - JWT verification with one key: a table of tokens (valid,
 * missing, malformed, forged, alg none, HS/RS confusion, other algorithms,
 * time and audience claims, programs) against HS256, RS256 and ES256
 * verifiers, the size limits, tokens made by libjwt, the HS256 signer and
 * the verifier's refusals at construction. Key sets (several PEM files, JWKS,
 * kid) are tested in test_auth_keys.c.
 *
 * Keys are generated here (RSA 2048, EC P-256) and their public halves
 * written as PEM to temporary files. Tokens are assembled by hand so that
 * headers and signatures can be anything; ES256 signatures are built in the
 * JOSE R||S form that jsonwebtoken and jose produce (jwt_helpers.h).
 */
#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/slice.h"
#include "gateway/roomcast/auth.h"
#include "tests/unit/check.h"
#include "tests/unit/jwt_helpers.h"

static EVP_PKEY *rsa_key, *rsa_key2, *ec_key, *ec_key2, *rsa1024, *ec384;
static char *rsa_pub_pem;            /* public key PEM text */
static char rsa_pub_path[64], ec_pub_path[64], rsa1024_path[64],
    ec384_path[64], junk_path[64], rsa_priv_path[64];

enum sig {
    SIG_EMPTY,      /* "header.payload." */
    SIG_JUNK,       /* a fixed non-signature */
    SIG_HS256,      /* HMAC-SHA256 with SECRET */
    SIG_HS256_BAD,  /* HMAC-SHA256 with another secret */
    SIG_HS256_PEM,  /* HMAC-SHA256 keyed with the RSA public key PEM text */
    SIG_HS512,      /* HMAC-SHA512 with SECRET */
    SIG_RS256,
    SIG_RS256_OTHER, /* another RSA key */
    SIG_ES256,       /* JOSE R||S */
    SIG_ES256_DER,   /* DER, as OpenSSL outputs: not JOSE */
    SIG_ES256_OTHER,
};

/* Builds b64url(header).b64url(claims).b64url(sig); caller frees. */
static char *make_token(const char *header, const char *claims, enum sig sig)
{
    rc_buf t = {0};
    unsigned char s[1024];
    size_t n = 0;
    unsigned int hl;

    jwt_put_input(&t, header, strlen(header), claims, strlen(claims));
    switch (sig) {
    case SIG_EMPTY:
        break;
    case SIG_JUNK:
        memcpy(s, "not a signature at all", 22);
        n = 22;
        break;
    case SIG_HS256:
    case SIG_HS256_BAD:
    case SIG_HS256_PEM: {
        const char *key = sig == SIG_HS256 ? SECRET
                        : sig == SIG_HS256_BAD ? "another-secret"
                                               : rsa_pub_pem;
        HMAC(EVP_sha256(), key, (int)strlen(key), (unsigned char *)t.p, t.len, s, &hl);
        n = hl;
        break;
    }
    case SIG_HS512:
        HMAC(EVP_sha512(), SECRET, (int)strlen(SECRET), (unsigned char *)t.p, t.len, s, &hl);
        n = hl;
        break;
    case SIG_RS256:
    case SIG_RS256_OTHER:
        n = sign_pkey(sig == SIG_RS256 ? rsa_key : rsa_key2, EVP_sha256(), t.p, t.len, s, sizeof s);
        break;
    case SIG_ES256:
    case SIG_ES256_OTHER:
        n = sign_es256(sig == SIG_ES256 ? ec_key : ec_key2, t.p, t.len, s);
        break;
    case SIG_ES256_DER:
        n = sign_pkey(ec_key, EVP_sha256(), t.p, t.len, s, sizeof s);
        break;
    }
    jwt_put_sig(&t, s, n);
    return t.p;
}

/* ---- verifiers ---- */

enum vid { V_HS, V_HS_LEEWAY, V_HS_ISS_AUD, V_HS_PEM, V_RS, V_ES, V_COUNT };
static rc_auth_verifier *vs[V_COUNT];

/* ---- the table ---- */

typedef struct tcase {
    const char *what;
    const char *header; /* NULL: raw token given in claims */
    const char *claims;
    enum sig sig;
    enum vid v;
    int code;
    const char *sub;
    const char *name;
    const char *programs; /* joined with ',' */
    long long exp;
    const char *reason;   /* NULL = not checked */
} tcase;

static const tcase cases[] = {
    {"valid HS256", HS,
     "{\"sub\":\"u1\",\"name\":\"Ada\",\"programs\":[\"p1\",42,\"p3\",-7],"
     "\"exp\":1700003600,\"iat\":1699999000}",
     SIG_HS256, V_HS, RC_AUTH_OK, "u1", "Ada", "p1,42,p3,-7", 1700003600, "ok"},
    {"header without typ (jose style)", "{\"alg\":\"HS256\"}", GOOD, SIG_HS256, V_HS, RC_AUTH_OK,
     "u1", NULL, "", 1700003600, NULL},
    {"no exp", HS, "{\"sub\":\"u1\"}", SIG_HS256, V_HS, RC_AUTH_OK, "u1", NULL, "", 0, NULL},
    {"real exp", HS, "{\"sub\":\"u1\",\"exp\":1700003600.75}", SIG_HS256, V_HS, RC_AUTH_OK, "u1",
     NULL, "", 1700003600, NULL},
    {"null name and programs", HS, "{\"sub\":\"u1\",\"name\":null,\"programs\":null}", SIG_HS256,
     V_HS, RC_AUTH_OK, "u1", NULL, "", 0, NULL},
    {"empty programs", HS, "{\"sub\":\"u1\",\"programs\":[]}", SIG_HS256, V_HS, RC_AUTH_OK, "u1",
     NULL, "", 0, NULL},

    /* malformed */
    {"one part", NULL, "abc", SIG_EMPTY, V_HS, RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL, 0,
     "malformed token"},
    {"two parts", NULL, "abc.def", SIG_EMPTY, V_HS, RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL, 0,
     "malformed token"},
    {"four parts", NULL, "a.b.c.d", SIG_EMPTY, V_HS, RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL, 0,
     "malformed token"},
    {"dots only", NULL, "..", SIG_EMPTY, V_HS, RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL, 0,
     "malformed token"},
    {"bad base64 chars", NULL, "e30!.e30.abc", SIG_EMPTY, V_HS, RC_AUTH_TOKEN_INVALID, NULL, NULL,
     NULL, 0, "malformed token"},
    {"base64 padding", NULL, "e30=.e30.abc", SIG_EMPTY, V_HS, RC_AUTH_TOKEN_INVALID, NULL, NULL,
     NULL, 0, "malformed token"},
    {"space", NULL, "e30.e30 .abc", SIG_EMPTY, V_HS, RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL, 0,
     "malformed token"},
    {"impossible base64 length", NULL, "e30xx.e30.abc", SIG_EMPTY, V_HS, RC_AUTH_TOKEN_INVALID,
     NULL, NULL, NULL, 0, "malformed header"},
    {"header not JSON", "{\"alg\":\"HS256\"", GOOD, SIG_HS256, V_HS, RC_AUTH_TOKEN_INVALID, NULL,
     NULL, NULL, 0, "malformed header"},
    {"header a JSON array", "[\"HS256\"]", GOOD, SIG_HS256, V_HS, RC_AUTH_TOKEN_INVALID, NULL, NULL,
     NULL, 0, "malformed header"},
    {"header without alg", "{\"typ\":\"JWT\"}", GOOD, SIG_HS256, V_HS, RC_AUTH_TOKEN_INVALID, NULL,
     NULL, NULL, 0, "alg mismatch"},
    {"claims not JSON", HS, "{\"sub\":", SIG_HS256, V_HS, RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL,
     0, NULL},
    {"claims a JSON string", HS, "\"u1\"", SIG_HS256, V_HS, RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL,
     0, NULL},
    {"duplicate claim", HS, "{\"sub\":\"u1\",\"sub\":\"admin\"}", SIG_HS256, V_HS,
     RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL, 0, "malformed claims"},
    {"crit header", "{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"b64\":false}", GOOD, SIG_HS256, V_HS,
     RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL, 0, "unsupported crit header"},

    /* forgeries */
    {"bad signature (other secret)", HS, GOOD, SIG_HS256_BAD, V_HS, RC_AUTH_TOKEN_INVALID, NULL,
     NULL, NULL, 0, "bad signature"},
    {"junk signature", HS, GOOD, SIG_JUNK, V_HS, RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL, 0,
     "bad signature"},
    {"alg none, unsigned", "{\"alg\":\"none\",\"typ\":\"JWT\"}", GOOD, SIG_EMPTY, V_HS,
     RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL, 0, "malformed token"},
    {"alg none, with a signature", "{\"alg\":\"none\"}", GOOD, SIG_JUNK, V_HS,
     RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL, 0, "alg mismatch"},
    {"alg None", "{\"alg\":\"None\"}", GOOD, SIG_HS256, V_HS, RC_AUTH_TOKEN_INVALID, NULL, NULL,
     NULL, 0, "alg mismatch"},
    {"alg none against RS256", "{\"alg\":\"none\"}", GOOD, SIG_JUNK, V_RS, RC_AUTH_TOKEN_INVALID,
     NULL, NULL, NULL, 0, "alg mismatch"},
    {"alg hs256 (case)", "{\"alg\":\"hs256\"}", GOOD, SIG_HS256, V_HS, RC_AUTH_TOKEN_INVALID, NULL,
     NULL, NULL, 0, "alg mismatch"},
    {"HS512 with the right secret", "{\"alg\":\"HS512\",\"typ\":\"JWT\"}", GOOD, SIG_HS512, V_HS,
     RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL, 0, "alg mismatch"},
    {"HS/RS confusion", HS, GOOD, SIG_HS256_PEM, V_RS, RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL, 0,
     "alg mismatch"},
    /* ...the same token is a genuine HMAC under the PEM text: */
    {"HS/RS confusion control", HS, GOOD, SIG_HS256_PEM, V_HS_PEM, RC_AUTH_OK, "u1", NULL, "",
     1700003600, NULL},
    {"RS256 token to an HS256 verifier", RS, GOOD, SIG_RS256, V_HS, RC_AUTH_TOKEN_INVALID, NULL,
     NULL, NULL, 0, "alg mismatch"},
    {"header says HS256, signed RS256", HS, GOOD, SIG_RS256, V_RS, RC_AUTH_TOKEN_INVALID, NULL,
     NULL, NULL, 0, "alg mismatch"},
    {"header says RS256, HMAC signature", RS, GOOD, SIG_HS256, V_RS, RC_AUTH_TOKEN_INVALID, NULL,
     NULL, NULL, 0, "bad signature"},

    /* time */
    {"expired", HS, "{\"sub\":\"u1\",\"exp\":1699999900}", SIG_HS256, V_HS, RC_AUTH_TOKEN_EXPIRED,
     NULL, NULL, NULL, 0, "token expired"},
    {"expires now", HS, "{\"sub\":\"u1\",\"exp\":1700000000}", SIG_HS256, V_HS,
     RC_AUTH_TOKEN_EXPIRED, NULL, NULL, NULL, 0, NULL},
    {"expires in a second", HS, "{\"sub\":\"u1\",\"exp\":1700000001}", SIG_HS256, V_HS, RC_AUTH_OK,
     "u1", NULL, "", 1700000001, NULL},
    {"expired within leeway", HS, "{\"sub\":\"u1\",\"exp\":1699999990}", SIG_HS256, V_HS_LEEWAY,
     RC_AUTH_OK, "u1", NULL, "", 1699999990, NULL},
    {"expired just beyond leeway", HS, "{\"sub\":\"u1\",\"exp\":1699999970}", SIG_HS256,
     V_HS_LEEWAY, RC_AUTH_TOKEN_EXPIRED, NULL, NULL, NULL, 0, NULL},
    {"expired, leeway 0", HS, "{\"sub\":\"u1\",\"exp\":1699999990}", SIG_HS256, V_HS,
     RC_AUTH_TOKEN_EXPIRED, NULL, NULL, NULL, 0, NULL},
    {"exp a string", HS, "{\"sub\":\"u1\",\"exp\":\"1700003600\"}", SIG_HS256, V_HS,
     RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL, 0, NULL},
    {"nbf in the future", HS, "{\"sub\":\"u1\",\"nbf\":1700000100}", SIG_HS256, V_HS,
     RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL, 0, "token not yet valid"},
    {"nbf within leeway", HS, "{\"sub\":\"u1\",\"nbf\":1700000020}", SIG_HS256, V_HS_LEEWAY,
     RC_AUTH_OK, "u1", NULL, "", 0, NULL},
    {"nbf now", HS, "{\"sub\":\"u1\",\"nbf\":1700000000}", SIG_HS256, V_HS, RC_AUTH_OK, "u1", NULL,
     "", 0, NULL},
    {"nbf a string", HS, "{\"sub\":\"u1\",\"nbf\":\"0\"}", SIG_HS256, V_HS, RC_AUTH_TOKEN_INVALID,
     NULL, NULL, NULL, 0, NULL},
    {"expired and bad issuer: invalid, not expired", HS,
     "{\"sub\":\"u1\",\"iss\":\"evil\",\"aud\":\"roomcast\","
     "\"exp\":1699990000}",
     SIG_HS256, V_HS_ISS_AUD, RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL, 0, "issuer mismatch"},

    /* iss / aud */
    {"issuer and audience", HS,
     "{\"sub\":\"u1\",\"iss\":\"https://id.example\",\"aud\":\"roomcast\"}", SIG_HS256,
     V_HS_ISS_AUD, RC_AUTH_OK, "u1", NULL, "", 0, NULL},
    {"wrong issuer", HS, "{\"sub\":\"u1\",\"iss\":\"https://evil.example\",\"aud\":\"roomcast\"}",
     SIG_HS256, V_HS_ISS_AUD, RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL, 0, "issuer mismatch"},
    {"missing issuer", HS, "{\"sub\":\"u1\",\"aud\":\"roomcast\"}", SIG_HS256, V_HS_ISS_AUD,
     RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL, 0, "issuer mismatch"},
    {"wrong audience", HS, "{\"sub\":\"u1\",\"iss\":\"https://id.example\",\"aud\":\"billing\"}",
     SIG_HS256, V_HS_ISS_AUD, RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL, 0, "audience mismatch"},
    {"audience array containing it", HS,
     "{\"sub\":\"u1\",\"iss\":\"https://id.example\","
     "\"aud\":[\"billing\",\"roomcast\"]}",
     SIG_HS256, V_HS_ISS_AUD, RC_AUTH_OK, "u1", NULL, "", 0, NULL},
    {"audience array without it", HS,
     "{\"sub\":\"u1\",\"iss\":\"https://id.example\","
     "\"aud\":[\"billing\",1,null]}",
     SIG_HS256, V_HS_ISS_AUD, RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL, 0, "audience mismatch"},
    {"missing audience", HS, "{\"sub\":\"u1\",\"iss\":\"https://id.example\"}", SIG_HS256,
     V_HS_ISS_AUD, RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL, 0, "audience mismatch"},
    {"aud ignored when not configured", HS,
     "{\"sub\":\"u1\",\"aud\":\"anything\",\"iss\":\"anyone\"}", SIG_HS256, V_HS, RC_AUTH_OK, "u1",
     NULL, "", 0, NULL},

    /* sub / name / programs */
    {"no sub", HS, "{\"exp\":1700003600}", SIG_HS256, V_HS, RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL,
     0, "sub missing"},
    {"empty sub", HS, "{\"sub\":\"\"}", SIG_HS256, V_HS, RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL, 0,
     "sub missing"},
    {"numeric sub", HS, "{\"sub\":42}", SIG_HS256, V_HS, RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL, 0,
     "sub missing"},
    {"sub with NUL", HS, "{\"sub\":\"u1\\u0000admin\"}", SIG_HS256, V_HS, RC_AUTH_TOKEN_INVALID,
     NULL, NULL, NULL, 0, NULL},
    {"name not a string", HS, "{\"sub\":\"u1\",\"name\":[\"Ada\"]}", SIG_HS256, V_HS,
     RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL, 0, NULL},
    {"programs a string", HS, "{\"sub\":\"u1\",\"programs\":\"p1\"}", SIG_HS256, V_HS,
     RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL, 0, NULL},
    {"programs with a real", HS, "{\"sub\":\"u1\",\"programs\":[\"p1\",1.5]}", SIG_HS256, V_HS,
     RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL, 0, NULL},
    {"programs with null", HS, "{\"sub\":\"u1\",\"programs\":[null]}", SIG_HS256, V_HS,
     RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL, 0, NULL},
    {"programs with an object", HS, "{\"sub\":\"u1\",\"programs\":[{\"id\":\"p1\"}]}", SIG_HS256,
     V_HS, RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL, 0, NULL},
    {"programs with a bool", HS, "{\"sub\":\"u1\",\"programs\":[true]}", SIG_HS256, V_HS,
     RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL, 0, NULL},
    {"programs with an empty string", HS, "{\"sub\":\"u1\",\"programs\":[\"\"]}", SIG_HS256, V_HS,
     RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL, 0, NULL},
    {"programs with a huge integer", HS, "{\"sub\":\"u1\",\"programs\":[99999999999999999999]}",
     SIG_HS256, V_HS, RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL, 0, NULL},

    /* RS256 */
    {"RS256 valid", RS, "{\"sub\":\"u9\",\"name\":\"Bo\",\"programs\":[7],\"exp\":1700003600}",
     SIG_RS256, V_RS, RC_AUTH_OK, "u9", "Bo", "7", 1700003600, NULL},
    {"RS256 other key", RS, GOOD, SIG_RS256_OTHER, V_RS, RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL, 0,
     "bad signature"},
    {"RS256 expired", RS, "{\"sub\":\"u9\",\"exp\":1}", SIG_RS256, V_RS, RC_AUTH_TOKEN_EXPIRED,
     NULL, NULL, NULL, 0, NULL},
    {"RS256 token to ES256 verifier", RS, GOOD, SIG_RS256, V_ES, RC_AUTH_TOKEN_INVALID, NULL, NULL,
     NULL, 0, "alg mismatch"},

    /* ES256 */
    {"ES256 valid (JOSE R||S)", ES,
     "{\"sub\":\"u7\",\"programs\":[\"a\",\"b\"],\"exp\":1700003600}", SIG_ES256, V_ES, RC_AUTH_OK,
     "u7", NULL, "a,b", 1700003600, NULL},
    {"ES256 without typ", "{\"alg\":\"ES256\"}", GOOD, SIG_ES256, V_ES, RC_AUTH_OK, "u1", NULL, "",
     1700003600, NULL},
    {"ES256 DER signature", ES, GOOD, SIG_ES256_DER, V_ES, RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL,
     0, "bad signature"},
    {"ES256 other key", ES, GOOD, SIG_ES256_OTHER, V_ES, RC_AUTH_TOKEN_INVALID, NULL, NULL, NULL, 0,
     "bad signature"},
    {"ES256 token to RS256 verifier", ES, GOOD, SIG_ES256, V_RS, RC_AUTH_TOKEN_INVALID, NULL, NULL,
     NULL, 0, "alg mismatch"},
};

static void join_programs(const rc_auth_identity *id, rc_buf *out)
{
    rc_buf_reset(out);
    rc_buf_puts(out, "");
    for (size_t i = 0; i < id->nprograms; i++) {
        if (i)
            rc_buf_append(out, ",", 1);
        rc_buf_puts(out, id->programs[i]);
    }
}

static void run_case(const tcase *c, const char *tok)
{
    rc_auth_identity *id = (rc_auth_identity *)1;
    const char *reason = NULL;
    int code = rc_auth_verify(vs[c->v], tok, strlen(tok), NOW, &id, &reason);
    if (code != c->code)
        fprintf(stderr, "  case \"%s\": %s (%s)\n", c->what, rc_auth_code_name(code),
                reason ? reason : "-");
    CHECK_INT(code, c->code);
    CHECK(reason != NULL);
    if (c->reason && reason)
        CHECK_STR(reason, c->reason);
    if (code != RC_AUTH_OK) {
        CHECK(id == NULL);
        return;
    }
    if (c->code != RC_AUTH_OK || !id) {
        rc_auth_identity_free(id);
        return;
    }
    rc_buf progs = {0};
    CHECK_STR(id->sub, c->sub);
    if (c->name)
        CHECK_STR(id->name, c->name);
    else
        CHECK(id->name == NULL);
    join_programs(id, &progs);
    CHECK_STR(progs.p, c->programs);
    CHECK_INT(id->exp, c->exp);
    rc_buf_free(&progs);
    rc_auth_identity_free(id);
}

static void test_table(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const tcase *c = &cases[i];
        char *tok = c->header ? make_token(c->header, c->claims, c->sig)
                              : strdup(c->claims);
        run_case(c, tok);
        free(tok);
    }
}

static void test_missing_and_limits(void)
{
    rc_auth_identity *id = (rc_auth_identity *)1;
    const char *reason = NULL;
    CHECK_INT(rc_auth_verify(vs[V_HS], NULL, 0, NOW, &id, &reason), RC_AUTH_TOKEN_MISSING);
    CHECK(id == NULL);
    CHECK_STR(reason, "no token");
    CHECK_INT(rc_auth_verify(vs[V_HS], "", 0, NOW, &id, NULL), RC_AUTH_TOKEN_MISSING);
    CHECK_INT(rc_auth_verify(vs[V_HS], "abc", 0, NOW, &id, NULL), RC_AUTH_TOKEN_MISSING);

    /* A valid token, not NUL-terminated: only len bytes are read. */
    char *tok = make_token(HS, GOOD, SIG_HS256);
    size_t n = strlen(tok);
    char *exact = malloc(n);
    memcpy(exact, tok, n);
    CHECK_INT(rc_auth_verify(vs[V_HS], exact, n, NOW, &id, NULL), RC_AUTH_OK);
    rc_auth_identity_free(id);
    /* truncated anywhere: never valid */
    for (size_t len = 1; len < n; len++)
        CHECK(rc_auth_verify(vs[V_HS], exact, len, NOW, &id, NULL) == RC_AUTH_TOKEN_INVALID);
    free(exact);
    free(tok);

    /* Over 8 KiB: refused before any decoding, even if genuine. */
    rc_buf big = {0};
    rc_buf_puts(&big, "{\"sub\":\"u1\",\"pad\":\"");
    for (int i = 0; i < 7000; i++)
        rc_buf_append(&big, "x", 1);
    rc_buf_puts(&big, "\"}");
    tok = make_token(HS, big.p, SIG_HS256);
    CHECK(strlen(tok) > 8192);
    CHECK_INT(rc_auth_verify(vs[V_HS], tok, strlen(tok), NOW, &id, &reason), RC_AUTH_TOKEN_INVALID);
    CHECK_STR(reason, "token too long");
    free(tok);
    /* ...and a long one under the limit passes */
    big.len = 4000;
    rc_buf_puts(&big, "\"}");
    tok = make_token(HS, big.p, SIG_HS256);
    CHECK(strlen(tok) < 8192);
    CHECK_INT(rc_auth_verify(vs[V_HS], tok, strlen(tok), NOW, &id, NULL), RC_AUTH_OK);
    rc_auth_identity_free(id);
    free(tok);
    rc_buf_free(&big);

    /* out may be NULL: the code alone */
    tok = make_token(HS, GOOD, SIG_HS256);
    CHECK_INT(rc_auth_verify(vs[V_HS], tok, strlen(tok), NOW, NULL, NULL), RC_AUTH_OK);
    CHECK_INT(rc_auth_verify(vs[V_HS], tok, strlen(tok), 1700003600, NULL, NULL),
              RC_AUTH_TOKEN_EXPIRED);
    free(tok);

    CHECK_STR(rc_auth_code_name(RC_AUTH_TOKEN_MISSING), "TOKEN_MISSING");
    CHECK_STR(rc_auth_code_name(RC_AUTH_TOKEN_INVALID), "TOKEN_INVALID");
    CHECK_STR(rc_auth_code_name(RC_AUTH_TOKEN_EXPIRED), "TOKEN_EXPIRED");
}

/* Tokens produced by libjwt itself verify too. */
static void test_libjwt_tokens(void)
{
    static const struct {
        jwt_alg_t alg;
        EVP_PKEY **key;
        enum vid v;
    } t[] = {
        {JWT_ALG_RS256, &rsa_key, V_RS},
        {JWT_ALG_ES256, &ec_key, V_ES},
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        char *priv = pem_of(*t[i].key, 1);
        jwt_t *jwt = NULL;
        CHECK_INT(jwt_new(&jwt), 0);
        jwt_add_grant(jwt, "sub", "lib-user");
        jwt_add_grant_int(jwt, "exp", 1700003600);
        CHECK_INT(jwt_set_alg(jwt, t[i].alg, (unsigned char *)priv,
                              (int)strlen(priv)), 0);
        char *tok = jwt_encode_str(jwt);
        CHECK(tok != NULL);
        if (tok) {
            rc_auth_identity *id = NULL;
            const char *reason = NULL;
            int code = rc_auth_verify(vs[t[i].v], tok, strlen(tok), NOW, &id, &reason);
            if (code)
                fprintf(stderr, "  libjwt %s: %s\n", jwt_alg_str(t[i].alg),
                        reason);
            CHECK_INT(code, RC_AUTH_OK);
            if (id)
                CHECK_STR(id->sub, "lib-user");
            rc_auth_identity_free(id);
            /* the signature of the other verifier's key does not match */
            CHECK_INT(
                rc_auth_verify(vs[t[i].v == V_RS ? V_ES : V_RS], tok, strlen(tok), NOW, NULL, NULL),
                RC_AUTH_TOKEN_INVALID);
        }
        free(tok);
        jwt_free(jwt);
        free(priv);
    }
}

static void test_sign_hs256(void)
{
    const char *progs[] = {"p1", "p2"};
    char *tok = rc_auth_sign_hs256(SECRET, "demo-user", "Demo User", progs, 2, 1700003600);
    CHECK(tok != NULL);
    if (!tok)
        return;
    rc_auth_identity *id = NULL;
    CHECK_INT(rc_auth_verify(vs[V_HS], tok, strlen(tok), NOW, &id, NULL), RC_AUTH_OK);
    if (id) {
        CHECK_STR(id->sub, "demo-user");
        CHECK_STR(id->name, "Demo User");
        CHECK_INT(id->nprograms, 2);
        if (id->nprograms == 2) {
            CHECK_STR(id->programs[0], "p1");
            CHECK_STR(id->programs[1], "p2");
        }
        CHECK_INT(id->exp, 1700003600);
    }
    rc_auth_identity_free(id);
    /* signed with SECRET: another secret refuses it */
    rc_auth_verifier *other = mk("HS256", "not-the-secret", NULL, NULL, NULL, 0);
    CHECK_INT(rc_auth_verify(other, tok, strlen(tok), NOW, NULL, NULL), RC_AUTH_TOKEN_INVALID);
    rc_auth_verifier_unref(other);
    free(tok);

    /* minimal: no name, no programs, no exp */
    tok = rc_auth_sign_hs256(SECRET, "u2", NULL, NULL, 0, 0);
    CHECK(tok != NULL);
    id = NULL;
    CHECK_INT(rc_auth_verify(vs[V_HS], tok, strlen(tok), NOW, &id, NULL), RC_AUTH_OK);
    if (id) {
        CHECK_STR(id->sub, "u2");
        CHECK(id->name == NULL);
        CHECK_INT(id->nprograms, 0);
        CHECK_INT(id->exp, 0);
    }
    rc_auth_identity_free(id);
    free(tok);

    CHECK(rc_auth_sign_hs256("", "u", NULL, NULL, 0, 0) == NULL);
    CHECK(rc_auth_sign_hs256(SECRET, "", NULL, NULL, 0, 0) == NULL);
}

static void test_construction(void)
{
    static const struct {
        const char *alg, *secret, *key;
        int leeway;
        const char *err_has;
    } bad[] = {
        {"none", SECRET, NULL, 0, "not supported"},
        {"hs256", SECRET, NULL, 0, "not supported"},
        {"HS512", SECRET, NULL, 0, "not supported"},
        {"", SECRET, NULL, 0, "not supported"},
        {NULL, SECRET, NULL, 0, "not supported"},
        {"HS256", "", NULL, 0, "jwt-secret"},
        {"HS256", NULL, NULL, 0, "jwt-secret"},
        {"HS256", SECRET, NULL, -1, "leeway"},
        {"RS256", NULL, NULL, 0, "jwt-public-key"},
        {"RS256", NULL, "/nonexistent/key.pem", 0, "cannot open"},
        {"RS256", NULL, ec_pub_path, 0, "not an RSA"},
        {"ES256", NULL, rsa_pub_path, 0, "not a P-256"},
        {"ES256", NULL, ec384_path, 0, "not a P-256"},
        {"RS256", NULL, rsa1024_path, 0, "2048"},
        {"RS256", NULL, junk_path, 0, "no PEM public key"},
        {"RS256", NULL, rsa_priv_path, 0, "no PEM public key"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char err[256] = "";
        rc_auth_config c = {.alg = bad[i].alg,
                            .secret = bad[i].secret,
                            .public_key_file = bad[i].key,
                            .leeway_s = bad[i].leeway};
        rc_auth_verifier *v = rc_auth_verifier_new(&c, err, sizeof err);
        CHECK(v == NULL);
        if (!strstr(err, bad[i].err_has))
            fprintf(stderr, "  case %zu: errstr \"%s\"\n", i, err);
        CHECK(strstr(err, bad[i].err_has) != NULL);
        rc_auth_verifier_unref(v);
    }
    /* errstr may be NULL */
    rc_auth_config c = {.alg = "none"};
    CHECK(rc_auth_verifier_new(&c, NULL, 0) == NULL);
    rc_auth_verifier_unref(NULL);
    rc_auth_identity_free(NULL);
}

/* An identity built from parts: copies in one block, freed with one call
 * (ASan checks that nothing else was allocated). */
static void test_identity_new(void)
{
    char sub[] = "alice", p1[] = "p1";
    const char *const progs[] = {p1, "program-two", "3"};
    rc_auth_identity *id = rc_auth_identity_new(sub, "Alice", progs, 3, 1700000000);
    CHECK(id != NULL);
    if (!id)
        return;
    sub[0] = p1[0] = 'X'; /* copies, not the caller's strings */
    CHECK_STR(id->sub, "alice");
    CHECK_STR(id->name, "Alice");
    CHECK_INT(id->nprograms, 3);
    CHECK_STR(id->programs[0], "p1");
    CHECK_STR(id->programs[1], "program-two");
    CHECK_STR(id->programs[2], "3");
    CHECK_INT(id->exp, 1700000000);
    rc_auth_identity_free(id);

    id = rc_auth_identity_new("bob", NULL, NULL, 0, 0);
    CHECK(id != NULL);
    if (!id)
        return;
    CHECK_STR(id->sub, "bob");
    CHECK(id->name == NULL && id->programs == NULL);
    CHECK_INT(id->nprograms, 0);
    rc_auth_identity_free(id);
    rc_auth_identity_free(NULL);
}

int main(void)
{
    rsa_key = keygen_rsa(2048);
    rsa_key2 = keygen_rsa(2048);
    ec_key = keygen_ec("P-256");
    ec_key2 = keygen_ec("P-256");
    rsa1024 = keygen_rsa(1024);
    ec384 = keygen_ec("P-384");
    if (!(rsa_key && rsa_key2 && ec_key && ec_key2 && rsa1024 && ec384))
        return CHECK_DONE();

    rsa_pub_pem = pem_of(rsa_key, 0);
    char *ec_pub = pem_of(ec_key, 0), *p1024 = pem_of(rsa1024, 0),
         *p384 = pem_of(ec384, 0), *rsa_priv = pem_of(rsa_key, 1);
    write_file(rsa_pub_path, rsa_pub_pem);
    write_file(ec_pub_path, ec_pub);
    write_file(rsa1024_path, p1024);
    write_file(ec384_path, p384);
    write_file(junk_path, "hello, this is not a key\n");
    write_file(rsa_priv_path, rsa_priv);

    vs[V_HS] = mk("HS256", SECRET, NULL, NULL, NULL, 0);
    vs[V_HS_LEEWAY] = mk("HS256", SECRET, NULL, "", "", 30);
    vs[V_HS_ISS_AUD] = mk("HS256", SECRET, NULL, "https://id.example",
                          "roomcast", 0);
    vs[V_HS_PEM] = mk("HS256", rsa_pub_pem, NULL, NULL, NULL, 0);
    vs[V_RS] = mk("RS256", NULL, rsa_pub_path, NULL, NULL, 0);
    vs[V_ES] = mk("ES256", NULL, ec_pub_path, NULL, NULL, 0);
    int all = 1;
    for (int i = 0; i < V_COUNT; i++)
        all &= vs[i] != NULL;

    test_construction();
    test_identity_new();

    /* From here on no key file exists: verification needs none. */
    unlink(rsa_pub_path);
    unlink(ec_pub_path);
    unlink(rsa1024_path);
    unlink(ec384_path);
    unlink(junk_path);
    unlink(rsa_priv_path);

    if (all) {
        test_table();
        test_missing_and_limits();
        test_libjwt_tokens();
        test_sign_hs256();
    }

    for (int i = 0; i < V_COUNT; i++)
        rc_auth_verifier_unref(vs[i]);
    free(rsa_pub_pem);
    free(ec_pub);
    free(p1024);
    free(p384);
    free(rsa_priv);
    EVP_PKEY *all_keys[] = {rsa_key, rsa_key2, ec_key, ec_key2, rsa1024, ec384};
    for (size_t i = 0; i < sizeof all_keys / sizeof *all_keys; i++)
        EVP_PKEY_free(all_keys[i]);
    return CHECK_DONE();
}
