/*
 * ratelimit.c - integer token bucket.
 *
 * Implementation notes. Elapsed time is capped before the multiplication so
 * that a socket idle for years cannot overflow: once the bucket would be
 * full, more time changes nothing.
 */
#include "gateway/server/ratelimit.h"

void gw_ratelimit_init(gw_ratelimit *r, int burst, int64_t now_ms)
{
    r->units = (int64_t)(burst > 0 ? burst : 0) * GW_RATELIMIT_UNIT;
    r->last_ms = now_ms;
}

int gw_ratelimit_take(gw_ratelimit *r, int per_minute, int burst, int64_t now_ms)
{
    if (per_minute <= 0)
        return 1;
    int64_t cap = (int64_t)(burst > 0 ? burst : 1) * GW_RATELIMIT_UNIT;
    if (now_ms > r->last_ms) {
        int64_t elapsed = now_ms - r->last_ms;
        int64_t to_full = cap > r->units ? (cap - r->units) / per_minute + 1 : 0;
        if (elapsed > to_full)
            elapsed = to_full;
        r->units += elapsed * per_minute;
        if (r->units > cap)
            r->units = cap;
        r->last_ms = now_ms;
    }
    if (r->units < GW_RATELIMIT_UNIT)
        return 0;
    r->units -= GW_RATELIMIT_UNIT;
    return 1;
}
