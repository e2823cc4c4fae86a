/*
 * auth_identity.c - a token's identity in one block.
 *
 * Implementation notes: the block is the struct, then the program
 * pointers (aligned, since the struct's size is a multiple of a
 * pointer's), then the strings, each with its NUL: sub, name, the program
 * ids in order. It is sized in a first pass over the strings and filled in
 * a second.
 */
#include "gateway/roomcast/auth_identity.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(rc_auth_identity) % _Alignof(char *) == 0,
               "the program pointers follow the struct");

static const char *array_program(const void *list, size_t i, char *num)
{
    (void)num;
    return ((const char *const *)list)[i];
}

/* Copies s to *at and moves *at past it; returns the copy. */
static char *put(char **at, const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = memcpy(*at, s, n);
    *at += n;
    return copy;
}

rc_auth_identity *rc_auth_identity_build(const char *sub, const char *name, size_t n,
                                         rc_auth_identity_program_fn program, const void *list,
                                         int64_t exp)
{
    char num[32];
    size_t bytes = strlen(sub) + 1 + (name ? strlen(name) + 1 : 0);
    for (size_t i = 0; i < n; i++)
        bytes += strlen(program(list, i, num)) + 1;
    if (n > (SIZE_MAX - sizeof(rc_auth_identity) - bytes) / sizeof(char *))
        return NULL;
    rc_auth_identity *id = calloc(1, sizeof *id + n * sizeof(char *) + bytes);
    if (!id)
        return NULL;
    char *at = (char *)(id + 1) + n * sizeof(char *);
    id->sub = put(&at, sub);
    id->name = name ? put(&at, name) : NULL;
    id->programs = n ? (char **)(id + 1) : NULL;
    for (size_t i = 0; i < n; i++)
        id->programs[i] = put(&at, program(list, i, num));
    id->nprograms = n;
    id->exp = exp;
    return id;
}

rc_auth_identity *rc_auth_identity_new(const char *sub, const char *name,
                                       const char *const *programs, size_t nprograms,
                                       int64_t exp)
{
    return rc_auth_identity_build(sub, name, nprograms, array_program, programs, exp);
}

void rc_auth_identity_free(rc_auth_identity *id)
{
    free(id);
}
