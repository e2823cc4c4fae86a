/*
 * session.c - Engine.IO sessions: lifetime, the bounded send queue, the
 * heartbeat and connect deadline, the upgrade from polling to WebSocket,
 * and the dispatch of Engine.IO packets.
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
 * overdue closes it on the spot (gw_session_find), so the wheel's tick never
 * makes a session outlive pingInterval + pingTimeout.
 *
 * Replies (OPEN, pongs, Socket.IO packets) are small frames of their own
 * and go through the same bounded queue as broadcast frames, so packet order
 * on the wire is queue order.
 *
 * Transports are reached only through gw->io (server_private.h), and time
 * only through gw_server_now(), so that unit tests drive sessions without
 * sockets or a real clock.
 */
#include "gateway/server/server_private.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "core/log.h"
#include "core/rand.h"

#define FAC GW_FAC

static void gw_session_schedule_free(gw_session *s, int linger_ms);

int gw_session_random_id(char out[GW_ID_LEN + 1])
{
    unsigned char r[15];
    if (rc_random_bytes(r, sizeof r) < 0)
        return -1;
    rc_base64_encode(out, r, sizeof r, RC_B64_URL); /* 20 characters */
    return 0;
}

/* ---- lifetime ---- */

static void hb_cb(gw_timer *t);
static void connect_cb(gw_timer *t);

gw_session *gw_session_new(gw_server *gw, enum gw_transport tr, int raw, const char *bearer)
{
    const gw_options *cfg = &gw->opt;
    gw_session *s = calloc(1, sizeof *s);
    gw_frame *open = NULL;
    if (!s)
        return NULL;
    s->gw = gw;
    s->transport = tr;
    s->state = GW_SESSION_OPEN;
    s->raw = raw != 0;
    gw_frame_queue_init(&s->q, cfg->queue_max > 0 ? (size_t)cfg->queue_max : 1);
    if (gw_session_random_id(s->sid) < 0)
        goto fail;
    if (bearer && !(s->bearer = strdup(bearer)))
        goto fail;

    rc_buf_reset(&gw->scratch);
    if (eio_encode_open(&gw->scratch, s->sid, tr == GW_TR_POLLING, cfg->ping_interval_ms,
                        cfg->ping_timeout_ms, cfg->max_payload) < 0 ||
        !(open = gw_frame_new(gw->scratch.p, gw->scratch.len)) ||
        gw_frame_queue_push(&s->q, open) < 0)
        goto fail;
    gw_frame_unref(open);
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
    gw->nopen_tr[tr]++;
    rc_counter_inc(&gw->counters.handshakes[tr]);

    s->ping_due_ms = gw_server_now(gw) + cfg->ping_interval_ms;
    gw_server_arm(gw, &s->hb, hb_cb, cfg->ping_interval_ms);
    if (!raw)
        gw_server_arm(gw, &s->connect, connect_cb, cfg->connect_timeout_ms);
    LOG_DEBUG(FAC, "sid %s: opened (%s%s)", s->sid, tr == GW_TR_POLLING ? "polling" : "websocket",
              raw ? ", plain Engine.IO" : "");
    return s;

fail:
    gw_frame_unref(open);
    gw_frame_queue_clear(&s->q);
    free(s->bearer);
    free(s);
    return NULL;
}

gw_session *gw_session_find(gw_server *gw, const char *sid)
{
    hmap_slot *slot = hmap_find(&gw->sessions, sid);
    gw_session *s = slot ? slot->val : NULL;
    if (s && s->state == GW_SESSION_OPEN && s->awaiting_pong &&
        gw_server_now(gw) >= s->pong_due_ms) {
        gw_session_close(s, "ping timeout", GW_CLOSE_NORMAL, 0);
        return NULL;
    }
    return s;
}

static void unlist(gw_session *s)
{
    if (s->listed) {
        hmap_del(&s->gw->sessions, s->sid, NULL);
        s->listed = 0;
    }
}

void gw_session_free(gw_session *s)
{
    gw_server *gw = s->gw;
    gw_addr_release(s);
    if (s->state == GW_SESSION_OPEN) {
        gw->nopen--;
        gw->nopen_tr[s->transport]--;
        s->state = GW_SESSION_CLOSING;
    }
    gw_socket_close_all(s, "server shutting down");
    unlist(s);
    if (s->prev)
        s->prev->next = s->next;
    else
        gw->all = s->next;
    if (s->next)
        s->next->prev = s->prev;
    gw->nsessions--;
    gw_server_disarm(gw, &s->hb);
    gw_server_disarm(gw, &s->connect);
    gw_session_drop_queue(s);
    free(s->bearer);
    free(s);
}

void gw_session_set_peer(gw_session *s, const char *addr)
{
    s->peer_family = 0;
    if (addr && inet_pton(AF_INET, addr, s->peer) == 1)
        s->peer_family = AF_INET;
    else if (addr && inet_pton(AF_INET6, addr, s->peer) == 1)
        s->peer_family = AF_INET6;
}

static void free_cb(gw_timer *t)
{
    gw_session *s = (gw_session *)((char *)t - offsetof(gw_session, hb));
    gw_server *gw = s->gw;
    LOG_DEBUG(FAC, "sid %s: freed", s->sid);
    gw_session_free(s);
    gw_server_check_done(gw);
}

/* Once closed and detached from every transport, the session is freed on
 * the next tick, or after linger_ms (the heartbeat timer is reused: it is
 * idle once the session is closed). */
static void gw_session_schedule_free(gw_session *s, int linger_ms)
{
    if (s->state != GW_SESSION_CLOSING || s->ws || s->poll || s->probe || s->gw->destroying)
        return;
    if (!linger_ms)
        unlist(s);
    gw_server_arm(s->gw, &s->hb, free_cb, linger_ms);
}

void gw_session_close(gw_session *s, const char *reason, int code, int flush)
{
    gw_server *gw = s->gw;
    if (s->state != GW_SESSION_OPEN)
        return;
    s->state = GW_SESSION_CLOSING;
    s->close_code = code;
    s->flush_on_close = flush != 0;
    LOG_DEBUG(FAC, "sid %s: closing: %s", s->sid, reason);
    gw->nopen--;
    gw->nopen_tr[s->transport]--;
    gw_addr_release(s);
    /* The application hears about its sockets first; what they send now is
     * refused (the session is no longer open). */
    gw_socket_close_all(s, reason);
    if (gw->destroying)
        return;
    gw_server_disarm(gw, &s->hb);
    gw_server_disarm(gw, &s->connect);
    if (!flush)
        gw_session_drop_queue(s);
    /* The transports notice CLOSING in their next writable callback; a
     * peer that never lets us write is cut after a grace period. */
    if (s->ws) {
        gw->io->want_write(gw, s->ws);
        gw->io->close_within(gw, s->ws, 3);
    }
    if (s->probe) {
        gw->io->want_write(gw, s->probe);
        gw->io->close_within(gw, s->probe, 3);
    }
    if (s->poll)
        gw->io->want_write(gw, s->poll);
    /* A polling client between two GETs gets its last frames (the close
     * packet on shutdown, or the noop that answers its own CLOSE) from the
     * next one. */
    int linger = s->transport == GW_TR_POLLING && !s->poll &&
                 ((flush && gw_frame_queue_len(&s->q)) || s->by_client);
    if (!linger)
        unlist(s);
    gw_session_schedule_free(s, linger ? gw->opt.ping_timeout_ms : 0);
}

void gw_session_release(gw_session *s, void *conn)
{
    if (!conn) {
        /* nothing to detach: the last poll of a closed session was answered */
    } else if (conn == s->ws) {
        s->ws = NULL;
        if (s->state == GW_SESSION_OPEN && s->transport == GW_TR_WEBSOCKET)
            gw_session_close(s, "transport closed", GW_CLOSE_NORMAL, 0);
    } else if (conn == s->probe) {
        s->probe = NULL;
        s->upgrading = 0;
    } else if (conn == s->poll) {
        s->poll = NULL;
    }
    /* A closing polling session with frames left (the CLOSE, which goes in
     * a poll of its own) waits for its client's next poll. */
    if (s->state == GW_SESSION_CLOSING && s->transport == GW_TR_POLLING && s->flush_on_close &&
        gw_frame_queue_len(&s->q)) {
        gw_session_schedule_free(s, s->gw->opt.ping_timeout_ms);
        return;
    }
    gw_session_schedule_free(s, 0);
}

/* ---- sending ---- */

void gw_session_kick(gw_session *s)
{
    gw_server *gw = s->gw;
    if (gw->destroying)
        return;
    if (!gw_frame_queue_len(&s->q) && s->state == GW_SESSION_OPEN && !s->upgrading)
        return;
    if (s->transport == GW_TR_WEBSOCKET) {
        /* Broadcasts and timers (pings) write at once (websocket.c:
         * gw_ws_flush). */
        if (s->ws && gw->eager && gw->io->flush && s->state == GW_SESSION_OPEN)
            gw->io->flush(gw, s->ws);
        else if (s->ws)
            gw->io->want_write(gw, s->ws);
        if (s->poll) /* a poll left over from before the upgrade */
            gw->io->want_write(gw, s->poll);
    } else if (s->poll) {
        gw->io->want_write(gw, s->poll);
    }
}

static void gw_session_overflow(gw_session *s)
{
    gw_server *gw = s->gw;
    if (s->overflowed)
        return;
    s->overflowed = 1;
    rc_counter_inc(&gw->counters.slow_disconnects);
    LOG_WARN(FAC, "sid %s: %zu frames queued, disconnecting a slow client", s->sid,
             gw_frame_queue_len(&s->q));
    if (!gw->in_broadcast) {
        gw_session_close(s, "queue full", GW_CLOSE_POLICY, 0);
        return;
    }
    if (gw->ndoomed == gw->doomed_cap) {
        size_t cap = gw->doomed_cap ? gw->doomed_cap * 2 : 16;
        gw_session **d = realloc(gw->doomed, cap * sizeof *d);
        if (!d) {
            /* Cannot defer: let lws cut the transport; its close callback
             * closes the session outside the broadcast. */
            gw_session_drop_queue(s);
            if (s->ws)
                gw->io->close_within(gw, s->ws, 0);
            return;
        }
        gw->doomed = d;
        gw->doomed_cap = cap;
    }
    gw->doomed[gw->ndoomed++] = s;
}

void gw_session_reap_doomed(gw_server *gw)
{
    for (size_t i = 0; i < gw->ndoomed; i++)
        gw_session_close(gw->doomed[i], "queue full", GW_CLOSE_POLICY, 0);
    gw->ndoomed = 0;
}

int gw_session_send(gw_session *s, gw_frame *f)
{
    if (s->state != GW_SESSION_OPEN || s->overflowed) {
        gw_count_dropped(s->gw, gw_frame_is_delivery(f));
        return -1;
    }
    int rc = gw_frame_queue_push(&s->q, f);
    if (rc < 0) {
        if (rc == GW_FRAME_QUEUE_NOMEM)
            LOG_ERROR(FAC, "sid %s: out of memory queueing a frame", s->sid);
        gw_count_dropped(s->gw, gw_frame_is_delivery(f));
        gw_session_overflow(s);
        return -1;
    }
    /* A queue that was already non-empty has a writable callback pending
     * (or no transport to write to yet): only the first frame wakes it. */
    if (gw_frame_queue_len(&s->q) == 1)
        gw_session_kick(s);
    return 0;
}

int gw_session_send_text(gw_session *s, const char *text, size_t len)
{
    if (s->state != GW_SESSION_OPEN)
        return -1;
    gw_frame *f = gw_frame_new(text, len);
    if (!f) {
        LOG_ERROR(FAC, "sid %s: out of memory building a frame", s->sid);
        gw_session_close(s, "out of memory", GW_CLOSE_UNEXPECTED, 0);
        return -1;
    }
    int rc = gw_session_send(s, f);
    gw_frame_unref(f);
    return rc;
}

int gw_session_send_message(gw_session *s, const char *data, size_t len, int binary)
{
    rc_buf *b = &s->gw->scratch2;
    if (s->state != GW_SESSION_OPEN)
        return -1;
    rc_buf_reset(b);
    if (rc_buf_append(b, binary ? "b" : "4", 1) < 0 || rc_buf_append(b, data, len) < 0)
        return -1;
    return gw_session_send_text(s, b->p, b->len);
}

void gw_session_drop_queue(gw_session *s)
{
    gw_count_dropped(s->gw, gw_frame_queue_clear(&s->q));
}

int gw_session_fault(gw_session *s, enum gw_client_error why, const char *what, int code)
{
    gw_count_error(s->gw, why);
    LOG_INFO(FAC, "sid %s: closing: %s", s->sid, what);
    gw_session_close(s, what, code, 0);
    return -1;
}

/* ---- timers ---- */

static void hb_cb(gw_timer *t)
{
    gw_session *s = (gw_session *)((char *)t - offsetof(gw_session, hb));
    gw_server *gw = s->gw;
    if (s->state != GW_SESSION_OPEN)
        return;
    if (s->awaiting_pong) {
        gw_session_close(s, "ping timeout", GW_CLOSE_NORMAL, 0);
        return;
    }
    /* The pong is due pingTimeout after the ping was due, however late the
     * tick that sends it. */
    int64_t now = gw_server_now(gw);
    s->awaiting_pong = 1;
    s->pong_due_ms = s->ping_due_ms + gw->opt.ping_timeout_ms;
    gw_server_arm(gw, &s->hb, hb_cb, s->pong_due_ms > now ? (int)(s->pong_due_ms - now) : 0);
    gw_session_send(s, gw->f_ping);
}

static void connect_cb(gw_timer *t)
{
    gw_session *s = (gw_session *)((char *)t - offsetof(gw_session, connect));
    if (s->state == GW_SESSION_OPEN && !s->raw && !s->nconnected)
        gw_session_close(s, "no Socket.IO CONNECT in time", GW_CLOSE_NORMAL, 0);
}

/* ---- Engine.IO ---- */

static void upgrade(gw_session *s)
{
    gw_server *gw = s->gw;
    if (s->state == GW_SESSION_OPEN && s->transport != GW_TR_WEBSOCKET) {
        gw->nopen_tr[s->transport]--;
        gw->nopen_tr[GW_TR_WEBSOCKET]++;
    }
    rc_counter_inc(&gw->counters.upgrades);
    s->transport = GW_TR_WEBSOCKET;
    s->ws = s->probe;
    s->probe = NULL;
    s->upgrading = 0;
    if (s->poll) /* a GET still held is refused (polling.c) */
        gw->io->want_write(gw, s->poll);
    LOG_DEBUG(FAC, "sid %s: upgraded to websocket", s->sid);
    if (gw_frame_queue_len(&s->q))
        gw->io->want_write(gw, s->ws);
}

static int on_message(gw_session *s, const eio_packet *pkt)
{
    gw_server *gw = s->gw;
    if (s->raw) {
        if (gw->app.on_engine_message)
            gw->app.on_engine_message(gw->app.ud, s, pkt->data.p, pkt->data.len, pkt->binary);
        return s->state == GW_SESSION_OPEN ? 0 : -1;
    }
    if (pkt->binary)
        return gw_socket_on_binary(s, pkt->data.p, pkt->data.len);
    return gw_socket_on_text(s, pkt->data.p, pkt->data.len);
}

int gw_session_on_packet(gw_session *s, void *conn, const eio_packet *pkt)
{
    gw_server *gw = s->gw;
    int probing = conn && conn == s->probe;
    if (s->state != GW_SESSION_OPEN)
        return -1;

    if (probing) {
        /* A probing WebSocket may only say "2probe" and then "5". */
        if (pkt->type == EIO_PING && rc_slice_eq(pkt->data, "probe")) {
            /* "3probe" goes out at once, from the receive callback (lws
             * buffers a partial write), so that it precedes whatever the
             * loop answers next, as with the reference server; nothing else
             * is ever written on a probe before it. */
            s->upgrading = 1;
            if (gw->io->write_now(gw, conn, gw_frame_data(gw->f_pong_probe),
                                  gw_frame_len(gw->f_pong_probe)) < 0)
                return -1;
            if (s->poll) /* answered with a noop: polling pauses */
                gw->io->want_write(gw, s->poll);
            return 0;
        }
        if (pkt->type == EIO_UPGRADE) {
            upgrade(s);
            return 0;
        }
        if (pkt->type == EIO_NOOP)
            return 0;
        return gw_session_fault(s, GW_ERR_PROTOCOL, "unexpected packet during upgrade",
                                GW_CLOSE_PROTOCOL);
    }

    switch (pkt->type) {
    case EIO_PONG:
        if (s->awaiting_pong) {
            s->awaiting_pong = 0;
            s->ping_due_ms = gw_server_now(gw) + gw->opt.ping_interval_ms;
            gw_server_arm(gw, &s->hb, hb_cb, gw->opt.ping_interval_ms);
        }
        return 0;
    case EIO_PING:
        /* Clients of protocol v4 do not ping, but answering is harmless. */
        if (pkt->data.len)
            return gw_session_send(s, gw->f_pong_probe) < 0 ? -1 : 0;
        return gw_session_send_text(s, "3", 1) < 0 ? -1 : 0;
    case EIO_MESSAGE:
        return on_message(s, pkt);
    case EIO_CLOSE:
        s->by_client = 1;
        gw_session_close(s, "closed by the client", GW_CLOSE_NORMAL, 0);
        return -1;
    case EIO_NOOP:
        return 0;
    default:
        return gw_session_fault(s, GW_ERR_PROTOCOL, "unexpected Engine.IO packet type",
                                GW_CLOSE_PROTOCOL);
    }
}
