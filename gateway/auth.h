/*
 * auth.h - JWT verification for Socket.IO CONNECT.
 *
 * libjwt checks the signature; everything else is checked here: the header's
 * alg must be exactly the configured one (no "none", no HS/RS confusion),
 * exp and nbf with leeway, iss and aud when configured, sub present. Claims
 * read: sub (user id), name (optional), programs (optional array of program
 * ids, strings or numbers), exp. Tokens are never logged.
 * A verifier is read-only after construction: safe across threads.
 */
#ifndef RC_AUTH_H
#define RC_AUTH_H

#include <stddef.h>
#include <stdint.h>

typedef struct auth_verifier auth_verifier;

typedef struct auth_config {
    const char *alg;             /* "HS256" | "RS256" | "ES256" */
    const char *secret;          /* HS256 */
    const char *public_key_file; /* RS256/ES256, PEM */
    const char *issuer;          /* NULL or "" = not checked */
    const char *audience;        /* NULL or "" = not checked */
    int leeway_s;
} auth_config;

enum auth_code {
    AUTH_OK = 0,
    AUTH_TOKEN_MISSING = -1,
    AUTH_TOKEN_INVALID = -2,
    AUTH_TOKEN_EXPIRED = -3,
};

typedef struct auth_identity {
    char *sub;        /* owned */
    char *name;       /* owned, may be NULL */
    char **programs;  /* owned */
    size_t nprograms;
    int64_t exp;      /* seconds since epoch, 0 if the token has none */
} auth_identity;

auth_verifier *auth_verifier_new(const auth_config *cfg, char *errstr,
                                 size_t errlen);
void auth_verifier_destroy(auth_verifier *v);

/*
 * Verifies token (may be NULL or empty -> AUTH_TOKEN_MISSING) at time now
 * (seconds since epoch). On AUTH_OK *out (out may be NULL) is a new identity
 * owned by the caller; otherwise *out is NULL. On failure *reason (may be
 * NULL) gets a static one-line reason for the log ("bad signature", "alg
 * mismatch", ...), never token content. Tokens over 8 KiB are invalid. exp
 * is optional; AUTH_TOKEN_EXPIRED is only returned for a token that is valid
 * in every other respect. Program ids that are JSON integers come back as
 * decimal strings.
 */
int auth_verify(const auth_verifier *v, const char *token, size_t len,
                int64_t now, auth_identity **out, const char **reason);
void auth_identity_free(auth_identity *id);

/* "TOKEN_MISSING" | "TOKEN_INVALID" | "TOKEN_EXPIRED" */
const char *auth_code_name(int code);

/* HS256 token for demo and tests; returns a malloc'ed string or NULL. */
char *auth_sign_hs256(const char *secret, const char *sub, const char *name,
                      const char *const *programs, size_t nprograms,
                      int64_t exp);

#endif
