/*
 * test_session.c - Engine.IO sessions (gateway/server/session.c) on a fake
 * transport and clock (gw_fake.h): the OPEN packet, the heartbeat (ping
 * every pingInterval, pong deadline pingTimeout after the ping was due, and
 * gw_session_find closing a session whose pong is overdue), the Socket.IO
 * CONNECT deadline, the bounded queue (slow clients), CLOSE from the client
 * on both transports, the upgrade from polling to WebSocket, releasing
 * transports, and sessions being freed on the next tick.
 */
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "tests/unit/check.h"
#include "tests/unit/gw_fake.h"

/* ---- a minimal application: accepts every CONNECT ---- */

static int connects, disconnects, lost_disconnects;

static void app_connect(void *ud, gw_socket *sk, const gw_handshake *hs)
{
    (void)ud;
    (void)hs;
    connects++;
    gw_socket_accept(sk, NULL);
}

static void app_event(void *ud, gw_socket *sk, const gw_event *ev)
{
    (void)ud;
    (void)sk;
    (void)ev;
}

static void app_disconnect(void *ud, gw_socket *sk, const char *reason)
{
    (void)ud;
    (void)reason;
    disconnects++;
    lost_disconnects += gw_socket_lost(sk);
}

static gw_server *server(const gw_options *o)
{
    connects = disconnects = lost_disconnects = 0;
    return fake_server(o);
}

static const gw_app app = {
    .on_connect = app_connect,
    .on_event = app_event,
    .on_disconnect = app_disconnect,
};

/* ---- cases ---- */

static void check_open(gw_server *gw, enum gw_transport tr)
{
    gw_session *s = gw_session_new(gw, tr, 0, NULL);
    CHECK(s != NULL);
    if (!s)
        return;
    CHECK_INT(strlen(s->sid), GW_ID_LEN);
    CHECK(gw_session_find(gw, s->sid) == s);
    /* the OPEN packet is queued first, before anything else sent */
    gw_session_send_text(s, "6", 1);
    const char *f = fake_pop(s);
    CHECK(f && f[0] == '0');
    json_t *o = f ? json_loads(f + 1, 0, NULL) : NULL;
    CHECK(json_is_object(o));
    CHECK_STR(json_string_value(json_object_get(o, "sid")), s->sid);
    CHECK_INT(json_integer_value(json_object_get(o, "pingInterval")), 25000);
    CHECK_INT(json_integer_value(json_object_get(o, "pingTimeout")), 20000);
    CHECK_INT(json_integer_value(json_object_get(o, "maxPayload")), 100000);
    json_t *up = json_object_get(o, "upgrades");
    CHECK(json_is_array(up));
    if (tr == GW_TR_POLLING) {
        CHECK_INT(json_array_size(up), 1);
        CHECK_STR(json_string_value(json_array_get(up, 0)), "websocket");
    } else {
        CHECK_INT(json_array_size(up), 0);
    }
    json_decref(o);
    CHECK_STR(fake_pop(s), "6");
    CHECK(fake_pop(s) == NULL);
}

static void test_open_packet(void)
{
    gw_options o = fake_options(&app);
    gw_server *gw = server(&o);
    check_open(gw, GW_TR_WEBSOCKET);
    check_open(gw, GW_TR_POLLING);
    gw_stats st;
    gw_server_stats(gw, &st);
    CHECK_INT(st.sessions, 2);
    /* two sessions never share a sid */
    CHECK(gw->all && gw->all->next && strcmp(gw->all->sid, gw->all->next->sid) != 0);
    gw_server_free_core(gw);
}

static void test_heartbeat(void)
{
    gw_options o = fake_options(&app);
    gw_server *gw = server(&o);
    fake_conn ws = {0};
    gw_session *s = fake_ws_session(gw, &ws);
    fake_feed(s, &ws, "40");
    fake_drain(s);
    CHECK(fake_wake >= 0); /* the wheel asked for a wake-up */

    /* the first ping is due pingInterval after the handshake */
    fake_advance(gw, 24999);
    CHECK(fake_pop(s) == NULL);
    int ww = ws.want_write;
    fake_advance(gw, 1);
    CHECK_STR(fake_pop(s), "2");
    CHECK_INT(ws.want_write, ww + 1);

    /* a pong, off the tick grid: the next ping pingInterval after it */
    fake_advance(gw, 5007);
    CHECK_INT(fake_feed(s, &ws, "3"), 0);
    int64_t ponged = fake_now;
    fake_advance(gw, 24999);
    CHECK(fake_pop(s) == NULL);
    fake_advance(gw, GW_TICK_MS);
    CHECK_STR(fake_pop(s), "2");

    /* no pong: closed pingTimeout after the ping was due, within a tick */
    int64_t pong_due = ponged + 25000 + 20000;
    fake_advance(gw, pong_due - 1 - fake_now);
    CHECK_INT(s->state, GW_SESSION_OPEN);
    CHECK_INT(disconnects, 0);
    fake_advance(gw, GW_TICK_MS);
    CHECK_INT(s->state, GW_SESSION_CLOSING);
    CHECK(gw_session_find(gw, s->sid) == NULL);
    CHECK_INT(ws.closes, 1);
    CHECK_INT(ws.close_secs, 3);
    /* its socket went away as lost (the client comes back) */
    CHECK_INT(disconnects, 1);
    CHECK_INT(lost_disconnects, 1);
    /* closed: packets are refused */
    CHECK_INT(fake_feed(s, &ws, "3"), -1);
    gw_session_release(s, &ws);
    fake_advance(gw, GW_TICK_MS);
    CHECK_INT(gw->nsessions, 0);
    gw_server_free_core(gw);
}

static void test_find_closes_overdue(void)
{
    gw_options o = fake_options(&app);
    gw_server *gw = server(&o);
    fake_conn ws = {0};
    fake_advance(gw, 7); /* off the tick grid: the ping goes out late */
    gw_session *s = fake_ws_session(gw, &ws);
    fake_feed(s, &ws, "40");
    int64_t opened = fake_now;
    fake_advance(gw, 25000 + GW_TICK_MS);
    CHECK(s->awaiting_pong);
    /* the deadline counts from when the ping was due, not sent */
    int64_t due = s->pong_due_ms;
    CHECK_INT(due, opened + 25000 + 20000);
    /* the wheel is late (no tick): a request just before the deadline
     * still finds the session, one at the deadline finds it gone */
    fake_now = due - 1;
    CHECK(gw_session_find(gw, s->sid) == s);
    CHECK_INT(s->state, GW_SESSION_OPEN);
    fake_now = due;
    CHECK(gw_session_find(gw, s->sid) == NULL);
    CHECK_INT(s->state, GW_SESSION_CLOSING);
    CHECK_INT(ws.closes, 1);
    gw_server_free_core(gw);
}

static void test_connect_deadline(void)
{
    gw_options o = fake_options(&app);
    o.connect_timeout_ms = 5000;
    gw_server *gw = server(&o);
    fake_conn wa = {0}, wb = {0}, wr = {0};
    gw_session *a = fake_ws_session(gw, &wa);
    gw_session *b = fake_ws_session(gw, &wb);
    gw_session *r = gw_session_new(gw, GW_TR_WEBSOCKET, 1, NULL); /* plain Engine.IO */
    r->ws = &wr;
    fake_advance(gw, 2000);
    CHECK_INT(fake_feed(b, &wb, "40"), 0);
    CHECK_INT(connects, 1);
    fake_advance(gw, 2999);
    CHECK_INT(a->state, GW_SESSION_OPEN);
    fake_advance(gw, GW_TICK_MS);
    /* no CONNECT in time: closed; the one that connected and the plain
     * Engine.IO session (no Socket.IO layer) stay */
    CHECK_INT(a->state, GW_SESSION_CLOSING);
    CHECK_INT(wa.closes, 1);
    CHECK_INT(b->state, GW_SESSION_OPEN);
    CHECK_INT(r->state, GW_SESSION_OPEN);
    CHECK_INT(gw->nopen, 2);
    gw_server_free_core(gw);
}

static void test_queue_bound(void)
{
    gw_options o = fake_options(&app);
    o.queue_max = 4;
    gw_server *gw = server(&o);
    fake_conn ws = {0};
    gw_session *s = gw_session_new(gw, GW_TR_WEBSOCKET, 0, NULL);
    s->ws = &ws;
    CHECK_INT(fake_feed(s, &ws, "40"), 0); /* OPEN and CONNECT queued */
    CHECK_INT(gw_frame_queue_len(&s->q), 2);
    long slow = (long)rc_counter_get(&gw_server_counters(gw)->slow_disconnects);
    CHECK_INT(gw_session_send_text(s, "6", 1), 0);
    CHECK_INT(gw_session_send_text(s, "6", 1), 0);
    CHECK_INT(s->state, GW_SESSION_OPEN);
    /* one frame too many: the session is closed as too slow */
    CHECK_INT(gw_session_send_text(s, "6", 1), -1);
    CHECK_INT(s->state, GW_SESSION_CLOSING);
    CHECK(s->overflowed);
    CHECK_INT((long)rc_counter_get(&gw_server_counters(gw)->slow_disconnects), slow + 1);
    CHECK_INT(s->close_code, GW_CLOSE_POLICY);
    CHECK_INT(gw_frame_queue_len(&s->q), 0); /* nothing more is flushed */
    CHECK_INT(ws.closes, 1);
    CHECK_INT(disconnects, 1);
    CHECK_INT(lost_disconnects, 1);
    /* and counted once */
    CHECK_INT(gw_session_send_text(s, "6", 1), -1);
    CHECK_INT((long)rc_counter_get(&gw_server_counters(gw)->slow_disconnects), slow + 1);
    gw_session_release(s, &ws);
    fake_advance(gw, GW_TICK_MS);
    CHECK_INT(gw->nsessions, 0);
    gw_server_free_core(gw);
}

static void test_close_from_client(void)
{
    gw_options o = fake_options(&app);
    gw_server *gw = server(&o);

    /* WebSocket: closed at once, the socket disconnected once */
    fake_conn ws = {0};
    gw_session *s = fake_ws_session(gw, &ws);
    fake_feed(s, &ws, "40");
    CHECK_INT(fake_feed(s, &ws, "1"), -1);
    CHECK_INT(s->state, GW_SESSION_CLOSING);
    CHECK(gw_session_find(gw, s->sid) == NULL);
    CHECK_INT(ws.closes, 1);
    CHECK_INT(disconnects, 1);
    fake_advance(gw, GW_TICK_MS);
    CHECK_INT(gw->nsessions, 1); /* its transport still points at it */
    gw_session_release(s, &ws);
    CHECK_INT(gw->nsessions, 1); /* not freed under the caller's feet */
    fake_advance(gw, GW_TICK_MS);
    CHECK_INT(gw->nsessions, 0);

    /* polling between two GETs: findable for one last poll, at most
     * pingTimeout, then freed */
    gw_session *p = gw_session_new(gw, GW_TR_POLLING, 0, NULL);
    char sid[GW_ID_LEN + 1];
    memcpy(sid, p->sid, sizeof sid);
    CHECK_INT(fake_feed(p, NULL, "1"), -1);
    CHECK(gw_session_find(gw, sid) == p);
    CHECK_INT(p->state, GW_SESSION_CLOSING);
    CHECK(p->by_client);
    fake_advance(gw, 20000 - 1);
    CHECK_INT(gw->nsessions, 1);
    fake_advance(gw, GW_TICK_MS);
    CHECK_INT(gw->nsessions, 0);
    CHECK(gw_session_find(gw, sid) == NULL);

    /* polling with a GET held: answered at once, freed once it is gone */
    fake_conn get = {0};
    p = gw_session_new(gw, GW_TR_POLLING, 0, NULL);
    p->poll = &get;
    CHECK_INT(fake_feed(p, NULL, "1"), -1);
    CHECK(gw_session_find(gw, p->sid) == NULL);
    CHECK(get.want_write >= 1);
    fake_advance(gw, GW_TICK_MS);
    CHECK_INT(gw->nsessions, 1);
    gw_session_release(p, &get);
    fake_advance(gw, GW_TICK_MS);
    CHECK_INT(gw->nsessions, 0);
    gw_server_free_core(gw);
}

static void test_client_packets(void)
{
    gw_options o = fake_options(&app);
    gw_server *gw = server(&o);
    fake_conn ws = {0};
    gw_session *s = fake_ws_session(gw, &ws);
    /* a v3-style ping gets a pong, "2probe" on the session's own
     * transport a "3probe", a noop nothing */
    CHECK_INT(fake_feed(s, &ws, "2"), 0);
    CHECK_STR(fake_pop(s), "3");
    CHECK_INT(fake_feed(s, &ws, "2probe"), 0);
    CHECK_STR(fake_pop(s), "3probe");
    CHECK_INT(fake_feed(s, &ws, "6"), 0);
    CHECK(fake_pop(s) == NULL);
    /* an unsolicited pong changes nothing */
    int64_t due = s->ping_due_ms;
    CHECK_INT(fake_feed(s, &ws, "3"), 0);
    CHECK_INT(s->ping_due_ms, due);
    /* a client may not send OPEN: protocol error */
    const rc_counter *protocol = &gw_server_counters(gw)->client_errors[GW_ERR_PROTOCOL];
    long errs = (long)rc_counter_get(protocol);
    CHECK_INT(fake_feed(s, &ws, "0"), -1);
    CHECK_INT(s->state, GW_SESSION_CLOSING);
    CHECK_INT(s->close_code, GW_CLOSE_PROTOCOL);
    CHECK_INT(rc_counter_get(protocol), errs + 1);
    gw_session_release(s, &ws);
    gw_server_free_core(gw);
}

static void test_upgrade(void)
{
    gw_options o = fake_options(&app);
    gw_server *gw = server(&o);
    fake_conn get = {0}, ws = {0};
    gw_session *s = gw_session_new(gw, GW_TR_POLLING, 0, NULL);
    fake_drain(s);
    s->poll = &get;
    s->probe = &ws; /* websocket.c: a WebSocket with this sid */
    gw_stats st;
    gw_server_stats(gw, &st);
    CHECK(st.sessions == 1 && st.by_transport[GW_TR_POLLING] == 1 && st.by_transport[GW_TR_WEBSOCKET] == 0);

    /* "2probe" is answered on the probe at once, the held GET is woken
     * (it gets a noop) */
    CHECK_INT(fake_feed(s, &ws, "2probe"), 0);
    CHECK_INT(ws.written_len, 6);
    CHECK(memcmp(ws.written, "3probe", 6) == 0);
    CHECK(s->upgrading);
    CHECK_INT(get.want_write, 1);
    CHECK(fake_pop(s) == NULL); /* not through the queue */
    CHECK_INT(s->transport, GW_TR_POLLING);
    /* a noop on the probe is allowed */
    CHECK_INT(fake_feed(s, &ws, "6"), 0);
    /* a frame queued during the upgrade waits for the WebSocket */
    CHECK_INT(gw_session_send_text(s, "42[\"x\"]", 7), 0);
    CHECK_INT(ws.want_write, 0);

    /* "5": the WebSocket carries the session from now on */
    CHECK_INT(fake_feed(s, &ws, "5"), 0);
    CHECK_INT(s->transport, GW_TR_WEBSOCKET);
    gw_server_stats(gw, &st);
    CHECK(st.sessions == 1 && st.by_transport[GW_TR_POLLING] == 0 && st.by_transport[GW_TR_WEBSOCKET] == 1);
    CHECK(s->ws == &ws);
    CHECK(s->probe == NULL);
    CHECK(!s->upgrading);
    CHECK(get.want_write >= 2); /* the held GET is refused */
    CHECK_INT(ws.want_write, 1);   /* and the WebSocket sends what waits */
    CHECK_STR(fake_pop(s), "42[\"x\"]");
    gw_session_send_text(s, "6", 1);
    CHECK_INT(ws.want_write, 2);
    /* the last GET going away does not close it; the WebSocket does */
    gw_session_release(s, &get);
    CHECK_INT(s->state, GW_SESSION_OPEN);
    CHECK_INT(fake_feed(s, &ws, "3"), 0);
    gw_session_release(s, &ws);
    CHECK_INT(s->state, GW_SESSION_CLOSING);
    gw_server_stats(gw, &st);
    CHECK(st.sessions == 0 && st.by_transport[GW_TR_POLLING] == 0 && st.by_transport[GW_TR_WEBSOCKET] == 0);
    fake_advance(gw, GW_TICK_MS);
    CHECK_INT(gw->nsessions, 0);

    /* a probe that goes away before "5": polling goes on */
    fake_conn ws2 = {0}, ws3 = {0};
    s = gw_session_new(gw, GW_TR_POLLING, 0, NULL);
    s->probe = &ws2;
    CHECK_INT(fake_feed(s, &ws2, "2probe"), 0);
    gw_session_release(s, &ws2);
    CHECK_INT(s->state, GW_SESSION_OPEN);
    CHECK(!s->upgrading);
    CHECK(s->probe == NULL);
    /* a probe whose "3probe" cannot be written: the caller stops reading */
    ws3.fail_write = 1;
    s->probe = &ws3;
    CHECK_INT(fake_feed(s, &ws3, "2probe"), -1);
    /* anything else on a probe is a protocol error closing the session */
    ws3.fail_write = 0;
    CHECK_INT(fake_feed(s, &ws3, "40"), -1);
    CHECK_INT(s->state, GW_SESSION_CLOSING);
    CHECK_INT(ws3.closes, 1);
    gw_session_release(s, &ws3);
    fake_advance(gw, GW_TICK_MS);
    CHECK_INT(gw->nsessions, 0);
    gw_server_free_core(gw);
}

static void test_release(void)
{
    gw_options o = fake_options(&app);
    gw_server *gw = server(&o);
    fake_conn ws = {0}, get = {0};
    /* the only WebSocket going away closes the session, lost */
    gw_session *s = fake_ws_session(gw, &ws);
    fake_feed(s, &ws, "40");
    gw_session_release(s, &ws);
    CHECK_INT(s->state, GW_SESSION_CLOSING);
    CHECK_INT(disconnects, 1);
    CHECK_INT(lost_disconnects, 1);
    CHECK_INT(gw->nopen, 0);
    CHECK_INT(gw->nsessions, 1);
    fake_advance(gw, GW_TICK_MS);
    CHECK_INT(gw->nsessions, 0);

    /* a GET going away does not close a polling session */
    s = gw_session_new(gw, GW_TR_POLLING, 0, NULL);
    s->poll = &get;
    gw_session_release(s, &get);
    CHECK_INT(s->state, GW_SESSION_OPEN);
    CHECK(s->poll == NULL);
    fake_advance(gw, GW_TICK_MS);
    CHECK_INT(gw->nsessions, 1);
    CHECK(gw_session_find(gw, s->sid) == s);
    gw_server_free_core(gw);
}

static void test_reconnect_all(void)
{
    gw_options o = fake_options(&app);
    gw_server *gw = server(&o);
    fake_conn w1 = {0}, w2 = {0};
    gw_session *a = fake_ws_session(gw, &w1);
    gw_session *b = fake_ws_session(gw, &w2);
    gw_session *p = gw_session_new(gw, GW_TR_POLLING, 0, NULL);
    fake_drain(p);
    gw_session_close(b, "test", GW_CLOSE_NORMAL, 0);
    gw_session_send_text(a, "6", 1);
    gw_session_send_text(p, "6", 1);
    /* open sessions are closed after what they had queued (flush); over
     * WebSocket the close frame is the hint, no Engine.IO CLOSE packet */
    CHECK_INT(gw_server_reconnect_all(gw, "test"), 2);
    CHECK_INT(a->state, GW_SESSION_CLOSING);
    CHECK(a->flush_on_close);
    CHECK_INT(a->close_code, GW_CLOSE_GOING_AWAY);
    CHECK_STR(fake_pop(a), "6");
    CHECK(fake_pop(a) == NULL);
    /* over polling, an Engine.IO CLOSE after what was queued (the poll
     * that carries it carries nothing else: polling.c) */
    CHECK_INT(p->state, GW_SESSION_CLOSING);
    CHECK_STR(fake_pop(p), "6");
    CHECK_STR(fake_pop(p), "1");
    CHECK(fake_pop(p) == NULL);
    gw_session_release(a, &w1);
    gw_session_release(b, &w2);
    fake_advance(gw, GW_TICK_MS);
    /* the polling session waits for its client's next poll, a ping
     * timeout at most */
    CHECK_INT(gw->nsessions, 1);
    fake_advance(gw, o.ping_timeout_ms + GW_TICK_MS);
    CHECK_INT(gw->nsessions, 0);
    gw_server_free_core(gw);
}

int main(void)
{
    fake_quiet();
    test_open_packet();
    test_heartbeat();
    test_find_closes_overdue();
    test_connect_deadline();
    test_queue_bound();
    test_close_from_client();
    test_client_packets();
    test_upgrade();
    test_release();
    test_reconnect_all();
    return CHECK_DONE();
}
