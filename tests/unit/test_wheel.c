/*
 * test_wheel.c - the timing wheel (gateway/server/wheel.h) on a clock of
 * the test's: arming, cancelling and moving timers, firing order, the
 * one-tick precision (never early, at most a tick late), callbacks that
 * cancel or re-arm timers due in the same run, a stall longer than a turn,
 * gw_wheel_next_ms, and an idle wheel re-basing on the current time.
 */
#include <stdint.h>
#include <stdlib.h>

#include "gateway/server/wheel.h"
#include "tests/unit/check.h"

/* A timer that records when and in which order it fired. */
typedef struct probe {
    gw_timer t;
    int id;
    int fired;
} probe;

static gw_wheel W; /* 1024 sentinels: keep it off the stack */
static int order[64];
static int norder;

static void probe_cb(gw_timer *t)
{
    probe *p = (probe *)t; /* t is the first member */
    p->fired++;
    if (norder < 64)
        order[norder++] = p->id;
}

static void reset_order(void)
{
    norder = 0;
}

static void test_arm_cancel_rearm(void)
{
    probe a = {.id = 1};
    gw_wheel_init(&W, 0);
    CHECK(!gw_timer_armed(&a.t));
    gw_wheel_arm(&W, &a.t, probe_cb, 100, 0);
    CHECK(gw_timer_armed(&a.t));
    CHECK_INT(W.armed, 1);
    gw_wheel_cancel(&W, &a.t);
    CHECK(!gw_timer_armed(&a.t));
    CHECK_INT(W.armed, 0);
    gw_wheel_cancel(&W, &a.t); /* idle: no-op */
    CHECK_INT(W.armed, 0);
    CHECK_INT(gw_wheel_run(&W, 1000), 0);
    CHECK_INT(a.fired, 0);

    /* re-arming an armed timer moves it, without counting it twice */
    gw_wheel_arm(&W, &a.t, probe_cb, 100, 1000);
    gw_wheel_arm(&W, &a.t, probe_cb, 500, 1000);
    CHECK_INT(W.armed, 1);
    CHECK_INT(gw_wheel_run(&W, 1200), 0);
    CHECK_INT(a.fired, 0);
    CHECK_INT(gw_wheel_run(&W, 1500), 1);
    CHECK_INT(a.fired, 1);
    CHECK(!gw_timer_armed(&a.t));
    CHECK_INT(W.armed, 0);
    /* one-shot: it does not fire again */
    CHECK_INT(gw_wheel_run(&W, 100000), 0);
    CHECK_INT(a.fired, 1);

    /* moved to an earlier deadline */
    gw_wheel_arm(&W, &a.t, probe_cb, 5000, 100000);
    gw_wheel_arm(&W, &a.t, probe_cb, 40, 100000);
    CHECK_INT(gw_wheel_run(&W, 100040), 1);
    CHECK_INT(a.fired, 2);
}

static void test_order(void)
{
    probe p[5] = {{.id = 0}, {.id = 1}, {.id = 2}, {.id = 3}, {.id = 4}};
    int ms[5] = {300, 100, 2000, 20, 200};
    gw_wheel_init(&W, 10000);
    reset_order();
    for (int i = 0; i < 5; i++)
        gw_wheel_arm(&W, &p[i].t, probe_cb, ms[i], 10000);
    /* one run over all their deadlines fires them by deadline */
    CHECK_INT(gw_wheel_run(&W, 20000), 5);
    CHECK_INT(norder, 5);
    int want[5] = {3, 1, 4, 0, 2};
    for (int i = 0; i < 5 && i < norder; i++)
        CHECK_INT(order[i], want[i]);
    CHECK_INT(W.armed, 0);

    /* several due at the same tick all fire in that run */
    reset_order();
    for (int i = 0; i < 5; i++)
        gw_wheel_arm(&W, &p[i].t, probe_cb, 100, 20000);
    CHECK_INT(gw_wheel_run(&W, 20099), 0);
    CHECK_INT(gw_wheel_run(&W, 20100), 5);
    CHECK_INT(norder, 5);
}

/* For a timer armed at `at` for ms: steps the clock by 1 ms from at and
 * returns the first time at which it fired (-1 if never before limit). */
static int64_t first_fire(int64_t at, int ms, int64_t limit)
{
    probe a = {.id = 9};
    gw_wheel_init(&W, at);
    gw_wheel_arm(&W, &a.t, probe_cb, ms, at);
    for (int64_t now = at; now <= limit; now++) {
        gw_wheel_run(&W, now);
        if (a.fired) {
            gw_wheel_cancel(&W, &a.t);
            return now;
        }
    }
    gw_wheel_cancel(&W, &a.t);
    return -1;
}

static void test_precision(void)
{
    const int64_t starts[] = {0, 1, 19, 20, 1007, 123456789};
    const int delays[] = {1, 19, 20, 21, 39, 40, 999, 1000,
                          GW_TICK_MS * GW_WHEEL_SLOTS - 1,
                          GW_TICK_MS * GW_WHEEL_SLOTS + 7, 25000};
    for (size_t i = 0; i < sizeof starts / sizeof *starts; i++) {
        for (size_t j = 0; j < sizeof delays / sizeof *delays; j++) {
            int64_t at = starts[i];
            int ms = delays[j];
            int64_t fired = first_fire(at, ms, at + ms + 2 * GW_TICK_MS);
            /* never before the deadline, at most one tick after it, and
             * never in the run of the arming instant */
            if (!(fired >= at + ms && fired < at + ms + GW_TICK_MS && fired > at)) {
                fprintf(stderr, "armed at %lld for %d ms: fired at %lld\n", (long long)at,
                        ms, (long long)fired);
                CHECK(0);
            } else {
                CHECK(1);
            }
        }
    }
    /* 0 ms: the next tick, a whole tick later from a tick boundary; a
     * negative delay is taken as 0 */
    CHECK_INT(first_fire(1005, 0, 2000), 1020);
    CHECK_INT(first_fire(1020, 0, 2000), 1040);
    CHECK_INT(first_fire(1005, -50, 2000), 1020);
}

/* Callbacks acting on other timers due in the same run. */
static probe *victim, *moved;
static int rearm_ms;
static int64_t cb_now;

static void canceller_cb(gw_timer *t)
{
    probe_cb(t);
    if (victim)
        gw_wheel_cancel(&W, &victim->t);
    if (moved)
        gw_wheel_arm(&W, &moved->t, probe_cb, rearm_ms, cb_now);
}

static void self_rearm_cb(gw_timer *t)
{
    probe_cb(t);
    gw_wheel_arm(&W, t, self_rearm_cb, 0, cb_now);
}

static void test_callbacks_change_due_timers(void)
{
    probe a = {.id = 1}, b = {.id = 2}, c = {.id = 3}, d = {.id = 4};
    gw_wheel_init(&W, 0);
    reset_order();
    /* a fires first (earlier tick); b and c are due in the same run */
    gw_wheel_arm(&W, &a.t, canceller_cb, 20, 0);
    gw_wheel_arm(&W, &b.t, probe_cb, 40, 0);
    gw_wheel_arm(&W, &c.t, probe_cb, 60, 0);
    gw_wheel_arm(&W, &d.t, probe_cb, 60, 0);
    victim = &b;     /* cancelled while already collected as due */
    moved = &c;      /* moved to later while collected as due */
    rearm_ms = 1000;
    cb_now = 100;
    CHECK_INT(gw_wheel_run(&W, 100), 2); /* a and d */
    CHECK_INT(a.fired, 1);
    CHECK_INT(b.fired, 0);
    CHECK_INT(c.fired, 0);
    CHECK_INT(d.fired, 1);
    CHECK(!gw_timer_armed(&b.t));
    CHECK(gw_timer_armed(&c.t));
    CHECK_INT(W.armed, 1);
    CHECK_INT(gw_wheel_run(&W, 1099), 0);
    CHECK_INT(gw_wheel_run(&W, 1100), 1);
    CHECK_INT(c.fired, 1);
    CHECK_INT(W.armed, 0);
    victim = moved = NULL;

    /* a callback re-arming itself with 0 ms fires on the next tick, not
     * again in the same run */
    probe e = {.id = 5};
    gw_wheel_arm(&W, &e.t, self_rearm_cb, 0, 2000);
    cb_now = 2020;
    CHECK_INT(gw_wheel_run(&W, 2020), 1);
    CHECK_INT(e.fired, 1);
    CHECK(gw_timer_armed(&e.t));
    cb_now = 2040;
    CHECK_INT(gw_wheel_run(&W, 2040), 1);
    CHECK_INT(e.fired, 2);
    gw_wheel_cancel(&W, &e.t);
    CHECK_INT(W.armed, 0);
}

static void test_stall(void)
{
    const int turn = GW_TICK_MS * GW_WHEEL_SLOTS;
    probe p[4] = {{.id = 0}, {.id = 1}, {.id = 2}, {.id = 3}};
    gw_wheel_init(&W, 0);
    reset_order();
    gw_wheel_arm(&W, &p[0].t, probe_cb, 100, 0);
    gw_wheel_arm(&W, &p[1].t, probe_cb, 5000, 0);
    gw_wheel_arm(&W, &p[2].t, probe_cb, turn + 3000, 0); /* beyond a turn */
    gw_wheel_arm(&W, &p[3].t, probe_cb, 50 * turn, 0);   /* far beyond the stall */
    /* the loop was stuck for several turns: every due timer fires once */
    CHECK_INT(gw_wheel_run(&W, 5 * (int64_t)turn + 60), 3);
    for (int i = 0; i < 3; i++)
        CHECK_INT(p[i].fired, 1);
    CHECK_INT(p[3].fired, 0);
    CHECK(gw_timer_armed(&p[3].t));
    CHECK_INT(W.armed, 1);
    /* the one not due yet fires at its own deadline, not before */
    CHECK_INT(gw_wheel_run(&W, 50 * (int64_t)turn - 1), 0);
    CHECK_INT(gw_wheel_run(&W, 50 * (int64_t)turn), 1);
    CHECK_INT(p[3].fired, 1);
    CHECK_INT(W.armed, 0);
}

/* After a stall the pass over the buckets wraps round: timers still fire in
 * deadline order, not bucket order. */
static void test_stall_order(void)
{
    probe a = {.id = 1}, b = {.id = 2}, c = {.id = 3};
    gw_wheel_init(&W, 0);
    reset_order();
    gw_wheel_arm(&W, &b.t, probe_cb, 860 * GW_TICK_MS, 0); /* tick 860 */
    gw_wheel_arm(&W, &a.t, probe_cb, 10 * GW_TICK_MS, 0);  /* tick 10 */
    gw_wheel_arm(&W, &c.t, probe_cb, 900 * GW_TICK_MS, 0); /* tick 900 */
    CHECK_INT(gw_wheel_run(&W, 50000LL * GW_TICK_MS), 3);
    CHECK_INT(order[0], 1);
    CHECK_INT(order[1], 2);
    CHECK_INT(order[2], 3);
    CHECK_INT(W.armed, 0);
}

static void test_next_ms(void)
{
    probe a = {.id = 1};
    gw_wheel_init(&W, 1005);
    CHECK_INT(gw_wheel_next_ms(&W), -1);
    gw_wheel_arm(&W, &a.t, probe_cb, 5000, 1005);
    /* the next tick after now */
    CHECK_INT(gw_wheel_next_ms(&W), 1020);
    gw_wheel_run(&W, 1030);
    CHECK_INT(gw_wheel_next_ms(&W), 1040);
    gw_wheel_cancel(&W, &a.t);
    CHECK_INT(gw_wheel_next_ms(&W), -1);
    /* after the last timer fired the wheel is idle again */
    gw_wheel_arm(&W, &a.t, probe_cb, 10, 1030);
    gw_wheel_run(&W, 1040);
    CHECK_INT(a.fired, 1);
    CHECK_INT(gw_wheel_next_ms(&W), -1);
}

static void test_idle_rebase(void)
{
    probe a = {.id = 1}, b = {.id = 2};
    gw_wheel_init(&W, 0);
    /* nothing ran for hours: an idle wheel starts from now when armed */
    const int64_t later = 3 * 3600 * 1000LL + 7;
    gw_wheel_arm(&W, &a.t, probe_cb, 100, later);
    CHECK_INT(gw_wheel_next_ms(&W), (later / GW_TICK_MS + 1) * GW_TICK_MS);
    CHECK_INT(gw_wheel_run(&W, later), 0);
    CHECK_INT(gw_wheel_run(&W, later + 99), 0);
    CHECK_INT(gw_wheel_run(&W, later + 113), 1); /* deadline rounded up to a tick */
    CHECK_INT(a.fired, 1);

    /* an armed wheel does not re-base: a second timer armed late still
     * leaves the first one's catch-up intact */
    gw_wheel_init(&W, 0);
    gw_wheel_arm(&W, &a.t, probe_cb, 40, 0);
    gw_wheel_arm(&W, &b.t, probe_cb, 40, 1000);
    CHECK_INT(gw_wheel_next_ms(&W), GW_TICK_MS);
    CHECK_INT(gw_wheel_run(&W, 1000), 1);
    CHECK_INT(a.fired, 2);
    CHECK_INT(b.fired, 0);
    CHECK_INT(gw_wheel_run(&W, 1040), 1);
    CHECK_INT(b.fired, 1);
}

int main(void)
{
    test_arm_cancel_rearm();
    test_order();
    test_precision();
    test_callbacks_change_due_timers();
    test_stall();
    test_stall_order();
    test_next_ms();
    test_idle_rebase();
    return CHECK_DONE();
}
