/*
 * auth_identity.h - who a verified token says the client is: its subject,
 * name and program ids (auth.h verifies the token and builds one). One is
 * kept for each connected socket, so it is one allocation: the struct, the
 * program pointers and every string, freed with rc_auth_identity_free().
 * Pure; any thread.
 */
#ifndef RC_AUTH_IDENTITY_H
#define RC_AUTH_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

typedef struct rc_auth_identity {
    char *sub;       /* in the block */
    char *name;      /* in the block, may be NULL */
    char **programs; /* in the block, NULL when nprograms is 0 */
    size_t nprograms;
    int64_t exp; /* seconds since epoch, 0 if the token has none */
} rc_auth_identity;

/* An identity with copies of sub, name (may be NULL) and the nprograms
 * program ids; NULL when out of memory. */
rc_auth_identity *rc_auth_identity_new(const char *sub, const char *name,
                                       const char *const *programs, size_t nprograms,
                                       int64_t exp);

/* Program id i of list, which the caller knows how to read; num is room
 * for one the function formats (32 bytes). Never NULL for i < n. */
typedef const char *(*rc_auth_identity_program_fn)(const void *list, size_t i, char *num);

/* rc_auth_identity_new() with the n program ids read through program (each
 * is read twice: once to size the block, once to copy it). */
rc_auth_identity *rc_auth_identity_build(const char *sub, const char *name, size_t n,
                                         rc_auth_identity_program_fn program, const void *list,
                                         int64_t exp);

void rc_auth_identity_free(rc_auth_identity *id);

#endif
