/*
 * ratelimit.h - a token bucket in integer arithmetic, for the per-socket
 * limit on client events.
 *
 * A bucket holds at most `burst` tokens and gains `per_minute` tokens per
 * minute; each event takes one. Amounts are kept in 1/60000 of a token, so
 * one millisecond adds exactly per_minute units and nothing is lost to
 * rounding. No clock is read here: callers pass the time (milliseconds,
 * monotonic), which keeps the bucket testable. Plain value type, no
 * allocation.
 */
#ifndef GW_RATELIMIT_H
#define GW_RATELIMIT_H

#include <stdint.h>

#define GW_RATELIMIT_UNIT 60000 /* units per token */

typedef struct gw_ratelimit {
    int64_t units;   /* tokens available, in 1/GW_RATELIMIT_UNIT */
    int64_t last_ms; /* time of the last refill */
} gw_ratelimit;

/* A full bucket of burst tokens at now_ms. */
void gw_ratelimit_init(gw_ratelimit *r, int burst, int64_t now_ms);

/*
 * Refills for the time elapsed since the last call (a clock going backwards
 * adds nothing), then takes one token. Returns 1 when a token was taken, 0
 * when the bucket is empty. per_minute <= 0 means no limit (always 1).
 */
int gw_ratelimit_take(gw_ratelimit *r, int per_minute, int burst, int64_t now_ms);

#endif
