/*
 * session.c - Engine.IO sessions: lifetime, the bounded send queue, the
 * heartbeat and connect deadline, the upgrade from polling to WebSocket,
 * the dispatch of Engine.IO packets, and the timing wheel that drives the
 * timers.
 *
 * Implementation notes. A session never frees itself synchronously: closing
 * it takes it out of rooms, timers and (usually) the sid table at once, but
 * the object is released on the next wheel tick once no transport points at
 * it, so that no caller (a broadcast walking a room, a packet handler, a
 * transport callback, an application callback) is left holding a dangling
 * pointer. Overflows during a broadcast are parked on gw->doomed and closed
 * after the walk.
 *
 * The heartbeat is one timer per session that alternates between "send the
 * next ping" (pingInterval after the last pong) and "the pong is late"
 * (pingTimeout after the ping), as the Engine.IO v4 reference server does.
 * Deadlines are computed from when the ping was due, not from when the
 * wheel got round to sending it, and a request for a session whose pong is
 * overdue closes it on the spot (session_find), so the wheel's tick never
 * makes a session outlive pingInterval + pingTimeout.
 *
 * The wheel is a ring of bucket lists (circular, with sentinels) indexed by
 * tick; arming and cancelling are O(1), and one lws timer visits the bucket
 * of each elapsed tick. Due timers are moved to a local list before any
 * callback runs, so callbacks may arm or cancel anything, the session's
 * other timer included.
 *
 * Replies (OPEN, pongs, Socket.IO packets) are small frames of their own
 * and go through the same bounded queue as broadcast frames, so packet order
 * on the wire is queue order.
 *
 * For max-connections-per-ip, an open session counts against the address of
 * the connection that opened it (gw->addrs, address -> count), from the
 * handshake until it leaves SESSION_OPEN; an address whose count drops to
 * zero is forgotten.
 */
#include "session.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../core/log.h"
#include "../core/metrics.h"

#define FAC "gateway"

static void session_schedule_free(session *s, int linger_ms);
static void addr_release(session *s);

int gw_random_id(char out[GW_ID_LEN + 1])
{
    static const char b64url[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char r[15];
    if (RAND_bytes(r, sizeof r) != 1)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < sizeof r; i += 3) {
        unsigned long v = (unsigned long)r[i] << 16 | (unsigned long)r[i + 1] << 8 | r[i + 2];
        out[o++] = b64url[(v >> 18) & 63];
        out[o++] = b64url[(v >> 12) & 63];
        out[o++] = b64url[(v >> 6) & 63];
        out[o++] = b64url[v & 63];
    }
    out[o] = '\0';
    return 0;
}

/* ---- timing wheel ---- */

static const lws_usec_t tick_us = (lws_usec_t)GW_TICK_MS * LWS_US_PER_MS;

static lws_usec_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (lws_usec_t)ts.tv_sec * LWS_US_PER_SEC + ts.tv_nsec / 1000;
}

static uint64_t now_tick(void)
{
    return (uint64_t)(mono_us() / tick_us);
}

void gw_wheel_init(gateway *gw)
{
    for (size_t i = 0; i < GW_WHEEL_SLOTS; i++)
        gw->wheel[i].prev = gw->wheel[i].next = &gw->wheel[i];
    gw->wheel_tick = now_tick();
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

static void wheel_cb(lws_sorted_usec_list_t *sul);

/* Keeps the one lws timer ticking while any wheel timer is armed. */
static void wheel_schedule(gateway *gw)
{
    if (gw->wheel_running || !gw->wheel_armed || gw->destroying)
        return;
    lws_usec_t now = mono_us(), next = (lws_usec_t)(gw->wheel_tick + 1) * tick_us;
    gw->wheel_running = 1;
    lws_sul_schedule(gw->ctx, 0, &gw->wheel_sul, wheel_cb, next > now ? next - now : 1);
}

static void wheel_cb(lws_sorted_usec_list_t *sul)
{
    gateway *gw = lws_container_of(sul, gateway, wheel_sul);
    uint64_t now = now_tick();
    gw_timer due = {.prev = &due, .next = &due};

    gw->wheel_running = 0;
    if (now - gw->wheel_tick > GW_WHEEL_SLOTS)
        gw->wheel_tick = now - GW_WHEEL_SLOTS; /* stalled: each bucket once */
    while (gw->wheel_tick < now) {
        gw->wheel_tick++;
        gw_timer *b = &gw->wheel[gw->wheel_tick % GW_WHEEL_SLOTS], *t, *nx;
        for (t = b->next; t != b; t = nx) {
            nx = t->next;
            if (t->due <= gw->wheel_tick) {
                timer_unlink(t);
                timer_push(&due, t);
            }
        }
    }
    /* A callback may cancel or re-arm any timer, including others on the
     * due list: take them one at a time from its head. */
    while (due.next != &due) {
        gw_timer *t = due.next;
        timer_unlink(t);
        gw->wheel_armed--;
        t->cb(t);
    }
    wheel_schedule(gw);
}

void gw_wheel_stop(gateway *gw)
{
    lws_sul_cancel(&gw->wheel_sul);
    gw->wheel_running = 0;
}

void gw_timer_cancel(gateway *gw, gw_timer *t)
{
    if (!t->next)
        return;
    timer_unlink(t);
    gw->wheel_armed--;
}

void gw_timer_arm(gateway *gw, gw_timer *t, void (*cb)(gw_timer *t), int ms)
{
    gw_timer_cancel(gw, t);
    if (!gw->wheel_armed && !gw->wheel_running)
        gw->wheel_tick = now_tick(); /* idle wheel: nothing to catch up on */
    lws_usec_t at = mono_us() + (lws_usec_t)(ms > 0 ? ms : 0) * LWS_US_PER_MS;
    uint64_t due = (uint64_t)((at + tick_us - 1) / tick_us);
    if (due <= gw->wheel_tick)
        due = gw->wheel_tick + 1;
    t->due = due;
    t->cb = cb;
    timer_push(&gw->wheel[due % GW_WHEEL_SLOTS], t);
    gw->wheel_armed++;
    wheel_schedule(gw);
}

int64_t gw_now_ms(void)
{
    return (int64_t)(mono_us() / LWS_US_PER_MS);
}

/* ---- connections per client address ---- */

/* One client address and its open sessions; the hmap key is addr. */
struct gw_addr {
    size_t n;
    char addr[];
};

const char *gw_peer_addr(struct lws *wsi, char *buf, size_t cap)
{
    const char *a = lws_get_peer_simple(wsi, buf, cap);
    if (!a || !a[0])
        return NULL;
    /* A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d. */
    if (strncasecmp(a, "::ffff:", 7) == 0 && strchr(a + 7, '.'))
        memmove(buf, a + 7, strlen(a + 7) + 1);
    else if (a != buf)
        snprintf(buf, cap, "%s", a);
    return buf;
}

int gw_addr_admit(gateway *gw, const char *addr)
{
    int max = gw->cfg->max_connections_per_ip;
    if (max <= 0 || !addr)
        return 1;
    hmap_slot *slot = hmap_find(&gw->addrs, addr);
    return !slot || ((struct gw_addr *)slot->val)->n < (size_t)max;
}

int session_count_addr(session *s, const char *addr)
{
    gateway *gw = s->gw;
    if (s->addr || s->state != SESSION_OPEN || !addr || gw->cfg->max_connections_per_ip <= 0)
        return 0; /* already counted, closed, unknown address, or no limit */
    hmap_slot *slot = hmap_find(&gw->addrs, addr);
    struct gw_addr *e = slot ? slot->val : NULL;
    if (!e) {
        size_t n = strlen(addr);
        if (!(e = malloc(sizeof *e + n + 1)))
            return -1;
        e->n = 0;
        memcpy(e->addr, addr, n + 1);
        if (hmap_put(&gw->addrs, e->addr, e) != 1) {
            free(e);
            return -1;
        }
    }
    e->n++;
    s->addr = e;
    return 0;
}

/* The session is no longer open: it stops counting against its address. */
static void addr_release(session *s)
{
    struct gw_addr *e = s->addr;
    if (!e)
        return;
    s->addr = NULL;
    if (--e->n == 0) {
        hmap_del(&s->gw->addrs, e->addr, NULL);
        free(e);
    }
}

/* ---- lifetime ---- */

static void hb_cb(gw_timer *t);
static void connect_cb(gw_timer *t);

session *session_new(gateway *gw, enum gw_transport tr, int raw, const char *bearer)
{
    const rc_config *cfg = gw->cfg;
    session *s = calloc(1, sizeof *s);
    frame *open = NULL;
    if (!s)
        return NULL;
    s->gw = gw;
    s->transport = tr;
    s->state = SESSION_OPEN;
    s->raw = raw;
    frame_queue_init(&s->q, cfg->queue_max > 0 ? (size_t)cfg->queue_max : 1);
    if (gw_random_id(s->sid) < 0)
        goto fail;
    if (bearer && !(s->bearer = strdup(bearer)))
        goto fail;

    rc_buf_reset(&gw->scratch);
    if (eio_encode_open(&gw->scratch, s->sid, tr == GW_TR_POLLING,
                        cfg->ping_interval_ms, cfg->ping_timeout_ms,
                        cfg->max_payload) < 0 ||
        !(open = frame_new(gw->scratch.p, gw->scratch.len)) ||
        frame_queue_push(&s->q, open) < 0)
        goto fail;
    frame_unref(open);
    open = NULL;
    if (hmap_put(&gw->sessions, s->sid, s) != 1)
        goto fail; /* out of memory, or a 90-bit collision */
    s->listed = 1;

    s->next = gw->all;
    if (gw->all)
        gw->all->prev = s;
    gw->all = s;
    gw->nsessions++;
    gw->nopen++;
    rc_metric_inc(RC_M_CONNECTIONS);
    rc_metric_inc(RC_M_HANDSHAKES);

    s->ping_due_ms = gw_now_ms() + cfg->ping_interval_ms;
    gw_timer_arm(gw, &s->hb, hb_cb, cfg->ping_interval_ms);
    if (!raw)
        gw_timer_arm(gw, &s->connect, connect_cb, cfg->connect_timeout_ms);
    LOG_DEBUG(FAC, "sid %s: opened (%s%s)", s->sid,
              tr == GW_TR_POLLING ? "polling" : "websocket", raw ? ", plain Engine.IO" : "");
    return s;

fail:
    frame_unref(open);
    frame_queue_clear(&s->q);
    free(s->bearer);
    free(s);
    return NULL;
}

session *session_find(gateway *gw, const char *sid)
{
    hmap_slot *slot = hmap_find(&gw->sessions, sid);
    session *s = slot ? slot->val : NULL;
    if (s && s->state == SESSION_OPEN && s->awaiting_pong && gw_now_ms() >= s->pong_due_ms) {
        session_close(s, "ping timeout", LWS_CLOSE_STATUS_NORMAL, 0);
        return NULL;
    }
    return s;
}

static void unlist(session *s)
{
    if (s->listed) {
        hmap_del(&s->gw->sessions, s->sid, NULL);
        s->listed = 0;
    }
}

void session_free(session *s)
{
    gateway *gw = s->gw;
    addr_release(s);
    if (s->state == SESSION_OPEN) {
        gw->nopen--;
        rc_metric_add(RC_M_CONNECTIONS, -1);
        s->state = SESSION_CLOSING;
    }
    sockets_close_all(s, "server shutting down");
    unlist(s);
    if (s->prev)
        s->prev->next = s->next;
    else
        gw->all = s->next;
    if (s->next)
        s->next->prev = s->prev;
    gw->nsessions--;
    gw_timer_cancel(gw, &s->hb);
    gw_timer_cancel(gw, &s->connect);
    frame_queue_clear(&s->q);
    free(s->bearer);
    free(s);
}

static void free_cb(gw_timer *t)
{
    session *s = lws_container_of(t, session, hb);
    gateway *gw = s->gw;
    LOG_DEBUG(FAC, "sid %s: freed", s->sid);
    session_free(s);
    if (gw->stopping && gw->nsessions == 0 && gw->http_pending == 0)
        gw->done = 1;
}

/* Once closed and detached from every transport, the session is freed on
 * the next tick, or after linger_ms (the heartbeat timer is reused: it is
 * idle once the session is closed). */
static void session_schedule_free(session *s, int linger_ms)
{
    if (s->state != SESSION_CLOSING || s->ws || s->poll || s->probe ||
        s->gw->destroying)
        return;
    if (!linger_ms)
        unlist(s);
    gw_timer_arm(s->gw, &s->hb, free_cb, linger_ms);
}

void session_close(session *s, const char *reason, int code, int flush)
{
    gateway *gw = s->gw;
    if (s->state != SESSION_OPEN)
        return;
    s->state = SESSION_CLOSING;
    s->close_code = code;
    s->flush_on_close = flush;
    LOG_DEBUG(FAC, "sid %s: closing: %s", s->sid, reason);
    gw->nopen--;
    addr_release(s);
    rc_metric_add(RC_M_CONNECTIONS, -1);
    /* The application hears about its sockets first; what they send now is
     * refused (the session is no longer open). */
    sockets_close_all(s, reason);
    if (gw->destroying)
        return;
    gw_timer_cancel(gw, &s->hb);
    gw_timer_cancel(gw, &s->connect);
    if (!flush)
        frame_queue_clear(&s->q);
    /* The transports notice CLOSING in their next writable callback; a
     * peer that never lets us write is cut after a grace period. */
    if (s->ws) {
        lws_callback_on_writable(s->ws);
        lws_set_timeout(s->ws, PENDING_TIMEOUT_USER_OK, 3);
    }
    if (s->probe) {
        lws_callback_on_writable(s->probe);
        lws_set_timeout(s->probe, PENDING_TIMEOUT_USER_OK, 3);
    }
    if (s->poll)
        lws_callback_on_writable(s->poll);
    /* A polling client between two GETs gets its last frames (the close
     * packet on shutdown, or the noop that answers its own CLOSE) from the
     * next one. */
    int linger = s->transport == GW_TR_POLLING && !s->poll &&
                 ((flush && frame_queue_len(&s->q)) || s->by_client);
    if (!linger)
        unlist(s);
    session_schedule_free(s, linger ? gw->cfg->ping_timeout_ms : 0);
}

void session_release(session *s, struct lws *wsi)
{
    if (!wsi) {
        /* nothing to detach: the last poll of a closed session was answered */
    } else if (wsi == s->ws) {
        s->ws = NULL;
        if (s->state == SESSION_OPEN && s->transport == GW_TR_WEBSOCKET)
            session_close(s, "transport closed", LWS_CLOSE_STATUS_NORMAL, 0);
    } else if (wsi == s->probe) {
        s->probe = NULL;
        s->upgrading = 0;
    } else if (wsi == s->poll) {
        s->poll = NULL;
    }
    session_schedule_free(s, 0);
}

/* ---- sending ---- */

void session_kick(session *s)
{
    if (s->gw->destroying)
        return;
    if (!frame_queue_len(&s->q) && s->state == SESSION_OPEN && !s->upgrading)
        return;
    if (s->transport == GW_TR_WEBSOCKET) {
        if (s->ws)
            lws_callback_on_writable(s->ws);
        if (s->poll) /* a poll left over from before the upgrade */
            lws_callback_on_writable(s->poll);
    } else if (s->poll) {
        lws_callback_on_writable(s->poll);
    }
}

static void session_overflow(session *s)
{
    gateway *gw = s->gw;
    if (s->overflowed)
        return;
    s->overflowed = 1;
    rc_metric_inc(RC_M_SLOW_DISCONNECTS);
    LOG_WARN(FAC, "sid %s: %zu frames queued, disconnecting a slow client",
             s->sid, frame_queue_len(&s->q));
    if (!gw->in_broadcast) {
        session_close(s, "queue full", LWS_CLOSE_STATUS_POLICY_VIOLATION, 0);
        return;
    }
    if (gw->ndoomed == gw->doomed_cap) {
        size_t cap = gw->doomed_cap ? gw->doomed_cap * 2 : 16;
        session **d = realloc(gw->doomed, cap * sizeof *d);
        if (!d) {
            /* Cannot defer: let lws cut the transport; its close callback
             * closes the session outside the broadcast. */
            frame_queue_clear(&s->q);
            if (s->ws)
                lws_set_timeout(s->ws, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
            return;
        }
        gw->doomed = d;
        gw->doomed_cap = cap;
    }
    gw->doomed[gw->ndoomed++] = s;
}

void session_reap_doomed(gateway *gw)
{
    for (size_t i = 0; i < gw->ndoomed; i++)
        session_close(gw->doomed[i], "queue full",
                      LWS_CLOSE_STATUS_POLICY_VIOLATION, 0);
    gw->ndoomed = 0;
}

int session_send(session *s, frame *f)
{
    if (s->state != SESSION_OPEN || s->overflowed)
        return -1;
    int rc = frame_queue_push(&s->q, f);
    if (rc < 0) {
        if (rc == FRAME_QUEUE_NOMEM)
            LOG_ERROR(FAC, "sid %s: out of memory queueing a frame", s->sid);
        session_overflow(s);
        return -1;
    }
    /* A queue that was already non-empty has a writable callback pending
     * (or no transport to write to yet): only the first frame wakes it. */
    if (frame_queue_len(&s->q) == 1)
        session_kick(s);
    return 0;
}

int session_send_text(session *s, const char *text, size_t len)
{
    if (s->state != SESSION_OPEN)
        return -1;
    frame *f = frame_new(text, len);
    if (!f) {
        LOG_ERROR(FAC, "sid %s: out of memory building a frame", s->sid);
        session_close(s, "out of memory", LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, 0);
        return -1;
    }
    int rc = session_send(s, f);
    frame_unref(f);
    return rc;
}

int gw_session_send_message(gw_session *s, const char *data, size_t len, int binary)
{
    rc_buf *b = &s->gw->scratch2;
    if (s->state != SESSION_OPEN)
        return -1;
    rc_buf_reset(b);
    if (rc_buf_append(b, binary ? "b" : "4", 1) < 0 || rc_buf_append(b, data, len) < 0)
        return -1;
    return session_send_text(s, b->p, b->len);
}

int session_fault(session *s, const char *what, int code)
{
    rc_metric_inc(RC_M_CLIENT_ERRORS);
    LOG_INFO(FAC, "sid %s: closing: %s", s->sid, what);
    session_close(s, what, code, 0);
    return -1;
}

/* ---- timers ---- */

static void hb_cb(gw_timer *t)
{
    session *s = lws_container_of(t, session, hb);
    gateway *gw = s->gw;
    if (s->state != SESSION_OPEN)
        return;
    if (s->awaiting_pong) {
        session_close(s, "ping timeout", LWS_CLOSE_STATUS_NORMAL, 0);
        return;
    }
    /* The pong is due pingTimeout after the ping was due, however late the
     * tick that sends it. */
    int64_t now = gw_now_ms();
    s->awaiting_pong = 1;
    s->pong_due_ms = s->ping_due_ms + gw->cfg->ping_timeout_ms;
    gw_timer_arm(gw, &s->hb, hb_cb, s->pong_due_ms > now ? (int)(s->pong_due_ms - now) : 0);
    session_send(s, gw->f_ping);
}

static void connect_cb(gw_timer *t)
{
    session *s = lws_container_of(t, session, connect);
    if (s->state == SESSION_OPEN && !s->raw && !s->nconnected)
        session_close(s, "no Socket.IO CONNECT in time", LWS_CLOSE_STATUS_NORMAL, 0);
}

/* ---- Engine.IO ---- */

static void upgrade(session *s)
{
    s->transport = GW_TR_WEBSOCKET;
    s->ws = s->probe;
    s->probe = NULL;
    s->upgrading = 0;
    if (s->poll) /* a GET still held is refused (poll_writable) */
        lws_callback_on_writable(s->poll);
    LOG_DEBUG(FAC, "sid %s: upgraded to websocket", s->sid);
    if (frame_queue_len(&s->q))
        lws_callback_on_writable(s->ws);
}

static int on_message(session *s, const eio_packet *pkt)
{
    gateway *gw = s->gw;
    if (s->raw) {
        if (gw->app.on_engine_message)
            gw->app.on_engine_message(gw->app.ud, s, pkt->data.p, pkt->data.len, pkt->binary);
        return s->state == SESSION_OPEN ? 0 : -1;
    }
    if (pkt->binary)
        return sockets_on_binary(s, pkt->data.p, pkt->data.len);
    return sockets_on_text(s, pkt->data.p, pkt->data.len);
}

int session_on_packet(session *s, struct lws *wsi, const eio_packet *pkt)
{
    gateway *gw = s->gw;
    int probing = wsi && wsi == s->probe;
    if (s->state != SESSION_OPEN)
        return -1;

    if (probing) {
        /* A probing WebSocket may only say "2probe" and then "5". */
        if (pkt->type == EIO_PING && rc_slice_eq(pkt->data, "probe")) {
            /* "3probe" goes out at once, from the receive callback (lws
             * buffers a partial write), so that it precedes whatever the
             * loop answers next, as with the reference server; nothing else
             * is ever written on a probe before it. */
            s->upgrading = 1;
            if (lws_write(wsi, frame_data(gw->f_pong_probe), frame_len(gw->f_pong_probe),
                          LWS_WRITE_TEXT) < 0)
                return -1;
            if (s->poll) /* answered with a noop: polling pauses */
                lws_callback_on_writable(s->poll);
            return 0;
        }
        if (pkt->type == EIO_UPGRADE) {
            upgrade(s);
            return 0;
        }
        if (pkt->type == EIO_NOOP)
            return 0;
        return session_fault(s, "unexpected packet during upgrade", LWS_CLOSE_STATUS_PROTOCOL_ERR);
    }

    switch (pkt->type) {
    case EIO_PONG:
        if (s->awaiting_pong) {
            s->awaiting_pong = 0;
            s->ping_due_ms = gw_now_ms() + gw->cfg->ping_interval_ms;
            gw_timer_arm(gw, &s->hb, hb_cb, gw->cfg->ping_interval_ms);
        }
        return 0;
    case EIO_PING:
        /* Clients of protocol v4 do not ping, but answering is harmless. */
        if (pkt->data.len)
            return session_send(s, gw->f_pong_probe) < 0 ? -1 : 0;
        return session_send_text(s, "3", 1) < 0 ? -1 : 0;
    case EIO_MESSAGE:
        return on_message(s, pkt);
    case EIO_CLOSE:
        s->by_client = 1;
        session_close(s, "closed by the client", LWS_CLOSE_STATUS_NORMAL, 0);
        return -1;
    case EIO_NOOP:
        return 0;
    default:
        return session_fault(s, "unexpected Engine.IO packet type", LWS_CLOSE_STATUS_PROTOCOL_ERR);
    }
}
