/*
 * wheel.c - the timing wheel (wheel.h).
 *
 * Implementation notes. The buckets are circular doubly linked lists with
 * sentinels, indexed by tick modulo GW_WHEEL_SLOTS. Running moves the due
 * timers of each elapsed tick to a local list first (in deadline order,
 * also after a stall of more than a turn), then fires them one at a time
 * from its head, so a callback can cancel or re-arm any of them
 * safely. An idle wheel (nothing armed) jumps to the current tick when a
 * timer is armed, so it never replays ticks that nothing waited for.
 */
#include "gateway/server/wheel.h"

static uint64_t tick_of(int64_t ms)
{
    return ms > 0 ? (uint64_t)ms / GW_TICK_MS : 0;
}

void gw_wheel_init(gw_wheel *w, int64_t now_ms)
{
    for (size_t i = 0; i < GW_WHEEL_SLOTS; i++)
        w->slots[i].prev = w->slots[i].next = &w->slots[i];
    w->tick = tick_of(now_ms);
    w->armed = 0;
}

static void timer_unlink(gw_timer *t)
{
    t->prev->next = t->next;
    t->next->prev = t->prev;
    t->prev = t->next = NULL;
}

static void timer_push(gw_timer *head, gw_timer *t)
{
    t->prev = head->prev;
    t->next = head;
    head->prev->next = t;
    head->prev = t;
}

void gw_wheel_cancel(gw_wheel *w, gw_timer *t)
{
    if (!t->next)
        return;
    timer_unlink(t);
    w->armed--;
}

void gw_wheel_arm(gw_wheel *w, gw_timer *t, void (*cb)(gw_timer *t), int ms, int64_t now_ms)
{
    gw_wheel_cancel(w, t);
    if (!w->armed)
        w->tick = tick_of(now_ms); /* idle: nothing to catch up on */
    int64_t at = now_ms + (ms > 0 ? ms : 0);
    uint64_t due = at > 0 ? ((uint64_t)at + GW_TICK_MS - 1) / GW_TICK_MS : 0;
    if (due <= w->tick)
        due = w->tick + 1;
    t->due = due;
    t->cb = cb;
    timer_push(&w->slots[due % GW_WHEEL_SLOTS], t);
    w->armed++;
}

size_t gw_wheel_run(gw_wheel *w, int64_t now_ms)
{
    uint64_t now = tick_of(now_ms);
    gw_timer due = {.prev = &due, .next = &due};
    size_t fired = 0;

    if (now > w->tick && now - w->tick > GW_WHEEL_SLOTS) {
        /* Stalled for more than a turn: every bucket is visited once, and
         * the timers due are put in deadline order, which the bucket order
         * of a wrapped pass is not. Rare, so a sorted insertion will do. */
        w->tick = now;
        for (size_t i = 0; i < GW_WHEEL_SLOTS; i++) {
            gw_timer *b = &w->slots[i], *t, *nx;
            for (t = b->next; t != b; t = nx) {
                nx = t->next;
                if (t->due > now)
                    continue;
                timer_unlink(t);
                gw_timer *at = due.next;
                while (at != &due && at->due <= t->due)
                    at = at->next;
                timer_push(at, t); /* before at */
            }
        }
    }
    while (w->tick < now) {
        w->tick++;
        gw_timer *b = &w->slots[w->tick % GW_WHEEL_SLOTS], *t, *nx;
        for (t = b->next; t != b; t = nx) {
            nx = t->next;
            if (t->due <= w->tick) {
                timer_unlink(t);
                timer_push(&due, t);
            }
        }
    }
    while (due.next != &due) {
        gw_timer *t = due.next;
        timer_unlink(t);
        w->armed--;
        fired++;
        t->cb(t);
    }
    return fired;
}

int64_t gw_wheel_next_ms(const gw_wheel *w)
{
    return w->armed ? (int64_t)(w->tick + 1) * GW_TICK_MS : -1;
}
