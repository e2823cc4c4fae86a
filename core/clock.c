/*
 * clock.c - clock_gettime in milliseconds and microseconds.
 */
#include "clock.h"

#include <time.h>

static int64_t ms_of(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t rc_clock_mono_ms(void)
{
    return ms_of(CLOCK_MONOTONIC);
}

int64_t rc_clock_wall_ms(void)
{
    return ms_of(CLOCK_REALTIME);
}

static int64_t us_of(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t rc_clock_mono_us(void)
{
    return us_of(CLOCK_MONOTONIC);
}

int64_t rc_clock_wall_us(void)
{
    return us_of(CLOCK_REALTIME);
}
