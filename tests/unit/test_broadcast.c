/*
 * test_broadcast.c - rooms of sockets (gw_socket_join/leave/room_list in
 * gateway/server/socket.c) and encode-once broadcasts (broadcast.c) on a
 * fake transport (gw_fake.h): joining and leaving, room lists of accepted
 * sockets of "/" only, a socket in several of an event's rooms reached once,
 * one frame shared by every queue, the offset as last argument, and a
 * queue overflowing during the walk: the slow session is closed after it,
 * the others still get the event, the rooms it empties are not freed under
 * the walk.
 */
#include <string.h>

#include "tests/unit/check.h"
#include "tests/unit/gw_fake.h"

static gw_socket *last_sk;
static int n_disc, d_lost;
static int n_disconnecting, disconnecting_rooms, disconnecting_lost, order_ok;

static void count_room(const char *room, void *ud)
{
    (void)room;
    (*(int *)ud)++;
}

static int app_nsp(void *ud, const char *nsp)
{
    (void)ud;
    return strcmp(nsp, "/") == 0 || strcmp(nsp, "/admin") == 0;
}

static void app_connect(void *ud, gw_socket *sk, const gw_handshake *hs)
{
    (void)ud;
    (void)hs;
    last_sk = sk;
    gw_socket_accept(sk, NULL);
}

static void app_event(void *ud, gw_socket *sk, const gw_event *ev)
{
    (void)ud;
    (void)sk;
    (void)ev;
}

/* Before on_disconnect, with the socket still in its rooms. */
static void app_disconnecting(void *ud, gw_socket *sk, const char *reason)
{
    (void)ud;
    (void)reason;
    n_disconnecting++;
    order_ok = n_disc == 0;
    disconnecting_rooms = 0;
    gw_socket_foreach_room(sk, count_room, &disconnecting_rooms);
    disconnecting_lost = gw_socket_lost(sk);
}

static void app_disconnect(void *ud, gw_socket *sk, const char *reason)
{
    (void)ud;
    (void)reason;
    n_disc++;
    d_lost = gw_socket_lost(sk);
}

static const gw_app app = {
    .namespace_allowed = app_nsp,
    .on_connect = app_connect,
    .on_event = app_event,
    .on_disconnecting = app_disconnecting,
    .on_disconnect = app_disconnect,
};

static gw_server *server(const gw_options *o)
{
    last_sk = NULL;
    n_disc = d_lost = 0;
    return fake_server(o);
}

/* A session on conn with its socket on "/" connected; the replies popped. */
static gw_socket *connected(gw_server *gw, fake_conn *conn, gw_session **out)
{
    return fake_connect(gw, conn, out, &last_sk);
}

/* 1 when sk is among the room's list. */
static int listed(gw_server *gw, const char *room, gw_socket *sk, size_t *n)
{
    gw_socket **v = gw_socket_room_list(gw, room, n);
    for (size_t i = 0; v && i < *n; i++)
        if (v[i] == sk)
            return 1;
    return 0;
}

static void test_rooms_and_broadcast(void)
{
    gw_options o = fake_options(&app);
    gw_server *gw = server(&o);
    fake_conn wa = {0}, wb = {0};
    gw_session *sa, *sb;
    gw_socket *a = connected(gw, &wa, &sa);
    gw_socket *b = connected(gw, &wb, &sb);
    CHECK_INT(gw_socket_join(a, "r1"), 1);
    CHECK_INT(gw_socket_join(a, "r1"), 0);
    CHECK_INT(gw_socket_join(a, "r2"), 1);
    CHECK_INT(gw_socket_join(b, "r2"), 1);
    CHECK_INT(gw_socket_join(a, "bad\nname"), -1);
    CHECK_INT(gw_socket_join(a, ""), -1);
    size_t n;
    CHECK(listed(gw, "r2", a, &n) && listed(gw, "r2", b, &n));
    CHECK_INT(n, 2);
    CHECK(listed(gw, "r1", a, &n) && !listed(gw, "r1", b, &n));
    CHECK_INT(n, 1);
    CHECK(gw_socket_room_list(gw, "nope", &n) == NULL);
    CHECK_INT(n, 0);

    /* a socket of another namespace in a room of the same name is not
     * reached by broadcasts (rooms of "/") */
    CHECK_INT(fake_feed(sb, &wb, "40/admin,"), 0);
    gw_socket *badm = last_sk;
    fake_drain(sb);
    CHECK_INT(gw_socket_join(badm, "r1"), 1);
    CHECK(!listed(gw, "r1", badm, &n));

    /* a in both rooms gets one copy, and every queue shares one frame */
    const char *rooms[] = {"r1", "r2"};
    CHECK_INT(gw_broadcast(gw, rooms, 2, "ev", "{\"k\":1}", 7, "ep-5", -1), 2);
    CHECK_INT(gw_frame_queue_len(&sa->q), 1);
    CHECK_INT(gw_frame_queue_len(&sb->q), 1);
    CHECK(gw_frame_queue_peek(&sa->q) == gw_frame_queue_peek(&sb->q));
    CHECK_STR(fake_pop(sa), "42[\"ev\",{\"k\":1},\"ep-5\"]");
    CHECK_STR(fake_pop(sb), "42[\"ev\",{\"k\":1},\"ep-5\"]");
    /* transient: no offset; no arguments: an empty object */
    CHECK_INT(gw_broadcast(gw, rooms, 1, "t", "{\"k\":2}", 7, "", -1), 1);
    CHECK_STR(fake_pop(sa), "42[\"t\",{\"k\":2}]");
    CHECK_INT(gw_broadcast(gw, rooms + 1, 1, "e", NULL, 0, NULL, -1), 2);
    CHECK_STR(fake_pop(sa), "42[\"e\",{}]");
    CHECK_STR(fake_pop(sb), "42[\"e\",{}]");
    CHECK(fake_pop(sb) == NULL);

    /* leaving */
    CHECK_INT(gw_socket_leave(a, "r2"), 1);
    CHECK_INT(gw_socket_leave(a, "r2"), 0);
    CHECK(!listed(gw, "r2", a, &n) && listed(gw, "r2", b, &n));
    CHECK_INT(gw_broadcast(gw, rooms, 2, "ev", "1", 1, "ep-6", -1), 2);
    CHECK_STR(fake_pop(sa), "42[\"ev\",1,\"ep-6\"]");
    CHECK_STR(fake_pop(sb), "42[\"ev\",1,\"ep-6\"]");
    /* a socket that goes away leaves its rooms */
    gw_stats st;
    gw_server_stats(gw, &st);
    CHECK_INT(st.rooms, 3); /* r1, r2, and /admin's r1 */
    CHECK_INT(fake_feed(sa, &wa, "41"), 0);
    CHECK(gw_socket_room_list(gw, "r1", &n) == NULL);
    CHECK_INT(gw_broadcast(gw, rooms, 1, "ev", "1", 1, "", -1), 0);
    gw_server_stats(gw, &st);
    CHECK_INT(st.rooms, 2);
    gw_server_free_core(gw);
}

/* Deliveries counted so far (gw_counters). */
static long dropped(const gw_server *gw)
{
    return (long)rc_counter_get(&gw_server_counters(gw)->deliveries[GW_DELIVERY_DROPPED]);
}

static long written(const gw_server *gw)
{
    return (long)rc_counter_get(&gw_server_counters(gw)->deliveries[GW_DELIVERY_WRITTEN]);
}

static void test_broadcast_overflow(void)
{
    gw_options o = fake_options(&app);
    o.queue_max = 3;
    gw_server *gw = server(&o);
    fake_conn wa = {0}, wb = {0};
    gw_session *sa, *sb;
    gw_socket *a = connected(gw, &wa, &sa);
    gw_socket *b = connected(gw, &wb, &sb);
    gw_socket_join(a, "r");
    gw_socket_join(b, "r");
    const char *rooms[] = {"r"};
    long slow = (long)rc_counter_get(&gw_server_counters(gw)->slow_disconnects);
    for (int i = 0; i < 3; i++) {
        CHECK_INT(gw_broadcast(gw, rooms, 1, "ev", "1", 1, "", -1), 2);
        CHECK_INT(fake_drain(sb), 1);
    }
    /* a never reads: the fourth does not fit; a is closed after the walk,
     * b still gets it */
    CHECK_INT(gw_broadcast(gw, rooms, 1, "ev", "1", 1, "", -1), 1);
    CHECK_INT(fake_drain(sb), 1);
    CHECK_INT(sa->state, GW_SESSION_CLOSING);
    CHECK_INT(sa->close_code, GW_CLOSE_POLICY);
    CHECK_INT(gw->ndoomed, 0);
    CHECK_INT((long)rc_counter_get(&gw_server_counters(gw)->slow_disconnects), slow + 1);
    /* a's copy of the fourth, and the three it had queued, never reach it */
    CHECK_INT(dropped(gw), 4);
    CHECK_INT(written(gw), 0);
    CHECK_INT(n_disc, 1);
    CHECK_INT(d_lost, 1);
    size_t n;
    CHECK(!listed(gw, "r", a, &n) && listed(gw, "r", b, &n));
    CHECK_INT(n, 1);

    /* the only member of a room overflowing: the room it empties is not
     * freed under the walk (closing waits for the end of the broadcast) */
    fake_conn wc = {0};
    gw_session *sc;
    gw_socket *c = connected(gw, &wc, &sc);
    gw_socket_join(c, "solo");
    gw_socket_join(c, "solo2");
    const char *solo[] = {"solo", "solo2"};
    for (int i = 0; i < 3; i++)
        CHECK_INT(gw_broadcast(gw, solo, 2, "ev", "1", 1, "", -1), 1);
    CHECK_INT(gw_broadcast(gw, solo, 2, "ev", "1", 1, "", -1), 0);
    CHECK_INT(sc->state, GW_SESSION_CLOSING);
    CHECK(gw_socket_room_list(gw, "solo", &n) == NULL);
    CHECK_INT((long)rc_counter_get(&gw_server_counters(gw)->slow_disconnects), slow + 2);
    CHECK_INT(dropped(gw), 8);
    gw_server_free_core(gw);
}

/* on_disconnecting sees the socket in its rooms, then on_disconnect
 * follows; only for accepted sockets. */
static void test_disconnecting(void)
{
    gw_options o = fake_options(&app);
    gw_server *gw = server(&o);
    fake_conn ws = {0};
    gw_session *s;
    gw_socket *sk = connected(gw, &ws, &s);
    CHECK(sk != NULL);
    CHECK_INT(gw_socket_join(sk, "a"), 1);
    CHECK_INT(gw_socket_join(sk, "b"), 1);
    n_disconnecting = 0;
    gw_session_release(s, &ws); /* the transport is lost */
    CHECK_INT(n_disconnecting, 1);
    CHECK_INT(order_ok, 1);
    CHECK_INT(disconnecting_rooms, 2);
    CHECK_INT(disconnecting_lost, 1);
    CHECK_INT(n_disc, 1);
    fake_advance(gw, GW_TICK_MS);
    gw_server_free_core(gw);
}

int main(void)
{
    fake_quiet();
    test_rooms_and_broadcast();
    test_broadcast_overflow();
    test_disconnecting();
    return CHECK_DONE();
}
