/*
 * test_socket.c - the Socket.IO layer (gateway/server/socket.c and
 * broadcast.c) under a small recording application, on a fake transport
 * (gw_fake.h): CONNECT accepted, rejected, left pending or to an unknown
 * namespace; client events with their raw arguments and ack ids; acks,
 * emits and emits with an ack in both directions; binary attachments;
 * the client event rate limit and its abuse threshold; DISCONNECT from
 * either side with on_disconnect exactly once; the socket's timer and
 * extension. Rooms and broadcasts are in test_broadcast.c.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/metrics.h"
#include "tests/unit/check.h"
#include "tests/unit/gw_fake.h"

/* ---- the recording application ---- */

enum mode { ACCEPT, REJECT, PEND };
static enum mode mode;
static const char *accept_extra;
static gw_socket *last_sk;
static int n_connect, n_event, n_limited, n_disc, n_ext_freed;
static char c_nsp[64], c_auth[256], c_bearer[64];
static char e_name[64], e_args[512], e_att[64];
static long long e_ack;
static size_t e_natt, e_att_len;
static char d_reason[64];
static int d_lost, d_ext_alive;

static void copy_slice(char *dst, size_t cap, rc_slice v)
{
    size_t n = v.len < cap - 1 ? v.len : cap - 1;
    memcpy(dst, v.p, n);
    dst[n] = '\0';
}

static int app_nsp(void *ud, const char *nsp)
{
    (void)ud;
    return strcmp(nsp, "/") == 0 || strcmp(nsp, "/admin") == 0;
}

static void app_connect(void *ud, gw_socket *sk, const gw_handshake *hs)
{
    (void)ud;
    n_connect++;
    last_sk = sk;
    snprintf(c_nsp, sizeof c_nsp, "%s", hs->nsp);
    copy_slice(c_auth, sizeof c_auth, hs->auth_raw);
    snprintf(c_bearer, sizeof c_bearer, "%s", hs->bearer ? hs->bearer : "(none)");
    if (mode == ACCEPT)
        gw_socket_accept(sk, accept_extra);
    else if (mode == REJECT)
        gw_socket_reject(sk, "{\"message\":\"nope\",\"data\":{\"code\":\"X\"}}");
}

static void record_event(const gw_event *ev)
{
    snprintf(e_name, sizeof e_name, "%s", ev->name ? ev->name : "(ack)");
    copy_slice(e_args, sizeof e_args, ev->args_raw);
    e_ack = ev->ack_id;
    e_natt = ev->nattachments;
    e_att_len = 0;
    rc_slice a;
    if (json_array_size(ev->args) && gw_socket_attachment(ev, json_array_get(ev->args, 0), &a)) {
        e_att_len = a.len < sizeof e_att ? a.len : sizeof e_att;
        memcpy(e_att, a.p, e_att_len);
    }
}

static void app_event(void *ud, gw_socket *sk, const gw_event *ev)
{
    (void)ud;
    (void)sk;
    n_event++;
    record_event(ev);
}

static void app_limited(void *ud, gw_socket *sk, const gw_event *ev)
{
    (void)ud;
    (void)sk;
    (void)ev;
    n_limited++;
}

static void app_disconnect(void *ud, gw_socket *sk, const char *reason)
{
    (void)ud;
    n_disc++;
    snprintf(d_reason, sizeof d_reason, "%s", reason);
    d_lost = gw_socket_lost(sk);
    d_ext_alive = gw_socket_ext(sk) != NULL; /* freed after this callback */
}

static const gw_app app = {
    .namespace_allowed = app_nsp,
    .on_connect = app_connect,
    .on_event = app_event,
    .on_rate_limited = app_limited,
    .on_disconnect = app_disconnect,
};

static gw_server *server(const gw_options *o)
{
    mode = ACCEPT;
    accept_extra = NULL;
    last_sk = NULL;
    n_connect = n_event = n_limited = n_disc = n_ext_freed = 0;
    return fake_server(o);
}

/* A session on conn with its socket on "/" connected; the replies popped. */
static gw_socket *connected(gw_server *gw, fake_conn *conn, gw_session **out)
{
    return fake_connect(gw, conn, out, &last_sk);
}

/* ---- cases ---- */

static void test_connect(void)
{
    gw_options o = fake_options(&app);
    gw_server *gw = server(&o);
    fake_conn ws = {0};
    /* what a socket says of its session: transport, address, since when */
    fake_conn pws = {0};
    gw_session *p = gw_session_new(gw, GW_TR_POLLING, 0, NULL);
    p->poll = &pws;
    fake_drain(p);
    char pbuf[64];
    gw_session_set_peer(p, "192.0.2.7");
    mode = PEND;
    CHECK_INT(fake_feed(p, &pws, "40"), 0);
    CHECK_INT(gw_socket_since_ms(last_sk), 0); /* pending */
    CHECK_STR(gw_socket_transport(last_sk), "polling");
    CHECK_STR(gw_socket_peer(last_sk, pbuf, sizeof pbuf), "192.0.2.7");
    /* Kept as bytes, written back in the canonical form; anything else is
     * unknown. */
    gw_session_set_peer(p, "2001:DB8:0:0::7");
    CHECK_STR(gw_socket_peer(last_sk, pbuf, sizeof pbuf), "2001:db8::7");
    CHECK(gw_socket_peer(last_sk, pbuf, 4) == NULL); /* buffer too small */
    gw_session_set_peer(p, "not an address");
    CHECK(gw_socket_peer(last_sk, pbuf, sizeof pbuf) == NULL);
    gw_session_set_peer(p, "");
    CHECK(gw_socket_peer(last_sk, pbuf, sizeof pbuf) == NULL);
    gw_session_set_peer(p, "192.0.2.7");
    CHECK_STR(gw_socket_peer(last_sk, pbuf, sizeof pbuf), "192.0.2.7");
    int64_t before = rc_clock_wall_ms();
    CHECK_INT(gw_socket_accept(last_sk, NULL), 0);
    CHECK(gw_socket_since_ms(last_sk) >= before &&
          gw_socket_since_ms(last_sk) <= rc_clock_wall_ms());
    gw_session_close(p, "done", GW_CLOSE_NORMAL, 0);
    gw_session_release(p, &pws);
    fake_advance(gw, GW_TICK_MS);
    mode = ACCEPT;
    n_connect = n_disc = 0;

    gw_session *s = gw_session_new(gw, GW_TR_WEBSOCKET, 0, "abc");
    s->ws = &ws;
    fake_drain(s);
    accept_extra = "\"pid\":\"p1\"";
    CHECK_INT(fake_feed(s, &ws, "40{\"token\":\"t\"}"), 0);
    CHECK_INT(n_connect, 1);
    CHECK_STR(c_nsp, "/");
    CHECK_STR(c_auth, "{\"token\":\"t\"}");
    CHECK_STR(c_bearer, "abc");
    gw_socket *sk = last_sk;
    char want[128];
    snprintf(want, sizeof want, "40{\"sid\":\"%s\",\"pid\":\"p1\"}", gw_socket_id(sk));
    CHECK_STR(fake_pop(s), want);
    CHECK_INT(strlen(gw_socket_id(sk)), GW_ID_LEN);
    CHECK(strcmp(gw_socket_id(sk), s->sid) != 0); /* not the Engine.IO sid */
    CHECK_STR(gw_socket_sid(sk), s->sid);
    CHECK(!gw_timer_armed(&s->connect)); /* the deadline is met */
    gw_stats st;
    gw_server_stats(gw, &st);
    CHECK_INT(st.sockets, 1);
    /* an already accepted socket cannot be accepted or rejected again */
    CHECK_INT(gw_socket_accept(sk, NULL), -1);
    CHECK_INT(gw_socket_reject(sk, "{}"), -1);

    /* another namespace, the leniency for a missing ',' included */
    accept_extra = NULL;
    CHECK_INT(fake_feed(s, &ws, "40/admin"), 0);
    CHECK_STR(c_nsp, "/admin");
    CHECK_STR(gw_socket_nsp(last_sk), "/admin");
    snprintf(want, sizeof want, "40/admin,{\"sid\":\"%s\"}", gw_socket_id(last_sk));
    CHECK_STR(fake_pop(s), want);
    CHECK_INT(gw->nsockets, 2);

    /* a second CONNECT to an open namespace is a protocol error */
    CHECK_INT(fake_feed(s, &ws, "40"), -1);
    CHECK_INT(s->state, GW_SESSION_CLOSING);
    CHECK_INT(n_disc, 2);
    CHECK_INT(gw->nsockets, 0);
    gw_session_release(s, &ws);
    gw_server_free_core(gw);
}

static void test_reject_and_pending(void)
{
    gw_options o = fake_options(&app);
    gw_server *gw = server(&o);
    fake_conn ws = {0};
    gw_session *s = fake_ws_session(gw, &ws);
    mode = REJECT;
    CHECK_INT(fake_feed(s, &ws, "40"), 0);
    CHECK_STR(fake_pop(s), "44{\"message\":\"nope\",\"data\":{\"code\":\"X\"}}");
    CHECK_INT(gw->nsockets, 0);
    CHECK_INT(s->nsocks, 0);
    CHECK_INT(n_disc, 0); /* never on_disconnect after a reject */
    /* the namespace is free again */
    mode = ACCEPT;
    CHECK_INT(fake_feed(s, &ws, "40"), 0);
    CHECK_INT(n_connect, 2);
    CHECK(fake_pop(s) != NULL);
    CHECK_INT(gw->nsockets, 1);

    gw_session_release(s, &ws);
    CHECK_INT(n_disc, 1);

    /* a pending socket gets nothing and may send nothing */
    fake_conn w2 = {0};
    s = fake_ws_session(gw, &w2);
    mode = PEND;
    n_disc = 0;
    CHECK_INT(fake_feed(s, &w2, "40"), 0);
    CHECK(fake_pop(s) == NULL);
    gw_socket *pending = last_sk;
    CHECK_INT(gw_socket_emit(pending, "x", NULL, 0, NULL, 0), -1);
    CHECK_INT(gw_socket_join(pending, "r"), 1); /* rooms may be joined */
    size_t n;
    CHECK(gw_socket_room_list(gw, "r", &n) == NULL); /* but not listed */
    CHECK_INT(n, 0);
    const char *rooms[] = {"r"};
    CHECK_INT(gw_broadcast(gw, rooms, 1, "ev", "1", 1, "", -1), 0);
    CHECK(fake_pop(s) == NULL);
    CHECK_INT(gw->nsockets, 0);
    /* answered later */
    CHECK_INT(gw_socket_accept(pending, NULL), 0);
    CHECK(fake_pop(s) != NULL);
    CHECK(gw_socket_room_list(gw, "r", &n) != NULL && n == 1);
    CHECK_INT(gw_broadcast(gw, rooms, 1, "ev", "1", 1, "", -1), 1);
    fake_drain(s);
    /* an event on a namespace whose CONNECT is not answered yet */
    CHECK_INT(fake_feed(s, &w2, "40/admin,"), 0);
    CHECK_INT(fake_feed(s, &w2, "42/admin,[\"x\"]"), -1);
    CHECK_INT(s->state, GW_SESSION_CLOSING);
    /* both the accepted and the pending socket went away, once each */
    CHECK_INT(n_disc, 2);
    gw_session_release(s, &w2);
    gw_server_free_core(gw);
}

static void test_invalid_namespace(void)
{
    gw_options o = fake_options(&app);
    gw_server *gw = server(&o);
    fake_conn ws = {0};
    gw_session *s = fake_ws_session(gw, &ws);
    CHECK_INT(fake_feed(s, &ws, "40/x,"), 0);
    CHECK_STR(fake_pop(s), "44/x,{\"message\":\"Invalid namespace\"}");
    CHECK_INT(fake_feed(s, &ws, "40/x"), 0);
    CHECK_STR(fake_pop(s), "44/x,{\"message\":\"Invalid namespace\"}");
    CHECK_INT(n_connect, 0);
    CHECK_INT(s->state, GW_SESSION_OPEN);
    /* events for a namespace never connected are a protocol error */
    CHECK_INT(fake_feed(s, &ws, "42/x,[\"a\"]"), -1);
    CHECK_INT(s->state, GW_SESSION_CLOSING);
    gw_session_release(s, &ws);
    gw_server_free_core(gw);
}

static void test_events_and_acks(void)
{
    gw_options o = fake_options(&app);
    gw_server *gw = server(&o);
    fake_conn ws = {0};
    gw_session *s;
    gw_socket *sk = connected(gw, &ws, &s);
    CHECK_INT(fake_feed(s, &ws, "42[\"x\",1,{\"a\":[true]}]"), 0);
    CHECK_INT(n_event, 1);
    CHECK_STR(e_name, "x");
    CHECK_STR(e_args, "1,{\"a\":[true]}");
    CHECK_INT(e_ack, -1);
    CHECK_INT(e_natt, 0);
    /* arguments are passed as received: spacing, escapes, number forms */
    CHECK_INT(fake_feed(s, &ws, "42[ \"a\\\"b\" , 1.50 ,\"c\" ]"), 0);
    CHECK_STR(e_name, "a\"b");
    CHECK_STR(e_args, "1.50 ,\"c\"");
    CHECK_INT(fake_feed(s, &ws, "4217[\"y\"]"), 0);
    CHECK_STR(e_name, "y");
    CHECK_STR(e_args, "");
    CHECK_INT(e_ack, 17);
    CHECK_INT(gw_socket_ack(sk, 17, "\"ok\",2", 6, NULL, 0), 0);
    CHECK_STR(fake_pop(s), "4317[\"ok\",2]");
    CHECK_INT(gw_socket_ack(sk, -1, NULL, 0, NULL, 0), -1);

    /* on another namespace */
    CHECK_INT(fake_feed(s, &ws, "40/admin,"), 0);
    gw_socket *adm = last_sk;
    fake_drain(s);
    CHECK_INT(fake_feed(s, &ws, "42/admin,5[\"z\",\"w\"]"), 0);
    CHECK_STR(e_name, "z");
    CHECK_STR(e_args, "\"w\"");
    CHECK_INT(e_ack, 5);
    CHECK_INT(gw_socket_ack(adm, 5, NULL, 0, NULL, 0), 0);
    CHECK_STR(fake_pop(s), "43/admin,5[]");
    CHECK_INT(n_event, 4);
    gw_server_free_core(gw);
}

static int ack_calls, ack_ud_seen, ack_null;
static char ack_args[64];

static void ack_cb(void *ud, gw_socket *sk, const gw_event *ev)
{
    (void)sk;
    ack_calls++;
    ack_ud_seen = (int)(intptr_t)ud;
    if (!ev) {
        ack_null++;
        return;
    }
    CHECK(ev->name == NULL);
    CHECK_INT(ev->ack_id, -1);
    copy_slice(ack_args, sizeof ack_args, ev->args_raw);
}

static void test_emit_and_emit_ack(void)
{
    gw_options o = fake_options(&app);
    gw_server *gw = server(&o);
    fake_conn ws = {0};
    gw_session *s;
    gw_socket *sk = connected(gw, &ws, &s);
    CHECK_INT(gw_socket_emit(sk, "hello", "1,2", 3, NULL, 0), 0);
    CHECK_STR(fake_pop(s), "42[\"hello\",1,2]");
    CHECK_INT(gw_socket_emit(sk, "bye\"", NULL, 0, NULL, 0), 0);
    CHECK_STR(fake_pop(s), "42[\"bye\\\"\"]");

    ack_calls = ack_null = 0;
    CHECK_INT(gw_socket_emit_ack(sk, "q", "5", 1, NULL, 0, ack_cb, (void *)1), 0);
    CHECK_INT(gw_socket_emit_ack(sk, "q2", NULL, 0, NULL, 0, ack_cb, (void *)2), 0);
    CHECK_STR(fake_pop(s), "420[\"q\",5]");
    CHECK_STR(fake_pop(s), "421[\"q2\"]");
    /* the client's ACKs, in any order, reach the right callback once */
    CHECK_INT(fake_feed(s, &ws, "431[\"r2\",{}]"), 0);
    CHECK_INT(ack_calls, 1);
    CHECK_INT(ack_ud_seen, 2);
    CHECK_STR(ack_args, "\"r2\",{}");
    CHECK_INT(fake_feed(s, &ws, "430[]"), 0);
    CHECK_INT(ack_calls, 2);
    CHECK_INT(ack_ud_seen, 1);
    CHECK_STR(ack_args, "");
    CHECK_INT(fake_feed(s, &ws, "430[]"), 0); /* late duplicate: ignored */
    CHECK_INT(fake_feed(s, &ws, "439[]"), 0); /* unknown: ignored */
    CHECK_INT(ack_calls, 2);
    CHECK_INT(s->state, GW_SESSION_OPEN);
    CHECK_INT(n_event, 0); /* acks are not events */
    /* one still pending when the socket goes: called with NULL */
    CHECK_INT(gw_socket_emit_ack(sk, "q3", NULL, 0, NULL, 0, ack_cb, (void *)3), 0);
    CHECK_STR(fake_pop(s), "422[\"q3\"]");
    CHECK_INT(fake_feed(s, &ws, "41"), 0);
    CHECK_INT(ack_calls, 3);
    CHECK_INT(ack_null, 1);
    CHECK_INT(ack_ud_seen, 3);
    /* gone: nothing more can be sent on it */
    CHECK_INT(gw_socket_emit(sk, "x", NULL, 0, NULL, 0), -1);
    CHECK_INT(gw_socket_emit_ack(sk, "x", NULL, 0, NULL, 0, ack_cb, NULL), -1);
    CHECK(fake_pop(s) == NULL);
    gw_server_free_core(gw);
}

static void test_binary(void)
{
    gw_options o = fake_options(&app);
    o.max_payload = 200;
    gw_server *gw = server(&o);
    fake_conn ws = {0};
    gw_session *s;
    gw_socket *sk = connected(gw, &ws, &s);
    CHECK_INT(fake_feed(s, &ws, "451-[\"bin\",{\"_placeholder\":true,\"num\":0},\"t\"]"), 0);
    CHECK_INT(n_event, 0); /* waits for its attachment */
    CHECK(s->partial != NULL);
    CHECK_INT(fake_feed_binary(s, &ws, "\x01\x00\x02", 3), 0);
    CHECK_INT(n_event, 1);
    CHECK_STR(e_name, "bin");
    CHECK_INT(e_natt, 1);
    CHECK_INT(e_att_len, 3);
    CHECK(memcmp(e_att, "\x01\x00\x02", 3) == 0);
    CHECK_STR(e_args, "{\"_placeholder\":true,\"num\":0},\"t\"");
    CHECK(s->partial == NULL);
    /* two attachments and an ack id */
    CHECK_INT(fake_feed(s, &ws, "452-9[\"two\",{\"_placeholder\":true,\"num\":1},"
                                "{\"_placeholder\":true,\"num\":0}]"), 0);
    CHECK_INT(fake_feed_binary(s, &ws, "A", 1), 0);
    CHECK_INT(n_event, 1);
    CHECK_INT(fake_feed_binary(s, &ws, "BB", 2), 0);
    CHECK_INT(n_event, 2);
    CHECK_INT(e_natt, 2);
    CHECK_INT(e_ack, 9);
    CHECK_INT(e_att_len, 2); /* the first argument is placeholder 1 */
    CHECK(memcmp(e_att, "BB", 2) == 0);

    /* the server's binary emit and ack: packet, then one 'b' frame each */
    rc_slice att[1] = {{"\xff\x00", 2}};
    const char *ph = "{\"_placeholder\":true,\"num\":0}";
    CHECK_INT(gw_socket_emit(sk, "e", ph, strlen(ph), att, 1), 0);
    CHECK_STR(fake_pop(s), "451-[\"e\",{\"_placeholder\":true,\"num\":0}]");
    CHECK(fake_pop(s) != NULL);
    CHECK_INT(fake_len, 3);
    CHECK(memcmp(fake_buf, "b\xff\x00", 3) == 0);
    CHECK_INT(gw_socket_ack(sk, 9, ph, strlen(ph), att, 1), 0);
    CHECK_STR(fake_pop(s), "461-9[{\"_placeholder\":true,\"num\":0}]");
    CHECK(fake_pop(s) != NULL && fake_len == 3);

    /* a text packet where an attachment is due is a protocol error */
    CHECK_INT(fake_feed(s, &ws, "451-[\"bin\",{\"_placeholder\":true,\"num\":0}]"), 0);
    CHECK_INT(fake_feed(s, &ws, "42[\"x\"]"), -1);
    CHECK_INT(s->state, GW_SESSION_CLOSING);
    gw_session_release(s, &ws);

    /* an attachment nobody announced, and one over maxPayload */
    fake_conn w2 = {0}, w3 = {0};
    connected(gw, &w2, &s);
    CHECK_INT(fake_feed_binary(s, &w2, "x", 1), -1);
    CHECK_INT(s->close_code, GW_CLOSE_UNACCEPTABLE_OPCODE);
    connected(gw, &w3, &s);
    char big[200];
    memset(big, 'z', sizeof big);
    CHECK_INT(fake_feed(s, &w3, "451-[\"bin\",{\"_placeholder\":true,\"num\":0}]"), 0);
    CHECK_INT(fake_feed_binary(s, &w3, big, sizeof big), -1);
    CHECK_INT(s->close_code, GW_CLOSE_TOO_LARGE);
    CHECK_INT(n_event, 2);
    gw_server_free_core(gw);
}

static void test_rate_limit(void)
{
    gw_options o = fake_options(&app);
    o.client_events_per_minute = 1;
    o.client_event_burst = 1;
    gw_server *gw = server(&o);
    fake_conn ws = {0};
    gw_session *s;
    connected(gw, &ws, &s);
    const gw_counters *k = gw_server_counters(gw);
    /* burst 1: one event, then refusals; the abuse bucket (3 x) holds 3 */
    CHECK_INT(fake_feed(s, &ws, "42[\"a\"]"), 0);
    CHECK_INT(fake_feed(s, &ws, "42[\"a\"]"), 0);
    CHECK_INT(fake_feed(s, &ws, "42[\"a\"]"), 0);
    CHECK_INT(n_event, 1);
    CHECK_INT(n_limited, 2);
    CHECK_INT(rc_counter_get(&k->client_errors[GW_ERR_RATE_LIMITED]), 2);
    CHECK_INT(rc_counter_get(&k->rate_limited_sockets), 1); /* one socket, counted once */
    CHECK_INT(s->state, GW_SESSION_OPEN);
    CHECK(fake_pop(s) == NULL);
    /* the fourth is a flood: DISCONNECT, then the session closes */
    CHECK_INT(fake_feed(s, &ws, "42[\"a\"]"), -1);
    CHECK_INT(n_event, 1);
    CHECK_INT(n_limited, 2);
    CHECK_INT(n_disc, 1);
    CHECK_STR(d_reason, "client event flood");
    CHECK_INT(d_lost, 0);
    CHECK_INT(rc_counter_get(&k->client_errors[GW_ERR_RATE_LIMITED]), 2);
    CHECK_INT(rc_counter_get(&k->client_errors[GW_ERR_FLOOD]), 1);
    CHECK_INT(rc_counter_get(&k->rate_limited_sockets), 1);
    CHECK_INT(s->state, GW_SESSION_CLOSING);
    CHECK_STR(fake_pop(s), "41"); /* flushed before the close */
    gw_session_release(s, &ws);
    gw_server_free_core(gw);

    /* the bucket refills with time */
    o.client_events_per_minute = 60;
    gw = server(&o);
    connected(gw, &ws, &s);
    CHECK_INT(fake_feed(s, &ws, "42[\"a\"]"), 0);
    CHECK_INT(fake_feed(s, &ws, "42[\"a\"]"), 0);
    CHECK_INT(n_event, 1);
    CHECK_INT(n_limited, 1);
    fake_advance(gw, 999);
    CHECK_INT(fake_feed(s, &ws, "42[\"a\"]"), 0);
    CHECK_INT(n_event, 1);
    fake_advance(gw, 1);
    CHECK_INT(fake_feed(s, &ws, "42[\"a\"]"), 0);
    CHECK_INT(n_event, 2);
    gw_server_free_core(gw);
}

static void test_disconnect(void)
{
    gw_options o = fake_options(&app);
    gw_server *gw = server(&o);
    fake_conn ws = {0};
    gw_session *s;
    connected(gw, &ws, &s);
    /* the client leaves "/": once, not lost, the session stays */
    CHECK_INT(fake_feed(s, &ws, "41"), 0);
    CHECK_INT(n_disc, 1);
    CHECK_STR(d_reason, "client namespace disconnect");
    CHECK_INT(d_lost, 0);
    CHECK_INT(s->state, GW_SESSION_OPEN);
    CHECK_INT(gw->nsockets, 0);
    CHECK_INT(fake_feed(s, &ws, "41"), -1); /* not open any more */
    CHECK_INT(n_disc, 1);
    gw_session_release(s, &ws);

    /* the server disconnects one socket: DISCONNECT on its namespace */
    fake_conn w2 = {0};
    connected(gw, &w2, &s);
    CHECK_INT(fake_feed(s, &w2, "40/admin,"), 0);
    gw_socket *adm = last_sk;
    fake_drain(s);
    n_disc = 0;
    gw_socket_disconnect(adm, "kicked", 0);
    CHECK_STR(fake_pop(s), "41/admin,");
    CHECK_INT(n_disc, 1);
    CHECK_STR(d_reason, "kicked");
    CHECK_INT(d_lost, 0);
    gw_socket_disconnect(adm, "again", 0); /* gone: no-op */
    CHECK_INT(n_disc, 1);
    CHECK(fake_pop(s) == NULL);
    CHECK_INT(s->state, GW_SESSION_OPEN);
    /* the session going away takes the remaining socket, lost */
    fake_advance(gw, GW_TICK_MS); /* adm is freed here */
    gw_session_release(s, &w2);
    CHECK_INT(n_disc, 2);
    CHECK_INT(d_lost, 1);
    fake_advance(gw, GW_TICK_MS);
    CHECK_INT(n_disc, 2);
    CHECK_INT(gw->nsessions, 0);
    gw_server_free_core(gw);
}

static int timer_fired;
static void sk_timer(gw_socket *sk)
{
    (void)sk;
    timer_fired++;
}

static void free_ext(void *ext)
{
    n_ext_freed++;
    free(ext);
}

static void test_timer_and_ext(void)
{
    gw_options o = fake_options(&app);
    gw_server *gw = server(&o);
    fake_conn ws = {0};
    gw_session *s;
    gw_socket *sk = connected(gw, &ws, &s);
    timer_fired = 0;
    CHECK_INT(gw_socket_set_timer(sk, 100, sk_timer), 0);
    fake_advance(gw, 99);
    CHECK_INT(timer_fired, 0);
    fake_advance(gw, GW_TICK_MS);
    CHECK_INT(timer_fired, 1);
    /* re-armed, then the socket goes: it never fires */
    CHECK_INT(gw_socket_set_timer(sk, 100, sk_timer), 0);
    CHECK_INT(gw_socket_set_ext(sk, malloc(8), free_ext), 0);
    CHECK_INT(gw_socket_set_ext(sk, malloc(8), free_ext), 0); /* replaces */
    CHECK_INT(n_ext_freed, 1);
    CHECK_INT(fake_feed(s, &ws, "41"), 0);
    CHECK_INT(d_ext_alive, 1); /* still there during on_disconnect */
    CHECK_INT(n_ext_freed, 2);
    char *x = malloc(8);
    CHECK_INT(gw_socket_set_ext(sk, x, free_ext), -1);
    free(x);
    CHECK_INT(gw_socket_set_timer(sk, 10, sk_timer), -1);
    fake_advance(gw, 200);
    CHECK_INT(timer_fired, 1);
    CHECK_INT(n_ext_freed, 2);
    gw_server_free_core(gw);
}

int main(void)
{
    fake_quiet();
    test_connect();
    test_reject_and_pending();
    test_invalid_namespace();
    test_events_and_acks();
    test_emit_and_emit_ack();
    test_binary();
    test_rate_limit();
    test_disconnect();
    test_timer_and_ext();
    return CHECK_DONE();
}
