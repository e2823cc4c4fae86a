/*
 * test_hold.c - holds and replay floors (gateway/server/hold.c) on the fake
 * transport (gw_fake.h): a held socket keeps its share of broadcasts (once
 * per broadcast, in order) while other sockets get them at once; releasing
 * with deliver sends them after what the socket was sent directly; a floor
 * (app->offset_covered) skips the events the replay covered, held or
 * broadcast later, until one is past it; releasing without deliver drops
 * them; a hold that overflows queue-max, or whose frames do not fit, closes
 * the session as slow on release; a pending socket can be held; a socket
 * going away frees what its hold kept.
 */
#include <stdlib.h>
#include <string.h>

#include "tests/unit/check.h"
#include "tests/unit/gw_fake.h"

static int pend; /* leave CONNECTs pending */
static gw_socket *last_sk;
static int covered_calls;

static void app_connect(void *ud, gw_socket *sk, const gw_handshake *hs)
{
    (void)ud;
    (void)hs;
    last_sk = sk;
    if (!pend)
        gw_socket_accept(sk, NULL);
}

static void app_event(void *ud, gw_socket *sk, const gw_event *ev)
{
    (void)ud;
    (void)sk;
    (void)ev;
}

/* Offsets "<epoch>-<seq>": covered when same epoch and seq <= the floor's. */
static int app_covered(void *ud, const char *offset, const char *floor)
{
    (void)ud;
    covered_calls++;
    const char *a = strchr(offset, '-'), *b = strchr(floor, '-');
    if (!a || !b || a - offset != b - floor || strncmp(offset, floor, (size_t)(a - offset)))
        return 0;
    return strtoull(a + 1, NULL, 10) <= strtoull(b + 1, NULL, 10);
}

static const gw_app app = {
    .on_connect = app_connect,
    .on_event = app_event,
    .offset_covered = app_covered,
};

static const gw_app app_no_floor = {
    .on_connect = app_connect,
    .on_event = app_event,
};

static const char *const R[] = {"r", "r2"};

static gw_socket *joined(gw_server *gw, fake_conn *conn, gw_session **out)
{
    gw_session *s = fake_ws_session(gw, conn);
    last_sk = NULL;
    fake_feed(s, conn, "40");
    fake_drain(s);
    if (last_sk)
        gw_socket_join(last_sk, "r");
    *out = s;
    return last_sk;
}

/* Broadcasts "ev" (argument 1) with offset to room "r". */
static long bc(gw_server *gw, const char *offset)
{
    return gw_broadcast(gw, R, 1, "ev", "1", 1, offset, -1);
}

static char expect[128];
static const char *ev(const char *offset)
{
    if (offset[0])
        snprintf(expect, sizeof expect, "42[\"ev\",1,\"%s\"]", offset);
    else
        snprintf(expect, sizeof expect, "42[\"ev\",1]");
    return expect;
}

static void test_hold_and_deliver(void)
{
    gw_options o = fake_options(&app);
    gw_server *gw = fake_server(&o);
    pend = 0;
    fake_conn wa = {0}, wb = {0};
    gw_session *sa, *sb;
    gw_socket *a = joined(gw, &wa, &sa);
    joined(gw, &wb, &sb);
    gw_socket_join(a, "r2");
    CHECK_INT(gw_hold_start(a), 0);
    CHECK_INT(gw_hold_start(a), -1); /* already held */

    /* a keeps them (once even though it is in both rooms); b gets them */
    CHECK_INT(bc(gw, "e-1"), 1);
    CHECK_INT(gw_broadcast(gw, R, 2, "ev", "1", 1, "e-2", -1), 1);
    CHECK_INT(bc(gw, "e-3"), 1);
    CHECK_INT(gw_hold_count(a), 3);
    CHECK(fake_pop(sa) == NULL);
    CHECK_INT(fake_drain(sb), 3);
    CHECK_INT(gw_socket_queue_room(a), 16 - 3);

    /* what the replay sends goes out at once */
    CHECK_INT(gw_socket_send_event(a, "old", "{\"x\":0}", 7, "e-0"), 0);
    CHECK_INT(gw_socket_queue_room(a), 16 - 4);
    CHECK_INT(gw_hold_release(a, NULL, 1), 0);
    CHECK_STR(fake_pop(sa), "42[\"old\",{\"x\":0},\"e-0\"]");
    CHECK_STR(fake_pop(sa), ev("e-1"));
    CHECK_STR(fake_pop(sa), ev("e-2"));
    CHECK_STR(fake_pop(sa), ev("e-3"));
    CHECK(fake_pop(sa) == NULL);
    CHECK(a->hold == NULL);
    CHECK_INT(gw_hold_release(a, NULL, 1), -1); /* no hold any more */
    /* and broadcasts flow again */
    CHECK_INT(bc(gw, "e-4"), 2);
    CHECK_STR(fake_pop(sa), ev("e-4"));
    gw_server_free_core(gw);
}

static void test_floor(void)
{
    gw_options o = fake_options(&app);
    gw_server *gw = fake_server(&o);
    pend = 0;
    fake_conn wa = {0};
    gw_session *sa;
    gw_socket *a = joined(gw, &wa, &sa);

    /* held events the replay covered (up to e-4) are skipped, transient
     * ones are always sent */
    gw_hold_start(a);
    bc(gw, "e-3");
    bc(gw, "e-4");
    bc(gw, "");
    bc(gw, "e-5");
    bc(gw, "e-6");
    CHECK_INT(gw_hold_release(a, "e-4", 1), 0);
    CHECK_STR(fake_pop(sa), ev(""));
    CHECK_STR(fake_pop(sa), ev("e-5"));
    CHECK_STR(fake_pop(sa), ev("e-6"));
    CHECK(fake_pop(sa) == NULL);

    /* the replay covered everything held, and more: later broadcasts are
     * checked too, until the first one past the floor */
    gw_hold_start(a);
    bc(gw, "e-7");
    bc(gw, "e-8");
    CHECK_INT(gw_hold_release(a, "e-9", 1), 0);
    CHECK(fake_pop(sa) == NULL);
    CHECK(a->hold != NULL); /* floored */
    CHECK_INT(bc(gw, "e-9"), 0);
    CHECK(fake_pop(sa) == NULL);
    CHECK_INT(bc(gw, ""), 1);
    CHECK_STR(fake_pop(sa), ev(""));
    CHECK(a->hold != NULL); /* a transient event says nothing of offsets */
    CHECK_INT(bc(gw, "e-10"), 1);
    CHECK_STR(fake_pop(sa), ev("e-10"));
    CHECK(a->hold == NULL); /* past the floor: dropped */
    covered_calls = 0;
    CHECK_INT(bc(gw, "e-2"), 1); /* no floor: not even asked */
    CHECK_INT(covered_calls, 0);
    CHECK_STR(fake_pop(sa), ev("e-2"));

    /* another epoch is never covered */
    gw_hold_start(a);
    CHECK_INT(gw_hold_release(a, "e-20", 1), 0);
    CHECK_INT(bc(gw, "f-1"), 1);
    CHECK_STR(fake_pop(sa), ev("f-1"));
    CHECK(a->hold == NULL);
    gw_server_free_core(gw);

    /* without offset_covered, a floor is ignored */
    o = fake_options(&app_no_floor);
    gw = fake_server(&o);
    a = joined(gw, &wa, &sa);
    gw_hold_start(a);
    bc(gw, "e-3");
    CHECK_INT(gw_hold_release(a, "e-4", 1), 0);
    CHECK_STR(fake_pop(sa), ev("e-3"));
    CHECK(a->hold == NULL);
    CHECK_INT(bc(gw, "e-4"), 1);
    gw_server_free_core(gw);
}

static void test_release_without_deliver(void)
{
    gw_options o = fake_options(&app);
    gw_server *gw = fake_server(&o);
    pend = 0;
    fake_conn wa = {0}, wb = {0};
    gw_session *sa, *sb;
    gw_socket *a = joined(gw, &wa, &sa);
    joined(gw, &wb, &sb);
    gw_hold_start(a);
    bc(gw, "e-1");
    bc(gw, "e-2");
    /* the held reference is the second one on b's frame */
    gw_frame *f = gw_frame_queue_peek(&sb->q);
    CHECK_INT(gw_frame_refs(f), 2);
    CHECK_INT(gw_hold_release(a, NULL, 0), 0);
    CHECK_INT(gw_frame_refs(f), 1);
    CHECK(fake_pop(sa) == NULL);
    CHECK(a->hold == NULL);
    CHECK_INT(bc(gw, "e-1"), 2);
    CHECK_STR(fake_pop(sa), ev("e-1"));
    gw_server_free_core(gw);
}

/* Broadcast copies counted as dropped so far (gw_counters). */
static long dropped(const gw_server *gw)
{
    return (long)rc_counter_get(&gw_server_counters(gw)->deliveries[GW_DELIVERY_DROPPED]);
}

static void test_overflow(void)
{
    gw_options o = fake_options(&app);
    o.queue_max = 4;
    gw_server *gw = fake_server(&o);
    pend = 0;
    fake_conn wa = {0}, wb = {0}, wc = {0};
    gw_session *sa, *sb, *sc;
    gw_socket *a = joined(gw, &wa, &sa);
    gw_socket *b = joined(gw, &wb, &sb);
    long slow = (long)rc_counter_get(&gw_server_counters(gw)->slow_disconnects);

    /* more than queue-max while held: the hold overflows ... */
    gw_hold_start(a);
    for (int i = 0; i < 5; i++) {
        bc(gw, "");
        fake_drain(sb);
    }
    CHECK_INT(gw_hold_count(a), 0);
    CHECK_INT(sa->state, GW_SESSION_OPEN);
    CHECK_INT(dropped(gw), 5); /* a's share of every one of them */
    CHECK_INT((long)rc_counter_get(&gw_server_counters(gw)->slow_disconnects), slow);
    /* ... and releasing it with deliver closes the session as slow */
    CHECK_INT(gw_hold_release(a, NULL, 1), -1);
    CHECK_INT(sa->state, GW_SESSION_CLOSING);
    CHECK_INT(sa->close_code, GW_CLOSE_POLICY);
    CHECK_INT((long)rc_counter_get(&gw_server_counters(gw)->slow_disconnects), slow + 1);
    CHECK(fake_pop(sa) == NULL);

    /* an overflowed hold released without deliver leaves the session be */
    gw_hold_start(b);
    for (int i = 0; i < 5; i++)
        bc(gw, "");
    gw_hold_release(b, NULL, 0);
    CHECK_INT(sb->state, GW_SESSION_OPEN);
    CHECK_INT(dropped(gw), 10);
    CHECK_INT((long)rc_counter_get(&gw_server_counters(gw)->slow_disconnects), slow + 1);
    CHECK(fake_pop(sb) == NULL);

    /* within queue-max while held, but the queue already has frames: what
     * does not fit closes the session on release */
    gw_socket *c = joined(gw, &wc, &sc);
    gw_hold_start(c);
    bc(gw, "e-1");
    bc(gw, "e-2");
    bc(gw, "e-3");
    CHECK_INT(gw_hold_count(c), 3);
    gw_socket_send_event(c, "old", "1", 1, "e-0");
    gw_socket_send_event(c, "old", "1", 1, "e-0");
    CHECK_INT(gw_socket_queue_room(c), 0); /* 2 queued + 3 held > 4 */
    CHECK_INT(gw_hold_release(c, NULL, 1), -1);
    CHECK_INT(sc->state, GW_SESSION_CLOSING);
    /* e-3 did not fit, e-1 and e-2 went with the closed queue (the two
     * replayed frames beside them are not broadcasts) */
    CHECK_INT(dropped(gw), 13);
    CHECK_INT((long)rc_counter_get(&gw_server_counters(gw)->slow_disconnects), slow + 2);
    gw_server_free_core(gw);
}

static void test_pending_and_gone(void)
{
    gw_options o = fake_options(&app);
    gw_server *gw = fake_server(&o);
    fake_conn wa = {0}, wb = {0};
    gw_session *sa, *sb;
    pend = 0;
    joined(gw, &wb, &sb);

    /* a pending socket that joined rooms and is held keeps broadcasts;
     * they follow its CONNECT once accepted */
    pend = 1;
    gw_socket *a = joined(gw, &wa, &sa);
    CHECK_INT(gw_hold_start(a), 0);
    CHECK_INT(bc(gw, "e-1"), 1);
    CHECK_INT(gw_hold_count(a), 1);
    CHECK_INT(gw_socket_accept(a, NULL), 0);
    CHECK_INT(gw_socket_send_event(a, "old", "1", 1, "e-0"), 0);
    CHECK_INT(gw_hold_release(a, "e-0", 1), 0);
    const char *f = fake_pop(sa);
    CHECK(f && strncmp(f, "40{\"sid\":", 9) == 0);
    CHECK_STR(fake_pop(sa), "42[\"old\",1,\"e-0\"]");
    CHECK_STR(fake_pop(sa), ev("e-1"));
    CHECK(fake_pop(sa) == NULL);

    /* a held socket that goes away drops what it kept */
    fake_drain(sb);
    CHECK_INT(gw_hold_start(a), 0);
    bc(gw, "e-2");
    gw_frame *fr = gw_frame_queue_peek(&sb->q);
    CHECK_INT(gw_frame_refs(fr), 2);
    CHECK_INT(fake_feed(sa, &wa, "41"), 0);
    fake_advance(gw, GW_TICK_MS); /* the socket is freed on the tick */
    CHECK_INT(gw_frame_refs(fr), 1);
    gw_server_free_core(gw);
}

int main(void)
{
    fake_quiet();
    test_hold_and_deliver();
    test_floor();
    test_release_without_deliver();
    test_overflow();
    test_pending_and_gone();
    return CHECK_DONE();
}
