/*
 * gw_fake.h - a fake transport and clock for the unit tests of the server
 * library (gateway/server/): a gw_io whose connections are fake_conn structs
 * of the test, recording what the sessions ask of them (want_write,
 * close_within, write_now), a clock that only moves when a test advances it,
 * and a loop that runs the wheel at the times the server asked to be woken
 * (wake_at). Frames a session would write are taken from its queue with
 * fake_pop(). Included by one test file each, so static definitions are
 * fine; everything is single-threaded except what gw_post() brings.
 */
#ifndef RC_TEST_GW_FAKE_H
#define RC_TEST_GW_FAKE_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "gateway/server/server_private.h"

/* A connection carrying a session: what the session asked of it. */
typedef struct fake_conn {
    int want_write;        /* want_write() calls */
    int closes;            /* close_within() calls */
    int close_secs;        /* secs of the last close_within() */
    char written[256];     /* bytes of write_now(), concatenated */
    size_t written_len;
    int fail_write;        /* write_now() returns -1 */
} fake_conn;

static int64_t fake_now;            /* set by fake_server() */
static int64_t fake_wake = -1;     /* wake_at() pending, or -1 */
static int fake_wakes;             /* wake_at() calls */

static inline void fake_want_write(gw_server *gw, void *conn)
{
    (void)gw;
    ((fake_conn *)conn)->want_write++;
}

static inline void fake_close_within(gw_server *gw, void *conn, int secs)
{
    fake_conn *c = conn;
    (void)gw;
    c->closes++;
    c->close_secs = secs;
}

static inline int fake_write_now(gw_server *gw, void *conn, const void *p, size_t len)
{
    fake_conn *c = conn;
    (void)gw;
    if (c->fail_write || len > sizeof c->written - c->written_len)
        return -1;
    memcpy(c->written + c->written_len, p, len);
    c->written_len += len;
    return 0;
}

static inline void fake_wake_at(gw_server *gw, int64_t ms)
{
    (void)gw;
    fake_wake = ms;
    fake_wakes++;
}

static inline int64_t fake_now_ms(gw_server *gw)
{
    (void)gw;
    return fake_now;
}

static const gw_io fake_io = {
    .want_write = fake_want_write,
    .close_within = fake_close_within,
    .write_now = fake_write_now,
    .wake_at = fake_wake_at,
    .now_ms = fake_now_ms,
};

/* Options a test starts from: long heartbeat, a queue of 16. */
static inline gw_options fake_options(const gw_app *app)
{
    gw_options o = {
        .app = app,
        .ping_interval_ms = 25000,
        .ping_timeout_ms = 20000,
        .max_payload = 100000,
        .queue_max = 16,
        .connect_timeout_ms = 45000,
    };
    return o;
}

static inline gw_server *fake_server(const gw_options *o)
{
    char err[256] = "";
    fake_now = 1000000; /* on the tick grid; tests step off it themselves */
    fake_wake = -1;
    gw_server *gw = gw_server_new_core(o, &fake_io, err, sizeof err);
    if (!gw)
        fprintf(stderr, "gw_server_new_core: %s\n", err);
    return gw;
}

/* Moves the clock ms forward, ticking the server at every wake-up it asked
 * for on the way, as the lws loop would. */
static inline void fake_advance(gw_server *gw, int64_t ms)
{
    int64_t until = fake_now + ms;
    while (fake_wake >= 0 && fake_wake <= until) {
        if (fake_wake > fake_now)
            fake_now = fake_wake;
        fake_wake = -1;
        gw_server_tick(gw);
    }
    fake_now = until;
}

/* The oldest queued frame of s as text (NUL-terminated; binary frames are
 * 'b' + bytes, see fake_len), or NULL when the queue is empty. Valid until
 * the next call. */
static char fake_buf[8192];
static size_t fake_len;

static inline const char *fake_pop(gw_session *s)
{
    gw_frame *f = gw_frame_queue_pop(&s->q);
    if (!f)
        return NULL;
    fake_len = gw_frame_len(f);
    if (fake_len >= sizeof fake_buf)
        fake_len = sizeof fake_buf - 1;
    memcpy(fake_buf, gw_frame_data(f), fake_len);
    fake_buf[fake_len] = '\0';
    gw_frame_unref(f);
    return fake_buf;
}

/* Drops whatever s has queued; returns how many frames. */
static inline size_t fake_drain(gw_session *s)
{
    size_t n = 0;
    while (fake_pop(s))
        n++;
    return n;
}

/* Feeds s one WebSocket text frame (or polling text packet) from conn. */
static inline int fake_feed(gw_session *s, void *conn, const char *text)
{
    eio_packet pkt;
    int rc = eio_parse_packet(text, strlen(text), 0, &pkt);
    if (rc < 0) {
        fprintf(stderr, "fake_feed: %s: %s\n", text, eio_strerror(rc));
        return -2;
    }
    return gw_session_on_packet(s, conn, &pkt);
}

/* Feeds s one binary message. */
static inline int fake_feed_binary(gw_session *s, void *conn, const void *p, size_t len)
{
    eio_packet pkt;
    int rc = eio_parse_packet(p, len, 1, &pkt);
    if (rc < 0)
        return -2;
    return gw_session_on_packet(s, conn, &pkt);
}

/* A session opened on WebSocket conn, its OPEN packet popped. */
static inline gw_session *fake_ws_session(gw_server *gw, fake_conn *conn)
{
    gw_session *s = gw_session_new(gw, GW_TR_WEBSOCKET, 0, NULL);
    if (s) {
        s->ws = conn;
        fake_drain(s);
    }
    return s;
}

/*
 * A session on conn with its socket on "/" connected, the replies popped:
 * the test's on_connect accepts and leaves the socket in *last, which is
 * returned (NULL when it did not). The session goes to *out.
 */
static inline gw_socket *fake_connect(gw_server *gw, fake_conn *conn, gw_session **out,
                                      gw_socket **last)
{
    gw_session *s = fake_ws_session(gw, conn);
    *last = NULL;
    fake_feed(s, conn, "40");
    fake_drain(s);
    *out = s;
    return *last;
}

static inline void fake_quiet(void)
{
    rc_log_min_level = RC_LOG_ERROR;
}

#endif
