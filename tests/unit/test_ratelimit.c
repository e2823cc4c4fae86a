/*
 * test_ratelimit.c - the integer token bucket of the client event limit.
 */
#include <stdint.h>

#include "gateway/server/ratelimit.h"
#include "tests/unit/check.h"

static void test_burst_then_refill(void)
{
    gw_ratelimit r;
    gw_ratelimit_init(&r, 3, 1000);
    /* a full bucket serves the burst at once, then nothing */
    CHECK_INT(gw_ratelimit_take(&r, 60, 3, 1000), 1);
    CHECK_INT(gw_ratelimit_take(&r, 60, 3, 1000), 1);
    CHECK_INT(gw_ratelimit_take(&r, 60, 3, 1000), 1);
    CHECK_INT(gw_ratelimit_take(&r, 60, 3, 1000), 0);
    /* 60 per minute = one per second: 999 ms is not enough, 1000 is */
    CHECK_INT(gw_ratelimit_take(&r, 60, 3, 1999), 0);
    CHECK_INT(gw_ratelimit_take(&r, 60, 3, 2000), 1);
    CHECK_INT(gw_ratelimit_take(&r, 60, 3, 2000), 0);
    /* a long pause refills to the burst, never beyond */
    CHECK_INT(gw_ratelimit_take(&r, 60, 3, 3600000), 1);
    CHECK_INT(gw_ratelimit_take(&r, 60, 3, 3600000), 1);
    CHECK_INT(gw_ratelimit_take(&r, 60, 3, 3600000), 1);
    CHECK_INT(gw_ratelimit_take(&r, 60, 3, 3600000), 0);
}

static void test_fractions_accumulate(void)
{
    gw_ratelimit r;
    gw_ratelimit_init(&r, 2, 0);
    CHECK_INT(gw_ratelimit_take(&r, 7, 2, 0), 1);
    CHECK_INT(gw_ratelimit_take(&r, 7, 2, 0), 1);
    /* 7 per minute: a token every 8571.4 ms, built from 1 ms steps (the
     * bucket never fills up, so no fraction is lost) */
    int got = 0;
    for (int64_t t = 1; t <= 60000; t++)
        got += gw_ratelimit_take(&r, 7, 2, t);
    CHECK_INT(got, 7);
}

static void test_clock_backwards_and_unlimited(void)
{
    gw_ratelimit r;
    gw_ratelimit_init(&r, 1, 5000);
    CHECK_INT(gw_ratelimit_take(&r, 60, 1, 5000), 1);
    CHECK_INT(gw_ratelimit_take(&r, 60, 1, 1000), 0); /* earlier: adds nothing */
    CHECK_INT(gw_ratelimit_take(&r, 60, 1, 5999), 0);
    CHECK_INT(gw_ratelimit_take(&r, 60, 1, 6000), 1);
    for (int i = 0; i < 1000; i++)
        CHECK_INT(gw_ratelimit_take(&r, 0, 0, 6000), 1);
    /* idle for a very long time: no overflow */
    gw_ratelimit_init(&r, 2, 0);
    CHECK_INT(gw_ratelimit_take(&r, 1000000, 2, INT64_MAX / 2), 1);
    CHECK_INT(gw_ratelimit_take(&r, 1000000, 2, INT64_MAX / 2), 1);
    CHECK_INT(gw_ratelimit_take(&r, 1000000, 2, INT64_MAX / 2), 0);
}

int main(void)
{
    test_burst_then_refill();
    test_fractions_accumulate();
    test_clock_backwards_and_unlimited();
    return CHECK_DONE();
}
