/*
 * clock.h - the two clocks, in milliseconds (and microseconds for timings).
 *
 * Monotonic time for deadlines, timeouts and backoffs (it never jumps when
 * the system clock is set); wall-clock time for what is compared with
 * timestamps from elsewhere (event times, TTLs shared through Redis, logs).
 */
#ifndef RC_CLOCK_H
#define RC_CLOCK_H

#include <stdint.h>

/* Milliseconds on CLOCK_MONOTONIC: only differences mean anything. */
int64_t rc_clock_mono_ms(void);

/* Milliseconds since 1970-01-01T00:00:00Z (CLOCK_REALTIME). */
int64_t rc_clock_wall_ms(void);

/* The same two clocks in microseconds, for durations and latencies the
 * metrics observe. */
int64_t rc_clock_mono_us(void);
int64_t rc_clock_wall_us(void);

#endif
