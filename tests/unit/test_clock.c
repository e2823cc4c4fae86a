/*
 * test_clock.c - the two clocks: the wall clock agrees with
 * clock_gettime(CLOCK_REALTIME) read around it (not time(), which reads
 * the coarse clock and can lag a few ms behind), the monotonic one never
 * goes back and measures a sleep.
 */
#include <errno.h>
#include <time.h>

#include "check.h"
#include "core/clock.h"

int main(void)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_REALTIME, &t0);
    int64_t wall = rc_clock_wall_ms();
    clock_gettime(CLOCK_REALTIME, &t1);
    int64_t before = (int64_t)t0.tv_sec * 1000 + t0.tv_nsec / 1000000;
    int64_t after = (int64_t)t1.tv_sec * 1000 + t1.tv_nsec / 1000000;
    CHECK(wall >= before && wall <= after);
    CHECK(before > 1600000000000LL); /* milliseconds since the epoch */

    int64_t m0 = rc_clock_mono_ms(), prev = m0;
    int back = 0;
    for (int i = 0; i < 100000; i++) {
        int64_t m = rc_clock_mono_ms();
        back += m < prev;
        prev = m;
    }
    CHECK_INT(back, 0);
    struct timespec ts = {0, 120 * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    int64_t slept = rc_clock_mono_ms() - m0;
    CHECK(slept >= 120 && slept < 5000);
    /* not the same clock: the monotonic one does not count from 1970 */
    CHECK(rc_clock_wall_ms() - rc_clock_mono_ms() > INT64_C(365) * 86400 * 1000);
    return CHECK_DONE();
}
