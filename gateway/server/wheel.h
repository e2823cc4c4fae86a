/*
 * wheel.h - a timing wheel: one-shot timers armed, moved and cancelled in
 * O(1), for the server's per-session heartbeats, CONNECT deadlines and the
 * applications' per-socket timers.
 *
 * Sessions arm two timers each and re-arm one on every pong, so a sorted
 * timer list (lws keeps one, with linear insertion) would cost a walk over
 * every session per heartbeat. The wheel is GW_WHEEL_SLOTS buckets, one per
 * GW_TICK_MS; a deadline beyond one turn stays in its bucket until its tick
 * comes round. Precision is one tick.
 *
 * The wheel reads no clock and schedules nothing: every call takes now (a
 * monotonic time in ms) and the owner calls gw_wheel_run() when
 * gw_wheel_next_ms() comes, so tests drive it with a clock of their own.
 * Not thread-safe: one thread owns a wheel.
 */
#ifndef GW_WHEEL_H
#define GW_WHEEL_H

#include <stddef.h>
#include <stdint.h>

#define GW_TICK_MS 20
#define GW_WHEEL_SLOTS 1024

/* A timer, embedded in its owner (zeroed = idle). */
typedef struct gw_timer {
    struct gw_timer *prev, *next; /* circular bucket list; NULL when idle */
    uint64_t due;                 /* tick at which it fires */
    void (*cb)(struct gw_timer *t);
} gw_timer;

typedef struct gw_wheel {
    gw_timer slots[GW_WHEEL_SLOTS]; /* bucket sentinels */
    uint64_t tick;                  /* last tick processed */
    size_t armed;                   /* timers armed */
} gw_wheel;

/* Empty buckets, the current tick taken from now_ms. */
void gw_wheel_init(gw_wheel *w, int64_t now_ms);

/* Arms t to call cb(t) ms after now_ms (at least one tick later); arming an
 * armed timer moves it. */
void gw_wheel_arm(gw_wheel *w, gw_timer *t, void (*cb)(gw_timer *t), int ms, int64_t now_ms);

/* Disarms t; no-op when idle. */
void gw_wheel_cancel(gw_wheel *w, gw_timer *t);

/* 1 when t is armed. */
static inline int gw_timer_armed(const gw_timer *t)
{
    return t->next != NULL;
}

/*
 * Fires every timer due at or before now_ms, in tick order. A callback may
 * arm or cancel any timer, the others due at the same tick included. After
 * a stall longer than a turn each bucket is visited once. Returns how many
 * fired.
 */
size_t gw_wheel_run(gw_wheel *w, int64_t now_ms);

/* When gw_wheel_run() next has work: the monotonic ms of the next tick, or
 * -1 when no timer is armed. */
int64_t gw_wheel_next_ms(const gw_wheel *w);

#endif
