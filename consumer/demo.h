/*
 * demo.h - the demo producer.
 *
 * Writes a plausible stream of mutations (memberships first, then requests,
 * comments, attachments and jobs for a few programs and users) to the
 * catalog's topics, as Avro in rotating framings, on a thread of its own.
 * Users: alice, bob, carol; programs: p1, p2, p3.
 */
#ifndef RC_DEMO_H
#define RC_DEMO_H

#include <stddef.h>

#include "catalog.h"

typedef struct rc_demo rc_demo;

/* cat borrowed. Starts producing at once. NULL with errstr on failure. */
rc_demo *rc_demo_new(const char *brokers, const rc_catalog *cat,
                     const char *schemas_dir, int interval_ms, char *errstr,
                     size_t errlen);
/* Stops the thread, flushes, frees. */
void rc_demo_destroy(rc_demo *d);

#endif
