/*
 * test_clock.c - the two clocks: the wall clock agrees with time(), the
 * monotonic one never goes back and measures a sleep.
 */
#include <errno.h>
#include <time.h>

#include "check.h"
#include "core/clock.h"

int main(void)
{
    int64_t before = (int64_t)time(NULL) * 1000;
    int64_t wall = rc_clock_wall_ms();
    int64_t after = ((int64_t)time(NULL) + 1) * 1000;
    CHECK(wall >= before && wall <= after);

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
