/*
 * auth.h - JWT verification for Socket.IO CONNECT.
 *
 * A verifier holds everything needed to check a token, prepared once at
 * construction: either one HS256 shared secret, or a set of RS256/ES256
 * public keys (PEM files and/or a JSON Web Key Set file), each with an
 * optional key id (kid). libjwt checks the signature; everything else is
 * checked here: the header's alg must be one of the configured algorithms
 * (no "none", no HS/RS confusion) and must fit the key that verifies it,
 * exp and nbf with leeway, iss and aud when configured, sub present. Claims
 * read: sub (user id), name (optional), programs (optional array of program
 * ids, strings or numbers), exp. Tokens are never logged.
 * A verifier is immutable after construction and reference counted: safe to
 * use from several threads, and replaced as a whole on reload (build a new
 * one, swap the pointer, drop the old reference).
 */
#ifndef RC_AUTH_H
#define RC_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "gateway/roomcast/auth_identity.h"

typedef struct rc_auth_verifier rc_auth_verifier;

/* All strings are borrowed for the duration of rc_auth_verifier_new only. */
typedef struct rc_auth_config {
    /*
     * Accepted algorithms, comma-separated: "HS256" alone, or any non-empty
     * subset of "RS256,ES256". HS256 next to an asymmetric algorithm is
     * refused (a shared secret next to public keys invites key confusion).
     */
    const char *alg;
    const char *secret; /* HS256 only (ignored, with a warning,
                                    for RS256/ES256) */
    /*
     * RS256/ES256: comma-separated PEM public key files ("-----BEGIN PUBLIC
     * KEY-----", or a certificate whose key alone is used; one key per
     * file, at most 64 KiB; whitespace around commas ignored). A
     * key's kid is its file name without directory and extension
     * ("/etc/roomcast/keys/2026-11.pem" -> "2026-11"); its type decides
     * its algorithm (RSA >= 2048 bits -> RS256, EC P-256 -> ES256), which
     * must be in alg. NULL or "" = none.
     */
    const char *public_key_file;
    const char *issuer;   /* NULL or "" = not checked */
    const char *audience; /* NULL or "" = not checked */
    int leeway_s;         /* >= 0, applies to exp and nbf */
    /*
     * RS256/ES256: JSON Web Key Set file (RFC 7517, {"keys":[...]}).
     * RSA keys and EC P-256 keys are used; keys whose "use" is not "sig",
     * whose "key_ops" lacks "verify", whose kty/crv is not supported or
     * whose algorithm is not in alg are skipped with a warning. A key
     * without kid only matches tokens without kid. At most 1 MiB.
     * NULL or "" = none.
     * At least one key (PEM or JWKS) is required for RS256/ES256; kids are
     * unique across both sources.
     */
    const char *jwks_file;
} rc_auth_config;

enum rc_auth_code {
    RC_AUTH_OK = 0,
    RC_AUTH_TOKEN_MISSING = -1,
    RC_AUTH_TOKEN_INVALID = -2,
    RC_AUTH_TOKEN_EXPIRED = -3,
};


/*
 * Builds a verifier with one reference, reading the key files now (this is
 * blocking file I/O: call it at startup or off the gateway loop). Returns
 * NULL and fills errstr (may be NULL) on any configuration error: unknown
 * or mixed algorithms, missing secret or keys, key files given with HS256,
 * unreadable or malformed key files, a JWKS without a usable key, a key of
 * an algorithm not configured, RSA keys under 2048 bits, duplicate kids,
 * more than 64 keys. Skipped JWKS keys, a configured algorithm without any
 * key and a secret ignored next to public keys are logged as warnings
 * (facility "auth", keys by kid), never key material.
 */
rc_auth_verifier *rc_auth_verifier_new(const rc_auth_config *cfg, char *errstr, size_t errlen);

/* Adds a reference (v may be NULL); returns v. Thread-safe. */
rc_auth_verifier *rc_auth_verifier_ref(rc_auth_verifier *v);

/*
 * Drops one reference (v may be NULL); the last one frees the verifier.
 * Thread-safe: a user that took a reference keeps an old verifier alive
 * across a reload swap.
 */
void rc_auth_verifier_unref(rc_auth_verifier *v);

/* Number of keys: 1 for HS256 (the secret), else the public keys loaded. */
size_t rc_auth_verifier_key_count(const rc_auth_verifier *v);

/*
 * One line for the log, owned by v: "HS256 with a shared secret", or
 * "RS256,ES256 with 3 keys: 2026-10, 2026-11, kc-abc" (a key without kid
 * shows as "(no kid)"), followed by "; issuer ..." and "; audience ..."
 * when those are checked. Never key material.
 */
const char *rc_auth_verifier_describe(const rc_auth_verifier *v);

/*
 * Verifies token (may be NULL or empty -> RC_AUTH_TOKEN_MISSING) at time now
 * (seconds since epoch). On RC_AUTH_OK *out (out may be NULL) is a new identity
 * owned by the caller; otherwise *out is NULL. On failure *reason (may be
 * NULL) gets a static one-line reason for the log ("bad signature", "alg
 * mismatch", "unknown kid", ...), never token content. Tokens over 8 KiB
 * are invalid.
 * Key selection (RS256/ES256): a token whose header has "kid" is checked
 * with exactly the key of that kid, whose algorithm must equal the header's
 * alg; a token without kid is checked with each key of the header's alg in
 * configuration order (PEM files, then JWKS), at most 16 of them, and the
 * first that verifies wins. HS256 ignores kid.
 * exp is optional; RC_AUTH_TOKEN_EXPIRED is only returned for a token that is
 * valid in every other respect. Program ids that are JSON integers come back
 * as decimal strings. No file or configuration parsing happens here. The
 * identity in *out is the caller's (rc_auth_identity_free).
 */
int rc_auth_verify(const rc_auth_verifier *v, const char *token, size_t len, int64_t now,
                   rc_auth_identity **out, const char **reason);

/* "TOKEN_MISSING" | "TOKEN_INVALID" | "TOKEN_EXPIRED" */
const char *rc_auth_code_name(int code);

/* HS256 token for demo and tests; returns a malloc'ed string or NULL. */
char *rc_auth_sign_hs256(const char *secret, const char *sub, const char *name,
                         const char *const *programs, size_t nprograms, int64_t exp);

#endif
