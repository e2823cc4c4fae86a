/*
 * rand.h - randomness from the kernel (getrandom), for ids that must not be
 * guessable or must not collide: event ids, history epochs.
 */
#ifndef RC_RAND_H
#define RC_RAND_H

#include <stddef.h>

/* Fills buf with len random bytes. Returns 0, or -1 if the kernel refused. */
int rc_random_bytes(void *buf, size_t len);

/* A random UUID v4, "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" + NUL. 0 or -1. */
int rc_uuid4(char out[37]);

/* nbytes random bytes as 2 * nbytes lower-case hex digits + NUL. 0 or -1. */
int rc_random_hex(char *out, size_t nbytes);

#endif
